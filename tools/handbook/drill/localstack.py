"""The drill's own Chorus: `chorusctl up` on free loopback ports in a temporary folder.

A drill must not touch anything already running (another drill, a developer's
stack on the default ports), so every port is chosen free, the packager writes
into the drill's folder, and the signing key is fresh. The runbook's commands run
with the same environment, so `chorusctl status` in a step talks to this stack,
and live values such as `{@config.gateway.port}` render as this stack's ports.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


READY = "chorus up: ready"
SILENT_DBFS = -50.0
"""Audio quieter than this (RMS, dB below full scale) counts as silence; the drill's test signal is near -12."""
START_TIMEOUT_S = 60.0
"""Longest `chorusctl up` may take to say it is ready."""
CHORUSCTL_TIMEOUT_S = 90.0
"""Longest a drill's own `chorusctl` call may take (not a runbook step: steps carry their `timeout=`)."""


class StackError(Exception):
    """The drill's stack could not be started or driven; the message says why."""


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port_run(count: int, attempts: int = 50) -> int:
    """The first of `count` consecutive ports that were all free a moment ago.

    Args:
        count: How many consecutive ports (origins then edges listen on `fanout.port + i`).
        attempts: How many candidate ranges to try.

    Returns:
        The first port of the run.

    Raises:
        StackError: No such run was found.
    """
    for _ in range(attempts):
        base = free_port()
        if base + count >= 65535:
            continue
        taken = False
        for port in range(base, base + count):
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    taken = True
                    break
        if not taken:
            return base
    raise StackError(f"no {count} consecutive free ports on 127.0.0.1")


def env_name(key: str) -> str:
    """The variable that overrides a configuration key: `gateway.port` -> `CHORUS__GATEWAY__PORT`."""
    return "CHORUS__" + "__".join(part.upper() for part in key.split("."))


