"""django-helpdesk 2.6.1's `get_email` and mailrobot on the same N mails, in one run (issue 13: ours >= 10x).

Creates a throwaway venv in a temp dir, pip-installs django-helpdesk==2.6.1 (pip picks the Django it
requires), writes a minimal Django project there (SQLite by default), migrates, and configures one helpdesk
Queue for IMAP against a private Dovecot.  The same N consumer mails as bench/intake.py go into a mailbox
each for:
  helpdesk   `manage.py get_email` once (a ticket and a "new ticket" mail to the submitter each, through the
             counting SMTP sink).  Deployed, it is started by cron or a scheduler every few minutes: each
             run pays the interpreter's start, Django's setup and the IMAP login.
  run --once `mailrobot run --once` (a case and a notice each, through the same sink): the same shape as
             get_email, paying interpreter start, imports and the schema check on every run.
  burst      the running daemon (bench/intake.burst: started, in IDLE, the N mails moved into its INBOX by
             one server-side MOVE, timed to the last notice): ours as deployed, started once.
Each of ours runs before and after helpdesk, on mailboxes and databases of its own, and is the mean of the
two: the load of a shared machine drifts over the minutes helpdesk takes.  Both start-ups are measured
alone too (get_email and run --once on an empty mailbox): helpdesk less its start-up is its work per mail,
the figure the burst compares with.  Prints msg/s, wall and CPU seconds and ours/helpdesk for each.
django-helpdesk is installed and run only in the temp venv: nothing of it enters this repository.
Run by hand:  .venv/bin/python bench/helpdesk.py [-n 1000] [--venv DIR (kept, reused)] [--postgresql]
(--postgresql: both on a private PostgreSQL cluster, a database each; psycopg goes into helpdesk's venv)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.intake import CountingSink, burst, mails  # noqa: E402
from tests.support.config import robot_config, write_toml  # noqa: E402
from tests.support.daemon import run_mailrobot  # noqa: E402
from tests.support.dovecot import Dovecot  # noqa: E402
from tests.support.factories import FEEDBACK  # noqa: E402
from tests.support.pg import PostgresServer  # noqa: E402

HELPDESK = "django-helpdesk==2.6.1"
PSYCOPG = "psycopg[binary]"

SETTINGS = """\
SECRET_KEY = "bench-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
SITE_ID = 1
INSTALLED_APPS = [
    "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
    "django.contrib.sessions", "django.contrib.messages", "django.contrib.staticfiles",
    "django.contrib.sites", "django.contrib.humanize", "rest_framework", "helpdesk",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
ROOT_URLCONF = "hdurls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "/static/"
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
DEFAULT_FROM_EMAIL = "feedback@skes.example.kz"
HELPDESK_TEAMS_MODE_ENABLED = False  # teams need pinax-teams; get_email does not use them
"""

URLS = """\
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("helpdesk.urls", namespace="helpdesk")),
]
"""

# Run by the venv's python with the project's settings: one IMAP queue, as an administrator sets it up.
MAKE_QUEUE = """\
import sys, django
django.setup()
from helpdesk.models import Queue
host, port, user, password, address = sys.argv[1:]
Queue.objects.create(
    title="Feedback", slug="feedback", email_address=address, allow_email_submission=True,
    email_box_type="imap", email_box_host=host, email_box_port=int(port), email_box_ssl=False,
    email_box_user=user, email_box_pass=password, email_box_imap_folder="INBOX", email_box_interval=0,
    logging_type="none",
)
"""

COUNT_TICKETS = """\
import django
django.setup()
from django.db import connection
from helpdesk.models import FollowUp, Ticket
print(Ticket.objects.count(), FollowUp.objects.count(), connection.vendor)
"""


def helpdesk_venv(path: Path, postgresql: bool = False) -> Path:
    """The venv's python, django-helpdesk installed, and psycopg for Django's PostgreSQL backend if asked
    (created and installed only if missing)."""
    python = path / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    packages, imports = (
        ([HELPDESK, PSYCOPG], "import helpdesk, psycopg") if postgresql else ([HELPDESK], "import helpdesk")
    )
    probe = subprocess.run([str(python), "-c", imports], capture_output=True)
    if probe.returncode:
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", *packages],
            capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode:
            raise SystemExit(
                f"pip install {' '.join(packages)} failed (exit {done.returncode}):\n{done.stderr[-4000:]}"
            )
    return python


def versions(python: Path) -> dict[str, str]:
    code = "import django, importlib.metadata as m; print(django.get_version(), m.version('django-helpdesk'))"
    django, helpdesk = subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                                      check=True).stdout.split()  # fmt: skip
    return {"django": django, "django_helpdesk": helpdesk}


class Project:
    """A minimal Django project in `root` using the venv's python: settings, urls, a database (SQLite
    unless `database_url` names a PostgreSQL one)."""

    def __init__(self, python: Path, root: Path, sink: CountingSink, database_url: str | None) -> None:
        self.python, self.root = python, root
        root.mkdir(parents=True, exist_ok=True)
        local = {
            "DATABASES": {"default": django_database(root, database_url)},
            "MEDIA_ROOT": str(root / "media"),
            "EMAIL_HOST": sink.host,
            "EMAIL_PORT": sink.port,
        }
        (root / "hdsettings.py").write_text(SETTINGS + "".join(f"{k} = {v!r}\n" for k, v in local.items()))
        (root / "hdurls.py").write_text(URLS)
        self.env = os.environ | {"DJANGO_SETTINGS_MODULE": "hdsettings", "PYTHONPATH": str(root)}

    def run(self, *args: str, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(self.python), *args], cwd=self.root, env=self.env, capture_output=True,
                              text=True, timeout=timeout)  # fmt: skip
        if done.returncode:
            raise SystemExit(f"{' '.join(args[:3])} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
        return done

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run("-m", "django", *args)


def django_database(root: Path, url: str | None) -> dict[str, str]:
    """Django's DATABASES entry: a SQLite file in `root`, or the PostgreSQL database at `url`."""
    if url is None:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(root / "helpdesk.db")}
    parts = make_url(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.database or "",
        "USER": parts.username or "",
        "PASSWORD": parts.password or "",
        "HOST": parts.host or "",
        "PORT": str(parts.port or ""),
    }


