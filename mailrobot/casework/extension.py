"""Extending a case's deadline to 14 working days by the head's resolution (regulation 4.3.9).

One function, `extend_case`, for both ways the head grants it: `mailrobot cases extend` and the head's
`#grant` by e-mail (routing).  It runs inside the caller's transaction: the new deadline, the timeline
event and the consumer's notice commit together or not at all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailrobot.config import Settings
from mailrobot.mail.compose import Envelope, compose
from mailrobot.mail.render import Renderer
from mailrobot.mail.tokens import make_message_id
from mailrobot.regulation.deadlines import OVERDUE, extension_refusal
from mailrobot.regulation.workdays import WorkCalendar
from mailrobot.store.models import Case, Event, Message, Outbox

log = logging.getLogger(__name__)

# An overdue case whose new deadline lies ahead is back in work; the state says it was extended.
EXTENDED = "extended"


class ExtensionRefused(Exception):
    """The deadline cannot be extended; the message says why, for the head or the admin."""


@dataclass(frozen=True)
class Extension:
    case_number: str
    old_due_at: datetime
    new_due_at: datetime
    outbox_id: int | None  # the consumer's notice; None when the consumer cannot be mailed


def extend_case(
    session: Session,
    settings: Settings,
    calendar: WorkCalendar,
    renderer: Renderer,
    case: Case,
    reason: str,
    actor: str,
    now: datetime,
) -> Extension:
    """Move the case's deadline to robot.extended_days working days after registration, record who and
    why on its timeline, and queue the consumer's notice of the new date (in the case's language, in reply
    to the registration notice).

    Raises ExtensionRefused for a closed or answered case, a second extension, or an empty reason.
    """
    reason = " ".join(reason.split())
    if not reason:
        raise ExtensionRefused("an extension needs a reason (it is recorded and shown to the consumer)")
    new_due_at = calendar.due_at(case.received_at, settings.robot.extended_days)
    refusal = extension_refusal(
        case.state, case.extended_at, case.answered_at, case.closed_at, case.due_at, new_due_at, calendar
    )
    if refusal:
        raise ExtensionRefused(f"case {case.number}: {refusal}")

    old_due_at = case.due_at
    case.due_at, case.extended_at, case.extension_reason = new_due_at, now, reason
    if case.state == OVERDUE and new_due_at > now:
        case.state = EXTENDED
    session.add(
        Event(
            case_id=case.id,
            at=now,
            kind="extended",
            actor=actor,
            detail=(
                f"deadline {calendar.local_date(old_due_at):%d.%m.%Y} -> "
                f"{calendar.local_date(new_due_at):%d.%m.%Y} "
                f"({settings.robot.extended_days} working days); reason: {reason}"
            ),
        )
    )
    outbox = _queue_notice(session, settings, calendar, renderer, case, reason, now)
    log.info(
        "case %s: deadline extended to %s by %s (%s)", case.number, new_due_at.isoformat(), actor, reason
    )
    return Extension(case.number, old_due_at, new_due_at, outbox.id if outbox else None)


def _queue_notice(
    session: Session,
    settings: Settings,
    calendar: WorkCalendar,
    renderer: Renderer,
    case: Case,
    reason: str,
    now: datetime,
) -> Outbox | None:
    # Imported here: apply imports the routing that calls extend_case, and this keeps that cycle harmless.
    from mailrobot.casework.applier import Applier
    from mailrobot.regulation.decide import is_mailable

    if not is_mailable(case.requester):
        session.add(
            Event(
                case_id=case.id, at=now, kind="extension_notice_skipped", detail="requester cannot be mailed"
            )
        )
        return None
    rendered = renderer.render(
        "extension",
        case.language,
        {
            "case_number": case.number,
            "new_due_at": case.due_at,
            "reason": reason,
            "company_name": settings.company_name(case.language),
            "requester_name": case.requester_name,
            "extended_days": settings.robot.extended_days,
        },
    )
    parent, references = _thread(session, case)
    envelope = Envelope(
        from_address=settings.smtp.from_address,
        from_name=settings.company_name(case.language),
        to_address=case.requester,
        to_name=case.requester_name,
        message_id=make_message_id(
            settings.robot.secret or "", settings.mail_domain, case.number, "extension"
        ),
        in_reply_to=parent,
        references=references,
        case_number=case.number,
        auto_submitted="auto-generated",
    )
    applier = Applier(settings, calendar, renderer)
    mail = applier.queue_mail(session, case, "extension", envelope, compose(rendered, envelope, now), now)
    session.flush()  # the caller learns the notice's id
    return mail


def _thread(session: Session, case: Case) -> tuple[str | None, tuple[str, ...]]:
    """What the notice answers: the registration notice, in the thread of the consumer's first message."""
    notice = session.scalar(
        select(Outbox.message_id)
        .where(Outbox.case_id == case.id, Outbox.kind == "notice")
        .order_by(Outbox.id)
        .limit(1)
    )
    first = session.scalar(
        select(Message.message_id)
        .where(Message.case_id == case.id, Message.message_id.is_not(None))
        .order_by(Message.id)
        .limit(1)
    )
    ids = tuple(i.strip("<>") for i in (first, notice) if i)
    return (ids[-1] if ids else None), ids
