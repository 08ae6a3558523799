"""`handbook diagrams diff BASE [HEAD]`: what a change does to each diagram, for a reviewer.

For each diagram whose source or inputs (the catalog, the Kubernetes manifests)
differ between the two commits, both sides are checked out into temporary
worktrees and rendered (through the same sandbox and cache as the site build),
their graphs are compared, and the output folder receives, per changed diagram,
`NAME/before.png`, `NAME/after.png` and `NAME/overlay.png`, plus `summary.md`
and a self-contained `index.html` (see `handbook.diagrams.report`).

Both sides are drawn by the handbook tooling that runs the review, so the
comparison shows what the sources and inputs changed, not differences between
two versions of the tooling.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from handbook import sources
from handbook.diagrams import gitrev
from handbook.diagrams.cache import CACHE_DIR
from handbook.diagrams.diff import Change, diff_graphs
from handbook.diagrams.model import SourceError
from handbook.diagrams.overlay import render_overlay
from handbook.diagrams.render import DIAGRAMS_DIR, Rendered, render_all
from handbook.errors import HandbookError

MARKER = ".handbook-diagram-diff"
INPUTS = (DIAGRAMS_DIR.as_posix(), sources.CATALOG.as_posix(), sources.KUBERNETES_DIR.as_posix())


@dataclass(frozen=True)
class Side:
    """One end of the comparison.

    Attributes:
        revision: As the user wrote it, e.g. `main`.
        commit: The full commit id.
    """

    revision: str
    commit: str

    @property
    def short(self) -> str:
        """`main (abc1234)`, or just the short id when the revision is the id."""
        short = self.commit[:7]
        return short if self.commit.startswith(self.revision) else f"{self.revision} ({short})"


@dataclass
class DiagramReview:
    """One diagram whose source or inputs changed.

    Attributes:
        source: Its source, relative to the handbook root.
        before: Its rendering at BASE (`None` when it did not exist).
        after: Its rendering at HEAD (`None` when it was deleted).
        changes: What changed in what it draws.
        images: Written images by role (`before`, `after`, `overlay`), relative to the output folder.
    """

    source: Path
    before: Rendered | None
    after: Rendered | None
    changes: list[Change] = field(default_factory=list)
    images: dict[str, PurePosixPath] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The diagram's name, e.g. `containers`."""
        return self.source.stem

    @property
    def errors(self) -> list[tuple[str, SourceError]]:
        """`(side, error)` for each side that failed to render."""
        return [
            (side, result.error)
            for side, result in (("base", self.before), ("head", self.after))
            if result is not None and result.error is not None
        ]

    @property
    def status(self) -> str:
        """`failed`, `added` (new diagram), `removed`, `changed` or `unchanged` (re-rendered, same drawing)."""
        if self.errors:
            return "failed"
        if self.before is None:
            return "added"
        if self.after is None:
            return "removed"
        return "changed" if self.changes else "unchanged"


@dataclass
class Review:
    """The outcome of one diagram review.

    Attributes:
        base: The old side.
        head: The new side.
        diagrams: Every diagram whose source or inputs changed, in name order.
        out: The output folder.
    """

    base: Side
    head: Side
    diagrams: list[DiagramReview]
    out: Path

    @property
    def changed(self) -> list[DiagramReview]:
        """Diagrams that draw something different, or that failed on a side."""
        return [d for d in self.diagrams if d.status != "unchanged"]

    @property
    def unchanged(self) -> list[DiagramReview]:
        """Diagrams whose inputs changed but which draw the same graph."""
        return [d for d in self.diagrams if d.status == "unchanged"]

    @property
    def failed(self) -> list[DiagramReview]:
        """Diagrams that could not be rendered on a side."""
        return [d for d in self.diagrams if d.status == "failed"]


def prepare_output(out: Path) -> None:
    """Empty the output folder, refusing to touch a non-empty folder that is not an earlier diff.

    Raises:
        HandbookError: `out` is a file, or a non-empty folder without the diff marker.
    """
    if out.exists() and not out.is_dir():
        raise HandbookError(f"output {out} is a file: pass a folder to --out")
    if out.is_dir() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise HandbookError(f"output folder {out} is not empty and holds no earlier diagram diff: choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by `handbook diagrams diff`; the folder is emptied on the next run\n")


