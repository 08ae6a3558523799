"""Unit tests of Chorus's parts: admission, tokens, wire format, placement, audio, the gateway API, metrics, CLI."""

from __future__ import annotations

import ast
import asyncio
import json
import random
import subprocess
import time
import warnings

import numpy as np
import pytest

from chorus.audio import OpusDecoder, OpusEncoder, Timeline, frames_of, reference_packets, reference_signal, similarity
from chorus.catalog import load_catalog
from chorus.cli import build_parser, main
from chorus.config import AudioConfig, GatewayConfig
from chorus.gateway.admission import Admission, TokenBucket
from chorus.gateway.app import create_app
from chorus.gateway.placement import Placement
from chorus.gateway.sessions import Session, SessionTable
from chorus.gateway.spaces import Space
from chorus.metrics import service_registries
from chorus.protocol import (
    End,
    EndOfStream,
    Frame,
    ProtocolError,
    Reconnect,
    UnknownControl,
    Welcome,
    encode_control,
    join_request,
    pack_frames,
    parse_control,
    read_until_instructed,
    split_records,
    unpack_frames,
)
from chorus.tokens import TokenError, TokenIssuer, node_token, verify_join_token, verify_node_token
from chorus_support import CONFIG_FILE, KEY, clean_env, config_with, operator_headers
from conftest import BIN, ROOT

with warnings.catch_warnings():  # Starlette suggests another HTTP client for its test client; httpx is what we pin
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ----------------------------------------------------------------------------- admission


def test_token_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_s=10, burst=5, clock=clock)
    assert [bucket.try_take() for _ in range(6)] == [True] * 5 + [False]
    clock.now += 0.25
    assert [bucket.try_take() for _ in range(3)] == [True, True, False]
    clock.now += 100
    assert bucket.tokens == 5


def test_hosts_and_speakers_are_admitted_ahead_of_listeners() -> None:
    clock = FakeClock()
    config = GatewayConfig(join_rate_per_s=1, join_burst=10, priority_share=0.2, max_sessions=100)
    admission = Admission(config, clock, random.Random(1))
    listeners = [admission.decide("listener", 0).admitted for _ in range(10)]
    assert listeners == [True] * 8 + [False] * 2, "listeners stop at the 20 % reserve"
    assert admission.decide("listener", 0).reason == "rate"
    assert admission.decide("speaker", 0).admitted and admission.decide("host", 0).admitted
    assert not admission.decide("host", 0).admitted


def test_session_cap_keeps_a_share_for_hosts_and_speakers() -> None:
    config = GatewayConfig(join_rate_per_s=1000, join_burst=1000, priority_share=0.1, max_sessions=100)
    admission = Admission(config, FakeClock())
    assert admission.decide("listener", 89).admitted
    assert admission.decide("listener", 90).reason == "sessions"
    assert admission.decide("speaker", 99).admitted
    assert admission.decide("speaker", 100).reason == "sessions"


def test_retry_after_is_jittered_between_base_and_base_plus_jitter() -> None:
    admission = Admission(GatewayConfig(retry_after_base_s=2, retry_after_jitter_s=3), FakeClock(), random.Random(5))
    delays = [admission.retry_after_s() for _ in range(500)]
    assert 2 <= min(delays) < 2.1 and 4.9 < max(delays) <= 5
    assert len(set(delays)) == 500


# ----------------------------------------------------------------------------- tokens


def test_join_token_round_trip_and_jittered_lifetime() -> None:
    config = config_with().gateway.token
    issuer = TokenIssuer(KEY, config, random.Random(3))
    token, expires = issuer.issue(user="ann", space="sp-1", role="listener", node="fanout-2", session="se-1")
    claims = verify_join_token(token, KEY, "fanout-2")
    assert (claims.user, claims.space, claims.role, claims.session, claims.publishes) == ("ann", "sp-1", "listener", "se-1", False)
    lifetimes = {round(issuer.lifetime_s()) for _ in range(200)}
    assert min(lifetimes) >= config.ttl_s - config.ttl_jitter_s and max(lifetimes) <= config.ttl_s + config.ttl_jitter_s
    assert len(lifetimes) > 20
    assert abs(expires - time.time() - config.ttl_s) <= config.ttl_jitter_s + 1


