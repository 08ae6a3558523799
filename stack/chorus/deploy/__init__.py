"""How Chorus runs in Kubernetes and is watched by Prometheus, and the checks that keep it true.

The files themselves live in `stack/deploy/`: `kubernetes/*.yaml` (namespace,
ConfigMap, a Deployment, Service and PodDisruptionBudget per catalog service,
an autoscaler for fan-out) and `prometheus/alerts.yaml` (the alerting rules).
This package holds what those files must agree with, so a change to the
catalog, the configuration or the metrics that the files do not follow is
found by a test rather than in production:

- `chorus.deploy.configmap` - renders the ConfigMap from `stack/config/chorus.yaml`
  (`python -m chorus.deploy sync` writes it, `--check` reports drift);
- `chorus.deploy.kubeschema` - validates objects against the Kubernetes schema, offline;
- `chorus.deploy.workloads` - workload names, labels, selectors, ports, probes,
  drain budget and autoscaling bounds against the catalog and the configuration;
- `chorus.deploy.promql` - the metric and label names a PromQL expression uses;
- `chorus.deploy.rules` - alerting rules against the metrics the services export.

Every check returns `Finding`s that name the object and the key path at fault,
so a caller holding the YAML with line numbers can point at the line.
"""

from __future__ import annotations

from pathlib import Path

NAMESPACE = "chorus"
"""The Kubernetes namespace every Chorus object lives in."""

PART_OF = "chorus"
"""Value of the `app.kubernetes.io/part-of` label on every Chorus object."""

SEVERITIES = ("critical", "warning")
"""The one list of alert `severity` values: `critical` pages the owning team's on-call at once;
`warning` opens a ticket for working hours. A runbook answering an alert carries the same value
(task runbooks, answering no alert, may also say `info`)."""

SERVICE_LABEL = "chorus.dev/service"
"""Label naming the catalog service an object belongs to, e.g. `fanout`."""

TEAM_LABEL = "chorus.dev/team"
"""Label naming the catalog team that owns the object, e.g. `media`."""

NAME_LABEL = "app.kubernetes.io/name"
"""Label holding the catalog `workload`, e.g. `chorus-fanout`; the one label selectors use."""

CONFIG_HASH_ANNOTATION = "chorus.dev/config-sha256"
"""Pod-template annotation holding the configuration's digest, so a config change rolls the pods."""

CONFIGMAP_NAME = "chorus-config"
"""The ConfigMap carrying `chorus.yaml`."""

CONFIG_KEY = "chorus.yaml"
"""The ConfigMap key (and file name in the mount) of the configuration."""

CONFIG_MOUNT = "/etc/chorus"
"""Where containers mount the ConfigMap; the services read `CONFIG_MOUNT/CONFIG_KEY`."""

SIGNING_KEY_SECRET = "chorus-signing-key"
"""The Secret holding the join-token signing key (created by operators, never committed)."""

SIGNING_KEY_SECRET_KEY = "signing-key"
"""The key inside `SIGNING_KEY_SECRET` that holds the signing key."""

KUBERNETES_VERSION = "1.34.0"
"""The Kubernetes version the manifests are validated against (the oldest cluster we run on)."""

STACK_DIR = Path(__file__).resolve().parents[2]
"""`stack/` in this checkout."""

KUBERNETES_DIR = STACK_DIR / "deploy" / "kubernetes"
"""`stack/deploy/kubernetes/`: the manifests."""

CONFIGMAP_FILE = KUBERNETES_DIR / "configmap.yaml"
"""The generated ConfigMap manifest."""

ALERTS_FILE = STACK_DIR / "deploy" / "prometheus" / "alerts.yaml"
"""`stack/deploy/prometheus/alerts.yaml`: the alerting rules."""
