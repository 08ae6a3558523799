"""Git for the diagram review: find the repository, resolve revisions, check them out side by side.

Both revisions are checked out into temporary worktrees (`git worktree add
--detach`), which share the repository's objects, leave the caller's checkout
untouched and are removed afterwards, even on failure.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from handbook.errors import HandbookError


class GitError(HandbookError):
    """Git could not do what the review needs (not a repository, unknown revision...)."""


def git(repo: Path, *args: str) -> str:
    """Run `git -C repo ARGS` and return its standard output.

    Raises:
        GitError: git is missing or the command failed (with git's own first error line).
    """
    try:
        result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=300)
    except OSError as exc:
        raise GitError(f"cannot run git ({exc.strerror}): install git") from None
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[0]
        raise GitError(f"git {args[0]} failed: {detail}")
    return result.stdout


def toplevel(folder: Path) -> Path:
    """The root of the git repository holding `folder`.

    Raises:
        GitError: `folder` is not inside a git repository.
    """
    try:
        return Path(git(folder, "rev-parse", "--show-toplevel").strip()).resolve()
    except GitError:
        raise GitError(f"{folder} is not inside a git repository: run in a clone or pass --root") from None


def resolve(repo: Path, revision: str) -> str:
    """The full commit id `revision` names.

    Raises:
        GitError: No such commit (names the revision).
    """
    if revision.startswith("-"):
        raise GitError(f"bad revision {revision!r}: revisions cannot start with '-'")
    try:
        return git(repo, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}").strip()
    except GitError:
        raise GitError(f"bad revision {revision!r}: no such commit in {repo} (fetch it, or check the name)") from None


def changed_files(repo: Path, base: str, head: str, paths: list[str]) -> list[str]:
    """Files under `paths` that differ between two commits, relative to the repository root."""
    output = git(repo, "diff", "--name-only", "--no-renames", base, head, "--", *paths)
    return [line for line in output.splitlines() if line]


def files_at(repo: Path, commit: str, folder: str) -> list[str]:
    """Files under `folder` in a commit, relative to the repository root."""
    output = git(repo, "ls-tree", "-r", "--name-only", commit, "--", folder)
    return [line for line in output.splitlines() if line]


@contextmanager
def worktree(repo: Path, commit: str) -> Iterator[Path]:
    """Check `commit` out into a temporary worktree for the duration of the block.

    Args:
        repo: The repository.
        commit: A commit id.

    Yields:
        The worktree's root folder.
    """
    holder = Path(tempfile.mkdtemp(prefix="handbook-review-"))
    path = holder / commit[:12]
    try:
        git(repo, "worktree", "add", "--detach", "--quiet", str(path), commit)
        yield path
    finally:
        try:
            git(repo, "worktree", "remove", "--force", str(path))
        except GitError:
            pass
        shutil.rmtree(holder, ignore_errors=True)
        try:
            git(repo, "worktree", "prune")
        except GitError:
            pass
