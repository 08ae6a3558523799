"""`chorus.deploy.promql`: names an expression uses, and the labels its result keeps."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from chorus.deploy.promql import TARGET_LABELS, PromQLError, analyse, exported_series

T = TARGET_LABELS


@pytest.fixture(scope="module")
def series() -> dict[str, frozenset[str]]:
    registry = CollectorRegistry()
    Counter("c_total", "a counter", ["node", "reason"], registry=registry)
    Gauge("g", "a gauge", ["node"], registry=registry)
    Histogram("h_seconds", "a histogram", registry=registry)
    return exported_series({"svc": registry})


def test_exported_series_names_every_exposed_series(series: dict[str, frozenset[str]]) -> None:
    assert series["c_total"] == {"node", "reason"} | T
    assert series["g"] == {"node"} | T
    assert series["h_seconds_bucket"] == {"le"} | T
    assert {"h_seconds_sum", "h_seconds_count", "up"} <= set(series)
    assert "h_seconds" not in series  # a histogram is queried through its series, never by its family name


@pytest.mark.parametrize(
    ("expr", "labels"),
    [
        ("g > 1", {"node"} | T),
        ("sum(g) > 1", set()),
        ("sum by (node) (rate(c_total[5m]))", {"node"}),
        ("sum without (reason) (rate(c_total[5m]))", {"node"} | T),
        ("rate(c_total[5m]) / on (node) group_left g", {"node", "reason"} | T),
        ("sum by (node, reason) (rate(c_total[5m])) / on (node) group_left sum by (node) (g)", {"node", "reason"}),
        ("g / on () sum(g)", set()),
        ("g / ignoring (node) g", T),
        ("up{job=\"a\"} == 0 or absent(up{job=\"a\"})", {"job"}),
        ("absent(g == 1)", set()),
        ("g and on (node) sum by (node) (g)", {"node"} | T),
        ("histogram_quantile(0.99, sum by (le, job) (rate(h_seconds_bucket[5m])))", {"job"}),
        ("label_replace(g, \"x\", \"$1\", \"node\", \"(.*)\")", {"node", "x"} | T),
        ("topk(3, g)", {"node"} | T),
        ("max by (node) (avg_over_time(g[2m])) > 0.1", {"node"}),
    ],
)
def test_result_labels_follow_prometheus_matching(series: dict[str, frozenset[str]], expr: str, labels: set[str]) -> None:
    assert analyse(expr, series).output_labels == labels


def test_scalars_have_no_labels(series: dict[str, frozenset[str]]) -> None:
    assert analyse("1 + 2", series).output_labels is None
    assert analyse("scalar(sum(g))", series).output_labels is None


def test_uses_selectors_grouping_and_thresholds(series: dict[str, frozenset[str]]) -> None:
    analysis = analyse('sum by (node) (rate(c_total{reason=~"bad.*"}[5m])) / on (node) sum by (node) (g) > 0.05 and g < -3', series)
    assert [(s.name, s.matchers) for s in analysis.selectors] == [
        ("c_total", (("reason", "=~", "bad.*"),)), ("g", ()), ("g", ())
    ]
    assert analysis.grouping == ["node", "node", "node"]
    assert analysis.thresholds == [0.05, -3.0]


def test_a_broken_expression_raises_one_line() -> None:
    with pytest.raises(PromQLError) as caught:
        analyse("sum(rate(x[5m])")
    assert "\n" not in str(caught.value) and str(caught.value)
