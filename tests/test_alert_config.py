"""Alert kinds switched on and off in a profile file or `.batchtop.toml` (`[alerts]`), flags winning."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import failures_db

from batchtop.core.alert_config import AlertConfig, candidate_files, find_alert_config, parse_alerts
from batchtop.core.alerts import DEFAULT_KINDS, KINDS
from batchtop.core.errors import ProfileError
from batchtop.core.monitor import Monitor
from batchtop.core.profiles.userfile import load_profiles
from batchtop.tui import cli
from batchtop.tui.alerting import AlertSettings

PROFILE = """\
name = "mine"
[[track]]
table = "topic_completions"
status = "status"
[alerts]
rate_spike = false
new_failures = false
notify = "bell+osc9"
"""


@pytest.fixture(autouse=True)
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BATCHTOP_ALERTS", raising=False)
    monkeypatch.delenv("BATCHTOP_NOTIFY", raising=False)


def test_switches_name_the_kinds_and_default_to_on_but_every_new_failure() -> None:
    config = parse_alerts({"new_signature": True, "stall": False, "rate_spike": False}, "x.toml")
    assert config.kinds() == DEFAULT_KINDS - {"stalled", "spike"}
    assert parse_alerts({"finished": False}, "x").kinds() == DEFAULT_KINDS - {"finished"}
    assert parse_alerts({"stalled": False, "failed": False}, "x").kinds() == DEFAULT_KINDS - {"stalled", "failed"}
    assert parse_alerts({}, "x").kinds() == DEFAULT_KINDS == frozenset(KINDS) - {"failed"}
    assert parse_alerts({"new_failures": True}, "x").kinds() == frozenset(KINDS)  # every new failure: asked for
    assert AlertConfig((("finished", True),)).kinds(base=()) == {"finished"}


@pytest.mark.parametrize("table, words", [
    ({"stal": False}, "unknown key 'stal' (did you mean 'stall'?)"),
    ({"stall": "no"}, "'stall' must be true or false"),
    ({"notify": 3}, "'notify' must be a string"),
    ("on", "[alerts] must be a table"),
])
def test_bad_tables_say_what_is_wrong(table, words: str) -> None:
    with pytest.raises(ProfileError) as info:
        parse_alerts(table, "run/.batchtop.toml")
    assert words in info.value.message and info.value.message.startswith("run/.batchtop.toml:")


def test_a_profile_file_may_carry_alerts_and_a_file_of_only_alerts_describes_no_table(tmp_path: Path) -> None:
    with_profile = tmp_path / "p.toml"
    with_profile.write_text(PROFILE)
    (profile,) = load_profiles(with_profile)
    assert profile.name == "mine"
    config = find_alert_config([str(with_profile)], [])
    assert config.kinds() == DEFAULT_KINDS - {"spike", "failed"} and config.notify == "bell+osc9"
    # Beside the databases: the database is still read by its built-in profile.
    (tmp_path / "run").mkdir()
    db = failures_db(tmp_path / "run" / "a.db", {"rate": 2})
    (db.parent / ".batchtop.toml").write_text("[alerts]\nfinished = false\n")
    monitor = Monitor([str(db.parent)])
    monitor.rescan()
    monitor.poll_all()
    (status,) = monitor.statuses()
    monitor.close()
    assert status.error is None and status.tracks[0].counts["failed"] == 2
    bad = tmp_path / "bad.toml"
    bad.write_text(PROFILE.replace("rate_spike", "rate_spiek"))
    with pytest.raises(ProfileError, match="did you mean 'rate_spike'"):
        load_profiles(bad)


def test_the_first_file_with_an_alerts_table_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    here, run = tmp_path / "here", tmp_path / "run"
    here.mkdir()
    run.mkdir()
    monkeypatch.chdir(here)
    (run / ".batchtop.toml").write_text("[alerts]\nstall = false\n")
    db = run / "a.db"
    db.write_bytes(b"")
    assert find_alert_config([], [str(run)]).kinds() == DEFAULT_KINDS - {"stalled"}
    assert find_alert_config([], [str(db)]).origin.endswith(".batchtop.toml")  # a file's directory
    (here / "batchtop.toml").write_text("[alerts]\nfinished = false\n")
    assert find_alert_config([], [str(run)]).kinds() == DEFAULT_KINDS - {"finished"}  # cwd first
    flag = tmp_path / "flag.toml"
    flag.write_text("[alerts]\nnew_signature = false\n")
    assert find_alert_config([str(flag)], [str(run)]).kinds() == DEFAULT_KINDS - {"new-signature"}
    assert candidate_files([], ["postgresql://u@h/db", "runs/*.db"], cwd=str(tmp_path / "nowhere")) == []
    assert find_alert_config([], ["postgresql://u@h/db"], cwd=str(tmp_path)) is None


def test_flags_and_the_environment_override_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    config = parse_alerts({"stall": False, "finished": False, "notify": "osc777"}, "c.toml")
    s = AlertSettings.parse(None, None, None, config)
    assert s.kinds == DEFAULT_KINDS - {"stalled", "finished"} and s.desktop == "osc777" and not s.bell
    s = AlertSettings.parse("stalled", "bell", None, config)  # the flag replaces the kinds and the way
    assert s.kinds == {"stalled"} and s.bell and s.desktop == "off"
    monkeypatch.setenv("BATCHTOP_ALERTS", "finished")
    monkeypatch.setenv("BATCHTOP_NOTIFY", "off")
    s = AlertSettings.parse(None, None, None, config)
    assert s.kinds == {"finished"} and not s.bell and s.desktop == "off"
    monkeypatch.delenv("BATCHTOP_NOTIFY")
    with pytest.raises(ValueError, match=r"'loud' \(in c.toml\)"):
        AlertSettings.parse(None, None, None, parse_alerts({"notify": "loud"}, "c.toml"))


def test_the_monitor_command_reads_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}

    def fake_run_app(monitor, **kwargs):
        seen.update(kwargs)
        monitor.close()
        return 0

    monkeypatch.setattr("batchtop.tui.factory.run_app", fake_run_app)
    run = tmp_path / "run"
    run.mkdir()
    failures_db(run / "a.db", {"rate": 1})
    (run / ".batchtop.toml").write_text("[alerts]\nnew_failures = false\nrate_spike = false\n")
    monkeypatch.chdir(tmp_path)
    assert cli.main([str(run)]) == 0
    assert seen["alerts"].kinds == DEFAULT_KINDS - {"failed", "spike"}
    assert cli.main([str(run), "--alerts", "failed"]) == 0
    assert seen["alerts"].kinds == {"failed"}
    (run / ".batchtop.toml").write_text("[alerts]\nnew_failure = false\n")
    assert cli.main([str(run)]) == 2  # a typo is a usage error, said on stderr
