"""Validate Kubernetes objects against the Kubernetes API schema, offline.

`kubernetes-validate` bundles the OpenAPI schemas of Kubernetes 1.25-1.37; in
strict mode a field the API does not know (a typo such as `readinesProbe`) is an
error, not silently dropped as `kubectl apply` would. The version validated
against is pinned in `chorus.deploy.KUBERNETES_VERSION`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import kubernetes_validate

from chorus.deploy import KUBERNETES_VERSION
from chorus.deploy.findings import Finding


def schema_findings(objects: Sequence[Mapping[str, Any]], version: str = KUBERNETES_VERSION) -> list[Finding]:
    """Validate every object strictly against the schema of one Kubernetes version.

    Args:
        objects: The objects, as loaded YAML.
        version: The Kubernetes version, e.g. `1.34.0`.

    Returns:
        One `DP001` finding per invalid object (the validator stops at an object's first error),
        pointing at the field at fault.
    """
    findings: list[Finding] = []
    for index, obj in enumerate(objects):
        what = f"{obj.get('kind', '?')} {(obj.get('metadata') or {}).get('name', '?')}"
        if "apiVersion" not in obj or "kind" not in obj:
            findings.append(Finding("DP001", f"{what}: every object needs apiVersion and kind", index))
            continue
        try:
            kubernetes_validate.validate(dict(obj), version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = tuple(exc.absolute_path)
            where = ".".join(str(p) for p in path) or "the object"
            findings.append(Finding("DP001", f"{what}: {where}: {exc.message} (Kubernetes {version}, strict)", index, path))
        except kubernetes_validate.SchemaNotFoundError as exc:
            findings.append(Finding("DP001", f"{what}: {exc.message}", index, ("kind",)))
    return findings