def test_node_tokens_are_not_join_tokens() -> None:
    token = node_token(KEY, "fanout-1")
    assert verify_node_token(token, KEY) == "fanout-1"
    with pytest.raises(TokenError):
        verify_join_token(token, KEY, "fanout-1")
    join, _ = TokenIssuer(KEY, config_with().gateway.token).issue(user="u", space="s", role="host", node="n", session="x")
    with pytest.raises(TokenError):
        verify_node_token(join, KEY)


# ----------------------------------------------------------------------------- wire format


def test_media_messages_round_trip_and_malformed_ones_are_refused() -> None:
    frames = [Frame(7, i, 1_700_000_000_000_000 + i, bytes([i]) * (i + 1)) for i in range(3)]
    message = pack_frames(frames)
    assert unpack_frames(message) == frames
    assert b"".join(split_records(message)) == message[4:]
    for broken in (message[:-1], message + b"x", b"XX" + message[2:], message[:3]):
        with pytest.raises(ProtocolError):
            split_records(broken)


def test_control_messages_keep_their_wire_shape_and_read_leniently() -> None:
    assert json.loads(encode_control(Reconnect(reason="drain", node="fanout-1"))) == {
        "type": "reconnect", "reason": "drain", "node": "fanout-1"}  # no ticket key at all, as before
    for message in (Welcome("fanout-1", "sp-1", "listener", 4), Reconnect("drain", "fanout-1", "t"), End("sp-1"),
                    EndOfStream()):
        assert parse_control(encode_control(message)) == message
    assert parse_control('{"type": "reconnect", "ticket": 5, "extra": 1}') == Reconnect()
    assert parse_control('{"type": "welcome", "frames_per_message": true}') == Welcome()
    assert parse_control('{"type": "hello"}') == UnknownControl("hello")
    for broken in ("[]", "{}", '{"type": 1}', "not json", "{" * 10_000):
        with pytest.raises(ProtocolError):
            parse_control(broken)


def test_the_receive_loop_stops_at_an_instruction_and_skips_what_it_cannot_read() -> None:
    async def node(*messages: str | bytes):  # what a node's connection yields, in order
        for message in messages:
            yield message

    frames = pack_frames([Frame(1, 0, 0, b"x")])
    received: list[bytes] = []
    welcomed: list[Welcome] = []

    def media(message: bytes) -> None:
        unpack_frames(message)  # raises on the broken one, which is skipped
        received.append(message)

    told = asyncio.run(read_until_instructed(
        node(encode_control(Welcome(node="n")), frames, b"broken", "{not json", '{"type": "hello"}', frames,
             encode_control(Reconnect("drain", "n", "ticket")), frames),
        media, welcomed.append))
    assert told == Reconnect("drain", "n", "ticket") and received == [frames, frames] and welcomed == [Welcome(node="n")]
    assert asyncio.run(read_until_instructed(node(frames, encode_control(End("sp"))))) == End("sp")
    assert asyncio.run(read_until_instructed(node(frames))) is None


def test_the_join_request_leaves_out_what_a_first_join_does_not_say() -> None:
    assert join_request("ann", "listener") == {"user": "ann", "role": "listener"}
    assert join_request("ann", "host", "drain", "t") == {"user": "ann", "role": "host", "reconnect": "drain", "ticket": "t"}


# ----------------------------------------------------------------------------- placement


