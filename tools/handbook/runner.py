"""Run the registered checks over a project and collect every problem.

Each check runs on its own: a source of truth it cannot read (HB001), a crash
(HB002), a check module that does not import (HB003) or a code the check did not
declare (HB004) becomes one problem line, and the other checks still run. Those
runner problems mean the tree could not be fully checked, so `handbook check`
exits 2 when any is present.
"""

from __future__ import annotations

import dataclasses
import gc
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from chorus.yamllines import SourceError

from handbook import checkpool
from handbook.checks.registry import RUNNER_RULES, Check, all_checks, broken_modules
from handbook.errors import HandbookError
from handbook.problems import Problem
from handbook.project import Project, relative
from handbook.sources.base import steady_tree

RUNNER_CODES = frozenset(rule.code for rule in RUNNER_RULES)
"""Codes that mean a check or a source could not run."""


@dataclass
class Report:
    """The outcome of one `handbook check` run.

    Attributes:
        problems: Every problem found, sorted by path, line and column (paths relative to the root).
        checks_run: The names of the checks that ran.
        silenced: Problems an author silenced inline with a reason (printed as notes, not counted).
        stopped: Checks that could not run because of a source problem another rule reported at its
            line (that line names them instead of a second, HB001, line).
    """

    problems: list[Problem] = field(default_factory=list)
    checks_run: list[str] = field(default_factory=list)
    silenced: list[Problem] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)

    @property
    def files(self) -> int:
        """How many distinct files have at least one problem."""
        return len({p.path for p in self.problems})

    @property
    def incomplete(self) -> bool:
        """Whether a check or a source could not run (a runner code is among the problems, or a check was stopped)."""
        return bool(self.stopped) or any(p.code in RUNNER_CODES for p in self.problems)

    def summary(self) -> str:
        """One line for the end of the output: how many problems, in how many files."""
        notes = f" ({len(self.silenced)} silenced with a reason)" if self.silenced else ""
        if not self.problems:
            return f"All clear: {len(self.checks_run)} checks, no problems{notes}."
        noun = "problem" if len(self.problems) == 1 else "problems"
        tail = ""
        if any(p.code in RUNNER_CODES for p in self.problems):
            tail = "; some checks could not run (HB codes)"
        elif self.stopped:
            tail = f"; {len(set(self.stopped))} could not run (named above)"
        ran = f"{len(self.checks_run)} check{'' if len(self.checks_run) == 1 else 's'} run"
        return f"Found {len(self.problems)} {noun} in {self.files} file(s) ({ran}{tail})."


def select_checks(select: Iterable[str] | None = None) -> list[Check]:
    """The checks to run: all, or those whose family, code or name is selected.

    Args:
        select: Check names, families (`FM`) or codes (`FM001`); `None` for all.

    Returns:
        The matching checks.

    Raises:
        ValueError: A selector matches no check.
    """
    checks = all_checks()
    if not select:
        return checks
    chosen: list[Check] = []
    for selector in select:
        matches = [c for c in checks if selector in (c.name, c.family) or selector in c.codes]
        if not matches:
            known = ", ".join(sorted({c.family for c in checks}))
            raise ValueError(f"--select {selector!r} matches no check (families: {known})")
        chosen.extend(m for m in matches if m not in chosen)
    return chosen


def ignored_checks(ignore: Iterable[str] | None) -> set[str]:
    """The names of the checks `--ignore` skips: each selector is a check's name or family.

    Args:
        ignore: Check names or families; `None` for none.

    Returns:
        The names of the checks not to run.

    Raises:
        ValueError: A selector names no check or family (a typo must not silently run everything).
    """
    checks = all_checks()
    names: set[str] = set()
    for selector in ignore or []:
        matches = {c.name for c in checks if selector in (c.name, c.family)}
        if not matches:
            owner = next((c for c in checks if selector.upper() in c.codes), None)
            if owner is not None:
                raise ValueError(f"--ignore takes a check or family, not a rule code: --ignore {owner.family} "
                                 f"skips the whole family of {selector.upper()}")
            known = ", ".join(sorted({c.family for c in checks}))
            raise ValueError(f"--ignore {selector!r} matches no check or family (families: {known})")
        names |= matches
    return names


