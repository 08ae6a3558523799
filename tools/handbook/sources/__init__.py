"""The sources of truth in `stack/`, loaded once, typed, with the line each fact came from.

Every generated reference page, every live value in a page and every drift check reads
Chorus through this package, one module per source of truth:

| module | source | gives |
|---|---|---|
| `catalog` | `stack/catalog.yaml` | the stack's own validated `chorus.catalog.Catalog` (and its lines) |
| `config` | `stack/config/chorus.yaml` + `chorus.config.ChorusConfig` | `ConfigKey` per leaf key |
| `rules` | `stack/deploy/prometheus/*.yaml` | `RulesFile`, `AlertRule` |
| `manifests` | `stack/deploy/kubernetes/` | `Manifest` (containers, labels, selectors, scale target), `Manifests` |
| `metrics` | `chorus.metrics.service_registries()` | `MetricInfo` |
| `programs` | `chorus.gateway.app`, `chorus.cli` | the OpenAPI document, the CLI parsers |
| `site` | `mkdocs.yml` | `SiteSettings` |
| `stack` | all of the above | `Stack`, the per-run object the deploy and rule checks share |

`base` holds what they share (reading files, importing the stack's code, the per-process
memo) and `cache` the on-disk cache of values derived from `stack/`. Paths are relative to
the project root. This module only hands the names on.
"""

from handbook.sources.base import (
    HANDBOOK_PACKAGE,
    STACK_PACKAGE,
    SourceMissing,
    SourceUnavailable,
    chorus_call,
    chorus_module,
    foreign_stack_code,
    purge_chorus_modules,
    read_text,
    read_yaml,
    steady_tree,
)
from handbook.sources.cache import STACK_DIR, StackKeyedCache, cached_from_stack, stack_fingerprint
from handbook.sources.catalog import CATALOG, catalog, catalog_model
from handbook.sources.config import BOUND_ATTRIBUTES, CONFIG, UNSET, ConfigKey, config_keys, config_model, type_label
from handbook.sources.manifests import (
    KUBERNETES_DIR,
    WORKLOAD_KINDS,
    Container,
    Manifest,
    Manifests,
    manifests,
    selects,
)
from handbook.sources.metrics import SERIES_SUFFIXES, MetricInfo, metrics, stack_metrics
from handbook.sources.programs import CLI_PROGRAMS, cli_commands, cli_parser, openapi
from handbook.sources.rules import ALERTS_DIR, AlertRule, RulesFile, alert_rules, rule_documents, rule_files
from handbook.sources.site import MKDOCS, SiteSettings, site_settings
from handbook.sources.stack import Stack, stack

__all__ = [
    "ALERTS_DIR", "BOUND_ATTRIBUTES", "CATALOG", "CLI_PROGRAMS", "CONFIG", "HANDBOOK_PACKAGE", "KUBERNETES_DIR",
    "MKDOCS", "SERIES_SUFFIXES", "STACK_DIR", "STACK_PACKAGE", "UNSET", "WORKLOAD_KINDS",
    "AlertRule", "ConfigKey", "Container", "Manifest", "Manifests", "MetricInfo", "RulesFile", "SiteSettings",
    "SourceMissing", "SourceUnavailable", "Stack", "StackKeyedCache",
    "alert_rules", "cached_from_stack", "catalog", "catalog_model", "chorus_call", "chorus_module", "cli_commands",
    "cli_parser", "config_keys", "config_model", "foreign_stack_code", "manifests", "metrics", "openapi", "purge_chorus_modules", "read_text", "read_yaml",
    "rule_documents", "rule_files", "selects", "site_settings", "stack", "stack_fingerprint", "stack_metrics", "steady_tree",
    "type_label",
]
