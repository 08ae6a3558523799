"""Deployment (DP) and alert rules (AR): the Kubernetes manifests and the Prometheus rules agree with the stack.

The rules themselves live with the stack (`chorus.deploy.workloads`,
`chorus.deploy.kubeschema`, `chorus.deploy.rules`) and return `Finding`s with a
key path; this module runs them inside `handbook check`, points each finding at
its file and line, and declares every code with why it matters.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from handbook import sources
from handbook.checks.registry import Rule, check
from handbook.problems import Problem
from handbook.project import Project


def _rules(*rules: Rule) -> dict[str, Rule]:
    return {rule.code: rule for rule in rules}


DP_RULES = _rules(
    Rule("DP001", "an object fails the Kubernetes schema (strict, offline)",
         why="`kubectl apply` silently drops a misspelt field such as `readinesProbe`: the pod then runs without it.",
         example="containers:\n  - name: fanout\n    readinesProbe: {}"),
    Rule("DP002", "a workload the catalog needs is missing, an object is not in the catalog, or a required role is missing",
         why="The catalog is what the site, the alerts and the diagrams say runs; a manifest that disagrees deploys something else.",
         example="# catalog: fanout has the edge workload chorus-fanout-edge; no Deployment of that name exists"),
    Rule("DP003", "an object is outside the `chorus` namespace, or the namespace is not created first",
         why="Runbooks run `kubectl -n chorus`; an object elsewhere is invisible to them.",
         example="metadata:\n  namespace: default"),
    Rule("DP004", "an object or pod template lacks the labels naming its service, team and workload",
         why="Alert routing, dashboards and the `kubectl -l` selectors in runbooks rely on these labels.",
         example="metadata:\n  labels:\n    app.kubernetes.io/name: chorus-fanout   # no chorus.dev/service, chorus.dev/team"),
    Rule("DP005", "a selector does not select exactly the workload's pods (Deployment, Service, PDB, HPA target)",
         why="A Service selecting another workload's pods sends listeners to the wrong process.",
         example="# in the fan-out Service\nselector:\n  app.kubernetes.io/name: chorus-gateway"),
    Rule("DP006", "a container or Service port, or the scrape annotation, disagrees with the catalog and configuration",
         why="A port that differs from `chorus.yaml` makes the Service route to a closed port and Prometheus scrape nothing.",
         example="ports:\n  - name: ws\n    containerPort: 8091   # chorus.yaml: fanout.port 8090"),
    Rule("DP007", "a readiness or liveness probe is missing, or not an HTTP GET of `/readyz` / `/healthz` on a container port",
         why="Without readiness a draining node keeps receiving listeners; a probe on a wrong path restarts healthy pods.",
         example="readinessProbe:\n  httpGet: {path: /ready, port: ws}"),
    Rule("DP008", "a container lacks CPU and memory requests and limits, or a request exceeds its limit",
         why="Unbounded pods are evicted first under pressure; live audio dies mid-space.",
         example="resources: {}"),
    Rule("DP009", "fan-out's termination grace or its preStop drain does not cover the configured drain",
         why="A pod killed before its drain finishes drops every listener at once instead of moving them.",
         example="terminationGracePeriodSeconds: 5   # the drain takes longer"),
    Rule("DP010", "replicas or autoscaling disagree with the workload's nature (singleton, fixed, autoscaled) or the configuration",
         why="Two gateways split spaces and sessions; autoscaler bounds that ignore the listener cap leave listeners unplaced.",
         example="# Deployment chorus-gateway\nreplicas: 2"),
    Rule("DP011", "the configuration does not reach the pods unchanged (ConfigMap drift, digest, mount, bad override)",
         why="Pods would run with another configuration than the one the site documents; fix with `python -m chorus.deploy sync`.",
         example="annotations:\n  chorus.dev/config-sha256: stale"),
    Rule("DP012", "the signing key is not taken from its Secret, or a Secret is committed",
         why="A committed key signs join tokens for anyone who reads the repository.",
         example="kind: Secret\ndata:\n  signing-key: ..."),
    Rule("DP013", "a container's command is not the service's module, its arguments do not parse, or its `--role` is not the catalog's",
         why="A pod whose arguments do not parse crash-loops; a wrong role puts an origin where an edge should be.",
         example="args: [--rol, edge]"),
    Rule("DP014", "the image is not the version of Chorus in this checkout",
         why="The site documents this checkout; an older image runs other code.",
         example="image: chorus:0.0.1"),
)
"""The manifest rules (`chorus.deploy.workloads`, `chorus.deploy.kubeschema`)."""

AR_RULES = _rules(
    Rule("AR001", "an alert expression is not valid PromQL",
         why="Prometheus refuses the whole rules file: no alert of any service fires.",
         example="expr: rate(chorus_gateway_joins_total[5m] > 1"),
    Rule("AR002", "an alert selector names a series no service exports",
         why="The expression is always empty, so the alert can never fire.",
         example="expr: chorus_fanout_listners > 100"),
    Rule("AR003", "an alert matcher or grouping label is not a label of the series used",
         why="A matcher on a missing label selects nothing; grouping by it merges what on-call needs apart.",
         example="expr: sum by (node) (chorus_gateway_joins_total)"),
    Rule("AR004", "a required label (`severity`, `service`, `team`) is missing, or `severity` is not an allowed value",
         why="Alertmanager routes on `team` and `severity`; the runbook's severity must be one of the same values.",
         example="labels:\n  severity: page"),
    Rule("AR005", "`service` is not a catalog service, or `team` is not the team that owns it",
         why="The page goes to a team that does not own the service, or to nobody.",
         example="labels:\n  service: fanout\n  team: platform   # the catalog says media"),
    Rule("AR006", "the `summary` or `description` annotation is missing or empty",
         why="The page on-call receives says nothing about what broke.",
         example="annotations:\n  summary: ''"),
    Rule("AR008", "`for:` is missing or not a PromQL duration",
         why="Without `for:` a single noisy sample pages someone at 3 a.m.",
         example="- alert: ChorusFanoutNearCap\n  expr: ...\n  # no for:"),
    Rule("AR009", "a `job` matcher names a job that is not a catalog workload",
         why="Prometheus's job label is the workload name; any other value matches no series.",
         example='expr: up{job="chorus-fanout-edges"} == 0'),
    Rule("AR010", "an alert name is repeated, or is not `Chorus` + CamelCase",
         why="Alertmanager and the runbook mapping key on the alert name: a duplicate shadows the other.",
         example="- alert: ChorusFanoutNearCap\n- alert: ChorusFanoutNearCap"),
    Rule("AR011", "an annotation uses `$labels.X` that the expression's result does not carry",
         why="The page renders an empty value where on-call expected the node or space.",
         example="description: node {{ $labels.node }}   # sum() drops every label"),
    Rule("AR012", "the description does not quote the `for:` duration and every compared threshold",
         why="On-call must know what the alert measured without opening the rules file.",
         example="expr: x > 0.9\nfor: 5m\ndescription: the fan-out is nearly full"),
    Rule("AR013", "a rule or group has a key Prometheus does not know, or the file is not shaped like a rules file",
         why="Prometheus refuses the whole file on an unknown key.",
         example="- alert: ChorusFanoutNearCap\n  serverity: warning"),
    Rule("AR014", "the summary says a limit is reached while the alert fires at a fraction of it",
         why="On-call reads \"at its cap\" and acts on a full node when it is only near full.",
         example="expr: listeners / cap >= 0.9\nsummary: the node is at its listener cap"),
)
"""The alert-rule rules (`chorus.deploy.rules`). AR007 (runbook_url form) merged into AL005."""


@check("deploy-manifests", family="DP", rules=DP_RULES)
def deploy_manifests(project: Project) -> Iterator[Problem]:
    """Check every Kubernetes object against the schema, the catalog, the configuration and the code."""
    stack = sources.stack(project)
    if not (project.root / sources.KUBERNETES_DIR).is_dir():
        return
    for path, line, code, message in stack.deploy_problems():
        yield Problem(Path(path), line, 1, code, message)


@check("alert-rules", family="AR", rules=AR_RULES)
def alert_rules(project: Project) -> Iterator[Problem]:
    """Check every alerting rule against the metrics the services export and the catalog."""
    for path, line, code, message in sources.stack(project).rule_problems():
        yield Problem(Path(path), line, 1, code, message)
