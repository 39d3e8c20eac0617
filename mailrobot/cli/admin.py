"""What an admin checks and maintains: doctor, check-config, db, retention, routes, due-date, calendar."""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path

import click

from mailrobot.cli.common import calendar_of, config_option, load
from mailrobot.logs import setup_logging


@click.command()
@config_option
def doctor(config_path: str) -> None:
    """Check config, database, mailbox, SMTP, templates, time zone and calendar; say what to fix."""
    from mailrobot.service.doctor import report

    sys.exit(report(config_path, click.echo))


@click.command("check-config")
@config_option
def check_config(config_path: str) -> None:
    """Validate the config file and say what is wrong."""
    settings = load(config_path).settings
    click.echo(
        f"{config_path}: OK (mailbox {settings.imap.username}@{settings.imap.host}, "
        f"database {settings.database.url.split('://')[0]})"
    )


@click.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@config_option
def db_upgrade(config_path: str) -> None:
    """Create or migrate the database schema."""
    load(config_path, upgrade=False).db.upgrade()
    click.echo("database is up to date")


@db.command("backup")
@config_option
@click.argument("path", type=click.Path(dir_okay=False))
def db_backup(config_path: str, path: str) -> None:
    """A consistent copy of the SQLite database at PATH, while the daemon runs (PostgreSQL: pg_dump)."""
    from mailrobot.store.db import BackupRefused

    try:
        pages = load(config_path, upgrade=False).db.backup(Path(path))
    except BackupRefused as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backup of the database written to {path} ({pages} pages); README says how to restore it")


@click.group()
def retention() -> None:
    """Personal data: raw mail and attachments past their retention period."""


@retention.command("purge")
@config_option
@click.option("--dry-run", is_flag=True, help="Count what would be purged; change nothing.")
def retention_purge(config_path: str, dry_run: bool) -> None:
    """Purge raw mail and attachments older than [retention] allows (cases and timelines stay)."""
    from mailrobot.jobs.retention import purge_raw
    from mailrobot.store.models import utcnow

    services = load(config_path)
    settings = services.settings
    setup_logging(settings.logging.level, settings.logging.json_format)
    click.echo(purge_raw(services.db, settings, utcnow(), dry_run=dry_run).summary())


@click.group()
def routes() -> None:
    """Routing rules ([[routes]], [groups.*], [routing])."""


@routes.command("test")
@config_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def routes_test(config_path: str, file: str) -> None:
    """Show which rule a mail (FILE.eml) matches, why, and who would get the case."""
    from mailrobot.mail.parse import Unparseable
    from mailrobot.service.explain import explain_mail
    from mailrobot.store.models import utcnow

    try:
        lines = explain_mail(load(config_path).intake(), Path(file).read_bytes(), utcnow())
    except Unparseable as exc:
        raise click.ClickException(f"{file}: not an e-mail message: {exc}") from None
    click.echo("\n".join(lines))


@click.command("due-date")
@config_option
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--days", default=3, show_default=True, help="Working days to count.")
def due_date(config_path: str, day: datetime, days: int) -> None:
    """Print the due date of a case registered on DAY (YYYY-MM-DD)."""
    click.echo(calendar_of(config_path).working_days_after(day.date(), days).isoformat())


@click.command("calendar")
@config_option
@click.argument("year", type=int, default=date.today().year)
def calendar_cmd(config_path: str, year: int) -> None:
    """Print the working-day calendar in force for YEAR: days off and worked weekend days."""
    for day, name, origin in calendar_of(config_path).days_off(year):
        click.echo(f"{day.isoformat()}  {day.strftime('%a')}  {origin:<18} {name}")


COMMANDS = [doctor, check_config, db, retention, routes, due_date, calendar_cmd]
