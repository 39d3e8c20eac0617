"""The intake pipeline on the test's database, without IMAP: storage, dedup, crash rules, notice cap."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import select

from mailrobot.mail.parse import Parsed
from mailrobot.mail.tokens import read_message_id
from mailrobot.regulation.classify import Facts, Verdict
from mailrobot.service import intake as intake_module
from mailrobot.service.intake import MAX_ATTEMPTS, Fetched, Intake, dedup_key
from mailrobot.store.models import Case, Event, Message, Outbox
from tests.support.config import SECRET, make_settings
from tests.support.factories import consumer_mail
from tests.support.pipeline import BOX, NOW, count, new_intake


@pytest.fixture
def pipeline(tmp_path: Path) -> Intake:
    return new_intake(make_settings(tmp_path), lambda: NOW)


def test_consumer_mail_becomes_a_case_with_a_notice(pipeline: Intake) -> None:
    [outcome] = pipeline.process(BOX, 7, [Fetched(1, consumer_mail(), NOW)])  # arrived now (INTERNALDATE)
    assert outcome.status == "case" and outcome.case_number == "SKES-2026-000001"
    with pipeline.db.sessions() as s:
        case = s.scalar(select(Case))
        assert case is not None
        assert (case.requester, case.requester_name, case.language) == (
            "aigul@mail.ru",
            "Айгуль Серикова",
            "ru",
        )
        assert case.state == "new"
        assert case.due_at == datetime(2026, 3, 30, 13, 0, tzinfo=UTC)  # 18:00 Almaty, 3 working days later
        mail = s.scalar(select(Outbox))
        assert mail is not None and mail.kind == "notice" and mail.recipient == "aigul@mail.ru"
        notice = message_from_bytes(mail.raw, policy=policy.default)
        assert "SKES-2026-000001" in notice["Subject"]
        assert notice["Auto-Submitted"] == "auto-replied"
        assert notice["In-Reply-To"] == "<c1@mail.ru>"
        ref = read_message_id(SECRET, notice["Message-ID"])
        assert ref is not None and ref.case_number == "SKES-2026-000001"
        kinds = [e.kind for e in s.scalars(select(Event).order_by(Event.id))]
        assert kinds == ["registered", "notice_queued"]
        row = s.scalar(select(Message))
        assert row is not None and row.status == "case" and row.raw == consumer_mail()


def test_replay_after_a_crash_before_the_move_gives_one_case(pipeline: Intake) -> None:
    raw = consumer_mail()
    pipeline.process(BOX, 7, [Fetched(1, raw)])
    [again] = pipeline.process(BOX, 7, [Fetched(1, raw)])
    assert again.status == "replay"
    assert [count(pipeline.db, model) for model in (Case, Outbox, Message)] == [1, 1, 1]


def test_same_message_id_elsewhere_is_recorded_as_duplicate(pipeline: Intake) -> None:
    raw = consumer_mail()
    outcomes = pipeline.process(BOX, 7, [Fetched(1, raw), Fetched(2, raw)])
    assert [o.status for o in outcomes] == ["case", "duplicate"]
    [later] = pipeline.process(BOX, 8, [Fetched(1, raw)])  # UIDVALIDITY changed: same mail, new UID
    assert later.status == "duplicate"
    assert count(pipeline.db, Case) == 1 and count(pipeline.db, Message) == 3


def test_automatic_mail_is_ignored_without_a_notice(pipeline: Intake) -> None:
    raw = consumer_mail(subject="Out of office", headers={"Auto-Submitted": "auto-replied"})
    [outcome] = pipeline.process(BOX, 7, [Fetched(1, raw)])
    assert outcome.status == "ignored" and "Auto-Submitted" in outcome.reason
    assert count(pipeline.db, Case) == 0 and count(pipeline.db, Outbox) == 0


def test_notice_cap_per_sender(pipeline: Intake) -> None:
    batch = [
        Fetched(i, consumer_mail(message_id=f"<loop{i}@robot.example>", body=f"Ответ {i}"))
        for i in range(1, 8)
    ]
    outcomes = pipeline.process(BOX, 7, batch[:3]) + pipeline.process(BOX, 7, batch[3:])
    assert [o.status for o in outcomes] == ["case"] * 7
    assert count(pipeline.db, Outbox) == 5
    assert count(pipeline.db, Event, Event.kind == "notice_skipped") == 2
    numbers = [o.case_number for o in outcomes]
    assert numbers == [f"SKES-2026-{i:06d}" for i in range(1, 8)]  # gap-free


def test_unparseable_and_crashing_messages_are_quarantined(
    pipeline: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_parse, real_classify = intake_module.parse_big, intake_module.classify

    def parse_or_crash(raw: bytes, limit: int, keep: tuple[str, ...] = ()) -> Parsed:
        if b"PARSER-BUG" in raw:
            raise ValueError("bug in the parser")
        return real_parse(raw, limit, keep)

    def classify_or_crash(parsed: Parsed, facts: Facts) -> Verdict:
        if "CRASH" in parsed.text:
            raise RuntimeError("bug in a later stage")
        return real_classify(parsed, facts)

    monkeypatch.setattr(intake_module, "parse_big", parse_or_crash)  # the intake's parse (mail.bigparts)
    monkeypatch.setattr(intake_module, "classify", classify_or_crash)
    outcomes = pipeline.process(
        BOX,
        7,
        [
            Fetched(1, b""),
            Fetched(2, consumer_mail(body="CRASH", message_id="<crash@x>")),
            Fetched(3, consumer_mail(message_id="<fine@x>")),
            Fetched(4, consumer_mail(body="PARSER-BUG", message_id="<parser@x>")),
        ],
    )
    assert [o.status for o in outcomes] == ["quarantined", "quarantined", "case", "quarantined"]
    assert outcomes[0].reason.startswith("unparseable")
    assert "RuntimeError: bug in a later stage" in outcomes[1].reason
    assert "ValueError: bug in the parser" in outcomes[3].reason
    with pipeline.db.sessions() as s:
        rows = s.scalars(select(Message).order_by(Message.uid)).all()
        assert rows[0].raw == b"" and rows[1].raw is not None and b"CRASH" in rows[1].raw
    assert count(pipeline.db, Case) == 1  # the crashed message's savepoint rolled back its case
    assert count(pipeline.db, Outbox) == 1


class Killed(BaseException):
    """The process dying mid-decision (kill -9): nothing of the transaction commits, nothing catches it."""


def test_deaths_in_a_batch_count_against_the_message_alone_when_they_hit_not_the_batch(
    pipeline: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The kill -9 drill lost a whole batch: three kills in a row landed while the same 100 mails were
    # decided, and all 100 were quarantined as "did not finish in 3 attempts".
    batch = [
        Fetched(n, consumer_mail(sender=f"c{n}@mail.ru", message_id=f"<c{n}@mail.ru>"), NOW)
        for n in (1, 2, 3, 4, 5)
    ]
    decide_all = Intake._decide_all
    deaths = {"left": 0}

    def dying(self: Intake, *args: object, **kwargs: object) -> object:
        if deaths["left"]:
            deaths["left"] -= 1
            raise Killed
        return decide_all(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Intake, "_decide_all", dying)
    for _run in range(MAX_ATTEMPTS):  # each start dies at its first decision
        deaths["left"] = 1
        with pytest.raises(Killed):
            pipeline.process(BOX, 7, batch)
    outcomes = {o.uid: o.status for o in pipeline.process(BOX, 7, batch)}
    # Uid 1 went alone after the first death and died alone each time after: the suspect.  The others did not.
    assert outcomes == {1: "quarantined", 2: "case", 3: "case", 4: "case", 5: "case"}
    with pipeline.db.sessions() as s:
        attempts = {uid: n for uid, n in s.execute(select(Message.uid, Message.attempts))}
    assert attempts == {1: MAX_ATTEMPTS + 1, 2: 2, 3: 2, 4: 2, 5: 2}  # the batch's, then one alone each


def test_a_message_that_keeps_killing_the_process_is_quarantined(pipeline: Intake) -> None:
    raw = consumer_mail(message_id="<killer@x>")
    with pipeline.db.transaction() as s:  # what the crashed attempts leave behind
        s.add(
            Message(
                dedup_key=dedup_key(raw),
                mailbox=BOX,
                uidvalidity=7,
                uid=1,
                size=len(raw),
                sha256="-",
                raw=raw,
                status="received",
                attempts=MAX_ATTEMPTS,
                received_at=NOW,
            )
        )
    [outcome] = pipeline.process(BOX, 7, [Fetched(1, raw)])
    assert outcome.status == "quarantined" and "attempts" in outcome.reason
    assert count(pipeline.db, Case) == 0


def test_dedup_key_without_message_id_hashes_the_bytes() -> None:
    assert dedup_key(consumer_mail(message_id="<a@b>")) == "mid:<a@b>"
    one, two = consumer_mail(message_id=None, body="one"), consumer_mail(message_id=None, body="two")
    assert dedup_key(one).startswith("sha256:") and dedup_key(one) != dedup_key(two)
    folded = b"Subject: x\r\nMessage-ID:\r\n <folded@id>\r\n\r\nbody"
    assert dedup_key(folded) == "mid:<folded@id>"
