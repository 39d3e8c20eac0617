"""Leader election: one daemon leads; on SQLite a second one is refused, on PostgreSQL it waits (the same with
daemon processes: tests/e2e/test_two_daemons.py)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from mailrobot.outside import leader
from mailrobot.store.db import Database


def _admin(url: str) -> psycopg.Connection:
    u = make_url(url)
    return psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=u.database, autocommit=True)


# -- SQLite ----------------------------------------------------------------------------------------------


def test_sqlite_second_leader_is_refused_until_the_first_releases(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/robot.db")
    stop = threading.Event()
    first = leader.acquire(db, stop)
    assert first is not None
    with pytest.raises(leader.AnotherDaemonRuns) as refused:
        leader.acquire(Database(db.url), stop)
    message = str(refused.value)
    assert f"pid {os.getpid()}" in message and "robot.db" in message and "PostgreSQL" in message
    first.release()
    again = leader.acquire(Database(db.url), stop)
    assert again is not None
    again.release()


# -- PostgreSQL ------------------------------------------------------------------------------------------


def test_postgres_follower_takes_over_when_the_leader_releases(postgres_url: str) -> None:
    stop_a, stop_b = threading.Event(), threading.Event()
    a = leader.acquire(Database(postgres_url), stop_a)
    assert a is not None and isinstance(a.lock, leader.PostgresAdvisoryLock)

    with pytest.raises(leader.AnotherDaemonRuns) as refused:
        leader.acquire(Database(postgres_url), stop_b, wait=False)
    assert f"pid {os.getpid()}" in str(refused.value)  # names the leader by its application_name

    statuses: list[str] = []
    got: list[leader.Leadership | None] = []
    follower = threading.Thread(
        target=lambda: got.append(
            leader.acquire(Database(postgres_url), stop_b, poll_interval=0.1, on_wait=statuses.append)
        )
    )
    follower.start()
    time.sleep(0.5)
    assert not got and statuses and statuses[0].startswith("following: mailrobot ")
    released = time.monotonic()
    a.release()
    follower.join(timeout=5)
    assert got and got[0] is not None, "the follower did not take over"
    assert time.monotonic() - released < 2
    got[0].release()


def test_postgres_follower_stops_waiting_on_stop(postgres_url: str) -> None:
    a = leader.acquire(Database(postgres_url), threading.Event())
    assert a is not None
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    assert leader.acquire(Database(postgres_url), stop, poll_interval=0.1) is None
    a.release()


def test_postgres_lock_session_has_keepalives_so_a_dead_host_is_dropped(postgres_url: str) -> None:
    a = leader.acquire(Database(postgres_url), threading.Event())
    assert a is not None and isinstance(a.lock, leader.PostgresAdvisoryLock) and a.lock.conn is not None
    conn = a.lock.conn
    # Server side: the session's own settings make the server probe and drop a vanished client.
    assert conn.execute(text("SHOW tcp_keepalives_idle")).scalar() in ("5", "5s")
    assert conn.execute(text("SHOW tcp_keepalives_count")).scalar() == "3"
    assert conn.execute(text("SHOW tcp_user_timeout")).scalar() in ("10000", "10s")
    a.release()


def test_postgres_leader_steps_down_when_its_lock_session_is_killed(postgres_url: str) -> None:
    stop = threading.Event()
    a = leader.acquire(Database(postgres_url), stop, check_interval=0.2)
    assert a is not None and isinstance(a.lock, leader.PostgresAdvisoryLock) and a.lock.conn is not None
    pid = a.lock.conn.execute(text("SELECT pg_backend_pid()")).scalar()
    with _admin(postgres_url) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    assert stop.wait(5), "the leader did not step down"
    assert a.lost and "session failed" in a.lost
    with pytest.raises(leader.LeadershipLost, match="stepped down"):
        a.raise_if_lost()
    a.release()
    b = leader.acquire(Database(postgres_url), threading.Event(), wait=False)  # free for the other daemon
    assert b is not None
    b.release()


def test_postgres_leader_steps_down_when_its_lock_session_hangs(postgres_url: str) -> None:
    # A frozen server process: the kernel still acknowledges, so only our own deadline notices.  (A dead
    # network makes the same check fail through tcp_user_timeout instead.)
    stop = threading.Event()
    a = leader.acquire(Database(postgres_url), stop, check_interval=0.2, check_timeout=1.0)
    assert a is not None and isinstance(a.lock, leader.PostgresAdvisoryLock) and a.lock.conn is not None
    pid = int(a.lock.conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        assert stop.wait(5), "the leader did not step down"
        assert time.monotonic() - started < 3
        assert a.lost and "did not answer within 1 s" in a.lost
        a.release()  # must not hang on the stuck connection
    finally:
        os.kill(pid, signal.SIGCONT)


def test_postgres_two_daemons_migrate_one_after_the_other(postgres_url: str) -> None:
    errors: list[BaseException] = []

    def upgrade() -> None:
        try:
            db = Database(postgres_url)
            db.upgrade()
            db.dispose()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=upgrade) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
