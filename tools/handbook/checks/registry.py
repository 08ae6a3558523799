"""The registry of checks: small rules with stable codes, run together.

A check is a function that takes a `Project` and yields `Problem`s. It joins the
registry with the `@check` decorator, naming its family and the codes it may
report, so the runner, the `--select` option and the rules page all see it
without being edited.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from handbook.problems import Problem
from handbook.project import Project

CheckFunc = Callable[[Project], Iterable[Problem]]


@dataclass(frozen=True)
class Rule:
    """One stable problem code and what it means.

    Attributes:
        code: The code, family prefix plus number, e.g. `FM001`.
        summary: One line saying what the rule catches.
    """

    code: str
    summary: str


@dataclass(frozen=True)
class Check:
    """A registered check: one function that may report several related codes.

    Attributes:
        name: A short kebab-case name, e.g. `front-matter`.
        family: The code prefix shared by its rules, e.g. `FM`.
        rules: The codes this check can report.
        func: The function that finds the problems.
    """

    name: str
    family: str
    rules: tuple[Rule, ...]
    func: CheckFunc

    def run(self, project: Project) -> Iterator[Problem]:
        """Run the check and yield its problems."""
        yield from self.func(project)


_CHECKS: dict[str, Check] = {}


def check(name: str, family: str, rules: dict[str, str]) -> Callable[[CheckFunc], CheckFunc]:
    """Register a check function under `name` with the codes it may report.

    Args:
        name: A unique kebab-case name.
        family: The code prefix; every code in `rules` must start with it.
        rules: Code to one-line summary.

    Returns:
        A decorator that registers the function and returns it unchanged.
    """

    def register(func: CheckFunc) -> CheckFunc:
        if name in _CHECKS:
            raise ValueError(f"check {name!r} is registered twice")
        for code in rules:
            if not code.startswith(family):
                raise ValueError(f"rule {code} of check {name!r} is outside family {family}")
        _CHECKS[name] = Check(name, family, tuple(Rule(c, s) for c, s in rules.items()), func)
        return func

    return register


def all_checks() -> list[Check]:
    """Every registered check, loading the built-in ones first, in name order."""
    from handbook.checks import load_builtin

    load_builtin()
    return sorted(_CHECKS.values(), key=lambda c: c.name)


def all_rules() -> list[Rule]:
    """Every rule of every registered check, in code order."""
    return sorted((rule for c in all_checks() for rule in c.rules), key=lambda r: r.code)
