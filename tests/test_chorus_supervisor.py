"""`chorusctl up` as a supervisor: a dead service is reported and restarted, the rest keep running,
`ready` is only printed for its own processes, and it gives up only when the gateway cannot be kept up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from chorus_support import BIN, CONFIG_FILE, real_stack, wait_until

from chorus.config import SupervisorConfig
from chorus.supervisor import describe_exit, restart_delay


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _children(state_file: Path) -> dict[str, dict[str, object]]:
    return {child["name"]: child for child in json.loads(state_file.read_text())["children"]}


def _said(stack: object, text: str) -> bool:
    return any(text in line for line in list(stack.output))  # type: ignore[attr-defined]


def test_restart_delay_doubles_up_to_its_cap() -> None:
    policy = SupervisorConfig(restart_delay_s=0.5, restart_delay_max_s=3)
    assert [restart_delay(policy, n) for n in (1, 2, 3, 4, 5, 60)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    slow = SupervisorConfig(restart_delay_s=90, restart_delay_max_s=10)
    assert [restart_delay(slow, n) for n in (1, 2)] == [90.0, 90.0], "the cap never shortens the first wait"
    assert describe_exit(-9) == "killed by SIGKILL" and describe_exit(1) == "exit 1"


def test_kill_9_of_a_node_is_reported_the_rest_keep_running_and_it_is_restarted(tmp_path: Path) -> None:
    state_file = tmp_path / "up.json"
    with real_stack(nodes=2, up_args=("--state-file", str(state_file)), supervisor__restart_delay_s=0.2) as stack:
        before = _children(state_file)
        assert {"gateway", "fanout-1", "fanout-2"} <= set(before) and all(c["state"] == "ready" for c in before.values())
        victim, survivor, gateway = (int(before[n]["pid"]) for n in ("fanout-2", "fanout-1", "gateway"))
        space = httpx.post(f"{stack.gateway_url}/v1/spaces", json={"title": "kill", "host": "h"}, timeout=5).json()["id"]

        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: _said(stack, f"fanout-2 died (pid {victim}, killed by SIGKILL)"), 15, "the death to be reported")
        assert stack.process.poll() is None, "up keeps running when a node dies"
        assert _alive(survivor) and _alive(gateway), "the other services are untouched"
        assert httpx.get(f"{stack.gateway_url}/v1/spaces/{space}", timeout=5).status_code == 200, "the gateway kept its spaces"

        wait_until(lambda: _said(stack, "fanout-2 ready again"), 30, "the node to be restarted and ready")
        after = _children(state_file)["fanout-2"]
        assert after["state"] == "ready" and after["restarts"] == 1 and after["last_exit"] == "killed by SIGKILL"
        assert after["pid"] != victim and _alive(int(after["pid"]))
        url = str(after["url"]).replace("ws://", "http://")
        assert httpx.get(f"{url}/readyz", timeout=5).status_code == 200, "the restarted node registered again"
        pids = [int(c["pid"]) for c in _children(state_file).values()]
    assert stack.process.returncode == 0 and _said(stack, "chorus up: stopped")
    assert not any(_alive(pid) for pid in pids), "Ctrl-C stopped every service"
    assert all(c["state"] == "stopped" and c["pid"] is None for c in _children(state_file).values())


def test_up_gives_up_when_the_gateway_cannot_be_kept_up(tmp_path: Path) -> None:
    state_file = tmp_path / "up.json"
    with real_stack(nodes=1, up_args=("--state-file", str(state_file)), supervisor__gateway_max_restarts=0) as stack:
        children = _children(state_file)
        os.kill(int(children["gateway"]["pid"]), signal.SIGKILL)
        wait_until(lambda: stack.process.poll() is not None, 20, "up to exit")
        node = int(children["fanout-1"]["pid"])
    assert stack.process.returncode == 1
    assert _said(stack, "error: chorus up: the gateway cannot be kept up") and _said(stack, "killed by SIGKILL")
    wait_until(lambda: not _alive(node), 5, "the node to be stopped with everything else")


def test_up_never_says_ready_for_another_stack_on_its_ports() -> None:
    with real_stack(nodes=1) as first:
        second = subprocess.run(
            [str(BIN / "chorusctl"), "--config", str(CONFIG_FILE), "up", "--nodes", "1", "--no-packager"],
            env=first.env, capture_output=True, text=True, timeout=60,
        )
        assert httpx.get(f"{first.gateway_url}/readyz", timeout=5).status_code == 200, "the first stack is untouched"
    assert "chorus up: ready" not in second.stderr, second.stderr
    assert second.returncode == 1
    assert "error: chorus up: gateway did not start (exit 1)" in second.stderr
    assert "cannot listen" in second.stderr and "is another Chorus running?" in second.stderr


@pytest.mark.parametrize("gateway_max_restarts", [1])
def test_a_gateway_that_dies_is_restarted_and_nodes_register_again(tmp_path: Path, gateway_max_restarts: int) -> None:
    state_file = tmp_path / "up.json"
    with real_stack(nodes=1, up_args=("--state-file", str(state_file)), supervisor__restart_delay_s=0.1,
                    supervisor__gateway_max_restarts=gateway_max_restarts) as stack:
        os.kill(int(_children(state_file)["gateway"]["pid"]), signal.SIGKILL)
        wait_until(lambda: _said(stack, "gateway ready again"), 30, "the gateway to come back")

        def registered() -> bool:
            try:
                nodes = stack.nodes()
            except (httpx.HTTPError, ValueError):
                return False
            return any(n["id"] == "fanout-1" and n["state"] != "stale" for n in nodes)

        wait_until(registered, 15, "the node to register with the new gateway")
        time.sleep(0.2)
        assert stack.process.poll() is None
    assert stack.process.returncode == 0