def timed(command: Callable[[], object]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, of the child processes) of `command`.

    CPU time moves less than wall time when other work shares the machine; both are printed.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    command()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def robot(dovecot: Dovecot, sink: CountingSink, tmp: str, name: str, database_url: str) -> Robot:
    """A mailbox and a migrated database of mailrobot's own."""
    user = (name, dovecot.add_user(name))
    config = write_toml(Path(tmp) / f"{name}.toml", robot_config(
        dovecot, user, sink, database_url,
        logging={"level": "WARNING"}, robot={"notices_per_sender_per_day": 1000},
    ))  # fmt: skip
    # Migrated before the clock starts, as helpdesk's database is by `migrate`.
    run_mailrobot(config, "db", "upgrade", check=True)
    return Robot(user, config)


# Ours before and after helpdesk, in mirror order: each of ours is the mean of the two brackets.
ORDER = ("once-before", "burst-before", "helpdesk", "burst-after", "once-after")
BURSTS = ("burst-before", "burst-after")


class Robot(NamedTuple):
    user: tuple[str, str]
    config: Path


def run_once(bot: Robot) -> Callable[[], object]:
    return lambda: run_mailrobot(bot.config, "run", "--once", check=True, timeout=3600)


def mean(*runs: tuple[float, float]) -> tuple[float, float]:
    """Wall and CPU seconds, each the mean over `runs`."""
    return sum(r[0] for r in runs) / len(runs), sum(r[1] for r in runs) / len(runs)


def measure(n: int, venv: Path | None, server: PostgresServer | None) -> dict[str, object]:
    with Dovecot() as dovecot, CountingSink() as sink, tempfile.TemporaryDirectory() as tmp:
        python = helpdesk_venv(venv or Path(tmp) / "venv", postgresql=server is not None)
        project = Project(python, Path(tmp) / "project", sink, server.create_database() if server else None)
        project.manage("migrate", "--noinput")
        theirs = ("helpdesk", dovecot.add_user("helpdesk"))
        project.run("-c", MAKE_QUEUE, dovecot.host, str(dovecot.port), *theirs, FEEDBACK)
        bots = {}
        for name in ("idle", *ORDER[:2], *ORDER[3:]):
            url = server.create_database() if server else f"sqlite:///{tmp}/{name}.db"
            bots[name] = robot(dovecot, sink, tmp, name, url)
        get_email = lambda: project.manage("get_email", "--quiet")  # noqa: E731
        runs = {"helpdesk-startup": timed(get_email), "ours-startup": timed(run_once(bots["idle"]))}
        raws = mails(n, "helpdesk")
        for raw in raws:  # the bursts' mails go into their Staging folders when their turn comes
            for user in (theirs[0], bots["once-before"].user[0], bots["once-after"].user[0]):
                dovecot.append(user, raw)
        sent: dict[str, int] = {}
        delays: dict[str, float] = {}
        for name in ORDER:
            base = sink.count
            if name == "helpdesk":
                runs[name] = timed(get_email)  # it sends each mail before it moves on: all are counted now
            elif name.startswith("burst"):
                run = burst(dovecot, bots[name].user, sink, bots[name].config, n, raws)
                runs[name], delays[name] = (run.seconds, run.cpu_s), run.notify_delay_s
            else:
                runs[name] = timed(run_once(bots[name]))
                sink.wait_for(base + n, timeout=120)
            sent[name] = sink.count - base
        left = {user: len(dovecot.list_uids(user)) for user in (theirs[0], *bots)}
        tickets, followups, vendor = project.run("-c", COUNT_TICKETS).stdout.split()
        found = {"helpdesk_tickets": int(tickets), "helpdesk_followups": int(followups), "mails_sent": sent,
                 "left_in_inboxes": left, "database": {"ours": "postgresql" if server else "sqlite",
                                                       "helpdesk": vendor}}  # fmt: skip
        return figures(n, runs, delays) | versions(python) | found


