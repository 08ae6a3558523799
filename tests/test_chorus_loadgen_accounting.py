"""`chorusctl loadgen` accounts for every join, and says (and exits 1) when a run did not measure what it was asked.

A real gateway runs as its own process on an ephemeral loopback port, with no fan-out node, so every
answered listener join is shed (`capacity`). Pausing the process (SIGSTOP) mid-run leaves joins
unanswered, as an overloaded gateway or client machine does.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from chorus.loadgen import CLOSE_TIMEOUT_S, LoadgenError, LoadPlan, LoadRun
from chorus.tokens import operator_token
from chorus_support import CONFIG_FILE, KEY, config_with, local_stack, stack_env, wait_until
from conftest import BIN


@pytest.fixture()
def gateway() -> Iterator[tuple[str, subprocess.Popen[bytes], dict[str, str]]]:
    """A gateway process on a free port; yields its URL, the process and its environment."""
    env = stack_env()
    url = f"http://127.0.0.1:{env['CHORUS__GATEWAY__PORT']}"
    process = subprocess.Popen([sys.executable, "-m", "chorus.gateway", "--config", str(CONFIG_FILE)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(ready, 20, "the gateway to start", interval_s=0.1)
        yield url, process, env
    finally:
        os.kill(process.pid, signal.SIGCONT)
        process.terminate()
        process.wait(timeout=10)


def _rows(table: str) -> dict[str, str]:
    """The summary table as {row name: value}."""
    return {(parts + [""])[0]: (parts + [""])[1]
            for parts in (re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in table.splitlines() if line.strip())}


def _space(url: str) -> str:
    return httpx.post(f"{url}/v1/spaces", json={"title": "loadgen accounting", "host": "h"}, timeout=5).json()["id"]


def test_unanswered_joins_are_counted_and_the_run_is_incomplete(gateway) -> None:
    url, process, _env = gateway
    space = _space(url)
    plan = LoadPlan("join-storm", clients=40, rate_per_s=20, duration_s=3.5, space=space)
    lines: list[str] = []

    def progress(line: str) -> None:
        lines.append(line)
        if len(lines) == 1:  # about 1 s in: half the joins are answered, the rest will hang
            os.kill(process.pid, signal.SIGSTOP)

    result = asyncio.run(LoadRun(plan, config_with(), url, progress).run())
    assert result.attempted == 40 and result.not_started == 0, result
    assert result.shed >= 10 and result.admitted == 0, result
    assert result.unanswered >= 10, result
    assert result.shed + result.unanswered + result.timeouts + result.connection_errors == 40, result
    assert result.unaccounted == 0
    assert not result.complete
    rows = _rows(result.table())
    assert rows["unanswered at end"] == str(result.unanswered) and rows["attempted"] == "40"
    assert rows["run"].startswith(f"INCOMPLETE - did not measure what was asked: {result.unanswered} of 40 joins "
                                  "were still unanswered at the end")
    assert result.to_json()["complete"] is False


def test_clients_that_never_started_are_shown_and_chorusctl_exits_1(gateway) -> None:
    url, _process, env = gateway
    space = _space(url)
    run = subprocess.run([str(BIN / "chorusctl"), "--config", str(CONFIG_FILE), "loadgen", "join-storm", "--clients", "30",
                          "--rate", "10", "--duration", "1", "--space", space, "--gateway", url],
                         env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1, run.stdout + run.stderr
    rows = _rows(run.stdout)
    not_started, attempted = int(rows["clients not started"]), int(rows["attempted"])
    assert 15 <= not_started <= 25 and attempted + not_started == 30, run.stdout
    assert rows["run"].startswith(f"INCOMPLETE - did not measure what was asked: {not_started} of 30 clients never "
                                  "sent a join"), run.stdout
    assert f"error: loadgen join-storm did not complete: {not_started} of 30 clients never sent a join" in run.stderr


def test_a_complete_run_says_so() -> None:
    from chorus.loadgen import LoadResult

    result = LoadResult("join-storm", 3, 1.0, attempted=3, admitted=1, shed=2, shed_without_retry_after=0, errors=0,
                        p50_join_ms=1, p99_join_ms=2, frames_received=0, drops=0, listening=1, starved=0)
    assert result.complete and _rows(result.table())["run"] == "complete: every join was answered"
    lost = LoadResult("join-storm", 3, 1.0, attempted=3, admitted=0, shed=0, shed_without_retry_after=0, errors=0,
                      p50_join_ms=0, p99_join_ms=0, frames_received=0, drops=0, listening=0, starved=0)
    assert lost.unaccounted == 3 and not lost.complete, "a join in no outcome is never passed off as a clean run"


def _loadgen(url: str, env: dict[str, str], space: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([str(BIN / "chorusctl"), "--config", str(CONFIG_FILE), "loadgen", "join-storm", "--space", space,
                             "--gateway", url, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_storm_beyond_the_connection_pool_keeps_its_time_bound_and_says_what_it_offered(gateway) -> None:
    """600 joins due within 0.2 s: more than the client has connections. Before, they all queued in
    httpx's pool, which spent its time rescanning them: a handful of joins went out and the run
    outlived its duration by minutes."""
    url, _process, env = gateway
    started = time.monotonic()
    run = _loadgen(url, env, _space(url), "--clients", "600", "--rate", "3000", "--duration", "3")
    try:
        out, err = run.communicate(timeout=60)
    finally:
        run.kill()
    took = time.monotonic() - started
    assert took < 3 + CLOSE_TIMEOUT_S + 15, f"the run took {took:.0f} s for a 3 s duration"
    rows = _rows(out)
    assert "offered" in err and "/s of 3000/s" in err, "progress says the rate offered"
    attempted, not_started = int(rows["attempted"]), int(rows["clients not started"])
    assert attempted + not_started == 600 and attempted > 0, out
    assert rows["rate asked /s"] == "3000"
    offered = int(rows["rate offered /s"])
    if offered < 0.9 * 3000:
        assert f"offered {offered} joins/s of the 3000 asked" in rows["run"], out
        assert run.returncode == 1
    else:
        assert "offered" not in rows["run"], out


def test_ctrl_c_ends_a_run_early_with_its_summary(gateway) -> None:
    url, _process, env = gateway
    run = _loadgen(url, env, _space(url), "--clients", "100", "--rate", "5", "--duration", "60")
    assert run.stderr is not None
    lines = [run.stderr.readline() for _ in range(3)]  # the banner and two progress lines: two seconds in
    assert "offered" in lines[-1], lines
    run.send_signal(signal.SIGINT)
    try:
        out, err = run.communicate(timeout=30)
    finally:
        run.kill()
    assert run.returncode == 1, out + err
    rows = _rows(out)
    assert rows["run"].startswith("INCOMPLETE - did not measure what was asked: interrupted by Ctrl-C after"), out
    assert float(rows["duration s"]) < 20 and "Traceback" not in err


def test_misrouted_listeners_are_refused_as_wrong_node_and_join_again() -> None:
    """`--misroute-share` plays a load balancer in front of the nodes: the wrong node refuses, the listener rejoins."""
    config = config_with()

    async def scenario() -> tuple[object, dict[str, float]]:
        async with local_stack(config, nodes=2) as stack:
            plan = LoadPlan("listeners", 12, 20, 4.0, misroute_share=1.0)
            run = LoadRun(plan, config, stack.url, lambda line: None, operator_token=operator_token(KEY, "tests"))
            result = await run.run()
            refused = {node.node_id: node.metrics.token_failures.labels(node=node.node_id, reason="wrong_node")._value.get()
                       for node in stack.nodes}
            return result, refused

    result, refused = asyncio.run(scenario())
    assert result.misrouted == 12 and result.misroutes > 0, result.table()
    assert result.misroutes == sum(refused.values()), (result.misroutes, refused)
    assert result.media_errors == 0 and result.admitted > 12, "a refused listener joins again for a new token"
    assert result.listening > 0, "the balancer's lucky picks reach the right node and listen"


def test_misrouting_without_an_operator_credential_says_what_it_needs() -> None:
    config = config_with()

    async def scenario() -> str:
        async with local_stack(config, nodes=2) as stack:
            with pytest.raises(LoadgenError) as refused:
                await LoadRun(LoadPlan("listeners", 2, 2, 1.0, misroute_share=0.5), config, stack.url,
                              lambda line: None).run()
            return str(refused.value)

    assert "/v1/status" in asyncio.run(scenario())
