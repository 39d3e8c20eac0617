"""The `mailrobot` command line: the daemon, one-shot runs, and what admins ask of the database."""

from __future__ import annotations

import contextlib
import json
import sys
import tomllib
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from mailrobot.config import CONFIG_ENV, DEFAULT_CONFIG_PATH, ConfigError, Settings, load_settings
from mailrobot.logs import setup_logging
from mailrobot.regulation.workdays import WorkCalendar
from mailrobot.store.db import Database
from mailrobot.store.models import Case, Message

F = TypeVar("F", bound=Callable[..., Any])


def config_option(func: F) -> F:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        envvar=CONFIG_ENV,
        default=DEFAULT_CONFIG_PATH,
        show_default=True,
        show_envvar=True,
        help="The TOML config file.",
    )(func)


def _settings(config_path: str) -> Settings:
    try:
        return load_settings(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _database(config_path: str) -> Database:
    settings = _settings(config_path)
    db = Database(settings.database.url)
    db.upgrade()
    return db


def _calendar(config_path: str) -> WorkCalendar:
    """The calendar in force: the config's when there is a config file, Kazakhstan's defaults otherwise."""
    path = Path(config_path)
    if not path.exists():
        return WorkCalendar()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise click.ClickException(f"{path} is not valid TOML: {exc}") from None
    from mailrobot.config import CalendarSettings, RobotSettings

    calendar = CalendarSettings.model_validate(data.get("calendar", {}))
    robot = data.get("robot", {})
    tz = robot.get("timezone", RobotSettings.model_fields["timezone"].default)
    end = RobotSettings.model_fields["working_day_end"].default
    if "working_day_end" in robot:
        end = robot["working_day_end"]
    return WorkCalendar(
        tz=tz,
        extra_days_off=calendar.extra_days_off,
        extra_working_days=calendar.extra_working_days,
        country=calendar.country,
        day_end=end,
    )


@contextlib.contextmanager
def _leader_errors() -> Iterator[None]:
    """A second daemon refused, or a leader that stepped down: the reason, without a traceback; exit 1."""
    from mailrobot.outside.leader import AnotherDaemonRuns, LeadershipLost

    try:
        yield
    except (AnotherDaemonRuns, LeadershipLost) as exc:
        raise click.ClickException(str(exc)) from None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


@click.group()
@click.version_option(package_name="mailrobot")
def main() -> None:
    """mailrobot: registers consumer e-mail as cases, sends notices, tracks deadlines."""


@main.command()
@config_option
@click.option("--once", is_flag=True, help="Process the mailbox once, drain the outbox, exit.")
def run(config_path: str, once: bool) -> None:
    """Run the daemon (or one pass with --once)."""
    settings = _settings(config_path)
    setup_logging(settings.logging.level, settings.logging.json_format)
    from mailrobot.service.daemon import Robot

    robot = Robot(settings, config_path=config_path)
    if once:
        with _leader_errors():
            summary = robot.run_once()
        counts = ", ".join(f"{s} {summary.count(s)}" for s in ("case", "ignored", "quarantined", "duplicate"))
        # Mail about existing cases (routing): shown when there was some.
        about = [f"{k} {summary.count(k)}" for k in ("followup", "reply", "refused") if summary.count(k)]
        counts = ", ".join([counts, *about])
        click.echo(
            f"processed {len(summary.outcomes)} messages ({counts}); sent {summary.sent} mails"
            + (f", {summary.send_failures} send failures (will retry)" if summary.send_failures else "")
        )
        return
    with _leader_errors():
        robot.run_forever()


@main.command()
@config_option
def doctor(config_path: str) -> None:
    """Check config, database, mailbox, SMTP, templates, time zone and calendar; say what to fix."""
    from mailrobot.service.doctor import report

    sys.exit(report(config_path, click.echo))


@main.command("check-config")
@config_option
def check_config(config_path: str) -> None:
    """Validate the config file and say what is wrong."""
    settings = _settings(config_path)
    click.echo(
        f"{config_path}: OK (mailbox {settings.imap.username}@{settings.imap.host}, "
        f"database {settings.database.url.split('://')[0]})"
    )


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@config_option
def db_upgrade(config_path: str) -> None:
    """Create or migrate the database schema."""
    _database(config_path)
    click.echo("database is up to date")


@main.group()
def cases() -> None:
    """Registered cases."""


def case_summary(case: Case) -> dict[str, Any]:
    return {
        "number": case.number,
        "requester": case.requester,
        "requester_name": case.requester_name,
        "subject": case.subject,
        "state": case.state,
        "language": case.language,
        "channel": case.channel,
        "organization": case.organization,
        "assignee": case.assignee,
        "category": case.category,
        "received_at": _iso(case.received_at),
        "due_at": _iso(case.due_at),
        "extended_at": _iso(case.extended_at),
        "extension_reason": case.extension_reason,
        "overdue_at": _iso(case.overdue_at),
        "answered_at": _iso(case.answered_at),
        "closed_at": _iso(case.closed_at),
    }


@cases.command("list")
@config_option
@click.option("--state", help="Only cases in this state (new, answered, overdue, closed, ...).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--limit", default=1000, show_default=True)
def cases_list(config_path: str, state: str | None, as_json: bool, limit: int) -> None:
    """List cases, newest first."""
    db = _database(config_path)
    query = select(Case).order_by(Case.id.desc()).limit(limit)
    if state:
        query = query.where(Case.state == state)
    with db.sessions() as session:
        rows = [case_summary(c) for c in session.scalars(query)]
    if as_json:
        _echo_json(rows)
        return
    for r in rows:
        due = (r["due_at"] or "")[:16].replace("T", " ")
        click.echo(
            f"{r['number']:<18} {r['state']:<9} {r['language']:<3} due {due}  "
            f"{r['requester']:<30} {r['subject'][:60]}"
        )
    click.echo(f"{len(rows)} case(s)", err=True)


@cases.command("show")
@config_option
@click.argument("number")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def cases_show(config_path: str, number: str, as_json: bool) -> None:
    """Show one case with its timeline."""
    db = _database(config_path)
    with db.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number).options(selectinload(Case.events)))
        if case is None:
            raise click.ClickException(f"no case {number}")
        data = case_summary(case)
        data["body"] = case.body
        data["forwarded_by"] = case.forwarded_by
        data["participants"] = [
            {"address": p.address, "role": p.role, "organization": p.organization, "asked_by": p.asked_by}
            for p in case.participants
        ]
        data["timeline"] = [
            {"at": _iso(e.at), "kind": e.kind, "actor": e.actor, "detail": e.detail} for e in case.events
        ]
    if as_json:
        _echo_json(data)
        return
    for key in (
        "number",
        "state",
        "requester",
        "requester_name",
        "subject",
        "language",
        "received_at",
        "due_at",
        "extended_at",
        "overdue_at",
        "assignee",
        "category",
        "forwarded_by",
    ):
        click.echo(f"{key + ':':<16}{data[key] or ''}")
    for p in data["participants"]:
        asked = f", asked by {p['asked_by']}" if p["asked_by"] else ""
        click.echo(f"{'participant:':<16}{p['address']} ({p['role']}{asked})")
    click.echo("\n" + data["body"].strip()[:2000] + "\n\ntimeline:")
    for e in data["timeline"]:
        click.echo(f"  {e['at'][:19].replace('T', ' ')}  {e['kind']:<18} {e['actor']:<28} {e['detail']}")


