"""Who may do what, against the real services on loopback (issue 10, "Who may do what").

- Operations (detailed status, node listing, drain, resume; the nodes' and the packager's
  status) need an operator token; health, readiness and metrics stay open and carry no URL.
- A space's host is whoever holds the host secret returned at creation, not whoever claims the name.
- A join token opens one media connection on a node, once.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from chorus.client import GatewayClient, GatewayError, media_url
from chorus.fanout.replay import AdmittedTokens
from chorus.gateway.app import create_app
from chorus.tokens import TokenIssuer, node_token, operator_token, service_token
from chorus_support import (KEY, STATE_DIR, RealStack, config_with, local_stack, operator_client, operator_headers,
                            real_stack, wait_until)
from conftest import BIN

OPERATIONS = [("GET", "/v1/status"), ("GET", "/v1/nodes"), ("GET", "/v1/nodes/fanout-1"),
              ("POST", "/v1/nodes/fanout-1/drain"), ("POST", "/v1/nodes/fanout-1/resume")]
"""Every operations route of the gateway."""


@pytest.fixture(scope="module")
def stack() -> RealStack:
    with real_stack(nodes=1, packager=True) as running:
        yield running


def _forged_and_wrong_credentials() -> dict[str, dict[str, str]]:
    """Credentials that must not pass for an operator's."""
    issuer = TokenIssuer(KEY, config_with().gateway.token)
    join, _ = issuer.issue(user="mallory", space="sp-1", role="listener", node="fanout-1", session="se-x")
    return {
        "none": {},
        "forged": {"Authorization": f"Bearer {operator_token(b'f0rged-k3y-' * 4, 'mallory')}"},
        "node token": {"Authorization": f"Bearer {node_token(KEY, 'fanout-1')}"},
        "service token": {"Authorization": f"Bearer {service_token(KEY, 'packager')}"},
        "join token": {"Authorization": f"Bearer {join}"},
        "garbage": {"Authorization": "Bearer x.y.z"},
    }


def test_gateway_operations_need_an_operator_token(stack: RealStack) -> None:
    url = stack.gateway_url
    for name, headers in _forged_and_wrong_credentials().items():
        for method, path in OPERATIONS:
            answer = httpx.request(method, url + path, headers=headers, timeout=5)
            assert answer.status_code == 401, f"{method} {path} with {name}: {answer.status_code}"
            assert answer.headers["www-authenticate"] == "Bearer"
            assert "ws://" not in answer.text
    assert httpx.get(f"{url}/v1/nodes/fanout-1", headers=operator_headers(), timeout=5).json()["state"] == "accepting"
    status = httpx.get(f"{url}/v1/status", headers=operator_headers(), timeout=5).json()
    assert status["nodes"][0]["url"].startswith("ws://127.0.0.1:")


def test_health_readiness_and_metrics_stay_open_and_name_no_url(stack: RealStack) -> None:
    node_http = stack.nodes()[0]["url"].replace("ws://", "http://")
    packager = f"http://127.0.0.1:{stack.env['CHORUS__PACKAGER__PORT']}"
    for base in (stack.gateway_url, node_http, packager):
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
        metrics = httpx.get(f"{base}/metrics", timeout=5).text
        assert "chorus_" in metrics and "://" not in metrics, base


def test_node_and_packager_status_need_an_operator_token(stack: RealStack) -> None:
    node_http = stack.nodes()[0]["url"].replace("ws://", "http://")
    packager = f"http://127.0.0.1:{stack.env['CHORUS__PACKAGER__PORT']}"
    for url in (f"{node_http}/status", f"{packager}/v1/status"):
        for name, headers in _forged_and_wrong_credentials().items():
            refused = httpx.get(url, headers=headers, timeout=5)
            assert refused.status_code == 401, f"{url} with {name}"
            assert "output_dir" not in refused.text and "ws://" not in refused.text
        assert httpx.get(url, headers=operator_headers(), timeout=5).status_code == 200, url


