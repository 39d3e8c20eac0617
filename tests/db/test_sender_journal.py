"""The sent journal on PostgreSQL (issue 13): with a journal directory the sender claims a batch in one
transaction, writes each accepted id to the journal and records the batch after; a starting sender records
what its journal names as sent.  Without one, each mail is claimed, sent and recorded on its own, as before.
Against the real SMTP sink; the SQLite journal (`<db>.sent`) stays where it was."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from mailrobot.outside import sender as sender_module
from mailrobot.outside import sent_journal
from mailrobot.outside.sender import OutboxSender
from mailrobot.outside.sent_journal import SentJournal, journal_name
from mailrobot.regulation.states import OutboxState
from mailrobot.store.models import Event, Outbox
from tests.db.test_outbox_queue import queue, states
from tests.support.jobs_world import HEAD, World, due
from tests.support.smtp import SmtpSink

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
KINDS = ("notice", "forward", "answer", "notice", "forward", "answer")


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


@pytest.fixture(autouse=True)
def no_state_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)  # what systemd would give; never the caller's


def make_world(tmp_path: Path, sink: SmtpSink, **smtp: object) -> World:
    return World(tmp_path, smtp={"port": sink.port, "timeout": 10, **smtp}, people={"head": [HEAD]})


def queued(world: World, kinds: tuple[str, ...] = KINDS) -> list[int]:
    return queue(world, world.case(due(2026, 12, 4), received_at=T0), kinds, T0)


def journal_of(world: World, directory: Path) -> Path:
    return directory / journal_name(world.settings.database.url)


def sent_ids(sink: SmtpSink, world: World) -> list[int]:
    """The outbox ids of the mail the sink got, one entry a delivery (a twin shows twice)."""
    with world.db.sessions() as session:
        by_message_id = {mid: i for mid, i in session.execute(select(Outbox.message_id, Outbox.id))}
    return sorted(by_message_id[str(m.message["Message-ID"])] for m in sink.messages)


def while_sending(sender: OutboxSender, action: Callable[[int], None]) -> None:
    """`action(outbox id)` runs in the sender's thread before each mail of `sender` goes out."""
    send = sender._send_one

    def hooked(outbox_id: int, recipient: str, raw: bytes) -> sender_module.Result:
        action(outbox_id)
        return send(outbox_id, recipient, raw)

    sender._send_one = hooked  # type: ignore[method-assign]


