"""`handbook drill --rewrite`: live output becomes the sample a reader would see, and only real changes show in the diff."""

from __future__ import annotations

from pathlib import Path

import pytest

from handbook import facts as facts_mod
from handbook.drill.rewrite import apply_rewrites, default_ports, new_sample, port_map
from handbook.drill.spec import MarkerError, parse_marker
from handbook.facts import Facts
from handbook.project import Project
from handbook.shellcmd import substitute

PORTS = {"44413": "8080", "45001": "8091"}


@pytest.fixture(scope="module")
def facts() -> Facts:
    """The real tree's facts (the reader's configuration)."""
    return facts_mod.build(Project.find().root)


@pytest.mark.parametrize(("live", "written"), [
    ("gateway  http://127.0.0.1:44413  ready", "gateway  http://127.0.0.1:8080  ready"),
    ("curl: (7) Failed to connect to 127.0.0.1 port 44413 after 0 ms: Couldn't connect to server",
     "curl: (7) Failed to connect to 127.0.0.1 port 8080 after 0 ms: Couldn't connect to server"),
    ("fanout-1  origin  ws://127.0.0.1:45001", "fanout-1  origin  ws://127.0.0.1:8091"),
    ("listeners 44413 on port 9", "listeners 44413 on port 9"),  # a count is not a port
])
def test_the_drills_ports_are_written_as_the_configured_ones(live: str, written: str) -> None:
    assert default_ports(live, PORTS) == written


def test_a_line_that_differs_only_in_ids_clocks_and_uptimes_keeps_the_samples(facts: Facts) -> None:
    old = ["gateway  http://127.0.0.1:8080  ready  up 31 s",
           "ts=2026-11-26T00:57:16.190Z level=warning node=fanout-1 space=sp-b6fd4ce3 event=token_refused",
           "sessions 1 host, 0 speaker, 18 listener (cap 10000)"]
    live = ["gateway  http://127.0.0.1:8080  ready  up 7 s",
            "ts=2026-11-30T14:12:01.003Z level=warning node=fanout-1 space=sp-0a1b2c3d event=token_refused",
            "sessions 1 host, 0 speaker, 18 listener (cap 20000)"]
    assert new_sample(live, old, facts) == [old[0], old[1], live[2]], "only the cap really changed"
    assert new_sample(["gateway: started (pid 29098), waiting until ready", "chorus-instance: up-28654-45ee61de/gateway/1",
                       'age{space="sp-e272ce04"} 1.9590488120011287'],
                      ["gateway: started (pid 52160), waiting until ready", "chorus-instance: up-32085-32ad909e/gateway/1",
                       'age{space="sp-be62eea1"} 1.4656439380000847'], facts) == [
        "gateway: started (pid 52160), waiting until ready", "chorus-instance: up-32085-32ad909e/gateway/1",
        'age{space="sp-be62eea1"} 1.4656439380000847']


def test_rows_that_moved_keep_their_sample_and_new_rows_come_in_as_printed(facts: Facts) -> None:
    old = ["edge-1  accepting  up 3 s", "edge-2  accepting  up 3 s"]
    live = ["edge-2  accepting  up 9 s", "edge-3  accepting  up 9 s", "edge-1  accepting  up 9 s"]
    assert new_sample(live, old, facts) == ["edge-2  accepting  up 3 s", "edge-3  accepting  up 9 s", "edge-1  accepting  up 3 s"]


def test_apply_rewrites_changes_only_the_sample_lines_and_keeps_their_indent(tmp_path: Path) -> None:
    page = tmp_path / "runbook.md"
    page.write_text("1. Step\n\n    ```console\n    $ chorusctl status\n    old line\n    ```\n", encoding="utf-8")
    assert apply_rewrites(page, [(5, 5, ["new line", "second line"])]) == 1
    assert page.read_text(encoding="utf-8") == ("1. Step\n\n    ```console\n    $ chorusctl status\n"
                                                "    new line\n    second line\n    ```\n")


def test_a_kept_sample_says_why() -> None:
    with pytest.raises(MarkerError, match="keep"):
        parse_marker('<!-- drill: step keep exit=any -->', 3)
    marker = parse_marker('<!-- drill: step keep exit=any reason="the drill moves the ports" -->', 3)
    assert marker is not None and "keep" in marker.flags


def test_a_line_the_sample_says_with_live_values_keeps_them(facts: Facts) -> None:
    old = ["error: at least {@config.gateway.token.min_key_bytes} bytes, e.g. `openssl rand -hex 32`"]
    rendered = [substitute(old[0], facts)]
    assert rendered == ["error: at least 32 bytes, e.g. `openssl rand -hex 32`"]
    assert new_sample(rendered, old, facts) == old, "the 32 of `-hex 32` is not made a live value"


def test_a_sample_cut_short_keeps_its_cut(facts: Facts) -> None:
    old = ["gateway:", "  host: 127.0.0.1", "  port: 8080", "..."]
    live = ["gateway:", "  host: 127.0.0.1", "  port: 8081", "  join_rate_per_s: 200.0", "fanout:", "  port: 8091"]
    assert new_sample(live, old, facts) == ["gateway:", "  host: 127.0.0.1", "  port: 8081", "..."]
    assert default_ports("  port: 44413", PORTS) == "  port: 8080"


def test_an_edges_port_maps_to_the_readers_edge_whatever_the_origin_counts(facts: Facts) -> None:
    port, nodes = facts.get("config.fanout.port"), facts.get("config.fanout.nodes")
    assert port is not None and nodes is not None
    reader_port, reader_nodes = int(port.value), int(nodes.value)
    ports = port_map(facts, {"fanout.port": 41000}, nodes=1, edges=2)
    assert ports["41000"] == str(reader_port), "origin 1"
    assert ports["41001"] == str(reader_port + reader_nodes), "edge 1 sits after the reader's origins"
    assert ports["41002"] == str(reader_port + reader_nodes + 1)
