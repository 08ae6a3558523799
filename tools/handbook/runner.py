"""Run the registered checks over a project and collect every problem."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from handbook.checks.registry import Check, all_checks
from handbook.problems import Problem
from handbook.project import Project


@dataclass
class Report:
    """The outcome of one `handbook check` run.

    Attributes:
        problems: Every problem found, sorted by path, line and column.
        checks_run: The names of the checks that ran.
        silenced: Problems an author silenced inline with a reason (printed as notes, not counted).
    """

    problems: list[Problem] = field(default_factory=list)
    checks_run: list[str] = field(default_factory=list)
    silenced: list[Problem] = field(default_factory=list)

    @property
    def files(self) -> int:
        """How many distinct files have at least one problem."""
        return len({p.path for p in self.problems})

    def summary(self) -> str:
        """One line for the end of the output: how many problems, in how many files."""
        notes = f" ({len(self.silenced)} silenced with a reason)" if self.silenced else ""
        if not self.problems:
            return f"All clear: {len(self.checks_run)} checks, no problems{notes}."
        noun = "problem" if len(self.problems) == 1 else "problems"
        return f"Found {len(self.problems)} {noun} in {self.files} file(s) ({len(self.checks_run)} checks run)."


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
        matches = [
            c
            for c in checks
            if selector in (c.name, c.family) or any(r.code == selector for r in c.rules)
        ]
        if not matches:
            known = ", ".join(sorted({c.family for c in checks}))
            raise ValueError(f"--select {selector!r} matches no check (families: {known})")
        chosen.extend(m for m in matches if m not in chosen)
    return chosen


def run_checks(project: Project, select: Iterable[str] | None = None) -> Report:
    """Run the selected checks over `project`, reporting all problems in one pass.

    Args:
        project: The tree to check.
        select: Optional selectors, as for `select_checks`.

    Returns:
        The report; when a code was selected, only that code's problems are kept.
    """
    selected = list(select or [])
    codes = {s for s in selected if any(ch.isdigit() for ch in s)}
    report = Report()
    for chk in select_checks(selected):
        report.checks_run.append(chk.name)
        for problem in chk.run(project):
            if not codes or problem.code in codes or chk.name in selected or chk.family in selected:
                (report.problems if problem.silenced is None else report.silenced).append(problem)
    report.problems.sort()
    report.silenced.sort()
    return report