def _diagram_files(names: list[str], prefix: str) -> set[str]:
    """Diagram sources (`diagrams/NAME.py`, not `_*.py`) among repository paths, relative to the handbook."""
    found: set[str] = set()
    for name in names:
        rel = PurePosixPath(name[len(prefix) :] if prefix and name.startswith(prefix) else name)
        if rel.parent == PurePosixPath(DIAGRAMS_DIR.as_posix()) and rel.suffix == ".py" and not rel.name.startswith("_"):
            found.add(rel.as_posix())
    return found


def candidates(repo: Path, prefix: str, base: str, head: str) -> list[str]:
    """The diagram sources whose source or inputs differ between two commits.

    Args:
        repo: The repository root.
        prefix: The handbook's folder inside the repository, `""` or ending in `/`.
        base: Old commit.
        head: New commit.

    Returns:
        Sources relative to the handbook root, sorted; all diagrams when an input changed.
    """
    changed = gitrev.changed_files(repo, base, head, [prefix + path for path in INPUTS])
    sources_changed = _diagram_files(changed, prefix)
    inputs_changed = [c for c in changed if not c.startswith(prefix + DIAGRAMS_DIR.as_posix() + "/")]
    if inputs_changed:
        folder = prefix + DIAGRAMS_DIR.as_posix()
        everything = _diagram_files(gitrev.files_at(repo, base, folder), prefix)
        everything |= _diagram_files(gitrev.files_at(repo, head, folder), prefix)
        return sorted(everything)
    return sorted(sources_changed)


def _render_side(checkout: Path, wanted: list[str], cache_dir: Path) -> dict[str, Rendered]:
    present = [Path(s) for s in wanted if (checkout / s).is_file()]
    run = render_all(checkout, sources=present, cache_dir=cache_dir)
    return {r.source.as_posix(): r for r in run.results}


def _write_images(review: DiagramReview, out: Path) -> None:
    folder = out / review.name
    folder.mkdir(parents=True, exist_ok=True)
    for role, result in (("before", review.before), ("after", review.after)):
        if result is not None and result.image is not None:
            shutil.copyfile(result.image, folder / f"{role}.png")
            review.images[role] = PurePosixPath(review.name, f"{role}.png")
    if not review.errors:
        before = review.before.graph if review.before else None
        after = review.after.graph if review.after else None
        render_overlay(before, after, folder / "overlay.png")
        review.images["overlay"] = PurePosixPath(review.name, "overlay.png")


def run_review(root: Path, base_revision: str, head_revision: str, out: Path) -> Review:
    """Compare the diagrams of two revisions and write the review into `out`.

    Args:
        root: The handbook checkout (inside a git repository).
        base_revision: The old revision, e.g. `main` or a commit id.
        head_revision: The new revision, e.g. `HEAD`.
        out: The output folder (emptied first if it holds an earlier diff).

    Returns:
        The review; `summary.md` and `index.html` are written by the caller.

    Raises:
        GitError: Not a git repository, or a revision does not name a commit.
        HandbookError: The output folder cannot be used.
    """
    root = root.resolve()
    repo = gitrev.toplevel(root)
    prefix = root.relative_to(repo).as_posix()
    prefix = "" if prefix == "." else prefix + "/"
    base = Side(base_revision, gitrev.resolve(repo, base_revision))
    head = Side(head_revision, gitrev.resolve(repo, head_revision))
    prepare_output(out)
    wanted = candidates(repo, prefix, base.commit, head.commit)
    reviews: list[DiagramReview] = []
    if wanted:
        cache_dir = root / CACHE_DIR
        with gitrev.worktree(repo, base.commit) as old_tree, gitrev.worktree(repo, head.commit) as new_tree:
            before = _render_side(old_tree / prefix, wanted, cache_dir)
            after = _render_side(new_tree / prefix, wanted, cache_dir)
            for source in wanted:
                item = DiagramReview(Path(source), before.get(source), after.get(source))
                if not item.errors:
                    item.changes = diff_graphs(
                        item.before.graph if item.before else None, item.after.graph if item.after else None
                    )
                if item.status != "unchanged":
                    _write_images(item, out)
                reviews.append(item)
    return Review(base, head, reviews, out)
