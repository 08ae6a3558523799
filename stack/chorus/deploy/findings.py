"""A problem a deployment check found, pointing at the object and key path at fault."""

from __future__ import annotations

from dataclasses import dataclass

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Finding:
    """One problem in a manifest or a rules file.

    Attributes:
        code: The stable rule code, e.g. `DP004` (manifests) or `AR002` (alert rules).
        message: What is wrong and what to do, on one line.
        document: Index of the object (YAML document) at fault in the list given to the check;
            0 for a rules file, which is one document; `None` when an object is missing, and
            `keys` then points into the service catalog (`stack/catalog.yaml`) at the entry that
            needs it.
        keys: Key path inside that document to the value at fault, e.g.
            `("spec", "template", "metadata", "labels")`; `()` for the whole object.
    """

    code: str
    message: str
    document: int | None = 0
    keys: KeyPath = ()

    def __str__(self) -> str:
        """`CODE message`, as checks print it after `path:line:`."""
        return f"{self.code} {self.message}"