def test_placement_prefers_headroom_and_skips_full_draining_and_stale_nodes() -> None:
    clock = FakeClock()
    sessions = SessionTable()
    placement = Placement(sessions, headroom=0.5, node_timeout_s=5, clock=clock)
    placement.register("n1", "origin", "ws://a", 10)
    placement.register("n2", "origin", "ws://b", 20)
    placement.nodes["n2"].report = {"listeners": 6}
    space = Space("sp-2", "t", "h", 0.0)
    assert placement.headroom(placement.nodes["n1"]) == 5 and placement.headroom(placement.nodes["n2"]) == 4
    assert placement.place(space, "listener").id == "n1"
    for i in range(5):
        sessions.add(Session(f"s{i}", "sp-2", f"u{i}", "listener", "n1", clock()))
    assert placement.state(placement.nodes["n1"]) == "full"
    assert placement.place(space, "listener") is None, "the space's node is full: no new listeners"
    assert placement.place(space, "speaker").id == "n1", "speakers still reach their space"
    placement.nodes["n1"].drain = True
    assert placement.place(space, "listener").id == "n2", "a draining origin hands the space over"
    assert space.node == "n2"
    clock.now += 6
    placement.nodes["n1"].last_report = clock.now
    assert placement.state(placement.nodes["n2"]) == "stale"
    assert placement.place(Space("sp-3", "t", "h", 0.0), "listener") is None, "n1 draining, n2 stale"


def test_sessions_count_by_space_role_and_node_and_expire() -> None:
    table = SessionTable()
    table.add(Session("a", "sp", "u1", "listener", "n1", 1.0))
    table.add(Session("b", "sp", "u2", "host", "n1", 2.0))
    table.add(Session("c", "sp", "u3", "listener", "n2", 3.0))
    table.mark_connected("a")
    assert (table.count("sp", "listener"), table.count("sp", "host"), table.listeners_on("n1")) == (2, 1, 1)
    expired = table.expire_pending(2.5)
    assert [s.id for s in expired] == ["b"], "only a pending session admitted before the deadline expires"
    assert [s.id for s in table.remove_where(node="n2")] == ["c"]
    assert len(table) == 1 and table.by_role() == {"host": 0, "speaker": 0, "listener": 1, "packager": 0}


# ----------------------------------------------------------------------------- audio


def test_opus_round_trip_matches_the_source_and_noise_does_not() -> None:
    audio = AudioConfig()
    source = reference_signal(1.0)
    encoder, decoder = OpusEncoder(audio), OpusDecoder(audio)
    packets = [p for f in frames_of(source, audio.frame_samples) for p in encoder.encode(f)]
    assert len(packets) == 50 and all(20 < len(p) < 400 for p in packets)
    decoded = np.concatenate([decoder.decode(p) for p in packets])
    assert similarity(source, decoded) > 0.9
    rng = np.random.default_rng(1)
    assert similarity(source, (rng.standard_normal(48000) * 8000).astype(np.int16)) < 0.1


def test_timeline_places_frames_by_sequence_and_leaves_gaps_silent() -> None:
    audio = AudioConfig()
    packets = reference_packets(audio, 0.2)
    timeline = Timeline(audio)
    for seq in (0, 1, 2, 5):
        timeline.add(9, seq, 0, packets[seq])
    samples = timeline.samples()
    assert len(samples) == 6 * audio.frame_samples
    assert not samples[3 * 960 : 5 * 960].any() and samples[5 * 960 :].any()


# ----------------------------------------------------------------------------- gateway API


@pytest.fixture()
def api() -> TestClient:
    with TestClient(create_app(config_with(gateway={"presence_tick_ms": 100}), KEY)) as client:
        yield client


