"""Effects -> rows: cases, timeline events and outbox mail, inside the caller's transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailrobot.compose import Envelope, compose
from mailrobot.config import Settings
from mailrobot.decide import Effect, QueueNotice, RecordMessage, RegisterCase, SkipNotice
from mailrobot.models import Attachment, Case, Event, Message, Outbox
from mailrobot.numbering import next_case_number
from mailrobot.parse import Parsed
from mailrobot.render import Renderer
from mailrobot.tokens import make_message_id
from mailrobot.workdays import WorkCalendar

log = logging.getLogger(__name__)


@dataclass
class Applied:
    status: str
    reason: str
    case_number: str | None = None


class Applier:
    """Runs the effects of one decision; the caller owns the transaction."""

    def __init__(self, settings: Settings, calendar: WorkCalendar, renderer: Renderer) -> None:
        self.settings = settings
        self.calendar = calendar
        self.renderer = renderer
        self.tz = ZoneInfo(settings.robot.timezone)

    def apply(
        self, session: Session, row: Message, parsed: Parsed, effects: list[Effect], now: datetime
    ) -> Applied:
        result = Applied(status=row.status, reason=row.reason)
        case: Case | None = None
        for effect in effects:
            match effect:
                case RecordMessage(status=status, reason=reason):
                    row.status, row.reason = status, reason
                    result.status, result.reason = status, reason
                case RegisterCase():
                    case = self.register_case(session, effect, row, parsed, now)
                    result.case_number = case.number
                case QueueNotice():
                    assert case is not None, "QueueNotice needs a case registered before it"
                    self.queue_notice(session, case, parsed, now)
                case SkipNotice(reason=reason):
                    assert case is not None
                    session.add(Event(case=case, at=now, kind="notice_skipped", detail=reason))
                    log.warning("case %s: no notice sent: %s", case.number, reason)
        return result

    def register_case(
        self, session: Session, effect: RegisterCase, row: Message, parsed: Parsed, now: datetime
    ) -> Case:
        robot = self.settings.robot
        local_year = now.astimezone(self.tz).year
        case = Case(
            number=next_case_number(session, robot.case_number_format, local_year),
            requester=effect.requester,
            requester_name=effect.requester_name[:320],
            subject=effect.subject[:500],
            body=effect.body,
            language=effect.language,
            channel=effect.channel,
            state="new",
            received_at=now,
            due_at=self.calendar.due_at(now, robot.answer_days),
        )
        session.add(case)
        row.case = case
        self.store_attachments(session, row, parsed)
        session.add(
            Event(
                case=case,
                at=now,
                kind="registered",
                actor=effect.requester,
                message=row,
                detail=f"channel {effect.channel}, language {effect.language}",
            )
        )
        log.info("case %s registered: message <%s> from %s", case.number, parsed.message_id, effect.requester)
        return case

    def store_attachments(self, session: Session, row: Message, parsed: Parsed) -> None:
        for part in parsed.attachments:
            session.add(
                Attachment(
                    message=row,
                    filename=part.filename[:500],
                    content_type=part.content_type[:255],
                    size=part.size,
                    data=part.data,
                )
            )

    def queue_notice(self, session: Session, case: Case, parsed: Parsed, now: datetime) -> Outbox:
        context = {
            "case_number": case.number,
            "received_at": case.received_at,
            "due_at": case.due_at,
            "requester_name": case.requester_name,
            "subject": case.subject,
            "company_name": self.settings.company_name(case.language),
            "answer_days": self.settings.robot.answer_days,
        }
        rendered = self.renderer.render("notice", case.language, context)
        envelope = Envelope(
            from_address=self.settings.smtp.from_address,
            from_name=self.settings.company_name(case.language),
            to_address=case.requester,
            to_name=case.requester_name,
            message_id=make_message_id(
                self.settings.robot.secret or "", self.settings.mail_domain, case.number, "notice"
            ),
            in_reply_to=parsed.message_id,
            references=parsed.references,
            case_number=case.number,
        )
        return self.queue_mail(session, case, "notice", envelope, compose(rendered, envelope, now), now)

    def queue_mail(
        self, session: Session, case: Case | None, kind: str, envelope: Envelope, raw: bytes, now: datetime
    ) -> Outbox:
        """Put a composed mail in the outbox, with an event on the case's timeline."""
        mail = Outbox(
            case=case,
            kind=kind,
            recipient=envelope.to_address,
            message_id=envelope.message_id,
            raw=raw,
            state="pending",
            created_at=now,
            next_attempt_at=now,
        )
        session.add(mail)
        if case is not None:
            session.add(
                Event(
                    case=case,
                    at=now,
                    kind=f"{kind}_queued",
                    outbox=mail,
                    detail=f"to {envelope.to_address} {envelope.message_id}",
                )
            )
        return mail


def notices_sent_since(session: Session, recipients: set[str], since: datetime) -> dict[str, int]:
    """How many registration notices went (or are queued) to each of `recipients` since `since`."""
    if not recipients:
        return {}
    rows = session.execute(
        select(Outbox.recipient, func.count())
        .where(Outbox.recipient.in_(recipients), Outbox.kind == "notice", Outbox.created_at >= since)
        .group_by(Outbox.recipient)
    )
    return {recipient: count for recipient, count in rows}


DAY = timedelta(days=1)
