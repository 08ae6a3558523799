"""Runbook and alert queries against live series: a real Prometheus scraping a real Chorus answers them.

The stack (gateway, an origin, an edge, the packager) runs with `chorusctl up`; a `Monitor` scrapes
it every second with production's labels. A space with a speaker gives the per-space series. Then
every `promql` block of every runbook is run as a whole (Prometheus must accept it) and every
selector in it and in every alert expression must match series, unless the allow-list in
`stack/deploy/prometheus/live-series/incident-only.yaml` names it with a reason.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chorus.monitor import Monitor, MonitorClient, MonitorSettings, targets_from_gateway
from chorus.audio import reference_signal, write_wav
from chorus_support import operator_headers, real_stack, wait_until
from conftest import BIN, ROOT
from handbook.liveseries import AllowEntry, Query, findings, load_allowlist, queries
from handbook.project import Project

pytestmark = pytest.mark.skipif(subprocess.run(["sh", "-c", "command -v prometheus"], capture_output=True).returncode != 0,
                                reason="prometheus missing: `make setup` installs it")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MonitorClient, float]]:
    """A running stack with a speaking space, scraped; yields the monitor and when it started."""
    work = tmp_path_factory.mktemp("live")
    write_wav(work / "t.wav", reference_signal(20.0, 48000), 48000)
    with real_stack(nodes=1, edges=1, packager=True) as stack:
        packager = f"http://127.0.0.1:{stack.env['CHORUS__PACKAGER__PORT']}"
        settings = MonitorSettings(scrape_interval_s=1, evaluation_interval_s=1)
        token = operator_headers()["Authorization"].split()[1]
        with Monitor(targets_from_gateway(stack.gateway_url, packager, token=token), settings) as monitor:
            started = time.time()
            space = stack.chorusctl("spaces", "create", "--title", "live series").stdout.strip()
            speaker = subprocess.Popen(
                [str(BIN / "chorusctl"), "--config", str(stack.config_path), "speak", str(work / "t.wav"), "--space", space],
                env=stack.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            try:
                monitor.wait_for_targets(timeout_s=60)
                # The per-space series: a speaker on stage, the packager writing the space.
                for selector in ("chorus_gateway_space_speakers", "chorus_packager_playlist_age_seconds"):
                    wait_until(lambda s=selector: bool(monitor.query(f"{s} > 0")), 60, f"{selector} > 0")
                yield monitor, started
            finally:
                speaker.kill()
                speaker.wait()


def test_every_runbook_query_and_alert_selector_has_live_series(live: tuple[MonitorClient, float]) -> None:
    monitor, started = live
    project = Project(ROOT)
    t0 = time.monotonic()
    all_queries = queries(project)
    print(f"queries collected in {time.monotonic() - t0:.1f} s")
    assert len(all_queries) > 40
    refused = []
    for query in all_queries:
        try:
            monitor.query(query.text)
        except Exception as exc:  # noqa: BLE001 - reported with its place
            refused.append(f"{query.path}:{query.line}: Prometheus refuses the query: {exc}")
    assert refused == [], "\n".join(refused)

    def has_series(selector: str) -> bool:
        return bool(monitor.series(selector, since_s=time.time() - started + 5))

    # The probe can fail: a mistyped label value matches nothing.
    assert has_series('up{job="chorus-gateway"}') and not has_series('up{job="chorus-gatewy"}')
    problems = findings(all_queries, has_series, load_allowlist(ROOT))
    assert problems == [], "\n".join(problems)


def test_findings_report_missing_selectors_and_stale_entries() -> None:
    runbook = Query('sum(rate(chorus_fanout_token_failures_total[5m])) / sum(rate(chorus_gateway_joins_total[5m]))',
                    Path("runbooks/x.md"), 12, "runbook")
    present = {"chorus_gateway_joins_total"}
    allow = [AllowEntry("chorus_gateway_joins_total", "only during storms", 5), AllowEntry("nothing_queries_this", "gone", 7)]
    problems = findings([runbook], lambda s: s in present, allow)
    assert problems[0].startswith("runbooks/x.md:12: chorus_fanout_token_failures_total (runbook) matches no series")
    assert any(":5: stale entry chorus_gateway_joins_total: it has series on a healthy stack" in p for p in problems)
    assert any(":7: stale entry nothing_queries_this: no runbook or alert queries it" in p for p in problems)
    assert findings([runbook], lambda s: s in present, [AllowEntry("chorus_fanout_token_failures_total", "during a rotation", 3)]) == []
