"""Effects -> rows: cases, timeline events and outbox mail, inside the caller's transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from mailrobot.casework.answers import AnswerRelay
from mailrobot.casework.bounces import record_bounce
from mailrobot.casework.case_commands import CaseCommands
from mailrobot.casework.mailer import Mailer
from mailrobot.casework.publish import publish_report
from mailrobot.casework.staffmail import CaseWork, Suggest, Summarize
from mailrobot.config import Settings
from mailrobot.mail.parse import Attachment as ParsedAttachment
from mailrobot.mail.parse import Parsed
from mailrobot.mail.render import Renderer
from mailrobot.regulation.decide import Effect, QueueNotice, RecordMessage, RegisterCase, SkipNotice
from mailrobot.regulation.effects import (
    AddEvent,
    AskSpecialists,
    Assign,
    CloseCase,
    CommandReply,
    ExtendDeadline,
    HoldAnswer,
    MarkBounced,
    OnCase,
    RelayAnswer,
    RelaySpecialistAnswer,
    ReopenCase,
    ReportRefusal,
    RequestExtension,
    RouteCase,
    SetAway,
    SetCategory,
    TellStaff,
)
from mailrobot.regulation.publish import PublishReport
from mailrobot.regulation.states import CaseState, EventKind, MailKind
from mailrobot.regulation.workdays import WorkCalendar
from mailrobot.store.chunks import store_file
from mailrobot.store.models import Case, Event, Message, Outbox
from mailrobot.store.numbering import CaseNumbers, next_case_number

log = logging.getLogger(__name__)


@dataclass
class Applied:
    status: str
    reason: str
    case_number: str | None = None


class Applier:
    """Runs the effects of one decision; the caller owns the transaction."""

    def __init__(
        self,
        settings: Settings,
        calendar: WorkCalendar,
        renderer: Renderer,
        summarize: Summarize | None = None,
        suggest: Suggest | None = None,
    ) -> None:
        self.settings = settings
        self.calendar = calendar
        self.renderer = renderer
        self.tz = ZoneInfo(settings.robot.timezone)
        self.mailer = Mailer(settings, calendar, renderer)
        self.work = CaseWork(self.mailer, summarize, suggest)
        self.answers = AnswerRelay(self.work)
        self.commands = CaseCommands(self.work)

    def apply(
        self,
        session: Session,
        row: Message,
        parsed: Parsed,
        effects: list[Effect],
        now: datetime,
        numbers: CaseNumbers | None = None,
    ) -> Applied:
        """`numbers`: the batch's case numbers (the caller writes them before its commit); else one counter
        update a case."""
        result = Applied(status=row.status, reason=row.reason)
        case: Case | None = None
        files: tuple[ParsedAttachment, ...] = parsed.attachments  # what a forward of the case carries
        replies: list[CommandReply] = []  # one confirmation mail for all the commands of this mail
        for effect in effects:
            match effect:
                case RecordMessage(status=status, reason=reason):
                    row.status, row.reason = status, reason
                    result.status, result.reason = status, reason
                case RegisterCase():
                    case = self.register_case(session, effect, row, parsed, now, numbers)
                    result.case_number = case.number
                    files = parsed.attachments if effect.attachments is None else effect.attachments
                case QueueNotice():
                    assert case is not None, "QueueNotice needs a case registered before it"
                    self.queue_notice(session, case, parsed, now, effect)
                case SkipNotice(reason=reason):
                    assert case is not None
                    session.add(Event(case=case, at=now, kind=EventKind.NOTICE_SKIPPED, detail=reason))
                    log.warning("case %s: no notice sent: %s", case.number, reason)
                case OnCase(case_id=case_id):
                    case = session.get(Case, case_id)
                    assert case is not None, f"OnCase: no case #{case_id}"
                    row.case, result.case_number = case, case.number
                    self.store_attachments(session, row, parsed)
                case ReportRefusal():
                    self.commands.report_refusal(session, row, case, effect, parsed, now)
                case MarkBounced():  # a bounce may name mail of no case (a digest): no case needed
                    record_bounce(session, self.mailer, row, case, effect, now)
                case PublishReport():
                    outcome = publish_report(session, self.mailer, effect, now)
                    row.reason = result.reason = f"{row.reason}; {outcome}"[:2000]
                case CommandReply():
                    replies.append(effect)
                case _:
                    assert case is not None, f"{type(effect).__name__} needs a case"
                    self.apply_to_case(session, row, case, parsed, effect, files, now)
        if replies:
            assert case is not None, "CommandReply needs a case"
            self.commands.command_replies(session, case, replies, parsed.message_id, now)
        return result

    def apply_to_case(
        self,
        session: Session,
        row: Message,
        case: Case,
        parsed: Parsed,
        effect: Effect,
        files: tuple[ParsedAttachment, ...],
        now: datetime,
    ) -> None:
        """The effects on a case that routing, answers and staff commands bring (casework, casestate)."""
        work, commands, parent = self.work, self.commands, parsed.message_id
        match effect:
            case AddEvent(kind=kind, detail=detail, actor=actor):
                session.add(Event(case=case, at=now, kind=kind, actor=actor, detail=detail, message=row))
            case RouteCase():
                work.route(session, case, effect, files, now)
            case RelayAnswer():
                self.answers.relay_answer(session, row, case, effect, parsed, now)
            case RelaySpecialistAnswer():
                self.answers.relay_specialist_answer(session, row, case, effect, parsed, now)
            case HoldAnswer():
                self.answers.hold_answer(session, row, case, effect, parsed, now)
            case SetAway():
                commands.set_away(session, case, effect, now)
            case TellStaff():
                work.tell_staff(session, case, effect, parsed, now)
            case AskSpecialists():
                work.ask(session, case, effect, now)
            case Assign():
                commands.assign(session, case, effect, now)
            case SetCategory():
                commands.set_category(session, case, effect, now)
            case CloseCase():
                commands.close(session, case, effect, now)
            case ReopenCase():
                commands.reopen(session, case, effect, now)
            case RequestExtension():
                commands.request_extension(session, case, effect, now)
            case ExtendDeadline():
                commands.extend(session, case, effect, now)
            case CommandReply():
                commands.command_replies(session, case, [effect], parent, now)
            case _:
                raise AssertionError(f"no way to apply {effect!r}")

    def register_case(
        self,
        session: Session,
        effect: RegisterCase,
        row: Message,
        parsed: Parsed,
        now: datetime,
        numbers: CaseNumbers | None = None,
    ) -> Case:
        robot = self.settings.robot
        # The deadline counts from when the mail reached the mailbox (issue 11.6), not from processing.
        arrived = row.received_at if row.received_at is not None and row.received_at <= now else now
        local_year = arrived.astimezone(self.tz).year
        number_format = robot.case_number_format
        case = Case(
            number=numbers.next(session, number_format, local_year)
            if numbers is not None
            else next_case_number(session, number_format, local_year),
            requester=effect.requester,
            requester_name=effect.requester_name[:320],
            subject=effect.subject[:500],
            body=effect.body,
            language=effect.language,
            channel=effect.channel,
            state=CaseState.NEW,
            received_at=arrived,
            due_at=self.calendar.due_at(arrived, robot.answer_days),
            forwarded_by=effect.forwarded_by,
            parent_case_id=effect.parent_case_id,
        )
        session.add(case)
        row.case = case
        self.store_attachments(session, row, parsed, effect.attachments)
        detail = f"channel {effect.channel}, language {effect.language}"
        if effect.forwarded_by:
            detail += f", forwarded in by {effect.forwarded_by}"
        parent = session.get(Case, effect.parent_case_id) if effect.parent_case_id else None
        if parent is not None:
            detail += f", follow-up of {parent.number}"
            session.add(
                Event(
                    case=parent,
                    at=now,
                    kind=EventKind.FOLLOWUP_NEW_CASE,
                    actor=effect.requester,
                    message=row,
                    detail=f"follow-up after closing: registered as {case.number}",
                )
            )
        event = Event(case=case, at=now, kind=EventKind.REGISTERED, actor=effect.requester, detail=detail)
        event.message = row
        session.add(event)
        log.info("case %s registered: message <%s> from %s", case.number, parsed.message_id, effect.requester)
        return case

    def store_attachments(
        self,
        session: Session,
        row: Message,
        parsed: Parsed,
        parts: tuple[ParsedAttachment, ...] | None = None,
    ) -> None:
        for part in parsed.attachments if parts is None else parts:
            if row.id is None:  # a row of this batch not yet flushed (the intake commits rows first)
                session.flush()
            store_file(session, row.id, part)  # in chunks, written now: a 25 MB scan never whole

    def queue_notice(
        self, session: Session, case: Case, parsed: Parsed, now: datetime, notice: QueueNotice | None = None
    ) -> Outbox:
        notice = notice or QueueNotice()
        context = {
            "case_number": case.number,
            "received_at": case.received_at,
            "due_at": case.due_at,
            "requester_name": case.requester_name,
            "subject": case.subject,
            "company_name": self.settings.company_name(case.language),
            "answer_days": self.settings.robot.answer_days,
        }
        rendered = self.renderer.render(MailKind.NOTICE, case.language, context)
        # In reply to the mail that opened the case (not yet readable back from the session).
        on_message = notice.thread_on_message
        envelope = self.mailer.to_consumer(
            case,
            MailKind.NOTICE,
            parsed.message_id if on_message else notice.in_reply_to,
            parsed.references if on_message else (),
            "auto-replied",
        )
        return self.mailer.queue(session, case, MailKind.NOTICE, envelope, rendered, now)
