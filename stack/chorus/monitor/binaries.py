"""Finding the Prometheus binaries, and the one error every monitor failure becomes."""

from __future__ import annotations

import shutil

INSTALL_HINT = "run `make setup` (it installs Debian's prometheus and prometheus-alertmanager) or `apt-get install --no-install-recommends prometheus prometheus-alertmanager`"
"""What to do when a binary is missing."""

BINARIES: dict[str, tuple[str, ...]] = {
    "prometheus": ("prometheus",),
    "promtool": ("promtool",),
    "alertmanager": ("prometheus-alertmanager", "alertmanager"),
    "amtool": ("amtool",),
}
"""Each tool and the names it goes by (Debian names Alertmanager `prometheus-alertmanager`)."""


class MonitorError(Exception):
    """The monitor (or a Prometheus tool) could not run; the message is one line saying why and what to do."""


def find_binary(tool: str) -> str:
    """The path of a Prometheus tool on PATH.

    Args:
        tool: `prometheus`, `promtool`, `alertmanager` or `amtool`.

    Returns:
        The executable's path.

    Raises:
        MonitorError: It is not installed.
    """
    for name in BINARIES[tool]:
        found = shutil.which(name)
        if found:
            return found
    raise MonitorError(f"{BINARIES[tool][0]} not found on PATH: {INSTALL_HINT}")