def test_postgres_journal_names_rows_that_left_before_a_kill(
    postgres_url: str, tmp_path: Path, sink: SmtpSink
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    world = make_world(tmp_path, sink, journal_dir=str(state))
    left, waiting, elsewhere = queued(world, ("notice", "answer", "forward"))
    # `elsewhere` was sent and recorded by the other host after our kill; `left` is only in our journal.
    with world.db.transaction() as session:
        session.execute(
            update(Outbox)
            .where(Outbox.id == elsewhere)
            .values(state=OutboxState.SENT, attempts=1, sent_at=T0, last_error=None)
        )
    journal_of(world, state).write_bytes(b"%d\n%d\n" % (left, elsewhere))
    before = states(world)[elsewhere]

    sender = OutboxSender(world.db, world.settings.smtp)
    try:
        assert sender.drain() == (1, 0)  # `left` recorded, not sent again
    finally:
        sender.close()
    assert sent_ids(sink, world) == [waiting]
    after = states(world)
    assert after[left] == ("sent", 1, None) and after[waiting] == ("sent", 1, None)
    assert after[elsewhere] == before  # someone else's record: untouched
    with world.db.sessions() as session:
        recorded = session.scalars(select(Event.outbox_id).where(Event.kind.like("%_sent"))).all()
    assert sorted(recorded) == sorted([left, waiting])  # no second event for `elsewhere`
    assert journal_of(world, state).read_bytes() == b""


def test_postgres_recovery_waits_for_a_row_the_killed_sender_still_holds(
    postgres_url: str, tmp_path: Path, sink: SmtpSink
) -> None:
    # The killed sender's session may outlive it a moment, its claim with it: skipping the row would empty
    # the journal and send it again once the claim is gone.
    state = tmp_path / "state"
    state.mkdir()
    world = make_world(tmp_path, sink, journal_dir=str(state))
    [left] = queued(world, ("notice",))
    journal_of(world, state).write_bytes(b"%d\n" % left)
    sender = OutboxSender(world.db, world.settings.smtp)
    counts: dict[str, tuple[int, int]] = {}
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    try:
        with world.db.engine.connect() as dying, world.db.engine.connect() as watcher:
            dying.execute(select(Outbox.id).where(Outbox.id == left).with_for_update(key_share=True))
            thread = threading.Thread(target=lambda: counts.update(drained=sender.drain()))
            thread.start()
            deadline = time.monotonic() + 60
            while thread.is_alive() and time.monotonic() < deadline:
                if watcher.scalar(waiting):
                    break
                watcher.rollback()  # pg_stat_activity is read once a transaction
                time.sleep(0.05)
            dying.rollback()  # the session ends: its claim with it
            thread.join(60)
    finally:
        sender.close()
    assert counts == {"drained": (0, 0)}
    assert sink.messages == []
    assert states(world)[left] == ("sent", 1, None)


def test_postgres_batch_mode_holds_its_claims_until_the_record_commits(
    postgres_url: str, tmp_path: Path, sink: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    world = make_world(tmp_path, sink, journal_dir=str(state), connections=1)
    first, *rest = queued(world)
    seen: dict[int, str] = {}
    gone: list[bytes] = []

    def look(outbox_id: int) -> None:
        if outbox_id != first:
            with world.db.sessions() as session:  # another connection: only what is committed
                seen[outbox_id] = session.scalar(select(Outbox.state).where(Outbox.id == first)) or ""
        assert journal_of(world, state).read_bytes().split() == gone  # each id the moment it left
        gone.append(b"%d" % outbox_id)

    sender = OutboxSender(world.db, world.settings.smtp)
    while_sending(sender, look)
    caplog.set_level(logging.INFO, logger="mailrobot")
    try:
        assert sender.drain() == (len(KINDS), 0)
    finally:
        sender.close()
    assert seen == dict.fromkeys(rest, "pending")  # one transaction for the batch, recorded after it
    assert sent_ids(sink, world) == [first, *rest]
    assert f"batches of up to 8 with the sent journal {journal_of(world, state)}" in caplog.text


def test_postgres_without_a_journal_directory_each_mail_is_recorded_on_its_own(
    postgres_url: str, tmp_path: Path, sink: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    world = make_world(tmp_path, sink, connections=1)
    first, *rest = queued(world)
    seen: dict[int, str] = {}

    def look(outbox_id: int) -> None:
        if outbox_id != first:
            with world.db.sessions() as session:
                seen[outbox_id] = session.scalar(select(Outbox.state).where(Outbox.id == first)) or ""

    sender = OutboxSender(world.db, world.settings.smtp)
    while_sending(sender, look)
    caplog.set_level(logging.INFO, logger="mailrobot")
    try:
        assert sender.drain() == (len(KINDS), 0)
    finally:
        sender.close()
    assert sender.journal is None
    assert seen == dict.fromkeys(rest, "sent")  # the first was committed before the next one left
    assert "a transaction per mail (neither smtp.journal_dir nor $STATE_DIRECTORY" in caplog.text
    assert list(tmp_path.rglob("*.sent")) == []


def test_postgres_state_directory_of_systemd_holds_the_journal(
    postgres_url: str, tmp_path: Path, sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "var-lib-mailrobot"
    state.mkdir()
    monkeypatch.setenv("STATE_DIRECTORY", str(state))
    world = make_world(tmp_path, sink)
    queued(world)
    sender = OutboxSender(world.db, world.settings.smtp)
    try:
        assert sender.drain() == (len(KINDS), 0)
        assert sender.journal is not None and sender.journal.path == journal_of(world, state)
    finally:
        sender.close()
    assert journal_of(world, state).read_bytes() == b""


def test_postgres_a_second_sender_skips_the_batch_the_first_holds(
    postgres_url: str, tmp_path: Path, sink: SmtpSink
) -> None:
    # Two hosts: each its own journal directory.
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    world = make_world(tmp_path, sink, journal_dir=str(tmp_path / "a"), connections=1)
    ids = queued(world)
    other = world.settings.smtp.model_copy(update={"journal_dir": str(tmp_path / "b")})
    holding, release = threading.Event(), threading.Event()

    def hold(_outbox_id: int) -> None:
        holding.set()
        assert release.wait(60)

    a, b = OutboxSender(world.db, world.settings.smtp), OutboxSender(world.db, other)
    while_sending(a, hold)
    counts: dict[str, tuple[int, int]] = {}
    first = threading.Thread(target=lambda: counts.update(a=a.drain_once(limit=3)))
    try:
        first.start()
        assert holding.wait(60)  # a has claimed its three rows and is sending the first
        second = threading.Thread(target=lambda: counts.update(b=b.drain()))
        second.start()
        second.join(60)
        assert not second.is_alive(), "the second sender waited for the first one's rows"
        release.set()
        first.join(60)
    finally:
        release.set()
        a.close()
        b.close()
    assert counts == {"a": (3, 0), "b": (3, 0)}
    assert sent_ids(sink, world) == ids  # each once
    assert {s for s, _, _ in states(world).values()} == {"sent"}


def test_postgres_a_record_that_fails_is_made_from_the_journal_not_by_sending_again(
    postgres_url: str, tmp_path: Path, sink: SmtpSink
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    world = make_world(tmp_path, sink, journal_dir=str(state))
    ids = queued(world)
    sender = OutboxSender(world.db, world.settings.smtp)
    record = sender._record
    calls = []

    def fail_once(session: object, results: list[sender_module.Result]) -> None:
        calls.append(len(results))
        if len(calls) == 1:
            raise RuntimeError("the database went away between the sends and the record")
        record(session, results)  # type: ignore[arg-type]

    sender._record = fail_once  # type: ignore[method-assign]
    try:
        with pytest.raises(RuntimeError):
            sender.drain_once()
        assert sender.drain() == (0, 0)  # what is left is recorded from the journal, nothing to send
    finally:
        sender.close()
    assert sent_ids(sink, world) == ids  # each once
    assert {s for s, _, _ in states(world).values()} == {"sent"}


def test_postgres_a_sender_waits_for_the_journal_of_one_that_is_exiting(
    postgres_url: str, tmp_path: Path, sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The daemon's next sender process may start while the last one, retiring, still holds the file.
    monkeypatch.setattr(sent_journal, "BUSY_WAIT", 30.0)
    state = tmp_path / "state"
    state.mkdir()
    world = make_world(tmp_path, sink, journal_dir=str(state))
    queued(world)
    exiting = SentJournal(journal_of(world, state), exclusive=True)
    timer = threading.Timer(0.5, exiting.close)
    sender = OutboxSender(world.db, world.settings.smtp)
    try:
        timer.start()
        assert sender.drain() == (len(KINDS), 0)
        assert sender.journal is not None  # batches, not a transaction per mail
    finally:
        timer.join()
        sender.close()


def test_postgres_a_second_sender_of_this_host_leaves_the_journal_to_the_first(
    postgres_url: str,
    tmp_path: Path,
    sink: SmtpSink,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # `mailrobot jobs run` beside the daemon: two senders on one file would empty each other's lines.
    monkeypatch.setattr(sent_journal, "BUSY_WAIT", 0.2)
    state = tmp_path / "state"
    state.mkdir()
    world = make_world(tmp_path, sink, journal_dir=str(state))
    queued(world)
    held = SentJournal(journal_of(world, state), exclusive=True)
    sender = OutboxSender(world.db, world.settings.smtp)
    caplog.set_level(logging.INFO, logger="mailrobot")
    try:
        assert sender.drain() == (len(KINDS), 0)
        assert sender.journal is None
    finally:
        sender.close()
        held.close()
    assert "a transaction per mail (" in caplog.text and "held by another sender on this host" in caplog.text


def test_sqlite_keeps_its_journal_beside_the_database_whatever_journal_dir_says(
    tmp_path: Path, sink: SmtpSink
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    url = f"sqlite:///{tmp_path}/robot.db"  # the SQLite rule, whatever the pass
    world = World(
        tmp_path,
        smtp={"port": sink.port, "journal_dir": str(state)},
        database={"url": url},
        people={"head": [HEAD]},
    )
    ids = queued(world)
    (tmp_path / "robot.db.sent").write_bytes(b"%d\n" % ids[0])
    sender = OutboxSender(world.db, world.settings.smtp)
    try:
        assert sender.drain() == (len(ids) - 1, 0)
    finally:
        sender.close()
    assert sent_ids(sink, world) == ids[1:]
    assert list(state.iterdir()) == []


def test_two_databases_never_share_a_journal() -> None:
    names = {
        journal_name("postgresql+psycopg://robot@db1.example.kz/mailrobot"),
        journal_name("postgresql+psycopg://robot@db2.example.kz/mailrobot"),
        journal_name("postgresql+psycopg://robot@db1.example.kz:5433/mailrobot"),
        journal_name("postgresql+psycopg://robot@db1.example.kz/mailrobot_test"),
    }
    assert len(names) == 4 and all(n.startswith("outbox-") and n.endswith(".sent") for n in names)
    # The password or user does not make another file: the same database.
    assert journal_name("postgresql+psycopg://a:x@h/d") == journal_name("postgresql+psycopg://b:y@h/d")
