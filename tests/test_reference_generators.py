"""Each reference generator against a small fixture: entries appear at their anchors, removed ones disappear."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Annotated, Literal

import markdown
import prometheus_client
import pytest
from fastapi import FastAPI, Header, Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from conftest import ROOT
from handbook.errors import HandbookError
from handbook import anchors, sources
from handbook.reference import alerts, api, cli, components, config, deployment, http, metrics
from handbook.reference.snapshot import Snapshot

EXTENSIONS = ["tables", "attr_list", "toc", "admonition", "pymdownx.superfences"]


def html(text: str) -> str:
    """Render generated Markdown the way the site does (the extensions that matter for anchors)."""
    return markdown.markdown(text, extensions=EXTENSIONS)


def has_anchor(text: str, target: str) -> bool:
    """Whether the rendered page carries the anchor part of an `anchors` target."""
    return f'id="{target.partition("#")[2]}"' in html(text)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A small project: the real catalog, nothing else yet."""
    write(tmp_path / "stack/catalog.yaml", (ROOT / "stack/catalog.yaml").read_text())
    return tmp_path


# --- configuration -------------------------------------------------------------------------------


class Fanout(BaseModel):
    """Fan-out node settings."""

    listener_cap: int = Field(10_000, ge=1, le=1_000_000, description="Most listeners one node serves.")
    mode: Literal["relay", "origin"] = Field("relay", description="Role of the node.")


class Gateway(BaseModel):
    """Gateway settings."""

    port: int = Field(8080, ge=1, le=65535, description="HTTP port.")
    secret: str = Field(description="Signing secret.")


class FixtureConfig(BaseModel):
    """A two-section schema."""

    gateway: Gateway
    fanout: Fanout = Field(default_factory=Fanout)


class FixtureConfigWithNewKey(FixtureConfig):
    """The same schema with one more fan-out key."""

    class FanoutPlus(Fanout):
        """Fan-out settings plus a queue bound."""

        send_queue_frames: int = Field(50, ge=1, description="Frames queued per listener before it is dropped.")

    fanout: FanoutPlus = Field(default_factory=FanoutPlus)


CONFIG_YAML = "gateway:\n  port: 9000\n  secret: s3cret\nfanout:\n  listener_cap: 500\n"


def config_snapshot(root: Path, schema: type = FixtureConfig) -> Snapshot:
    return Snapshot(root, config=lambda: sources.config_keys(root, schema=schema, env_prefix="CHORUS__"))


def test_config_loader_reads_schema_and_file(project: Path) -> None:
    write(project / sources.CONFIG, CONFIG_YAML)
    keys = {k.key: k for k in sources.config_keys(project, schema=FixtureConfig, env_prefix="CHORUS__")}
    assert list(keys) == ["gateway.port", "gateway.secret", "fanout.listener_cap", "fanout.mode"]
    cap = keys["fanout.listener_cap"]
    assert (cap.type, cap.default, cap.value, cap.line) == ("int", 10_000, 500, 5)
    assert cap.bounds == {"ge": 1, "le": 1_000_000}
    assert cap.env == "CHORUS__FANOUT__LISTENER_CAP"
    assert cap.description == "Most listeners one node serves."
    assert cap.section_description == "Fan-out node settings."
    assert keys["fanout.mode"].type == '"relay" | "origin"'
    assert keys["fanout.mode"].value is sources.UNSET and keys["fanout.mode"].current == "relay"
    assert keys["gateway.secret"].required


def test_config_page_puts_each_key_at_its_anchor(project: Path) -> None:
    write(project / sources.CONFIG, CONFIG_YAML)
    page = config.render(config_snapshot(project))
    for key in ("gateway", "gateway.port", "fanout", "fanout.listener_cap", "fanout.mode"):
        assert has_anchor(page, anchors.config_key(key)), key
    assert "`CHORUS__FANOUT__LISTENER_CAP`" in page
    assert "`500` (line 5)" in page and "≥ 1, ≤ 1000000" in page
    assert "not set (the default applies)" in page


def test_config_page_follows_the_schema(project: Path) -> None:
    write(project / sources.CONFIG, CONFIG_YAML)
    before = config.render(config_snapshot(project))
    after = config.render(config_snapshot(project, FixtureConfigWithNewKey))
    target = anchors.config_key("fanout.send_queue_frames")
    assert not has_anchor(before, target)
    assert has_anchor(after, target)
    assert has_anchor(config.render(config_snapshot(project)), anchors.config_key("fanout.mode"))


