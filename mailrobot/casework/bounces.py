"""A bounce of our mail, recorded: the outbox row `bounced` with the DSN's status and diagnostic, the case's
timeline (`mail_bounced`), and a short mail to the people who answer for the case when the consumer did not
get an answer or notice (issue 11.5).  Never a mail about a bounce of a mail about a bounce."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from mailrobot.casework.mailer import Mailer
from mailrobot.regulation.effects import MarkBounced
from mailrobot.regulation.states import EventKind, MailKind, OutboxState
from mailrobot.store.models import Case, Event, Message, Outbox

log = logging.getLogger(__name__)


def record_bounce(
    session: Session, mailer: Mailer, message: Message, case: Case | None, effect: MarkBounced, now: datetime
) -> None:
    """Mark the bounced outbox row and tell `effect.tell` (in their language) that the mail did not arrive."""
    row = session.get(Outbox, effect.outbox_id)
    if row is None:
        return
    why = "; ".join(filter(None, (effect.status, effect.diagnostic))) or "the DSN gives no reason"
    row.state, row.last_error = OutboxState.BOUNCED, f"bounced: {why}"[:2000]
    log.warning("%s %s to %s bounced: %s", row.kind, row.message_id, row.recipient, why)
    if case is None:
        return
    detail = f"{row.kind} to {row.recipient} bounced: {why}"
    session.add(
        Event(case=case, at=now, kind=EventKind.MAIL_BOUNCED, detail=detail, message=message, outbox=row)
    )
    context = {
        "case_number": case.number,
        "outbox_id": row.id,
        "mail_kind": row.kind,
        "recipient": row.recipient,
        "created_at": row.created_at,
        "error": row.last_error,
    }
    for person in effect.tell:
        rendered = mailer.renderer.render(MailKind.DELIVERY_FAILED, mailer.language_for(person), context)
        # Threaded on the bounced mail, not the case: a "thanks" in reply must not reach the consumer.
        envelope = mailer.staff_envelope(
            case, person, MailKind.DELIVERY_FAILED, thread=f"failed-{row.id}", reply_to=False
        )
        mailer.queue(session, case, MailKind.DELIVERY_FAILED, envelope, rendered, now)