@dataclass
class LocalStack:
    """A running `chorusctl up` started by a drill.

    Attributes:
        folder: The drill's temporary folder (logs, packager output, audio files).
        env: The environment every command of the drill runs with.
        overrides: The configuration keys this stack overrides, `key.path` to value.
        process: The `chorusctl up` process (leader of its own process group).
        log_path: Where its output goes.
        background: Commands started in the background (loadgen, speaker), stopped at tear-down.
        induced: Those of them the drill's `start:` actions began (what `kill: induced` stops).
    """

    folder: Path
    env: dict[str, str]
    overrides: dict[str, object]
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    background: list[subprocess.Popen[bytes]] = field(default_factory=list)
    background_logs: list[Path] = field(default_factory=list)
    induced: list[subprocess.Popen[bytes]] = field(default_factory=list)
    paused: set[int] = field(default_factory=set)
    speaker: subprocess.Popen[bytes] | None = None
    space: str | None = None

    @classmethod
    def prepare(cls, folder: Path, nodes: int, edges: int, packager: bool, config: dict[str, object]) -> "LocalStack":
        """Choose ports, a signing key and the environment; start nothing yet.

        Args:
            folder: The drill's temporary folder.
            nodes: Fan-out origins.
            edges: Fan-out edges.
            packager: Whether the packager runs (it gets its own port and output folder).
            config: The runbook's configuration overrides, `key.path` to value.

        Returns:
            The prepared stack.
        """
        overrides: dict[str, object] = {
            "gateway.port": free_port(),
            "fanout.port": free_port_run(nodes + edges),
            "fanout.nodes": nodes,
            "fanout.edges": edges,
        }
        if packager:
            overrides["packager.port"] = free_port()
            overrides["packager.output_dir"] = str(folder / "hls")
        overrides.update(config)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHORUS")}
        env["CHORUS_SIGNING_KEY"] = secrets.token_urlsafe(48)
        env["CHORUS_STATE_DIR"] = str(folder / "state")  # chorusctl's host secrets and run token, this drill's own
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        for key, value in overrides.items():
            env[env_name(key)] = str(value).lower() if isinstance(value, bool) else str(value)
        return cls(folder=folder, env=env, overrides=overrides)

    def operator_token(self) -> str:
        """An operator token for this stack (the gateway lists its nodes to operators only)."""
        from chorus.tokens import operator_token

        return operator_token(self.env["CHORUS_SIGNING_KEY"].encode(), "handbook-drill")

    @property
    def gateway_url(self) -> str:
        """The gateway's URL."""
        return f"http://127.0.0.1:{self.overrides['gateway.port']}"

    def start(self, packager: bool) -> None:
        """Run `chorusctl up` and wait until it says it is ready.

        Raises:
            StackError: It exited or did not become ready in time (the message quotes its last log lines).
        """
        self.log_path = self.folder / "chorus-up.log"
        log = self.log_path.open("wb")
        command = ["chorusctl", "up", "--state-file", str(self.state_file)] + ([] if packager else ["--no-packager"])
        self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True, cwd=self.folder)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if READY in self.log_path.read_text(errors="replace"):
                return
            if self.process.poll() is not None:
                raise StackError(f"chorusctl up exited {self.process.returncode} while starting: {self.log_tail()}")
            time.sleep(0.1)
        raise StackError(f"chorusctl up was not ready after {START_TIMEOUT_S:.0f} s: {self.log_tail()}")

    def log_tail(self, lines: int = 5) -> str:
        """The last lines `chorusctl up` printed, joined with ` | `."""
        if self.log_path is None or not self.log_path.exists():
            return "(no output)"
        tail = self.log_path.read_text(errors="replace").strip().splitlines()[-lines:]
        return " | ".join(tail) or "(no output)"

    def chorusctl(self, *args: str, timeout: float = CHORUSCTL_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        """Run `chorusctl ARGS` against this stack (bounded: a busy runner can take seconds just to start Python)."""
        return subprocess.run(["chorusctl", *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, cwd=self.folder)

    def shell(self, command: str, timeout: float) -> subprocess.CompletedProcess[str]:
        """Run shell commands (bash, `pipefail`) with this stack's environment, in the drill's folder.

        Steps share one terminal, as a reader's would: variables a step sets (`TEST_SPACE=...`) are
        there in the next step.
        """
        saved = self.folder / "shell-variables.sh"
        script = (f'[ -f "{saved}" ] && . "{saved}" 2>/dev/null\nset -a\n{command}\n'
                  f'__drill_status=$?\nexport -p > "{saved}"\nexit $__drill_status\n')
        return subprocess.run(["bash", "-o", "pipefail", "-c", script], env=self.env, capture_output=True,
                              text=True, timeout=timeout, cwd=self.folder, start_new_session=True)

    def start_background(self, command: str, name: str) -> subprocess.Popen[bytes]:
        """Start a shell command in the background (its output to `NAME.log`); stopped at tear-down."""
        path = self.folder / f"{name}.log"
        with path.open("wb") as log:
            proc = subprocess.Popen(["bash", "-c", command], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                    cwd=self.folder, start_new_session=True)
        self.background.append(proc)
        self.background_logs.append(path)
        return proc

    def failed_background(self) -> str:
        """`COMMAND exited N: its last log line` for the first background command that failed, else `""`."""
        for proc, log in zip(self.background, self.background_logs):
            if proc.poll() not in (None, 0):
                lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
                return f"`{_last_arg(proc.args)}` exited {proc.returncode}: {lines[-1] if lines else '(no output)'}"
        return ""

    @property
    def state_file(self) -> Path:
        """The JSON document `chorusctl up --state-file` keeps of every service (name, pid, state, restarts)."""
        return self.folder / "chorus-up.json"

    def services(self) -> list[dict[str, object]]:
        """Every service `chorusctl up` supervises, as its state file says now (empty before it is written)."""
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        found = data.get("children", data) if isinstance(data, dict) else data
        return [s for s in found if isinstance(s, dict)] if isinstance(found, list) else []

    def pids(self, name: str) -> list[int]:
        """The live process of this stack serving `name` (`gateway`, `packager`, a node id such as `fanout-2`,
        `speaker`: the drill's own speaking client, or `induced`: what the drill's `start:` actions run)."""
        if name == "speaker":
            return _descendants(self.speaker.pid) if self.speaker is not None else []
        if name == "induced":
            return [pid for proc in self.induced if proc.poll() is None for pid in (proc.pid, *_descendants(proc.pid))]
        return [pid for s in self.services() if s.get("name") == name and isinstance(pid := s.get("pid"), int) and pid]

    def signal_service(self, name: str, signum: int) -> None:
        """Send `signum` to the process serving `name`.

        Raises:
            StackError: No such process runs in this stack.
        """
        pids = self.pids(name)
        if not pids:
            raise StackError(f"no process {name!r} runs in the drill's stack (names: gateway, packager, fanout-N, edge-N, speaker, induced)")
        for pid in pids:
            os.kill(pid, signum)
            if signum == signal.SIGSTOP:
                self.paused.add(pid)
            elif signum == signal.SIGCONT:
                self.paused.discard(pid)

    def create_space_with_speaker(self, seconds: int) -> str:
        """Create a space and start its host speaking a `seconds`-long test signal over and over.

        Returns:
            The space id.
        """
        created = self.chorusctl("spaces", "create", "--title", "drill")
        space = created.stdout.strip()
        if created.returncode != 0 or not space:
            raise StackError(f"chorusctl spaces create failed: {(created.stderr or created.stdout).strip()}")
        self.space = space
        self.env["SPACE"] = self.env["SPACE_ID"] = space
        tone = self.folder / "talk.wav"
        made = self.chorusctl("tone", str(tone), "--seconds", str(seconds))
        if made.returncode != 0:
            raise StackError(f"chorusctl tone failed: {made.stderr.strip()}")
        if self.speaker is not None:
            _stop_group(self.speaker, signal.SIGINT, 5)
        self.speaker = self.start_background(
            f"while :; do chorusctl speak {tone} --space {space} || sleep 1; done", f"speaker-{space}")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # on stage, as the space's presence counts it
            shown = self.chorusctl("spaces", "show", space)
            if re.search(r"presence .* [1-9]\d* speakers", shown.stdout):
                break
            time.sleep(1)
        else:
            raise StackError(f"the drill's speaker did not get on stage in {space} within 90 s: {self.log_tail()}")
        return space

    def hears_audio(self, seconds: float = 3.0, within_s: float = 45.0) -> tuple[bool, str]:
        """Whether a new listener of the drill's space hears non-silent audio (tries again for `within_s`).

        Returns:
            `(ok, what was heard)`.
        """
        if self.space is None:
            return True, "no space in this drill"
        deadline = time.monotonic() + within_s
        while True:
            ok, heard = self._listen_once(seconds)
            if ok or time.monotonic() >= deadline:
                return ok, heard
            time.sleep(2)

    def _listen_once(self, seconds: float) -> tuple[bool, str]:
        assert self.space is not None
        out = self.folder / "heard.wav"
        result = self.chorusctl("listen", "--space", self.space, "--out", str(out), "--seconds", str(seconds),
                                timeout=seconds + CHORUSCTL_TIMEOUT_S)
        if result.returncode != 0 or not out.exists():
            return False, f"listen exited {result.returncode}: {(result.stderr or result.stdout).strip()[-200:]}"
        dbfs = _dbfs(out)
        return dbfs > SILENT_DBFS, f"listener heard audio at {dbfs:.0f} dBFS" + ("" if dbfs > SILENT_DBFS else " (silence)")

    def playlist_advances(self, wait_s: float) -> tuple[bool, str]:
        """Whether the space's HLS playlist moves on, with a non-silent newest segment, within `wait_s` (only with the packager).

        Returns:
            `(ok, what was seen)`.
        """
        port = self.overrides.get("packager.port")
        if port is None or self.space is None:
            return True, "no packager in this drill"
        import httpx  # only a drill with the packager needs an HTTP client

        url = f"http://127.0.0.1:{port}/hls/{self.space}/index.m3u8"

        def playlist() -> tuple[int | None, str | None]:
            """The media sequence and the newest segment's URI, or `(None, None)`."""
            try:
                text = httpx.get(url, timeout=3).text
            except httpx.HTTPError:
                return None, None
            sequence = next((int(line.split(":", 1)[1]) for line in text.splitlines()
                             if line.startswith("#EXT-X-MEDIA-SEQUENCE:")), None)
            segments = [line for line in text.splitlines() if line and not line.startswith("#")]
            return sequence, (segments[-1] if segments else None)

        first, _ = playlist()
        deadline = time.monotonic() + wait_s
        heard = ""  # the last silent segment seen: the packager may still be resubscribing after a recovery
        while time.monotonic() < deadline:
            time.sleep(1)
            now, newest = playlist()
            if first is not None and now is not None and now > first and newest:
                segment = self.folder / "newest-segment.ts"
                try:
                    segment.write_bytes(httpx.get(httpx.URL(url).join(newest), timeout=5).content)
                    dbfs = _dbfs(segment)
                except Exception as exc:  # an undecodable segment is a finding, said in one line
                    return False, f"playlist advanced {first} -> {now}, but its newest segment cannot be decoded: {exc}"
                heard = f"playlist advanced {first} -> {now}; newest segment at {dbfs:.0f} dBFS"
                if dbfs > SILENT_DBFS:
                    return True, heard
            first = first if first is not None else now
        if heard:
            return False, f"{heard} (silence, still after {wait_s:.0f} s)"
        return False, f"playlist at {url} did not advance in {wait_s:.0f} s (media sequence {first})"

    def stop(self) -> None:
        """Stop everything this stack started: background commands, paused processes, `chorusctl up`."""
        for pid in self.paused:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        for proc in self.background:
            _stop_group(proc, signal.SIGINT, 5)
        services = self.services()
        if self.process is not None:
            _stop_group(self.process, signal.SIGINT, 20)
        for service in services:  # each service has its own process group; `up` stops them, this is the backstop
            group = service.get("pid")
            if isinstance(group, int):
                try:
                    os.killpg(group, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass


def _last_arg(args: Any) -> str:
    """The last word of a command as `subprocess` keeps it (a list of words, or one string)."""
    return str(args[-1] if isinstance(args, (list, tuple)) else args)


def _stop_group(proc: subprocess.Popen[bytes], signum: int, grace_s: float) -> None:
    """Signal a process group, wait `grace_s`, then kill whatever is left of the group."""
    try:
        os.killpg(proc.pid, signum)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _dbfs(path: Path) -> float:
    """The RMS level of an audio file in dB below full scale (-inf as -200 for digital silence)."""
    import numpy as np
    from chorus.audio import load_pcm

    samples = load_pcm(path, 48000).astype(np.float64)
    rms = float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0
    return float(20 * np.log10(max(rms, 1e-10) / 32768))


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, grandchildren...), from /proc."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            children = (Path("/proc") / str(parent) / "task" / str(parent) / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found.append(int(child))
            todo.append(int(child))
    return [p for p in found if _is_python(p)]


def _is_python(pid: int) -> bool:
    """Whether the process runs Python (the client), not the shell loop or `sleep` around it."""
    try:
        return b"python" in (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return False
