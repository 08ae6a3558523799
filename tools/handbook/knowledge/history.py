"""Git history for the knowledge reports: what the repository knows, read in few batched calls.

- `Repo.state()`: whether there is history at all, and whether the clone is shallow;
- `Repo.log(since)`: one `git log --numstat` over a window: who touched which file, when;
- `Repo.blame(paths)`: one `git blame --porcelain` per file (run a few at a time), lines per author;
- `Repo.commit_before(date)`, `Repo.archive(commit, dest)`: the tree as it was at a date or commit.

Results that only depend on a commit are cached under `.cache/knowledge/`, keyed by the commit
(a blame by the file's blob id), so a second run on the same HEAD reads them back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import subprocess
import tarfile
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from handbook.diagrams.gitrev import GitError, git

CACHE_DIR = Path(".cache/knowledge")
BLAME_WORKERS = 4


@dataclass(frozen=True)
class RepoState:
    """What history is available.

    Attributes:
        has_git: Whether the folder is inside a git repository with at least one commit.
        shallow: Whether the clone is shallow (history is cut off).
        head: The HEAD commit id, or `""`.
        commits: How many commits are reachable from HEAD.
        first_date: The date of the oldest reachable commit, or `None`.
    """

    has_git: bool
    shallow: bool = False
    head: str = ""
    commits: int = 0
    first_date: dt.date | None = None

    def note(self) -> str | None:
        """A one-line note for reports when history is missing or cut off, else `None`."""
        if not self.has_git:
            return "no git history here (not a clone, or no commit yet): authorship, bus factor and change-triggered review cannot be computed"
        if self.shallow:
            since = f" (since {self.first_date})" if self.first_date else ""
            return (
                f"shallow clone: only {self.commits} commit(s) of history{since}; authors and bus factor count only "
                "those - run `git fetch --unshallow` for the full picture"
            )
        return None


@dataclass(frozen=True)
class FileChange:
    """One file touched by one commit (from `git log --numstat`).

    Attributes:
        commit: The commit id.
        author: The author's name.
        date: The author date.
        path: The file, relative to the repository root.
        added: Lines added (0 for a binary file).
        deleted: Lines deleted.
    """

    commit: str
    author: str
    date: dt.date
    path: str
    added: int
    deleted: int


@dataclass
class Blame:
    """Current lines of one file by author (from `git blame --porcelain`).

    Attributes:
        path: The file.
        lines: Author name to how many of the file's current lines they last wrote.
    """

    path: str
    lines: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        """The file's line count."""
        return sum(self.lines.values())


