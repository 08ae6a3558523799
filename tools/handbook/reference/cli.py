"""CLI reference: every command, argument and option of `chorusctl` and `handbook`, from their parsers.

The parsers are the programs' own `build_parser()`; nothing here restates an
option by hand, so the page cannot disagree with what the programs accept.
Reading a parser uses argparse's internal `_actions` list, the only place
argparse keeps it (Sphinx's argparse extension reads it the same way).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from handbook import anchors
from handbook.reference import markdown as md
from handbook.reference.snapshot import Snapshot

PAGE = anchors.CLI_PAGE
USAGE_WIDTH = 88


def subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser, str]]:
    """The direct subcommands of a parser: `(name, parser, help)`, aliases left out.

    Args:
        parser: A parser that may have a subparsers action.

    Returns:
        The subcommands in the order they were added.
    """
    found: list[tuple[str, argparse.ArgumentParser, str]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            seen: set[int] = set()
            for name, sub in action.choices.items():
                if id(sub) not in seen:
                    seen.add(id(sub))
                    found.append((name, sub, helps.get(name, "")))
    return found


def walk(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str]]:
    """Every command of a program, depth first: `(words after the program, parser, help)`.

    Args:
        parser: The program's parser.
        words: The words leading to `parser` (empty for the program itself).

    Yields:
        The program itself first, then each subcommand.
    """
    if not words:
        yield (), parser, ""
    for name, sub, help_text in subcommands(parser):
        yield (*words, name), sub, help_text
        yield from walk(sub, (*words, name))


def usage(parser: argparse.ArgumentParser) -> str:
    """The parser's usage line at a fixed width, so the page does not depend on the terminal."""
    try:
        formatter = parser.formatter_class(prog=parser.prog, width=USAGE_WIDTH)  # type: ignore[call-arg]
    except TypeError:
        formatter = parser._get_formatter()
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups, prefix="")
    return formatter.format_help().strip()


def _expand_help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    if not action.help or action.help is argparse.SUPPRESS:
        return ""
    formatter = argparse.HelpFormatter(prog=parser.prog)
    try:
        return formatter._expand_help(action)
    except (KeyError, TypeError, ValueError):
        return action.help


def _argument_name(action: argparse.Action) -> str:
    if action.option_strings:
        names = ", ".join(action.option_strings)
        if action.nargs == 0:
            return names
        metavar = action.metavar or action.dest.upper()
        return f"{names} {metavar if isinstance(metavar, str) else ' '.join(metavar)}"
    metavar = action.metavar or action.dest
    return metavar if isinstance(metavar, str) else " ".join(metavar)


def _default(action: argparse.Action) -> str:
    if action.nargs == 0 or action.default in (None, argparse.SUPPRESS) or action.required:
        return ""
    return md.code(md.value(action.default))


def arguments_table(parser: argparse.ArgumentParser) -> str:
    """The arguments and options of one command as a table (help and subcommand actions left out).

    Args:
        parser: The command's parser.

    Returns:
        The table, or `""` when the command takes none.
    """
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) or action.help is argparse.SUPPRESS:
            continue
        notes = []
        if action.choices is not None:
            notes.append("one of " + ", ".join(md.code(c) for c in action.choices))
        if action.required and action.option_strings:
            notes.append("required")
        help_text = _expand_help(parser, action)
        if isinstance(action, (argparse._AppendAction, argparse._AppendConstAction)) and "repeatable" not in help_text:
            notes.append("repeatable")
        elif not action.option_strings and action.nargs in ("*", "+"):
            notes.append("one or more" if action.nargs == "+" else "any number")
        what = md.text(help_text)
        if notes:
            what = f"{what} ({'; '.join(notes)})" if what else "; ".join(notes)
        rows.append([md.code(_argument_name(action)), what, _default(action)])
    return md.table(["argument", "what it does", "default"], rows)


def command_section(program: str, words: tuple[str, ...], parser: argparse.ArgumentParser, help_text: str) -> str:
    """The entry of one command, at `anchors.cli_command(program, *words)`.

    Args:
        program: The program's name.
        words: The subcommand words (empty for the program itself).
        parser: The command's parser.
        help_text: The help its parent gives it.

    Returns:
        The section's Markdown.
    """
    title = " ".join((program, *words))
    parts = [md.heading(2 if not words else 3, md.code(title), md.fragment(anchors.cli_command(program, *words)))]
    description = parser.description or help_text
    if description:
        parts.append(md.text(description))
    parts.append(f"```text\n{usage(parser)}\n```")
    table = arguments_table(parser)
    if table:
        parts.append(table)
    children = subcommands(parser)
    if children:
        rows = [
            [f"[{md.code(' '.join((program, *words, name)))}]({md.link(PAGE, anchors.cli_command(program, *words, name))})", md.text(h)]
            for name, _sub, h in children
        ]
        parts.append(md.table(["command", "what it does"], rows))
    if parser.epilog:
        parts.append(md.text(parser.epilog))
    return "\n\n".join(parts)


def program_sections(program: str, parser: argparse.ArgumentParser) -> str:
    """Every command of one program, the program first.

    Args:
        program: The program's name (used in anchors).
        parser: Its parser.

    Returns:
        The sections' Markdown.
    """
    return "\n\n".join(command_section(program, words, sub, h) for words, sub, h in walk(parser))


def render(snap: Snapshot) -> str:
    """The CLI reference page.

    Args:
        snap: The build's sources; `cli` maps each program to its parser or to why it has none.

    Returns:
        The page's Markdown.
    """
    blocks = []
    for program, parser in snap.get("cli").items():
        blocks.append(program_sections(program, parser))
    intro = (
        "Every command, argument and option of the command-line tools, generated at build time from "
        "their argument parsers: `chorusctl` operates Chorus, `handbook` checks this handbook."
    )
    return md.page("Command line", intro, *blocks, front_matter={"owner": "handbook"})
