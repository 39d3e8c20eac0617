"""Real mail in the intake (issue 11): arrival time, reused Message-IDs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from mailrobot.service.intake import Fetched, Intake
from mailrobot.store.models import Case, Event, Message, Outbox
from tests.support.config import make_settings
from tests.support.factories import consumer_mail
from tests.support.pipeline import BOX, count, new_intake

FRIDAY_5PM = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # Friday 17:00 in Almaty
MONDAY_NOON = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # the robot was down all weekend


@pytest.fixture
def pipeline(tmp_path: Path) -> Intake:
    return new_intake(make_settings(tmp_path), lambda: MONDAY_NOON)


def kinds(pipeline: Intake) -> list[str]:
    with pipeline.db.sessions() as s:
        return [e.kind for e in s.scalars(select(Event).order_by(Event.id))]


def test_deadline_counts_from_arrival_not_processing(pipeline: Intake) -> None:
    [outcome] = pipeline.process(BOX, 7, [Fetched(1, consumer_mail(), FRIDAY_5PM)])
    assert outcome.status == "case"
    with pipeline.db.sessions() as s:
        case = s.scalar(select(Case))
        assert case is not None and case.received_at == FRIDAY_5PM
        # Friday 17:00 + 3 working days: Wednesday, 18:00 Almaty (calendar.working_days_after(Friday, 3))
        assert case.due_at == datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
        assert s.scalar(select(Message.received_at)) == FRIDAY_5PM
    assert "arrival_unknown" not in kinds(pipeline)


def test_an_arrival_in_the_future_is_clamped_to_now(pipeline: Intake) -> None:
    pipeline.process(BOX, 7, [Fetched(1, consumer_mail(), MONDAY_NOON + timedelta(days=2))])
    with pipeline.db.sessions() as s:
        assert s.scalar(select(Case.received_at)) == MONDAY_NOON


def test_without_internaldate_processing_time_is_used_and_said(pipeline: Intake) -> None:
    pipeline.process(BOX, 7, [Fetched(1, consumer_mail())])
    with pipeline.db.sessions() as s:
        assert s.scalar(select(Case.received_at)) == MONDAY_NOON
        detail = s.scalar(select(Event.detail).where(Event.kind == "arrival_unknown"))
        assert detail is not None and "INTERNALDATE" in detail


def test_reused_message_id_with_other_content_is_a_new_message(pipeline: Intake) -> None:
    first = consumer_mail("a@mail.ru", "Счёт", "Счёт за май неверный.", "<form@site.kz>")
    second = consumer_mail("b@mail.ru", "Свет", "Нет света на улице Абая.", "<form@site.kz>")
    outcomes = pipeline.process(BOX, 7, [Fetched(1, first, FRIDAY_5PM), Fetched(2, second, FRIDAY_5PM)])
    assert [o.status for o in outcomes] == ["case", "case"]
    assert "Message-ID reused" in outcomes[1].reason
    assert count(pipeline.db, Case) == 2 and count(pipeline.db, Outbox) == 2
    # the same second mail delivered again (another UID): a duplicate of the second, not of the first
    [again] = pipeline.process(BOX, 7, [Fetched(3, second, FRIDAY_5PM)])
    assert again.status == "duplicate"
    with pipeline.db.sessions() as s:
        rows = list(s.scalars(select(Message).order_by(Message.id)))
        assert rows[2].duplicate_of_id == rows[1].id and rows[2].case_id == rows[1].case_id
        assert "message_id_reused" in [e.kind for e in s.scalars(select(Event))]
    # and the replay after a crash stays a replay
    [replay] = pipeline.process(BOX, 7, [Fetched(2, second, FRIDAY_5PM)])
    assert replay.status == "replay"
    assert count(pipeline.db, Case) == 2


def test_redelivery_with_other_relay_headers_is_still_a_duplicate(pipeline: Intake) -> None:
    raw = consumer_mail()
    relayed = b"Received: from mx2.mail.ru by mx.skes.kz; Fri, 20 Nov 2026 17:01:00 +0500\r\n" + raw
    outcomes = pipeline.process(BOX, 7, [Fetched(1, raw, FRIDAY_5PM), Fetched(2, relayed, FRIDAY_5PM)])
    assert [o.status for o in outcomes] == ["case", "duplicate"]


def test_row_stored_before_fingerprints_gets_one_when_its_message_id_comes_again(pipeline: Intake) -> None:
    raw = consumer_mail()
    pipeline.process(BOX, 7, [Fetched(1, raw, FRIDAY_5PM)])
    with pipeline.db.transaction() as s:
        row = s.scalar(select(Message))
        assert row is not None
        row.fingerprint = None  # as migration 0005 leaves the rows it found
    [again] = pipeline.process(BOX, 7, [Fetched(2, raw, FRIDAY_5PM)])
    assert again.status == "duplicate"
    with pipeline.db.sessions() as s:
        assert s.scalar(select(Message.fingerprint).where(Message.uid == 1)) is not None


def test_a_second_bounce_of_the_same_mail_tells_nobody_again(tmp_path: Path) -> None:
    from mailrobot.mail.tokens import bounce_address
    from tests.support.config import SECRET

    settings = make_settings(tmp_path, people={"head": ["head@example.kz"]})
    pipeline = new_intake(settings, lambda: MONDAY_NOON)
    pipeline.process(BOX, 7, [Fetched(1, consumer_mail(), FRIDAY_5PM)])
    with pipeline.db.sessions() as s:
        notice_id = s.scalar(select(Outbox.id).where(Outbox.kind == "notice"))
    assert notice_id is not None
    verp = bounce_address(SECRET, settings.smtp.from_address, notice_id)

    def dsn(n: int) -> bytes:
        return (
            f"From: MAILER-DAEMON@mx.mail.ru\r\nTo: {verp}\r\nSubject: Undelivered Mail\r\n"
            f"Message-ID: <dsn{n}@mx.mail.ru>\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n'
            "--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.mail.ru\r\n\r\n"
            "Final-Recipient: rfc822; aigul@mail.ru\r\nAction: failed\r\nStatus: 5.2.2\r\n"
            "Diagnostic-Code: smtp; 552 5.2.2 Mailbox full\r\n--r--\r\n"
        ).encode()

    first, second = pipeline.process(BOX, 7, [Fetched(2, dsn(1)), Fetched(3, dsn(2))])
    assert first.status == second.status == "ignored" and "bounce of notice" in first.reason
    with pipeline.db.sessions() as s:
        row = s.get(Outbox, notice_id)
        assert row is not None and row.state == "bounced" and "5.2.2" in (row.last_error or "")
        told = list(s.scalars(select(Outbox).where(Outbox.kind == "delivery_failed")))
        assert [t.recipient for t in told] == ["head@example.kz"]  # once, though two DSNs came
        assert [e.kind for e in s.scalars(select(Event))].count("mail_bounced") == 2
