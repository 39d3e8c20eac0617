"""`mailrobot consumers`: what the robot holds of a consumer, and erasing it on their request."""

from __future__ import annotations

import click

from mailrobot.cli.common import config_option, load


@click.group()
def consumers() -> None:
    """A consumer's personal data."""


@consumers.command("erase")
@config_option
@click.argument("address")
@click.option("--dry-run", is_flag=True, help="List what would be erased; change nothing.")
def consumers_erase(config_path: str, address: str, dry_run: bool) -> None:
    """Erase a consumer's data on their request: raw mail, attachments, the texts and names of their cases
    (replaced by a marker); the cases' numbers, dates and states stay for the statistics."""
    from mailrobot.jobs.erase import erase_consumer
    from mailrobot.store.models import utcnow

    try:
        erasure = erase_consumer(load(config_path).db, address, utcnow(), dry_run=dry_run)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    for case in erasure.cases:
        click.echo(f"{case.number}  {case.state:<10} registered {case.received_at:%Y-%m-%d}")
    verb = "would erase" if dry_run else "erased"
    click.echo(f"{verb}: {erasure.summary()}" + ("; nothing was changed (--dry-run)" if dry_run else ""))


COMMANDS = (consumers,)
