"""Fault drills (issue 13): a fault is done to a running robot, and the drill counts what became of the mail.

One function per drill, sized by its arguments: bench/drills/ runs the long versions by hand and prints the
verdict line; tests/e2e/test_drills.py runs short versions and asserts the same verdict.  Everything is real:
a private Dovecot, an SMTP sink on a fixed port (so it can be stopped and come back where the robot looks),
the robot as `mailrobot run` processes, and the database the caller gives (SQLite or PostgreSQL).
"""

from __future__ import annotations

import collections
import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Engine

from mailrobot.store.models import Case, Message, Outbox
from tests.support.config import robot_config, write_toml
from tests.support.daemon import DaemonProcess, run_mailrobot
from tests.support.dovecot import Dovecot
from tests.support.factories import consumer_mail
from tests.support.net import free_port
from tests.support.smtp import ReceivedMail, SmtpSink
from tests.support.systemd import NotifySocket

PROCESSED = "Processed"  # the robot's default imap.processed_folder
_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


@dataclass
class Verdict:
    """What a drill found: its figures, and each way the mail went wrong (none: it passed)."""

    drill: str
    figures: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(problem)

    def line(self) -> str:
        figures = ", ".join(f"{k} {v}" for k, v in self.figures.items())
        if self.passed:
            return f"VERDICT {self.drill}: PASS ({figures})"
        return f"VERDICT {self.drill}: FAIL: {'; '.join(self.problems)} ({figures})"


def burst(count: int, tag: str) -> list[bytes]:
    """`count` consumer mails, each from its own sender (so no notice cap applies) and Message-ID."""
    return [
        consumer_mail(
            sender=f"{tag}{i}@mail.ru",
            subject=f"Обращение {tag} {i}",
            body=f"Здравствуйте! Показания счётчика в квитанции неверные ({tag} {i}). Прошу проверить.",
            message_id=f"<{tag}-{i}@mail.ru>",
        )
        for i in range(count)
    ]