def test_chorusctl_carries_the_operator_credential(stack: RealStack) -> None:
    status = stack.chorusctl("status", "--json")
    assert status.returncode == 0, status.stderr
    drained = stack.chorusctl("drain", "fanout-1", "--json")
    assert drained.returncode == 0 and json.loads(drained.stdout)["state"] == "draining", drained.stderr
    resumed = stack.chorusctl("drain", "fanout-1", "--undo")
    assert resumed.returncode == 0 and "resumed" in resumed.stdout, resumed.stderr
    wait_until(lambda: stack.nodes()[0]["state"] == "accepting", 10, "the node to accept again")
    token = stack.chorusctl("token").stdout.strip()
    node_http = stack.nodes()[0]["url"].replace("ws://", "http://")
    assert httpx.get(f"{node_http}/status", headers={"Authorization": f"Bearer {token}"}, timeout=5).status_code == 200
    keyless = {k: v for k, v in stack.env.items() if k != "CHORUS_SIGNING_KEY"}
    keyless["CHORUS_STATE_DIR"] = str(Path(STATE_DIR) / "elsewhere")
    refused = subprocess.run([str(BIN / "chorusctl"), "--config", str(stack.config_path), "drain", "fanout-1"],
                             env=keyless, capture_output=True, text=True, timeout=30)
    assert refused.returncode == 1 and "401" in refused.stderr and "signing key" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_local_run_writes_an_operator_token_for_chorusctl() -> None:
    with real_stack(nodes=1, signing_key=False) as running:
        assert "CHORUS_SIGNING_KEY" not in running.env
        token = Path(STATE_DIR) / f"operator-{running.gateway_url.removeprefix('http://').replace(':', '-')}.token"
        assert token.exists() and token.stat().st_mode & 0o777 == 0o600
        status = running.chorusctl("status")
        assert status.returncode == 0, status.stderr
        assert httpx.get(f"{running.gateway_url}/v1/status", timeout=5).status_code == 401
    assert not token.exists(), "the run's operator token is removed when the run stops"


def test_the_openapi_document_declares_who_may_call_each_route() -> None:
    document = create_app(config_with()).openapi()
    schemes = document["components"]["securitySchemes"]
    assert schemes["OperatorToken"]["scheme"] == "bearer"
    assert schemes["HostSecret"] == {**schemes["HostSecret"], "type": "apiKey", "in": "header", "name": "X-Chorus-Host-Secret"}
    paths = document["paths"]
    for method, path in OPERATIONS:
        template = path.replace("fanout-1", "{node}")
        assert paths[template][method.lower()]["security"] == [{"OperatorToken": []}], path
    for path in ("/v1/spaces/{space_id}/end", "/v1/spaces/{space_id}/speakers"):
        assert paths[path]["post"]["security"] == [{"HostSecret": []}], path
    for path in ("/healthz", "/readyz", "/metrics", "/v1/spaces/{space_id}"):
        assert "security" not in paths[path]["get"], path


# ----------------------------------------------------------------------------- the host secret


def test_only_the_host_secret_ends_promotes_or_joins_as_host(stack: RealStack) -> None:
    url = stack.gateway_url
    space = httpx.post(f"{url}/v1/spaces", json={"title": "mine", "host": "amara"}, timeout=5).json()
    sid, secret = space["id"], space["host_secret"]
    assert len(secret) >= 32 and "host_secret" not in httpx.get(f"{url}/v1/spaces/{sid}", timeout=5).json()
    attempts = [
        ("POST", f"/v1/spaces/{sid}/end", {"user": "amara"}),
        ("POST", f"/v1/spaces/{sid}/speakers", {"user": "mallory", "by": "amara"}),
        ("POST", f"/v1/spaces/{sid}/join", {"user": "amara", "role": "host"}),
    ]
    for secret_sent in (None, "not-the-secret", secret[:-1]):
        headers = {"X-Chorus-Host-Secret": secret_sent} if secret_sent else {}
        for method, path, body in attempts:
            answer = httpx.request(method, url + path, json=body, headers=headers, timeout=5)
            assert answer.status_code == 403, (path, secret_sent)
            assert "amara" not in answer.text, "the refusal names no one"
    host = {"X-Chorus-Host-Secret": secret}
    assert httpx.post(f"{url}/v1/spaces/{sid}/join", json={"user": "mallory", "role": "speaker"}, timeout=5).status_code == 403
    promoted = httpx.post(f"{url}/v1/spaces/{sid}/speakers", json={"user": "bob", "by": "amara"}, headers=host, timeout=5)
    assert promoted.json()["speakers"] == ["bob"]
    assert httpx.post(f"{url}/v1/spaces/{sid}/join", json={"user": "amara", "role": "host"}, headers=host,
                      timeout=5).status_code == 200
    assert httpx.post(f"{url}/v1/spaces/{sid}/end", json={"user": "x"}, headers=host, timeout=5).json()["live"] is False