@cases.command("export")
@config_option
@click.argument("number")
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="A new or empty directory."
)
def cases_export(config_path: str, number: str, out_dir: str) -> None:
    """Write case NUMBER, its timeline and its mail (.eml) and attachments to a directory."""
    from mailrobot.jobs.export import ExportError, export_case

    try:
        done = export_case(_database(config_path), number, Path(out_dir))
    except ExportError as exc:
        raise click.ClickException(str(exc)) from None
    purged = f", {done.purged} purged by retention" if done.purged else ""
    click.echo(
        f"case {number}: {done.messages} message(s), {done.outbox} mail(s) sent, "
        f"{done.attachments} attachment(s){purged} -> {done.directory}"
    )


@main.group()
def retention() -> None:
    """Personal data: raw mail and attachments past their retention period."""


@retention.command("purge")
@config_option
@click.option("--dry-run", is_flag=True, help="Count what would be purged; change nothing.")
def retention_purge(config_path: str, dry_run: bool) -> None:
    """Purge raw mail and attachments older than [retention] allows (cases and timelines stay)."""
    from mailrobot.jobs.retention import purge_raw
    from mailrobot.store.models import utcnow

    settings = _settings(config_path)
    setup_logging(settings.logging.level, settings.logging.json_format)
    db = Database(settings.database.url)
    db.upgrade()
    click.echo(purge_raw(db, settings, utcnow(), dry_run=dry_run).summary())


@main.group()
def messages() -> None:
    """Messages the robot has seen."""


@messages.command("list")
@config_option
@click.option("--quarantined", is_flag=True, help="Only quarantined messages.")
@click.option(
    "--status",
    help="Only messages with this status (case, followup, reply, refused, ignored, quarantined, duplicate).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--limit", default=1000, show_default=True)
