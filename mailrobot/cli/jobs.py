"""CLI commands for deadlines and reports: `jobs run|list`, `cases extend`, `report monthly`.

Kept beside cli.py (which imports this module to register them) so that the commands of the scheduled
work live in one place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click
from sqlalchemy import select

from mailrobot.cli import _settings, cases, config_option, main
from mailrobot.config import Settings
from mailrobot.mail.render import Renderer
from mailrobot.regulation.deadlines import JOB_NAMES
from mailrobot.regulation.workdays import WorkCalendar
from mailrobot.store.db import Database
from mailrobot.store.models import Case, JobRun, utcnow

if TYPE_CHECKING:
    from mailrobot.jobs.tasks import Jobs

# The jobs, reports and the SMTP sender are imported inside the commands that use them: every other
# command of the CLI (and `--help`) starts without loading the mail parser they pull in.


@dataclass
class _Robot:
    """What the commands need: settings, an upgraded database, the calendar and the templates."""

    settings: Settings
    db: Database
    calendar: WorkCalendar
    renderer: Renderer

    @classmethod
    def load(cls, config_path: str) -> _Robot:
        settings = _settings(config_path)
        db = Database(settings.database.url)
        db.upgrade()
        return cls(settings, db, WorkCalendar.from_settings(settings), Renderer.from_settings(settings))

    def jobs(self) -> Jobs:
        from mailrobot.jobs.tasks import Jobs

        return Jobs(self.db, self.settings, self.calendar, self.renderer)

    def send(self, now: datetime | None = None) -> str:
        """Send what is in the outbox now (as the daemon's sender would); with `now` in the future (a job
        run with --now), also the mail queued as at then."""
        from mailrobot.outside.sender import OutboxSender

        moment = max(utcnow(), now) if now else utcnow()
        sender = OutboxSender(self.db, self.settings.smtp, clock=lambda: max(utcnow(), moment))
        try:
            sent, failed = sender.drain()
        finally:
            sender.close()
        return f"sent {sent} mails" + (f", {failed} failed (they stay in the outbox)" if failed else "")


def _moment(text: str | None, settings: Settings) -> datetime:
    """--now: ISO 8601; without an offset it is local time in robot.timezone."""
    if not text:
        return utcnow()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not ISO 8601 (e.g. 2026-11-27T09:30)", param_hint="--now"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(settings.robot.timezone))
    return moment


@main.group("jobs")
def jobs_group() -> None:
    """Scheduled jobs: overdue scan, reminders, digest, monthly report."""


@jobs_group.command("run")
@config_option
@click.argument("name", type=click.Choice(JOB_NAMES))
@click.option("--now", "now_text", help="Run as at this moment (ISO 8601; no offset = robot.timezone).")
@click.option("--send", is_flag=True, help="Send the queued mail now instead of leaving it to the daemon.")
def jobs_run(config_path: str, name: str, now_text: str | None, send: bool) -> None:
    """Run job NAME once, as the scheduler would (it still runs once per period)."""
    robot = _Robot.load(config_path)
    now = _moment(now_text, robot.settings)
    result = robot.jobs().run(name, now)
    click.echo(str(result))
    if send:
        click.echo(robot.send(now))


@jobs_group.command("list")
@config_option
def jobs_list(config_path: str) -> None:
    """Each job's schedule and its latest runs."""
    from mailrobot.jobs.scheduler import JobScheduler

    robot = _Robot.load(config_path)
    scheduler = JobScheduler(robot.jobs())
    following = scheduler.next_runs()
    with robot.db.sessions() as session:
        for name in JOB_NAMES:
            schedule = getattr(robot.settings.jobs, name) or "off"
            upcoming = following.get(name)
            click.echo(
                f"{name:<15} {schedule:<16} next {upcoming:%Y-%m-%d %H:%M}" if upcoming else f"{name:<15} off"
            )
            runs = session.scalars(
                select(JobRun).where(JobRun.job == name).order_by(JobRun.started_at.desc()).limit(3)
            )
            for run in runs:
                finished = "unfinished" if run.finished_at is None else "done"
                started = run.started_at.astimezone(robot.calendar.zone)
                click.echo(
                    f"    {run.period:<12} {started:%Y-%m-%d %H:%M} {finished:<10} {run.owner}  {run.detail}"
                )


