"""Configuration reference: every key of the schema with today's value in `chorus.yaml`.

Each key sits at `anchors.config_key(key)` and each section at
`anchors.config_key(section)`, so runbooks and component pages can link to either.
"""

from __future__ import annotations

from handbook import anchors, sources
from handbook.reference import markdown as md
from handbook.reference.snapshot import Snapshot
from handbook.sources import UNSET, ConfigKey

PAGE = anchors.CONFIG_PAGE
BOUND_WORDS = {
    "gt": "> {}",
    "ge": "≥ {}",
    "lt": "< {}",
    "le": "≤ {}",
    "multiple_of": "a multiple of {}",
    "min_length": "length ≥ {}",
    "max_length": "length ≤ {}",
    "pattern": "matches {}",
}


def bounds_text(key: ConfigKey) -> str:
    """The key's constraints as a reader would say them, e.g. `≥ 1, ≤ 100000`; `""` if none."""
    words = []
    for name, bound in key.bounds.items():
        shown = md.code(bound) if name == "pattern" else md.text(md.value(bound))
        words.append(BOUND_WORDS.get(name, name + " {}").format(shown))
    return ", ".join(words)


def default_text(key: ConfigKey) -> str:
    """The default as a code span, or `required` when the schema has none."""
    return "required" if key.default is UNSET else md.code(md.value(key.default))


def value_text(key: ConfigKey) -> str:
    """The value set in `chorus.yaml` (with its line), or a note that the default applies."""
    if key.value is UNSET:
        return "not set (the default applies)"
    return f"{md.code(md.value(key.value))} (line {key.line})"


def key_entry(key: ConfigKey) -> str:
    """The entry of one key, at `anchors.config_key(key.key)`.

    Args:
        key: The key.

    Returns:
        The entry's Markdown.
    """
    facts = [f"- **Type:** {md.code(key.type)}" + (f", {bounds_text(key)}" if key.bounds else "")]
    facts.append(f"- **Default:** {default_text(key)}")
    facts.append(f"- **In {md.code(key.path.as_posix())}:** {value_text(key)}")
    facts.append(f"- **Environment override:** {md.code(key.env)}")
    parts = [md.heading(3, md.code(key.key), md.fragment(anchors.config_key(key.key)))]
    parts.append(md.text(key.description) if key.description else "*No description in the schema.*")
    parts.append("\n".join(facts))
    return "\n\n".join(parts)


def section(name: str, keys: list[ConfigKey]) -> str:
    """One section of the configuration: a summary table, then one entry per key.

    Args:
        name: The section name (`""` for keys at the top level).
        keys: The section's keys in schema order.

    Returns:
        The section's Markdown.
    """
    title = md.code(name) if name else "Top level"
    anchor = md.fragment(anchors.config_key(name)) if name else "top-level"
    parts = [md.heading(2, title, anchor)]
    if keys[0].section_description:
        parts.append(md.text(keys[0].section_description))
    rows = [
        [f"[{md.code(k.key)}]({md.link(PAGE, anchors.config_key(k.key))})", md.code(k.type), default_text(k), value_text(k)]
        for k in keys
    ]
    parts.append(md.table(["key", "type", "default", "in chorus.yaml"], rows))
    parts.extend(key_entry(k) for k in keys)
    return "\n\n".join(parts)


def render(snap: Snapshot) -> str:
    """The configuration reference page.

    Args:
        snap: The build's sources.

    Returns:
        The page's Markdown.
    """
    intro = (
        f"Every configuration key of Chorus, generated at build time from the schema "
        f"(`chorus.config.ChorusConfig`) and from {md.code(sources.CONFIG.as_posix())}, the file the "
        "services really load. A bad value stops a service before it starts, with one line naming the "
        "file, the line and the key. Any key can be overridden by the environment variable shown."
    )
    keys: list[ConfigKey] = snap.get("config")
    groups: dict[str, list[ConfigKey]] = {}
    for key in keys:
        groups.setdefault(key.section, []).append(key)
    blocks = [section(name, group) for name, group in groups.items()]
    return md.page("Configuration", intro, *blocks, front_matter={"owner": "handbook"})