class Repo:
    """A git repository seen from a handbook checkout.

    Args:
        root: The handbook's root folder (the repository may start higher up).
        progress: Called with a one-line message before long work (e.g. printing to stderr).
    """

    progress: Callable[[str], None] | None = None

    def __init__(self, root: Path, progress: Callable[[str], None] | None = None) -> None:
        self.root = root
        self.progress = progress
        self._state: RepoState | None = None
        self._top: Path | None = None

    def git(self, *args: str) -> str:
        """Run git in the checkout and return its output (`GitError` with git's first error line)."""
        return git(self.root, *args)

    def state(self) -> RepoState:
        """What history is available (computed once)."""
        if self._state is None:
            try:
                out = self.git("rev-parse", "--show-toplevel", "--is-shallow-repository", "HEAD").split()
            except GitError:
                self._state = RepoState(False)
                return self._state
            self._top = Path(out[0])
            count = int(self.git("rev-list", "--count", "HEAD").strip() or 0)
            first = self.git("log", "--max-parents=0", "--format=%cs", "HEAD").split()
            first_date = min(dt.date.fromisoformat(d) for d in first) if first else None
            if out[1] == "true":
                boundary = self.git("log", "--format=%cs", "--reverse", "HEAD").split()
                first_date = dt.date.fromisoformat(boundary[0]) if boundary else first_date
            self._state = RepoState(True, out[1] == "true", out[2], count, first_date)
        return self._state

    @property
    def prefix(self) -> str:
        """The handbook root's path inside the repository (`""` when they are the same, or outside git).

        Asks git one question (the top-level folder, and `HEAD`, which fails in a repository
        without commits exactly as `state()` does), not for the whole `state()`.
        """
        if self._top is None and self._state is None:
            try:
                self._top = Path(self.git("rev-parse", "--show-toplevel", "HEAD").split("\n")[0].strip())
            except GitError:
                return ""
        if self._top is None:
            return ""
        rel = self.root.resolve().relative_to(self._top.resolve()).as_posix()
        return "" if rel == "." else rel + "/"

    def cache_path(self, name: str) -> Path:
        """A file under the cache folder (created on demand)."""
        folder = self.root / CACHE_DIR
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name

    def read_cache(self, name: str) -> str | None:
        """A cached file's text, or `None` when absent or unreadable (the caller recomputes)."""
        try:
            return self.cache_path(name).read_text(encoding="utf-8")
        except OSError:
            return None

    def write_cache(self, name: str, text: str) -> None:
        """Write a cache file atomically (a concurrent reader sees the old file or the new one, whole)."""
        path = self.cache_path(name)
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            partial.write_text(text, encoding="utf-8")
            partial.replace(path)
        except OSError:
            partial.unlink(missing_ok=True)  # a cache that cannot be written only costs time

    # --- log ----------------------------------------------------------------------------------

    def log(self, since: dt.date | None = None, paths: Iterable[str] = ()) -> list[FileChange]:
        """Every file change reachable from HEAD, newest first, in one `git log --numstat`.

        Args:
            since: Only commits authored on or after this date; `None` for all history.
            paths: Limit to these paths (relative to the handbook root); empty for all.

        Returns:
            The changes, paths relative to the handbook root.
        """
        state = self.state()
        if not state.has_git:
            return []
        key = hashlib.sha1(f"{state.head}|{since}|{sorted(paths)}".encode()).hexdigest()[:16]
        name = f"log-{key}.json"
        text = self.read_cache(name)
        if text is not None:
            try:
                return [FileChange(c[0], c[1], dt.date.fromisoformat(c[2]), *c[3:]) for c in json.loads(text)]
            except (ValueError, TypeError, IndexError):
                pass
        args = ["log", "--numstat", "--no-renames", "--format=%x00%H%x09%aN%x09%as", "HEAD"]
        if since is not None:
            args.insert(1, f"--since={since.isoformat()}")
        args += ["--", *paths] if paths else []
        changes = parse_numstat(self.git(*args), self.prefix)
        self.write_cache(name, json.dumps([[c.commit, c.author, c.date.isoformat(), c.path, c.added, c.deleted] for c in changes]))
        return changes

    # --- blame --------------------------------------------------------------------------------

    def blob_ids(self, paths: list[str]) -> dict[str, str]:
        """The blob id of each path at HEAD (paths relative to the handbook root; absent ones left out)."""
        if not paths:
            return {}
        out = self.git("ls-tree", "-r", "--full-tree", "HEAD", "--", *(self.prefix + p for p in paths))
        found = {}
        for line in out.splitlines():
            meta, _, path = line.partition("\t")
            found[path.removeprefix(self.prefix)] = meta.split()[2]
        return found

    def blame(self, paths: list[str]) -> dict[str, Blame]:
        """Current lines by author of each file at HEAD, one `git blame --porcelain` per file.

        Files are blamed a few at a time; each result is cached by the file's blob id.

        Args:
            paths: Files relative to the handbook root.

        Returns:
            Path to its blame (files not in HEAD are left out).
        """
        if not self.state().has_git:
            return {}
        blobs = self.blob_ids(paths)
        try:
            store: dict[str, dict[str, int]] = json.loads(self.read_cache("blame.json") or "{}")
        except ValueError:
            store = {}
        result: dict[str, Blame] = {}
        todo = []
        for path, blob in blobs.items():
            key = f"{path}@{blob}"
            if key in store:
                result[path] = Blame(path, Counter(store[key]))
            else:
                todo.append(path)
        if todo:
            if self.progress is not None and len(todo) > 20:
                self.progress(f"git blame of {len(todo)} file(s) not blamed before (cached by content afterwards)...")
            self._commit_graph()
            with ThreadPoolExecutor(BLAME_WORKERS) as pool:
                for blame in pool.map(self._blame_one, todo):
                    result[blame.path] = blame
                    store[f"{blame.path}@{blobs[blame.path]}"] = dict(blame.lines)
            live = {f"{p}@{b}" for p, b in blobs.items()}
            store = {k: v for k, v in store.items() if k in live or k.split("@", 1)[0] not in blobs}
            self.write_cache("blame.json", json.dumps(store))
        return result

    def _commit_graph(self) -> None:
        """Make sure git's commit-graph, with changed-path Bloom filters, covers HEAD (once per HEAD).

        This is git's own performance file (`git maintenance` writes the same): a blame then skips
        the commits that did not touch its file without reading their trees - about five times less
        work per file on a long history. Written incrementally (`--split`); a failure only costs time.
        """
        marker = f"commit-graph-{self.state().head[:16]}"
        if self.read_cache(marker) is not None or self.state().shallow:
            return
        try:
            self.git("commit-graph", "write", "--reachable", "--changed-paths", "--split")
        except GitError:
            return
        self.write_cache(marker, "written\n")

    def _blame_one(self, path: str) -> Blame:
        try:
            out = self.git("blame", "--porcelain", "HEAD", "--", self.prefix + path)
        except GitError:
            return Blame(path)
        return Blame(path, parse_porcelain(out))

    # --- trees at other revisions ---------------------------------------------------------------

    def commit_before(self, day: dt.date) -> str | None:
        """The last commit on HEAD's history made on or before `day` (end of day, UTC), or `None`."""
        if not self.state().has_git:
            return None
        out = self.git("rev-list", "-1", f"--before={day.isoformat()}T23:59:59Z", "HEAD").strip()
        return out or None

    def first_commit(self) -> str | None:
        """The oldest commit reachable from HEAD (the shallow boundary in a shallow clone)."""
        if not self.state().has_git:
            return None
        out = self.git("rev-list", "--reverse", "HEAD").split()
        return out[0] if out else None

    def changed_since(self, commit: str, path: str) -> bool:
        """Whether `path` (relative to the handbook root) differs between `commit` and the working tree."""
        result = subprocess.run(
            ["git", "-C", str(self.root), "diff", "--quiet", commit, "--", path], capture_output=True, timeout=120
        )
        return result.returncode != 0

    def first_change_after(self, commit: str, path: str) -> dt.date | None:
        """The date of the first commit after `commit` that touched `path`, or `None` (uncommitted only)."""
        out = self.git("log", "--reverse", "--format=%cs", f"{commit}..HEAD", "--", path).split()
        return dt.date.fromisoformat(out[0]) if out else None

    def archive(self, commit: str, dest: Path, paths: Iterable[str]) -> None:
        """Extract `paths` (relative to the handbook root) as they were at `commit` into `dest`."""
        wanted = [self.prefix + p for p in paths]
        present = self.git("ls-tree", "--name-only", "--full-tree", commit, "--", *wanted).split()
        if not present:
            return
        data = subprocess.run(
            ["git", "-C", str(self.root), "archive", "--format=tar", commit, "--", *present],
            capture_output=True,
            timeout=300,
            check=False,
        )
        if data.returncode != 0:
            raise GitError(f"git archive failed: {data.stderr.decode(errors='replace').strip().splitlines()[0]}")
        with tarfile.open(fileobj=io.BytesIO(data.stdout)) as tar:
            members = [m for m in tar.getmembers() if m.isfile() or m.isdir()]
            for member in members:
                member.name = member.name.removeprefix(self.prefix)
            tar.extractall(dest, members=members, filter="data")

    def resolve(self, revision: str) -> str:
        """The full commit id of `revision` (`GitError` naming it when there is no such commit)."""
        if not self.state().has_git:
            raise GitError(f"{self.root} has no git history: `--since` needs a clone with history")
        if revision.startswith("-"):
            raise GitError(f"bad revision {revision!r}: revisions cannot start with '-'")
        try:
            return self.git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}").strip()
        except GitError:
            shallow = " (this clone is shallow: `git fetch --unshallow`)" if self.state().shallow else ""
            raise GitError(f"bad revision {revision!r}: no such commit{shallow}") from None


