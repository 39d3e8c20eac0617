"""Prometheus metrics: what an admin alerts on (mail stuck, deadlines missed, a dead mailbox connection).

Counters (messages by outcome, IMAP reconnects, SMTP results) live in the process and restart at zero, as
Prometheus expects of counters.  The gauges about cases and the outbox are read from the database at each
scrape, so they are right after a restart and whichever daemon answers.

prometheus_client is a plain dependency, not an extra: it is pure Python with no dependencies of its own,
and an admin who turns `[metrics] enabled` on should not have to reinstall first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer, make_wsgi_app
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from mailrobot.regulation.states import DONE_STATES, OutboxState
from mailrobot.store.db import Database
from mailrobot.store.models import Case, Outbox, utcnow

log = logging.getLogger(__name__)

# Outcomes shown at 0 before the first message, so rate() and alerts work from the start.
OUTCOMES = ("case", "followup", "ignored", "duplicate", "quarantined", "spam")
# Cases in these states wait for nobody; every other state is open and has a deadline.


class Metrics:
    """The robot's numbers; `serve()` exposes them on http://address:port/metrics."""

    def __init__(
        self, db: Database, clock: Callable[[], float] = time.monotonic, now: Callable[[], datetime] = utcnow
    ) -> None:
        self.db = db
        self.clock = clock
        self.now = now
        self.registry = CollectorRegistry()
        self.messages = Counter(
            "mailrobot_messages",
            "Messages taken from the mailbox, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in OUTCOMES:
            self.messages.labels(outcome)
        self.imap_reconnects = Counter(
            "mailrobot_imap_reconnects",
            "Times the IMAP connection was lost or refused",
            registry=self.registry,
        )
        self.smtp_sent = Counter(
            "mailrobot_smtp_sent", "Mails the SMTP server accepted", registry=self.registry
        )
        self.smtp_failures = Counter(
            "mailrobot_smtp_failures",
            "SMTP delivery attempts that failed (retried later or given up)",
            registry=self.registry,
        )
        self._started = clock()
        self._last_sync: float | None = None
        self.registry.register(_DatabaseCollector(self))
        self._server: WSGIServer | None = None

    def count_outcomes(self, statuses: Iterable[str]) -> None:
        for status in statuses:
            self.messages.labels(status).inc()

    def count_sends(self, sent: int, failed: int) -> None:
        self.smtp_sent.inc(sent)
        self.smtp_failures.inc(failed)

    def mailbox_synced(self) -> None:
        """The mailbox was read to the end just now."""
        self._last_sync = self.clock()

    def sync_age(self) -> float:
        """Seconds since the mailbox was last read to the end (since start, before the first time)."""
        return self.clock() - (self._last_sync if self._last_sync is not None else self._started)

    def serve(self, address: str, port: int) -> int:
        """Start the HTTP endpoint in a thread; returns the port (useful with port 0).  Only /metrics and
        /healthz answer; any other path is 404."""
        try:
            server = make_server(
                address, port, self.wsgi_app(), ThreadingWSGIServer, handler_class=_QuietHandler
            )
        except OSError as exc:
            raise OSError(exc.errno, f"cannot serve metrics on {address}:{port}: {exc.strerror}") from None
        threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
        self._server = server
        bound = int(server.server_port)
        log.info("metrics on http://%s:%s/metrics", address, bound)
        return bound

    def wsgi_app(self) -> Callable[..., Iterable[bytes]]:
        """The endpoint as a WSGI app: /metrics (Prometheus' exposition), /healthz ("ok"), else 404."""
        metrics_app = make_wsgi_app(self.registry)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path = environ.get("PATH_INFO") or "/"
            if path == "/metrics":
                return metrics_app(environ, start_response)  # type: ignore[no-any-return]
            if path == "/healthz":
                start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
                return [b"ok\n"]
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"not found: only /metrics and /healthz\n"]

        return app

    def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr: a scrape every 15 s is not news."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _DatabaseCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "mailrobot_mailbox_sync_age_seconds",
            "Seconds since the mailbox was last read to the end (grows while IMAP hangs or is down)",
            value=self.metrics.sync_age(),
        )
        try:
            values = self._read()
        except Exception as exc:  # a scrape must answer even while the database is away
            log.warning("metrics: cannot read the database: %s", exc)
            yield GaugeMetricFamily("mailrobot_database_up", "1 if the database answered the scrape", value=0)
            return
        yield GaugeMetricFamily("mailrobot_database_up", "1 if the database answered the scrape", value=1)
        for name, help_text, value in values:
            yield GaugeMetricFamily(name, help_text, value=value)

    def _read(self) -> list[tuple[str, str, float]]:
        now = self.metrics.now()
        open_case = Case.state.not_in(DONE_STATES)
        with self.metrics.db.sessions() as session, session.begin():
            open_cases = session.scalar(select(func.count(Case.id)).where(open_case)) or 0
            overdue = session.scalar(select(func.count(Case.id)).where(open_case, Case.due_at < now)) or 0
            backlog, oldest = session.execute(
                select(func.count(Outbox.id), func.min(Outbox.created_at)).where(
                    Outbox.state == OutboxState.PENDING
                )
            ).one()
            failed = (
                session.scalar(select(func.count(Outbox.id)).where(Outbox.state == OutboxState.FAILED)) or 0
            )
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=now.tzinfo)  # func.min() bypasses the UTC column type
        age = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
        return [
            ("mailrobot_cases_open", "Cases waiting for an answer", open_cases),
            ("mailrobot_cases_overdue", "Open cases past their due date", overdue),
            ("mailrobot_outbox_backlog", "Mails waiting in the outbox to be sent", backlog or 0),
            ("mailrobot_outbox_oldest_age_seconds", "Age of the oldest mail waiting in the outbox", age),
            ("mailrobot_outbox_failed", "Mails given up after their last attempt", failed),
        ]
