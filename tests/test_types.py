"""mypy passes on the package with the project's configuration ([tool.mypy] in pyproject.toml)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_is_clean() -> None:
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (pip install -e '.[dev]')")
    # [tool.mypy] names the packages (batchtop.core, batchtop.tui) and where they are; run in a process
    # of its own from the root, as a developer runs `mypy`. A warm cache (.mypy_cache) makes it quick.
    out = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, f"mypy found errors:\n{out.stdout}{out.stderr}"
    assert "Success: no issues found" in out.stdout, out.stdout + out.stderr
