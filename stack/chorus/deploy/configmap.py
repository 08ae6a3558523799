"""The ConfigMap that carries `stack/config/chorus.yaml` into the pods, generated so it cannot drift.

`render_configmap` writes the configuration file verbatim into the ConfigMap's
`chorus.yaml` key; `sync` writes `stack/deploy/kubernetes/configmap.yaml` and the
configuration digest in every pod template's `chorus.dev/config-sha256`
annotation (so changing the configuration rolls the pods that read it).
`python -m chorus.deploy sync --check` reports drift without writing; a test
runs the same check.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from chorus.config import DEFAULT_CONFIG_PATH
from chorus.deploy import CONFIG_HASH_ANNOTATION, CONFIG_KEY, CONFIGMAP_FILE, CONFIGMAP_NAME, KUBERNETES_DIR, NAMESPACE, PART_OF

SYNC_COMMAND = "python -m chorus.deploy sync"
"""The command that regenerates the ConfigMap and the digests."""

_ANNOTATION_LINE = re.compile(r"^(?P<head>[ \t]*" + re.escape(CONFIG_HASH_ANNOTATION) + r":[ \t]*)(?P<value>\S*)[ \t]*$", re.M)


class ConfigMapError(ValueError):
    """The configuration cannot be carried verbatim in a YAML block (the message says why)."""


def config_digest(config_text: str) -> str:
    """The digest pods are annotated with: SHA-256 of the configuration file's bytes.

    Args:
        config_text: The configuration file's text.

    Returns:
        64 hex digits.
    """
    return hashlib.sha256(config_text.encode("utf-8")).hexdigest()


def render_configmap(config_text: str, source: str = "stack/config/chorus.yaml") -> str:
    """The ConfigMap manifest carrying the configuration file verbatim.

    Args:
        config_text: The configuration file's text.
        source: The file's path, for the header comment.

    Returns:
        The manifest's text.

    Raises:
        ConfigMapError: The text would not survive a YAML literal block unchanged (e.g. it
            does not end with exactly one newline); fix the file.
    """
    if not config_text.endswith("\n") or config_text.endswith("\n\n"):
        raise ConfigMapError(f"{source} must end with exactly one newline to be carried verbatim")
    body = "".join(f"    {line}\n" if line else "\n" for line in config_text[:-1].split("\n"))
    text = (
        f"# GENERATED from {source} by `{SYNC_COMMAND}`: do not edit.\n"
        f"# Edit {source}, then run the command; a test fails if the two differ.\n"
        "apiVersion: v1\n"
        "kind: ConfigMap\n"
        "metadata:\n"
        f"  name: {CONFIGMAP_NAME}\n"
        f"  namespace: {NAMESPACE}\n"
        "  labels:\n"
        f"    app.kubernetes.io/part-of: {PART_OF}\n"
        "  annotations:\n"
        f"    {CONFIG_HASH_ANNOTATION}: \"{config_digest(config_text)}\"\n"
        "data:\n"
        f"  {CONFIG_KEY}: |2\n"
        f"{body}"
    )
    carried = yaml.safe_load(text)["data"][CONFIG_KEY]
    if carried != config_text:
        raise ConfigMapError(f"{source} does not survive a YAML literal block unchanged (tabs or trailing spaces?)")
    return text


@dataclass(frozen=True)
class Drift:
    """A generated file (or part of one) that differs from what the configuration says.

    Attributes:
        path: The file.
        what: What differs, in a few words.
    """

    path: Path
    what: str

    def __str__(self) -> str:
        """`path: what; run the command`, the path relative to the working directory when inside it."""
        try:
            shown = self.path.resolve().relative_to(Path.cwd().resolve())
        except ValueError:
            shown = self.path
        return f"{shown}: {self.what}; run `{SYNC_COMMAND}`"


def sync(
    check: bool = False,
    config_path: Path = DEFAULT_CONFIG_PATH,
    kubernetes_dir: Path = KUBERNETES_DIR,
    configmap_file: Path = CONFIGMAP_FILE,
) -> list[Drift]:
    """Bring the ConfigMap and the pod templates' config digests in line with the configuration.

    Args:
        check: Only report what differs; write nothing.
        config_path: The configuration file.
        kubernetes_dir: The manifests folder (every `*.yaml` in it is searched for digests).
        configmap_file: The ConfigMap manifest to write.

    Returns:
        What differed (and, unless `check`, was rewritten).
    """
    config_text = config_path.read_text(encoding="utf-8")
    try:
        source = str(config_path.relative_to(kubernetes_dir.parents[2]))
    except ValueError:
        source = str(config_path)
    drifts: list[Drift] = []
    wanted = render_configmap(config_text, source)
    if not configmap_file.is_file() or configmap_file.read_text(encoding="utf-8") != wanted:
        drifts.append(Drift(configmap_file, f"the ConfigMap is not {source} as it is now"))
        if not check:
            configmap_file.write_text(wanted, encoding="utf-8")
    digest = f'"{config_digest(config_text)}"'
    for path in sorted(kubernetes_dir.glob("*.yaml")):
        if path == configmap_file:
            continue
        text = path.read_text(encoding="utf-8")
        updated = _ANNOTATION_LINE.sub(lambda m: m.group("head") + digest, text)
        if updated != text:
            drifts.append(Drift(path, f"{CONFIG_HASH_ANNOTATION} is not the digest of {source}"))
            if not check:
                path.write_text(updated, encoding="utf-8")
    return drifts
