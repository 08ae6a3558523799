"""The real drills: every runbook that declares one is rehearsed against a live Chorus and a real Prometheus.

`handbook drill --allow-destructive` runs them three at a time (a drill mostly waits on its alert), each on its own ports: the alert
must fire, every marked step must print what the runbook says, the alert must clear and audio
must still reach a listener (and the HLS playlist advance, where the packager runs). The table
it prints is the test's failure message.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import BIN, ROOT
from handbook.drill.spec import read_plan
from handbook.mdscan import MarkdownPage

pytestmark = pytest.mark.skipif(not Path("/usr/bin/prometheus").exists(), reason="needs Debian's prometheus (make setup installs it)")

DRILLED = sorted(
    path.stem for path in (ROOT / "runbooks").glob("*.md")
    if path.name != "index.md" and (plan := read_plan(MarkdownPage(path.read_text()))).spec is not None
    and not plan.spec.not_drillable
)


def test_the_runbooks_worth_drilling_declare_drills() -> None:
    assert {"fanout-node-down", "gateway-down", "packager-down", "dead-air", "drain-fanout-node", "restart-live",
            "rotate-signing-key", "slow-listener-drops"} <= set(DRILLED)


@pytest.mark.timeout(1560)
def test_every_declared_drill_passes() -> None:
    run = subprocess.run(
        [str(BIN / "handbook"), "drill", "--allow-destructive", "--jobs", "3", *DRILLED],
        cwd=ROOT, capture_output=True, text=True, timeout=1500,
    )
    table = run.stdout[run.stdout.rfind("\n\n"):] if "\n\n" in run.stdout else run.stdout
    assert run.returncode == 0, f"drills failed (exit {run.returncode}):\n{table}\n{run.stderr[-2000:]}"