def figures(n: int, runs: dict[str, tuple[float, float]], delays: dict[str, float]) -> dict[str, object]:
    """msg/s, wall and CPU seconds of each, and the ratios ours/helpdesk (helpdesk's seconds / ours); the
    bursts' wall also from the IMAP server's announcement of the mail (`delays`: bench/notify.py)."""
    helpdesk, startup = runs["helpdesk"], runs["helpdesk-startup"]
    work = (helpdesk[0] - startup[0], helpdesk[1] - startup[1])
    once, burst_ = (
        mean(runs["once-before"], runs["once-after"]),
        mean(runs["burst-before"], runs["burst-after"]),
    )
    # The server's notify delay is wall time only: the daemon waits in IDLE, using no CPU.
    delay = sum(delays[m] for m in BURSTS) / len(BURSTS)
    from_notify = (burst_[0] - delay, burst_[1])

    def pair(*names: str) -> dict[str, list[float]]:
        return {
            "seconds": [round(runs[m][0], 2) for m in names],
            "cpu_s": [round(runs[m][1], 2) for m in names],
        }

    def ratio(theirs: tuple[float, float], ours: tuple[float, float]) -> dict[str, float]:
        return {"wall": round(theirs[0] / ours[0], 2), "cpu": round(theirs[1] / ours[1], 2)}

    return {
        "messages": n,
        "helpdesk": {"messages_per_s": round(n / helpdesk[0], 1), **pair("helpdesk")},
        "helpdesk_startup_alone": pair("helpdesk-startup"),
        "ours_run_once": {"messages_per_s": round(n / once[0], 1), **pair("once-before", "once-after")},
        "ours_startup_alone": pair("ours-startup"),
        "ours_burst": {
            "messages_per_s": round(n / burst_[0], 1),
            **pair("burst-before", "burst-after"),
            "imap_notify_delay_s": [round(delays[m], 3) for m in BURSTS],
            "seconds_from_notify": [round(runs[m][0] - delays[m], 2) for m in BURSTS],
        },
        "ours_vs_helpdesk": {
            "run_once_vs_get_email": ratio(helpdesk, once),
            "burst_vs_get_email": ratio(helpdesk, burst_),
            "burst_vs_get_email_less_its_startup": ratio(work, burst_),
            "burst_from_notify_vs_get_email_less_its_startup": ratio(work, from_notify),
        },
        "comparable": {
            "run_once_vs_get_email": "like for like: each a command started per run, start-up included",
            "burst_vs_get_email_less_its_startup": "the work per mail: ours as deployed (a daemon started "
            "once; its time includes Dovecot's ~0.5 s IDLE notify delay) against get_email without the "
            "start-up it pays on every cron run",
            "burst_from_notify_vs_get_email_less_its_startup": "the same, each burst timed from when the "
            "server announced the moved mail to an IDLE connection (imap_notify_delay_s after the MOVE, seen "
            "by an observer's own connection) instead of from the MOVE: Dovecot's fixed 500 ms notify delay "
            "left out, which get_email, reading a mailbox that already holds the mail, never waits; its cpu "
            "ratio is the burst's (the daemon waits that delay idle)",
            "wall_or_cpu": "get_email commits each save (an fsync on SQLite): its wall time grows with the "
            "disk's load, its CPU hardly; the CPU ratio is the one a busy machine does not move (the private "
            "PostgreSQL cluster of --postgresql runs with fsync off)",
        },
        "target": 10,
        "met": {
            name: {"wall": helpdesk[0] / ours[0] >= 10, "cpu": helpdesk[1] / ours[1] >= 10}
            for name, ours in (("run_once", once), ("burst", burst_))
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=1000, help="messages in each mailbox")
    parser.add_argument("--venv", type=Path, help="keep django-helpdesk's venv here (default: a temp dir)")
    parser.add_argument(
        "--postgresql", action="store_true", help="both on a private PostgreSQL cluster, a database each"
    )
    args = parser.parse_args()
    server = PostgresServer() if args.postgresql else None
    load = os.getloadavg()[0]  # the wall ratio follows the machine's load: printed beside it
    try:
        found = measure(args.n, args.venv, server)
    finally:
        if server is not None:
            server.stop()
    found["load_average_1min_before_after"] = [round(load, 2), round(os.getloadavg()[0], 2)]
    print(json.dumps(found, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
