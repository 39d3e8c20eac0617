"""systemd's notify protocol, against a real daemon process, a real Dovecot and an SMTP sink.

The test plays systemd: it binds the $NOTIFY_SOCKET datagram socket, sets $WATCHDOG_USEC, and reads what
the daemon says.  The only time bounds asserted are the protocol's own: a watchdog ping at least every
WATCHDOG_USEC while the robot works, none once the IMAP server hangs (so systemd would restart it), and an
exit within 10 s of SIGTERM.
"""

from __future__ import annotations

import itertools
import signal
import time

from sqlalchemy import select

from mailrobot.config import load_settings
from mailrobot.store.db import Database
from mailrobot.store.models import Message, Outbox
from tests.support.factories import consumer_mail
from tests.support.site import Site
from tests.support.systemd import is_ready

WATCHDOG_USEC = 2_000_000
WATCHDOG = WATCHDOG_USEC / 1_000_000


def test_ready_after_the_mailbox_then_watchdog_pings_stop_while_imap_is_frozen(site: Site) -> None:
    dovecot, mailbox, notify = site.dovecot, site.mailbox, site.notify
    # A long IMAP timeout: what stops the pings here must be the hang itself, not a reconnect.
    config = site.write_config(imap={"timeout": 120.0})
    daemon = site.start_daemon(config, WATCHDOG_USEC)

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
        daemon.assert_alive()
    finally:
        dovecot.thaw()
    thawed_at = time.monotonic()
    notify.wait_for(lambda f: f.get("WATCHDOG") == "1", timeout=60, after=thawed_at)

    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0
    assert notify.seen("STOPPING")


def test_not_ready_while_the_mailbox_refuses_the_login(site: Site) -> None:
    notify = site.notify
    config = site.write_config(imap={"password": "not-the-password"})
    daemon = site.start_daemon(config, WATCHDOG_USEC)

    _at, status = notify.wait_for(lambda f: "retrying in" in f.get("STATUS", ""), timeout=60)
    assert "LoginError" in status["STATUS"]
    assert not notify.seen("READY"), "READY=1 before the mailbox was reachable"

    signalled = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0
    assert time.monotonic() - signalled <= 10
    assert notify.seen("STOPPING")


def test_sigterm_commits_the_batch_in_hand_and_records_sends_in_flight(site: Site) -> None:
    dovecot, mailbox, smtp_sink, notify = site.dovecot, site.mailbox, site.smtp_sink, site.notify
    batch, total = 5, 40
    with dovecot.session(mailbox.username) as imap:
        for n in range(total):
            raw = consumer_mail(
                f"consumer{n}@mail.ru", f"Обращение {n}", "Прошу проверить счёт.", f"<c{n}@mail.ru>"
            )
            imap.append("INBOX", raw)
    config = site.write_config(imap={"batch_size": batch})
    daemon = site.start_daemon(config)

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
