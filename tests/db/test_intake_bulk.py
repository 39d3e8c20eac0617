"""A batch's new rows go in one INSERT a table outside the ORM's flush (store.bulkinsert, issue 13 speed):
the same rows, ids and timelines as the flush wrote, on both backends, and a rollback still undoes them."""

from __future__ import annotations

import itertools
import secrets
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, text

import mailrobot.store.bulk as bulk
from mailrobot.service.intake import Fetched
from mailrobot.store.bulkinsert import insert_pending
from mailrobot.store.models import Base, Case, Event
from tests.support.config import make_settings
from tests.support.factories import consumer_mail, mail, reply
from tests.support.pipeline import BOX, NOW, new_intake
from tests.support.routing_world import OP1, World, make_routing_settings


def _batches() -> list[list[bytes]]:
    """Two batches with what makes a flush interesting: cases with notices and forwards, specialists
    asked (participants), a duplicate, a Message-ID reused for other content, an automatic mail, a mail
    over 1 MB (its raw bytes in chunks: the flush's own path) with an attachment forwarded, then answers."""
    first = mail("a@mail.ru", "Вопрос про счёт", message_id="<same@mail.ru>")
    return [
        [
            first,
            mail("b@mail.ru", "Дома нет света второй день", subject="Нет света"),
            first,  # the same mail again: a duplicate row
            mail("c@mail.ru", "Другой текст", message_id="<same@mail.ru>"),  # reused Message-ID
            mail("d@mail.ru", "Я в отпуске", headers={"Auto-Submitted": "auto-replied"}),
            mail("e@mail.ru", "Скан", attachments=(("scan.pdf", "application/pdf", b"%PDF" * 400_000),)),
            *(consumer_mail(sender=f"c{i}@mail.ru", message_id=f"<c{i}@mail.ru>") for i in range(8)),
        ],
        [consumer_mail(sender=f"n{i}@mail.ru", message_id=f"<n{i}@mail.ru>") for i in range(5)],
    ]


def _tables(world: World) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in the order of its primary key."""
    with world.db.engine.connect() as connection:
        return {
            table.name: [tuple(row) for row in connection.execute(select(table).order_by(*table.primary_key))]
            for table in Base.metadata.sorted_tables
        }


def _run(
    world: World, monkeypatch: pytest.MonkeyPatch, batches: list[list[bytes]], answer: bytes | None
) -> tuple[list[tuple[str, str | None]], bytes]:
    """Deliver the batches and an operator's answer; the robot's random tokens counted from 0 again, so
    that both runs compose the same mail."""
    numbers = itertools.count()
    monkeypatch.setattr(secrets, "token_hex", lambda n=16: f"{next(numbers):0{2 * n}x}")
    outcomes = []
    for raws in batches:
        outcomes += [(o.status, o.case_number) for o in world.deliver(*raws)]
    if answer is None:
        forward = next(m for m in world.mails("forward") if m.recipient == OP1)  # type: ignore[attr-defined]
        answer = reply(forward, OP1, "Ответ: перерасчёт.")
    outcomes += [(o.status, o.case_number) for o in world.deliver(answer)]
    return outcomes, answer


def test_the_bulk_insert_writes_what_the_flush_wrote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    batches = _batches()
    bulk_world = World(make_routing_settings(tmp_path / "bulk"))
    bulk_outcomes, answer = _run(bulk_world, monkeypatch, batches, None)
    monkeypatch.setattr(bulk, "insert_pending", lambda _session: 0)  # the flush alone, as before
    flush_world = World(make_routing_settings(tmp_path / "flush"))
    flush_outcomes, _answer = _run(flush_world, monkeypatch, batches, answer)
    assert bulk_outcomes == flush_outcomes
    assert {"case", "duplicate", "ignored", "reply"} <= {status for status, _n in bulk_outcomes}
    written, expected = _tables(bulk_world), _tables(flush_world)
    for name in ("messages", "message_chunks", "cases", "events", "outbox", "outbox_chunks", "participants"):
        assert expected[name], f"the scenario writes no {name}"
    for name in expected:
        assert written[name] == expected[name], name


def _statements(intake: Any, batch: list[Fetched]) -> tuple[Counter[str], int]:
    inserts: Counter[str] = Counter()
    total = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        total.append(1)
        if statement.startswith("INSERT INTO "):
            inserts[statement.split()[2]] += 1

    event.listen(intake.db.engine, "before_cursor_execute", count)
    try:
        outcomes = intake.process(BOX, 7, batch)
    finally:
        event.remove(intake.db.engine, "before_cursor_execute", count)
    assert [o.status for o in outcomes] == ["case"] * len(batch)
    return inserts, len(total)


def test_a_batch_inserts_each_table_in_one_statement(tmp_path: Path) -> None:
    intake = new_intake(make_settings(tmp_path, robot={"notices_per_sender_per_day": 100}), lambda: NOW)
    for round_ in range(2):  # the first batch also creates the counter and mailbox rows
        batch = [
            Fetched(
                round_ * 100 + i, consumer_mail(sender=f"c{i % 7}@mail.ru", message_id=f"<b{round_}-{i}@x>")
            )
            for i in range(40)
        ]
        inserts, total = _statements(intake, batch)
    assert {t: inserts[t] for t in ("messages", "cases", "outbox", "events")} == dict.fromkeys(
        ("messages", "cases", "outbox", "events"), 1
    )
    assert total <= 20, f"{total} statements for a batch of 40 mails"


def test_a_rollback_undoes_the_bulk_insert_as_it_undoes_a_flush(tmp_path: Path) -> None:
    """The rows become transient again and their ids are free: on SQLite the next insert takes them
    again, which an identity map still holding the first objects would refuse."""
    intake = new_intake(make_settings(tmp_path), lambda: NOW)
    with intake.db.sessions() as session:
        for attempt in range(2):
            session.begin()
            case = Case(number=f"N-{attempt}", requester="a@mail.ru", received_at=NOW, due_at=NOW)
            session.add(case)
            session.add(Event(case=case, at=NOW, kind="registered"))
            assert insert_pending(session) == 2
            assert not session.new and case in session and case.id is not None
            assert session.scalar(text("SELECT count(*) FROM events")) == 1
            if attempt == 0:
                session.rollback()
                assert case not in session
            else:
                session.commit()
        assert session.scalars(select(Case.number)).all() == ["N-1"]
