"""End to end with the real `chorusctl` and real service processes: real audio, 50 listeners, drain."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from chorus.audio import Timeline, load_pcm, reference_packets, similarity
from chorus.client import GatewayClient, Listener, Speaker
from chorus.config import AudioConfig
from chorus.protocol import Frame
from chorus_support import RealStack, async_wait_until, background, frame_counter, metric_sum, operator_client, real_stack
from conftest import BIN

MATCH_THRESHOLD = 0.8
"""Normalised cross-correlation a recording must reach (Opus at 32 kbit/s scores about 0.96)."""


@pytest.fixture(scope="module")
def stack() -> RealStack:
    """`chorusctl up` with two fan-out nodes, shared by this module's tests."""
    with real_stack(nodes=2, fanout__drain_spread_s=0.5, fanout__report_interval_s=0.5) as running:
        yield running
    assert "chorus up: stopped" in "".join(running.output), "".join(running.output[-20:])
    assert running.process.returncode == 0


def _json(result: object) -> object:
    assert result.returncode == 0, result.stdout + result.stderr  # type: ignore[attr-defined]
    return json.loads(result.stdout)  # type: ignore[attr-defined]


def test_fifty_listeners_hear_what_the_speaker_sends(stack: RealStack, tmp_path: Path) -> None:
    source = tmp_path / "source.wav"
    assert stack.chorusctl("tone", str(source), "--seconds", "2").returncode == 0
    created = _json(stack.chorusctl("spaces", "create", "--title", "e2e", "--host", "alice", "--json"))
    space = created["id"]
    heard = tmp_path / "heard.wav"
    audio = AudioConfig()

    async def scenario() -> tuple[list[Timeline], bytes, int]:
        cli_listener = await asyncio.create_subprocess_exec(
            str(BIN / "chorusctl"), "--config", str(stack.config_path), "listen", "--space", space,
            "--out", str(heard), "--seconds", "30", "--json", env=stack.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        timelines = [Timeline(audio) for _ in range(49)]
        async with operator_client(stack.gateway_url) as gateway, background() as tasks:

            def recorder(timeline: Timeline):
                def record(frames: list[Frame]) -> None:
                    for f in frames:
                        timeline.add(f.source, f.seq, f.captured_us, f.payload)
                return record

            listeners = [Listener(gateway, space, f"l{i}", recorder(t)) for i, t in enumerate(timelines)]
            tasks += [asyncio.create_task(listener.run(30)) for listener in listeners]

            async def connected_listeners() -> int:
                return sum(n["listeners"] for n in (await gateway.status())["nodes"])

            for _ in range(200):
                if all(l.connected.is_set() for l in listeners) and await connected_listeners() == 50:
                    break
                await asyncio.sleep(0.1)
            assert all(l.connected.is_set() for l in listeners)
            assert await connected_listeners() == 50, "the chorusctl listener did not connect"

            speak = await asyncio.create_subprocess_exec(
                str(BIN / "chorusctl"), "--config", str(stack.config_path), "speak", str(source), "--space", space,
                "--json", env=stack.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(speak.communicate(), 30)
            assert speak.returncode == 0, err.decode()
            assert json.loads(out)["frames_sent"] == json.loads(out)["frames"]
            await asyncio.sleep(0.5)
            gateway.host_secrets[space] = created["host_secret"]  # the secret chorusctl was given at creation
            await gateway.end_space(space, "alice")
            logs = await asyncio.wait_for(asyncio.gather(*tasks), 15)
            assert all(log.ended for log in logs), "every listener is told the space ended"
            cli_out, cli_err = await asyncio.wait_for(cli_listener.communicate(), 15)
            assert cli_listener.returncode == 0, cli_err.decode()
        return timelines, cli_out, len(logs)

    timelines, cli_out, count = asyncio.run(scenario())
    assert count == 49
    reference = load_pcm(source, 48000)
    scores = [similarity(reference, t.samples()) for t in timelines]
    scores.append(similarity(reference, load_pcm(heard, 48000)))
    assert json.loads(cli_out)["ended"] is True
    assert min(scores) > MATCH_THRESHOLD, sorted(scores)[:5]

    metrics = httpx.get(f"{stack.gateway_url}/metrics").text
    assert metric_sum(metrics, "chorus_gateway_joins_total", result="admitted", role="listener") >= 50
    assert metric_sum(metrics, "chorus_gateway_joins_total", result="admitted", role="host") >= 1
    node_metrics = "".join(httpx.get(n["url"].replace("ws://", "http://") + "/metrics").text for n in stack.nodes())
    assert metric_sum(node_metrics, "chorus_fanout_frames_in_total") >= 100
    assert metric_sum(node_metrics, "chorus_fanout_frames_out_total") >= 100 * 50


def test_draining_a_node_moves_its_listeners_and_speaker(stack: RealStack) -> None:
    created = _json(stack.chorusctl("spaces", "create", "--title", "drain", "--host", "dana", "--json"))
    space = created["id"]
    packets = reference_packets(AudioConfig(), 12)

    async def scenario() -> None:
        async with operator_client(stack.gateway_url) as gateway, background() as tasks:
            gateway.host_secrets[space] = created["host_secret"]
            counts = [0] * 10

            listeners = [Listener(gateway, space, f"d{i}", frame_counter(counts, i)) for i in range(10)]
            tasks += [asyncio.create_task(l.run(40)) for l in listeners]
            speaker = Speaker(gateway, space, "dana", "host")
            tasks.append(asyncio.create_task(speaker.run(packets)))
            await async_wait_until(lambda: min(counts) >= 25, 10, "audio to reach every listener")
            origin = (await gateway.space(space))["node"]
            other = next(n["id"] for n in (await gateway.status())["nodes"] if n["id"] != origin)
            assert {l.log.nodes[-1] for l in listeners} == {origin}

            drain = await asyncio.create_subprocess_exec(
                str(BIN / "chorusctl"), "--config", str(stack.config_path), "drain", origin, "--wait", "--timeout", "20",
                env=stack.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(drain.communicate(), 30)
            try:
                assert drain.returncode == 0, err.decode()
                assert f"{origin} drained" in out.decode()
                # The node is empty once everyone left it; landing on the other node takes a join more.
                await async_wait_until(lambda: all(l.log.nodes[-1] == other for l in listeners)
                                       and speaker.log.nodes[-1] == other, 10, "everyone to reconnect elsewhere")
                assert all(l.log.reconnects == 1 and l.log.nodes == [origin, other] for l in listeners)
                before = list(counts)
                await asyncio.sleep(1.0)
                assert all(after > was for after, was in zip(counts, before)), "audio keeps arriving after the move"
                assert speaker.log.nodes[-1] == other
                node = await gateway.node(origin)
                assert node["state"] == "draining" and node["listeners"] == 0
                assert (await gateway.space(space))["node"] == other
            finally:
                undo = await asyncio.create_subprocess_exec(
                    str(BIN / "chorusctl"), "--config", str(stack.config_path), "drain", origin, "--undo",
                    env=stack.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                )
                await undo.communicate()
            assert undo.returncode == 0
            for _ in range(50):
                if (await gateway.node(origin))["state"] == "accepting":
                    break
                await asyncio.sleep(0.1)
            assert (await gateway.node(origin))["state"] == "accepting"

    asyncio.run(scenario())


def test_status_and_spaces_commands_show_the_running_stack(stack: RealStack) -> None:
    status = stack.chorusctl("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "fanout-1" in status.stdout and "fanout-2" in status.stdout and "ready" in status.stdout
    data = _json(stack.chorusctl("status", "--json"))
    assert data["gateway"]["ready"] is True and len(data["nodes"]) == 2
    # the test's own space, so it passes alone and in any order (not another test's leftovers)
    space = _json(stack.chorusctl("spaces", "create", "--title", "status-check", "--host", "stella", "--json"))["id"]
    listing = stack.chorusctl("spaces", "list")
    assert listing.returncode == 0 and space in listing.stdout and "status-check" in listing.stdout, listing.stdout
    assert stack.chorusctl("spaces", "end", space).returncode == 0
    assert space not in stack.chorusctl("spaces", "list").stdout
    ended = [s for s in _json(stack.chorusctl("spaces", "list", "--all", "--json")) if s["id"] == space]
    assert [s["live"] for s in ended] == [False]
    missing = stack.chorusctl("spaces", "show", "sp-00000000")
    assert missing.returncode == 1 and "no space" in missing.stderr


def test_a_listener_raises_a_hand_and_speaks_once_promoted(stack: RealStack, tmp_path: Path) -> None:
    space = _json(stack.chorusctl("spaces", "create", "--title", "q&a", "--host", "hugo", "--json"))["id"]
    clip = tmp_path / "question.wav"
    assert stack.chorusctl("tone", str(clip), "--seconds", "0.3").returncode == 0
    refused = stack.chorusctl("speak", str(clip), "--space", space, "--user", "ines")
    assert refused.returncode == 1 and "may not join" in refused.stderr and "promote" in refused.stderr
    assert _json(stack.chorusctl("spaces", "hand", space, "--user", "ines", "--json"))["hands"] == ["ines"]
    promoted = _json(stack.chorusctl("spaces", "promote", space, "ines", "--json"))
    assert promoted["speakers"] == ["ines"] and promoted["hands"] == []
    spoke = _json(stack.chorusctl("speak", str(clip), "--space", space, "--user", "ines", "--json"))
    assert spoke["role"] == "speaker" and spoke["frames_sent"] == spoke["frames"] > 10
