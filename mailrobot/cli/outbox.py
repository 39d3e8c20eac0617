"""`mailrobot outbox`: mail waiting to be sent, mail that failed, and sending it again."""

from __future__ import annotations

import click

from mailrobot.cli.common import config_option, echo_json, iso, load


@click.group()
def outbox() -> None:
    """Mail waiting to be sent, and mail that failed."""


@outbox.command("list")
@config_option
@click.option("--failed", "failed_only", is_flag=True, help="Only mail that failed for good or bounced.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--limit", default=1000, show_default=True)
def outbox_list(config_path: str, failed_only: bool, as_json: bool, limit: int) -> None:
    """List mail not sent yet: pending (being retried) and failed; and mail that bounced."""
    from mailrobot.store.queue import list_queue

    db = load(config_path).db
    with db.sessions() as session:
        rows = list_queue(session, failed_only, limit)
    if as_json:
        echo_json(
            [
                {
                    "id": r.id, "case": r.case_number, "kind": r.kind, "recipient": r.recipient,
                    "state": r.state, "attempts": r.attempts, "created_at": iso(r.created_at),
                    "next_attempt_at": iso(r.next_attempt_at), "last_error": r.last_error,
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
    from mailrobot.store.models import utcnow
    from mailrobot.store.queue import retry

    if bool(ids) == all_failed:
        raise click.UsageError("give the ids of the mails to retry, or --failed for all failed mail")
    db = load(config_path).db
    with db.transaction() as session:
        done = retry(session, list(ids) if ids else None, utcnow())
    missing = sorted(set(ids) - set(done))
    click.echo(f"{len(done)} mail(s) queued again" + (f": {', '.join(map(str, done))}" if done else ""))
    if missing:
        raise click.ClickException(f"not failed (or no such mail): {', '.join(map(str, missing))}")


COMMANDS = [outbox]
