"""The load scenario analysis follows the configuration, the autoscaler and the alert rules."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import ROOT
from handbook import facts as facts_mod
from handbook import scenario
from handbook.errors import HandbookError


def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    shutil.copytree(ROOT / "stack", root / "stack", ignore=shutil.ignore_patterns("__pycache__", "chorus"))
    shutil.copy(ROOT / "mkdocs.yml", root / "mkdocs.yml")
    (root / "runbooks").mkdir()
    return root


def outcome(root: Path) -> scenario.Outcome:
    (found,) = [s for s in scenario.load(root) if s.name == "launch-night"]
    return scenario.analyse(root, found, facts_mod.build(root))


def set_config(root: Path, old: str, new: str) -> None:
    path = root / "stack/config/chorus.yaml"
    text = path.read_text()
    assert text.count(old) == 1
    path.write_text(text.replace(old, new))


def test_launch_night_is_bounded_by_todays_caps() -> None:
    v = outcome(ROOT).values
    assert v["admitted"] <= v["session_cap"] <= v["edge_capacity"]
    assert v["admitted"] + v["never_admitted"] == v["websocket_listeners"]
    assert v["hls_listeners"] + v["websocket_listeners"] == v["listeners"]
    assert v["t_shed_rate_s"] <= v["t_session_cap_s"]
    assert v["t_shed_rate_s"] < v["t_alert_shedding_s"]  # the shedding alert pages while the crowd arrives


def test_alerts_fire_their_for_duration_after_the_condition_starts() -> None:
    facts = facts_mod.build(ROOT)
    v = outcome(ROOT).values
    shed_for = facts.get("alert.ChorusJoinShedding.for").seconds  # type: ignore[union-attr]
    cap_for = facts.get("alert.ChorusFanoutNearCap.for").seconds  # type: ignore[union-attr]
    assert v["t_alert_near_cap_s"] == v["t_near_cap_s"] + cap_for
    assert v["t_shed_rate_s"] + shed_for <= v["t_alert_shedding_s"] <= v["t_shed_rate_s"] + shed_for + 5


def test_a_larger_session_cap_admits_more_and_a_larger_hls_share_sends_fewer_to_the_live_path(tmp_path: Path) -> None:
    base = outcome(ROOT).values
    root = tree(tmp_path)
    set_config(root, "  max_sessions: 10000\n", "  max_sessions: 20000\n")
    assert outcome(root).values["session_cap"] == 2 * base["session_cap"]
    set_config(root, "  hls_share: 0.5\n", "  hls_share: 0.9\n")
    assert outcome(root).values["websocket_listeners"] < base["websocket_listeners"]


def test_events_are_in_time_order_and_alert_events_name_their_alert() -> None:
    events = outcome(ROOT).events
    assert [e.t for e in events] == sorted(e.t for e in events)
    assert {e.alert for e in events if e.alert} == {"ChorusJoinShedding", "ChorusFanoutNearCap"}


def test_a_bad_scenario_is_one_line_naming_its_file_and_line(tmp_path: Path) -> None:
    root = tree(tmp_path)
    path = root / "stack/scenarios.yaml"
    path.write_text(path.read_text().replace("    window_s: 600\n", "    window_s: soon\n"))
    with pytest.raises(HandbookError) as caught:
        scenario.load(root)
    assert str(caught.value).startswith("stack/scenarios.yaml:") and "window_s" in str(caught.value)
