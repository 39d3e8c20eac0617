"""Memory benchmark (issue 13): the peak of `mailrobot run --once` and the memory of a steady daemon.

The robot is a process tree: the daemon and its forked outbox sender (service/send_process.py).  Every figure
is the whole tree's (bench/proctree.py): the daemon's RSS plus the memory its sender has on its own (pages
either of them wrote since the fork), sampled every 50 ms: its peak for `run --once`, its value for the
steady daemon.  For one process alone that is its RSS, the figure this printed before the sender process.
Beside it: the sum of PSS, the peak RSS of the largest process (ru_maxrss), and the sum of each process's
peak RSS (VmHWM: an upper bound that counts the shared pages twice).
Prints, each with its target:
  idle             `run --once` on an empty mailbox (interpreter, imports, migrations check, IMAP login)
  one_25mb         one mail with a 25 MB attachment            target <= idle + 3 x 25 MB
  backlog_200x2mb  200 mails of 2 MB each in one backlog       target <= 300 MB
  daemon_steady    a running daemon after 100 small mails      target <= 80 MB
                   (measured once its sender process has retired: it does LINGER s after its last send)
`--sender thread` measures the robot with its outbox sender in threads (`mailrobot run --sender thread`).
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

from bench.proctree import TreeSampler  # noqa: E402
from tests.support.config import robot_config, write_toml  # noqa: E402
from tests.support.daemon import COMMAND  # noqa: E402
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


def peak_mb(config: Path, extra: list[str]) -> dict[str, float]:
    """`run --once`: the peaks of the tree's memory and PSS (sampled), the largest peak RSS, their sum."""
    wrapper = subprocess.Popen(
        [sys.executable, "-c", PEAK, *COMMAND, "run", "--once", "--config", str(config), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    with TreeSampler(wrapper.pid, interval=0.05, skip_root=True) as tree:  # the wrapper is not the robot
        out, err = wrapper.communicate(timeout=1800)
    if wrapper.returncode:
        raise SystemExit(f"run --once failed:\n{err}")
    return {
        "peak_mb": round(tree.peak.tree_mb, 1),
        "peak_pss_mb": round(tree.peak.pss_mb, 1),
        "largest_process_peak_rss_mb": round(int(out.split()[-1]) / 1024, 1),
        "sum_of_process_peaks_rss_mb": round(sum(p.peak_rss_mb for p in tree.procs.values()), 1),
        "processes": len(tree.procs),
    }


def steady_mb(pid: int) -> dict[str, object]:
    """The running daemon and its children now: the tree's memory, its PSS, each process's RSS and USS."""
    tree = TreeSampler(pid)
    now = tree.sample()
    each = {f"{p.name} {p.pid}": {"rss_mb": round(p.rss_mb, 1), "private_mb": round(p.uss_mb, 1)}
            for p in tree.procs.values()}  # fmt: skip
    return {"mb": round(now.tree_mb, 1), "pss_mb": round(now.pss_mb, 1), "processes": each}


def no_children(pid: int, timeout: float) -> float:
    """Wait until `pid` has no child process left; the seconds it took (the timeout: some still run)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if not any(f.read_text().split() for f in Path(f"/proc/{pid}/task").glob("*/children")):
            break
        time.sleep(0.1)
    return round(time.monotonic() - start, 1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=["idle", "one_25mb", "backlog_200x2mb", "daemon_steady"])
    parser.add_argument("--database-url", help="an empty database (default: SQLite in a temp dir)")
    parser.add_argument("--mails", type=int, default=200, help="mails of 2 MB in the backlog")
    parser.add_argument("--batch-mb", type=int, default=32, help="imap.batch_bytes in MB (default 32)")
    parser.add_argument("--steady-mails", type=int, default=100, help="small mails before daemon_steady")
    parser.add_argument("--sender", choices=["process", "thread"], help="`run --sender` (default: its own)")
    args = parser.parse_args()
    extra = ["--sender", args.sender] if args.sender else []
    figures: dict[str, object] = {
        "measure": "the daemon's RSS + its outbox sender's private memory (bench/proctree.py): the peak"
        " sampled every 50 ms for run --once, the value now for the steady daemon (after waiting for its"
        " sender process to retire, LINGER s after its last send)"
    }
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

        idle = 0.0
        if args.only in (None, "idle", "one_25mb"):
            path, _user = config("idle")
            figures["idle"] = peak_mb(path, extra)
            idle = figures["idle_mb"] = figures["idle"]["peak_mb"]  # type: ignore[index]
        if args.only in (None, "one_25mb"):
            path, user = config("one_25mb")
            dovecot.append(user, big_mail(25 * MB, "<mem-25@mail.ru>"))
            peaks = peak_mb(path, extra)
            target = idle + 75
            figures["one_25mb"] = {**peaks, "target_mb": target, "met": peaks["peak_mb"] <= target}
        if args.only in (None, "backlog_200x2mb"):
            path, user = config("backlog")
            for i in range(args.mails):
                dovecot.append(user, big_mail(2 * MB, f"<mem-2-{i}@mail.ru>", f"c{i}@mail.ru"))
            peaks = peak_mb(path, extra)
            figures["backlog_200x2mb"] = {"mails": args.mails, "batch_mb": args.batch_mb, **peaks,
                                          "target_mb": 300, "met": peaks["peak_mb"] <= 300}  # fmt: skip
        if args.only in (None, "daemon_steady"):
            path, user = config("daemon")
            command = [*COMMAND, "run", "--config", str(path), *extra]
            with (Path(tmp) / "daemon.log").open("wb") as log:
                daemon = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
            try:
                for raw in burst(args.steady_mails, "mem"):
                    dovecot.append(user, raw)
                deadline = time.monotonic() + 120 + args.steady_mails / 10
                while dovecot.list_uids(user) and time.monotonic() < deadline:
                    time.sleep(0.2)
                time.sleep(3)  # the outbox drained, the daemon idle
                # The sender process retires LINGER s (service/send_child.py) after its last send: the steady
                # daemon is the one between bursts, without it.
                waited = no_children(daemon.pid, timeout=60)
                steady = steady_mb(daemon.pid)
            finally:
                daemon.terminate()
                daemon.wait(30)
            met = float(steady["mb"]) <= 80  # type: ignore[arg-type]
            figures["daemon_steady"] = {"mails": args.steady_mails, "sender_retired_after_s": waited,
                                        **steady, "target_mb": 80, "met": met}  # fmt: skip
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
