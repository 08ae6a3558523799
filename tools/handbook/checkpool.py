"""Run checks in forked worker processes, one share of the checks each.

The checks are independent and CPU-bound, so on a machine with several cores
`handbook check` splits them across forked workers. Before forking, the parent
scans every page once (the part every check shares), so each worker starts with
the scans in memory instead of redoing them. The checks are dealt out by how long
each took last time (`.cache/handbook/check-seconds.json`), longest first, to the
least-loaded worker. A worker that dies without answering costs only speed: its
checks are run again in the parent. Where `os.fork` does not exist, or other
threads run, the caller runs the checks in order instead.
"""

from __future__ import annotations

import json
import os
import pickle
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import NoReturn, TypeVar

from handbook.errors import HandbookError
from handbook.project import Project
from handbook.resultcache import CACHE_DIR, write_json

T = TypeVar("T")
TIMINGS = "check-seconds.json"
"""Where the seconds each check took on the last run are kept, to deal the next run out evenly."""


def can_fork() -> bool:
    """Whether workers can be forked here: the platform forks (not Windows) and no other thread runs.

    Forking a process while another thread holds a lock can leave the child waiting on it forever
    (Python 3.12 warns about it), so a caller with threads (a test harness, a server) runs the
    checks in order instead.
    """
    return hasattr(os, "fork") and threading.active_count() == 1


def default_jobs() -> int:
    """Workers to use by default: one per core the process may use, at most 4 (more do not pay at this size)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


def prescan(project: Project) -> None:
    """Scan every page (front matter, headings, code, prose) once, so forked workers inherit the scans.

    The stack's fingerprint (the key of the caches derived from `stack/`) is computed here too,
    once instead of once per worker. A page that cannot be read is left alone: the checks that
    read it report it.
    """
    from handbook.sources.cache import fingerprint

    try:
        fingerprint(project.root)
    except OSError:
        pass
    for path in project.markdown_files:
        try:
            page = project.page(path)
            page.front_matter  # noqa: B018 - computed for the workers to inherit
            page.prose  # noqa: B018
        except (HandbookError, OSError):
            continue


def deal(names: Sequence[str], seconds: dict[str, float], workers: int) -> list[list[str]]:
    """Split check names into `workers` shares of about equal expected time (longest first).

    Args:
        names: The checks to run.
        seconds: How long each took last time (unknown ones count as the median of the known).
        workers: How many shares.

    Returns:
        The shares, each in the original order of `names`, none empty.
    """
    known = sorted(seconds.values())
    default = known[len(known) // 2] if known else 1.0
    loads = [0.0] * workers
    shares: list[set[str]] = [set() for _ in range(workers)]
    for name in sorted(names, key=lambda n: -seconds.get(n, default)):
        least = loads.index(min(loads))
        shares[least].add(name)
        loads[least] += seconds.get(name, default)
    return [[n for n in names if n in share] for share in shares if share]


def read_timings(root: Path) -> dict[str, float]:
    """The seconds each check took on the last run (empty when unknown or unreadable)."""
    try:
        data = json.loads((root / CACHE_DIR / TIMINGS).read_text(encoding="utf-8"))
        return {str(k): float(v) for k, v in data.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def write_timings(root: Path, seconds: dict[str, float], registered: Iterable[str]) -> None:
    """Remember how long each check took, atomically; a failure costs only balance.

    Args:
        root: The project root.
        seconds: This run's timings (a run with `--select` times only some checks).
        registered: Every check that exists: known timings of the others are kept, those of a
            check that no longer exists are dropped.
    """
    merged = {**read_timings(root), **{k: round(v, 4) for k, v in seconds.items()}}
    exists = set(registered)
    write_json(root / CACHE_DIR / TIMINGS, {k: v for k, v in merged.items() if k in exists})


def _work(share: Sequence[str], run: Callable[[str], object], reader: int, writer: int) -> NoReturn:
    """In a forked worker: run its share, send `(name, result, seconds)` for each, then exit at once."""
    status = 0
    try:
        os.close(reader)
        answers = []
        for name in share:
            start = time.perf_counter()
            answers.append((name, run(name), time.perf_counter() - start))
        with os.fdopen(writer, "wb") as out:
            pickle.dump(answers, out, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException:  # noqa: BLE001 - the parent re-runs this share
        status = 1
    finally:
        os._exit(status)


def run_forked(names: Sequence[str], run: Callable[[str], T], seconds: dict[str, float],
               workers: int) -> tuple[dict[str, T], dict[str, float]]:
    """Run `run(name)` for every name, in up to `workers` forked processes.

    Args:
        names: The checks to run.
        run: Runs one check by name and returns its (picklable) result; it must not raise.
        seconds: Last run's timings, to balance the shares.
        workers: The most processes to fork.

    Returns:
        Each name's result, and how long each took.
    """
    results: dict[str, T] = {}
    took: dict[str, float] = {}
    children: list[tuple[int, int]] = []
    try:
        for share in deal(names, seconds, workers):
            try:
                reader, writer = os.pipe()
            except OSError:
                break  # out of file descriptors: the shares not started run below, in the parent
            try:
                pid = os.fork()
            except OSError:
                os.close(reader)
                os.close(writer)
                break  # out of processes: likewise
            if pid == 0:  # the worker: run its share, send the results, leave without the parent's cleanup
                _work(share, run, reader, writer)
            os.close(writer)
            children.append((pid, reader))
        for index, (pid, reader) in enumerate(children):
            try:
                with os.fdopen(reader, "rb") as incoming:
                    for name, result, spent in pickle.load(incoming):
                        results[name], took[name] = result, spent
            except Exception:  # noqa: BLE001 - a dead worker or an unreadable answer: its checks run below
                pass
            finally:
                children[index] = (pid, -1)
                os.waitpid(pid, 0)
    finally:  # interrupted or failed while workers run: close their pipes and reap them all
        for pid, reader in children:
            if reader != -1:
                os.close(reader)
                os.waitpid(pid, 0)
    for name in names:
        if name not in results:
            start = time.perf_counter()
            results[name] = run(name)
            took[name] = time.perf_counter() - start
    return results, took
