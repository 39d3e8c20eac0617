"""The outbox as a mail server's queue: temporary failures wait, only a refusal of the mail or its age fails
it, failed mail is seen (timeline, operators, digest, doctor) and retried by command.  Against a real SMTP
server (the sink), stopped and started to make the outage."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from mailrobot.cli import main
from mailrobot.config import parse_settings
from mailrobot.mail.compose import Envelope, compose
from mailrobot.mail.render import Rendered
from mailrobot.mail.tokens import make_message_id
from mailrobot.outside.sender import OutboxSender, SmtpConnection, TemporaryFailure
from mailrobot.service.context import Services
from mailrobot.service.doctor import FAIL, OK, WARN, _outbox
from mailrobot.store.models import Case, Event, Outbox
from mailrobot.store.queue import retry_delay
from tests.support.config import SECRET, settings_dict, write_toml
from tests.support.jobs_world import HEAD, OPERATOR, World, at, due
from tests.support.net import free_port
from tests.support.smtp import SmtpSink

T0 = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)  # a Friday evening: the relay goes down for the weekend


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def queue(world: World, number: str, kinds: tuple[str, ...], now: datetime) -> list[int]:
    """Queue one mail of each kind on case `number`, as apply would."""
    ids = []
    with world.db.transaction() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        assert case is not None
        for n, kind in enumerate(kinds):
            envelope = Envelope(
                from_address="feedback@example.kz",
                from_name="ТОО «Севказэнергосбыт»",
                to_address="aigul@mail.ru" if kind in ("notice", "answer") else OPERATOR,
                message_id=make_message_id(SECRET, "example.kz", number, kind, f"n{n}"),
                case_number=number,
            )
            raw = compose(Rendered(f"{kind} {n}", f"text {n}\n", None), envelope, now)
            row = Outbox(
                case_id=case.id, kind=kind, recipient=envelope.to_address, message_id=envelope.message_id,
                raw=raw, created_at=now, next_attempt_at=now,
            )  # fmt: skip
            session.add(row)
            session.flush()
            ids.append(row.id)
    return ids


def states(world: World) -> dict[int, tuple[str, int, str | None]]:
    with world.db.sessions() as session:
        return {o.id: (o.state, o.attempts, o.last_error) for o in session.scalars(select(Outbox))}


def make_world(tmp_path: Path, port: int) -> World:
    smtp = {"port": port, "retry_base_seconds": 30, "timeout": 5}
    return World(tmp_path, smtp=smtp, people={"head": [HEAD]})


def test_a_weekend_outage_delays_mail_and_loses_none(tmp_path: Path) -> None:
    port = free_port()
    world = make_world(tmp_path, port)
    number = world.case(due(2026, 12, 2), received_at=T0)
    ids = queue(world, number, ("notice", "forward", "answer"), T0)
    clock = Clock(T0)
    sender = OutboxSender(world.db, world.settings.smtp, clock)
    longest = timedelta(0)
    try:
        # 60 hours down: the old budget (10 attempts from 30 s) was spent after about 4 hours.
        while clock.now < T0 + timedelta(hours=60):
            assert sender.drain_once()[0] == 0
            with world.db.sessions() as session:
                nxt = session.scalar(select(Outbox.next_attempt_at).order_by(Outbox.next_attempt_at).limit(1))
            assert nxt is not None
            longest = max(longest, nxt - clock.now)
            clock.now = max(nxt, clock.now + timedelta(seconds=1))
        assert all(state == "pending" for state, _, _ in states(world).values())
        assert min(attempts for _, attempts, _ in states(world).values()) > 200
        assert longest <= timedelta(seconds=900)
        with SmtpSink(port=port) as sink:
            assert sender.drain() == (3, 0)
            got = sink.wait_for(3)
            assert sorted(m.subject for m in got) == ["answer 2", "forward 1", "notice 0"]
            assert sender.drain() == (0, 0)
            assert len(sink.messages) == 3
    finally:
        sender.close()
    assert {i: s[0] for i, s in states(world).items()} == dict.fromkeys(ids, "sent")


def test_a_mail_still_queued_after_max_queue_days_fails_and_is_reported(tmp_path: Path) -> None:
    port = free_port()
    world = make_world(tmp_path, port)
    number = world.case(due(2026, 12, 2), received_at=T0)
    [answer] = queue(world, number, ("answer",), T0)
    clock = Clock(T0 + timedelta(days=5, seconds=1))
    sender = OutboxSender(world.db, world.settings.smtp, clock)
    try:
        assert sender.drain_once() == (0, 1)
    finally:
        sender.close()
    state, _, error = states(world)[answer]
    assert state == "failed" and error is not None and "after 5 days in the queue" in error
    assert "answer_failed" in [e.kind for e in world.events(number)]

    # The case's operator is told once, in the overdue scan that runs every few minutes.
    jobs = world.jobs()
    jobs.overdue_scan(at(2026, 12, 3, 10))
    jobs.overdue_scan(at(2026, 12, 3, 10, 5))
    [(to, alert)] = world.outbox("delivery_failed")
    assert to == OPERATOR and number in alert["Subject"] and "aigul@mail.ru" in alert.get_body().get_content()

    # The head's digest lists it, and doctor fails on it.
    world.jobs().digest(at(2026, 12, 3, 9, 5))
    [(_, digest)] = world.outbox("digest")
    assert "aigul@mail.ru" in digest.get_body().get_content()
    assert _outbox(Services(world.settings, upgrade=False)).mark == FAIL


def test_permanent_and_temporary_refusals(tmp_path: Path) -> None:
    with SmtpSink() as sink:
        world = make_world(tmp_path, sink.port)
        number = world.case(due(2026, 12, 2), received_at=T0)
        [refused] = queue(world, number, ("answer",), T0)
        sink.fail_next(1, "550 5.1.1 <aigul@mail.ru>: mailbox unavailable")
        sender = OutboxSender(world.db, world.settings.smtp, Clock(T0))
        try:
            assert sender.drain_once() == (0, 1)
            [waits] = queue(world, number, ("notice",), T0)
            sink.fail_next(1, "452 4.2.2 mailbox full")
            assert sender.drain_once() == (0, 1)
        finally:
            sender.close()
    result = states(world)
    assert result[refused][0] == "failed" and "550 5.1.1" in (result[refused][2] or "")
    assert result[waits][0] == "pending" and "452 4.2.2" in (result[waits][2] or "")


def test_a_refusal_of_our_own_settings_is_retried_and_fails_doctor(tmp_path: Path) -> None:
    # The server demands AUTH and we send none: MAIL FROM gets 530, which is our configuration, not the mail.
    with SmtpSink(require_auth=True) as sink:
        world = make_world(tmp_path, sink.port)
        number = world.case(due(2026, 12, 2), received_at=T0)
        [notice] = queue(world, number, ("notice",), T0)
        sender = OutboxSender(world.db, world.settings.smtp, Clock(T0))
        try:
            assert sender.drain_once() == (0, 1)
        finally:
            sender.close()
    state, _, error = states(world)[notice]
    assert state == "pending" and error is not None and "MAIL FROM: 530" in error
    check = _outbox(Services(world.settings, upgrade=False))
    assert check.mark == FAIL and "refuses our settings" in check.detail


def test_connection_refused_is_temporary(tmp_path: Path) -> None:
    settings = parse_settings(settings_dict(tmp_path, smtp={"port": free_port(), "timeout": 2}))
    connection = SmtpConnection(settings.smtp)
    try:
        connection.send("feedback@example.kz", "a@example.kz", b"Subject: x\r\n\r\nx\r\n")
    except TemporaryFailure as exc:
        assert not exc.configuration and "ConnectionRefusedError" in str(exc)
    else:
        raise AssertionError("no connection must raise TemporaryFailure")


def test_backoff_doubles_up_to_the_cap(tmp_path: Path) -> None:
    smtp = parse_settings(settings_dict(tmp_path)).smtp
    delays = [retry_delay(smtp, n).total_seconds() for n in (1, 2, 3, 5, 6, 100, 10**6)]
    assert delays == [30, 60, 120, 480, 900, 900, 900]


def test_doctor_warns_when_mail_waits_over_half_an_hour(tmp_path: Path) -> None:
    world = make_world(tmp_path, free_port())
    number = world.case(due(2026, 12, 2), received_at=T0)
    now = datetime.now(UTC)
    queue(world, number, ("notice",), now - timedelta(minutes=31))
    assert _outbox(Services(world.settings, upgrade=False)).mark == WARN
    with world.db.transaction() as session:
        session.query(Outbox).update({Outbox.created_at: now - timedelta(seconds=40)})
    check = _outbox(Services(world.settings, upgrade=False))
    # An outage that has just begun: no warning yet, but the backlog and its age are there to see (drill 2).
    assert check.mark == OK
    assert "1 mail(s) waiting, the oldest for 4" in check.detail and " s," in check.detail


def test_outbox_list_and_retry_commands(tmp_path: Path) -> None:
    with SmtpSink() as sink:
        data = settings_dict(tmp_path, smtp={"port": sink.port}, people={"head": [HEAD]})
        config = write_toml(tmp_path / "config.toml", data)
        world = World(tmp_path, smtp={"port": sink.port}, people={"head": [HEAD]})
        number = world.case(due(2026, 12, 2), received_at=T0)
        failed, pending = queue(world, number, ("answer", "notice"), T0)
        with world.db.transaction() as session:
            row = session.get(Outbox, failed)
            assert row is not None
            row.state, row.attempts, row.last_error = "failed", 10, "old budget spent"
        runner = CliRunner()
        listed = runner.invoke(main, ["outbox", "list", "--failed", "--json", "--config", str(config)])
        assert listed.exit_code == 0, listed.output
        [shown] = json.loads(listed.stdout)
        assert (shown["id"], shown["case"], shown["kind"]) == (failed, number, "answer")
        assert shown["state"] == "failed"
        assert shown["recipient"] == "aigul@mail.ru" and shown["last_error"] == "old budget spent"
        everything = runner.invoke(main, ["outbox", "list", "--json", "--config", str(config)])
        assert [r["id"] for r in json.loads(everything.stdout)] == [failed, pending]

        assert runner.invoke(main, ["outbox", "retry", "--config", str(config)]).exit_code != 0
        retried = runner.invoke(main, ["outbox", "retry", str(failed), "--config", str(config)])
        assert retried.exit_code == 0, retried.output
        assert runner.invoke(main, ["outbox", "retry", str(pending), "--config", str(config)]).exit_code == 1
        sender = OutboxSender(world.db, world.settings.smtp)
        try:
            assert sender.drain() == (2, 0)
        finally:
            sender.close()
        assert len(sink.wait_for(2)) == 2
    assert "answer_retried" in [e.kind for e in world.events(number)]
    with world.db.sessions() as session:
        assert session.scalar(select(Event.id).where(Event.kind == "answer_sent")) is not None
