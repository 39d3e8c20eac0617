"""`mailrobot doctor`: checks everything the daemon needs, each with what to do when it is wrong.

Each check is a small function that returns a `Check`; the list runs in order and later checks that need an
earlier one (IMAP folders need the IMAP login) are skipped when it failed.  Nothing is sent and nothing is
changed, except the processed folder, which is created when the config allows it (as the daemon would).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import make_url

from mailrobot.config import ConfigError, Settings
from mailrobot.jobs.scheduler import check_schedules
from mailrobot.outside.imap import CREATED, EXISTS, MailboxProbe
from mailrobot.outside.probe import Failure, ProbeFailed
from mailrobot.outside.sender import probe_login
from mailrobot.outside.sent_journal import (
    SHIPPED_STATE_DIRECTORY,
    journal_access,
    journal_directory,
    journal_name,
)
from mailrobot.service.context import Services

OK, WARN, FAIL = "✔", "!", "✘"


@dataclass(frozen=True)
class Check:
    name: str
    mark: str  # OK, WARN (works, but not as well as it could) or FAIL
    detail: str
    fix: str = ""

    @property
    def failed(self) -> bool:
        return self.mark == FAIL

    def __str__(self) -> str:
        line = f"{self.mark} {self.name}: {self.detail}"
        return line + (f"\n    → {self.fix}" if self.fix else "")


def run_checks(config_path: str | Path) -> Iterator[Check]:
    """Every check, in order, as it finishes (so a slow server shows where it hangs)."""
    try:
        services = Services.load(config_path, upgrade=False)  # doctor changes nothing, the schema included
        settings = services.settings
    except ConfigError as exc:
        yield Check("config", FAIL, str(exc), "fix the keys named above; config.example.toml documents each")
        return
    try:
        check_schedules(settings)
    except ConfigError as exc:
        yield Check("config", FAIL, str(exc), "fix the schedule named above")
        return
    yield Check("config", OK, f"{config_path} is valid")
    try:
        yield from _checks(services)
    finally:
        services.close()


def _checks(services: Services) -> Iterator[Check]:
    settings = services.settings
    yield _timezone(settings)
    yield _calendar(services)
    yield from _templates(services)
    database = _database(services)
    yield database
    disk = _disk(services.settings)
    if disk is not None:
        yield disk
    if not database.failed:
        yield _outbox(services)
    yield _sender_journal(settings)
    imap = _Imap(settings)
    yield imap.login()
    if imap.logged_in:
        try:
            yield from imap.folders()
            yield imap.capability("IDLE", "mail is seen within a second", "polled every {poll} s")
            yield imap.capability("MOVE", "processed mail is moved", "processed mail is flagged in place")
        except ProbeFailed as exc:
            yield Check("IMAP", FAIL, f"the server failed a command: {exc.detail}", "see the server's log")
        finally:
            imap.close()
    yield _smtp(settings)


def _timezone(settings: Settings) -> Check:
    from zoneinfo import ZoneInfo

    from mailrobot.regulation.workdays import StaleTimezone, check_timezone

    tz = settings.robot.timezone
    try:
        check_timezone(tz)
    except StaleTimezone as exc:
        message, _, fix = str(exc).partition("; ")
        return Check("time zone", FAIL, message, fix)
    offset = datetime.now(ZoneInfo(tz)).strftime("%z")
    return Check("time zone", OK, f"{tz} is UTC{offset[:3]}:{offset[3:]} now (the tz database is current)")


def _calendar(services: Services) -> Check:
    from mailrobot.regulation.workdays import (
        ORIGIN_CONFIG_OFF,
        ORIGIN_CONFIG_WORKING,
        ORIGIN_TRANSFER,
    )

    settings, year = services.settings, date.today().year
    try:
        calendar = services.calendar
        days = calendar.days_off(year)
        due = calendar.working_days_after(date.today(), settings.robot.answer_days)
    except Exception as exc:
        return Check(
            f"calendar {year}", FAIL, f"{type(exc).__name__}: {exc}", "check [calendar] in the config"
        )
    origins = [origin for _day, _name, origin in days]
    worked = sum(o in (ORIGIN_TRANSFER, ORIGIN_CONFIG_WORKING) for o in origins)
    detail = (
        f"{len(days) - worked} weekdays off, {worked} weekend days worked; "
        f"a case registered today is due {due.isoformat()}"
    )
    if not any(o in (ORIGIN_TRANSFER, ORIGIN_CONFIG_OFF, ORIGIN_CONFIG_WORKING) for o in origins):
        return Check(
            f"calendar {year}",
            WARN,
            detail + "; no day transfers known for this year",
            "when the government's decree on day transfers for this year is out, add its days to "
            "[calendar] extra_days_off / extra_working_days (`mailrobot calendar` shows the result)",
        )
    return Check(f"calendar {year}", OK, detail)


def _templates(services: Services) -> Iterator[Check]:
    try:
        renderer = services.renderer
        problems = renderer.check_templates()
        languages = renderer.languages()
    except Exception as exc:
        yield Check("templates", FAIL, f"{type(exc).__name__}: {exc}", "check robot.templates_dir")
        return
    fix = "edit the templates named (see templates/ for the shipped ones), then run doctor again"
    general = [p for p in problems if not any(p.startswith(f"{lang}/") for lang in languages)]
    if general:
        yield Check("templates", FAIL, "; ".join(general), fix)
    for language in languages:
        mine = [p for p in problems if p.startswith(f"{language}/")]
        if mine:
            yield Check(f"templates ({language})", FAIL, "; ".join(mine), fix)
        else:
            yield Check(f"templates ({language})", OK, f"{len(renderer.template_names())} mails render")


def _database(services: Services) -> Check:
    from mailrobot.store.db import current_revision, head_revision

    url = make_url(services.settings.database.url)
    shown = url.render_as_string(hide_password=True)
    sqlite_file = url.database if url.get_backend_name() == "sqlite" and url.database != ":memory:" else None
    # Opening a missing SQLite file would create it (as whoever runs doctor): say so instead.
    if sqlite_file and not Path(sqlite_file).exists():
        return Check(
            "database",
            FAIL,
            f"{sqlite_file} does not exist yet",
            "start the service (it creates the database) or run `mailrobot db upgrade` as its user",
        )
    try:
        engine = services.db.engine
        current, head = current_revision(engine), head_revision(engine)
    except Exception as exc:
        return Check(
            "database",
            FAIL,
            f"cannot connect to {shown}: {type(exc).__name__}: {exc}",
            "check database.url, that the server runs and that the user may log in",
        )
    if current != head:
        return Check(
            "database",
            FAIL,
            f"{shown}: schema at {current or 'nothing'}, this version needs {head}",
            "run `mailrobot db upgrade` (the daemon also upgrades when it starts)",
        )
    return Check("database", OK, f"{shown}: schema current ({head})")


# Below this much free space beside a SQLite file, a mail with attachments may not fit: it then waits in
# the inbox, and the daemon's journal says "database unavailable: the disk is full" (drill 6).
DISK_LOW = 64 * 1024 * 1024


def _disk(settings: Settings, low: int = DISK_LOW) -> Check | None:
    """Free space where the SQLite file lives (a PostgreSQL server's disk is its own admin's); None there."""
    url = make_url(settings.database.url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    where = Path(url.database).resolve().parent
    try:
        free = shutil.disk_usage(where).free
    except OSError as exc:
        return Check("disk", FAIL, f"cannot read the free space of {where}: {exc.strerror}")
    shown = f"{free / 2**20:.1f} MB free in {where} (the database's directory)"
    if free < low:
        return Check(
            "disk", FAIL, f"only {shown}: new mail may not fit and then waits in the inbox",
            "free some space there (or move the database); the daemon goes on by itself",
        )  # fmt: skip
    return Check("disk", OK, shown)


# Mail waiting longer than this means SMTP is down or refusing us: worth an admin's look.
OUTBOX_WAIT_WARNING = timedelta(minutes=30)


def _outbox(services: Services) -> Check:
    from mailrobot.store.models import utcnow
    from mailrobot.store.queue import queue_health

    with services.db.sessions() as session:
        health = queue_health(session)
    if health.configuration_error:
        return Check(
            "outbox", FAIL, f"the SMTP server refuses our settings: {health.configuration_error}",
            "check smtp.from_address (the server must let smtp.username send as it) and the SMTP credentials",
        )  # fmt: skip
    if health.failed:
        return Check(
            "outbox", FAIL, f"{health.failed} mail(s) failed for good ({health.pending} waiting)",
            "see `mailrobot outbox list --failed`; once fixed, `mailrobot outbox retry --failed`",
        )  # fmt: skip
    waited = utcnow() - health.oldest_pending if health.oldest_pending else None
    if waited is not None and waited > OUTBOX_WAIT_WARNING:
        return Check(
            "outbox", WARN, f"{health.pending} mail(s) waiting, the oldest for {_minutes(waited)} min",
            "is the SMTP server up? `mailrobot outbox list` shows each mail's last error",
        )  # fmt: skip
    if waited is not None:  # a backlog younger than the warning: its age still shows an outage starting
        seconds = int(waited.total_seconds())
        age = f"{seconds} s" if seconds < 120 else f"{_minutes(waited)} min"
        return Check("outbox", OK, f"{health.pending} mail(s) waiting, the oldest for {age}, none failed")
    return Check("outbox", OK, f"{health.pending} mail(s) waiting, none failed")


def _sender_journal(
    settings: Settings, environ: Mapping[str, str] = os.environ, shipped: Path = SHIPPED_STATE_DIRECTORY
) -> Check:
    """How the daemon's sender will record its sends: in batches with a sent journal, or (PostgreSQL without
    a journal directory) a transaction per mail.  Doctor runs from a shell, without systemd's variables."""
    url = settings.database.url
    if make_url(url).get_backend_name() == "sqlite":
        return Check(
            "outbox sender", OK, f"batches, sent journal beside the database ({make_url(url).database}.sent)"
        )
    directory, source = journal_directory(settings.smtp, environ)
    if directory is not None:
        checked, problem = journal_access(directory, journal_name(url))
        if problem is None:
            return Check("outbox sender", OK, f"batches, sent journal in {directory} ({source}; {checked})")
        fix = (
            f"make it the daemon's (the unit's User=mailrobot): install -d -m 0750 -o mailrobot -g mailrobot "
            f"{directory}, and chown mailrobot: a journal file in it that another user owns"
        )
        return Check("outbox sender", WARN, f"a transaction per mail: {problem} ({source})", fix)
    return _shipped_journal(shipped / journal_name(url))