def parse_numstat(output: str, prefix: str = "") -> list[FileChange]:
    """Parse `git log --numstat --format=%x00%H%x09%aN%x09%as` output.

    Args:
        output: git's output.
        prefix: The handbook root inside the repository; other paths are dropped, this prefix removed.

    Returns:
        One change per file per commit.
    """
    changes: list[FileChange] = []
    for record in output.split("\x00"):
        lines = record.strip("\n").splitlines()
        if not lines:
            continue
        commit, author, date = lines[0].split("\t", 2)
        day = dt.date.fromisoformat(date)
        for line in lines[1:]:
            parts = line.split("\t", 2)
            if len(parts) != 3 or not parts[2].startswith(prefix):
                continue
            added = int(parts[0]) if parts[0].isdigit() else 0
            deleted = int(parts[1]) if parts[1].isdigit() else 0
            changes.append(FileChange(commit, author, day, parts[2].removeprefix(prefix), added, deleted))
    return changes


def parse_porcelain(output: str) -> Counter[str]:
    """Lines per author from `git blame --porcelain` output.

    Args:
        output: git's output.

    Returns:
        Author name to line count.
    """
    authors: dict[str, str] = {}
    lines: Counter[str] = Counter()
    current = ""
    expect_header = True
    for line in output.split("\n"):
        if expect_header:
            parts = line.split(" ")
            if len(parts) >= 3 and len(parts[0]) >= 40:
                current = parts[0]
                expect_header = False
            continue
        if line.startswith("\t"):
            lines[authors.get(current, "unknown")] += 1
            expect_header = True
        elif line.startswith("author "):
            authors[current] = line[len("author ") :]
    return lines