def _crash(chk: Check, exc: BaseException, root: Path) -> Problem:
    """HB001 for a source that cannot be read, else HB002 at the frame of the check that raised."""
    if isinstance(exc, (HandbookError, SourceError)):
        path = relative(Path(exc.path), root) if exc.path is not None else Path("mkdocs.yml")
        key = getattr(exc, "key", "")
        message = f"{key}: {exc.message}" if key else exc.message
        col = exc.col if isinstance(exc, HandbookError) else exc.column
        return Problem(path, exc.line or 1, col or 1, "HB001", message)  # the runner names the checks it stopped
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).name not in ("runner.py", "registry.py")]
    own = [f for f in frames if f.filename == chk.func.__code__.co_filename]
    frame = (own or frames)[-1] if own or frames else None
    path = relative(Path(frame.filename), root) if frame else Path(chk.func.__code__.co_filename)
    detail = str(exc).splitlines()[0] if str(exc) else ""
    return Problem(
        relative(path, root),
        (frame.lineno or 1) if frame else 1,
        1,
        "HB002",
        f"check {chk.name} crashed: {type(exc).__name__}: {detail}; the other checks ran",
    )


def _run_one(chk: Check, project: Project) -> list[Problem]:
    """Every problem one check reports, with runner problems in place of a crash or undeclared codes."""
    found: list[Problem] = []
    try:
        for problem in chk.run(project):
            if problem.code not in chk.codes:
                found.append(Problem(relative(problem.path, project.root), problem.line, problem.col, "HB004",
                                     f"check {chk.name} reported {problem.code}, which it did not declare: {problem.message}"))
                continue
            found.append(problem)
    except Exception as exc:  # one check's crash must not hide the others' problems
        found.append(_crash(chk, exc, project.root))
    return found


def run_checks(project: Project, select: Iterable[str] | None = None, ignore: Iterable[str] | None = None,
               jobs: int = 1) -> Report:
    """Run the selected checks over `project`, reporting all problems in one pass.

    Args:
        project: The tree to check.
        select: Optional selectors, as for `select_checks`.
        ignore: Check names or families not to run (e.g. `DP` for a tree without manifests).
        jobs: Worker processes to share the checks between (`handbook.checkpool`); 1 runs them here, in order.

    Returns:
        The report; when a code was selected, only that code's problems (and runner problems) are kept.
    """
    with _rare_collections():
        return _run_checks(project, list(select or []), ignore, jobs)


def _run_checks(project: Project, selected: list[str], ignore: Iterable[str] | None, jobs: int) -> Report:
    """`run_checks`, with the collector already set to run rarely."""
    codes = {s for s in selected if any(ch.isdigit() for ch in s)}
    report = Report()
    for module, exc in sorted(broken_modules().items()):
        report.problems.append(_unimportable(module, exc, project.root))
    skipped = ignored_checks(ignore)
    chosen = [chk for chk in select_checks(selected) if chk.name not in skipped]
    with steady_tree(project.root):  # one run reads one snapshot: a source loaded once is not re-stat'ed by every check
        found = _run_all(chosen, project, jobs)
    unread: dict[tuple[Path, int, int], tuple[str, list[str]]] = {}  # one HB001 per unreadable source, naming every check it stopped
    for chk in chosen:
        report.checks_run.append(chk.name)
        kept: list[Problem] = []
        for problem in found[chk.name]:
            problem = Problem(relative(problem.path, project.root), problem.line, problem.col, problem.code,
                              problem.message, problem.silenced)
            if problem.code == "HB001":
                unread.setdefault((problem.path, problem.line, problem.col), (problem.message, []))[1].append(chk.name)
                continue
            if (not codes or problem.code in codes or chk.name in selected or chk.family in selected
                    or problem.code in RUNNER_CODES):
                kept.append(problem)
        for problem in _capped(kept):
            (report.problems if problem.silenced is None else report.silenced).append(problem)
    for (path, line, col), (message, names) in unread.items():
        _report_stopped(report, Problem(path, line, col, "HB001", f"{message}{_could_not_run(names)}"), names)
    for bad in project.unreadable:
        report.problems.append(Problem(bad.path, bad.line, bad.col, "HB001", f"{bad.message} (every check skipped this file)"))
    report.problems.sort()
    report.silenced.sort()
    return report


