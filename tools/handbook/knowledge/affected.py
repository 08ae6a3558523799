"""Change-triggered review: the pages that refer to something changed in `stack/` since a revision.

The stack's subjects (`handbook.knowledge.subjects`) are read twice - from the working tree and
from the revision, extracted with `git archive` into a temporary folder and read by a fresh
interpreter (so the revision's own `chorus` code is imported, not today's) - and compared. Every
page's references (`handbook.knowledge.refs`) are matched against what changed; each match is a
reason: which reference, which change.

A page is *due by change* when something it refers to changed after its `last_reviewed` date:
the same comparison, from the last commit of that day.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import handbook
from handbook import facts as facts_mod
from handbook.errors import HandbookError
from handbook.knowledge import refs as refs_mod
from handbook.knowledge.history import Repo
from handbook.knowledge.review import PageReview, page_reviews, scanned
from handbook.knowledge.subjects import Change, StackSubjects, collect, diff
from handbook.project import Project

STACK = "stack"
SNAPSHOT_INPUTS = ("stack", "mkdocs.yml")
"""What a snapshot of another revision is read from."""


@dataclass(frozen=True)
class Reason:
    """Why a page is affected: one of its references, and the change it refers to.

    Attributes:
        line: The line of the reference in the page.
        how: How the page refers to it, e.g. `{@config.fanout.listener_cap}`.
        change: What changed.
    """

    line: int
    how: str
    change: Change

    def describe(self) -> str:
        """One line: `line 12: {@config.x} - config key x changed: value 5 -> 6`."""
        return f"line {self.line}: {self.how} - {self.change.describe()}"


@dataclass
class AffectedPage:
    """A page that refers to something that changed.

    Attributes:
        page: The page's review state (path, owner, dates).
        reasons: Every reference to a changed subject (one per subject, its first reference).
    """

    page: PageReview
    reasons: list[Reason] = field(default_factory=list)


@dataclass
class Comparison:
    """The outcome of comparing the stack at a revision with the working tree.

    Attributes:
        base: The revision's commit id.
        changes: Subject key to its change.
        affected: The pages referring to a changed subject, in path order.
        notes: What could not be compared, one line each.
    """

    base: str
    changes: dict[str, Change]
    affected: list[AffectedPage]
    notes: list[str] = field(default_factory=list)


def _extractor_version() -> str:
    """A digest of the code that reads subjects: a cached snapshot is only valid for the same code."""
    folder = Path(handbook.__file__).parent
    digest = hashlib.sha1()
    for name in ("knowledge/subjects.py", "facts.py", "sources.py", "yamlio.py"):
        path = folder / name
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def _reads_installed_stack(root: Path) -> bool:
    """Whether importing `chorus` in this process reads `root`'s own stack code."""
    try:
        import chorus
    except ImportError:
        return False
    return Path(chorus.__file__).resolve().parent == (root / "stack" / "chorus").resolve()