def _shipped_journal(path: Path) -> Check:
    """Neither set here: the daemon batches only if the shipped unit gives it $STATE_DIRECTORY, and then its
    journal is in that directory (it is created at the sender's first start and stays)."""
    try:
        if path.exists():
            return Check("outbox sender", OK, f"batches under systemd (journal {path})")
        looked = f"no {path}"
    except OSError as exc:  # the unit's StateDirectoryMode=0750 keeps other users out
        looked = f"cannot look into {path.parent}: {exc.strerror}; run doctor as the daemon's user"
    detail = "a transaction per mail unless the daemon runs under the shipped unit (StateDirectory=) or "
    return Check(
        "outbox sender", WARN, detail + f"smtp.journal_dir is set ({looked})",
        "run the daemon under contrib/systemd/mailrobot.service, or set [smtp] journal_dir to a directory of "
        "this host the daemon's user may write (less CPU, and a kill -9 resends only the mail in flight)",
    )  # fmt: skip


def _minutes(value: timedelta) -> int:
    return int(value.total_seconds() // 60)


class _Imap:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings.imap
        self.probe = MailboxProbe(settings.imap)
        self.logged_in = False

    def login(self) -> Check:
        s = self.settings
        where = f"{s.username} on {s.host}:{s.port} ({s.security}, {s.auth})"
        try:
            self.probe.login()
        except ProbeFailed as exc:
            if exc.failure is Failure.REFUSED:
                secret = (
                    "the token (token_command or [imap.m365]: does the app have IMAP access to this mailbox?)"
                    if s.auth == "oauth2"
                    else "the password (imap.password, imap.password_file or MAILROBOT_IMAP_PASSWORD)"
                )
                fix = f"check imap.username and {secret}"
                return Check("IMAP login", FAIL, f"{where}: refused: {exc.detail}", fix)
            if exc.failure is Failure.TOKEN:
                return Check("IMAP login", FAIL, f"{where}: no token: {exc.detail}", _TOKEN_FIX)
            return Check("IMAP login", FAIL, f"{where}: {exc.detail}", _network_fix("imap", s.security))
        self.logged_in = True
        return Check("IMAP login", OK, where)

    def folders(self) -> Iterator[Check]:
        s = self.settings
        inbox, processed = self.probe.folders()
        if not inbox:
            yield Check("IMAP folders", FAIL, f"{s.folder!r} does not exist", "check imap.folder")
        elif processed == EXISTS:
            yield Check("IMAP folders", OK, f"{s.folder!r} and {s.processed_folder!r} exist")
        elif processed == CREATED:
            yield Check("IMAP folders", OK, f"{s.folder!r} exists; created {s.processed_folder!r}")
        else:
            yield Check(
                "IMAP folders",
                FAIL,
                f"processed folder {s.processed_folder!r} does not exist and imap.create_folders is false",
                f"create {s.processed_folder!r} in the mailbox, or set imap.create_folders = true",
            )

    def capability(self, name: str, good: str, fallback: str) -> Check:
        if self.probe.has(name):
            return Check(f"IMAP {name}", OK, f"supported: {good}")
        detail = fallback.format(poll=f"{self.settings.poll_interval:g}")
        return Check(f"IMAP {name}", WARN, f"not supported by the server: {detail}")

    def close(self) -> None:
        self.probe.close()


_TOKEN_FIX = "fix the token source named above"


def _smtp(settings: Settings) -> Check:
    s = settings.smtp
    who = f"{s.username} " if s.username else ""
    where = f"{who}on {s.host}:{s.port} ({s.security}, {s.auth if s.username else 'no authentication'})"
    try:
        probe_login(s)
    except ProbeFailed as exc:
        if exc.failure is Failure.REFUSED:
            fix = (
                "check smtp.username and its password or token (and that the mailbox may send with SMTP AUTH)"
            )
            return Check("SMTP login", FAIL, f"{where}: refused: {exc.detail}", fix)
        if exc.failure is Failure.TOKEN:
            return Check("SMTP login", FAIL, f"{where}: no token: {exc.detail}", _TOKEN_FIX)
        return Check("SMTP login", FAIL, f"{where}: {exc.detail}", _network_fix("smtp", s.security))
    return Check("SMTP login", OK, f"{where} (nothing sent)")


def _network_fix(section: str, security: str) -> str:
    return (
        f"check {section}.host, {section}.port and {section}.security ({security}), that the server is up, "
        "and that a firewall lets this host reach it"
    )


def report(config_path: str | Path, echo: Callable[[str], None] = print) -> int:
    """Print each check as it finishes; 1 if any failed, else 0."""
    failed = 0
    for check in run_checks(config_path):
        echo(str(check))
        failed += check.failed
    echo(f"\n{failed} problem(s) found" if failed else "\nall checks passed")
    return 1 if failed else 0
