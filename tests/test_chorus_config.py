"""The configuration and the catalog: schemas, one-line errors with file/line/key, agreement, real effect."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel

from chorus.catalog import CatalogError, compared_services, load_catalog, port_disagreements
from chorus.config import ENV_PREFIX, ChorusConfig, ConfigError, load_config
from chorus_support import CONFIG_FILE, KEY, clean_env, operator_headers, real_stack, stack_env
from conftest import BIN, ROOT

CATALOG_FILE = ROOT / "stack" / "catalog.yaml"


def _copy(tmp_path: Path, old: str, new: str, source: Path = CONFIG_FILE) -> Path:
    text = source.read_text()
    assert old in text, f"fixture edit {old!r} no longer matches {source.name}"
    target = tmp_path / source.name
    target.write_text(text.replace(old, new, 1))
    return target


def _line_of(path: Path, fragment: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if fragment in line)


def _fields(model: type[BaseModel], prefix: str = ""):
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _fields(annotation, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", field


def test_the_real_config_loads_and_every_key_is_documented() -> None:
    config = load_config(CONFIG_FILE, env={})
    assert config.gateway.port == 8080 and config.fanout.port == 8090
    keys = dict(_fields(ChorusConfig))
    assert len(keys) >= 30
    for key, field in keys.items():
        assert field.description and len(field.description) > 10, f"{key} has no description"
        assert not field.is_required(), f"{key} has no default"
    bounded = [k for k, f in keys.items() if any(type(m).__name__ in ("Ge", "Gt", "Le", "Lt") for m in f.metadata)]
    assert {"gateway.port", "fanout.listener_cap", "fanout.send_queue_limit", "gateway.join_burst"} <= set(bounded)


def test_the_file_sets_every_key_the_schema_has() -> None:
    """The shipped file is the full picture: no key is left to a default nobody sees."""
    import yaml

    data = yaml.safe_load(CONFIG_FILE.read_text())

    def flat(d: dict, prefix: str = "") -> set[str]:
        out = set()
        for k, v in d.items():
            out |= flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}"}
        return out

    assert flat(data) == set(dict(_fields(ChorusConfig)))


def test_environment_overrides_a_key() -> None:
    config = load_config(CONFIG_FILE, env={f"{ENV_PREFIX}FANOUT__LISTENER_CAP": "10", f"{ENV_PREFIX}GATEWAY__TOKEN__TTL_S": "60"})
    assert config.fanout.listener_cap == 10 and config.gateway.token.ttl_s == 60


@pytest.mark.parametrize(
    ("old", "new", "key", "message"),
    [
        ("  listener_cap: 1000", "  listener_caps: 1000", "fanout.listener_caps", "unknown key"),
        ("  listener_cap: 1000", "  listener_cap: lots", "fanout.listener_cap", "valid integer"),
        ("  headroom: 0.1", "  headroom: 1.5", "fanout.headroom", "less than 1"),
        ("    ttl_s: 300", "    ttl_s: true", "gateway.token.ttl_s", "valid integer"),
        ("  format: kv", "  format: xml", "logging.format", "'kv' or 'json'"),
        ("  sample_rate: 48000", "  sample_rate: 44100", "audio.sample_rate", "48000"),
    ],
)
def test_bad_value_is_one_line_with_file_line_and_key(tmp_path: Path, old: str, new: str, key: str, message: str) -> None:
    path = _copy(tmp_path, old, new)
    with pytest.raises(ConfigError) as error:
        load_config(path, env={})
    text = str(error.value)
    assert text.startswith(f"{path}:{_line_of(path, new.strip())}: {key}: "), text
    assert message in text and "\n" not in text


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = _copy(tmp_path, "  nodes: 2\n", "  nodes: 2: 3\n")
    with pytest.raises(ConfigError) as error:
        load_config(path, env={})
    assert str(error.value) == (
        f"{path}:{_line_of(path, 'nodes: 2: 3')}: YAML syntax error: mapping values are not allowed here; "
        "fix the syntax and retry"
    )


def test_duplicate_key_is_refused(tmp_path: Path) -> None:
    path = _copy(tmp_path, "  nodes: 2\n", "  nodes: 2\n  nodes: 3\n")
    with pytest.raises(ConfigError) as error:
        load_config(path, env={})
    assert str(error.value) == f"{path}:{_line_of(path, 'nodes: 3')}: fanout.nodes: duplicate key; keep one of them"


def test_bad_override_names_the_variable() -> None:
    with pytest.raises(ConfigError) as error:
        load_config(CONFIG_FILE, env={f"{ENV_PREFIX}FANOUT__LISTENER_CAP": "many"})
    assert "fanout.listener_cap" in str(error.value) and "CHORUS__FANOUT__LISTENER_CAP" in str(error.value)


@pytest.mark.parametrize("service", ["chorus.gateway", "chorus.fanout"])
def test_service_does_not_start_on_bad_config(tmp_path: Path, service: str) -> None:
    path = _copy(tmp_path, "  send_queue_limit: 50", "  send_queue_limt: 50")
    result = subprocess.run([sys.executable, "-m", service, "--config", str(path)], env=stack_env(),
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"{path}:{_line_of(path, 'send_queue_limt')}: fanout.send_queue_limt: unknown key; "
        "check the spelling against the configuration reference"
    )
    assert "Traceback" not in result.stderr


def test_service_does_not_start_without_a_signing_key(tmp_path: Path) -> None:
    env = {k: v for k, v in stack_env().items() if k != "CHORUS_SIGNING_KEY"}
    result = subprocess.run([sys.executable, "-m", "chorus.gateway", "--config", str(CONFIG_FILE)], env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and result.stderr.startswith("error: no signing key: set the environment variable CHORUS_SIGNING_KEY")


def test_chorusctl_config_check(tmp_path: Path) -> None:
    good = subprocess.run([str(BIN / "chorusctl"), "config", "check"], env=clean_env(), capture_output=True, text=True)
    assert good.returncode == 0 and "ports agree with the catalog (gateway, fanout, packager)" in good.stdout
    bad = _copy(tmp_path, "  max_sessions: 10000", "  max_sessions: -1")
    result = subprocess.run([str(BIN / "chorusctl"), "--config", str(bad), "config", "check"],
                            env=clean_env(), capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith(f"{bad}:{_line_of(bad, 'max_sessions')}: gateway.max_sessions: ")
    moved = _copy(tmp_path, "  port: 8090", "  port: 9090")
    result = subprocess.run([str(BIN / "chorusctl"), "--config", str(moved), "config", "check"],
                            env=clean_env(), capture_output=True, text=True)
    assert result.returncode == 1
    assert "service fanout: catalog says port 8090, configuration fanout.port says 9090" in result.stdout


def test_chorusctl_config_check_reports_an_unusable_signing_key_and_fails(tmp_path: Path) -> None:
    def check(**key: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in clean_env().items() if k != "CHORUS_SIGNING_KEY"} | key
        return subprocess.run([str(BIN / "chorusctl"), "config", "check"], env=env, capture_output=True, text=True,
                              timeout=30)

    short = check(CHORUS_SIGNING_KEY="short")
    assert short.returncode == 2, short.stdout + short.stderr
    assert ("signing key: unusable: the signing key in environment variable CHORUS_SIGNING_KEY is 5 bytes; "
            "use at least 32; the services refuse to start with it") in short.stdout.splitlines()
    assert "not set" not in short.stdout
    unreadable = check(CHORUS__GATEWAY__TOKEN__KEY_FILE=str(tmp_path / "missing.key"))
    assert unreadable.returncode == 2 and "signing key: unusable: cannot read the signing key file" in unreadable.stdout
    missing = check()
    assert missing.returncode == 0, missing.stdout + missing.stderr
    assert "signing key: not set (CHORUS_SIGNING_KEY); `chorusctl up` generates one per run" in missing.stdout
    found = check(CHORUS_SIGNING_KEY=KEY.decode())
    assert found.returncode == 0 and "signing key: found (CHORUS_SIGNING_KEY or key_file)" in found.stdout


def test_catalog_and_config_ports_agree() -> None:
    catalog = load_catalog(CATALOG_FILE)
    config = load_config(CONFIG_FILE, env={})
    assert compared_services(catalog, config) == ["gateway", "fanout", "packager"]
    assert port_disagreements(catalog, config) == []


def test_port_disagreement_is_reported() -> None:
    catalog = load_catalog(CATALOG_FILE)
    config = load_config(CONFIG_FILE, env={f"{ENV_PREFIX}GATEWAY__PORT": "8081"})
    assert [str(d) for d in port_disagreements(catalog, config)] == [
        "service gateway: catalog says port 8080, configuration gateway.port says 8081"
    ]


def test_catalog_is_validated(tmp_path: Path) -> None:
    catalog = load_catalog(CATALOG_FILE)
    assert {s.name for s in catalog.services} >= {"gateway", "fanout"}
    assert catalog.service("fanout").team == "media"
    cases = [
        ("depends_on: [gateway]", "depends_on: [gatewy]", "gatewy", "services[1].depends_on[0]", "not another service"),
        ("    team: media\n    tier: 1", "    team: sound\n    tier: 1", "sound", "services[1].team", "unknown team 'sound'"),
        ("    tier: 2", "    tier: 9", "tier: 9", "services[2].tier", "less than or equal to 3"),
        ("    workload: chorus-gateway", "    workload: chorus-gateway\n    pager: x", "pager", "services[0].pager", "unknown key"),
    ]
    for old, new, marker, key, message in cases:
        path = _copy(tmp_path, old, new, CATALOG_FILE)
        with pytest.raises(CatalogError) as error:
            load_catalog(path)
        line = _line_of(path, marker)
        assert str(error.value).startswith(f"{path}:{line}: {key}: "), (str(error.value), line)
        assert message in str(error.value)


def test_changing_the_listener_cap_in_a_copy_changes_what_the_running_stack_admits(tmp_path: Path) -> None:
    """The config is real: a copy with listener_cap 4 (headroom 0.25) lets exactly 3 listeners in."""
    path = _copy(tmp_path, "  listener_cap: 1000", "  listener_cap: 4")
    path.write_text(path.read_text().replace("  headroom: 0.1", "  headroom: 0.25"))
    with real_stack(path, nodes=1, stop_signal=signal.SIGTERM) as stack:
        node = stack.nodes()[0]
        assert node["listener_cap"] == 4 and node["headroom"] == 3
        node_status = httpx.get(node["url"].replace("ws://", "http://") + "/status", headers=operator_headers()).json()
        assert node_status["listener_cap"] == 4
        space = httpx.post(f"{stack.gateway_url}/v1/spaces", json={"title": "cap", "host": "h"}).json()["id"]
        answers = [httpx.post(f"{stack.gateway_url}/v1/spaces/{space}/join", json={"user": f"u{i}"}) for i in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 503]
        assert answers[3].json()["reason"] == "capacity" and int(answers[3].headers["Retry-After"]) >= 1
        metrics = httpx.get(node["url"].replace("ws://", "http://") + "/metrics").text
        assert 'chorus_fanout_listener_cap{node="fanout-1"} 4.0' in metrics
    assert stack.process.returncode == 0 and "chorus up: stopped" in "".join(stack.output), "SIGTERM stops it cleanly"


def test_up_refuses_a_signing_key_that_is_set_but_too_short() -> None:
    """`chorusctl up` must not swap a bad key for a random one: the real services would refuse it."""
    import subprocess

    from chorus_support import BIN, clean_env, free_port

    env = {**clean_env(), "CHORUS_SIGNING_KEY": "short", "CHORUS__GATEWAY__PORT": str(free_port())}
    result = subprocess.run([str(BIN / "chorusctl"), "up"], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "signing key unusable" in result.stderr and "CHORUS_SIGNING_KEY" in result.stderr
    assert "random one" not in result.stderr