def _collect_in_subprocess(tree: Path) -> StackSubjects:
    """Read the subjects of `tree` in a fresh interpreter that imports `tree`'s own `chorus`."""
    tools = Path(handbook.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree / "stack"), str(tools)])}
    result = subprocess.run(
        [sys.executable, "-P", "-m", "handbook.knowledge.subjects", str(tree)],
        capture_output=True,
        text=True,
        cwd=tree,
        env=env,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise HandbookError(f"reading the stack of {tree.name} failed: {detail}")
    return StackSubjects.from_json(result.stdout)


def _cached_subjects(repo: Repo, name: str) -> StackSubjects | None:
    """Subjects from the cache, or `None` when absent or unreadable."""
    text = repo.read_cache(name)
    try:
        return StackSubjects.from_json(text) if text is not None else None
    except (ValueError, KeyError, TypeError):
        return None


def subjects_now(project: Project) -> StackSubjects:
    """The subjects of the working tree, cached by HEAD while `stack/` has no uncommitted change.

    Read in this process when the imported `chorus` is this checkout's, else in a fresh interpreter.
    """
    cache = project.__dict__
    if "_subjects_now" not in cache:
        root = project.root
        repo = Repo(root)
        state = repo.state()
        clean = state.has_git and not repo.git("status", "--porcelain", "--untracked-files=all", "--", STACK).strip()
        stored = f"subjects-{state.head[:16]}-{_extractor_version()}.json" if clean else None
        cached = _cached_subjects(repo, stored) if stored is not None else None
        if cached is not None:
            subjects = cached
        else:
            if _reads_installed_stack(root):
                subjects = collect(root, project.__dict__.get("_facts"))  # the run's facts, when already built
            else:
                subjects = _collect_in_subprocess(root)
            if stored is not None:
                repo.write_cache(stored, subjects.to_json())
        cache["_subjects_now"] = subjects
    return cache["_subjects_now"]


def subjects_at(repo: Repo, commit: str) -> StackSubjects:
    """The subjects of the stack at `commit`, cached by commit (and by the code that reads them)."""
    name = f"subjects-{commit[:16]}-{_extractor_version()}.json"
    cached = _cached_subjects(repo, name)
    if cached is not None:
        return cached
    with tempfile.TemporaryDirectory(prefix="handbook-rev-") as tmp:
        tree = Path(tmp)
        repo.archive(commit, tree, SNAPSHOT_INPUTS)
        subjects = _collect_in_subprocess(tree)
    repo.write_cache(name, subjects.to_json())
    return subjects


def compare(project: Project, base: str, pages: list[PageReview] | None = None) -> Comparison:
    """Compare the stack at commit `base` with the working tree, and find the pages it affects.

    Args:
        project: The checkout.
        base: A full commit id.
        pages: The pages to match (default: every page).

    Returns:
        The comparison.
    """
    repo = Repo(project.root)
    pages = page_reviews(project) if pages is None else pages
    if not repo.changed_since(base, STACK):
        return Comparison(base, {}, [])
    with ThreadPoolExecutor(1) as pool:  # the revision is read in another process meanwhile
        pending = pool.submit(subjects_at, repo, base)
        after = subjects_now(project)
        before = pending.result()
    notes = [f"{kind} did not exist at {base[:12]}: all it holds counts as added" for kind in before.absent if kind not in after.absent]
    skip = set()
    for kind in sorted(set(before.unavailable) | set(after.unavailable)):
        why = after.unavailable.get(kind) or before.unavailable.get(kind)
        side = "now" if kind in after.unavailable else f"at {base[:12]}"
        notes.append(f"{kind} not compared: unreadable {side} ({why})")
        skip.add(kind)
    if "facts" in skip:
        skip |= {"config", "alert", "metric", "service", "team", "k8s", "cli"}
    if "service" in skip:
        skip.add("team")
    changes = diff(before.snapshot, after.snapshot, skip)
    index = refs_mod.Index(after, before)
    facts = after.facts()
    affected = []
    for page in pages:
        reasons = _reasons(project, page, index, facts, changes)
        if reasons:
            affected.append(AffectedPage(page, reasons))
    return Comparison(base, changes, affected, notes)


def _page_refs(project: Project, page: PageReview, index: refs_mod.Index, facts: facts_mod.Facts) -> list[refs_mod.Ref]:
    return refs_mod.page_refs(page.rel, scanned(project, page.rel), index, facts)


def _reasons(project: Project, page: PageReview, index: refs_mod.Index, facts: facts_mod.Facts, changes: dict[str, Change]) -> list[Reason]:
    if not changes:
        return []
    reasons: dict[str, Reason] = {}
    for ref in _page_refs(project, page, index, facts):
        if ref.subject.startswith("module:"):
            covered = [changes[k] for k in sorted(changes) if k.startswith("module:") and refs_mod.refers_to(ref, k)]
            if covered and ref.subject not in reasons:
                # A package reference: one reason naming every changed file under it.
                files = tuple(a for change in covered for a in (change.aspects or ((change.key.removeprefix("module:") + " " + change.what, None, None),)))
                reasons[ref.subject] = Reason(ref.line, ref.how, Change(ref.subject, "changed", files))
        elif ref.subject in changes:
            reasons.setdefault(ref.subject, Reason(ref.line, ref.how, changes[ref.subject]))
    return sorted(reasons.values(), key=lambda r: (r.line, r.change.key))


def affected_since(project: Project, revision: str) -> Comparison:
    """`handbook affected --since REV`: the pages referring to something changed since `revision`.

    Args:
        project: The checkout.
        revision: Any git revision (branch, tag, commit, `HEAD~3`).

    Returns:
        The comparison.

    Raises:
        HandbookError: No history, or no such revision (one line).
    """
    repo = Repo(project.root)
    return compare(project, repo.resolve(revision))


@dataclass(frozen=True)
class ChangeDue:
    """A page due because something it describes changed after its last review.

    Attributes:
        since: The date of the first commit after the review that changed the stack
            (the review date itself when the change is not committed yet).
        reasons: Which references, which changes.
    """

    since: dt.date
    reasons: tuple[Reason, ...]


@dataclass
class DueByChange:
    """For every page, whether something it describes changed after its `last_reviewed`.

    Attributes:
        pages: Page path to why it is due (pages not due are absent).
        note: Why this could not be computed (no history...), or `None`.
    """

    pages: dict[str, ChangeDue] = field(default_factory=dict)
    note: str | None = None


def due_by_change(project: Project) -> DueByChange:
    """Which pages describe something that changed after their last review.

    Pages reviewed on the same day share one comparison, from the last commit of that day.

    Args:
        project: The checkout.

    Returns:
        The pages due by change; without history, none and a note.
    """
    cache = project.__dict__
    if "_due_by_change" in cache:
        return cache["_due_by_change"]
    repo = Repo(project.root)
    state = repo.state()
    result = DueByChange(note=state.note())
    if not state.has_git:
        cache["_due_by_change"] = result
        return result
    by_base: dict[str, list[PageReview]] = {}
    for page in page_reviews(project):
        if page.last_reviewed is None:
            continue
        base = repo.commit_before(page.last_reviewed) or repo.first_commit()
        if base:
            by_base.setdefault(base, []).append(page)
    notes = []
    for base, pages in by_base.items():
        try:
            comparison = compare(project, base, pages)
        except HandbookError as exc:
            notes.append(str(exc))
            continue
        notes.extend(n for n in comparison.notes if "not compared" in n)  # a source absent back then is no problem
        if comparison.affected:
            since = repo.first_change_after(base, STACK)
            for item in comparison.affected:
                when = since or item.page.last_reviewed
                assert when is not None
                result.pages[item.page.rel] = ChangeDue(max(when, item.page.last_reviewed or when), tuple(item.reasons))
    if notes and result.note is None:
        result.note = "; ".join(dict.fromkeys(notes))
    cache["_due_by_change"] = result
    return result
