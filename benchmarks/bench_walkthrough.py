"""The triage walk-through, timed in the real app: chunk files with a few hundred thousand failures.

    .venv/bin/python benchmarks/bench_walkthrough.py                      # 300,000 failures in 12 files
    .venv/bin/python benchmarks/bench_walkthrough.py --failures 600000 --files 24 --json

Builds FILES chunk files (WAL, seven error causes spread over every file) in a temporary directory, runs
the Textual app headless (`App.run_test`, the same app as in a terminal) with the files grouped by name
pattern and the default alerts, and does what a person would: open the set's failures (`f`), read the
top causes, export the top cause from every file (`e`), reset it in every file with one preview (`x`,
the total typed, confirmed), then a new cause starts failing in three files while batchtop watches.
Reports: seconds to the first groups on screen and to the complete grouping, the export (rows,
seconds), the preview and the write (rows, files, journal entries), and the alerts told (exactly one
`new-signature` expected). The journal goes to the temporary directory, never the user's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from factories import big_failures_db  # noqa: E402

NEW_CAUSE = "PermissionError: [Errno 13] Permission denied: '/data/out/{i}/cards.json'"


async def wait(pilot: Any, cond: Any, timeout: float = 120.0) -> float:
    """Seconds until `cond()` holds."""
    start = time.perf_counter()
    while not cond():
        if time.perf_counter() - start > timeout:
            raise TimeoutError("the app did not get there in time")
        await pilot.pause(0.01)
    return time.perf_counter() - start


async def cold_groups(root: Path, journal: Path) -> dict[str, Any]:
    """A fresh app with no alerts (nothing grouped before `f`): seconds to the first and to all groups."""
    from batchtop.core.chunks import GroupBy
    from batchtop.core.monitor import Monitor
    from batchtop.tui.factory import create_app
    from batchtop.tui.screens.overview_groups import is_group_key
    from batchtop.tui.screens.set_failures import SetFailuresScreen
    from batchtop.tui.widgets.keyed_table import KeyedTable

    app = create_app(Monitor([str(root)]), watch=True, poll_interval=1.0, journal_path=journal,
                     group_by=GroupBy("pattern"))
    async with app.run_test(size=(200, 50)) as pilot:
        ready = await wait(pilot, lambda: app.polled_all)
        table = app.screen.query_one(KeyedTable)
        table.move_to_key(next(k for k in table.row_keys if is_group_key(k)))
        pressed = time.monotonic()
        await pilot.press("f")

        def screen() -> Any:
            return app.screen if isinstance(app.screen, SetFailuresScreen) else None

        await wait(pilot, lambda: screen() is not None and screen().first_shown is not None)
        first = screen().first_shown - pressed
        provisional = screen()._grouping
        await wait(pilot, lambda: not screen()._grouping)
        done = time.monotonic() - pressed
    return {"overview_s": round(ready, 3), "first_groups_s": round(first, 3), "first_was_provisional": provisional,
            "all_groups_s": round(done, 3)}


async def walk(root: Path, journal: Path) -> dict[str, Any]:
    from batchtop.core.chunks import GroupBy
    from batchtop.core.monitor import Monitor
    from batchtop.tui.alerting import AlertSettings
    from batchtop.tui.dialogs.export_path import ExportPathDialog
    from batchtop.tui.dialogs.set_preview import SetPreviewScreen
    from batchtop.tui.factory import create_app
    from batchtop.tui.screens.overview_groups import is_group_key
    from batchtop.tui.screens.set_failures import SetFailuresScreen
    from batchtop.tui.widgets.keyed_table import KeyedTable

    out: dict[str, Any] = {}
    app = create_app(Monitor([str(root)]), watch=True, poll_interval=1.0, journal_path=journal,
                     alerts=AlertSettings.parse(None, "off"), group_by=GroupBy("pattern"))
    async with app.run_test(size=(200, 50)) as pilot:
        out["overview_s"] = round(await wait(pilot, lambda: app.polled_all), 3)
        await pilot.pause(1.0)  # let the alert baseline group every file (as a person reading the screen)
        table = app.screen.query_one(KeyedTable)
        table.move_to_key(next(k for k in table.row_keys if is_group_key(k)))
        await pilot.press("f")

        def screen() -> Any:
            return app.screen if isinstance(app.screen, SetFailuresScreen) else None

        out["warm_groups_s"] = round(await wait(
            pilot, lambda: screen() is not None and not screen()._grouping and screen().report is not None), 3)
        s = screen()
        top = s.report.groups[0]
        out["failures"], out["causes"] = s.report.failed, s.report.distinct
        out["top"] = {"signature": top.signature, "count": top.count, "files": len(top.sources)}

        export = root.parent / "top-cause.csv"
        await pilot.press("e")
        await wait(pilot, lambda: isinstance(app.screen, ExportPathDialog))
        app.screen.query_one("#export-path").value = str(export)
        start = time.perf_counter()
        await pilot.press("enter")
        await wait(pilot, lambda: any("Exported" in str(n.message) for n in app._notifications))
        with export.open() as f:
            rows = sum(1 for _ in f) - 1
        out["export"] = {"rows": rows, "seconds": round(time.perf_counter() - start, 3),
                         "mb": round(export.stat().st_size / 1e6, 1)}

        start = time.perf_counter()
        await pilot.press("x")
        await wait(pilot, lambda: isinstance(app.screen, SetPreviewScreen) and app.screen.state == "ready")
        preview = app.screen
        planned = time.perf_counter() - start
        await pilot.press(*str(preview.total))
        start = time.perf_counter()
        await pilot.press("enter")
        await wait(pilot, lambda: preview.state in ("done", "failed"))
        out["reset"] = {"rows": sum(o.count for o in preview.outcomes), "planned": preview.total,
                        "files": len(preview.outcomes), "journal_entries": sum(1 for o in preview.outcomes if o.entry_id),
                        "preview_s": round(planned, 3), "write_s": round(time.perf_counter() - start, 3),
                        "apply_s": [round(o.seconds, 3) for o in preview.outcomes],
                        "problems": preview.problems}
        await pilot.press("enter")

        told_before = len([e for e in app.alerts.events if e.notified]) if app.alerts else 0
        files = sorted(root.glob("*.db"))[:3]
        start = time.perf_counter()
        for n, path in enumerate(files):
            with sqlite3.connect(path) as conn:
                base = conn.execute("SELECT MAX(id) FROM topic_completions").fetchone()[0]
                conn.executemany(
                    "INSERT INTO topic_completions (id, topic_path, status, completed_at, error_message) "
                    "VALUES (?, ?, 'failed', datetime('now'), ?)",
                    [(base + i + 1, f"Data/new/topic_{n}_{i}.json", NEW_CAUSE.format(i=i)) for i in range(5)])
        assert app.alerts is not None
        out["alert_s"] = round(await wait(pilot, lambda: any(e.kind == "new-signature" for e in app.alerts.events)), 3)
        await pilot.pause(3.0)  # later polls of the other files must not tell it again
        told = [e for e in app.alerts.events if e.notified][told_before:]
        out["alerts_told"] = [{"kind": e.kind, "message": e.message} for e in told]
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--failures", type=int, default=300_000)
    p.add_argument("--files", type=int, default=12)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "run"
        root.mkdir()
        start = time.perf_counter()
        for i in range(args.files):
            big_failures_db(root / f"results_chunk_{i:03d}.db", args.failures // args.files, mode="wal")
        built = time.perf_counter() - start
        cold = asyncio.run(cold_groups(root, Path(tmp) / "journal.jsonl"))
        out = asyncio.run(walk(root, Path(tmp) / "journal.jsonl"))
        out["cold"] = cold
        out["built_s"] = round(built, 1)
        out["files_built"] = args.files
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    r, e = out["reset"], out["export"]
    print(f"{out['failures']:,} failures in {args.files} files (built in {out['built_s']}s)")
    c = out["cold"]
    print(f"overview ready                 {c['overview_s']:.2f}s")
    print(f"f: first error groups shown    {c['first_groups_s']:.2f}s" + (" (provisional)" if c["first_was_provisional"] else ""))
    print(f"f: every file grouped          {c['all_groups_s']:.2f}s  ({out['causes']} causes; "
          f"{out['warm_groups_s']:.2f}s in the app with alerts on, whose grouping shares the per-file caches)")
    print(f"top cause                      {out['top']['count']:,} in {out['top']['files']} files: {out['top']['signature']}")
    print(f"export of the top cause        {e['rows']:,} rows, {e['mb']} MB in {e['seconds']:.2f}s")
    print(f"reset, one preview             {r['planned']:,} rows in {r['files']} files: preview {r['preview_s']:.2f}s, "
          f"write {r['write_s']:.2f}s, {r['journal_entries']} journal entries")
    print(f"new cause in 3 files -> alert  {out['alert_s']:.2f}s; alerts told: {len(out['alerts_told'])}")
    for a in out["alerts_told"]:
        print(f"    {a['kind']}: {a['message']}")
    ok = (len(out["alerts_told"]) == 1 and out["alerts_told"][0]["kind"] == "new-signature"
          and r["rows"] == out["top"]["count"] == e["rows"] and not r["problems"])
    print("walk-through:", "as expected" if ok else "NOT as expected")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