class World:
    """The servers one drill runs against, and what it counts.  `with World(workdir, database_url) as w:`"""

    def __init__(
        self, workdir: Path, database_url: str, *, dovecot: Dovecot | None = None, sink_port: int = 0
    ) -> None:
        self.workdir = workdir
        self.database_url = database_url
        self._own_dovecot = dovecot is None
        # Its own directory in /tmp: Dovecot's auth process (another user) must reach the users file, and
        # pytest's tmp_path lies below a 0700 directory.  Given, so that a kill keeps the mail for the start.
        self._dovecot_dir = Path(tempfile.mkdtemp(prefix="mailrobot-drill-dovecot-"))
        self._dovecot_dir.chmod(0o755)
        self.dovecot = dovecot or Dovecot(workdir=self._dovecot_dir)
        self.sink = SmtpSink(port=sink_port or free_port())
        self.notify = NotifySocket()
        self.daemons: list[DaemonProcess] = []
        self.user = ""
        self._engine: Engine | None = None

    def __enter__(self) -> World:
        if self._own_dovecot:
            self.dovecot.start()
        self.user = f"drill-{free_port()}"
        self.dovecot.add_user(self.user)
        self.sink.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for daemon in self.daemons:
            daemon.kill()
        if self._engine is not None:
            self._engine.dispose()
        self.notify.close()
        self.sink.stop()
        if self._own_dovecot:
            self.dovecot.stop()
        shutil.rmtree(self._dovecot_dir, ignore_errors=True)

    # -- the robot ----------------------------------------------------------------------------------------
    def config(self, **overrides: Any) -> Path:
        defaults: dict[str, Any] = {
            "robot": {"notices_per_sender_per_day": 1000},
            "logging": {"level": "INFO"},
            "jobs": {"enabled": False},
            # As StateDirectory= gives the unit: on PostgreSQL the sender keeps its journal, sends in batches.
            "smtp": {"journal_dir": str(self.workdir)},
        }
        for key, value in overrides.items():
            defaults[key] = {**defaults.get(key, {}), **value} if isinstance(value, dict) else value
        mailbox = (self.user, self.dovecot.password(self.user))
        data = robot_config(self.dovecot, mailbox, self.sink, self.database_url, **defaults)
        return write_toml(self.workdir / "config.toml", data)

    def start(self, config: Path, watchdog_usec: int | None = None) -> DaemonProcess:
        log = self.workdir / f"daemon-{len(self.daemons) + 1}.log"
        daemon = DaemonProcess(config, log, notify_socket=self.notify.address, watchdog_usec=watchdog_usec)
        self.daemons.append(daemon)
        return daemon

    def journal(self) -> str:
        """Every daemon's log of this drill, in order."""
        return "\n".join(d.log() for d in self.daemons)

    def doctor(self, config: Path) -> str:
        return run_mailrobot(config, "doctor", timeout=120).stdout

    # -- what to count ------------------------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = create_engine(self.database_url)
        return self._engine

    def append(self, raw: bytes) -> None:
        self.dovecot.append(self.user, raw)

    def inbox(self) -> int:
        return len(self.dovecot.list_uids(self.user))

    def moved_message_ids(self) -> set[str]:
        """Message-IDs of the mail the robot moved out of the inbox."""
        found = set()
        for raw in self.dovecot.fetch(self.user, PROCESSED).values():
            match = _MESSAGE_ID.search(raw.split(b"\r\n\r\n", 1)[0])
            if match:
                found.add(match.group(1).decode().strip("<>"))
        return found

    def committed_message_ids(self) -> set[str]:
        """Message-IDs of the messages the database holds as decided (not merely received)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(Message.message_id).where(Message.status != "received"))
            return {r[0] for r in rows if r[0]}

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            statuses = dict(
                conn.execute(select(Message.status, func.count()).group_by(Message.status)).all()
            )
            cases = conn.scalar(select(func.count(Case.id))) or 0
            pending = conn.scalar(select(func.count(Outbox.id)).where(Outbox.state != "sent")) or 0
        return {"cases": cases, "outbox_unsent": pending, **{f"messages_{k}": v for k, v in statuses.items()}}

    def cases_by_message_id(self) -> collections.Counter[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(Message.message_id).where(Message.status == "case", Message.case_id.is_not(None))
            )
            return collections.Counter(r[0] for r in rows)

    def wait(self, condition: Callable[[], bool], timeout: float, what: str) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):  # a database away mid-drill is what drills do
                if condition():
                    return True
            for daemon in self.daemons:
                if daemon.proc.poll() is None:
                    break
            time.sleep(0.1)
        return False

    def settled(self, expected_cases: int) -> Callable[[], bool]:
        """The inbox empty, every case made, the outbox sent."""

        def done() -> bool:
            c = self.counts()
            return self.inbox() == 0 and c["cases"] >= expected_cases and c["outbox_unsent"] == 0

        return done


def notice_tally(sink: SmtpSink, tag: str) -> dict[str, list[ReceivedMail]]:
    """The notices in the sink by the consumer mail they answer (In-Reply-To), for the burst `tag`."""
    by_original: dict[str, list[ReceivedMail]] = collections.defaultdict(list)
    for mail in sink.messages:
        parent = str(mail.message.get("In-Reply-To", "")).strip()
        if parent.startswith(f"<{tag}-"):
            by_original[parent].append(mail)
    return by_original


def judge_notices(verdict: Verdict, sink: SmtpSink, tag: str, count: int, twice_allowed: int) -> None:
    """Every consumer mail of the burst got its notice; twins only up to `twice_allowed`, each twin the
    same mail (same Message-ID)."""
    tally = notice_tally(sink, tag)
    missing = count - len(tally)
    twice = sum(len(v) - 1 for v in tally.values())
    differing = sum(1 for v in tally.values() if len({str(m.message.get("Message-ID")) for m in v}) > 1)
    verdict.figures |= {"notices_missing": missing, "notices_twice": twice}
    verdict.check(missing == 0, f"{missing} consumer(s) got no notice")
    verdict.check(twice <= twice_allowed, f"{twice} notices sent twice (allowed {twice_allowed})")
    verdict.check(differing == 0, f"{differing} notices sent twice with different Message-IDs")


def judge_cases(verdict: Verdict, world: World, tag: str, count: int) -> None:
    by_id = world.cases_by_message_id()
    expected = {f"{tag}-{i}@mail.ru" for i in range(count)}  # stored without the angle brackets
    lost = len(expected - set(by_id))
    duplicate = sum(n - 1 for mid, n in by_id.items() if mid in expected)
    verdict.figures |= {"lost": lost, "duplicate_cases": duplicate, "left_in_inbox": world.inbox()}
    verdict.check(lost == 0, f"{lost} mails lost (no case)")
    verdict.check(duplicate == 0, f"{duplicate} duplicate cases")
    verdict.check(world.inbox() == 0, "mail left in the inbox")


def appender(world: World, mails: list[bytes], pause: float = 0.0) -> threading.Thread:
    """A thread that APPENDs `mails` one by one (retrying while Dovecot is away)."""

    def run() -> None:
        for raw in mails:
            while True:
                try:
                    world.append(raw)
                    break
                except Exception:
                    time.sleep(0.2)
            if pause:
                time.sleep(pause)

    thread = threading.Thread(target=run, name="appender", daemon=True)
    thread.start()
    return thread


# -- drill 1: kill -9 ----------------------------------------------------------------------------------------
def kill_drill(world: World, mails: int = 1000, kills: int = 20, seed: int = 13) -> Verdict:
    """kill -9 the daemon at `kills` random moments of a burst, restarting it each time."""
    verdict = Verdict("1 kill -9 during a burst")
    rng = random.Random(seed)
    config = world.config()
    feeding = appender(world, burst(mails, "k9"))
    done = 0
    started = time.monotonic()
    while done < kills:
        daemon = world.start(config)
        # Random moments: during start-up and migration, mid-batch, between commit and move, mid-send.
        time.sleep(rng.uniform(0.2, 2.5))
        if daemon.proc.poll() is not None:
            verdict.problems.append(f"the daemon exited by itself: {daemon.log()[-2000:]}")
            break
        daemon.proc.send_signal(signal.SIGKILL)
        daemon.proc.wait(10)
        done += 1
        # Through `wait`: a daemon killed before its first migration leaves no tables to count yet.
        if not feeding.is_alive() and world.wait(world.settled(mails), timeout=0.1, what="the burst"):
            break  # nothing left to interrupt
    feeding.join()
    daemon = world.start(config)
    settled = world.wait(world.settled(mails), timeout=120 + mails / 10, what="the burst")
    time.sleep(1.0)  # a notice in flight at the end would show up as a twin
    daemon.stop()
    verdict.check(settled, f"not settled: {world.counts()}")
    verdict.figures |= {"mails": mails, "kills": done, "seconds": round(time.monotonic() - started, 1)}
    judge_cases(verdict, world, "k9", mails)
    judge_notices(verdict, world.sink, "k9", mails, twice_allowed=done)
    return verdict


# -- drill 2: SMTP down --------------------------------------------------------------------------------------
def metric(port: int, name: str) -> float | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    match = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def smtp_down_drill(world: World, mails: int = 200, down_seconds: float = 60.0) -> Verdict:
    """The SMTP server away for `down_seconds` while mail keeps arriving, then back."""
    verdict = Verdict("2 SMTP down while mail arrives")
    port = free_port()
    config = world.config(
        metrics={"enabled": True, "address": "127.0.0.1", "port": port},
        smtp={"retry_base_seconds": 0.5, "retry_max_seconds": 5.0},
    )
    daemon = world.start(config)
    daemon.wait_for_log("selected")
    world.sink.stop()
    feeding = appender(world, burst(mails, "sd"), pause=down_seconds / max(mails, 1) / 2)
    ended = time.monotonic() + down_seconds
    backlog, age, doctor_said = 0.0, 0.0, ""
    while time.monotonic() < ended:
        with contextlib.suppress(OSError):
            backlog = max(backlog, metric(port, "mailrobot_outbox_backlog") or 0)
            age = max(age, metric(port, "mailrobot_outbox_oldest_age_seconds") or 0)
        if not doctor_said and backlog and time.monotonic() > ended - down_seconds / 2:
            doctor_said = next(
                (ln for ln in world.doctor(config).splitlines() if "outbox" in ln), "(no outbox line)"
            )
        time.sleep(min(1.0, down_seconds / 10))
    feeding.join()
    world.sink.start()  # the same port
    settled = world.wait(world.settled(mails), timeout=60 + mails / 10, what="the backlog")
    time.sleep(1.0)
    daemon.stop()
    verdict.figures |= {
        "mails": mails,
        "down_s": down_seconds,
        "max_backlog": int(backlog),
        "max_age_s": round(age, 1),
        "doctor": repr(doctor_said.strip()),
    }
    verdict.check(settled, f"not settled: {world.counts()}")
    verdict.check(backlog > 0 and age > 0, "the metrics never showed the backlog and its age")
    shown = "waiting" in doctor_said and "oldest" in doctor_said
    verdict.check(shown, "doctor did not show the backlog's age")
    judge_cases(verdict, world, "sd", mails)
    judge_notices(verdict, world.sink, "sd", mails, twice_allowed=0)
    return verdict


# -- drill 3: Dovecot killed and restarted -------------------------------------------------------------------
def dovecot_drill(world: World, mails: int = 500, down_seconds: float = 5.0) -> Verdict:
    """Dovecot killed mid-burst and started again after `down_seconds`; the watchdog is watched."""
    verdict = Verdict("3 Dovecot killed and restarted mid-burst")
    watchdog_usec = 10_000_000
    config = world.config()
    daemon = world.start(config, watchdog_usec=watchdog_usec)
    daemon.wait_for_log("selected")
    since = time.monotonic()
    feeding = appender(world, burst(mails, "dc"))
    world.wait(lambda: world.counts()["cases"] >= mails // 3, timeout=120, what="a third of the burst")
    kill_dovecot(world.dovecot)
    time.sleep(down_seconds)
    world.dovecot.start()  # the same port, users and mail (its workdir is the drill's)
    feeding.join()
    settled = world.wait(world.settled(mails), timeout=120 + mails / 10, what="the burst")
    pings = world.notify.pings(after=since)
    gaps = [b - a for a, b in zip([since, *pings], pings, strict=False)]
    worst = max(gaps, default=0.0)
    daemon.stop()
    journal = daemon.log()
    verdict.figures |= {
        "mails": mails,
        "down_s": down_seconds,
        "reconnects": journal.count("IMAP connection lost"),
        "longest_watchdog_gap_s": round(worst, 1),
    }
    verdict.check(settled, f"not settled: {world.counts()}")
    verdict.check("IMAP connection lost" in journal, "the daemon never noticed Dovecot was gone")
    verdict.check(worst < watchdog_usec / 1e6, f"the watchdog would have fired (a gap of {worst:.1f} s)")
    verdict.check(daemon.exit_code == 0, f"the daemon exited with {daemon.exit_code}")
    judge_cases(verdict, world, "dc", mails)
    judge_notices(verdict, world.sink, "dc", mails, twice_allowed=0)
    return verdict


# -- drill 4: the database away ------------------------------------------------------------------------------
@contextlib.contextmanager
def sqlite_locked(path: Path) -> Iterator[None]:
    """Another writer holds SQLite's write lock (BEGIN IMMEDIATE) for the `with` block."""
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None, timeout=60)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def database_drill(
    world: World, outage: Callable[[], contextlib.AbstractContextManager[None]], mails: int = 100,
    seconds: float = 30.0, name: str = "SQLite locked by another writer",
) -> Verdict:  # fmt: skip
    """The database away for `seconds` (`outage()` makes it so) while mail arrives: nothing may leave the
    inbox uncommitted, and the robot must go on by itself when the database is back."""
    verdict = Verdict(f"4 database unavailable ({name})")
    config = world.config()
    daemon = world.start(config)
    daemon.wait_for_log("selected")
    uncommitted_moves = 0
    with outage():
        feeding = appender(world, burst(mails, "db"), pause=seconds / max(mails, 1) / 2)
        ended = time.monotonic() + seconds
        while time.monotonic() < ended:
            moved = world.moved_message_ids()
            with contextlib.suppress(Exception):  # PostgreSQL away: compare when it is back
                uncommitted_moves = max(uncommitted_moves, len(moved - world.committed_message_ids()))
            time.sleep(min(1.0, seconds / 10))
        feeding.join()
        in_inbox_during = world.inbox()
    back = time.monotonic()
    restarts = 0

    def supervised() -> bool:
        # As systemd's Restart=on-failure does (contrib/systemd/mailrobot.service; RestartSec shortened): on
        # PostgreSQL a leader whose lock session died steps down and exits 1, to come back as a follower.
        nonlocal daemon, restarts
        if daemon.proc.poll() not in (None, 0):
            time.sleep(2)
            daemon, restarts = world.start(config), restarts + 1
        return world.settled(mails)()

    settled = world.wait(supervised, timeout=120 + mails / 10, what="the backlog")
    resumed_after = time.monotonic() - back
    uncommitted_moves = max(uncommitted_moves, len(world.moved_message_ids() - world.committed_message_ids()))
    daemon.stop()
    verdict.figures |= {
        "mails": mails,
        "outage_s": seconds,
        "in_inbox_at_end_of_outage": in_inbox_during,
        "moved_uncommitted": uncommitted_moves,
        "resumed_within_s": round(resumed_after, 1),
        "restarts_by_systemd": restarts,
    }
    verdict.check(uncommitted_moves == 0, f"{uncommitted_moves} mails moved out of the inbox uncommitted")
    verdict.check(settled, f"did not resume by itself: {world.counts()}")
    verdict.check(daemon.exit_code == 0, f"the daemon exited with {daemon.exit_code}")
    judge_cases(verdict, world, "db", mails)
    judge_notices(verdict, world.sink, "db", mails, twice_allowed=0)
    return verdict


