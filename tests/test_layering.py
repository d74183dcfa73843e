"""core/ is the storage layer: importing any of it must not load Textual or Rich (style.md)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _core_modules() -> list[str]:
    mods = []
    for path in sorted((ROOT / "core").rglob("*.py")):
        rel = path.relative_to(ROOT / "core").with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        if parts and parts[-1] == "__main__":
            continue
        mods.append(".".join(["batchtop.core", *parts]))
    return mods


def test_core_never_imports_textual_or_rich() -> None:
    modules = _core_modules()
    assert "batchtop.core.source" in modules
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('textual', 'rich'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"core imported UI libraries: {out.stdout}"


@pytest.mark.slow
def test_each_core_module_imports_on_its_own() -> None:
    """Import cycles only show when a module is imported first: try each in a fresh interpreter."""
    for module in _core_modules():
        out = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True)
        assert out.returncode == 0, f"{module}: {out.stderr.strip().splitlines()[-1:]}"


def test_headless_cli_does_not_import_textual(tmp_path: Path) -> None:
    """`batchtop status` must not pay Textual's import cost."""
    code = (
        "import sys\n"
        "from batchtop.tui.cli import main\n"
        f"main(['status', '--json', {str(tmp_path / 'none.db')!r}])\n"
        "print('textual' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_the_app_is_built_by_the_factory_only() -> None:
    """CLI, demo, serve, tests, screenshots and benchmarks all build the app with `factory.create_app`."""
    needle = re.compile(r"(?<!class )" + "BatchtopApp" + r"\(")  # split: this file must not match itself
    builders = [
        str(path.relative_to(ROOT))
        for folder in ("tui", "tests", "scripts", "benchmarks")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if needle.search(path.read_text(encoding="utf-8"))
    ]
    assert builders == ["tui/factory.py"]