def test_config_value_out_of_bounds_is_one_line_at_the_key(project: Path) -> None:
    write(project / sources.CONFIG, "gateway:\n  port: 9000\n  secret: s\nfanout:\n  listener_cap: 0\n")
    with pytest.raises(HandbookError) as info:
        sources.config_keys(project, schema=FixtureConfig, env_prefix="CHORUS__")
    assert str(info.value).startswith("stack/config/chorus.yaml:5: fanout.listener_cap: Input should be greater than or equal to 1")
    assert "\n" not in str(info.value)


def test_config_yaml_syntax_error_names_file_and_line(project: Path) -> None:
    write(project / sources.CONFIG, "gateway:\n  port: 9000\n  secret: [unclosed\nfanout: {}\n")
    with pytest.raises(HandbookError) as info:
        sources.config_keys(project, schema=FixtureConfig, env_prefix="CHORUS__")
    assert str(info.value).startswith("stack/config/chorus.yaml:4: YAML syntax error")


def test_tree_without_a_configuration_file_is_a_missing_source(project: Path) -> None:
    (project / sources.CONFIG).unlink(missing_ok=True)
    with pytest.raises(sources.SourceMissing) as info:
        sources.config_keys(project, schema=FixtureConfig, env_prefix="CHORUS__")
    assert str(info.value).startswith("stack/config/chorus.yaml")


# --- metrics -------------------------------------------------------------------------------------


def registries(extra: bool = False) -> dict[str, prometheus_client.CollectorRegistry]:
    gateway, fanout = prometheus_client.CollectorRegistry(), prometheus_client.CollectorRegistry()
    prometheus_client.Counter("chorus_joins_total", "Join attempts by result.", ["result"], registry=gateway)
    prometheus_client.Histogram("chorus_join_seconds", "Time to admit.", buckets=(0.1, 1.0), registry=gateway)
    prometheus_client.Gauge("chorus_listeners", "Connected listeners.", ["space"], registry=fanout)
    for registry in (gateway, fanout):
        prometheus_client.Info("chorus_build", "Build of the running service.", registry=registry)
    if extra:
        prometheus_client.Counter("chorus_listener_drops_total", "Listeners dropped.", ["reason"], registry=fanout)
    return {"gateway": gateway, "fanout": fanout}


def test_metrics_loader_reads_names_types_labels_help_service() -> None:
    found = {m.name: m for m in sources.metrics(registries())}
    assert sorted(found) == ["chorus_build_info", "chorus_join_seconds", "chorus_joins_total", "chorus_listeners"]
    joins = found["chorus_joins_total"]
    assert (joins.type, joins.labels, joins.help, joins.services) == ("counter", ("result",), "Join attempts by result.", ("gateway",))
    assert found["chorus_join_seconds"].series == ("chorus_join_seconds_bucket", "chorus_join_seconds_sum", "chorus_join_seconds_count")
    assert found["chorus_join_seconds"].buckets[:2] == (0.1, 1.0)
    assert found["chorus_build_info"].services == ("gateway", "fanout")


def test_metrics_declared_differently_by_two_services_fail() -> None:
    regs = registries()
    prometheus_client.Gauge("chorus_listeners", "Something else.", registry=regs["gateway"])
    with pytest.raises(HandbookError, match="chorus_listeners is declared differently"):
        sources.metrics(regs)


def test_metrics_page_puts_metrics_and_series_at_anchors(project: Path) -> None:
    write(project / sources.ALERTS_DIR / "alerts.yaml", ALERTS_YAML)
    before = metrics.render(Snapshot(project, metrics=lambda: sources.metrics(registries())))
    after = metrics.render(Snapshot(project, metrics=lambda: sources.metrics(registries(extra=True))))
    for name in ("chorus_joins_total", "chorus_join_seconds", "chorus_join_seconds_bucket", "chorus_listeners"):
        assert has_anchor(before, anchors.metric(name)), name
    assert not has_anchor(before, anchors.metric("chorus_listener_drops_total"))
    assert has_anchor(after, anchors.metric("chorus_listener_drops_total"))
    assert "- **Used by alerts:** [`ChorusJoinShedding`](alerts.md#chorusjoinshedding)" in before
    assert "- **Labels:** `result`" in before


# --- alerts --------------------------------------------------------------------------------------

