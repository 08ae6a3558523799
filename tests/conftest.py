"""Shared fixtures: the real tree, and a site built from it once per test session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
BIN = Path(sys.executable).parent


def mkdocs_env() -> dict[str, str]:
    """The environment for running MkDocs quietly in tests."""
    return {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}


@pytest.fixture(scope="session")
def root() -> Path:
    """The root of the real handbook tree."""
    return ROOT


def build_site(site: Path, **env: str) -> Path:
    """Build the real site with `mkdocs build --strict` into `site` (extra environment variables set)."""
    result = subprocess.run(
        [str(BIN / "mkdocs"), "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env={**mkdocs_env(), **env},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    return site


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the real site with `mkdocs build --strict` into a temporary folder."""
    return build_site(tmp_path_factory.mktemp("site"))


@pytest.fixture(scope="session")
def offline_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the offline edition (what `make offline` builds: opens from disk, search included)."""
    return build_site(tmp_path_factory.mktemp("offline"), HANDBOOK_OFFLINE="true")
