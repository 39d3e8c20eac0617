"""The Prometheus endpoint: scraped from a running daemon, and its database gauges on known rows."""

from __future__ import annotations

import re
import signal
import time
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mailrobot.outside.metrics import Metrics
from mailrobot.store.db import Database
from mailrobot.store.models import Case, Outbox, utcnow
from tests.conftest import Mailbox, WriteConfig
from tests.factories import consumer_mail
from tests.pg import database_url
from tests.servers import LOCALHOST, Dovecot, SmtpSink, free_port
from tests.test_notify import DaemonProcess, NotifySocket, is_ready, notify, start_daemon

__all__ = ["notify", "start_daemon"]  # fixtures shared with test_notify


def scrape(port: int) -> dict[str, float]:
    """{'name{label="value"}': value} of every sample on the endpoint."""
    with urllib.request.urlopen(f"http://{LOCALHOST}:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
    return samples


def scrape_until(
    port: int, condition: Callable[[dict[str, float]], bool], timeout: float = 30
) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(port)
        if condition(samples):
            return samples
        if time.monotonic() > deadline:
            pytest.fail(f"metrics never matched; last scrape: {samples}")
        time.sleep(0.2)


def test_metrics_of_a_running_daemon(
    tmp_path: Path,
    dovecot: Dovecot,
    mailbox: Mailbox,
    smtp_sink: SmtpSink,
    write_config: WriteConfig,
    notify: NotifySocket,
    start_daemon: Callable[..., DaemonProcess],
) -> None:
    port = free_port()
    config = write_config(tmp_path, mailbox, smtp_sink, metrics={"enabled": True, "port": port})
    smtp_sink.fail_next(1)  # the first notice fails once (451), then goes out on its retry
    dovecot.append(mailbox.username, consumer_mail("aigul@mail.ru", "Счёт", message_id="<m1@mail.ru>"))
    ooo = {"Auto-Submitted": "auto-replied"}
    dovecot.append(
        mailbox.username, consumer_mail("boss@corp.kz", "Out of office", message_id="<m2@x>", headers=ooo)
    )
    daemon = start_daemon(config, notify)
    notify.wait_for(is_ready, timeout=60)
    smtp_sink.wait_for(1, timeout=30)

    samples = scrape_until(port, lambda s: s.get("mailrobot_smtp_sent_total") == 1)
    assert samples['mailrobot_messages_total{outcome="case"}'] == 1
    assert samples['mailrobot_messages_total{outcome="ignored"}'] == 1
    assert samples['mailrobot_messages_total{outcome="quarantined"}'] == 0
    assert samples["mailrobot_smtp_failures_total"] == 1
    assert samples["mailrobot_imap_reconnects_total"] == 0
    assert samples["mailrobot_cases_open"] == 1
    assert samples["mailrobot_cases_overdue"] == 0
    assert samples["mailrobot_outbox_backlog"] == 0
    assert samples["mailrobot_outbox_oldest_age_seconds"] == 0
    assert samples["mailrobot_database_up"] == 1
    # The mailbox is read to the end after every IDLE round; the age is since then, well under a minute.
    assert 0 <= samples["mailrobot_mailbox_sync_age_seconds"] < 60

    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0


def test_case_and_outbox_gauges_come_from_the_database(tmp_path: Path) -> None:
    db = Database(database_url(tmp_path))
    db.upgrade()
    now = utcnow()
    with db.transaction() as session:
        for number, state, due in [
            ("T-1", "new", now - timedelta(hours=1)),  # open, overdue
            ("T-2", "forwarded", now + timedelta(days=2)),  # open
            ("T-3", "answered", now - timedelta(days=3)),  # done: neither
        ]:
            session.add(Case(number=number, requester="a@b.kz", state=state, received_at=now, due_at=due))
        for n, (state, age) in enumerate([("pending", 600), ("pending", 30), ("sent", 9000), ("failed", 5)]):
            created = now - timedelta(seconds=age)
            session.add(
                Outbox(
                    kind="notice",
                    recipient="a@b.kz",
                    message_id=f"<o{n}@x>",
                    raw=b"x",
                    state=state,
                    created_at=created,
                    next_attempt_at=created,
                )
            )
    clock = iter([100.0, 107.5]).__next__  # started at 100 s, scraped at 107.5 s, never synced
    metrics = Metrics(db, clock=clock, now=lambda: now)
    text = "\n".join(f"{s.name} {s.value}" for family in metrics.registry.collect() for s in family.samples)
    db.dispose()
    values = dict(re.findall(r"^(mailrobot_\w+) (\S+)$", text, re.MULTILINE))
    assert float(values["mailrobot_cases_open"]) == 2
    assert float(values["mailrobot_cases_overdue"]) == 1
    assert float(values["mailrobot_outbox_backlog"]) == 2
    assert float(values["mailrobot_outbox_oldest_age_seconds"]) == pytest.approx(600, abs=1)
    assert float(values["mailrobot_outbox_failed"]) == 1
    assert float(values["mailrobot_mailbox_sync_age_seconds"]) == 7.5
