"""What a PromQL expression uses and keeps: metric names, label names, and the labels of its result.

Alert rules and runbook queries may only name series the services really
export. `exported_series` lists them from the services' registries (never from a
hand-kept list); `analyse` parses an expression with `promql_parser` and walks
its tree for the selectors and grouping labels it uses, and works out which
labels its result series carry, so an annotation template such as
`{{ $labels.node }}` can be checked to have a value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import promql_parser

if TYPE_CHECKING:  # the analyser needs no metrics client at run time
    from prometheus_client import CollectorRegistry

TARGET_LABELS = frozenset({"job", "instance", "namespace", "pod", "container", "service"})
"""Labels Prometheus attaches to every scraped series (target labels from Kubernetes discovery)."""

PROMETHEUS_SERIES: Mapping[str, frozenset[str]] = {
    "up": frozenset(),
    "scrape_duration_seconds": frozenset(),
    "scrape_samples_scraped": frozenset(),
    "scrape_series_added": frozenset(),
    "scrape_samples_post_metric_relabeling": frozenset(),
    "ALERTS": frozenset({"alertname", "alertstate", "severity", "service", "team"}),
    "ALERTS_FOR_STATE": frozenset({"alertname", "severity", "service", "team"}),
}
"""Series Prometheus itself writes for every target and every alert, with their own labels (plus the
target labels). With the services' registries this is the one series table that alert rules and
runbook queries are checked against."""

SERIES_SUFFIXES: Mapping[str, tuple[str, ...]] = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "enum": ("",),
    "unknown": ("",),
}
"""The series names a metric family of each type is exposed as (family name + suffix)."""

_SERIES_ONLY_LABELS = {"_bucket": frozenset({"le"}), "": frozenset()}

COMPARISONS = frozenset({"==", "!=", ">", "<", ">=", "<="})
"""PromQL comparison operators."""

_SCALAR_FUNCTIONS = frozenset({"scalar", "time", "pi", "minute", "hour", "day_of_week", "day_of_month",
                               "day_of_year", "days_in_month", "month", "year"})
"""Functions whose result carries no labels when called without a vector argument, or always."""


class PromQLError(ValueError):
    """An expression that does not parse; the message is the parser's."""


def exported_series(registries: Mapping[str, CollectorRegistry]) -> dict[str, frozenset[str]]:
    """Every series name the services export, with the label names it carries.

    Target labels (`job`, `instance`...) are added to every series, and Prometheus's own `up`
    and scrape series are included.

    Args:
        registries: Service name to its registry, as `chorus.metrics.service_registries()` gives.

    Returns:
        Series name (e.g. `chorus_gateway_joins_total`, a histogram's `..._bucket`) to its labels.
    """
    series: dict[str, frozenset[str]] = {name: labels | TARGET_LABELS for name, labels in PROMETHEUS_SERIES.items()}
    for registry in registries.values():
        for collector in list(getattr(registry, "_collector_to_names", {})):  # no public list of collectors
            families = collector.describe() if hasattr(collector, "describe") else list(collector.collect())
            for family in families or list(collector.collect()):
                declared = getattr(collector, "_labelnames", None)
                labels = frozenset(declared) if declared is not None else frozenset(
                    key for sample in family.samples for key in sample.labels
                )
                for suffix in SERIES_SUFFIXES.get(family.type, ("",)):
                    extra = _SERIES_ONLY_LABELS.get(suffix, frozenset())
                    if family.type == "summary" and suffix == "":
                        extra = frozenset({"quantile"})
                    name = family.name + suffix
                    series[name] = series.get(name, frozenset()) | labels | extra | TARGET_LABELS
    return series


@dataclass(frozen=True)
class Selector:
    """One vector selector in an expression.

    Attributes:
        name: The metric name (also when written `{__name__="x"}`), or `None` for a selector such as `{job="x"}`.
        matchers: `(label, operator, value)` for every label matcher, e.g. `("job", "=", "chorus-gateway")`.
        text: The selector as PromQL, e.g. `up{job="chorus-gateway"}`.
    """

    name: str | None
    matchers: tuple[tuple[str, str, str], ...]
    text: str = ""


@dataclass
class Analysis:
    """What one expression uses and produces.

    Attributes:
        selectors: Every vector selector, in the order met.
        grouping: Every label named in `by`, `without`, `on`, `ignoring`, `group_left/right`.
        thresholds: Numbers compared against (`x > 0.9` gives 0.9), in the order met.
        output_labels: Labels every result series is sure to carry (`None`: a scalar result).
    """

    selectors: list[Selector] = field(default_factory=list)
    grouping: list[str] = field(default_factory=list)
    thresholds: list[float] = field(default_factory=list)
    output_labels: frozenset[str] | None = None


_MATCH_OPS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}


def _op(matcher: Any) -> str:
    """The operator of a label matcher as written (`=`, `!=`, `=~`, `!~`)."""
    text = str(matcher.op)
    for key, symbol in _MATCH_OPS.items():
        if text.endswith(key):
            return symbol
    return text


def _selector(node: Any) -> Selector:
    """A `Selector` for a `promql_parser.VectorSelector`."""
    matchers = [*node.matchers.matchers, *(m for group in node.matchers.or_matchers for m in group)]
    named = next((m.value for m in matchers if m.name == "__name__" and _op(m) == "="), None)
    return Selector(node.name or named or None, tuple((m.name, _op(m), m.value) for m in matchers if m.name != "__name__"),
                    str(node).removesuffix("{}"))