def messages_list(config_path: str, quarantined: bool, status: str | None, as_json: bool, limit: int) -> None:
    """List messages with what became of them."""
    db = _database(config_path)
    query = select(Message).order_by(Message.id.desc()).limit(limit).options(selectinload(Message.case))
    if quarantined or status:
        query = query.where(Message.status == ("quarantined" if quarantined else status))
    with db.sessions() as session:
        rows = [
            {
                "id": m.id,
                "message_id": m.message_id,
                "status": m.status,
                "reason": m.reason,
                "case_number": m.case.number if m.case else None,
                "sender": m.sender,
                "subject": m.subject,
                "received_at": _iso(m.received_at),
                "size": m.size,
            }
            for m in session.scalars(query)
        ]
    if as_json:
        _echo_json(rows)
        return
    for r in rows:
        click.echo(
            f"#{r['id']:<6} {r['status']:<11} {r['case_number'] or '-':<18} {r['sender'][:30]:<30} "
            f"{r['reason'][:70]}"
        )
    click.echo(f"{len(rows)} message(s)", err=True)


@main.group()
def outbox() -> None:
    """Mail waiting to be sent, and mail that failed."""


@outbox.command("list")
@config_option
@click.option("--failed", "failed_only", is_flag=True, help="Only mail that failed for good.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--limit", default=1000, show_default=True)
def outbox_list(config_path: str, failed_only: bool, as_json: bool, limit: int) -> None:
    """List mail not sent yet: pending (being retried) and failed."""
    from mailrobot.store.queue import list_queue

    db = _database(config_path)
    with db.sessions() as session:
        rows = list_queue(session, failed_only, limit)
    if as_json:
        _echo_json(
            [
                {
                    "id": r.id, "case": r.case_number, "kind": r.kind, "recipient": r.recipient,
                    "state": r.state, "attempts": r.attempts, "created_at": _iso(r.created_at),
                    "next_attempt_at": _iso(r.next_attempt_at), "last_error": r.last_error,
                }
                for r in rows
            ]
        )
        return
    for r in rows:
        when = f"next {r.next_attempt_at:%Y-%m-%d %H:%M}" if r.next_attempt_at else "-"
        click.echo(
            f"#{r.id:<6} {r.case_number or '-':<18} {r.kind:<16} {r.recipient[:32]:<32} {r.state:<8} "
            f"{r.attempts:>3} {when:<22} {(r.last_error or '')[:60]}"
        )
    click.echo(f"{len(rows)} mail(s)", err=True)


@outbox.command("retry")
@config_option
@click.argument("ids", nargs=-1, type=int)
@click.option("--failed", "all_failed", is_flag=True, help="Every mail that failed.")
def outbox_retry(config_path: str, ids: tuple[int, ...], all_failed: bool) -> None:
    """Send failed mail again (the running daemon picks it up at once)."""
    from mailrobot.store.queue import retry
    from mailrobot.store.models import utcnow

    if bool(ids) == all_failed:
        raise click.UsageError("give the ids of the mails to retry, or --failed for all failed mail")
    db = _database(config_path)
    with db.transaction() as session:
        done = retry(session, list(ids) if ids else None, utcnow())
    missing = sorted(set(ids) - set(done))
    click.echo(f"{len(done)} mail(s) queued again" + (f": {', '.join(map(str, done))}" if done else ""))
    if missing:
        raise click.ClickException(f"not failed (or no such mail): {', '.join(map(str, missing))}")


@main.group()
def routes() -> None:
    """Routing rules ([[routes]], [groups.*], [routing])."""


@routes.command("test")
@config_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def routes_test(config_path: str, file: str) -> None:
    """Show which rule a mail (FILE.eml) matches, why, and who would get the case."""
    from mailrobot.mail.parse import Unparseable
    from mailrobot.mail.render import Renderer
    from mailrobot.service.explain import explain_mail
    from mailrobot.service.intake import Intake
    from mailrobot.store.models import utcnow

    settings = _settings(config_path)
    db = Database(settings.database.url)
    db.upgrade()
    intake = Intake(db, settings, WorkCalendar.from_settings(settings), Renderer.from_settings(settings))
    try:
        lines = explain_mail(intake, Path(file).read_bytes(), utcnow())
    except Unparseable as exc:
        raise click.ClickException(f"{file}: not an e-mail message: {exc}") from None
    click.echo("\n".join(lines))


@main.command("due-date")
@config_option
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--days", default=3, show_default=True, help="Working days to count.")
def due_date(config_path: str, day: datetime, days: int) -> None:
    """Print the due date of a case registered on DAY (YYYY-MM-DD)."""
    click.echo(_calendar(config_path).working_days_after(day.date(), days).isoformat())


@main.command("calendar")
@config_option
@click.argument("year", type=int, default=date.today().year)
def calendar_cmd(config_path: str, year: int) -> None:
    """Print the working-day calendar in force for YEAR: days off and worked weekend days."""
    calendar = _calendar(config_path)
    for day, name, origin in calendar.days_off(year):
        click.echo(f"{day.isoformat()}  {day.strftime('%a')}  {origin:<18} {name}")


# The commands of the scheduled work (jobs, cases extend, report) live in cli_jobs; importing registers them.
from mailrobot.cli import jobs as cli_jobs  # noqa: E402, F401

if __name__ == "__main__":
    sys.exit(main())
