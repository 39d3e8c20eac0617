"""`mailrobot messages`: the mail the robot has seen, and what became of each."""

from __future__ import annotations

import click
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from mailrobot.cli.common import config_option, echo_json, iso, load
from mailrobot.store.models import Message


@click.group()
def messages() -> None:
    """Messages the robot has seen."""


@messages.command("list")
@config_option
@click.option("--quarantined", is_flag=True, help="Only quarantined messages.")
@click.option(
    "--status",
    help="Only messages with this status (case, followup, reply, refused, ignored, spam, quarantined, "
    "duplicate).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--limit", default=1000, show_default=True)
def messages_list(config_path: str, quarantined: bool, status: str | None, as_json: bool, limit: int) -> None:
    """List messages with what became of them."""
    db = load(config_path).db
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
                "received_at": iso(m.received_at),
                "size": m.size,
            }
            for m in session.scalars(query)
        ]
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        click.echo(
            f"#{r['id']:<6} {r['status']:<11} {r['case_number'] or '-':<18} {r['sender'][:30]:<30} "
            f"{r['reason'][:70]}"
        )
    click.echo(f"{len(rows)} message(s)", err=True)


@messages.command("release")
@config_option
@click.argument("message_row_id", metavar="ID", type=int)
def messages_release(config_path: str, message_row_id: int) -> None:
    """Release message ID (see `messages list --status spam`) from spam: it is decided again as if the
    filter had not said spam, and becomes a case with its notice and forward (sent by the daemon)."""
    from mailrobot.service.intake import ReleaseRefused

    try:
        outcome = load(config_path).intake().release(message_row_id)
    except ReleaseRefused as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"message #{message_row_id}: {outcome.status} {outcome.case_number or ''}".rstrip())


COMMANDS = [messages]