# -- drill 5: a mail loop ------------------------------------------------------------------------------------
class AutoResponder:
    """A careless auto-responder: answers every mail it gets, with no Auto-Submitted, no In-Reply-To and a
    new Subject each time, from `address` into the robot's inbox."""

    def __init__(self, world: World, address: str, limit: int) -> None:
        self.world, self.address, self.limit = world, address, limit
        self.sent = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="auto-responder", daemon=True)

    def _run(self) -> None:
        answered = 0
        while not self.stop.is_set() and self.sent < self.limit:
            mine = [m for m in self.world.sink.messages if self.address in m.rcpt_tos]
            for _mail in mine[answered:]:
                self.sent += 1
                self.world.append(
                    consumer_mail(
                        sender=self.address,
                        name="Helpdesk",
                        subject=f"Ticket #{1000 + self.sent} has been received",
                        body=f"Thank you for your message. Your ticket number is {1000 + self.sent}.",
                        message_id=f"<ar-{self.sent}@helpdesk.example.com>",
                    )
                )
            answered = len(mine)
            time.sleep(0.1)


def loop_drill(world: World, limit: int = 200, quiet_seconds: float = 10.0) -> Verdict:
    """The robot against an auto-responder that does not say it is one: the exchange must stop by itself."""
    verdict = Verdict("5 mail loop with an unmarked auto-responder")
    address = "helpdesk@helpdesk.example.com"
    config = world.config(robot={"notices_per_sender_per_day": 5})
    daemon = world.start(config)
    daemon.wait_for_log("selected")
    responder = AutoResponder(world, address, limit)
    world.append(consumer_mail(sender=address, name="Helpdesk", message_id="<ar-0@helpdesk.example.com>"))
    responder.thread.start()
    last, quiet_since = -1, time.monotonic()
    while time.monotonic() - quiet_since < quiet_seconds and responder.sent < limit:
        total = len(world.sink.messages) + responder.sent
        if total != last:
            last, quiet_since = total, time.monotonic()
        time.sleep(0.2)
    responder.stop.set()
    responder.thread.join(5)
    daemon.stop()
    robot_sent = len([m for m in world.sink.messages if address in m.rcpt_tos])
    verdict.figures |= {"robot_sent": robot_sent, "responder_sent": responder.sent + 1}
    verdict.check(responder.sent < limit, f"still going after {limit} answers")
    return verdict


