"""What installed tools answer to a probe (`promtool --version`, `dot -V`, a bubblewrap dry run), cached on disk.

Starting a tool costs tens of milliseconds, and `handbook check` asked the same three questions
on every run. An answer is kept in the user's cache folder (`$XDG_CACHE_HOME/chorus-handbook`,
else `~/.cache/chorus-handbook`), keyed by the command, the binary's real path, size and
modification time, and the current boot (a kernel setting can change what a sandbox probe
answers): a reinstalled tool or a reboot is asked again. A cache that cannot be read or written
costs only the tool's start.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from handbook.resultcache import write_json

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@dataclass(frozen=True)
class Answer:
    """What a tool printed and how it exited."""

    returncode: int
    stdout: str
    stderr: str


def cache_file() -> Path:
    """Where answers are kept."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "chorus-handbook" / "probes.json"


def _key(command: Sequence[str]) -> str | None:
    """The cache key of a command, or `None` when its binary cannot be found (then it is not cached)."""
    binary = shutil.which(command[0])
    if binary is None:
        return None
    try:
        real = os.path.realpath(binary)
        stat = os.stat(real)
        boot = BOOT_ID.read_text().strip() if BOOT_ID.exists() else ""
    except OSError:
        return None
    identity = json.dumps([list(command), real, stat.st_size, stat.st_mtime_ns, boot])
    return hashlib.blake2b(identity.encode(), digest_size=16).hexdigest()


def _load() -> dict[str, dict[str, object]]:
    try:
        data = json.loads(cache_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _store(entries: dict[str, dict[str, object]]) -> None:
    write_json(cache_file(), entries)


def probe(command: Sequence[str], timeout_s: float = 30) -> Answer:
    """Run a probe command once per installed binary and boot; later calls read the answer back.

    Args:
        command: The command, its binary first (looked up on PATH).
        timeout_s: How long the tool may take.

    Returns:
        Its exit status and output.

    Raises:
        OSError: The binary cannot be started.
        subprocess.TimeoutExpired: It ran longer than `timeout_s`.
    """
    key = _key(command)
    entries = _load() if key else {}
    cached = entries.get(key) if key else None
    if isinstance(cached, dict):
        try:
            return Answer(int(cached["returncode"]), str(cached["stdout"]), str(cached["stderr"]))  # type: ignore[call-overload]
        except (KeyError, TypeError, ValueError):
            pass
    done = subprocess.run(list(command), capture_output=True, text=True, timeout=timeout_s)
    answer = Answer(done.returncode, done.stdout, done.stderr)
    if key:
        entries[key] = asdict(answer)
        _store(entries)
    return answer
