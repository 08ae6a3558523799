"""A fan-out node started with another signing key than the gateway's says so, loudly, and the gateway counts it."""

from __future__ import annotations

import subprocess
import sys
import threading

import httpx
from chorus_support import metric_sum, real_stack, wait_until


def test_a_node_with_the_wrong_key_logs_the_refusal_and_what_to_do() -> None:
    with real_stack(nodes=1) as stack:
        env = {**stack.env, "CHORUS_SIGNING_KEY": "another-key-that-is-long-enough-0123456789"}
        node = subprocess.Popen(
            [sys.executable, "-m", "chorus.fanout", "--node-id", "rogue", "--port", "0", "--gateway", stack.gateway_url],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        lines: list[str] = []
        assert node.stderr is not None
        reader = threading.Thread(target=lambda: lines.extend(iter(node.stderr.readline, "")), daemon=True)
        reader.start()
        try:
            wait_until(lambda: any("event=gateway_refused_node" in line for line in lines), 20, "the node to log the refusal")
        finally:
            node.terminate()
            node.wait(timeout=10)
            reader.join(timeout=5)
        refusal = next(line for line in lines if "event=gateway_refused_node" in line)
        assert "level=error" in refusal and "status=401" in refusal
        assert "signing key" in refusal and "CHORUS_SIGNING_KEY" in refusal
        assert sum("event=gateway_refused_node" in line for line in lines) == 1, "once, not once a second"
        metrics = httpx.get(f"{stack.gateway_url}/metrics", timeout=5).text
        assert metric_sum(metrics, "chorus_gateway_node_token_failures_total", reason="bad_signature") >= 1
    assert any("event=node_token_refused" in line and "reason=bad_signature" in line for line in stack.output)
