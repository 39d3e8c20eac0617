"""django-helpdesk 2.6.1's `get_email` and `mailrobot run --once` on the same N mails, in one run (issue 13).

Creates a throwaway venv in a temp dir, pip-installs django-helpdesk==2.6.1 (pip picks the Django it
requires), writes a minimal Django project there (SQLite), migrates, and configures one helpdesk Queue for
IMAP against a private Dovecot.  The same N consumer mails as bench/intake.py go into two mailboxes: the
helpdesk's `manage.py get_email` processes one (a ticket and a "new ticket" mail to the submitter each,
through an SMTP sink), `mailrobot run --once` the other (a case and a notice each, through the same sink).
Prints msg/s of both and ours/helpdesk; the target is ours >= 10x.  django-helpdesk is installed and run
only in the temp venv: nothing of it enters this repository.
Run by hand:  .venv/bin/python bench/helpdesk.py [-n 1000] [--venv DIR (kept, reused next time)]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.intake import CountingSink, mails, run_once  # noqa: E402
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
        ours = ("robot", dovecot.add_user("robot"))
        config = write_toml(Path(tmp) / "config.toml", robot_config(
            dovecot, ours, sink, f"sqlite:///{tmp}/robot.db",
            logging={"level": "WARNING"}, robot={"notices_per_sender_per_day": 1000},
        ))  # fmt: skip
        # Both databases migrated before the clock starts (helpdesk's by `migrate` above).
        run_mailrobot(config, "db", "upgrade", check=True)
        for raw in mails(args.n, "helpdesk"):
            dovecot.append(theirs[0], raw)
            dovecot.append(ours[0], raw)

        started = time.perf_counter()
        project.manage("get_email", "--quiet")
        helpdesk_s = time.perf_counter() - started
        left = len(dovecot.list_uids(theirs[0]))
        tickets, followups = map(int, project.run("-c", COUNT_TICKETS).stdout.split())
        helpdesk_mails = sink.count

        ours_s, _peak, summary = run_once(config)
        sink.wait_for(helpdesk_mails + args.n, timeout=120)
        figures = {
            "messages": args.n,
            **versions(python),
            "helpdesk_seconds": round(helpdesk_s, 2),
            "helpdesk_messages_per_s": round(args.n / helpdesk_s, 1),
            "helpdesk_tickets": tickets,
            "helpdesk_followups": followups,
            "helpdesk_mails_sent": helpdesk_mails,
            "helpdesk_left_in_inbox": left,
            "ours_seconds": round(ours_s, 2),
            "ours_messages_per_s": round(args.n / ours_s, 1),
            "ours_notices_sent": sink.count - helpdesk_mails,
            "run_once": summary,
            "ours_vs_helpdesk": round(helpdesk_s / ours_s, 2),
            "target": 10,
            "met": helpdesk_s / ours_s >= 10,
        }
        print(json.dumps(figures, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