# -- drill 6: disk full --------------------------------------------------------------------------------------
@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Callable[[str], None]]:
    """A tmpfs of `size` mounted at `path` (root only); yields resize(new_size)."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)

    def resize(new_size: str) -> None:
        subprocess.run(["mount", "-o", f"remount,size={new_size}", str(path)], check=True)

    try:
        yield resize
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def disk_full_drill(world: World, resize: Callable[[str], None], attachment_mb: int = 3) -> Verdict:
    """The database's disk (a tmpfs the caller mounted and `resize`s) fills while a big mail is stored;
    space comes back later."""
    verdict = Verdict("6 disk full while storing raw mail")
    config = world.config()
    daemon = world.start(config)
    daemon.wait_for_log("selected")
    world.append(burst(1, "df")[0])
    world.wait(lambda: world.counts()["cases"] >= 1, timeout=30, what="the first mail")
    big = big_mail(attachment_mb << 20, "<df-big@mail.ru>")
    world.append(big)
    noticed = world.wait(lambda: "disk is full" in daemon.log(), timeout=60, what="the journal")
    stays = world.inbox() == 1
    doctor = world.doctor(config)
    said = next((ln for ln in doctor.splitlines() if "disk" in ln.lower()), "")
    resize("256m")
    settled = world.wait(lambda: world.inbox() == 0 and world.counts()["cases"] >= 2, 120, "space back")
    daemon.stop()
    verdict.figures |= {"attachment_mb": attachment_mb, "doctor": repr(said.strip()[:160])}
    verdict.check(noticed, "the journal does not say the disk is full")
    verdict.check(stays, "the big mail left the inbox while it could not be stored")
    verdict.check("free" in said, "doctor does not say the disk is full")
    verdict.check(settled, f"did not go on when space returned: {world.counts()}")
    verdict.check(daemon.exit_code == 0, f"the daemon exited with {daemon.exit_code}")
    return verdict


def big_mail(size: int, message_id: str, sender: str = "big@mail.ru") -> bytes:
    """A consumer's mail with a scan of `size` bytes attached (random bytes: they do not compress)."""
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "feedback@skes.example.kz", "Скан квитанции"
    msg["Message-ID"] = message_id
    msg.set_content("Здравствуйте! Прилагаю скан квитанции, прошу пересчитать.")
    msg.add_attachment(random.randbytes(size), maintype="application", subtype="pdf", filename="scan.pdf")
    return msg.as_bytes()


def kill_dovecot(dovecot: Dovecot) -> None:
    """kill -9 every Dovecot process; the mail stays in its workdir for the next start()."""
    proc = dovecot._proc
    if proc is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    dovecot.stop()
