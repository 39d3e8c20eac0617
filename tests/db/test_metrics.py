"""The Prometheus gauges that come from the database, on known rows (scraped from a running daemon:
tests/e2e/test_metrics.py)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from mailrobot.outside.metrics import Metrics
from mailrobot.store.db import Database
from mailrobot.store.models import Case, Outbox, utcnow
from tests.support.pg import database_url


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
