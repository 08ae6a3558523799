"""A webhook receiver for Alertmanager that records every notification, as on-call would have been paged.

It listens on loopback only. Who may call it: Alertmanager POSTs notifications to
`/alerts`; anyone on this machine may GET `/notifications` (the recorded list as
JSON). Bodies are bounded (`MAX_BODY_BYTES`); anything else is refused. Each alert
of each notification is appended as one JSON line to a file a person can `tail -f`.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MAX_BODY_BYTES = 1 << 20
"""The largest notification accepted (Alertmanager's are a few KiB per alert)."""


@dataclass(frozen=True)
class Notification:
    """One alert as one notification carried it.

    Attributes:
        alertname: The alert's name.
        status: `firing` or `resolved`.
        labels: Its labels (`severity`, `team`, `service`, and those of the series).
        runbook_url: Its `runbook_url` annotation.
        summary: Its rendered `summary` annotation.
        starts_at: When it started firing (RFC 3339, from Alertmanager).
        ends_at: When it resolved (RFC 3339), or the zero time while firing.
        received_at: When the receiver got it (Unix seconds).
        annotations: Every annotation.
    """

    alertname: str
    status: str
    labels: dict[str, str]
    runbook_url: str
    summary: str
    starts_at: str
    ends_at: str
    received_at: float
    annotations: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_alert(cls, alert: dict[str, Any], received_at: float) -> Notification:
        """Build one from an alert of Alertmanager's webhook payload."""
        labels = {str(k): str(v) for k, v in (alert.get("labels") or {}).items()}
        annotations = {str(k): str(v) for k, v in (alert.get("annotations") or {}).items()}
        return cls(
            alertname=labels.get("alertname", ""),
            status=str(alert.get("status", "")),
            labels=labels,
            runbook_url=annotations.get("runbook_url", ""),
            summary=annotations.get("summary", ""),
            starts_at=str(alert.get("startsAt", "")),
            ends_at=str(alert.get("endsAt", "")),
            received_at=received_at,
            annotations=annotations,
        )


def read_notifications(path: Path) -> list[Notification]:
    """The notifications recorded in a receiver's file, oldest first.

    Args:
        path: The JSON-lines file.

    Returns:
        The notifications (none if the file does not exist yet).
    """
    if not path.exists():
        return []
    return [Notification(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class NotificationReceiver:
    """An HTTP server on loopback that records Alertmanager's webhook notifications to a file.

    Args:
        path: The JSON-lines file to append to.
        port: The port (0: any free port).

    Attributes:
        path: The file.
        url: The webhook URL to give Alertmanager (`.../alerts`).
    """

    def __init__(self, path: Path, port: int = 0) -> None:
        self.path = path
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            """Accept POST /alerts, serve GET /notifications."""

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                """Stay quiet: the recorded file is the log."""

            def _reply(self, code: int, body: bytes, kind: str = "text/plain") -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                """Record one notification."""
                if self.path != "/alerts":
                    return self._reply(404, b"POST notifications to /alerts\n")
                try:
                    length = int(self.headers.get("Content-Length", "-1"))
                except ValueError:
                    length = -1
                if not 0 <= length <= MAX_BODY_BYTES:
                    return self._reply(413, b"body missing or larger than 1 MiB\n")
                try:
                    payload = json.loads(self.rfile.read(length))
                    alerts = [a for a in payload.get("alerts", []) if isinstance(a, dict)]
                except (ValueError, AttributeError):
                    return self._reply(400, b"expected Alertmanager's webhook JSON\n")
                receiver.record(alerts)
                self._reply(200, b"recorded\n")

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                """Serve the recorded notifications as JSON."""
                if self.path != "/notifications":
                    return self._reply(404, b"GET /notifications\n")
                body = json.dumps([asdict(n) for n in read_notifications(receiver.path)], indent=2).encode()
                self._reply(200, body, "application/json")

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/alerts"

    def record(self, alerts: list[dict[str, Any]]) -> None:
        """Append each alert of one notification to the file.

        Args:
            alerts: The `alerts` list of Alertmanager's webhook payload.
        """
        now = time.time()
        lines = "".join(json.dumps(asdict(Notification.from_alert(a, now))) + "\n" for a in alerts)
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(lines)

    def start(self) -> None:
        """Serve in a background thread."""
        self.path.touch()
        self._thread = threading.Thread(target=self._server.serve_forever, name="notification-receiver", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()
