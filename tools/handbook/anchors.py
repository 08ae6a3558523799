"""Where each fact lives on the site: one function per kind of reference entry.

Generated pages put their entries at these anchors and every other page links to
them through these functions, so a link and its target cannot disagree. Paths
are docs-relative Markdown paths (what MkDocs resolves and validates), with the
anchor after `#`.
"""

from __future__ import annotations

import re

CONFIG_PAGE = "reference/config.md"
METRICS_PAGE = "reference/metrics.md"
ALERTS_PAGE = "reference/alerts.md"
CLI_PAGE = "reference/cli.md"
HTTP_PAGE = "reference/http-api.md"
DEPLOYMENT_PAGE = "reference/deployment.md"
RULES_PAGE = "reference/checks.md"
REVIEW_PAGE = "reference/review.md"
"""Every page's owner, last review and next review due (`handbook.knowledge.pages`)."""
RISK_PAGE = "reference/knowledge-risk.md"
"""The knowledge-risk report per service (`handbook.knowledge.pages`)."""

DIAGRAMS_URI = "diagrams"
"""Where the build publishes rendered diagrams, docs-relative (`diagrams/NAME.png`)."""


def slug(text: str) -> str:
    """A lower-case anchor made of letters, digits, `-`, `_` and `.` only."""
    return re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-")


def config_key(key: str) -> str:
    """A configuration key, e.g. `fanout.listener_cap` -> `reference/config.md#fanout.listener_cap`."""
    return f"{CONFIG_PAGE}#{slug(key)}"


def metric(name: str) -> str:
    """A metric by name, e.g. `chorus_joins_total`."""
    return f"{METRICS_PAGE}#{slug(name)}"


def alert(name: str) -> str:
    """An alert in the catalogue, e.g. `ChorusJoinShedding` -> `#chorusjoinshedding`."""
    return f"{ALERTS_PAGE}#{slug(name)}"


def cli_command(program: str, *words: str) -> str:
    """A CLI command, e.g. `("chorusctl", "drain")` -> `reference/cli.md#chorusctl-drain`."""
    return f"{CLI_PAGE}#{slug('-'.join((program, *words)))}"


def http_operation(method: str, path: str) -> str:
    """An HTTP operation, e.g. `("GET", "/spaces/{space_id}")` -> `#get-spaces-space_id`."""
    return f"{HTTP_PAGE}#{slug(method + ' ' + path.replace('{', '').replace('}', ''))}"


def http_scheme(name: str) -> str:
    """A security scheme (credential) of the HTTP API, e.g. `OperatorToken` -> `reference/http-api.md#scheme-operatortoken`."""
    return f"{HTTP_PAGE}#scheme-{slug(name)}"


def http_schema(name: str) -> str:
    """A schema of the HTTP API, e.g. `SpaceOut` -> `reference/http-api.md#schema-spaceout`."""
    return f"{HTTP_PAGE}#schema-{slug(name)}"


def workload(kind: str, name: str) -> str:
    """A Kubernetes object, e.g. `("Deployment", "chorus-fanout")` -> `#deployment-chorus-fanout`."""
    return f"{DEPLOYMENT_PAGE}#{slug(kind + '-' + name)}"


COMPONENT_AT_A_GLANCE = "at-a-glance"
"""The anchor of a component page's generated "`NAME` at a glance" section."""


def component(service: str) -> str:
    """A service's component page, e.g. `components/fanout.md`."""
    return f"components/{slug(service)}.md"


def runbook(name: str) -> str:
    """A runbook page by file stem, e.g. `runbooks/fanout-near-cap.md`."""
    return f"runbooks/{name}.md"


def rule(code: str) -> str:
    """A `handbook check` rule code, e.g. `FM001` -> `reference/checks.md#fm001`."""
    return f"{RULES_PAGE}#{slug(code)}"
