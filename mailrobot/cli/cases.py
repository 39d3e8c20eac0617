"""`mailrobot cases`: list, show, export a case, the answered cases most like it, and extend its deadline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from mailrobot.cli.common import config_option, echo_json, iso, load, send_now
from mailrobot.store.models import Attachment, Case, Message, utcnow


@click.group()
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
        "received_at": iso(case.received_at),
        "due_at": iso(case.due_at),
        "extended_at": iso(case.extended_at),
        "extension_reason": case.extension_reason,
        "overdue_at": iso(case.overdue_at),
        "reopened_at": iso(case.reopened_at),
        "answered_at": iso(case.answered_at),
        "closed_at": iso(case.closed_at),
    }


@cases.command("list")
@config_option
@click.option("--state", help="Only cases in this state (new, answered, overdue, closed, ...).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--limit", default=1000, show_default=True)
def cases_list(config_path: str, state: str | None, as_json: bool, limit: int) -> None:
    """List cases, newest first."""
    db = load(config_path).db
    query = select(Case).order_by(Case.id.desc()).limit(limit)
    if state:
        query = query.where(Case.state == state)
    with db.sessions() as session:
        rows = [case_summary(c) for c in session.scalars(query)]
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        due = (r["due_at"] or "")[:16].replace("T", " ")
        click.echo(
            f"{r['number']:<18} {r['state']:<9} {r['language']:<3} due {due}  "
            f"{r['requester']:<30} {r['subject'][:60]}"
        )
    click.echo(f"{len(rows)} case(s)", err=True)


_SHOWN = (
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
    "reopened_at",
    "assignee",
    "category",
    "forwarded_by",
)


@cases.command("show")
@config_option
@click.argument("number")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def cases_show(config_path: str, number: str, as_json: bool) -> None:
    """Show one case with its timeline."""
    db = load(config_path).db
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
            {"at": iso(e.at), "kind": e.kind, "actor": e.actor, "detail": e.detail} for e in case.events
        ]
        files = select(Attachment).join(Message, Message.id == Attachment.message_row_id)
        data["attachments"] = [  # under the names their senders gave them (issue 11.1)
            {"name": a.filename, "content_type": a.content_type, "size": a.size, "message": a.message_row_id}
            for a in session.scalars(files.where(Message.case_id == case.id).order_by(Attachment.id))
        ]
    if as_json:
        echo_json(data)
        return
    for key in _SHOWN:
        click.echo(f"{key + ':':<16}{data[key] or ''}")
    for p in data["participants"]:
        asked = f", asked by {p['asked_by']}" if p["asked_by"] else ""
        click.echo(f"{'participant:':<16}{p['address']} ({p['role']}{asked})")
    for a in data["attachments"]:
        click.echo(f"{'attachment:':<16}{a['name']} ({a['size']} bytes, message #{a['message']})")
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
        done = export_case(load(config_path).db, number, Path(out_dir))
    except ExportError as exc:
        raise click.ClickException(str(exc)) from None
    purged = f", {done.purged} purged by retention" if done.purged else ""
    click.echo(
        f"case {number}: {done.messages} message(s), {done.outbox} mail(s) sent, "
        f"{done.attachments} attachment(s){purged} -> {done.directory}"
    )


@cases.command("similar")
@config_option
@click.argument("number")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def cases_similar(config_path: str, number: str, as_json: bool) -> None:
    """Up to three earlier answered cases most like case NUMBER, as its forward shows them: number, the
    question in one line and the final answer shortened, redacted (issue 12 item 8)."""
    from mailrobot.jobs.suggestions import Suggestions

    services = load(config_path)
    with services.db.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        if case is None:
            raise click.ClickException(f"no case {number}")
        found = Suggestions().similar(session, case.subject, case.body, exclude=number)
    if as_json:
        echo_json([{**s.as_dict(), "score": s.score} for s in found])
        return
    if not found:
        click.echo("no earlier answered case is like this one")
    for s in found:
        click.echo(f"{s.number}  {s.question}\n    -> {s.answer}  (likeness {s.score:.2f})")


@cases.command("extend")
@config_option
@click.argument("number")
@click.option("--reason", required=True, help="Why more time is needed; recorded, and shown to the consumer.")
@click.option(
    "--by", "actor", help="Who granted it: one of people.extension_approvers (default people.head)."
)
@click.option(
    "--send", is_flag=True, help="Send the consumer's notice now instead of leaving it to the daemon."
)
def cases_extend(config_path: str, number: str, reason: str, actor: str | None, send: bool) -> None:
    """Extend case NUMBER's deadline to robot.extended_days working days (regulation 4.3.9)."""
    from mailrobot.casework.extension import ExtensionRefused, extend_case

    services = load(config_path)
    with services.db.transaction() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        if case is None:
            raise click.ClickException(f"no case {number}")
        try:
            extension = extend_case(
                session,
                services.settings,
                services.calendar,
                services.renderer,
                case,
                reason,
                actor or "cli",
                utcnow(),
                services.settings.people.approvers,  # 4.3.9: by the resolution of the enterprise's head
            )
        except ExtensionRefused as exc:
            raise click.ClickException(str(exc)) from None
    new_due = extension.new_due_at.astimezone(services.calendar.zone)
    click.echo(
        f"case {number}: deadline extended to {new_due:%d.%m.%Y %H:%M}"
        + ("; the consumer's notice is queued" if extension.outbox_id else "; the consumer cannot be mailed")
    )
    if send:
        click.echo(send_now(services))


COMMANDS = [cases]
