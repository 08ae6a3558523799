"""OUT: the output a runbook shows for a configuration-only chorusctl command is what it prints today."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import BIN, ROOT
from handbook.checks.outputs import is_pure
from handbook.project import Project
from handbook.runner import run_checks
from test_runbook_checks import FRONT, SECTIONS, make_tree


def capacity_output(config: Path, listeners: int) -> str:
    """What `chorusctl capacity` really prints for `config` (the test takes it from the tool, not by hand)."""
    result = subprocess.run(
        [str(BIN / "chorusctl"), "--config", str(config), "capacity", "--listeners", str(listeners)],
        capture_output=True, text=True, cwd=config.parents[2],
    )
    return result.stdout.rstrip("\n")


def tree_with_transcript(tmp_path: Path, config_text: str, shown: str) -> Path:
    diagnose = f"```console\n$ chorusctl capacity --listeners 50000\n{shown}\n```"
    return make_tree(tmp_path, {"stack/config/chorus.yaml": config_text, "runbooks/task.md": FRONT + SECTIONS.replace("Look.", diagnose)})


def out_problems(root: Path) -> list[tuple[int, str, str]]:
    return [(p.line, p.code, p.message) for p in run_checks(Project(root), ["OUT"]).problems]


def test_todays_output_passes_and_a_config_change_fails_at_the_changed_line(tmp_path: Path) -> None:
    config = (ROOT / "stack/config/chorus.yaml").read_text()
    today = capacity_output(ROOT / "stack/config/chorus.yaml", 50000)
    root = tree_with_transcript(tmp_path / "a", config, today)
    assert out_problems(root) == []

    # Someone lowers the listener cap: the runbook's transcript is now yesterday's.
    assert "listener_cap: 1000" in config
    changed = config.replace("listener_cap: 1000", "listener_cap: 800")
    (root / "stack/config/chorus.yaml").write_text(changed)
    found = out_problems(root)
    assert len(found) == 1
    line, code, message = found[0]
    shown_lines = today.splitlines()
    first_changed = next(i for i, text in enumerate(shown_lines) if "fanout.listener_cap" in text)
    body_start = (FRONT + SECTIONS).splitlines().index("Look.") + 1  # the console fence's line
    assert (line, code) == (body_start + 2 + first_changed, "OUT001")
    assert "800" in message


def test_ellipsis_stands_for_the_rest(tmp_path: Path) -> None:
    config = (ROOT / "stack/config/chorus.yaml").read_text()
    today = capacity_output(ROOT / "stack/config/chorus.yaml", 50000).splitlines()
    assert out_problems(tree_with_transcript(tmp_path / "a", config, "\n".join(today[:3] + ["..."]))) == []
    short = out_problems(tree_with_transcript(tmp_path / "b", config, "\n".join(today[:3])))
    assert [c for _, c, _ in short] == ["OUT001"] and "more line(s)" in short[0][2]


def test_only_configuration_commands_are_run() -> None:
    assert is_pure(["capacity", "--listeners", "5"]) and is_pure(["config", "show"])
    assert not is_pure(["drain", "fanout-1"]) and not is_pure(["up"]) and not is_pure(["spaces", "list"])


STATUS_TYPED = """\
```console
$ chorusctl status
gateway  http://127.0.0.1:8080  ready  up 21 s
spaces   2 live
sessions 0 host, 0 speaker, 400 listener (cap 10000); admission bucket 400 tokens

NODE      ROLE    STATE      READY  LISTENERS  EDGES  CAP   HEADROOM  SPACES  URL
fanout-1  origin  accepting  yes    1000       0      1000  900       0       ws://127.0.0.1:8090
fanout-2  origin  accepting  yes    0          0      1000  900       0       ws://127.0.0.1:8091
```"""
STATUS_LIVE = (STATUS_TYPED.replace(":8080", ":{@config.gateway.port}").replace("cap 10000", "cap {@config.gateway.max_sessions}")
               .replace("bucket 400", "bucket {@config.gateway.join_burst}").replace("0      1000  900", "0      {@config.fanout.listener_cap}  900")
               .replace(":8090", ":{@config.fanout.port}"))


def status_tree(tmp_path: Path, sample: str, config: str | None = None, front: str = FRONT) -> Path:
    text = config or (ROOT / "stack/config/chorus.yaml").read_text()
    return make_tree(tmp_path, {"stack/config/chorus.yaml": text, "runbooks/task.md": front + SECTIONS.replace("Look.", sample)})


def test_out002_settings_typed_into_a_status_sample(tmp_path: Path) -> None:
    fence = (FRONT + SECTIONS).splitlines().index("Look.") + 1
    found = [(line - fence, col, message.split("sample ")[1].split(" by hand")[0]) for line, col, message
             in ((p.line, p.col, p.message) for p in run_checks(Project(status_tree(tmp_path, STATUS_TYPED)), ["OUT"]).problems)]
    # counts that equal a setting by chance (400 listeners, 1000 listeners) and other nodes' ports are not settings
    assert found == [
        (2, 27, "types config.gateway.port (8080)"),
        (4, 47, "types config.gateway.max_sessions (10000)"),
        (4, 72, "types config.gateway.join_burst (400)"),
        (7, 55, "types config.fanout.listener_cap (1000)"),
        (7, 94, "types config.fanout.port (8090)"),
        (8, 55, "types config.fanout.listener_cap (1000)"),
    ]


def test_out002_live_values_follow_the_config_and_a_stale_cap_is_flagged(tmp_path: Path) -> None:
    config = (ROOT / "stack/config/chorus.yaml").read_text()
    assert "listener_cap: 1000" in config and "max_sessions: 10000" in config
    changed = config.replace("listener_cap: 1000", "listener_cap: 800").replace("max_sessions: 10000", "max_sessions: 20000")
    assert out_problems(status_tree(tmp_path / "a", STATUS_LIVE, changed)) == []
    stale = out_problems(status_tree(tmp_path / "b", STATUS_TYPED.replace("8080", "18080").replace("8090", "18090"), changed))
    assert [(code, m.split("sample ")[1].split(":")[0]) for _, code, m in stale] == [
        ("OUT002", "shows config.gateway.max_sessions 10000, the configuration says 20000"),
        ("OUT002", "types config.gateway.join_burst (400) by hand"),
        ("OUT002", "shows config.fanout.listener_cap 1000, the configuration says 800"),
        ("OUT002", "shows config.fanout.listener_cap 1000, the configuration says 800"),
    ]


def test_out002_a_drill_sample_may_show_the_drills_own_cap(tmp_path: Path) -> None:
    front = FRONT.replace("review_interval: 90d\n", "review_interval: 90d\ndrill:\n  config: {fanout.listener_cap: 10}\n")
    drilled = STATUS_LIVE.replace("{@config.fanout.listener_cap}", "10")
    assert out_problems(status_tree(tmp_path / "a", drilled, front=front)) == []
    other = out_problems(status_tree(tmp_path / "b", drilled.replace("0      10  ", "0      12  ", 1), front=front))
    assert [(code, "or the drill's 10" in m) for _, code, m in other] == [("OUT002", True)]

    # unreadable front matter hides the drill's settings: its FM problem is the one line, not OUT002 at the sample
    broken = front.replace("last_reviewed: 2026-11-01", "last_reviewed: 2026-02-30")
    assert out_problems(status_tree(tmp_path / "c", drilled, front=broken)) == []
