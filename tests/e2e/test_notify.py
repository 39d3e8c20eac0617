"""systemd's notify protocol, against a real daemon process, a real Dovecot and an SMTP sink.

The test plays systemd: it binds the $NOTIFY_SOCKET datagram socket, sets $WATCHDOG_USEC, and reads what
the daemon says.  The only time bounds asserted are the protocol's own: a watchdog ping at least every
WATCHDOG_USEC while the robot works, none once the IMAP server hangs (so systemd would restart it), and an
exit within 10 s of SIGTERM.
"""

from __future__ import annotations

import itertools
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from mailrobot.config import load_settings
from mailrobot.store.db import Database
from mailrobot.store.models import Message, Outbox
from tests.conftest import Mailbox, WriteConfig
from tests.factories import consumer_mail
from tests.servers import Dovecot, SmtpSink

REPO = Path(__file__).resolve().parent.parent
WATCHDOG_USEC = 2_000_000
WATCHDOG = WATCHDOG_USEC / 1_000_000


Notice = tuple[float, dict[str, str]]


class NotifySocket:
    """The systemd end of sd_notify: collects each datagram as (arrival time, {KEY: value})."""

    def __init__(self) -> None:
        # Abstract namespace: no path-length limit, nothing to clean up.
        self.address = f"@mailrobot-test-{os.getpid()}-{secrets.token_hex(4)}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(b"\0" + self.address[1:].encode())
        self.sock.settimeout(0.2)
        self.notices: list[Notice] = []
        self._cond = threading.Condition()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            with self._cond:
                self.notices.append((time.monotonic(), fields))
                self._cond.notify_all()

    def wait_for(
        self, predicate: Callable[[dict[str, str]], bool], timeout: float, after: float = 0.0
    ) -> Notice:
        """The first notice (arrived after `after`) that `predicate` accepts; fails with what came."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for notice in self.notices:
                    if notice[0] > after and predicate(notice[1]):
                        return notice
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail(f"no such notice within {timeout} s; got {[n[1] for n in self.notices]}")
                self._cond.wait(remaining)

    def pings(self, after: float = 0.0) -> list[float]:
        with self._cond:
            return [at for at, fields in self.notices if fields.get("WATCHDOG") == "1" and at > after]

    def seen(self, key: str, value: str = "1") -> bool:
        with self._cond:
            return any(fields.get(key) == value for _at, fields in self.notices)

    def statuses(self) -> list[str]:
        with self._cond:
            return [fields["STATUS"] for _at, fields in self.notices if "STATUS" in fields]

    def close(self) -> None:
        self._closed.set()
        self._thread.join()
        self.sock.close()


class DaemonProcess:
    """`mailrobot run` as systemd would start it, with its log in a file."""

    def __init__(
        self, config: Path, notify: NotifySocket | None = None, watchdog_usec: int | None = None
    ) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
        if notify is not None:
            env["NOTIFY_SOCKET"] = notify.address
        if watchdog_usec is not None:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        self.log_path = config.with_name("daemon.log")
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mailrobot", "run", "--config", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO,
            )

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the daemon did not exit within {timeout} s; its log:\n{self.log()[-4000:]}")

    def assert_running(self) -> None:
        assert self.proc.poll() is None, (
            f"the daemon exited with {self.proc.returncode}:\n{self.log()[-4000:]}"
        )

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def notify() -> Iterator[NotifySocket]:
    sock = NotifySocket()
    yield sock
    sock.close()


@pytest.fixture
def start_daemon() -> Iterator[Callable[..., DaemonProcess]]:
    """Factory for daemon processes; any still running at the end of the test is killed."""
    started: list[DaemonProcess] = []

    def start(
        config: Path, notify: NotifySocket | None = None, watchdog_usec: int | None = None
    ) -> DaemonProcess:
        daemon = DaemonProcess(config, notify, watchdog_usec)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.kill()


def is_ready(fields: dict[str, str]) -> bool:
    return fields.get("READY") == "1"


def test_ready_after_the_mailbox_then_watchdog_pings_stop_while_imap_is_frozen(
    tmp_path: Path,
    dovecot: Dovecot,
    mailbox: Mailbox,
    smtp_sink: SmtpSink,
    write_config: WriteConfig,
    notify: NotifySocket,
    start_daemon: Callable[..., DaemonProcess],
) -> None:
    # A long IMAP timeout: what stops the pings here must be the hang itself, not a reconnect.
    config = write_config(tmp_path, mailbox, smtp_sink, imap={"timeout": 120.0})
    daemon = start_daemon(config, notify, WATCHDOG_USEC)

    ready_at, ready = notify.wait_for(is_ready, timeout=60)
    assert mailbox.username in ready.get("STATUS", "")
    # Dovecot logged the robot in before it said READY.
    assert f"Login: user=<{mailbox.username}>" in dovecot.log_path.read_text(errors="replace")

    # While the robot idles, pings come from the intake loop at least every WATCHDOG_USEC.
    notify.wait_for(lambda f: f.get("WATCHDOG") == "1", timeout=30, after=ready_at + 3 * WATCHDOG)
    pings = [ready_at, *notify.pings(after=ready_at)]
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    assert len(gaps) >= 3 and max(gaps) <= WATCHDOG, gaps
    assert any(s.startswith("idle, 0 in outbox") for s in notify.statuses())

    dovecot.freeze()
    try:
        frozen_at = time.monotonic()
        time.sleep(3 * WATCHDOG)
        # A ping needs an answer from the server; nothing answers now.  (A reply already on its way when the
        # SIGSTOP landed may still produce one ping in the first moment.)
        assert notify.pings(after=frozen_at + 0.5) == []
        last = max(notify.pings(after=ready_at))
        assert time.monotonic() - last > WATCHDOG, "systemd's watchdog would not have fired"
        daemon.assert_running()
    finally:
        dovecot.thaw()
    thawed_at = time.monotonic()
    notify.wait_for(lambda f: f.get("WATCHDOG") == "1", timeout=60, after=thawed_at)

    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0
    assert notify.seen("STOPPING")


def test_not_ready_while_the_mailbox_refuses_the_login(
    tmp_path: Path,
    mailbox: Mailbox,
    smtp_sink: SmtpSink,
    write_config: WriteConfig,
    notify: NotifySocket,
    start_daemon: Callable[..., DaemonProcess],
) -> None:
    config = write_config(tmp_path, mailbox, smtp_sink, imap={"password": "not-the-password"})
    daemon = start_daemon(config, notify, WATCHDOG_USEC)

    _at, status = notify.wait_for(lambda f: "retrying in" in f.get("STATUS", ""), timeout=60)
    assert "LoginError" in status["STATUS"]
    assert not notify.seen("READY"), "READY=1 before the mailbox was reachable"

    signalled = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0
    assert time.monotonic() - signalled <= 10
    assert notify.seen("STOPPING")


def test_sigterm_commits_the_batch_in_hand_and_records_sends_in_flight(
    tmp_path: Path,
    dovecot: Dovecot,
    mailbox: Mailbox,
    smtp_sink: SmtpSink,
    write_config: WriteConfig,
    notify: NotifySocket,
    start_daemon: Callable[..., DaemonProcess],
) -> None:
    batch, total = 5, 40
    with dovecot.session(mailbox.username) as imap:
        for n in range(total):
            raw = consumer_mail(
                f"consumer{n}@mail.ru", f"Обращение {n}", "Прошу проверить счёт.", f"<c{n}@mail.ru>"
            )
            imap.append("INBOX", raw)
    config = write_config(tmp_path, mailbox, smtp_sink, imap={"batch_size": batch})
    daemon = start_daemon(config, notify)

    # SIGTERM the moment the first batch is taken in hand.
    notify.wait_for(lambda f: f.get("STATUS", "").startswith("processing"), timeout=60)
    signalled = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0
    assert time.monotonic() - signalled <= 10
    assert notify.seen("STOPPING")
    assert "stopped" in daemon.log()

    db = Database(load_settings(config).database.url)
    try:
        with db.sessions() as session:
            registered = session.scalars(select(Message.uid)).all()
            outbox = session.execute(select(Outbox.message_id, Outbox.state, Outbox.attempts)).all()
    finally:
        db.dispose()
    moved = dovecot.list_uids(mailbox.username, "Processed")
    waiting = dovecot.list_uids(mailbox.username, "INBOX")
    # Whole batches only: each batch taken in hand was committed and then moved; the rest was not touched.
    assert len(registered) >= batch and len(registered) % batch == 0
    assert len(moved) == len(registered) and len(waiting) == total - len(registered)

    # Every mail the SMTP server accepted is recorded as sent; what was not sent waits, with no attempt lost.
    accepted = {str(m.message["Message-ID"]).strip("<>") for m in smtp_sink.messages}
    sent = {mid.strip("<>") for mid, state, _attempts in outbox if state == "sent"}
    assert accepted == sent
    assert all(state == "pending" and attempts == 0 for _mid, state, attempts in outbox if state != "sent")