def test_spaces_roles_and_refusals(api: TestClient) -> None:
    space = api.post("/v1/spaces", json={"title": "Town hall", "host": "amara"}).json()
    sid = space["id"]
    host = {"X-Chorus-Host-Secret": space["host_secret"]}
    assert space["live"] and space["host"] == "amara"
    assert "host_secret" not in api.get(f"/v1/spaces/{sid}").json(), "the host secret is shown once"
    assert api.get("/v1/spaces").json()[0]["id"] == sid
    assert api.post(f"/v1/spaces/{sid}/join", json={"user": "bob", "role": "speaker"}).status_code == 403
    assert api.post(f"/v1/spaces/{sid}/hands", json={"user": "bob"}).json()["hands"] == ["bob"]
    assert api.post(f"/v1/spaces/{sid}/speakers", json={"user": "bob", "by": "bob"}).status_code == 403
    promoted = api.post(f"/v1/spaces/{sid}/speakers", json={"user": "bob", "by": "amara"}, headers=host).json()
    assert promoted["speakers"] == ["bob"] and promoted["hands"] == []
    shed = api.post(f"/v1/spaces/{sid}/join", json={"user": "bob", "role": "speaker"})
    assert shed.status_code == 503 and shed.json()["reason"] == "capacity", "no fan-out node is registered"
    assert api.post("/v1/spaces/sp-nope/join", json={"user": "x"}).status_code == 404
    assert api.post(f"/v1/spaces/{sid}/end", json={"user": "bob"}).status_code == 403
    assert api.post(f"/v1/spaces/{sid}/end", json={"user": "amara"}, headers=host).json()["live"] is False
    assert api.post(f"/v1/spaces/{sid}/join", json={"user": "x"}).status_code == 410
    assert api.get("/v1/spaces").json() == [] and len(api.get("/v1/spaces?include_ended=true").json()) == 1


