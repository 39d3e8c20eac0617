"""Extending a case's deadline to 14 working days by the head's resolution (regulation 4.3.9).

One function, `extend_case`, for both ways the head grants it: `mailrobot cases extend` and the head's
`#grant` by e-mail (routing).  It runs inside the caller's transaction: the new deadline, the timeline
event and the consumer's notice commit together or not at all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from mailrobot.casework.mailer import Mailer
from mailrobot.config import Settings
from mailrobot.mail.render import Renderer
from mailrobot.regulation.deadlines import extension_refusal, extension_start
from mailrobot.regulation.decide import is_mailable
from mailrobot.regulation.states import CaseState, EventKind, MailKind
from mailrobot.regulation.workdays import WorkCalendar
from mailrobot.store.models import Case, Event, Outbox

log = logging.getLogger(__name__)


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
    approvers: tuple[str, ...] | list[str] | None = None,
) -> Extension:
    """Move the case's deadline to robot.extended_days working days after registration, record who and
    why on its timeline, and queue the consumer's notice of the new date (in the case's language, in reply
    to the registration notice).

    Raises ExtensionRefused for a closed or answered case, a second extension, an empty reason, or an
    `actor` who is not one of `approvers` (people.extension_approvers; None: not checked, decide did).
    An extension after the deadline keeps the case's overdue record: the report counts it late.
    """
    reason = " ".join(reason.split())
    if not reason:
        raise ExtensionRefused("an extension needs a reason (it is recorded and shown to the consumer)")
    new_due_at = calendar.due_at(
        extension_start(case.received_at, case.reopened_at), settings.robot.extended_days
    )
    refusal = extension_refusal(
        case.state,
        case.extended_at,
        case.answered_at,
        case.closed_at,
        case.due_at,
        new_due_at,
        calendar,
        case.reopened_at,
    )
    if refusal:
        raise ExtensionRefused(f"case {case.number}: {refusal}")
    if approvers is not None and approvers and actor.lower() not in approvers:
        raise ExtensionRefused(
            f"case {case.number}: {actor} is not in people.extension_approvers "
            f"({', '.join(approvers)}): an extension is granted by their resolution (give --by ADDRESS)"
        )

    old_due_at = case.due_at
    late = old_due_at < now
    if late and case.overdue_at is None:
        case.overdue_at = now  # the breach stays in the record, whether or not the scan had flagged it
    case.due_at, case.extended_at, case.extension_reason = new_due_at, now, reason
    if case.state == CaseState.OVERDUE and new_due_at > now:
        case.state = CaseState.EXTENDED  # back in work; the state says it was extended
    session.add(
        Event(
            case_id=case.id,
            at=now,
            kind=EventKind.EXTENDED,
            actor=actor,
            detail=(
                f"deadline {calendar.local_date(old_due_at):%d.%m.%Y} -> "
                f"{calendar.local_date(new_due_at):%d.%m.%Y} "
                f"({settings.robot.extended_days} working days); reason: {reason}"
                + ("; extended after the deadline" if late else "")
            ),
        )
    )
    outbox = _queue_notice(session, Mailer(settings, calendar, renderer), case, reason, now)
    log.info(
        "case %s: deadline extended to %s by %s (%s)", case.number, new_due_at.isoformat(), actor, reason
    )
    return Extension(case.number, old_due_at, new_due_at, outbox.id if outbox else None)


def _queue_notice(session: Session, mailer: Mailer, case: Case, reason: str, now: datetime) -> Outbox | None:
    settings = mailer.settings
    if not is_mailable(case.requester):
        detail = "requester cannot be mailed"
        session.add(Event(case_id=case.id, at=now, kind=EventKind.EXTENSION_NOTICE_SKIPPED, detail=detail))
        return None
    rendered = mailer.renderer.render(
        MailKind.EXTENSION,
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
    envelope = mailer.consumer_envelope(session, case, MailKind.EXTENSION, on_notice=True)
    mail = mailer.queue(session, case, MailKind.EXTENSION, envelope, rendered, now)
    session.flush()  # the caller learns the notice's id
    return mail
