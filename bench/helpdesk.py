"""django-helpdesk 2.6.1's `get_email` and `mailrobot run --once` on the same N mails, in one run (issue 13).

Creates a throwaway venv in a temp dir, pip-installs django-helpdesk==2.6.1 (pip picks the Django it
requires), writes a minimal Django project there (SQLite), migrates, and configures one helpdesk Queue for
IMAP against a private Dovecot.  The same N consumer mails as bench/intake.py go into three mailboxes:
`mailrobot run --once` processes one (a case and a notice each, through an SMTP sink), then the helpdesk's
`manage.py get_email` one (a ticket and a "new ticket" mail to the submitter each, through the same sink),
then `run --once` the third again: ours is the mean of the runs before and after.  Prints msg/s of both,
wall and CPU seconds, and ours/helpdesk; the target is ours >= 10x.  django-helpdesk is installed and run
only in the temp venv: nothing of it enters this repository.
Run by hand:  .venv/bin/python bench/helpdesk.py [-n 1000] [--venv DIR (kept, reused next time)]
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.intake import CountingSink, mails  # noqa: E402
from tests.support.config import robot_config, write_toml  # noqa: E402
from tests.support.daemon import run_mailrobot  # noqa: E402
from tests.support.dovecot import Dovecot  # noqa: E402
from tests.support.factories import FEEDBACK  # noqa: E402

HELPDESK = "django-helpdesk==2.6.1"

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
from helpdesk.models import FollowUp, Ticket
print(Ticket.objects.count(), FollowUp.objects.count())
"""


def helpdesk_venv(path: Path) -> Path:
    """The venv's python, django-helpdesk installed (created and installed only if missing)."""
    python = path / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    probe = subprocess.run([str(python), "-c", "import helpdesk"], capture_output=True)
    if probe.returncode:
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", HELPDESK],
            capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode:
            raise SystemExit(
                f"pip install {HELPDESK} failed (exit {done.returncode}):\n{done.stderr[-4000:]}"
            )
    return python


def versions(python: Path) -> dict[str, str]:
    code = "import django, importlib.metadata as m; print(django.get_version(), m.version('django-helpdesk'))"
    django, helpdesk = subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                                      check=True).stdout.split()  # fmt: skip
    return {"django": django, "django_helpdesk": helpdesk}


class Project:
    """A minimal Django project in `root` using the venv's python: settings, urls, a SQLite database."""

    def __init__(self, python: Path, root: Path, sink: CountingSink) -> None:
        self.python, self.root = python, root
        root.mkdir(parents=True, exist_ok=True)
        local = {
            "DATABASES": {
                "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(root / "helpdesk.db")}
            },
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


def robot(dovecot: Dovecot, sink: CountingSink, tmp: str, name: str) -> tuple[str, Path]:
    """A mailbox and a migrated database of mailrobot's own: (the IMAP user, the config)."""
    user = (name, dovecot.add_user(name))
    config = write_toml(Path(tmp) / f"{name}.toml", robot_config(
        dovecot, user, sink, f"sqlite:///{tmp}/{name}.db",
        logging={"level": "WARNING"}, robot={"notices_per_sender_per_day": 1000},
    ))  # fmt: skip
    # Migrated before the clock starts, as helpdesk's database is by `migrate`.
    run_mailrobot(config, "db", "upgrade", check=True)
    return name, config


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=1000, help="messages in each mailbox")
    parser.add_argument("--venv", type=Path, help="keep django-helpdesk's venv here (default: a temp dir)")
    args = parser.parse_args()
    with Dovecot() as dovecot, CountingSink() as sink, tempfile.TemporaryDirectory() as tmp:
        python = helpdesk_venv(args.venv or Path(tmp) / "venv")
        project = Project(python, Path(tmp) / "project", sink)
        project.manage("migrate", "--noinput")
        theirs = ("helpdesk", dovecot.add_user("helpdesk"))
        project.run("-c", MAKE_QUEUE, dovecot.host, str(dovecot.port), *theirs, FEEDBACK)
        # Ours runs before and after helpdesk, on mailboxes of its own: the load of a shared machine
        # drifts over the minutes helpdesk takes, and the mean of the two brackets that drift.
        robots = [robot(dovecot, sink, tmp, name) for name in ("before", "after")]
        for raw in mails(args.n, "helpdesk"):
            for user in (theirs[0], *(name for name, _config in robots)):
                dovecot.append(user, raw)

        def ours(config: Path) -> Callable[[], object]:
            return lambda: run_mailrobot(config, "run", "--once", check=True, timeout=3600)

        first = timed(ours(robots[0][1]))
        sink.wait_for(args.n, timeout=120)
        helpdesk = timed(lambda: project.manage("get_email", "--quiet"))
        helpdesk_mails = sink.count - args.n
        second = timed(ours(robots[1][1]))
        sink.wait_for(3 * args.n, timeout=120)
        left = {user: len(dovecot.list_uids(user)) for user in (theirs[0], *(n for n, _c in robots))}
        tickets, followups = map(int, project.run("-c", COUNT_TICKETS).stdout.split())
        ours_wall, ours_cpu = (first[0] + second[0]) / 2, (first[1] + second[1]) / 2
        figures = {
            "messages": args.n,
            **versions(python),
            "helpdesk_seconds": round(helpdesk[0], 2),
            "helpdesk_cpu_seconds": round(helpdesk[1], 2),
            "helpdesk_messages_per_s": round(args.n / helpdesk[0], 1),
            "helpdesk_tickets": tickets,
            "helpdesk_followups": followups,
            "helpdesk_mails_sent": helpdesk_mails,
            "ours_seconds_before_after": [round(first[0], 2), round(second[0], 2)],
            "ours_cpu_seconds_before_after": [round(first[1], 2), round(second[1], 2)],
            "ours_messages_per_s": round(args.n / ours_wall, 1),
            "notices_sent_in_all": sink.count,
            "left_in_inboxes": left,
            "ours_vs_helpdesk": round(helpdesk[0] / ours_wall, 2),
            "ours_vs_helpdesk_cpu": round(helpdesk[1] / ours_cpu, 2),
            "target": 10,
            "met": helpdesk[0] / ours_wall >= 10,
        }
        print(json.dumps(figures, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
