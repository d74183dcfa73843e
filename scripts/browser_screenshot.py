"""Take screenshots/serve-browser.png: `batchtop serve` on three live simulated jobs, in headless Chromium.

    .venv/bin/python scripts/browser_screenshot.py [OUTPUT.png]

Needs Debian's `chromium` and the `playwright` Python package (the dev extra); no browser is downloaded.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser import chromium, missing_reason, open_app, save_screenshot, serving, wait_text  # noqa: E402

#: Simulated jobs (schema, items, items per second), each writing for at most a minute.
JOBS = (("topics", 400, 6.0), ("llm", 600, 9.0), ("jobs", 60, 1.5))


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else ROOT / "screenshots" / "serve-browser.png"
    reason = missing_reason()
    if reason:
        print(f"cannot take the browser screenshot: {reason}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="batchtop-serve-") as tmp:
        jobs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "batchtop.tui.cli",
                    "simulate",
                    f"{tmp}/{schema}",
                    "--schema",
                    schema,
                    "--items",
                    str(items),
                    "--rate",
                    str(rate),
                    "--seconds",
                    "60",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for schema, items, rate in JOBS
        ]
        try:
            time.sleep(3)
            dirs = [f"{tmp}/{schema}" for schema, _, _ in JOBS]
            with serving([*dirs, "--read-only"]) as url, chromium(1400, 560) as browser:
                page = open_app(browser, url)
                wait_text(page, lambda t: "3 sources" in t and "active" in t)
                time.sleep(6)  # a few seconds of rate history for the sparklines
                print(save_screenshot(page, out))
        finally:
            for job in jobs:
                job.terminate()
                job.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
