"""Find the commands in a runbook's code blocks and split them into words.

Conventions (documented on the runbook format page):

- in `bash`, `sh`, `shell` and `zsh` blocks every line is a command;
- in `console` blocks only lines starting with a `$ ` prompt are commands, the
  lines after them are the expected output;
- a trailing `\\` continues a command on the next line;
- pipelines, `&&`, `||`, `;` and `$(...)` hold several commands, each checked;
- variables (`"$SPACE_ID"`) stand for values a reader fills in; `<placeholders>`
  are not used, because they are shell redirections.

Live values (`{@...}`) are replaced with today's values before splitting, as
the reader will see them on the site.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from handbook.facts import Facts
from handbook.livevalues import REFERENCE
from handbook.mdscan import CodeBlock

SHELL_LANGS = {"bash", "sh", "shell", "zsh"}
CONSOLE_LANGS = {"console", "shell-session", "shellsession"}
SEPARATORS = {"|", "||", "&&", ";", "&", "(", ")", "|&", ";;"}
PREFIXES = {"sudo", "env", "time", "exec", "nohup", "command", "xargs"}
REDIRECTION = re.compile(r"""(?<![\w"'])\d*(?:>>?|<)&?\s*(?:"[^"]*"|'[^']*'|[^\s|;&]+)""")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True)
class Command:
    """One simple command from a code block.

    Attributes:
        program: The program's name, e.g. `kubectl`.
        args: The words after the program.
        line: 1-based line of the command's first line in the file.
        col: 1-based column where the command's line starts.
        text: The command line as the reader sees it (live values rendered).
    """

    program: str
    args: tuple[str, ...]
    line: int
    col: int
    text: str


def substitute(text: str, facts: Facts) -> str:
    """Replace every resolvable live value in `text` with today's value (unknown ones stay as written)."""
    if "{@" not in text:
        return text

    def value(match: re.Match[str]) -> str:
        """Today's value of one reference, or the reference unchanged."""
        fact = facts.get(match["body"].strip())
        return fact.text if fact is not None else match[0]

    return REFERENCE.sub(value, text)


def command_lines(block: CodeBlock) -> Iterator[tuple[int, int, str]]:
    """The command lines of a block as `(line, col, text)`, continuations joined.

    Args:
        block: A fenced code block.

    Yields:
        Each command line with the position of its first line.
    """
    if block.lang not in SHELL_LANGS | CONSOLE_LANGS:
        return
    console = block.lang in CONSOLE_LANGS
    pending: tuple[int, int, str] | None = None
    for cl in block.lines:
        text = cl.text
        if pending is not None:
            line, col, start = pending
            joined = start + " " + text.strip()
            if text.rstrip().endswith("\\"):
                pending = (line, col, joined.rstrip()[:-1])
                continue
            pending = None
            yield line, col, joined
            continue
        stripped = text.lstrip()
        if console:
            if not stripped.startswith("$ "):
                continue
            stripped = stripped[2:]
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.rstrip().endswith("\\"):
            pending = (cl.line, cl.col, stripped.rstrip()[:-1])
            continue
        yield cl.line, cl.col, stripped
    if pending is not None:
        yield pending


def split(text: str) -> list[list[str]]:
    """Split a command line into simple commands, each a list of words.

    Args:
        text: One (joined) command line.

    Returns:
        The simple commands; an unsplittable line (unbalanced quotes) gives `[]`.
    """
    return [list(words) for words in _split(text)]


@lru_cache(maxsize=4096)
def _split(text: str) -> tuple[tuple[str, ...], ...]:
    """`split`, memoized: runbooks repeat the same commands (shlex is most of a large tree's check)."""
    cleaned = REDIRECTION.sub(" ", text)
    lexer = shlex.shlex(cleaned, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:
        return ()
    commands: list[list[str]] = []
    current: list[str] = []
    for token in tokens:
        if token in SEPARATORS or (token and set(token) <= set("|&;()")):
            if current:
                commands.append(current)
            current = []
        elif token == "$" and current == []:
            continue
        else:
            current.append(token)
    if current:
        commands.append(current)
    return tuple(tuple(stripped) for words in commands if (stripped := _strip_prefixes(words)))


def _strip_prefixes(words: list[str]) -> list[str]:
    index = 0
    while index < len(words):
        word = words[index]
        if ASSIGNMENT.match(word) or word in PREFIXES:
            index += 1
        elif word == "watch":
            index += 1
            while index < len(words) and words[index].startswith("-"):
                index += 2 if words[index] in ("-n", "--interval") else 1
        elif word == "timeout":
            index += 2
        elif word == "$":
            index += 1
        else:
            break
    return words[index:]


def commands(block: CodeBlock, facts: Facts) -> Iterator[Command]:
    """Every simple command in a code block, with live values rendered.

    Args:
        block: A fenced code block.
        facts: The tree's facts.

    Yields:
        The commands, in order.
    """
    for line, col, text in command_lines(block):
        rendered = substitute(text, facts)
        for words in split(rendered):
            yield Command(words[0], tuple(words[1:]), line, col, rendered)
