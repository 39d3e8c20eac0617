"""Intake benchmark: N consumer mails in a real Dovecot -> `run --once` -> cases and notices in an SMTP sink.

Prints messages/s (APPEND excluded), the memory and CPU of the robot's processes (the daemon and its forked
outbox sender: see bench/proctree.py), and with --idle the APPEND-to-notice latency percentiles of the
running daemon.  In the same run, on the same mails in a mailbox of its own, the
naive loop (FETCH 100, stdlib parse, one smtplib reply each, MOVE, no database) and the ratio ours/naive:
compare ratios across machines, never absolute figures.  --burst adds the running daemon on N mails moved
into its INBOX at once: like the naive loop, without the start-up that `run --once` pays every time; it
is timed from the MOVE, so it includes the IMAP server's delay in announcing the mail to an IDLE client
(Dovecot: 500 ms, fixed), which the naive loop never waits: an observer's own IDLE connection measures that
delay in the same MOVE, and the ratio is printed from it too (bench/notify.py).
Run by hand:  .venv/bin/python bench/intake.py [-n 1000] [--burst] [--idle 200] [--postgresql] [--sender S]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from contextlib import closing
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.notify import NotifyObserver, first_logged  # noqa: E402
from bench.proctree import TreeSampler  # noqa: E402
from mailrobot.outside.imap import IDLE_SETTLE_SECONDS  # noqa: E402
from tests.support.config import robot_config, write_toml  # noqa: E402
from tests.support.daemon import COMMAND, running_daemon  # noqa: E402
from tests.support.dovecot import Dovecot  # noqa: E402
from tests.support.factories import consumer_mail  # noqa: E402
from tests.support.net import LOCALHOST, free_port  # noqa: E402
from tests.support.systemd import NotifySocket  # noqa: E402


class CountingSink:
    """An aiosmtpd sink that only counts (the test sink parses every mail: we would measure that)."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.count = 0
        self.arrived = threading.Condition()
        self.require_auth = False
        self.host, self.port = LOCALHOST, free_port()
        self.controller = Controller(self, hostname=self.host, port=self.port)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        with self.arrived:
            self.count += 1
            self.arrived.notify_all()
        return "250 OK"

    def __enter__(self) -> CountingSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    def wait_for(self, count: int, timeout: float) -> None:
        with self.arrived:
            if not self.arrived.wait_for(lambda: self.count >= count, timeout):
                raise TimeoutError(f"{self.count} of {count} mails arrived")


BODIES = [
    "Здравствуйте! В квитанции за октябрь неверные показания счётчика: 12 450 вместо 11 450. Перерасчёт!",
    "Сәлеметсіз бе! Қараша айындағы төлем есепшотқа түспеді. Тексеріп беруіңізді сұраймын.",
    "Добрый день. Третий день нет отопления в квартире по ул. Абая 12, кв. 5. Когда дадут тепло?",
    "Hello, I paid my electricity bill on 15 November but the payment is not shown in my account.",
]


def mails(n: int, tag: str) -> list[bytes]:
    return [
        consumer_mail(
            sender=f"consumer{i % 997}@mail.ru",
            subject=f"Обращение {i}",
            body=BODIES[i % 4],
            message_id=f"<{tag}-{i}@mail.ru>",
        )
        for i in range(n)
    ]


def naive_loop(dovecot: Dovecot, user: tuple[str, str], sink: CountingSink) -> float:
    """The loop every mail robot starts as, on the same mails: FETCH 100, stdlib parse, one smtplib reply
    each over a kept-open connection, MOVE; no database, no decisions.  Seconds for the whole mailbox."""
    import email
    import smtplib
    from email import policy
    from email.message import EmailMessage
    from email.utils import make_msgid

    import imapclient

    started = time.perf_counter()
    client = imapclient.IMAPClient(dovecot.host, dovecot.port, ssl=False)
    client.login(*user)
    if not client.folder_exists("Done"):
        client.create_folder("Done")
    client.select_folder("INBOX")
    smtp = smtplib.SMTP(sink.host, sink.port)
    uids = sorted(client.search("ALL"))
    for start in range(0, len(uids), 100):
        chunk = uids[start : start + 100]
        for data in client.fetch(chunk, [b"BODY.PEEK[]"]).values():
            msg = email.message_from_bytes(data[b"BODY[]"], policy=policy.default)
            reply = EmailMessage()
            reply["From"], reply["To"] = "feedback@skes.example.kz", str(msg["From"])
            reply["Subject"] = f"Re: {msg['Subject']}"
            reply["Message-ID"], reply["In-Reply-To"] = make_msgid(), str(msg["Message-ID"])
            reply.set_content("Ваше обращение получено.")
            smtp.send_message(reply)
        client.move(chunk, "Done")
    smtp.quit()
    client.logout()
    return time.perf_counter() - started


