"""Untrusted text: refused at the API when it holds control characters, escaped when printed.

Titles and user names come from strangers. The gateway refuses a title with control
characters (`CONTROL_CHARACTERS`), and `chorusctl` prints anything the gateway returns
through `printable`, so an ESC, BEL, CR or NUL stored before the rule existed (or sent by
a gateway that does not enforce it) never reaches an operator's terminal as itself.
"""

from __future__ import annotations

import re
import unicodedata

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""C0 and C1 controls, DEL, line/paragraph separators and bidirectional overrides."""

NO_CONTROL_PATTERN = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]*$"
"""A pattern that text without any `CONTROL_CHARACTERS` matches (for API schemas)."""


def printable(text: str) -> str:
    """Escape every control character in `text`, so printing it cannot drive a terminal.

    Args:
        text: Untrusted text.

    Returns:
        The text with each control character as a visible escape (`\\x1b`, `\\u202e`).
    """
    return CONTROL_CHARACTERS.sub(lambda match: _escape(match.group()), text)


def _escape(char: str) -> str:
    """One character as a Python-style escape."""
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def has_control_characters(text: str) -> bool:
    """Whether `text` holds a character `printable` would escape (or another Unicode control, `Cc`).

    Args:
        text: Untrusted text.

    Returns:
        Whether it does.
    """
    return CONTROL_CHARACTERS.search(text) is not None or any(unicodedata.category(c) == "Cc" for c in text)