MAX_PER_FILE = 50
"""The most problems one check reports for one file; the rest are counted on one line."""


def _report_stopped(report: Report, unread: Problem, names: list[str]) -> None:
    """Add the HB001 of a source that stopped `names`, or fold it into the source's own rule at that line.

    A rules file whose group is a string is reported by its own rule (AR013) and, at the same
    line, by every check that needed the file: one line, naming the stopped checks, says both.
    """
    for index, problem in enumerate(report.problems):
        if (problem.path, problem.line) == (unread.path, unread.line) and problem.code not in RUNNER_CODES:
            report.problems[index] = dataclasses.replace(problem, message=f"{problem.message}{_could_not_run(names)}")
            report.stopped.extend(names)
            return
    report.problems.append(unread)


def _could_not_run(names: list[str]) -> str:
    """The note ending an HB001 line: which checks the unreadable source stopped."""
    if len(names) == 1:
        return f" (check {names[0]} could not run)"
    return f" (checks {', '.join(names)} could not run)"


def _capped(problems: list[Problem]) -> list[Problem]:
    """A check's problems with at most `MAX_PER_FILE` per file: past it, one line says how many more there are.

    A file full of findings (a generated or pasted page) would otherwise bury every other file's
    problems; its author fixes the first ones and runs the check again.
    """
    per_file: dict[Path, int] = {}
    for problem in problems:
        if problem.silenced is None and problem.code not in RUNNER_CODES:
            per_file[problem.path] = per_file.get(problem.path, 0) + 1
    if all(count <= MAX_PER_FILE for count in per_file.values()):
        return problems
    kept: list[Problem] = []
    shown: dict[Path, int] = {}
    for problem in problems:
        if problem.silenced is not None or problem.code in RUNNER_CODES:
            kept.append(problem)
            continue
        count = shown[problem.path] = shown.get(problem.path, 0) + 1
        if count <= MAX_PER_FILE:
            kept.append(problem)
        elif count == MAX_PER_FILE + 1:
            more = per_file[problem.path] - MAX_PER_FILE
            kept.append(Problem(problem.path, problem.line, problem.col, problem.code,
                                f"... and {more} more problem(s) of this check in this file, not shown: fix the ones above "
                                f"and run the check again (first not shown: {problem.message})"))
    return kept


RARE_COLLECTION_THRESHOLD = 200_000
"""Allocations between young-generation collections during a run (Python's default is 700)."""


@contextmanager
def _rare_collections() -> Iterator[None]:
    """Run the cyclic garbage collector rarely while the checks run, then as before.

    A run allocates hundreds of thousands of small objects that live until it ends (page
    scans, YAML nodes, problems); the collector's frequent young-generation passes find
    nothing to free among them and cost about a tenth of the run at 1,000 runbooks.
    """
    before = gc.get_threshold()
    gc.set_threshold(RARE_COLLECTION_THRESHOLD, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _run_all(chosen: list[Check], project: Project, jobs: int) -> dict[str, list[Problem]]:
    """Each chosen check's problems: in forked workers when `jobs` > 1 and the platform forks, else in order here."""
    by_name = {chk.name: chk for chk in chosen}
    if jobs > 1 and len(chosen) > 1 and checkpool.can_fork():
        checkpool.prescan(project)
        found, took = checkpool.run_forked(list(by_name), lambda name: _run_one(by_name[name], project),
                                           checkpool.read_timings(project.root), jobs)
        checkpool.write_timings(project.root, took, (chk.name for chk in all_checks()))
        return found
    return {chk.name: _run_one(chk, project) for chk in chosen}


def _unimportable(module: str, exc: BaseException, root: Path) -> Problem:
    """HB003 for a check module that cannot be imported, at the line that failed."""
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    path = Path("tools", *module.split(".")).with_suffix(".py")
    line = 1
    if isinstance(exc, SyntaxError) and exc.filename:
        path, line = relative(Path(exc.filename), root), exc.lineno or 1
    else:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith(".py")]
        if frames:
            path, line = relative(Path(frames[-1].filename), root), frames[-1].lineno or 1
    return Problem(path, line, 1, "HB003",
                   f"check module {module} cannot be imported ({type(exc).__name__}: {detail}); its checks did not run")
