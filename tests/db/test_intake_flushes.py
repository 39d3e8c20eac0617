"""The intake flushes once per batch, not once per message (issue 13, speed): bench/intake.py's profile
found a query per message whose autoflush wrote the batch so far each time (a third of the intake's time)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from mailrobot.service.intake import Fetched
from mailrobot.store.lookup import open_cases_of
from mailrobot.store.models import Case
from tests.support.config import make_settings
from tests.support.factories import consumer_mail
from tests.support.pipeline import BOX, NOW, new_intake


def test_a_batch_of_consumer_mail_is_flushed_a_few_times_not_once_a_message(tmp_path: Path) -> None:
    intake = new_intake(make_settings(tmp_path, robot={"notices_per_sender_per_day": 100}), lambda: NOW)
    batch = [
        Fetched(i, consumer_mail(sender=f"c{i % 7}@mail.ru", message_id=f"<f{i}@mail.ru>"), NOW)
        for i in range(1, 41)
    ]
    flushes = []

    def count(_session: Session, _context: object) -> None:
        flushes.append(1)

    event.listen(Session, "after_flush", count)
    try:
        outcomes = intake.process(BOX, 7, batch)
    finally:
        event.remove(Session, "after_flush", count)
    assert [o.status for o in outcomes] == ["case"] * 40
    assert len(flushes) < 10, f"{len(flushes)} flushes for a batch of 40"


def test_open_cases_include_those_made_earlier_in_the_batch(tmp_path: Path) -> None:
    intake = new_intake(make_settings(tmp_path), lambda: NOW)
    intake.process(BOX, 7, [Fetched(1, consumer_mail(sender="a@mail.ru", message_id="<o1@mail.ru>"), NOW)])
    with intake.db.sessions() as session, session.begin():
        stored = session.scalar(select(Case))
        assert stored is not None
        columns = {a.key: getattr(stored, a.key) for a in Case.__mapper__.column_attrs if a.key != "id"}
        unflushed = Case(**columns)
        unflushed.number = "SKES-2026-000099"
        session.add(unflushed)
        assert [n for n, _a in open_cases_of(session, "a@mail.ru")] == ["SKES-2026-000099", stored.number]
        assert session.new  # still not flushed: read from the session, not written first
        session.rollback()
