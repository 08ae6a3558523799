"""`chorusctl restart`: a running `chorusctl up` restarts the services it is asked to, one after the other,
and `restart all --rotate-key` moves the whole stack to a new signing key."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import httpx
import pytest
from chorus_support import BIN, CONFIG_FILE, KEY, operator_headers, real_stack, stack_env

from chorus.upcontrol import MAX_REQUEST_BYTES, RestartRequest, socket_name

NEW_KEY = b"rotated-signing-key-fedcba9876543210fedcba98"


def _pids(state_file: Path) -> dict[str, int]:
    return {child["name"]: int(child["pid"]) for child in json.loads(state_file.read_text())["children"]}


@pytest.mark.parametrize("line, problem", [
    (b"not json", "not a JSON line"),
    (b'{"restart": []}', "1 to 512 service names"),
    (b'{"restart": ["fanout-1; rm -rf /"]}', "unknown service name"),
    (b'{"restart": ["fanout-1"], "key": "k"}', "needs every service restarted together"),
    (b'{"restart": ["all"], "extra": 1}', "must be"),
])
def test_a_bad_restart_request_is_refused_with_what_is_wrong(line: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        RestartRequest.parse(line)


def test_restart_without_a_running_up_says_so() -> None:
    env = stack_env()
    run = subprocess.run([str(BIN / "chorusctl"), "--config", str(CONFIG_FILE), "restart", "fanout-1"],
                         env=env, capture_output=True, text=True, timeout=30)
    assert run.returncode == 1 and "no `chorusctl up` runs for" in run.stderr, run.stderr


def test_restart_one_node_then_every_service_with_a_new_key(tmp_path: Path) -> None:
    state_file = tmp_path / "up.json"
    with real_stack(nodes=2, up_args=("--state-file", str(state_file))) as stack:
        before = _pids(state_file)

        one = stack.chorusctl("restart", "fanout-1", timeout=90)
        assert one.returncode == 0, one.stdout + one.stderr
        assert "fanout-1: ready" in one.stdout and "restarted fanout-1: all ready" in one.stdout
        after = _pids(state_file)
        assert after["fanout-1"] != before["fanout-1"], "fanout-1 runs in a new process"
        assert after["fanout-2"] == before["fanout-2"] and after["gateway"] == before["gateway"], "nothing else restarted"

        refused = stack.chorusctl("restart", "fanout-9")
        assert refused.returncode == 1 and "this run has no fanout-9" in refused.stderr, refused.stderr
        oversized = stack.chorusctl("restart", *(["fanout-1"] * 600))
        assert oversized.returncode == 2, oversized.stderr
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:
            raw.connect(socket_name(stack.gateway_url))
            raw.sendall(b"x" * (MAX_REQUEST_BYTES * 3))
            answer = json.loads(raw.makefile().readline())
        assert answer == {"ok": False, "message": f"bad request: longer than {MAX_REQUEST_BYTES} bytes"}

        stack.env["CHORUS_SIGNING_KEY"] = NEW_KEY.decode()
        rotated = stack.chorusctl("restart", "all", "--rotate-key", timeout=180)
        assert rotated.returncode == 0, rotated.stdout + rotated.stderr
        final = _pids(state_file)
        assert all(final[name] != after[name] for name in ("gateway", "fanout-1", "fanout-2")), "every service restarted"

        old = httpx.get(f"{stack.gateway_url}/v1/nodes", headers=operator_headers(KEY), timeout=5)
        assert old.status_code == 401, "a token signed with the old key is refused"
        nodes = httpx.get(f"{stack.gateway_url}/v1/nodes", headers=operator_headers(NEW_KEY), timeout=5).json()
        assert sorted(node["id"] for node in nodes) == ["fanout-1", "fanout-2"], "the nodes registered with the new key"
        status = stack.chorusctl("status")
        assert status.returncode == 0 and status.stdout.count("accepting") == 2, status.stdout + status.stderr