def test_node_endpoints_need_a_node_token(api: TestClient) -> None:
    body = {"node": "fanout-1", "role": "origin", "url": "ws://127.0.0.1:1", "listener_cap": 5}
    assert api.post("/v1/nodes", json=body).status_code == 401
    forged = node_token(b"x" * 40, "fanout-1")
    assert api.post("/v1/nodes", json=body, headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    other = node_token(KEY, "fanout-2")
    assert api.post("/v1/nodes", json=body, headers={"Authorization": f"Bearer {other}"}).status_code == 403
    good = {"Authorization": f"Bearer {node_token(KEY, 'fanout-1')}"}
    assert api.post("/v1/nodes", json=body, headers=good).json()["state"] == "accepting"
    report = {"listeners": 0, "speakers": 0, "draining": False}
    assert api.post("/v1/nodes/fanout-1/report", json=report, headers=good).json() == {"drain": False, "ended_spaces": []}
    assert api.post("/v1/nodes/fanout-1/drain", headers=operator_headers()).json()["state"] == "draining"
    assert api.post("/v1/nodes/fanout-1/report", json=report, headers=good).json()["drain"] is True
    assert api.post("/v1/nodes/fanout-9/drain", headers=operator_headers()).status_code == 404


def test_presence_is_one_aggregate_message_per_tick(api: TestClient) -> None:
    sid = api.post("/v1/spaces", json={"title": "p", "host": "h"}).json()["id"]
    gateway = api.app.state.gateway
    for i in range(40):
        gateway.sessions.add(Session(f"s{i}", sid, f"u{i}", "listener", "n1", gateway.clock()))
        gateway.sessions.mark_connected(f"s{i}")
    with api.websocket_connect(f"/v1/spaces/{sid}/presence/ws") as socket:
        first = json.loads(socket.receive_text())
        second = json.loads(socket.receive_text())
    assert first["listeners"] == 40 and first["speakers"] == 0 and first["space"] == sid
    assert second["tick"] == first["tick"] + 1, "the next message is the next tick, not one per listener"
    assert api.get(f"/v1/spaces/{sid}/presence").json()["listeners"] == 40


def test_openapi_documents_every_route(api: TestClient) -> None:
    document = create_app(config_with()).openapi()
    assert api.get("/openapi.json").json() == document
    paths = document["paths"]
    for path in ("/v1/spaces", "/v1/spaces/{space_id}", "/v1/spaces/{space_id}/join", "/v1/spaces/{space_id}/end",
                 "/v1/spaces/{space_id}/hands", "/v1/spaces/{space_id}/speakers", "/v1/spaces/{space_id}/presence",
                 "/v1/nodes", "/v1/nodes/{node}/report", "/v1/nodes/{node}/drain", "/v1/nodes/{node}/resume",
                 "/v1/status", "/healthz", "/readyz", "/metrics"):
        assert path in paths, path
    join = paths["/v1/spaces/{space_id}/join"]["post"]["responses"]
    assert "Retry-After" in join["503"]["headers"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert operation.get("summary") and operation.get("description"), f"{method.upper()} {path}"


def test_health_readiness_and_metrics(api: TestClient) -> None:
    assert api.get("/healthz").text == "ok\n"
    assert api.get("/readyz").status_code == 200
    metrics = api.get("/metrics").text
    assert 'chorus_gateway_joins_total{result="shed",role="listener"} 0.0' in metrics
    assert "# HELP chorus_event_loop_lag_seconds" in metrics


def test_service_registries_declare_every_metric_with_help() -> None:
    registries = service_registries()
    assert set(registries) <= {s.name for s in load_catalog(ROOT / "stack" / "catalog.yaml").services}
    names = {service: {m.name: m for m in registry.collect()} for service, registry in registries.items()}
    expected = {
        "gateway": {"chorus_gateway_joins", "chorus_gateway_join_latency_seconds", "chorus_gateway_sessions",
                    "chorus_gateway_node_listeners", "chorus_gateway_nodes", "chorus_gateway_spaces",
                    "chorus_gateway_presence_connections", "chorus_event_loop_lag_seconds"},
        "fanout": {"chorus_fanout_connections", "chorus_fanout_listeners", "chorus_fanout_frames_in",
                   "chorus_fanout_frames_out", "chorus_fanout_slow_listener_drops", "chorus_fanout_token_failures",
                   "chorus_fanout_draining", "chorus_event_loop_lag_seconds"},
    }
    for service, wanted in expected.items():
        assert wanted <= set(names[service]), wanted - set(names[service])
        for metric in names[service].values():
            assert metric.name.startswith("chorus_") and len(metric.documentation) > 15


# ----------------------------------------------------------------------------- CLI


def _subcommands(parser) -> list[list[str]]:
    found = [[]]
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for name, sub in action.choices.items():
                found += [[name, *rest] for rest in _subcommands(sub)]
    return found


def test_every_command_has_help_and_parses(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    commands = _subcommands(parser)
    names = {" ".join(c) for c in commands}
    assert {"up", "status", "spaces list", "spaces show", "drain", "config check", "config show", "speak", "listen"} <= names
    for command in commands:
        with pytest.raises(SystemExit) as done:
            build_parser().parse_args([*command, "--help"])
        assert done.value.code == 0 and "usage: chorusctl" in capsys.readouterr().out, command


@pytest.mark.parametrize("args", [[], ["nope"], ["drain"], ["listen", "--space", "x"], ["spaces"], ["up", "--nodes", "x"]])
def test_bad_usage_exits_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(args)
    assert done.value.code == 2 and "error:" in capsys.readouterr().err


def test_client_command_with_no_gateway_fails_in_one_line() -> None:
    result = subprocess.run([str(BIN / "chorusctl"), "status", "--gateway", "http://127.0.0.1:9"],
                            capture_output=True, text=True, env=clean_env())
    assert result.returncode == 1
    assert result.stderr.startswith("error: gateway http://127.0.0.1:9 unreachable") and "Traceback" not in result.stderr


def test_config_show_prints_the_effective_configuration(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CHORUS__FANOUT__LISTENER_CAP", "7")
    assert main(["--config", str(CONFIG_FILE), "config", "show", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["fanout"]["listener_cap"] == 7


# ----------------------------------------------------------------------------- docstrings


def test_every_public_object_in_chorus_has_a_docstring() -> None:
    missing = []
    for path in sorted((ROOT / "stack" / "chorus").rglob("*.py")):
        tree = ast.parse(path.read_text())
        where = path.relative_to(ROOT)
        if not ast.get_docstring(tree):
            missing.append(f"{where}: module")
        documented = list(tree.body)  # what the API reference shows: module-level objects and their members
        documented += [m for c in tree.body if isinstance(c, ast.ClassDef) for m in c.body]
        for node in documented:
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                if not node.name.startswith("_") and not ast.get_docstring(node):
                    missing.append(f"{where}:{node.lineno}: {node.name}")
    assert missing == []
