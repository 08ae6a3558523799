"""PromQL expressions: the handbook's one way to read what an expression uses.

There is one walker over the parsed tree, the stack's own `chorus.deploy.promql.analyse`
(on `promql-parser`): the alert rules' checks, the runbooks' PromQL checks, alert
thresholds, the live-series allow-list and the knowledge graph all read its `Analysis`.
"""

from __future__ import annotations

from chorus.deploy.promql import TARGET_LABELS, Analysis, PromQLError, Selector, analyse

__all__ = ["TARGET_LABELS", "Analysis", "PromQLError", "Selector", "analyse", "metric_names", "selector_texts",
           "threshold"]


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects, e.g. `{"chorus_joins_total"}`.

    Selectors by `{__name__="..."}` count too; regex name matchers do not.

    Args:
        expr: A PromQL expression.

    Returns:
        The metric (series) names it reads.

    Raises:
        PromQLError: The expression is not valid PromQL (a `ValueError`).
    """
    return {s.name for s in analyse(expr).selectors if s.name}


def selector_texts(expr: str) -> list[str]:
    """Every series selector in an expression as text (e.g. `up{job="chorus-gateway"}`), first seen first.

    Args:
        expr: A PromQL expression.

    Returns:
        The selectors, without repeats.

    Raises:
        PromQLError: The expression is not valid PromQL.
    """
    return list(dict.fromkeys(s.text for s in analyse(expr).selectors))


def threshold(expr: str) -> float | None:
    """The number an expression compares against (the first comparison with a literal).

    Args:
        expr: The PromQL expression.

    Returns:
        The threshold, or `None` when the expression does not parse or compares against no number.
    """
    try:
        found = analyse(expr).thresholds
    except PromQLError:
        return None
    return found[0] if found else None