@cases.command("extend")
@config_option
@click.argument("number")
@click.option("--reason", required=True, help="Why more time is needed; recorded, and shown to the consumer.")
@click.option("--by", "actor", help="Who granted it (the head's address); recorded on the timeline.")
@click.option(
    "--send", is_flag=True, help="Send the consumer's notice now instead of leaving it to the daemon."
)
def cases_extend(config_path: str, number: str, reason: str, actor: str | None, send: bool) -> None:
    """Extend case NUMBER's deadline to robot.extended_days working days (regulation 4.3.9)."""
    from mailrobot.casework.extension import ExtensionRefused, extend_case

    robot = _Robot.load(config_path)
    heads = robot.settings.people.head
    if actor and heads and actor.lower() not in heads:
        click.echo(f"warning: {actor} is not in people.head; recorded as given", err=True)
    with robot.db.transaction() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        if case is None:
            raise click.ClickException(f"no case {number}")
        try:
            extension = extend_case(
                session,
                robot.settings,
                robot.calendar,
                robot.renderer,
                case,
                reason,
                actor or "cli",
                utcnow(),
            )
        except ExtensionRefused as exc:
            raise click.ClickException(str(exc)) from None
    new_due = extension.new_due_at.astimezone(robot.calendar.zone)
    click.echo(
        f"case {number}: deadline extended to {new_due:%d.%m.%Y %H:%M}"
        + ("; the consumer's notice is queued" if extension.outbox_id else "; the consumer cannot be mailed")
    )
    if send:
        click.echo(robot.send())


@main.group("report")
def report_group() -> None:
    """Reports (regulation 4.3.11)."""


@report_group.command("monthly")
@config_option
@click.option("--month", help="YYYY-MM; by default the previous month.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write report.html, report.txt, report.csv, faq.html and faq.txt to this directory.",
)
@click.option("--send", is_flag=True, help="Mail the report to people.head and people.pr now.")
@click.option("--json", "as_json", is_flag=True, help="Print the report's figures as JSON.")
def report_monthly(config_path: str, month: str | None, out: Path | None, send: bool, as_json: bool) -> None:
    """The monthly report of cases, top questions with answers, and the FAQ draft, on demand."""
    from mailrobot.jobs.report_mail import produce
    from mailrobot.jobs.reports import parse_month, previous_month

    if not (out or send or as_json):
        raise click.UsageError("say where the report goes: --out DIR, --send, or --json")
    robot = _Robot.load(config_path)
    now = utcnow()
    try:
        first = parse_month(month) if month else previous_month(robot.calendar.local_date(now))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--month") from None
    jobs = robot.jobs()
    with robot.db.transaction() as session:
        output = produce(session, robot.settings, robot.calendar, robot.renderer, first, now)
        queued = 0
        if send:
            recipients = jobs.report_recipients()
            if not recipients:
                raise click.ClickException(
                    "nobody to send it to: set people.head and people.pr in the config"
                )
            queued = jobs.send_report(session, output, recipients, now)
    report = output.report
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.html").write_text(output.mail.html or "", encoding="utf-8")
        (out / "report.txt").write_text(output.mail.text, encoding="utf-8")
        (out / "report.csv").write_bytes(output.csv)
        (out / "faq.html").write_text(output.faq.html or "", encoding="utf-8")
        (out / "faq.txt").write_text(output.faq.text, encoding="utf-8")
        click.echo(f"{report.period}: {report.received} cases; written to {out}")
    if as_json:
        click.echo(
            json.dumps(
                {
                    "month": report.period,
                    "received": report.received,
                    "answered": report.answered,
                    "on_time": report.on_time,
                    "late": report.late,
                    "pending": report.pending,
                    "on_time_rate": report.on_time_rate,
                    "median_hours": report.median_hours,
                    "median_working_days": report.median_working_days,
                    "by_category": {b.label: b.count for b in report.by_category},
                    "by_organization": {b.label: b.count for b in report.by_organization},
                    "top_questions": [
                        {"rank": q.rank, "count": q.count, "question": q.question, "answer": q.answer}
                        for q in report.top_questions
                    ],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    if send:
        click.echo(f"{report.period}: {queued} report mails queued; " + robot.send())
