"""One browser session's app process of `batchtop serve` (textual-serve starts one per websocket).

Kept apart from `serve`: `cli` imports `serve` to register the command, and this module imports `cli`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence

from batchtop.tui.serve import ARGV_ENV


def main(argv: Sequence[str] | None = None) -> int:
    """One browser session's app: `batchtop open` with the arguments `serve` left in ARGV_ENV."""
    from batchtop.tui.cli import main as cli_main

    raw = os.environ.get(ARGV_ENV)
    if raw is None:
        print(f"batchtop.tui.serve_session is started by `batchtop serve` ({ARGV_ENV} is not set)",
              file=sys.stderr)
        return 2
    return cli_main(json.loads(raw))


if __name__ == "__main__":
    sys.exit(main())