def run_once(
    config: Path, profile: str | None = None, extra: tuple[str, ...] = ()
) -> tuple[float, dict[str, object], str]:
    """`run --once` timed, with what its processes cost: the peak RSS of the largest one (ru_maxrss), the
    peak of the tree's memory (sampled every 0.1 s, see bench/proctree.py), the CPU of the tree (exact,
    from rusage) and of each process (its last sample)."""
    command = [*COMMAND, "run", "--once", "--config", str(config), *extra]
    if profile:  # pyinstrument (pip install '.[bench]') around the same command; its text report to a file
        # pyinstrument samples the daemon's process only: the sender's CPU is in "processes".
        command = [sys.executable, "-m", "pyinstrument", "-r", "text", "--show-all", "-o", profile,
                   "-m", "mailrobot", *command[3:]]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    with TreeSampler(proc.pid, interval=0.1) as tree:
        out, err = proc.communicate(timeout=3600)
    elapsed = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(err[-3000:])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    costs = {
        "peak_rss_mb": round(after.ru_maxrss / 1024, 1),
        "peak_tree_mb": round(tree.peak.tree_mb, 1),  # bench/proctree.py: RSS + the children's own
        "cpu_s": round(cpu, 2),
        "processes": tree.report(),
    }
    return elapsed, costs, out.strip()


class Burst(NamedTuple):
    seconds: float  # from the MOVE to the last notice at the sink
    cpu_s: float  # of the daemon and its sender process in that time
    notify_delay_s: float  # from the MOVE to the EXISTS on an observer's IDLE connection: the server's part
    daemon_heard_s: float | None  # from the MOVE to the daemon's log line of it (with daemon_log only)


def burst(
    dovecot: Dovecot,
    user: tuple[str, str],
    sink: CountingSink,
    config: Path,
    count: int,
    raws: list[bytes] | None = None,
    daemon_log: bool = False,
) -> Burst:
    """The running daemon (started, in IDLE) and N mails moved into its INBOX by one server-side MOVE:
    seconds from the MOVE to the last notice at the sink, and the CPU seconds of the daemon and its sender
    process in that time.  Like the naive loop's figure, it leaves out the interpreter's start and the
    imports, which `run --once` pays on every run and a daemon once.  In the same MOVE, the server's notify
    delay (bench/notify.py).  With `daemon_log`, the daemon runs at DEBUG and its log says when it heard of
    the mail; not for a timed figure: DEBUG lets INFO's line per notice through too.  `raws` (default:
    `count` mails like mails(), from consumers with no case open yet) lets another bench give it its own."""
    if raws is None:
        raws = [
            consumer_mail(f"burst{i % 997}@mail.ru", f"Обращение {i}", BODIES[i % 4], f"<burst-{i}@mail.ru>")
            for i in range(count)
        ]
    for raw in raws:
        dovecot.append(user[0], raw, folder="Staging")
    if daemon_log:
        data = tomllib.loads(config.read_text())
        data.setdefault("logging", {})["level"] = "DEBUG"
        config = write_toml(config.with_name(f"{config.stem}-debug.toml"), data)
    with (
        closing(NotifySocket()) as systemd,  # as under systemd: it says when it waits for mail
        running_daemon(config, notify_socket=systemd.address) as daemon,
        dovecot.session(user[0]) as imap,
        NotifyObserver(dovecot, user[0]) as observer,  # in IDLE from before the daemon is, too
    ):
        systemd.wait_for(lambda fields: fields.get("STATUS", "").startswith("idle"), timeout=120)
        # Past its first, short IDLE round (a MOVE as that round ends is announced in the reply to DONE or
        # to the NOOP after it, without the server's notify delay): in the long round, as the observer.  A
        # fixed 3 s after the start, as before, often fell on that boundary or before the daemon was up.
        time.sleep(IDLE_SETTLE_SECONDS + 1)
        base = sink.count
        imap.select_folder("Staging")
        tree = TreeSampler(daemon.pid)  # sampled by hand, at the MOVE and at the last notice only
        cpu = tree_cpu(tree)
        started, wall = time.perf_counter(), time.time()
        imap.move(imap.search("ALL"), "INBOX")
        sink.wait_for(base + len(raws), timeout=600)
        seconds, cpu = time.perf_counter() - started, tree_cpu(tree) - cpu
        delay = observer.heard_at(timeout=10) - started
        heard = first_logged(daemon.log()) if daemon_log else None
        return Burst(seconds, cpu, delay, None if heard is None else heard - wall)


def from_notify(run: Burst, naive: float) -> dict[str, object]:
    """The burst timed from the server's announcement instead of the MOVE: the daemon's own part."""
    own = run.seconds - run.notify_delay_s
    return {
        "imap_notify_delay_s": round(run.notify_delay_s, 3),
        "daemon_burst_from_notify_seconds": round(own, 2),
        "daemon_burst_vs_naive_from_notify": round(naive / own, 2),
        "from_notify_means": "the same burst timed from when the server announced the moved mail to an IDLE "
        "connection (imap_notify_delay_s after the MOVE: an observer's own connection saw the EXISTS), not "
        "from the MOVE; the server's notify delay left out, the naive loop's time as it is",
    }


