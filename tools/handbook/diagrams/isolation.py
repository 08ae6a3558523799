"""How a diagram source is confined while it runs: bubblewrap, resource limits, a clean environment.

Diagram sources come from pull requests and run in CI, so each runs in a
`bwrap` (Debian's `bubblewrap`) sandbox that gives it:

- no network (a network namespace of its own: even 127.0.0.1 refuses);
- no secrets: a clean environment (`PATH`, `HOME`, `LANG`, `HANDBOOK_ROOT` only),
  and of the host's files only the system's programs and libraries, Python, the
  fonts and the project tree; no `/etc/passwd`, no home folders;
- a read-only view of the project tree; it may write only to its own temporary
  folder (`/tmp`, a small tmpfs, also its working directory) and to the render
  workspace it was given;
- a user, PID, IPC and UTS namespace of its own, as `nobody`, no capabilities, no
  nested user namespaces; when it ends, every process it forked ends with it;
- CPU time, memory, file size and open file limits (set by the runner,
  `handbook.diagrams.sandbox`, before the source runs; see `Limits`).

`bwrap` works as root (CI) and as an ordinary user where unprivileged user
namespaces are allowed (Debian's default). When it is missing or cannot start,
sources are not run at all (`DG008`, saying how to fix it) unless
`HANDBOOK_DIAGRAMS_UNSANDBOXED=1` says the tree is trusted; then they run with
the clean environment, the limits and the process-group kill only, and the
build says so.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

UNSANDBOXED_ENV = "HANDBOOK_DIAGRAMS_UNSANDBOXED"

#: Host folders and files the sandbox sees read-only (when they exist): programs, libraries, fonts.
SYSTEM_PATHS = (
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/etc/fonts",
    "/etc/ld.so.cache",
    "/etc/alternatives",
    "/var/cache/fontconfig",
)
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
NOBODY = "65534"


@dataclass(frozen=True)
class Limits:
    """What one diagram source may use.

    Attributes:
        wall_seconds: Wall-clock time before the whole sandbox is killed.
        cpu_seconds: CPU time (`RLIMIT_CPU`) of the runner and each process it starts.
        memory_bytes: Address space (`RLIMIT_AS`) of each process.
        file_bytes: Largest file it may write (`RLIMIT_FSIZE`).
        open_files: Open file descriptors (`RLIMIT_NOFILE`).
        tmp_bytes: Size of its temporary folder (`/tmp` in the sandbox).
    """

    wall_seconds: float = 120
    cpu_seconds: int = 120
    memory_bytes: int = 2 << 30
    file_bytes: int = 64 << 20
    open_files: int = 256
    tmp_bytes: int = 128 << 20

    def as_argument(self) -> str:
        """The limits the runner applies, as its `--limits` argument: `cpu=120,as=...,fsize=...,nofile=256`."""
        return f"cpu={self.cpu_seconds},as={self.memory_bytes},fsize={self.file_bytes},nofile={self.open_files}"


@dataclass(frozen=True)
class Isolation:
    """The sandbox this machine can give diagram sources.

    Attributes:
        sandboxed: True when `bwrap` works here.
        reason: Why not, when it does not (one line, with the fix).
        allowed_unsandboxed: True when `HANDBOOK_DIAGRAMS_UNSANDBOXED=1` lets sources run anyway.
    """

    sandboxed: bool
    reason: str = ""
    allowed_unsandboxed: bool = False

    @property
    def runnable(self) -> bool:
        """Whether sources may run at all."""
        return self.sandboxed or self.allowed_unsandboxed

    def notice(self) -> str:
        """One line for the build log when sources are not sandboxed, else `""`."""
        if self.sandboxed:
            return ""
        if self.allowed_unsandboxed:
            return f"diagram sources run WITHOUT a sandbox ({UNSANDBOXED_ENV}=1): {self.reason}"
        return f"diagram sources were not run: {self.reason}"


def _probe_command(bwrap: str) -> list[str]:
    return [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--ro-bind", "/", "/", "--", "true"]


@lru_cache(maxsize=1)
def _probe_bwrap() -> str:
    """`""` when `bwrap` starts a sandbox here, else why not."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed; run `make setup` (it installs Debian's bubblewrap)"
    try:
        from handbook.toolprobe import probe  # cached per binary and boot: a bwrap start per check run adds up

        result = probe(_probe_command(bwrap))
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bwrap could not start ({exc})"
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]
        return (
            f"bwrap cannot create a sandbox here ({detail}); allow unprivileged user namespaces "
            "(sysctl kernel.unprivileged_userns_clone=1) or run as root"
        )
    return ""


def isolation() -> Isolation:
    """What this machine can do, probed once per process (the opt-out is read on every call)."""
    reason = _probe_bwrap()
    return Isolation(
        sandboxed=not reason,
        reason=reason + (f"; or set {UNSANDBOXED_ENV}=1 to run them unsandboxed on a trusted tree" if reason else ""),
        allowed_unsandboxed=os.environ.get(UNSANDBOXED_ENV) == "1",
    )


def clean_environment(root: Path) -> dict[str, str]:
    """The whole environment a diagram source sees: no tokens, keys or proxies of the caller.

    `PYTHONPATH` names the folder of the `chorus` package the caller imports, so the sandbox
    imports the same stack code (the caller's may come from its own `PYTHONPATH`).
    """
    return {
        "PATH": SANDBOX_PATH,
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": str(Path(_stack_package()).parent),
        "HANDBOOK_ROOT": str(root),
    }


def _stack_package() -> str:
    """The folder of the `chorus` package this process imports (the `handbook` package's when none is found)."""
    stack_spec = importlib.util.find_spec("chorus")
    if stack_spec and stack_spec.origin:
        return str(Path(stack_spec.origin).resolve().parent)
    return str(Path(__file__).resolve().parents[1])


def _read_only_paths(root: Path) -> list[str]:
    """Host paths to show read-only: the system's, Python's (also when under /root), this package and the
    stack's, the tree."""
    package = str(Path(__file__).resolve().parents[1])  # the `handbook` package, wherever it is installed
    # The handbook reads YAML through the stack's one bounded loader (`chorus.yamllines`): show that package too.
    stack = _stack_package()
    interpreter = str(Path(sys.executable).resolve().parent)
    wanted = [*SYSTEM_PATHS, sys.base_prefix, sys.prefix, interpreter, package, stack, str(root)]
    seen: list[str] = []
    for path in wanted:
        if path not in seen and os.path.lexists(path):
            seen.append(path)
    return seen


def bwrap_command(root: Path, workspace: Path, command: list[str], limits: Limits) -> list[str]:
    """The `bwrap` command line that runs `command` confined (see the module docstring).

    Args:
        root: The project tree, shown read-only at its own path.
        workspace: The one host folder the command may write to.
        command: What to run inside.
        limits: Limits; `tmp_bytes` sizes `/tmp`.

    Returns:
        The argument list.
    """
    args = [
        shutil.which("bwrap") or "bwrap",
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--uid", NOBODY,
        "--gid", NOBODY,
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp",
        "--proc", "/proc",
        "--dev", "/dev",
    ]  # fmt: skip
    for path in _read_only_paths(root):
        if os.path.islink(path) and not path.startswith(str(root)):
            args += ["--symlink", os.readlink(path), path]
        else:
            args += ["--ro-bind", path, path]
    args += ["--bind", str(workspace), str(workspace), "--chdir", "/tmp"]
    for name, value in clean_environment(root).items():
        args += ["--setenv", name, value]
    return [*args, "--", *command]
