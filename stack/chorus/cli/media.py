"""`chorusctl speak`, `listen`, `presence` and `tone`: real audio in and out of a space."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path
from typing import Any

from chorus.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    Commands,
    CommandError,
    SharedOptions,
    config_of,
    emit,
    gateway_url,
    space_id,
    with_gateway,
)
from chorus.client import GatewayClient, Listener, Speaker
from chorus.protocol import Frame


def add_speak(commands: Commands, shared: SharedOptions) -> None:
    """Add `chorusctl speak`.

    Args:
        commands: The subcommands of `chorusctl`.
        shared: The shared parent parsers.
    """
    speak = commands.add_parser(
        "speak", parents=[shared.client], help="send an audio file to a space as a speaker, in real time",
        description="Join SPACE as a speaker (the host by default) and send FILE (WAV or any format FFmpeg "
        "reads) as Opus frames in real time, re-joining through the gateway if the node drains.",
        epilog="Example: chorusctl speak talk.wav --space sp-1a2b3c4d",
    )
    speak.add_argument("file", type=Path, metavar="FILE.wav", help="the audio to send")
    speak.add_argument("--space", required=True, type=space_id, metavar="ID", help="the space id")
    speak.add_argument("--user", default=None, help="who speaks (default: the space's host); others must be promoted")
    speak.set_defaults(handler=speak_command)


def add_listen(commands: Commands, shared: SharedOptions) -> None:
    """Add `chorusctl listen`.

    Args:
        commands: The subcommands of `chorusctl`.
        shared: The shared parent parsers.
    """
    listen = commands.add_parser(
        "listen", parents=[shared.client], help="record what a listener of a space hears, to a WAV file",
        description="Join SPACE as a listener, decode the audio and write it to OUT.wav when done: after "
        "--seconds, when the space ends, or on Ctrl-C. Re-joins through the gateway when its node drains.",
        epilog="Exit code 1 if no audio was received. Example: chorusctl listen --space sp-1a2b3c4d --out heard.wav --seconds 10",
    )
    listen.add_argument("--space", required=True, type=space_id, metavar="ID", help="the space id")
    listen.add_argument("--out", required=True, type=Path, metavar="OUT.wav", help="the WAV file to write")
    listen.add_argument("--seconds", type=float, default=None, metavar="N", help="stop after N seconds (default: until the space ends)")
    listen.add_argument("--user", default=None, help="the listener's name (default: listener-<pid>)")
    listen.set_defaults(handler=listen_command)


def add_presence(commands: Commands, shared: SharedOptions) -> None:
    """Add `chorusctl presence`.

    Args:
        commands: The subcommands of `chorusctl`.
        shared: The shared parent parsers.
    """
    presence = commands.add_parser(
        "presence", parents=[shared.client], help="follow a space's aggregate presence counts, one line per tick",
        description="Subscribe to a space's presence: one aggregate message per gateway.presence_tick_ms.",
    )
    presence.add_argument("--space", required=True, type=space_id, metavar="ID", help="the space id")
    presence.add_argument("--ticks", type=int, default=5, metavar="N", help="stop after N ticks (default: 5)")
    presence.set_defaults(handler=presence_command)


def add_tone(commands: Commands, shared: SharedOptions) -> None:
    """Add `chorusctl tone`.

    Args:
        commands: The subcommands of `chorusctl`.
        shared: The shared parent parsers.
    """
    tone = commands.add_parser(
        "tone", help="write a test signal (chirp and tones) to a WAV file, to speak with",
        description="Write a speech-band test signal at audio.sample_rate; handy with `chorusctl speak`.",
    )
    tone.add_argument("out", type=Path, metavar="OUT.wav", help="the WAV file to write")
    tone.add_argument("--seconds", type=float, default=5.0, metavar="N", help="duration (default: 5)")
    tone.add_argument("--silent", action="store_true",
                      help="write digital silence instead, to rehearse dead air (a speaker on stage, nothing heard)")
    tone.set_defaults(handler=tone_command)


def speak_command(args: argparse.Namespace) -> int:
    """Run `chorusctl speak`.

    Args:
        args: The parsed arguments.

    Returns:
        The exit code.
    """
    from chorus.audio import OpusEncoder, frames_of, load_pcm  # numpy and PyAV load only for the commands that use them

    config = config_of(args)
    samples = load_pcm(args.file, config.audio.sample_rate)
    if len(samples) == 0:
        raise CommandError(f"{args.file}: no audio samples")
    encoder = OpusEncoder(config.audio)
    packets = [p for frame in frames_of(samples, config.audio.frame_samples) for p in encoder.encode(frame)]
    packets += encoder.flush()

    async def speak(gateway: GatewayClient) -> dict[str, Any]:
        space = await gateway.space(args.space)
        user = args.user or space["host"]
        role = "host" if user == space["host"] else "speaker"
        log = await Speaker(gateway, args.space, user, role, config.audio.frame_ms).run(packets)
        return {"space": args.space, "user": user, "role": role, "frames_sent": log.frames, "frames": len(packets),
                "seconds": round(len(packets) * config.audio.frame_ms / 1000, 2), "nodes": log.nodes,
                "reconnects": log.reconnects, "ended": log.ended}

    result = with_gateway(args, speak)
    emit(args, result, f"sent {result['frames_sent']}/{result['frames']} frames ({result['seconds']} s) to "
                        f"{result['space']} as {result['user']} via {', '.join(result['nodes'])}")
    return EXIT_OK


def listen_command(args: argparse.Namespace) -> int:
    """Run `chorusctl listen`.

    Args:
        args: The parsed arguments.

    Returns:
        The exit code.
    """
    from chorus.audio import Timeline, write_wav  # numpy and PyAV load only for the commands that use them

    config = config_of(args)
    timeline = Timeline(config.audio)
    user = args.user or f"listener-{os.getpid()}"

    def record(frames: list[Frame]) -> None:
        for frame in frames:
            timeline.add(frame.source, frame.seq, frame.captured_us, frame.payload)

    async def listen(gateway: GatewayClient) -> dict[str, Any]:
        listener = Listener(gateway, args.space, user, record)
        try:
            log = await listener.run(args.seconds)
        except asyncio.CancelledError:
            log = listener.log
        return {"space": args.space, "user": user, "frames": log.frames, "messages": log.messages,
                "nodes": log.nodes, "reconnects": log.reconnects, "ended": log.ended}

    try:
        result = with_gateway(args, listen)
    finally:
        samples = timeline.samples()
        write_wav(args.out, samples, config.audio.sample_rate)
    result["out"] = str(args.out)
    result["seconds"] = round(len(samples) / config.audio.sample_rate, 2)
    emit(args, result, f"recorded {result['seconds']} s ({result['frames']} frames) from "
                        f"{', '.join(result['nodes']) or 'no node'} to {args.out}"
                        + (f"; reconnected {result['reconnects']} time(s)" if result["reconnects"] else ""))
    if result["frames"] == 0:
        raise CommandError(f"no audio received from {args.space}")
    return EXIT_OK


def presence_command(args: argparse.Namespace) -> int:
    """Run `chorusctl presence`.

    Args:
        args: The parsed arguments.

    Returns:
        The exit code.
    """
    from websockets.asyncio.client import connect

    url = gateway_url(args).replace("http://", "ws://", 1).replace("https://", "wss://", 1)

    async def follow() -> list[dict[str, Any]]:
        ticks: list[dict[str, Any]] = []
        try:
            async with connect(f"{url}/v1/spaces/{args.space}/presence/ws") as socket:
                while len(ticks) < args.ticks:
                    tick = json.loads(await socket.recv())
                    ticks.append(tick)
                    if not args.json:
                        print(f"tick {tick['tick']}: {tick['listeners']} listeners, {tick['speakers']} speakers, "
                              f"{tick['hands']} hands{'' if tick['live'] else ' (ended)'}", flush=True)
        except OSError as exc:
            raise CommandError(f"gateway {url} unreachable: {exc}") from None
        except Exception as exc:  # websockets raises several handshake errors
            raise CommandError(f"presence of {args.space} unavailable: {exc}") from None
        return ticks

    ticks = asyncio.run(follow())
    if args.json:
        print(json.dumps(ticks, indent=2))
    return EXIT_OK


def tone_command(args: argparse.Namespace) -> int:
    """Run `chorusctl tone`.

    Args:
        args: The parsed arguments.

    Returns:
        The exit code.
    """
    from chorus.audio import reference_signal, write_wav  # numpy and PyAV load only for the commands that use them

    rate = config_of(args).audio.sample_rate
    if not 0 < args.seconds <= 3600:
        raise CommandError("--seconds must be above 0 and at most 3600", EXIT_USAGE)
    signal = reference_signal(args.seconds, rate)
    write_wav(args.out, signal * 0 if args.silent else signal, rate)
    print(f"wrote {args.seconds} s of {'silence' if args.silent else 'test signal'} to {args.out}")
    return EXIT_OK
