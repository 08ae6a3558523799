"""The credentials `chorusctl` carries for a person: operator tokens and host secrets.

- **Operator token** (`operator_token_for`): signed on the spot when the signing key can be
  read (`gateway.token.key_env` or `key_file`, as on-call has it); otherwise the token a local
  `chorusctl up` wrote for its run (`write_run_token`), found by the gateway's URL.
- **Host secrets** (`HostSecrets`): the secret the gateway returns once when a space is created,
  kept per gateway and space so `chorusctl spaces end`, `promote` and `speak` (as the host) work
  from any shell afterwards.

Both live under the state directory (`state_dir`), readable by the user only.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from chorus.config import TokenConfig
from chorus.ids import is_space_id
from chorus.tokens import SigningKeyMissing, operator_token, resolve_signing_key

STATE_DIR_ENV = "CHORUS_STATE_DIR"
"""Environment variable naming the state directory (default: `$XDG_STATE_HOME/chorus`)."""

RUN_TOKEN_S = 7 * 24 * 3600.0
"""Lifetime of the operator token a local `chorusctl up` writes for its run (removed when it stops)."""


def state_dir() -> Path:
    """Where `chorusctl` keeps credentials: `$CHORUS_STATE_DIR`, else `$XDG_STATE_HOME/chorus`,
    else `~/.local/state/chorus`.

    Returns:
        The directory (not created).
    """
    named = os.environ.get(STATE_DIR_ENV)
    if named:
        return Path(named)
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "chorus"


def gateway_slug(gateway_url: str) -> str:
    """A file-name-safe form of a gateway URL, e.g. `127.0.0.1-8080` (names its credentials and its `up` control socket)."""
    address = re.sub(r"^[a-z]+://", "", gateway_url.rstrip("/"))
    return re.sub(r"[^A-Za-z0-9.-]", "-", address)


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def run_token_path(gateway_url: str) -> Path:
    """The file holding a local run's operator token.

    Args:
        gateway_url: The run's gateway URL.

    Returns:
        The path.
    """
    return state_dir() / f"operator-{gateway_slug(gateway_url)}.token"


def write_run_token(gateway_url: str, key: bytes) -> Path:
    """Write the operator token of a local run (`chorusctl up` with a generated key).

    Args:
        gateway_url: The run's gateway URL.
        key: The run's signing key.

    Returns:
        The file written.
    """
    path = run_token_path(gateway_url)
    _write_private(path, operator_token(key, "chorusctl-up", RUN_TOKEN_S))
    return path


def remove_run_token(gateway_url: str) -> None:
    """Remove a local run's operator token (the run stopped).

    Args:
        gateway_url: The run's gateway URL.
    """
    with contextlib.suppress(OSError):
        run_token_path(gateway_url).unlink()


def operator_token_for(config: TokenConfig, gateway_url: str, operator: str | None = None) -> str | None:
    """An operator token for `gateway_url`: freshly signed if the key is at hand, else the run's.

    Args:
        config: The `gateway.token` section (where the key is).
        gateway_url: The gateway the token is for.
        operator: Who operates (default: the login name).

    Returns:
        The token, or `None` when neither the key nor a run token is available.

    Raises:
        SigningKeyError: A key is configured but unusable (short, guessable, unreadable).
    """
    try:
        key = resolve_signing_key(config)
    except SigningKeyMissing:
        try:
            return run_token_path(gateway_url).read_text().strip() or None
        except OSError:
            return None
    return operator_token(key, operator or os.environ.get("USER", "operator"))


class HostSecrets:
    """Host secrets kept per gateway and space (one private file each).

    Args:
        gateway_url: The gateway they belong to.
        directory: Where to keep them; `None` uses `state_dir() / "hosts"`.
    """

    def __init__(self, gateway_url: str, directory: Path | None = None) -> None:
        self.directory = directory or state_dir() / "hosts"
        self.prefix = gateway_slug(gateway_url)

    def _path(self, space_id: str) -> Path | None:
        return self.directory / f"{self.prefix}-{space_id}.secret" if is_space_id(space_id) else None

    def save(self, space_id: str, secret: str) -> None:
        """Keep a space's host secret.

        Args:
            space_id: The space.
            secret: The secret the gateway returned at creation.
        """
        path = self._path(space_id)
        if path is not None:
            _write_private(path, secret)

    def get(self, space_id: str) -> str | None:
        """A space's host secret, if this user created it here.

        Args:
            space_id: The space.

        Returns:
            The secret, or `None`.
        """
        path = self._path(space_id)
        if path is None:
            return None
        try:
            return path.read_text().strip() or None
        except OSError:
            return None
