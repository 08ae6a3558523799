"""Diagram sources from pull requests run confined: each property is proved with a hostile source.

The fixtures in `tests/fixtures/hostile_diagrams/` try to leak a secret, change the
tree, use the network, leave a process behind and never finish. Each test first
shows the attempt would work without the sandbox where that is cheap to show,
so the test can fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from chorus_support import free_port
from conftest import BIN, FIXTURES, ROOT
from handbook.diagrams import isolation as isolation_mod
from handbook.diagrams import render as render_mod
from handbook.diagrams.isolation import Isolation, Limits
from handbook.diagrams.render import render_all

HOSTILE = FIXTURES / "hostile_diagrams"
SECRET = "fake-signing-key-4f1c9b2e"
QUICK = Limits(wall_seconds=4, cpu_seconds=3)  # for the endless source only: a loaded machine needs the defaults

pytestmark = pytest.mark.skipif(
    not isolation_mod.isolation().sandboxed, reason=f"no sandbox here: {isolation_mod.isolation().reason}"
)


def hostile_tree(tmp_path: Path, name: str, replace: dict[str, str] | None = None) -> Path:
    """A tree with the catalog, a README and one hostile source as `diagrams/NAME.py`."""
    tree = tmp_path / "tree"
    (tree / "diagrams").mkdir(parents=True)
    (tree / "stack").mkdir()
    shutil.copy(ROOT / "mkdocs.yml", tree)
    shutil.copy(ROOT / "stack" / "catalog.yaml", tree / "stack")
    (tree / "README.md").write_text("# A tree\n", encoding="utf-8")
    text = (HOSTILE / f"{name}.py").read_text(encoding="utf-8")
    for old, new in (replace or {}).items():
        text = text.replace(old, new)
    (tree / "diagrams" / f"{name}.py").write_text(text, encoding="utf-8")
    return tree


def line_of(tree: Path, name: str, needle: str) -> int:
    """The line of `diagrams/NAME.py` holding `needle`."""
    lines = (tree / "diagrams" / f"{name}.py").read_text(encoding="utf-8").splitlines()
    return next(number for number, text in enumerate(lines, 1) if needle in text)


def test_a_source_cannot_publish_passwd_or_environment_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHORUS_SIGNING_KEY", SECRET)
    assert "root:" in Path("/etc/passwd").read_text(), "the host has a passwd file to leak"
    tree = hostile_tree(tmp_path, "leaks")
    run = render_all(tree, cache_dir=tmp_path / "cache")
    assert not run.failed, run.failed[0].error if run.failed else ""
    graph = run.results[0].graph
    assert graph is not None
    label = graph.services()["gateway"].label
    assert SECRET not in label and "root:" not in label
    assert "passwd unreadable: FileNotFoundError" in label and "no secret" in label
    seen = label.splitlines()[-1]
    assert seen == str(sorted([*isolation_mod.clean_environment(tree), "PWD"])), "only the clean environment (and bwrap's PWD)"
    assert SECRET.encode() not in (run.results[0].image or Path()).read_bytes()


def test_a_source_cannot_change_the_tree_and_the_check_says_so(tmp_path: Path) -> None:
    tree = hostile_tree(tmp_path, "writes-readme")
    shutil.copy(ROOT / "diagrams" / "containers.py", tree / "diagrams")
    before = (tree / "README.md").read_bytes()
    result = subprocess.run(
        [str(BIN / "handbook"), "--root", str(tree), "check", "--select", "DG"], capture_output=True, text=True
    )
    assert (tree / "README.md").read_bytes() == before, "the tree is unchanged"
    assert not list(tree.rglob("scratch.txt")), "its own writes stayed in its temporary folder"
    line = line_of(tree, "writes-readme", "open(")
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[0] == (
        f"diagrams/writes-readme.py:{line}:1: DG006 diagram source tried to write README.md, outside its "
        "temporary folder; diagram sources may write only to the current folder (a temporary one)"
    )
    assert "Traceback" not in result.stdout + result.stderr


def test_a_source_has_no_network_even_to_loopback(tmp_path: Path) -> None:
    port = free_port()
    with socket.create_server(("127.0.0.1", port)) as listener:
        listener.setblocking(False)
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # outside the sandbox the port accepts
        listener.accept()[0].close()
        tree = hostile_tree(tmp_path, "network", {"PORT": str(port)})
        run = render_all(tree, cache_dir=tmp_path / "cache")
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing reached the host's listener
    line = line_of(tree, "network", "create_connection")
    assert [str(r.error) for r in run.failed] == [
        f"diagrams/network.py:{line}: diagram source tried to use the network, and diagram sources have none; "
        "draw from the catalog instead"
    ]


def _processes_running(argv: list[str]) -> list[int]:
    """PIDs whose command line is exactly `argv`."""
    wanted = "\0".join(argv).encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes() == wanted:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_a_forked_child_does_not_outlive_the_render(tmp_path: Path) -> None:
    marker = str(3000 + os.getpid() % 1000)  # sleep's argument, unique to this test run
    tree = hostile_tree(tmp_path, "forks", {"MARKER": marker})
    run = render_all(tree, cache_dir=tmp_path / "cache")
    assert not run.failed, run.failed[0].error if run.failed else ""
    deadline = time.monotonic() + 5
    while _processes_running(["sleep", marker]) and time.monotonic() < deadline:
        time.sleep(0.1)  # the kernel tears the PID namespace down asynchronously
    assert _processes_running(["sleep", marker]) == []


def test_an_endless_source_is_stopped_at_its_limit_and_the_failure_is_cached(tmp_path: Path) -> None:
    tree = hostile_tree(tmp_path, "endless")
    start = time.monotonic()
    first = render_all(tree, cache_dir=tmp_path / "cache", limits=QUICK)
    assert time.monotonic() - start < 60
    [failed] = first.failed
    assert str(failed.error) in {
        f"diagrams/endless.py:1: diagram source used over {QUICK.cpu_seconds} s of CPU and was stopped",
        f"diagrams/endless.py:1: diagram source ran for over {QUICK.wall_seconds:g} s and was stopped",
    }
    second = render_all(tree, cache_dir=tmp_path / "cache", limits=QUICK)
    assert [(r.cached, str(r.error)) for r in second.results] == [(True, str(failed.error))], "not run again"


def test_without_a_sandbox_sources_do_not_run_unless_the_tree_is_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = hostile_tree(tmp_path, "writes-readme")
    missing = Isolation(sandboxed=False, reason="bubblewrap (bwrap) is not installed; run `make setup`")
    monkeypatch.setattr(render_mod, "isolation", lambda: missing)
    refused = render_all(tree, cache_dir=tmp_path / "cache")
    assert [(r.error.code, r.error.message) for r in refused.failed if r.error] == [
        ("DG008", "diagram sources were not run: bubblewrap (bwrap) is not installed; run `make setup`")
    ]
    again = render_all(tree, cache_dir=tmp_path / "cache")
    assert not again.results[0].cached, "the machine's failure is not cached"

    trusted = Isolation(sandboxed=False, reason="no bwrap", allowed_unsandboxed=True)
    monkeypatch.setattr(render_mod, "isolation", lambda: trusted)
    unsandboxed = render_all(tree, cache_dir=tmp_path / "cache")
    assert unsandboxed.notice.startswith("diagram sources run WITHOUT a sandbox")
    assert "appended by a diagram source" in (tree / "README.md").read_text(), "unconfined: it really wrote"


def test_the_child_environment_holds_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHORUS_SIGNING_KEY", SECRET)
    assert SECRET not in isolation_mod.clean_environment(ROOT).values()
    command = isolation_mod.bwrap_command(ROOT, ROOT / ".cache", ["true"], Limits())
    assert "--clearenv" in command and "--unshare-all" in command
    assert "/etc" not in command and "/etc/passwd" not in command and str(Path.home()) not in command
    assert ["--ro-bind", str(ROOT), str(ROOT)] == command[command.index(str(ROOT)) - 1 : command.index(str(ROOT)) + 2]
