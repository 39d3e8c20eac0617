"""Where the memory of one big mail goes (issue 13): `run --once` on one mail with an attachment of --mb MB,
the daemon's VmRSS and VmHWM (and with --tracemalloc the Python heap's peak) printed at the start and the
end of each stage: fetch, store (the raw bytes committed), parse, decide and apply (flushes, compose).
Each line: `[pid thread] <stage>: rss=<MB> hwm=<MB>`; the stage whose `<` line first shows the final hwm
holds the peak.
With --forward the mail is forwarded to an operator (its file composed into the forward).

Run by hand:  .venv/bin/python bench/memory_stages.py [--mb 25] [--forward] [--tracemalloc]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.config import robot_config, write_toml  # noqa: E402
from tests.support.daemon import COMMAND  # noqa: E402
from tests.support.dovecot import Dovecot  # noqa: E402
from tests.support.drills import big_mail  # noqa: E402
from tests.support.routing_world import OP1, contact_center  # noqa: E402
from tests.support.smtp import SmtpSink  # noqa: E402

MB = 1 << 20

# Run in the robot's process: wraps the stages, then runs the CLI.
PROBE = r"""
import functools, os, sys, threading, tracemalloc
if sys.argv[1] == "1":
    tracemalloc.start()
del sys.argv[1]

def report(tag):
    status = dict(line.split(":", 1) for line in open("/proc/self/status") if line.startswith("Vm"))
    mb = {k: int(status[k].split()[0]) // 1024 for k in ("VmRSS", "VmHWM")}
    heap = ""
    if tracemalloc.is_tracing():
        heap = " python_peak=%d" % (tracemalloc.get_traced_memory()[1] >> 20)
        tracemalloc.reset_peak()
    name = f"{os.getpid()} {threading.current_thread().name}"  # the forked sender prints too
    print(f"[{name}] {tag}: rss={mb['VmRSS']} hwm={mb['VmHWM']}{heap}", file=sys.stderr, flush=True)

def wrap(owner, name):
    inner = getattr(owner, name)
    @functools.wraps(inner)
    def probe(*args, **kwargs):
        report("> " + name)
        try:
            return inner(*args, **kwargs)
        finally:
            report("< " + name)
    setattr(owner, name, probe)

from mailrobot.casework import mailer
from mailrobot.outside import imap
from mailrobot.service import intake
wrap(imap.MailboxSource, "fetch")
for stage in ("_store", "_parse", "_decide_all", "_remember_sync"):
    wrap(intake.Intake, stage)
wrap(mailer, "compose")
from sqlalchemy import event
from sqlalchemy.orm import Session
event.listen(Session, "after_flush", lambda session, context: report("< flush"))
from mailrobot.cli import main
try:
    main(sys.argv[1:], standalone_mode=False)
finally:
    report("end")
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=int, default=25, help="the attachment's size in MB")
    parser.add_argument("--forward", action="store_true", help="forward it to an operator")
    parser.add_argument("--tracemalloc", action="store_true", help="also the Python heap's peak a stage")
    args = parser.parse_args()
    with Dovecot() as dovecot, SmtpSink() as sink, tempfile.TemporaryDirectory() as tmp:
        mailbox = ("stages", dovecot.add_user("stages"))
        data = robot_config(
            dovecot, mailbox, sink, f"sqlite:///{tmp}/stages.db",
            logging={"level": "WARNING"}, jobs={"enabled": False},
            robot={"notices_per_sender_per_day": 10**6, "max_attachment_bytes": (args.mb + 5) * MB},
        )  # fmt: skip
        if args.forward:
            sections = contact_center()
            sections["groups"]["operators"]["members"] = [OP1]
            data.update(sections)
        config = write_toml(Path(tmp) / "stages.toml", data)
        run = [*COMMAND, "db", "upgrade", "--config", str(config)]
        subprocess.run(run, check=True, cwd=REPO, capture_output=True)
        dovecot.append("stages", big_mail(args.mb * MB, "<stages@mail.ru>"))
        probe = [sys.executable, "-c", PROBE, "1" if args.tracemalloc else "0"]
        subprocess.run(
            [*probe, "run", "--once", "--config", str(config)], cwd=REPO, check=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip


if __name__ == "__main__":
    main()
