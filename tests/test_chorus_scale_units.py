"""Unit tests of the scale parts: metrics contract, capacity, loadgen bounds, frame clock, HLS writer, cascade placement."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from chorus.audio import reference_signal, similarity
from chorus.capacity import plan_capacity, render_plan
from chorus.config import ChorusConfig, load_config
from chorus.fanout.node import FanoutNode
from chorus.gateway.core import Gateway, Refusal, UpstreamGrant
from chorus.loadgen import HARD_MAX_CLIENTS, LoadgenError, LoadPlan, require_loopback
from chorus.metrics import FanoutMetrics, GatewayMetrics, PackagerMetrics, service_registries
from prometheus_client import CollectorRegistry
from chorus.packager.hls import HlsWriter, parse_playlist
from chorus.packager.slots import SlotBuffer, level_dbfs
from chorus.protocol import MEDIA_PATH
from chorus.tokens import verify_join_token
from chorus_support import CONFIG_FILE, KEY, clean_env, config_with
from conftest import BIN

SCALE_METRICS = {
    "packager": ["chorus_packager_frames", "chorus_packager_silence_frames", "chorus_packager_playlist_age_seconds",
                 "chorus_packager_segments", "chorus_packager_upstream_connected", "chorus_packager_ready"],
    "gateway": ["chorus_gateway_reconnects", "chorus_gateway_space_speakers"],
    "fanout": ["chorus_fanout_upstream_connected", "chorus_fanout_role"],
}


def test_scale_metrics_are_declared_with_help_and_labels() -> None:
    registries = service_registries()
    declared = {service: {m.name: m for m in registry.collect()} for service, registry in registries.items()}
    for service, names in SCALE_METRICS.items():
        for name in names:
            assert name in declared[service], f"{service} does not declare {name}"
            assert len(declared[service][name].documentation) > 30, f"{name} needs a helpful HELP text"
    gateway, fanout, packager = (GatewayMetrics(CollectorRegistry()), FanoutMetrics(CollectorRegistry(), "edge-1"),
                                 PackagerMetrics(CollectorRegistry()))
    gateway.reconnects.labels(reason="drain").inc()
    gateway.space_speakers.labels(space="sp-1").set(1)
    for metric in (packager.frames, packager.silence_frames, packager.segments):
        metric.labels(space="sp-1").inc()
    packager.playlist_age.labels(space="sp-1").set(1.5)
    samples = {s.name: s.labels for r in (gateway.registry, fanout.registry, packager.registry)
               for m in r.collect() for s in m.samples}
    assert samples["chorus_gateway_reconnects_total"] == {"reason": "drain"}
    assert samples["chorus_gateway_space_speakers"] == {"space": "sp-1"}
    assert samples["chorus_packager_silence_frames_total"] == {"space": "sp-1"}
    assert samples["chorus_packager_playlist_age_seconds"] == {"space": "sp-1"}
    assert samples["chorus_fanout_upstream_connected"] == {"node": "edge-1"}
    roles = {tuple(s.labels.items()) for m in fanout.registry.collect() for s in m.samples if s.name == "chorus_fanout_role"}
    assert roles == {(("node", "edge-1"), ("role", "origin")), (("node", "edge-1"), ("role", "edge"))}


# ----------------------------------------------------------------------------- capacity


def test_capacity_for_700000_listeners_shows_the_arithmetic() -> None:
    config = config_with(packager={"hls_share": 0.5}, fanout={"listener_cap": 1000, "headroom": 0.1})
    plan = plan_capacity(config, 700_000)
    assert (plan.hls_listeners, plan.websocket_listeners, plan.usable_per_node) == (350_000, 350_000, 900)
    assert (plan.edges, plan.origins, plan.fanout_nodes) == (389, 1, 390)
    text = render_plan(plan)
    assert "ceil(350,000 / 900) = 389" in text
    assert "floor(fanout.listener_cap 1,000 x (1 - fanout.headroom 0.1)) = 900" in text


def test_capacity_says_what_does_not_fit_and_which_setting_to_change() -> None:
    config = config_with(packager={"hls_share": 0.0}, fanout={"listener_cap": 100, "headroom": 0.0},
                         gateway={"max_sessions": 1_000_000})
    plan = plan_capacity(config, 20_000)
    assert plan.edges == 200 and not plan.fits
    assert any("200 edges exceed the 100 one origin can feed" in p and "packager.hls_share" in p for p in plan.problems)
    small = plan_capacity(config, 80)
    assert small.fits and small.edges == 0 and small.fanout_nodes == 1
    with pytest.raises(ValueError):
        plan_capacity(config, 0)


def test_chorusctl_capacity_json_and_exit_codes() -> None:
    run = subprocess.run([str(BIN / "chorusctl"), "capacity", "--listeners", "500", "--json"], env=clean_env(),
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    plan = json.loads(run.stdout)
    assert plan["edges"] == 0 and plan["fits"] is True and plan["steps"]
    overflow = subprocess.run([str(BIN / "chorusctl"), "capacity", "--listeners", "700000"], env=clean_env(),
                              capture_output=True, text=True)
    assert overflow.returncode in (0, 1) and "edges" in overflow.stdout
    assert ("DOES NOT FIT" in overflow.stdout) == (overflow.returncode == 1)
    bad = subprocess.run([str(BIN / "chorusctl"), "capacity", "--listeners", "10", "--hls-share", "2"],
                         env=clean_env(), capture_output=True, text=True)
    assert bad.returncode == 2 and "between 0 and 1" in bad.stderr


# ----------------------------------------------------------------------------- loadgen


@pytest.mark.parametrize("url", ["http://10.0.0.1:8080", "http://192.168.1.5", "ws://8.8.8.8:8090/v1/media",
                                 "http://no-such-host.invalid:8080"])
def test_loadgen_refuses_targets_that_are_not_loopback(url: str) -> None:
    with pytest.raises(LoadgenError, match="127.0.0.1 only"):
        require_loopback(url)


def test_loadgen_accepts_loopback_and_enforces_hard_bounds() -> None:
    for url in ("http://127.0.0.1:8080", "http://localhost:8080", "ws://127.0.0.2:9000/v1/media"):
        require_loopback(url)
    LoadPlan("join-storm", 10, 100, 5).check()
    for plan in (LoadPlan("join-storm", HARD_MAX_CLIENTS + 1, 100, 5), LoadPlan("listeners", 10, 100, 121),
                 LoadPlan("stampede", 10, 100, 5), LoadPlan("listeners", 10, 0, 5)):
        with pytest.raises(LoadgenError):
            plan.check()


def test_chorusctl_loadgen_refuses_a_remote_gateway() -> None:
    run = subprocess.run([str(BIN / "chorusctl"), "loadgen", "join-storm", "--gateway", "http://10.1.2.3:8080"],
                         env=clean_env(), capture_output=True, text=True, timeout=30)
    assert run.returncode == 2 and "not a loopback address" in run.stderr


# ----------------------------------------------------------------------------- packager


def test_slot_buffer_places_frames_by_sequence_and_leaves_gaps_empty() -> None:
    buffer = SlotBuffer(frame_samples=4, max_ahead_slots=50)
    one = np.full(4, 1000, dtype=np.int16)
    assert buffer.add(source=1, seq=10, samples=one, arrival_slot=20, next_slot=10) == 20  # anchored at arrival
    assert buffer.add(1, 12, one, arrival_slot=21, next_slot=10) == 22  # by sequence, not arrival
    assert buffer.add(2, 0, one, arrival_slot=22, next_slot=10) == 22  # a second speaker mixes in
    assert buffer.take(20).tolist() == [1000] * 4
    assert buffer.take(21) is None  # frame 11 never came: silence
    assert buffer.take(22).tolist() == [2000] * 4
    # A frame later than the writer (its slot is gone) moves its speaker instead of being lost.
    assert buffer.add(1, 13, one, arrival_slot=40, next_slot=30) == 40
    assert buffer.reanchors == 3
    assert level_dbfs(np.zeros(960, dtype=np.int16)) == -120.0
    assert abs(level_dbfs(np.full(960, 16384, dtype=np.int16)) - (-6.02)) < 0.01


def test_hls_writer_segments_and_ends_the_playlist(tmp_path: Path) -> None:
    config = config_with(packager={"segment_s": 1.0, "playlist_size": 4})
    reference = reference_signal(3.0)
    writer = HlsWriter(tmp_path / "sp-x", config.packager, config.audio, "abcd1234")
    added = 0
    for start in range(0, len(reference), config.audio.frame_samples):
        added += writer.write(reference[start : start + config.audio.frame_samples])
    for _ in range(50):  # one more second of silence pushes the last speech into a finished segment
        added += writer.write(np.zeros(config.audio.frame_samples, dtype=np.int16))
    added += writer.close()
    text = (tmp_path / "sp-x" / "index.m3u8").read_text()
    sequence, segments = parse_playlist(text)
    assert text.rstrip().endswith("#EXT-X-ENDLIST")
    assert added == writer.segments_written >= 4 and len(segments) == 4
    assert all(name.startswith("abcd1234-") for name in segments)
    assert sequence > 1_000_000_000, "media sequence numbers start from the clock, so a restart never reuses one"
    data = b"".join((tmp_path / "sp-x" / name).read_bytes() for name in segments)
    with av.open(io.BytesIO(data), format="mpegts") as container:
        decoded = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    assert similarity(reference[-48000:], (decoded * 32767).astype(np.int16)) > 0.8


# ----------------------------------------------------------------------------- cascade in the gateway


def _gateway(config: ChorusConfig | None = None) -> Gateway:
    gateway = Gateway(config or config_with(fanout={"listener_cap": 10, "headroom": 0}))
    gateway.set_key(KEY)
    return gateway


def _report(gateway: Gateway, node: str, **fields: object) -> None:
    body = {"listeners": 0, "speakers": 0, "edges": 0, "draining": False, "spaces": {}, **fields}
    assert gateway.report(node, body) is not None


def test_listeners_go_to_edges_one_space_fills_an_edge_before_the_next() -> None:
    gateway = _gateway()
    gateway.register_node("fanout-1", "origin", "ws://127.0.0.1:1", 10)
    space, secret = gateway.spaces.create_with_secret("t", "ada")
    first = gateway.join(space.id, "l0", "listener")
    assert first.node.id == "fanout-1", "without edges the origin takes listeners"
    for edge in ("edge-1", "edge-2"):
        gateway.register_node(edge, "edge", f"ws://127.0.0.1:{edge[-1]}", 10)
    nodes = [gateway.join(space.id, f"l{i}", "listener").node.id for i in range(1, 13)]
    assert "fanout-1" not in nodes
    first_edge = nodes[0]
    assert nodes[:10] == [first_edge] * 10 and set(nodes[10:]) == {"edge-1", "edge-2"} - {first_edge}
    assert gateway.join(space.id, "ada", "host", host_secret=secret).node.id == "fanout-1", "speakers stay on the origin"


def test_upstream_grants_name_the_origin_and_refuse_everyone_else() -> None:
    gateway = _gateway()
    gateway.register_node("fanout-1", "origin", "ws://127.0.0.1:1", 10)
    gateway.register_node("edge-1", "edge", "ws://127.0.0.1:2", 10)
    space, secret = gateway.spaces.create_with_secret("t", "ada")
    grant = gateway.upstream("edge-1", space.id)
    assert isinstance(grant, UpstreamGrant) and grant.origin.id == "fanout-1"
    claims = verify_join_token(grant.token, KEY, "fanout-1")
    assert (claims.role, claims.space, claims.user) == ("edge", space.id, "edge-1")
    assert grant.url == "ws://127.0.0.1:1" + MEDIA_PATH
    for node, space_id, status in (("fanout-1", space.id, 403), ("edge-9", space.id, 409), ("edge-1", "sp-nope", 404)):
        refusal = gateway.upstream(node, space_id)
        assert isinstance(refusal, Refusal) and refusal.status == status
    gateway.end_space(space.id, secret)
    ended = gateway.upstream("edge-1", space.id)
    assert isinstance(ended, Refusal) and ended.status == 410


def test_reconnect_reasons_and_speakers_per_space_are_counted() -> None:
    gateway = _gateway()
    gateway.register_node("fanout-1", "origin", "ws://127.0.0.1:1", 10)
    space, secret = gateway.spaces.create_with_secret("t", "ada")
    gateway.join(space.id, "a", "listener")
    gateway.join(space.id, "b", "listener", reconnect="drain")
    gateway.join(space.id, "c", "listener", reconnect="network")
    gateway.join(space.id, "d", "listener", reconnect="network")
    reconnects = gateway.metrics.reconnects
    assert [reconnects.labels(reason=r)._value.get() for r in ("drain", "network", "unknown")] == [1, 2, 0]
    _report(gateway, "fanout-1", speakers=1, spaces={space.id: {"listeners": 3, "speakers": 1}})
    gateway.refresh_metrics()
    assert gateway.metrics.space_speakers.labels(space=space.id)._value.get() == 1
    gateway.end_space(space.id, secret)
    gateway.refresh_metrics()
    assert all(s.labels.get("space") != space.id for m in gateway.metrics.space_speakers.collect() for s in m.samples)


def test_an_edge_node_takes_listeners_only() -> None:
    config = load_config(CONFIG_FILE, env={})
    gateway = _gateway(config)
    gateway.register_node("edge-1", "edge", "ws://127.0.0.1:2", 10)
    space = gateway.spaces.create("t", "ada")
    host_token, _ = gateway.issuer.issue(user="ada", space=space.id, role="host", node="edge-1", session="s1")

    async def scenario() -> None:
        node = FanoutNode(config, "edge-1", KEY, host="127.0.0.1", port=0, role="edge")
        await node.start()
        try:
            with pytest.raises(InvalidStatus) as refused:
                async with connect(f"{node.url}{MEDIA_PATH}?token={host_token}"):
                    pass
            assert refused.value.response.status_code == 403
            assert node.metrics.role.labels(node="edge-1", role="edge")._value.get() == 1
            assert node.status()["role"] == "edge"
        finally:
            await node.stop()

    asyncio.run(scenario())
