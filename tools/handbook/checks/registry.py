"""The registry of checks: small rules with stable codes, run together.

A check is a function that takes a `Project` and yields `Problem`s. It joins the
registry with the `@check` decorator, naming its family and the rules it may
report, so the runner, the `--select` option and the rules page all see it
without being edited. A rule is its code, a one-line summary, and optionally a
"why" and an example that the rules page renders; the runner refuses any code a
check reports that its rules did not declare.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
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
        why: Why it matters: what goes wrong for a reader or in production when it is broken.
        example: A short example of input that breaks the rule (rendered as a code block).
    """

    code: str
    summary: str
    why: str = ""
    example: str = ""


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

    @property
    def codes(self) -> frozenset[str]:
        """The codes this check declared."""
        return frozenset(rule.code for rule in self.rules)

    def run(self, project: Project) -> Iterator[Problem]:
        """Run the check and yield its problems."""
        yield from self.func(project)


_CHECKS: dict[str, Check] = {}


def _as_rule(code: str, value: str | Rule) -> Rule:
    """A rule from its declaration: a summary string, or a full `Rule` (whose code must match)."""
    if isinstance(value, Rule):
        if value.code != code:
            raise ValueError(f"rule declared under {code} has code {value.code}")
        return value
    return Rule(code, value)


def check(name: str, family: str, rules: Mapping[str, str | Rule]) -> Callable[[CheckFunc], CheckFunc]:
    """Register a check function under `name` with the codes it may report.

    Args:
        name: A unique kebab-case name.
        family: The code prefix; every code in `rules` must start with it.
        rules: Code to a one-line summary, or to a `Rule` with its why and example.

    Returns:
        A decorator that registers the function and returns it unchanged.
    """

    def register(func: CheckFunc) -> CheckFunc:
        if name in _CHECKS:
            raise ValueError(f"check {name!r} is registered twice")
        for code in rules:
            if not code.startswith(family):
                raise ValueError(f"rule {code} of check {name!r} is outside family {family}")
            taken = [c.name for c in _CHECKS.values() if code in c.codes]
            if taken:
                raise ValueError(f"rule {code} of check {name!r} is already declared by check {taken[0]!r}")
        _CHECKS[name] = Check(name, family, tuple(_as_rule(c, v) for c, v in rules.items()), func)
        return func

    return register


RUNNER_RULES = (
    Rule(
        "HB001",
        "a source of truth or a page cannot be read (bad YAML, wrong shape, fails its schema; not UTF-8 text, "
        "over 1 MiB, a broken link, a file name that is not UTF-8)",
        why="Every check that depends on the source would otherwise be silently skipped or crash; "
        "the run exits 2 because the tree could not be checked. The line names every check the source "
        "stopped; a page that cannot be read is reported once and every check goes on with the other pages.",
        example="# stack/catalog.yaml\nservices: fast   # a list of services was expected",
    ),
    Rule(
        "HB002",
        "a check crashed on this tree (a bug in the check: report it)",
        why="A crashing check must not hide the others' problems; it is reported on its own line "
        "and the run exits 2.",
    ),
    Rule(
        "HB003",
        "a check module cannot be imported",
        why="A broken check module disables only its own checks; the others still run. Exit 2.",
    ),
    Rule(
        "HB004",
        "a check reported a code it did not declare",
        why="Every code must be documented on this page before it is reported; an undeclared code "
        "is refused and the run exits 2.",
    ),
)
"""Codes the runner itself reports about checks and sources that could not run (family HB)."""

_BROKEN_MODULES: dict[str, BaseException] = {}


def record_broken_module(module: str, exc: BaseException) -> None:
    """Remember that a check module failed to import, so the runner reports it (HB003).

    Args:
        module: The dotted module name.
        exc: What its import raised.
    """
    _BROKEN_MODULES[module] = exc


def broken_modules() -> dict[str, BaseException]:
    """Check modules that failed to import in this process, by dotted name."""
    from handbook.checks import load_builtin

    load_builtin()
    return dict(_BROKEN_MODULES)


def all_checks() -> list[Check]:
    """Every registered check, loading the built-in ones first, in name order."""
    from handbook.checks import load_builtin

    load_builtin()
    return sorted(_CHECKS.values(), key=lambda c: c.name)


def all_rules() -> list[Rule]:
    """Every rule of every registered check, and the runner's own, in code order."""
    return sorted([*RUNNER_RULES, *(rule for c in all_checks() for rule in c.rules)], key=lambda r: r.code)
