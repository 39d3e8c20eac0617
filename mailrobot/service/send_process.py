"""The outbox sender as a process of its own, forked only while the outbox has mail to send (issue 13).

Why a process: the sender's smtplib and ORM work took the GIL from parse, decide and persist; the child runs
on the second core.  Why only while there is mail: a page the daemon writes while a child lives is copied (a
child kept for ever held 26.5 MB of its own after 100 mails, bench/memory.py); gc.freeze() at start keeps the
collector off the old pages.  `mailrobot run --sender thread` keeps the sender in the daemon's threads.

One supervisor thread, from start() to stop(), forks the children, reads their sockets and reaps them
(PR_SET_PDEATHSIG fires when the *thread* that forked dies).  lead(), wake() and finish() ask it for a child
when none is sending; lead() and wake() wait for that fork.

The retire race: an idle child says I and waits on its socket alone.  The supervisor answers under the lock
wake() takes: W (go on) if a wake-up byte is unread in the wake pipe (a zero-timeout select on the read end
the daemon keeps), else Q.  A wake() before the answer left its byte there: W.  A wake() after Q finds no
sending child and asks for a new one; the old one exits without another round, so no two children send.

What keeps it safe: a child dies with the daemon (PR_SET_PDEATHSIG, a getppid() check each round); each new
child reads the sent journal first (a kill -9 resends at most what was in flight); only a leader forks.  A
child that exits untold (not Q, F or a stop), or that the watchdog kills as hung (no heartbeat for
send_child.stall_limit s), stops the daemon with status 1: systemd starts both again.  Inherited locks:
send_child.py.  SIGTERM stops a child after its sends in flight; SIGHUP's [smtp] settings go to it with C.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import pickle
import select
import signal
import socket
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import configure_mappers

from mailrobot.config import Settings
from mailrobot.service import forking
from mailrobot.service import send_child as child
from mailrobot.service.sending import Counts, SenderDied
from mailrobot.store.db import Database

log = logging.getLogger(__name__)

CONTROL_TIMEOUT = 10.0  # a control message to a sender that does not read for this long is given up
FORK_WAIT = 2.0  # lead() and wake() wait this long at most for the fork they asked for (see _await_fork)
WATCH_EVERY = 5.0  # the watchdog looks at the children's heartbeats this often (send_child.stall_limit)


@dataclass(eq=False)
class _Kid:  # a forked sender not reaped yet
    pid: int
    sock: socket.socket
    settings: Settings  # the ones it runs with
    heart: forking.Heartbeat
    told: bool = False  # Q or SIGTERM: its exit is no news
    finishing: bool = False  # F sent
    done: bool = False  # D received
    spoke: bool = False  # said anything at all
    stalled: bool = False  # killed by the watchdog


class ProcessOutbox:
    """The daemon's side: a supervisor thread forks senders while there is mail, counts what they report.
    `hook(event, pid)` (tests) runs around each answer to I: "idle" before it, "go on" or "quit" after."""

    def __init__(
        self, db: Database, settings: Settings, on_counts: Counts, on_died: Callable[[], None],
        linger: float = child.LINGER,
    ) -> None:  # fmt: skip
        self.db, self.settings, self.linger = db, settings, linger
        self.on_counts, self.on_died = on_counts, on_died
        self.hook: Callable[[str, int], None] = lambda _event, _pid: None
        self.totals = [0, 0]
        self.died: str | None = None
        self._lock = threading.Lock()  # wake() against the answer to I and the choice to fork
        self._kids: list[_Kid] = []  # the sending one, and any told to quit that has not exited yet
        self._sending: _Kid | None = None
        self._leading = self._finishing = self._wanted = self._stopping = self._soon = False
        self._kill_at: float | None = None
        self._done = threading.Event()  # finish(): D received, or it cannot come any more
        self._drained: str | None = None  # "" once D came, else why not
        self._thread: threading.Thread | None = None
        self._gate: forking.ConnectionGate | None = None
        self._forked: threading.Event | None = None  # set once the fork asked for happened (or never will)
        self._wake_r = self._wake_w = self._poke_r = self._poke_w = -1

    @property
    def pid(self) -> int | None:  # the sending child's
        return self._sending.pid if self._sending is not None else None

    def start(self) -> None:
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC)  # its read end stays open here: the peek
        os.set_blocking(self._wake_w, False)
        self._poke_r, self._poke_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        child.share_token(self.settings)
        configure_mappers()  # now, not by the first query of some thread while the supervisor forks
        self._gate = forking.ConnectionGate() if self.db.is_sqlite else None
        # Long-lived objects of the imports and the config go to the permanent generation: the collector
        # would otherwise write into (and so copy) every page that holds them while a child lives.
        gc.freeze()
        # Python 3.12+ warns at every fork of a process with threads; send_child.py says why this one is safe.
        warnings.filterwarnings("ignore", r"This process .* is multi-threaded", DeprecationWarning, __name__)
        self._thread = threading.Thread(target=self._supervise, name="outbox-supervisor", daemon=True)
        self._thread.start()

    # -- called by the daemon's threads ----------------------------------------------------------------------
    def lead(self) -> None:
        with self._lock:
            self._leading = True
            forked = self._ask_fork()
        self._await_fork(forked)

    def wake(self) -> None:
        with self._lock:
            if self._wake_w < 0:
                return  # stopped
            with contextlib.suppress(BlockingIOError):  # full: wake-ups wait already
                os.write(self._wake_w, b"w")
            if self._sending is not None or not self._leading:
                return
            forked = self._ask_fork()
        self._await_fork(forked)

    def _ask_fork(self) -> threading.Event:
        self._wanted = True
        if self._forked is None:
            self._forked = threading.Event()
        return self._forked

    def _await_fork(self, forked: threading.Event) -> None:
        """The caller waits (FORK_WAIT s at most) for the fork it asked for: the daemon's heap is clean now,
        between two batches.  Forked while the next batch is fetched, the child would keep a copy of that
        mail (the pages the daemon frees stay the child's): +34 MB for a 25 MB attachment, measured."""
        self._poke()
        if threading.current_thread() is not self._thread:
            forked.wait(FORK_WAIT)

    def reconfigure(self, settings: Settings) -> None:
        with self._lock:
            self.settings = settings  # the supervisor sends it to a running child; later ones fork with it
        self._poke()

    def stopping(self) -> None:
        """Safe in a signal handler: no lock (the handler may run while this thread holds it)."""
        self._stopping = True
        self._poke()

    def stop(self, grace: float) -> None:
        """SIGTERM to the children; they finish the sends in flight and exit.  Killed after `grace` s."""
        if self._thread is None:
            return
        self._kill_at = time.monotonic() + max(grace, 0.1)
        self.stopping()
        self._thread.join(max(grace, 0.1) + 10)
        if self._thread.is_alive():
            log.error("the outbox supervisor did not end")
            return
        with self._lock:
            for fd in (self._wake_r, self._wake_w, self._poke_r, self._poke_w):
                if fd >= 0:
                    os.close(fd)
            self._wake_r = self._wake_w = self._poke_r = self._poke_w = -1
        if self._gate is not None:
            self._gate.close()
        self._thread = None

    def finish(self) -> tuple[int, int]:
        """Everything due now sent (or left for its retry), the sender gone; totals since lead()."""
        with self._lock:
            self._leading = self._finishing = self._wanted = True
        self._poke()
        self._done.wait()
        if self._drained != "":
            raise SenderDied(self.died or self._drained or "the outbox sender did not finish")
        return self.totals[0], self.totals[1]

    def raise_if_died(self) -> None:
        if self.died:
            raise SenderDied(self.died)

    def _poke(self) -> None:
        with contextlib.suppress(OSError):  # full: the supervisor has pokes to read already; -1: stopped
            os.write(self._poke_w, b".")

    # -- the supervisor thread -------------------------------------------------------------------------------
    def _supervise(self) -> None:
        try:
            while self._turn():
                pass
        except BaseException:
            log.exception("the outbox supervisor failed")
            self._fail("the outbox supervisor failed")
            for kid in list(self._kids):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(kid.pid, signal.SIGKILL)
                self._gone(kid)
        finally:
            if self._drained is None:  # finish() must not wait for a D that cannot come any more
                self._drained = "the outbox sender was stopped before the outbox was drained"
            self._done.set()
            with self._lock:
                self._release_waiters()

    def _turn(self) -> bool:
        """Fork, instruct or stop the children as asked, then wait for a message or a poke.  False: done."""
        with self._lock:
            if self._stopping:
                if not self._kids:
                    return False
                self._stop_kids()
            wanted, self._wanted = self._wanted, False
            fork = wanted and self._sending is None and self._leading and self.died is None
        if fork and not self._stopping:
            self._spawn()  # outside the lock: a thread in a transaction may call wake() meanwhile
        with self._lock:
            if not self._stopping:
                self._instruct()
        timeout, self._soon = (child.RETRY_PAUSE if self._soon else None), False
        if self._stopping and self._kill_at is not None:
            timeout = max(self._kill_at - time.monotonic(), 0.0) + 0.01
        elif self._kids:
            timeout = min(timeout or WATCH_EVERY, WATCH_EVERY)
        readable, _, _ = select.select([self._poke_r, *(k.sock for k in self._kids)], [], [], timeout)
        self._watch()
        if self._poke_r in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(self._poke_r, 4096)
        for kid in list(self._kids):
            if kid.sock in readable:
                self._receive(kid)
        return True

    def _watch(self) -> None:
        """SIGKILL to a child silent for stall_limit s (hung: send_child.py says how); _gone() takes it up."""
        limit = child.stall_limit(self.settings)
        for kid in self._kids:
            if not kid.stalled and kid.heart.silent_for() > limit:
                kid.stalled = True
                log.error("the outbox sender process %s made no progress for %g s: killed", kid.pid, limit)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(kid.pid, signal.SIGKILL)

    def _spawn(self) -> None:
        with self._gate.shut() if self._gate is not None else contextlib.nullcontext(True) as quiet:
            kid = self._fork() if quiet else None
        with self._lock:
            if kid is None:  # a transaction or an import under way in another thread: a moment later
                self._wanted = self._soon = True
            else:
                self._sending = kid
                self._kids.append(kid)
                self._release_waiters()

    def _release_waiters(self) -> None:
        if self._forked is not None:
            self._forked.set()
        self._forked = None

    def _fork(self) -> _Kid | None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        parent, settings, others = os.getpid(), self.settings, [k.sock for k in self._kids]
        heart = forking.Heartbeat()
        pid = forking.fork_safely()
        if pid is None:
            ours.close()
            theirs.close()
            heart.close()
            return None
        if pid == 0:  # the child: never returns into the daemon's code
            code = 70
            try:
                if forking.imports_in_flight():  # begun after the look before the fork: fork again
                    os._exit(child.RETRY)
                if self._gate is not None:
                    self._gate.reset()
                # Until the child has its own handlers: the daemon's would poke this copy of the outbox.
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                signal.signal(signal.SIGHUP, signal.SIG_IGN)
                for sock in (ours, *others):
                    sock.close()
                for fd in (self._wake_w, self._poke_r, self._poke_w):
                    os.close(fd)
                self._wake_w = self._poke_r = self._poke_w = -1  # their numbers may be reused here
                code = child.Child(theirs, self._wake_r, self.db, settings, parent, self.linger, heart).run()
            except BaseException:
                log.exception("the outbox sender process failed")
            finally:
                logging.shutdown()
                os._exit(code)
        theirs.close()
        ours.settimeout(CONTROL_TIMEOUT)
        log.info("outbox sender started as process %s", pid)
        return _Kid(pid, ours, settings, heart)

    def _instruct(self) -> None:
        kid = self._sending
        if kid is None:
            return
        if kid.settings is not self.settings:
            kid.settings = self.settings
            self._send(kid, child.CONFIG + pickle.dumps(self.settings))
        if self._finishing and not kid.finishing:
            kid.finishing = True
            self._send(kid, child.FINISH)

    def _stop_kids(self) -> None:
        kill = self._kill_at is not None and time.monotonic() >= self._kill_at
        for kid in self._kids:
            if kill:
                log.warning("the outbox sender %s did not stop in time: killed", kid.pid)
            if kill or not kid.told:
                kid.told = True
                with contextlib.suppress(ProcessLookupError):  # not reaped yet: the pid is still its
                    os.kill(kid.pid, signal.SIGKILL if kill else signal.SIGTERM)
        if kill:
            self._kill_at = None  # once

    def _send(self, kid: _Kid, message: bytes) -> None:
        try:
            kid.sock.sendall(message)
        except OSError as exc:  # the sender is gone (its EOF says so), or has not read for a long time
            log.error("outbox sender not reachable (%s): %r not delivered", exc, message[:1])

    def _receive(self, kid: _Kid) -> None:
        try:
            message = kid.sock.recv(64)
        except OSError:
            message = b""
        kind, kid.spoke = message[:1], kid.spoke or bool(message)
        if not message:
            self._gone(kid)
        elif kind == child.RESULT:
            sent, failed = child.COUNTS.unpack(message[1:])
            self.totals[0] += sent
            self.totals[1] += failed
            self.on_counts(sent, failed)
        elif kind == child.DONE:
            kid.done = True
            self._drained = ""
            self._done.set()
        elif kind == child.IDLE:
            self._answer(kid)

    def _answer(self, kid: _Kid) -> None:
        """Q, unless a wake-up is unread (or `run --once` finishes): see the module's docstring."""
        self.hook("idle", kid.pid)
        with self._lock:
            go_on = kid is self._sending and not self._stopping and (self._finishing or self._wake_unread())
            if not go_on:
                kid.told = True
                if kid is self._sending:
                    self._sending = None
            self._send(kid, child.GO_ON if go_on else child.QUIT)
        if not go_on:
            log.debug("outbox sender process %s retires: nothing to send", kid.pid)
        self.hook("go on" if go_on else "quit", kid.pid)

    def _wake_unread(self) -> bool:
        readable, _, _ = select.select([self._wake_r], [], [], 0)
        return bool(readable)

    def _gone(self, kid: _Kid) -> None:
        kid.sock.close()
        kid.heart.close()
        self._kids.remove(kid)
        status = forking.reap(kid.pid)
        with self._lock:
            if self._sending is kid:
                self._sending = None
        text = forking.exit_text(status)
        if status is not None and os.waitstatus_to_exitcode(status) == child.RETRY and not kid.spoke:
            with self._lock:
                self._wanted = True  # it saw a module half imported by a thread it does not have
            return
        if kid.stalled:
            text = f"hung: no progress for {child.stall_limit(kid.settings):g} s, killed"
        if kid.told or kid.done or self._stopping:
            if text != "status 0" and not self._stopping:
                log.warning("the outbox sender process %s exited (%s)", kid.pid, text)
            return
        if kid.finishing:  # `run --once`: finish() raises this
            self._drained = f"the outbox sender exited before the outbox was drained ({text})"
            self._done.set()
            return
        self._fail(f"the outbox sender process {kid.pid} exited ({text})")

    def _fail(self, reason: str) -> None:
        self.died = reason
        log.error("%s; stopping, so that the daemon and its sender start again together", reason)
        self._done.set()
        self.on_died()