def test_chorusctl_keeps_the_host_secret_it_was_given(stack: RealStack) -> None:
    created = stack.chorusctl("spaces", "create", "--title", "kept", "--host", "ines")
    assert created.returncode == 0, created.stderr
    sid = created.stdout.strip()
    promoted = stack.chorusctl("spaces", "promote", sid, "joe")
    assert promoted.returncode == 0, promoted.stderr
    other_user = dict(stack.env, CHORUS_STATE_DIR=str(Path(STATE_DIR) / "someone-else"))
    stolen = subprocess.run([str(BIN / "chorusctl"), "--config", str(stack.config_path), "spaces", "end", sid],
                            env=other_user, capture_output=True, text=True, timeout=30)
    assert stolen.returncode == 1 and "host secret" in stolen.stderr and "ines" not in stolen.stderr
    ended = stack.chorusctl("spaces", "end", sid, "--json")
    assert ended.returncode == 0 and json.loads(ended.stdout)["live"] is False, ended.stderr


# ----------------------------------------------------------------------------- single-use join tokens


def test_a_join_token_opens_one_connection_once() -> None:
    config = config_with()

    async def scenario() -> None:
        async with local_stack(config) as stack, GatewayClient(stack.url) as gateway:
            space = (await gateway.create_space("once", "h"))["id"]
            grant = await gateway.join(space, "ann")
            first = await connect(media_url(grant), open_timeout=5)
            for _ in range(2):  # at the same time, then after the first left
                with pytest.raises(InvalidStatus) as refused:
                    await connect(media_url(grant), open_timeout=5)
                assert refused.value.response.status_code == 401
                assert b"already used" in refused.value.response.body
                await first.close()
            node = stack.nodes[0]
            assert node.metrics.token_replays.labels(node="fanout-1")._value.get() == 2
            again = await gateway.join(space, "ann")
            async with connect(media_url(again), open_timeout=5):
                pass
            async with httpx.AsyncClient(timeout=5) as http:
                metrics = (await http.get(node.url.replace("ws://", "http://") + "/metrics")).text
            assert 'chorus_fanout_token_replays_total{node="fanout-1"} 2.0' in metrics

    asyncio.run(scenario())


def test_admitted_tokens_are_forgotten_at_expiry_and_bounded() -> None:
    now = [1000.0]
    seen = AdmittedTokens(capacity=3, clock=lambda: now[0])
    assert seen.admit("a", 1010) and not seen.admit("a", 1010)
    now[0] = 1013.0  # past exp + leeway: an expired token is refused anyway, so "a" is forgotten
    assert seen.admit("b", 1100) and len(seen) == 1
    for jti in ("c", "d", "e"):
        assert seen.admit(jti, 1200)
    assert len(seen) == 3, "at most `capacity` remembered"
    assert not seen.admit("e", 1200)


def test_each_join_gets_its_own_token() -> None:
    """Every media connection a Chorus component opens has its own grant (no component reuses a token)."""
    config = config_with()

    async def scenario() -> None:
        async with local_stack(config) as stack, GatewayClient(stack.url) as gateway:
            space = (await gateway.create_space("twice", "h"))["id"]
            grants: list[dict[str, Any]] = [await gateway.join(space, f"u{i}") for i in range(3)]
            assert len({g["token"] for g in grants}) == 3 and len({g["session"] for g in grants}) == 3
            sockets = [await connect(media_url(g), open_timeout=5) for g in grants]
            for socket_ in sockets:
                await socket_.close()

    asyncio.run(scenario())


def test_the_client_sends_the_host_secret_only_for_its_own_spaces() -> None:
    config = config_with()

    async def scenario() -> None:
        async with local_stack(config) as stack, GatewayClient(stack.url) as mine, GatewayClient(stack.url) as theirs:
            space = (await mine.create_space("t", "hana"))["id"]
            assert space in mine.host_secrets and not theirs.host_secrets
            with pytest.raises(GatewayError) as refused:
                await theirs.end_space(space, "hana")
            assert refused.value.status == 403
            assert (await mine.end_space(space, "hana"))["live"] is False
            async with operator_client(stack.url) as operator:
                assert (await operator.status())["spaces"] == 0

    asyncio.run(scenario())
