"""ruff passes, including core/'s ban on importing Textual and Rich (core/ruff.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_is_clean() -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (pip install -e '.[dev]')")
    out = subprocess.run([ruff, "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:]


def test_ruff_bans_ui_imports_in_core(tmp_path: Path) -> None:
    """The banned-api rule really applies to core/ (a stray per-file ignore once switched it off)."""
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (pip install -e '.[dev]')")
    probe = ROOT / "core" / "_lint_probe.py"
    probe.write_text("import rich  # noqa: F401\n")
    try:
        out = subprocess.run([ruff, "check", str(probe)], cwd=ROOT, capture_output=True, text=True)
    finally:
        probe.unlink()
    assert out.returncode != 0 and "TID251" in out.stdout