ALERTS_YAML = """\
groups:
  - name: gateway
    rules:
      - alert: ChorusJoinShedding
        expr: sum(rate(chorus_joins_total{result="shed"}[5m])) / sum(rate(chorus_joins_total[5m])) > 0.2
        for: 5m
        labels: {severity: page, service: gateway}
        annotations:
          summary: More than a fifth of joins are shed.
          runbook_url: http://127.0.0.1:8000/runbooks/join-shedding/
      - record: chorus:joins:rate5m
        expr: sum(rate(chorus_joins_total[5m]))
"""
NEW_ALERT = """\
      - alert: ChorusGatewayDown
        expr: up{job="chorus-gateway"} == 0
        labels: {severity: page, service: gateway}
        annotations: {summary: No gateway is up., runbook_url: runbooks/gateway-down.md}
"""


def test_alert_catalogue_follows_the_rules_file(project: Path) -> None:
    rules_file = write(project / sources.ALERTS_DIR / "alerts.yaml", ALERTS_YAML)
    write(project / "runbooks/join-shedding.md", "# Join shedding\n")
    page = alerts.render(Snapshot(project))
    assert has_anchor(page, anchors.alert("ChorusJoinShedding"))
    assert "[join-shedding](../runbooks/join-shedding.md)" in page
    assert "- **For:** `5m`" in page and "- **Severity:** `page`" in page
    assert "control-plane" in page, "the team comes from the catalog when the rule has no team label"
    assert "chorus:joins:rate5m" not in page, "recording rules are not alerts"
    assert not has_anchor(page, anchors.alert("ChorusGatewayDown"))

    rules_file.write_text(ALERTS_YAML.split("      - record")[0] + NEW_ALERT)
    page = alerts.render(Snapshot(project))
    assert has_anchor(page, anchors.alert("ChorusGatewayDown"))
    assert "**missing** (`runbook_url`: `runbooks/gateway-down.md`)" in page

    rules_file.write_text("groups:\n  - name: gateway\n    rules:\n" + NEW_ALERT)
    page = alerts.render(Snapshot(project))
    assert not has_anchor(page, anchors.alert("ChorusJoinShedding"))


def test_alert_file_that_does_not_parse_names_file_and_line(project: Path) -> None:
    write(project / sources.ALERTS_DIR / "alerts.yaml", "groups:\n  - name: x\n    rules: [\n")
    with pytest.raises(HandbookError) as info:
        alerts.render(Snapshot(project))
    assert str(info.value).startswith("stack/deploy/prometheus/alerts.yaml:3: YAML syntax error")


@pytest.mark.parametrize(
    ("url", "stem"),
    [
        ("http://127.0.0.1:8000/runbooks/fanout-near-cap/", "fanout-near-cap"),
        ("runbooks/fanout-near-cap.md", "fanout-near-cap"),
        ("../runbooks/fanout-near-cap.html", "fanout-near-cap"),
        ("https://wiki.example.com/fanout", ""),
        ("", ""),
    ],
)
def test_runbook_stem_from_runbook_url(url: str, stem: str) -> None:
    rule = sources.AlertRule("A", "up", "", {}, {"runbook_url": url}, "g", Path("a.yaml"), 1)
    assert rule.runbook_stem == stem


# --- CLI -----------------------------------------------------------------------------------------


def fixture_parser(with_undrain: bool = False) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chorusctl", description="Operate Chorus.")
    parser.add_argument("--gateway", default="http://127.0.0.1:8080", help="gateway URL (default: %(default)s)")
    commands = parser.add_subparsers(dest="command", required=True)
    node = commands.add_parser("node", help="fan-out nodes")
    node_commands = node.add_subparsers(dest="node_command", required=True)
    drain = node_commands.add_parser("drain", help="stop admitting listeners to a node")
    drain.add_argument("node", help="the node's name")
    drain.add_argument("--wait", type=float, default=30.0, help="seconds to wait for listeners to leave")
    drain.add_argument("--mode", choices=["soft", "hard"], default="soft", help="how to drain")
    if with_undrain:
        node_commands.add_parser("undrain", help="admit listeners again")
    return parser


