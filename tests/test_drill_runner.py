"""The drill runner on fixture runbooks, against a real stack and a real Prometheus.

One drill whose runbook is wrong in three ways (a step that prints something
else, a destructive step without permission, a mitigation that leaves the
condition on: the node stays paused) must fail on each, naming the step and its line; a drill
interrupted with Ctrl-C must leave no process behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import BIN, ROOT
from handbook.drill.runner import Drill, DrillOptions

pytestmark = pytest.mark.skipif(not Path("/usr/bin/prometheus").exists(), reason="needs Debian's prometheus (make setup installs it)")

NODE_DOWN = """\
---
title: "ChorusFanoutNodeDown: fixture"
alerts: ["ChorusFanoutNodeDown"]
services: ["fanout"]
severity: warning
owner: media
last_reviewed: 2026-11-26
review_interval: 90d
drill:
  stack: {{nodes: 2, speaker: false}}
  induce:
    - {induce}
  fire_within_s: 90
  resolve_within_s: 8
---

## What is happening

Joins are shed.

## Impact

Listeners wait.

## Diagnose

<!-- drill: step exit=any expect="this text is not printed" -->
```console
$ chorusctl status
```

## Mitigate

<!-- drill: step destructive -->
```bash
chorusctl drain fanout-2
```

## Verify

It clears.

## Escalate

Page someone.
"""


def test_wrong_output_destructive_skip_and_uncleared_alert_fail_the_drill(tmp_path: Path) -> None:
    runbook = tmp_path / "shedding-fixture.md"
    runbook.write_text(NODE_DOWN.format(induce="pause: fanout-2"))
    lines: list[str] = []
    result = Drill(ROOT, runbook, DrillOptions(progress=lines.append)).run()
    rows = {row.name.split(" (line")[0]: row for row in result.rows}
    assert result.status == "fail", "\n".join(lines)
    assert rows["ChorusFanoutNodeDown fires"].status == "pass", "\n".join(lines)
    status_line = runbook.read_text().splitlines().index("```console") + 1  # the step is its block
    status_row = next(r for r in result.rows if r.name.startswith("Diagnose"))
    assert status_row.status == "fail" and status_row.line == status_line and "no match for /this text is not printed/" in status_row.got
    drain_row = next(r for r in result.rows if r.name.startswith("Mitigate"))
    assert drain_row.status == "skip" and "--allow-destructive" in drain_row.got
    resolve_row = rows["ChorusFanoutNodeDown resolves"]
    assert resolve_row.status == "fail" and "timed out" in resolve_row.got
    assert "Diagnose" in result.reason and "logs kept in" in result.reason


def _processes_mentioning(marker: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if marker in cmdline or marker in cwd:
            found.append(f"{entry.name}: {cmdline[:120]} (cwd {cwd})")
    return found


def test_an_induce_command_that_fails_fails_the_drill_at_once(tmp_path: Path) -> None:
    runbook = tmp_path / "bad-induce.md"
    runbook.write_text(NODE_DOWN.format(induce="start: chorusctl loadgen listeners --duration 100000"))
    result = Drill(ROOT, runbook, DrillOptions()).run()
    assert result.status == "fail"
    assert "--duration must be" in result.reason and "exited 2" in result.reason
    assert result.rows[-1].name == "ChorusFanoutNodeDown fires" and result.rows[-1].seconds < 60


def test_ctrl_c_mid_drill_leaves_no_process_behind(tmp_path: Path) -> None:
    name = f"ctrlc-{uuid.uuid4().hex[:8]}"
    runbook = tmp_path / f"{name}.md"
    runbook.write_text(NODE_DOWN.format(induce="pause: fanout-2"))
    proc = subprocess.Popen([str(BIN / "handbook"), "--root", str(ROOT), "drill", str(runbook)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + 180
    for line in proc.stdout:
        seen.append(line)
        if "induce:" in line or time.monotonic() > deadline:
            break
    assert any("induce:" in line for line in seen), "".join(seen)
    assert _processes_mentioning(name), "the drill's stack should be running before Ctrl-C"
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, "".join(seen) + rest
    assert "interrupted" in rest
    time.sleep(1)
    assert _processes_mentioning(name) == []