def heard_check(
    dovecot: Dovecot, user: tuple[str, str], sink: CountingSink, config: Path, n: int
) -> dict[str, object]:
    """A second burst of n other mails, the daemon at DEBUG: does it hear of them when the observer does?"""
    raws = [
        consumer_mail(f"heard{i % 997}@mail.ru", f"Обращение {i}", BODIES[i % 4], f"<heard-{i}@mail.ru>")
        for i in range(n)
    ]
    run = burst(dovecot, user, sink, config, n, raws, daemon_log=True)
    heard = None if run.daemon_heard_s is None else round(run.daemon_heard_s, 3)
    return {
        "imap_notify_delay_s": round(run.notify_delay_s, 3),
        "daemon_heard_of_mail_s": heard,
        "means": "after the timed burst, n other mails in one MOVE, the daemon at DEBUG (untimed: DEBUG lets "
        "a line per notice through too): seconds from the MOVE to the observer's EXISTS and to the daemon's "
        "log line of its own (to the ms)",
    }


def tree_cpu(tree: TreeSampler) -> float:
    """CPU seconds (user + system) the tree's processes have used so far (/proc, 10 ms ticks)."""
    tree.sample()
    return sum(proc.cpu_s for proc in tree.procs.values())


def idle_latency(
    dovecot: Dovecot, user: tuple[str, str], sink: CountingSink, config: Path, count: int
) -> list[float]:
    with running_daemon(config):
        time.sleep(3)
        base = sink.count
        latencies = []
        for i, raw in enumerate(mails(count, "idle")):
            started = time.perf_counter()
            dovecot.append(user[0], raw)
            sink.wait_for(base + i + 1, timeout=30)
            latencies.append(time.perf_counter() - started)
            time.sleep(0.02)
        return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=1000, help="messages in the backlog")
    parser.add_argument(
        "--idle", type=int, default=0, help="also measure APPEND->notice latency over N mails"
    )
    parser.add_argument(
        "--database-url",
        help="an empty database to use, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/bench "
        "(default: SQLite in a temp dir)",
    )
    parser.add_argument("--profile", help="write a pyinstrument profile of `run --once` to this file")
    parser.add_argument("--postgresql", action="store_true", help="on a private PostgreSQL cluster")
    parser.add_argument("--sender", choices=["process", "thread"], help="`run --sender` (default: its own)")
    parser.add_argument(
        "--burst",
        action="store_true",
        help="also time the running daemon on N mails moved into its INBOX at once",
    )
    args = parser.parse_args()
    server = None
    if args.postgresql:
        from tests.support.pg import PostgresServer

        server = PostgresServer()
        args.database_url = server.create_database()
    try:
        measure(args)
    finally:
        if server is not None:
            server.stop()


def measure(args: argparse.Namespace) -> None:
    with Dovecot() as dovecot, CountingSink() as sink, tempfile.TemporaryDirectory() as tmp:
        user = ("bench", dovecot.add_user("bench"))
        config = write_toml(
            Path(tmp) / "config.toml",
            robot_config(
                dovecot,
                user,
                sink,
                args.database_url or f"sqlite:///{tmp}/bench.db",
                logging={"level": "WARNING"},
                robot={"notices_per_sender_per_day": 1000},
            ),
        )
        naive_user = ("naive", dovecot.add_user("naive"))
        for raw in mails(args.n, "backlog"):
            dovecot.append(user[0], raw)
            dovecot.append(naive_user[0], raw)
        extra = ("--sender", args.sender) if args.sender else ()
        elapsed, costs, summary = run_once(config, args.profile, extra)
        sink.wait_for(args.n, timeout=120)
        naive = naive_loop(dovecot, naive_user, sink)
        sink.wait_for(2 * args.n, timeout=120)
        figures = {
            "messages": args.n,
            "seconds": round(elapsed, 2),
            "messages_per_s": round(args.n / elapsed, 1),
            **costs,
            "notices_received": sink.count - args.n,
            "run_once": summary,
            "naive_loop_messages_per_s": round(args.n / naive, 1),
            "ours_vs_naive": round(naive / elapsed, 2),
            "database": "postgresql" if args.database_url else "sqlite",
            "sender": args.sender or "default",
        }
        if args.burst:
            if args.sender:  # the daemon has no --sender of run --once here: the config says it
                data = tomllib.loads(config.read_text())
                data["smtp"]["sender"] = args.sender
                write_toml(config, data)
            run = burst(dovecot, user, sink, config, args.n)
            figures |= {
                "daemon_burst_seconds": round(run.seconds, 2),
                "daemon_burst_cpu_s": round(run.cpu_s, 2),
                "daemon_burst_messages_per_s": round(args.n / run.seconds, 1),
                "daemon_burst_vs_naive": round(naive / run.seconds, 2),
                **from_notify(run, naive),
                "daemon_heard_check": heard_check(dovecot, user, sink, config, args.n),
            }
        if args.idle:
            lat = sorted(idle_latency(dovecot, user, sink, config, args.idle))
            figures |= {
                "idle_p50_ms": round(statistics.median(lat) * 1000, 1),
                "idle_p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 1),
                "idle_max_ms": round(lat[-1] * 1000, 1),
            }
        print(json.dumps(figures, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