def test_cli_page_lists_every_command_argument_and_default(project: Path) -> None:
    page = cli.render(Snapshot(project, cli=lambda: {"chorusctl": fixture_parser()}))
    for words in ((), ("node",), ("node", "drain")):
        assert has_anchor(page, anchors.cli_command("chorusctl", *words)), words
    assert "| `--wait WAIT` | seconds to wait for listeners to leave | `30.0` |" in page
    assert "gateway URL (default: http://127.0.0.1:8080)" in page
    assert "one of `soft`, `hard`" in page
    assert "chorusctl node drain [-h] [--wait WAIT] [--mode {soft,hard}] node" in page
    assert not has_anchor(page, anchors.cli_command("chorusctl", "node", "undrain"))
    page = cli.render(Snapshot(project, cli=lambda: {"chorusctl": fixture_parser(with_undrain=True)}))
    assert has_anchor(page, anchors.cli_command("chorusctl", "node", "undrain"))


# --- HTTP API ------------------------------------------------------------------------------------


class Space(BaseModel):
    """A live audio space."""

    space_id: str = Field(description="Opaque id.")
    listeners: int = Field(ge=0, description="Listeners right now.")


def fixture_app(with_delete: bool = False) -> FastAPI:
    app = FastAPI(title="Gateway", version="1.2.3")

    @app.get("/spaces/{space_id}", tags=["spaces"], summary="Read a space", response_model=Space)
    def read_space(space_id: Annotated[str, PathParam(description="Which space.")]) -> Space:
        return Space(space_id=space_id, listeners=0)

    @app.post(
        "/spaces/{space_id}/join",
        tags=["spaces"],
        summary="Join a space",
        responses={
            503: {
                "description": "Chorus is full right now; come back later.",
                "headers": {"Retry-After": {"description": "Seconds to wait, jittered.", "schema": {"type": "integer"}}},
            }
        },
    )
    def join(space_id: str, x_client: Annotated[str | None, Header()] = None) -> JSONResponse:
        return JSONResponse({})

    if with_delete:

        @app.delete("/spaces/{space_id}", tags=["spaces"], summary="End a space")
        def end(space_id: str) -> None:
            return None

    return app


def test_http_page_renders_paths_parameters_schemas_and_503_retry_after(project: Path) -> None:
    page = http.render(Snapshot(project, openapi=lambda: fixture_app().openapi()))
    for method, path in (("GET", "/spaces/{space_id}"), ("POST", "/spaces/{space_id}/join")):
        assert has_anchor(page, anchors.http_operation(method, path))
    assert has_anchor(page, anchors.http_schema("Space"))
    assert "| `space_id` | path | string | yes | Which space. |" in page
    assert "| `x-client` | header | string or null | no |" in page
    assert "| `503` | Chorus is full right now; come back later. |" in page
    assert "`Retry-After` (integer): Seconds to wait, jittered." in page
    assert "| `422` | Validation Error |" in page
    assert "| `listeners` | integer | yes | Listeners right now. (≥ 0) |" in page
    assert "[`Space`](#schema-space)" in page, "a response schema links to its entry"
    assert not has_anchor(page, anchors.http_operation("DELETE", "/spaces/{space_id}"))
    page = http.render(Snapshot(project, openapi=lambda: fixture_app(with_delete=True).openapi()))
    assert has_anchor(page, anchors.http_operation("DELETE", "/spaces/{space_id}"))
    assert "cdn" not in page.lower() and "<script" not in page


# --- deployment ----------------------------------------------------------------------------------

MANIFESTS = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: chorus-fanout, namespace: chorus}
spec:
  replicas: 3
  selector: {matchLabels: {app: chorus-fanout}}
  template:
    metadata: {labels: {app: chorus-fanout}}
    spec:
      containers:
        - name: fanout
          image: chorus:dev
          ports: [{containerPort: 8090, name: ws}]
          resources: {requests: {cpu: 500m, memory: 256Mi}, limits: {memory: 512Mi}}
          readinessProbe: {httpGet: {path: /readyz, port: ws}, periodSeconds: 5}
          livenessProbe: {tcpSocket: {port: ws}, failureThreshold: 3}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: chorus-fanout, namespace: chorus}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: chorus-fanout}
  minReplicas: 3
  maxReplicas: 30
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: chorus-fanout, namespace: chorus}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: chorus-fanout}}
"""
EXTRA_MANIFEST = """\
apiVersion: v1
kind: Service
metadata: {name: chorus-fanout, namespace: chorus}
spec:
  selector: {app: chorus-fanout}
  ports: [{name: ws, port: 8090, targetPort: ws}]
