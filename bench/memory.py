"""Memory benchmark (issue 13): peak RSS of `mailrobot run --once` and the RSS of a steady daemon.

Prints, each with its target:
  idle             `run --once` on an empty mailbox (interpreter, imports, migrations check, IMAP login)
  one_25mb         one mail with a 25 MB attachment            target <= idle + 3 x 25 MB
  backlog_200x2mb  200 mails of 2 MB each in one backlog       target <= 300 MB
  daemon_steady    a running daemon after 100 small mails      target <= 80 MB
Run by hand:  .venv/bin/python bench/memory.py [--only one_25mb] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.config import robot_config, write_toml  # noqa: E402
from tests.support.daemon import COMMAND, DaemonProcess  # noqa: E402
from tests.support.dovecot import Dovecot  # noqa: E402
from tests.support.drills import big_mail, burst  # noqa: E402
from tests.support.smtp import SmtpSink  # noqa: E402

MB = 1 << 20
# Runs the robot as a child and prints the child's peak RSS (ru_maxrss, KB): each figure from a process of
# its own, whatever ran before it.
PEAK = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True);"
    "sys.stderr.buffer.write(r.stderr[-3000:]) if r.returncode else None;"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)"
)


def peak_rss_mb(config: Path) -> float:
    done = subprocess.run(
        [sys.executable, "-c", PEAK, *COMMAND, "run", "--once", "--config", str(config)],
        capture_output=True, text=True, cwd=REPO, timeout=1800,
    )  # fmt: skip
    if done.returncode:
        raise SystemExit(f"run --once failed:\n{done.stderr}")
    return round(int(done.stdout.split()[-1]) / 1024, 1)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=["idle", "one_25mb", "backlog_200x2mb", "daemon_steady"])
    parser.add_argument("--database-url", help="an empty database (default: SQLite in a temp dir)")
    parser.add_argument("--mails", type=int, default=200, help="mails of 2 MB in the backlog")
    parser.add_argument("--batch-mb", type=int, default=32, help="imap.batch_bytes in MB (default 32)")
    args = parser.parse_args()
    figures: dict[str, object] = {}
    with Dovecot() as dovecot, SmtpSink() as sink, tempfile.TemporaryDirectory() as tmp:

        def config(name: str) -> tuple[Path, str]:
            user = f"mem-{name.replace('_', '-')}"
            mailbox = (user, dovecot.add_user(user))
            url = args.database_url or f"sqlite:///{tmp}/{name}.db"
            data = robot_config(
                dovecot, mailbox, sink, url,
                logging={"level": "WARNING"}, jobs={"enabled": False},
                imap={"batch_bytes": args.batch_mb * MB},
                robot={"notices_per_sender_per_day": 10**6, "max_attachment_bytes": 30 * MB},
            )  # fmt: skip
            path = write_toml(Path(tmp) / f"{name}.toml", data)
            # Measured as a robot starts every day: on a database already migrated (the first start also
            # imports Alembic and runs the migrations: about 11 MB more, once).
            subprocess.run([*COMMAND, "db", "upgrade", "--config", str(path)], check=True, cwd=REPO,
                           capture_output=True)  # fmt: skip
            return path, user

        idle = None
        if args.only in (None, "idle", "one_25mb"):
            path, _user = config("idle")
            idle = figures["idle_mb"] = peak_rss_mb(path)
        if args.only in (None, "one_25mb"):
            path, user = config("one_25mb")
            dovecot.append(user, big_mail(25 * MB, "<mem-25@mail.ru>"))
            peak = peak_rss_mb(path)
            target = (idle or 0) + 75
            figures["one_25mb"] = {"peak_mb": peak, "target_mb": target, "met": peak <= target}
        if args.only in (None, "backlog_200x2mb"):
            path, user = config("backlog")
            for i in range(args.mails):
                dovecot.append(user, big_mail(2 * MB, f"<mem-2-{i}@mail.ru>", f"c{i}@mail.ru"))
            peak = peak_rss_mb(path)
            figures["backlog_200x2mb"] = {"mails": args.mails, "batch_mb": args.batch_mb, "peak_mb": peak,
                                          "target_mb": 300, "met": peak <= 300}  # fmt: skip
        if args.only in (None, "daemon_steady"):
            path, user = config("daemon")
            daemon = DaemonProcess(path, Path(tmp) / "daemon.log")
            try:
                for raw in burst(100, "mem"):
                    dovecot.append(user, raw)
                deadline = time.monotonic() + 120
                while dovecot.list_uids(user) and time.monotonic() < deadline:
                    time.sleep(0.2)
                time.sleep(3)  # the outbox drained, the daemon idle
                steady = rss_mb(daemon.pid)
            finally:
                daemon.stop()
            figures["daemon_steady"] = {"rss_mb": steady, "target_mb": 80, "met": steady <= 80}
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
