"""When the IMAP server tells an IDLE client of new mail, and when the daemon heard (bench/intake.burst).

Dovecot holds every announcement to an IDLE connection back by a fixed 500 ms after the first change it is
told of (NOTIFY_DELAY_MSECS in src/lib-storage/mailbox-watch.c, Dovecot 2.3.19.1; a constant, not a
setting), for each connection alike.  The daemon's burst is timed from the MOVE, so it pays that delay; the
naive loop, which starts with the mail already there, never does.  An observer (a connection of its own)
measures the delay in the same MOVE, so the daemon's own part can be told apart.
"""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import datetime

from tests.support.dovecot import Dovecot

# What mailrobot.outside.imap logs at DEBUG when IDLE, a NOOP or the end of IDLE brings EXISTS or RECENT.
ANNOUNCED = "DEBUG mailrobot.outside.imap: the server announced new mail"


class NotifyObserver:
    """A second connection to the mailbox (its own login) in IDLE on INBOX from its creation: the
    perf_counter() at which the server announced new mail to it (the first EXISTS)."""

    def __init__(self, dovecot: Dovecot, username: str) -> None:
        self.client = dovecot.client(username)
        self.client.select_folder("INBOX")
        self.client.idle()  # returns on the server's "+ idling": in IDLE from here
        self.heard: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)

    def __enter__(self) -> NotifyObserver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _listen(self) -> None:
        while self.heard is None and not self._stop.is_set():
            responses = self.client.idle_check(timeout=0.5)
            if any(isinstance(r, tuple) and len(r) >= 2 and r[1] == b"EXISTS" for r in responses):
                self.heard = time.perf_counter()
        # Gone at once: left in IDLE, its Dovecot process would sync INBOX again for every batch the daemon
        # moves out, work on the two cores the daemon is timed on.
        with contextlib.suppress(Exception):
            self.client.idle_done()
            self.client.logout()

    def heard_at(self, timeout: float) -> float:
        self._thread.join(timeout)
        if self.heard is None:
            raise TimeoutError("the observer's IDLE connection was told of no new mail")
        return self.heard


def first_logged(log: str, needle: str = ANNOUNCED) -> float | None:
    """Epoch seconds of the first log line with `needle` (the default format's local asctime, to the ms);
    None when there is none."""
    for line in log.splitlines():
        if needle in line:
            # Naive: read as local time, as logging wrote it.
            return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    return None