"""


def test_deployment_page_follows_the_manifests(project: Path) -> None:
    write(project / sources.KUBERNETES_DIR / "fanout.yaml", MANIFESTS)
    page = deployment.render(Snapshot(project))
    for kind in ("Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        assert has_anchor(page, anchors.workload(kind, "chorus-fanout")), kind
    assert "3–30 replicas; `cpu` at 60 % utilization" in page
    assert "minAvailable `2`" in page
    assert "| `fanout` | `chorus:dev` | `8090` (ws) | cpu `500m`, memory `256Mi` | memory `512Mi` |" in page
    assert "`GET /readyz` on port `ws`; every 5 s" in page and "TCP connect to port `ws`; fails after 3" in page
    assert not has_anchor(page, anchors.workload("Service", "chorus-fanout"))
    write(project / sources.KUBERNETES_DIR / "service.yaml", EXTRA_MANIFEST)
    page = deployment.render(Snapshot(project))
    assert has_anchor(page, anchors.workload("Service", "chorus-fanout"))
    assert "`8090` → `ws`" in page
    (project / sources.KUBERNETES_DIR / "fanout.yaml").unlink()
    page = deployment.render(Snapshot(project))
    assert not has_anchor(page, anchors.workload("Deployment", "chorus-fanout"))


# --- components ----------------------------------------------------------------------------------

NARRATIVE = """\
---
owner: media
---

# Fan-out

## What it does

Relays frames.

## How it fails

Slowly.

## What to look at first

The queue.
"""


def test_component_page_is_header_above_narrative(project: Path) -> None:
    docs = project / "docs"
    write(docs / "components/fanout.md", NARRATIVE)
    write(project / sources.ALERTS_DIR / "alerts.yaml", ALERTS_YAML.replace("service: gateway", "service: fanout"))
    write(project / "runbooks/join-shedding.md", "# Join shedding\n")
    write(project / sources.CONFIG, CONFIG_YAML)
    snap = Snapshot(
        project,
        config=lambda: sources.config_keys(project, schema=FixtureConfig, env_prefix="CHORUS__"),
        metrics=lambda: sources.metrics(registries()),
    )
    pages = components.pages(snap, docs)
    page = pages["components/fanout.md"]
    assert page.index("at a glance") < page.index("## What it does")
    assert page.count("# Fan-out") == 1
    assert "owner: media" in page
    assert "- **Depends on:** [gateway](gateway.md)" in page
    assert "- **Depended on by:** [packager](packager.md)" in page
    assert "[`listener_cap`](../reference/config.md#fanout.listener_cap)" in page
    assert "[`chorus_listeners`](../reference/metrics.md#chorus_listeners)" in page
    assert "[`ChorusJoinShedding`](../reference/alerts.md#chorusjoinshedding)" in page
    assert "[join-shedding](../runbooks/join-shedding.md)" in page
    assert "Narrative missing" in pages["components/gateway.md"]
    assert set(pages) == {"components/gateway.md", "components/fanout.md", "components/packager.md"}


# --- API reference -------------------------------------------------------------------------------


def test_api_pages_follow_the_modules_on_disk(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "tools/handbook", tmp_path / "tools/handbook", ignore=shutil.ignore_patterns("__pycache__"))
    write(tmp_path / "stack/chorus/__init__.py", '"""Chorus."""\n')
    before = api.pages(tmp_path)
    assert "reference/api/chorus/index.md" in before
    assert "reference/api/handbook/checks/registry.md" in before
    assert "::: handbook.checks.registry" in before["reference/api/handbook/checks/registry.md"]
    assert "reference/api/chorus/fanout/node.md" not in before
    write(tmp_path / "stack/chorus/fanout/__init__.py", '"""Fan-out."""\n')
    write(tmp_path / "stack/chorus/fanout/node.py", '"""A fan-out node."""\n')
    write(tmp_path / "stack/chorus/fanout/_private.py", '"""Not public."""\n')
    after = api.pages(tmp_path)
    assert "::: chorus.fanout.node" in after["reference/api/chorus/fanout/node.md"]
    assert "[`chorus.fanout.node`](node.md)" in after["reference/api/chorus/fanout/index.md"]
    assert not any("_private" in uri for uri in after)
    assert "    * [chorus.fanout.node](chorus/fanout/node.md)" in after["reference/api/SUMMARY.md"]
    (tmp_path / "stack/chorus/fanout/node.py").unlink()
    assert "reference/api/chorus/fanout/node.md" not in api.pages(tmp_path)
