"""The `handbook` command: check the handbook against the system it documents.

Exit codes follow linters: 0 clean, 1 problems found, 2 the tool could not run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from handbook import __version__, checkpool
from handbook.checks.registry import all_rules
from handbook.diagrams.commands import build_diagrams_parser
from handbook.drill.commands import build_drill_parser
from handbook.errors import HandbookError
from handbook.knowledge.commands import build_knowledge_parsers
from handbook.project import Project
from handbook.runner import run_checks

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_ERROR = 2


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors exit with the tool-error code, 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        """Print usage and the error, then exit with code 2."""
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """Build the `handbook` argument parser (also used to generate the CLI reference).

    Returns:
        The parser with all subcommands.
    """
    parser = _Parser(
        prog="handbook",
        description=(
            "Tools for the Chorus Handbook. `handbook check` verifies that the pages and runbooks "
            "still match the Chorus stack they describe."
        ),
        epilog="Exit codes: 0 clean, 1 problems found, 2 the tool could not run.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help="the handbook checkout to work on (default: the nearest folder with mkdocs.yml)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    check = commands.add_parser(
        "check",
        help="run every check and print problems as path:line:col: CODE message",
        description=(
            "Run every registered check over docs/, runbooks/ and stack/, and print each problem "
            "on one line as path:line:col: CODE message, then a one-line summary."
        ),
        epilog="Exit codes: 0 no problems, 1 problems found, 2 the tool could not run (bad arguments, or a "
        "source or check that could not run: HB codes, printed with the other problems). "
        "Example: handbook check --select FM",
    )
    check.add_argument(
        "--select",
        action="append",
        metavar="RULE",
        help="run only this check, family (FM) or code (FM001); repeatable",
    )
    check.add_argument(
        "--ignore",
        action="append",
        metavar="CHECK",
        help="skip this check or family (DP); repeatable",
    )
    check.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="share the checks between N worker processes (default: one per core, at most 4; 1 runs them in order)",
    )
    check.add_argument("--list-rules", action="store_true", help="list every rule code and what it catches, then exit")
    check.set_defaults(handler=_cmd_check)

    new = commands.add_parser(
        "new",
        help="start a new page from its template (e.g. a runbook)",
        description="Create a new file from its template. An existing file is never overwritten.",
    )
    kinds = new.add_subparsers(dest="kind", metavar="KIND", parser_class=_Parser)
    kinds.required = True
    runbook = kinds.add_parser(
        "runbook",
        help="create runbooks/NAME.md from the runbook template",
        description=(
            "Create runbooks/NAME.md with the six sections and the front matter to fill in. With --alert, "
            "the alert's expression, for: duration, severity, service, owner and on-call rotation are "
            "filled in as live values. Then run `handbook check` to see what is left to write."
        ),
        epilog="Example: handbook new runbook fanout-near-cap --alert ChorusFanoutNearCap",
    )
    runbook.add_argument("name", metavar="NAME", help="the file stem, kebab-case, e.g. fanout-near-cap")
    runbook.add_argument("--alert", metavar="ALERT", help="the alert rule the runbook answers")
    runbook.set_defaults(handler=_cmd_new_runbook)
    build_diagrams_parser(commands, _Parser)
    build_knowledge_parsers(commands, _Parser)
    build_drill_parser(commands, _Parser)
    return parser


def _cmd_new_runbook(args: argparse.Namespace) -> int:
    """Run `handbook new runbook NAME [--alert ALERT]`."""
    from handbook.scaffold import new_runbook

    project = Project(args.root.resolve()) if args.root else Project.find()
    path = new_runbook(project.root, args.name, args.alert)
    print(f"created {path.relative_to(project.root)}: fill in the TODOs, then run `handbook check`")
    return EXIT_OK


def _cmd_check(args: argparse.Namespace) -> int:
    """Run `handbook check`."""
    if args.list_rules:
        for rule in all_rules():
            print(f"{rule.code}  {rule.summary}")
        return EXIT_OK
    project = Project(args.root.resolve()) if args.root else Project.find()
    if not (project.root / "mkdocs.yml").is_file():
        raise HandbookError("not a handbook checkout (no mkdocs.yml): pass --root DIR", path=project.root)
    if args.jobs is not None and args.jobs < 1:
        raise ValueError(f"--jobs {args.jobs}: give 1 or more workers")
    jobs = args.jobs if args.jobs is not None else checkpool.default_jobs()
    report = run_checks(project, args.select, args.ignore, jobs=jobs)
    for note in report.silenced:
        print(note.format(project.root))
    for problem in report.problems:
        print(problem.format(project.root))
    print(report.summary(), file=sys.stderr if not report.problems else sys.stdout)
    if report.incomplete:
        return EXIT_ERROR
    return EXIT_PROBLEMS if report.problems else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `handbook` console script.

    Args:
        argv: Arguments without the program name; defaults to `sys.argv[1:]`.

    Returns:
        The exit code: 0 clean, 1 problems found, 2 the tool could not run.
    """
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (HandbookError, FileNotFoundError, ValueError) as exc:
        print(f"handbook: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # the reader stopped early (`| head`): not an error of ours
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
