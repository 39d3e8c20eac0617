"""What one batch must see of itself (issue 13, speed): the batch reads the requesters' open cases once and
takes its case numbers from one counter update, and must still behave as if each message were decided
alone after the ones before it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import event, select, text, update

from mailrobot.casework.applier import Applier
from mailrobot.service.intake import Fetched
from mailrobot.store.models import Case, Counter, Event
from mailrobot.store.numbering import CaseNumbers, next_case_number
from tests.support.config import make_settings
from tests.support.factories import mail, reply, text_of
from tests.support.pipeline import BOX, NOW, new_intake
from tests.support.routing_world import OP1, OP2, World, make_routing_settings, open_case


def test_a_later_mail_of_the_batch_sees_the_case_an_earlier_one_opened(tmp_path: Path) -> None:
    world = World(make_routing_settings(tmp_path, operators_assign="round_robin"))
    before, _fwd = open_case(world, sender="a@mail.ru", body="Старый вопрос")
    closed, _fwd = open_case(world, sender="a@mail.ru", body="Закрытый вопрос")
    with world.db.transaction() as s:  # before: open, nobody's (so it does not choose the operator)
        s.execute(update(Case).where(Case.number == closed).values(state="closed"))
        s.execute(update(Case).where(Case.number == before).values(assignee=None))
    outcomes = world.deliver(
        mail("b@mail.ru", "Вопрос Б"), mail("a@mail.ru", "Первый"), mail("a@mail.ru", "Второй")
    )
    other, first, second = (o.case_number or "" for o in outcomes)
    assert [o.status for o in outcomes] == ["case"] * 3
    # One operator for one consumer: the case opened earlier in the batch holds them.
    # (round robin alone would have given the second one OP1.)
    assert world.case(other).assignee == OP1
    assert world.case(first).assignee == world.case(second).assignee == OP2
    forward = text_of(next(m for m in world.mails("forward") if second in str(m["Subject"])))
    named = forward.split("Другие открытые обращения этого потребителя:")[1].split("\n")[0]
    assert first in named and before in named and closed not in named
    assert named.index(first) < named.index(before)  # newest first


def test_case_numbers_stay_gap_free_when_a_message_fails_after_registering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World(make_routing_settings(tmp_path))
    real = Applier.queue_notice

    def crash_on_one(self: Applier, session, case, parsed, now, notice=None):  # type: ignore[no-untyped-def]
        if "CRASH" in parsed.text:
            raise RuntimeError("bug after the case number was taken")
        return real(self, session, case, parsed, now, notice)

    monkeypatch.setattr(Applier, "queue_notice", crash_on_one)
    outcomes = world.deliver(
        mail("a@mail.ru", "Раз"),
        mail("b@mail.ru", "CRASH"),
        mail("c@mail.ru", "Два"),
        mail("d@mail.ru", "Три"),
    )
    assert [o.status for o in outcomes] == ["case", "quarantined", "case", "case"]
    numbers = [o.case_number for o in outcomes if o.status == "case"]
    assert numbers == [f"SKES-2026-{i:06d}" for i in (1, 2, 3)]
    [next_batch] = world.deliver(mail("e@mail.ru", "Четыре"))
    assert next_batch.case_number == "SKES-2026-000004"
    with world.db.sessions() as s:
        assert s.scalar(select(Counter.value).where(Counter.name == "case:2026")) == 4
        assert sorted(s.scalars(select(Case.number))) == [f"SKES-2026-{i:06d}" for i in (1, 2, 3, 4)]


def test_batch_case_numbers_continue_the_counter_per_year(tmp_path: Path) -> None:
    world = World(make_routing_settings(tmp_path))
    fmt = "SKES-{year}-{seq:06d}"
    with world.db.transaction() as s:
        numbers = CaseNumbers()
        taken = [numbers.next(s, fmt, 2026) for _ in range(3)] + [numbers.next(s, fmt, 2027)]
        numbers.write(s)
        numbers.write(s)  # written once: nothing more to write
    assert taken == ["SKES-2026-000001", "SKES-2026-000002", "SKES-2026-000003", "SKES-2027-000001"]
    with world.db.transaction() as s:
        numbers = CaseNumbers()
        savepoint = s.begin_nested()
        assert numbers.next(s, fmt, 2026) == "SKES-2026-000004"
        savepoint.rollback()  # that case was not registered after all: its number goes to the next one
        numbers.forget()
        assert [numbers.next(s, fmt, 2026), next_case_number(s, fmt, 2027)] == [
            "SKES-2026-000004",
            "SKES-2027-000002",
        ]
        numbers.write(s)
    with world.db.sessions() as s:
        counters = {name: value for name, value in s.execute(select(Counter.name, Counter.value))}
    assert counters == {"case:2026": 4, "case:2027": 2}


def test_another_writer_waits_for_the_batch_and_numbers_after_it(tmp_path: Path) -> None:
    """Two daemons on one database (a takeover): the batch's first number locks the counter row until its
    commit, so the other writer's number comes after the batch's last one, never among them."""
    world = World(make_routing_settings(tmp_path))
    fmt, got = "SKES-{year}-{seq:06d}", []

    def other_writer() -> None:
        with world.db.transaction() as s:
            got.append(next_case_number(s, fmt, 2026))

    with world.db.transaction() as s:
        numbers = CaseNumbers()
        mine = [numbers.next(s, fmt, 2026) for _ in range(3)]
        other = threading.Thread(target=other_writer)
        other.start()
        _wait_until_blocked(world, other)
        numbers.write(s)
    other.join()
    assert mine == [f"SKES-2026-{i:06d}" for i in (1, 2, 3)] and got == ["SKES-2026-000004"]


def _wait_until_blocked(world: World, thread: threading.Thread) -> None:
    """Until the thread waits for a lock (PostgreSQL tells; on SQLite its writer waits on the file lock
    and the result alone shows it came after)."""
    if world.db.engine.dialect.name != "postgresql":
        return
    waiting = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
    give_up = time.monotonic() + 30  # not an assertion: the result below is
    with world.db.engine.connect() as watch:
        while thread.is_alive() and not watch.execute(waiting).scalar() and time.monotonic() < give_up:
            time.sleep(0.01)


def test_a_batch_writes_its_timeline_events_in_one_insert(tmp_path: Path) -> None:
    """Events that name an actor and events that leave it to the default went in one INSERT each (the ORM
    batches only rows that set the same columns); the defaults filled in, they go together, unchanged."""
    intake = new_intake(make_settings(tmp_path), lambda: NOW)
    inserts: list[int] = []

    def count(_conn: object, statement: object, *_args: object) -> None:
        if str(statement).startswith("INSERT INTO events"):
            inserts.append(1)

    batch = [Fetched(i, mail(f"c{i}@mail.ru", f"Вопрос {i}"), NOW) for i in range(12)]
    event.listen(intake.db.engine, "before_execute", count)
    try:
        outcomes = intake.process(BOX, 7, batch)
    finally:
        event.remove(intake.db.engine, "before_execute", count)
    assert [o.status for o in outcomes] == ["case"] * 12
    assert len(inserts) == 1, f"{len(inserts)} INSERTs for the events of 12 cases"
    with intake.db.sessions() as s:
        rows = s.execute(select(Event.kind, Event.actor, Event.detail).order_by(Event.id).limit(3)).all()
    assert [tuple(r) for r in rows] == [
        ("registered", "c0@mail.ru", "channel email, language ru"),
        ("notice_queued", "robot", rows[1].detail),
        ("registered", "c1@mail.ru", "channel email, language ru"),
    ]
    assert rows[1].detail.startswith("to c0@mail.ru <mr.SKES-2026-000001.notice.")


@pytest.mark.parametrize("earlier", [None, "#away until 2020-01-01"])
def test_an_away_set_earlier_in_the_batch_keeps_new_cases_of_the_batch_away(
    tmp_path: Path, earlier: str | None
) -> None:
    """Who is away is read without writing the batch first; an #away of this batch, new or changing an
    older one, counts at once."""
    world = World(make_routing_settings(tmp_path, operators_assign="round_robin"))
    number, fwd = open_case(world, sender="a@mail.ru")
    assert world.case(number).assignee == OP1
    if earlier:
        world.deliver(reply(fwd, OP1, earlier))
    outcomes = world.deliver(
        reply(fwd, OP1, "#away until 2099-12-31"),
        mail("b@mail.ru", "Вопрос Б"),
        mail("c@mail.ru", "Вопрос В"),
    )
    assert [o.status for o in outcomes] == ["reply", "case", "case"]
    assert [world.case(o.case_number).assignee for o in outcomes[1:]] == [OP2, OP2]
