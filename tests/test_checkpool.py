"""Checks shared between forked workers give the same report as checks run in order, and lose nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from handbook import checkpool
from handbook.cli import main
from handbook.project import Project
from handbook.runner import run_checks

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="workers are forked; this platform cannot fork")


def test_deal_balances_by_last_times_and_keeps_the_order() -> None:
    seconds = {"slow": 0.9, "mid": 0.5, "a": 0.2, "b": 0.2, "c": 0.1}
    shares = checkpool.deal(["a", "slow", "b", "mid", "c"], seconds, 2)
    assert sorted(n for share in shares for n in share) == ["a", "b", "c", "mid", "slow"]
    loads = sorted(sum(seconds[n] for n in share) for share in shares)
    assert loads == pytest.approx([0.9, 1.0])  # the slow check alone, the rest together
    for share in shares:
        assert share == [n for n in ["a", "slow", "b", "mid", "c"] if n in share]


class _Unreadable:
    """A result that pickles but cannot be unpickled (its rebuild raises ValueError)."""

    def __reduce__(self) -> tuple[type, tuple[str]]:
        return (int, ("not a number",))


def test_an_answer_the_parent_cannot_read_costs_only_speed_and_leaves_no_child(monkeypatch: pytest.MonkeyPatch) -> None:
    parent = os.getpid()
    workers: list[int] = []
    real_fork = os.fork

    def recorded_fork() -> int:
        pid = real_fork()
        if pid:
            workers.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", recorded_fork)

    def run(name: str) -> object:
        return _Unreadable() if os.getpid() != parent else f"{name} in parent"

    results, _ = checkpool.run_forked(["a", "b", "c"], run, {}, 3)
    assert results == {"a": "a in parent", "b": "b in parent", "c": "c in parent"}
    assert len(workers) == 3
    for pid in workers:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # already reaped: no zombie left


def test_deal_never_makes_an_empty_share() -> None:
    assert checkpool.deal(["one"], {}, 4) == [["one"]]


def test_a_worker_that_dies_costs_only_speed() -> None:
    parent = os.getpid()

    def run(name: str) -> str:
        if name == "doomed" and os.getpid() != parent:
            os._exit(3)  # the worker dies without answering
        return f"ran {name} in {'parent' if os.getpid() == parent else 'worker'}"

    results, took = checkpool.run_forked(["fine", "doomed"], run, {"fine": 1.0, "doomed": 1.0}, 2)
    assert results == {"fine": "ran fine in worker", "doomed": "ran doomed in parent"}
    assert set(took) == {"fine", "doomed"}


def test_a_process_with_other_threads_does_not_fork() -> None:
    import threading

    release = threading.Event()
    helper = threading.Thread(target=release.wait)
    helper.start()
    try:
        assert not checkpool.can_fork()
    finally:
        release.set()
        helper.join()
    assert checkpool.can_fork()


def test_forked_report_equals_the_report_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    # Fork even if an earlier test left a thread behind: this test is about the workers' report.
    monkeypatch.setattr(checkpool, "can_fork", lambda: True)
    forked_at: list[int] = []
    real_fork = os.fork

    def counted_fork() -> int:
        forked_at.append(os.getpid())
        return real_fork()

    monkeypatch.setattr(os, "fork", counted_fork)
    in_order = run_checks(Project(ROOT), jobs=1)
    assert not forked_at
    forked = run_checks(Project(ROOT), jobs=3)
    assert len(forked_at) == 3
    assert forked.checks_run == in_order.checks_run
    assert forked.problems == in_order.problems
    assert [p.format() for p in forked.silenced] == [p.format() for p in in_order.silenced]


def test_forked_workers_still_report_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A broken page in a copy of the tree is reported the same with workers as without."""
    import shutil

    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("mkdocs.yml", "docs", "runbooks", "stack", "diagrams", "tools", ".github"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tree / name, ignore=shutil.ignore_patterns("__pycache__", ".cache"))
        elif source.is_file():
            shutil.copy2(source, tree / name)
    page = tree / "runbooks" / "dead-air.md"
    page.write_text(page.read_text(encoding="utf-8") + "\nSee [nowhere](missing-page.md) and {@config.nope.nothing}.\n",
                    encoding="utf-8")
    outputs = []
    for jobs in ("1", "2"):
        code = main(["--root", str(tree), "check", "--jobs", jobs, "--select", "live-values",
                     "--select", "runbook-links", "--select", "front-matter", "--select", "claims"])
        outputs.append((code, capsys.readouterr().out))
    assert outputs[0] == outputs[1]
    assert outputs[0][0] == 1
    assert "runbooks/dead-air.md" in outputs[0][1]


def test_jobs_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--jobs", "0"]) == 2
    assert "--jobs 0" in capsys.readouterr().err


def test_a_run_collects_garbage_rarely_and_restores_the_collector() -> None:
    import gc

    from handbook import runner

    before = gc.get_threshold()
    with pytest.raises(RuntimeError):
        with runner._rare_collections():
            assert gc.get_threshold()[0] == runner.RARE_COLLECTION_THRESHOLD
            raise RuntimeError("a check run that fails still restores the collector")
    assert gc.get_threshold() == before


def test_timings_keep_other_checks_and_forget_removed_ones(tmp_path: Path) -> None:
    checkpool.write_timings(tmp_path, {"links": 0.2, "retired": 0.5}, ["links", "claims", "retired"])
    checkpool.write_timings(tmp_path, {"claims": 0.1}, ["links", "claims"])  # "retired" no longer exists
    assert checkpool.read_timings(tmp_path) == {"links": 0.2, "claims": 0.1}
