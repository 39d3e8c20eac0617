"""The fault drills of bench/drills/ in short versions (issue 13): the same code, smaller numbers.

Each runs the real robot against a real Dovecot and SMTP sink, does the fault, and asserts the drill's
verdict: no mail lost, no duplicate case, notices sent once (or twice only as the kill rule allows, then the
same mail), and the robot going on by itself when the fault is gone.  bench/drills/*.py run the long
versions by hand (bench/README.md has their figures).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from mailrobot.service.context import Services
from mailrobot.service.daemon import Robot
from mailrobot.store.db import database_trouble
from tests.support import pg
from tests.support.dovecot import Dovecot
from tests.support.drills import (
    World,
    big_mail,
    burst,
    database_drill,
    dovecot_drill,
    kill_drill,
    loop_drill,
    smtp_down_drill,
    sqlite_locked,
)
from tests.support.site import Site


@pytest.fixture
def world(tmp_path: Path, dovecot: Dovecot) -> World:
    with World(tmp_path, pg.database_url(tmp_path), dovecot=dovecot) as w:
        yield w


def assert_passed(verdict) -> None:
    print(verdict.line())
    assert verdict.passed, verdict.line()


def test_kill_9_during_a_burst_loses_nothing_and_resends_at_most_one_mail_a_kill(world: World) -> None:
    # Before the sent journal a kill between SMTP's 250 and the batch's record resent the whole batch:
    # 46 twins after 3 kills in a 150-mail burst.  PostgreSQL journals too (smtp.journal_dir, as systemd's
    # $STATE_DIRECTORY would); a row a transaction there made up to smtp.connections twins a kill (long drill:
    # 14 twins in 16 kills; with the journal 0 in 20 kills under load, 2-3 in 9-10 quiet, as SQLite).
    assert_passed(kill_drill(world, mails=150, kills=3, seed=7))
    if not world.database_url.startswith("sqlite"):
        assert "outbox sender: batches of up to 32 with the sent journal" in world.journal()


def test_smtp_down_every_notice_once_and_the_backlog_visible(world: World) -> None:
    # doctor showed "20 mail(s) waiting, none failed" during an outage younger than 30 minutes: no age.
    assert_passed(smtp_down_drill(world, mails=20, down_seconds=6))


def test_dovecot_killed_mid_burst_reconnects_without_the_watchdog_firing(tmp_path: Path) -> None:
    # A Dovecot of its own: this one is killed.
    with World(tmp_path, pg.database_url(tmp_path)) as w:
        assert_passed(dovecot_drill(w, mails=80, down_seconds=2))


def test_sqlite_locked_by_another_writer_moves_nothing_uncommitted(tmp_path: Path, dovecot: Dovecot) -> None:
    url = f"sqlite:///{tmp_path}/locked.db"  # the SQLite rule, whatever the pass
    with World(tmp_path, url, dovecot=dovecot) as w:
        path = Path(make_url(url).database or "")
        verdict = database_drill(w, lambda: sqlite_locked(path), mails=20, seconds=4)
    assert_passed(verdict)


def test_a_mail_loop_with_an_unmarked_auto_responder_stops_by_itself(world: World) -> None:
    verdict = loop_drill(world, limit=60, quiet_seconds=5)
    assert_passed(verdict)
    assert verdict.figures["robot_sent"] <= 5  # robot.notices_per_sender_per_day


def test_disk_full_keeps_the_mail_in_the_inbox_says_why_and_goes_on(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    # SQLite's max_page_count makes the database file full as a full disk would (SQLITE_FULL), without
    # root; bench/drills/disk_full.py fills a real tmpfs.
    config = site.write_config(database={"url": f"sqlite:///{site.tmp_path}/full.db"})
    robot = Robot(Services.load(config))
    engine = robot.db.engine
    with engine.connect() as conn:
        pages = {"max": int(conn.scalar(text("PRAGMA page_count")) or 0) + 40}  # ≈ 160 KB more

    @event.listens_for(engine, "connect")
    def _cap(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages['max']}")

    engine.dispose()
    site.append(burst(1, "full")[0])
    site.append(big_mail(1 << 20, "<full-big@mail.ru>"))
    caplog.set_level(logging.INFO, logger="mailrobot")
    loop = threading.Thread(target=robot._intake_loop, daemon=True)
    loop.start()
    try:
        deadline = time.monotonic() + 60
        while "database unavailable: the disk is full" not in caplog.text:
            assert time.monotonic() < deadline, caplog.text[-3000:]
            time.sleep(0.1)
        assert len(site.dovecot.list_uids(site.mailbox.username)) >= 1  # the big one waits in the inbox
        pages["max"] = 10**9  # space comes back
        engine.dispose()
        while site.dovecot.list_uids(site.mailbox.username):
            assert time.monotonic() < deadline + 60, caplog.text[-3000:]
            time.sleep(0.1)
    finally:
        robot.stop.set()
        loop.join(30)
        robot.db.dispose()
    assert "IMAP error" not in caplog.text  # it was the database, and the journal says so


def test_database_trouble_names_a_full_disk_and_a_held_lock(tmp_path: Path) -> None:
    import sqlite3

    from sqlalchemy import create_engine
    from sqlalchemy.exc import DBAPIError

    engine = create_engine(f"sqlite:///{tmp_path}/t.db", connect_args={"timeout": 0})
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x BLOB)"))
    holder = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(DBAPIError) as locked, engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
    holder.execute("ROLLBACK")
    with pytest.raises(DBAPIError) as full, engine.begin() as conn:
        conn.execute(text("PRAGMA max_page_count = 3"))
        conn.execute(text("INSERT INTO t VALUES (zeroblob(100000))"))
    engine.dispose()
    assert "lock" in (database_trouble(locked.value) or "")
    assert (database_trouble(full.value) or "").startswith("the disk is full")
    assert database_trouble(ValueError("x")) is None


def test_a_temporary_login_failure_is_retried_with_the_short_backoff(site: Site) -> None:
    # Found by the drills' harness: Dovecot answers "[UNAVAILABLE] Temporary authentication failure" when
    # its auth process cannot read the users file; the daemon took that for a refused login and waited 60 s.
    users_file = site.dovecot.users_dir / site.mailbox.username
    users_file.chmod(0)
    daemon = site.start_daemon(site.write_config())
    try:
        daemon.wait_for_log("Temporary authentication failure")
        daemon.wait_for_log("reconnecting in 1 s")
        assert "retrying in 60 s" not in daemon.log()
    finally:
        users_file.chmod(0o644)
    daemon.wait_for_log("selected", timeout=30)
    daemon.stop()
