"""The one rule for space ids, shared by the gateway, the packager and `chorusctl`.

A space id becomes a URL path segment, a directory name (the packager's HLS output),
a metric label and a log field. So it is letters, digits, `-` and `_`, starting with a
letter or digit, at most 64 characters: no `.` (so never `..`), no `/`, no `%`, no
whitespace or control characters. The gateway issues ids like `sp-3f9a1c2b`.
"""

from __future__ import annotations

import re

SPACE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
"""The space-id rule as a regular expression (also declared in the OpenAPI documents)."""

SPACE_ID = re.compile(SPACE_ID_PATTERN)
"""`SPACE_ID_PATTERN`, compiled."""


def is_space_id(text: str) -> bool:
    """Whether `text` can be a space id.

    Args:
        text: The candidate, as received (decoded from a URL, a body, a command line).

    Returns:
        `True` when it matches `SPACE_ID_PATTERN` exactly (a trailing newline does not pass).
    """
    return SPACE_ID.fullmatch(text) is not None
