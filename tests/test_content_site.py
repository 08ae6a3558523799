"""The content pages as built: glossary tooltips, decision records, the launch-night analysis, on-call, SLOs.

Reads the HTML of the site built once per session (`built_site`) with the
standard library's parser: what a reader's browser gets.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path

from conftest import ROOT
from handbook import facts as facts_mod
from handbook import glossary
from handbook.decisions import records
from handbook.project import Project


class Elements(HTMLParser):
    """Collects every element with its attributes and the tags it sits inside."""

    VOID = frozenset({"br", "img", "input", "meta", "link", "hr", "source", "col", "wbr", "area", "base"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.found: list[tuple[str, dict[str, str], tuple[str, ...]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {k: v or "" for k, v in attrs}, tuple(self.stack)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.stack:
            del self.stack[len(self.stack) - 1 - self.stack[::-1].index(tag):]


def parse(page: Path) -> Elements:
    parser = Elements()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def page(site: Path, uri: str) -> Path:
    return site / uri / "index.html"


def test_glossary_terms_are_tooltips_on_a_built_page(built_site: Path) -> None:
    terms, _ = glossary.load(ROOT)
    definitions = {t.definition for t in terms}
    abbrs = [attrs["title"] for tag, attrs, _ in parse(page(built_site, "runbooks/fanout-near-cap")).found if tag == "abbr"]
    assert len(abbrs) > 10 and set(abbrs) <= definitions
    edge = next(t for t in terms if t.term == "edge")
    assert edge.definition in abbrs


def test_tooltips_stay_out_of_code_and_keep_heading_anchors_and_live_values(built_site: Path) -> None:
    for uri in ("runbooks/fanout-near-cap", "architecture/media-path", "incidents/launch-night", "start/on-call"):
        elements = parse(page(built_site, uri)).found
        inside_code = [attrs["title"][:30] for tag, attrs, parents in elements if tag == "abbr" and {"code", "pre"} & set(parents)]
        assert inside_code == [], f"{uri}: tooltips inside code: {inside_code}"
    media = page(built_site, "architecture/media-path").read_text()
    # The heading holds tooltips, and its id is still the slug of its plain text (links to it keep working).
    assert re.search(r'<h2 id="hls-the-packager-and-the-cdn"><abbr title="HTTP Live Streaming', media)
    near_cap = page(built_site, "runbooks/fanout-near-cap").read_text()
    cap = facts_mod.build(ROOT).get("config.fanout.listener_cap")
    assert cap is not None
    assert f'title="config.fanout.listener_cap">{cap.text}</a>' in near_cap


def test_glossary_page_links_every_term_to_where_it_is_explained(built_site: Path) -> None:
    terms, _ = glossary.load(ROOT)
    text = page(built_site, "reference/glossary").read_text()
    for term in terms:
        assert f'<dt id="{term.anchor}">' in text, term.term
    assert text.count("Explained here</a>") == len(terms)


def test_decision_index_lists_every_record_with_its_status(built_site: Path) -> None:
    text = html.unescape(page(built_site, "decisions").read_text())
    found = records(Project(ROOT))
    assert len(found) >= 10
    for record in found:
        row = re.search(rf'href="{re.escape(record.rel.stem)}/">.*?</a></td>\s*<td>([a-z]+)', text)
        assert row and row.group(1) == record.status, record.rel


def test_a_record_links_what_it_governs(built_site: Path) -> None:
    text = page(built_site, "decisions/0004-shed-with-retry-after").read_text()
    assert 'href="../../reference/config/#gateway.join_rate_per_s"' in text
    assert 'href="../../runbooks/join-shedding/"' in text
    assert 'href="../../reference/alerts/#chorusjoinshedding"' in text
    assert "chorus.gateway.admission.Admission" in text and 'href="../../reference/api/chorus/gateway/admission/' in text


def test_launch_night_numbers_come_from_the_analysis(built_site: Path) -> None:
    facts = facts_mod.build(ROOT)
    text = page(built_site, "incidents/launch-night").read_text()
    for name in ("admitted", "never_admitted", "hls_listeners", "edges_needed", "sessions_needed"):
        fact = facts.get(f"scenario.launch-night.{name}")
        assert fact is not None and fact.text in text, name
    shedding = facts.get("scenario.launch-night.t_alert_shedding_s")
    assert shedding is not None
    minutes, seconds = divmod(int(shedding.text.replace(",", "")), 60)
    assert re.search(rf"<td>\+{minutes}:{seconds:02d}</td>.*?ChorusJoinShedding", text, re.DOTALL)
    assert "<strong>open</strong>" in text and "<strong>done</strong>" in text


def test_component_pages_show_their_slos_and_protecting_alerts(built_site: Path) -> None:
    text = page(built_site, "components/packager").read_text()
    assert 'id="service-level-objectives"' in text and "HLS freshness" in text
    assert 'href="../../reference/alerts/#chorushlsplayliststale"' in text


def test_on_call_page_shows_teams_access_and_escalation(built_site: Path) -> None:
    text = page(built_site, "start/on-call").read_text()
    assert "chorus-control-plane-primary" in text and "chorus-media-primary" in text
    assert "app.kubernetes.io/name=chorus-fanout-edge" in text
    assert "<dt><code>critical</code></dt>" in text and "<dt><code>warning</code></dt>" in text


def test_runbooks_index_owner_is_the_alerts_team(built_site: Path) -> None:
    text = page(built_site, "runbooks").read_text()
    row = re.search(r"chorusgatewayeventlooplag.*?</tr>", text, re.DOTALL)
    assert row and "<code>control-plane</code>" in row.group(0) and "<code>media</code>" not in row.group(0)
