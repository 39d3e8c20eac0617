"""`mailrobot jobs` and `mailrobot report`: the scheduled work (deadlines, reminders, digest, monthly
report), run by hand as the scheduler would, and the monthly report on demand."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from sqlalchemy import select

from mailrobot.cli.common import config_option, load, send_now
from mailrobot.config import Settings
from mailrobot.regulation.deadlines import JOB_NAMES
from mailrobot.store.models import JobRun, utcnow

# The jobs, reports and the SMTP sender are imported inside the commands that use them: every other
# command of the CLI (and `--help`) starts without loading the mail parser they pull in.


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


@click.group("jobs")
def jobs_group() -> None:
    """Scheduled jobs: overdue scan, reminders, digest, monthly report."""


@jobs_group.command("run")
@config_option
@click.argument("name", type=click.Choice(JOB_NAMES))
@click.option("--now", "now_text", help="Run as at this moment (ISO 8601; no offset = robot.timezone).")
@click.option("--send", is_flag=True, help="Send the queued mail now instead of leaving it to the daemon.")
def jobs_run(config_path: str, name: str, now_text: str | None, send: bool) -> None:
    """Run job NAME once, as the scheduler would (it still runs once per period)."""
    services = load(config_path)
    now = _moment(now_text, services.settings)
    result = services.jobs().run(name, now)
    click.echo(str(result))
    if send:
        click.echo(send_now(services, now))


@jobs_group.command("list")
@config_option
def jobs_list(config_path: str) -> None:
    """Each job's schedule and its latest runs."""
    from mailrobot.jobs.scheduler import JobScheduler

    services = load(config_path)
    scheduler = JobScheduler(services.jobs())
    following = scheduler.next_runs()
    with services.db.sessions() as session:
        for name in JOB_NAMES:
            schedule = getattr(services.settings.jobs, name) or "off"
            upcoming = following.get(name)
            click.echo(
                f"{name:<15} {schedule:<16} next {upcoming:%Y-%m-%d %H:%M}" if upcoming else f"{name:<15} off"
            )
            runs = session.scalars(
                select(JobRun).where(JobRun.job == name).order_by(JobRun.started_at.desc()).limit(3)
            )
            for run in runs:
                finished = "unfinished" if run.finished_at is None else "done"
                started = run.started_at.astimezone(services.calendar.zone)
                click.echo(
                    f"    {run.period:<12} {started:%Y-%m-%d %H:%M} {finished:<10} {run.owner}  {run.detail}"
                )


@click.group("report")
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
@click.option(
    "--send",
    is_flag=True,
    help="Mail the report to people.head now (the head sends it to people.pr by replying #publish).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report's figures as JSON.")
def report_monthly(config_path: str, month: str | None, out: Path | None, send: bool, as_json: bool) -> None:
    """The monthly report of cases, top questions with answers, and the FAQ draft, on demand."""
    from mailrobot.jobs.report_mail import produce, report_json
    from mailrobot.jobs.reports import parse_month, previous_month

    if not (out or send or as_json):
        raise click.UsageError("say where the report goes: --out DIR, --send, or --json")
    services = load(config_path)
    now = utcnow()
    try:
        first = parse_month(month) if month else previous_month(services.calendar.local_date(now))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--month") from None
    jobs = services.jobs()
    with services.db.transaction() as session:
        output = produce(session, services.settings, services.calendar, services.renderer, first, now)
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
        # Each top question with its count and all its case numbers, so a group can be checked.
        click.echo(json.dumps(report_json(report), ensure_ascii=False, indent=2))
    if send:
        click.echo(f"{report.period}: {queued} report mails queued; " + send_now(services))


COMMANDS = [jobs_group, report_group]
