"""The metrics the services export, from their own registries (`chorus.metrics.service_registries()`).

`stack_metrics` is what checks and pages read: the families merged across services,
cached under the stack's fingerprint so an unchanged stack is not imported again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handbook.errors import HandbookError
from handbook.sources.base import chorus_call, chorus_module
from handbook.sources.cache import cached_from_stack

SERIES_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("", "_sum", "_count"),
    "info": ("_info",),
}


@dataclass(frozen=True)
class MetricInfo:
    """One metric family a Chorus service exports.

    Attributes:
        name: The name to query: a counter's `_total` name, an info's `_info` name,
            otherwise the family name (a histogram's base name).
        type: `counter`, `gauge`, `histogram`, `summary`, `info`, `enum`...
        labels: The label names, in declaration order.
        help: The HELP text.
        services: The services that export it, in catalog order.
        series: Every series name a query may use, e.g. a histogram's `_bucket`, `_sum`, `_count`.
        buckets: A histogram's upper bounds, else empty.
    """

    name: str
    type: str
    labels: tuple[str, ...]
    help: str
    services: tuple[str, ...]
    series: tuple[str, ...]
    buckets: tuple[float, ...] = ()


def _families(registry: Any) -> list[tuple[Any, Any]]:
    """`(collector, family)` for every metric family a registry holds, in registration order."""
    found: list[tuple[Any, Any]] = []
    collectors = list(getattr(registry, "_collector_to_names", {}))  # prometheus_client keeps no public list
    for collector in collectors:
        describe = getattr(collector, "describe", None)
        families = describe() if describe is not None else []
        if not families:
            families = list(collector.collect())
        found.extend((collector, family) for family in families)
    return found


def metrics(registries: Mapping[str, Any] | None = None) -> list[MetricInfo]:
    """Every metric the services export, merged by name across services.

    Args:
        registries: Service name to `prometheus_client.CollectorRegistry`; defaults to
            `chorus.metrics.service_registries()`.

    Returns:
        The metrics, sorted by name.

    Raises:
        HandbookError: Two services declare the same metric with a different type, labels or help.
    """
    if registries is None:
        module = chorus_module("chorus.metrics")
        registries = chorus_call("chorus.metrics.service_registries()", module.service_registries)
    merged: dict[str, MetricInfo] = {}
    for service, registry in registries.items():
        for collector, family in _families(registry):
            labels = getattr(collector, "_labelnames", None)
            if labels is None:
                labels = tuple(dict.fromkeys(k for s in family.samples for k in s.labels if k not in ("le", "quantile")))
            suffixes = SERIES_SUFFIXES.get(family.type, ("",))
            series = tuple(family.name + s for s in suffixes)
            name = series[0] if family.type in ("counter", "info") else family.name
            metric = MetricInfo(
                name=name,
                type=family.type,
                labels=tuple(labels),
                help=family.documentation,
                services=(service,),
                series=series,
                buckets=tuple(getattr(collector, "_upper_bounds", ()) or ()),
            )
            if name in merged:
                known = merged[name]
                if (known.type, known.labels, known.help) != (metric.type, metric.labels, metric.help):
                    raise HandbookError(
                        f"metric {name} is declared differently by services {', '.join(known.services)} "
                        f"and {service} (type, labels or help differ): declare it once and share it"
                    )
                metric = MetricInfo(**{**known.__dict__, "services": (*known.services, service)})
            merged[name] = metric
    return sorted(merged.values(), key=lambda m: m.name)


def stack_metrics(root: Path) -> list["MetricInfo"]:
    """`metrics()` of the stack in this checkout, cached under the stack's fingerprint.

    Args:
        root: The project root.

    Returns:
        The metrics, sorted by name.
    """

    def build() -> list[dict[str, Any]]:
        return [dict(m.__dict__) for m in metrics()]

    fields: list[dict[str, Any]] = [{k: tuple(v) if isinstance(v, list) else v for k, v in m.items()}
                                    for m in cached_from_stack(root, "metrics", build)]
    return [MetricInfo(**m) for m in fields]