def analyse(expr: str, series: Mapping[str, frozenset[str]] | None = None) -> Analysis:
    """Parse an expression and collect what it uses and the labels of its result.

    Args:
        expr: The PromQL expression.
        series: Series name to its labels (from `exported_series`); used to work out the
            result's labels. Unknown series count as carrying only the target labels.

    Returns:
        The analysis.

    Raises:
        PromQLError: The expression does not parse.
    """
    try:
        tree = promql_parser.parse(expr)
    except (ValueError, TypeError) as exc:
        raise PromQLError(str(exc).strip().splitlines()[0] if str(exc).strip() else "does not parse") from None
    found = Analysis()

    def visit(node: Any) -> None:
        """Collect selectors, grouping labels and compared numbers from one node."""
        if isinstance(node, promql_parser.VectorSelector):
            found.selectors.append(_selector(node))
        elif isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            found.grouping.extend(node.modifier.labels)
        elif isinstance(node, promql_parser.BinaryExpr):
            modifier = node.modifier
            if modifier is not None:
                if modifier.matching is not None:
                    found.grouping.extend(modifier.matching.labels)
                found.grouping.extend(getattr(modifier, "group_labels", None) or [])
            if str(node.op) in COMPARISONS:
                for side in (node.lhs, node.rhs):
                    number = _number(side)
                    if number is not None:
                        found.thresholds.append(number)

    promql_parser.walk(tree, visit)
    found.output_labels = _labels(tree, series or {})
    return found


def _number(node: Any) -> float | None:
    """The value of a number literal (possibly parenthesised or negated), else `None`."""
    if isinstance(node, promql_parser.NumberLiteral):
        return float(node.val)
    if isinstance(node, promql_parser.ParenExpr):
        return _number(node.expr)
    if isinstance(node, promql_parser.UnaryExpr):
        inner = _number(node.expr)
        return -inner if inner is not None else None
    return None


def _vector_args(node: Any) -> Iterable[Any]:
    """A call's arguments that are expressions (not string literals)."""
    return [arg for arg in node.args if not isinstance(arg, promql_parser.StringLiteral)]


def _labels(node: Any, series: Mapping[str, frozenset[str]]) -> frozenset[str] | None:
    """The labels every series of `node`'s result carries; `None` for a scalar or string."""
    if isinstance(node, (promql_parser.NumberLiteral, promql_parser.StringLiteral)):
        return None
    if isinstance(node, promql_parser.VectorSelector):
        return series.get(node.name or "", TARGET_LABELS) if node.name else frozenset(TARGET_LABELS)
    if isinstance(node, promql_parser.MatrixSelector):
        return _labels(node.vector_selector, series)
    if isinstance(node, (promql_parser.ParenExpr, promql_parser.UnaryExpr, promql_parser.SubqueryExpr)):
        return _labels(node.expr, series)
    if isinstance(node, promql_parser.Call):
        return _call_labels(node, series)
    if isinstance(node, promql_parser.AggregateExpr):
        return _aggregate_labels(node, series)
    if isinstance(node, promql_parser.BinaryExpr):
        return _binary_labels(node, series)
    return frozenset()


def _call_labels(node: Any, series: Mapping[str, frozenset[str]]) -> frozenset[str] | None:
    """The result labels of a function call."""
    name = node.func.name
    args = list(_vector_args(node))
    if name in ("absent", "absent_over_time"):
        selector = args[0]
        if isinstance(selector, promql_parser.MatrixSelector):
            selector = selector.vector_selector
        if isinstance(selector, promql_parser.VectorSelector):
            return frozenset(label for label, op, _ in _selector(selector).matchers if op == "=")
        return frozenset()
    if name in ("label_replace", "label_join"):
        inner = _labels(args[0], series) or frozenset()
        return inner | {node.args[1].val}
    if name == "histogram_quantile":
        quantiled = _labels(args[1], series) if len(args) > 1 else frozenset()
        return (quantiled or frozenset()) - {"le"}
    if name == "vector" or name in _SCALAR_FUNCTIONS and not args:
        return None if name != "vector" else frozenset()
    if name == "scalar":
        return None
    for arg in args:
        labels = _labels(arg, series)
        if labels is not None:
            return labels
    return None


def _aggregate_labels(node: Any, series: Mapping[str, frozenset[str]]) -> frozenset[str]:
    """The result labels of an aggregation."""
    inner = _labels(node.expr, series) or frozenset()
    op = str(node.op)
    if op in ("topk", "bottomk", "limitk", "limit_ratio"):
        return inner
    modifier = node.modifier
    if modifier is None:
        kept: frozenset[str] = frozenset()
    elif str(modifier.type).endswith("By"):
        kept = frozenset(modifier.labels)
    else:
        kept = inner - set(modifier.labels)
    if op == "count_values" and isinstance(node.param, promql_parser.StringLiteral):
        kept |= {node.param.val}
    return kept


def _binary_labels(node: Any, series: Mapping[str, frozenset[str]]) -> frozenset[str] | None:
    """The result labels of a binary operation, following Prometheus's vector matching."""
    lhs, rhs = _labels(node.lhs, series), _labels(node.rhs, series)
    if lhs is None or rhs is None:
        return rhs if lhs is None else lhs
    op = str(node.op)
    if op in ("and", "unless"):
        return lhs
    if op == "or":
        return lhs & rhs
    modifier = node.modifier
    matching = modifier.matching if modifier is not None else None
    card = str(modifier.card) if modifier is not None else "OneToOne"
    group = frozenset(getattr(modifier, "group_labels", None) or [])
    if card.endswith("ManyToOne"):
        return lhs | group
    if card.endswith("OneToMany"):
        return rhs | group
    if matching is not None and str(matching.type).endswith("Include"):
        return frozenset(matching.labels)
    if matching is not None and str(matching.type).endswith("Exclude"):
        return lhs - set(matching.labels)
    return lhs
