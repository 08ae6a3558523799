"""PromQL expressions: which metrics an expression reads."""

from __future__ import annotations

import promql_parser


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects, e.g. `{"chorus_joins_total"}`.

    Selectors by `{__name__="..."}` count too; regex name matchers do not.

    Args:
        expr: A PromQL expression.

    Returns:
        The metric (series) names it reads.

    Raises:
        ValueError: The expression is not valid PromQL.
    """
    names: set[str] = set()

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            for matcher in node.matchers.matchers if node.matchers else []:
                if matcher.name == "__name__" and str(matcher.op) == "MatchOp.Equal":
                    names.add(matcher.value)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names
