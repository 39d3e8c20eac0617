"""Effects of staff commands -> the case row, its timeline and the short mails they cause.

Assignment, category, closing and reopening, the extension request to the head and the head's extension
(through extension.extend_case, shared with `mailrobot cases extend`), the confirmation of each command,
and the report of refused mail to the head.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailrobot.casework.extension import ExtensionRefused, extend_case
from mailrobot.casework.records import add_participant
from mailrobot.casework.staffmail import CaseWork
from mailrobot.mail.parse import Parsed
from mailrobot.regulation.deadlines import extension_start
from mailrobot.regulation.effects import (
    Assign,
    CloseCase,
    CommandReply,
    ExtendDeadline,
    ReopenCase,
    ReportRefusal,
    RequestExtension,
    SetAway,
    SetCategory,
)
from mailrobot.regulation.states import CaseState, EventKind, MailKind, MessageStatus
from mailrobot.store.away import set_away
from mailrobot.store.models import Case, Event, Message, Outbox

log = logging.getLogger(__name__)

# Refused mail reported to the head one by one in an hour; the next report is that hour's summary, and
# later refusals wait in `messages list --status refused` (a flood of forgeries must not flood the head).
REFUSAL_REPORTS_PER_HOUR = 3


class CaseCommands:
    def __init__(self, work: CaseWork) -> None:
        self.work = work
        self.mailer = work.mailer
        self.settings = work.settings

    def assign(self, session: Session, case: Case, effect: Assign, now: datetime) -> None:
        previous = case.assignee
        case.assignee = effect.address
        role = self.work.staff.role_of(effect.address) or "operator"
        add_participant(case, effect.address, role, self.work.staff.organization_of(effect.address), now)
        session.add(
            Event(
                case=case,
                at=now,
                kind=EventKind.ASSIGNED,
                actor=effect.by,
                detail=f"{previous or '-'} -> {effect.address}",
            )
        )
        if effect.address != effect.by and effect.address != previous:
            self.work.forward_to(session, case, effect.address, now)

    def set_category(self, session: Session, case: Case, effect: SetCategory, now: datetime) -> None:
        previous = case.category
        case.category = effect.name
        session.add(
            Event(
                case=case,
                at=now,
                kind=EventKind.CATEGORIZED,
                actor=effect.by,
                detail=f"{previous or '-'} -> {effect.name}",
            )
        )

    def close(self, session: Session, case: Case, effect: CloseCase, now: datetime) -> None:
        session.add(
            Event(case=case, at=now, kind=EventKind.CLOSED, actor=effect.by, detail=f"state {case.state}")
        )
        case.state, case.closed_at = CaseState.CLOSED, now

    def reopen(self, session: Session, case: Case, effect: ReopenCase, now: datetime) -> None:
        """Open an answered or closed case again: a new deadline of robot.answer_days working days from now
        (4.3.9), extendable once more to robot.extended_days from now."""
        previous = case.state
        case.state, case.closed_at, case.reopened_at = CaseState.REOPENED, None, now
        case.due_at = self.mailer.calendar.due_at(now, self.settings.robot.answer_days)
        session.add(
            Event(
                case=case,
                at=now,
                kind=EventKind.REOPENED,
                actor=effect.by,
                detail=f"state {previous} -> {case.state}; new deadline "
                f"{self.mailer.calendar.local_date(case.due_at):%d.%m.%Y}",
            )
        )

    def set_away(self, session: Session, case: Case, effect: SetAway, now: datetime) -> None:
        set_away(session, effect.address, effect.until, effect.address, now)
        session.add(
            Event(
                case=case,
                at=now,
                kind=EventKind.NOTE,
                actor=effect.address,
                detail=f"away until {effect.until}",
            )
        )

    def request_extension(
        self, session: Session, case: Case, effect: RequestExtension, now: datetime
    ) -> None:
        """An operator's #extend: recorded (lookup reads it back as pending) and mailed to the head."""
        session.add(
            Event(
                case=case, at=now, kind=EventKind.EXTENSION_REQUESTED, actor=effect.by, detail=effect.reason
            )
        )
        start = extension_start(case.received_at, case.reopened_at)
        new_due_at = self.mailer.calendar.due_at(start, self.settings.robot.extended_days)
        context = self.work.context(
            case,
            operator=effect.by,
            reason=effect.reason,
            new_due_at=new_due_at,
            extended_days=self.settings.robot.extended_days,
        )
        for head in effect.heads:
            add_participant(case, head, "head", None, now)
        self.work.send_staff(
            session,
            case,
            "extension_request",
            effect.heads,
            "extension_request",
            context,
            now,
            token_kind="extreq",
        )

    def extend(self, session: Session, case: Case, effect: ExtendDeadline, now: datetime) -> None:
        """The head's resolution: deadline, timeline and the consumer's notice, by extension.extend_case."""
        try:
            extend_case(
                session,
                self.settings,
                self.mailer.calendar,
                self.mailer.renderer,
                case,
                effect.reason,
                effect.by,
                now,
            )
        except ExtensionRefused as exc:  # decide checked the same rule: only a race gets here
            session.add(
                Event(case=case, at=now, kind=EventKind.EXTENSION_REFUSED, actor=effect.by, detail=str(exc))
            )
            log.warning("case %s: extension by %s refused: %s", case.number, effect.by, exc)
            return
        if effect.requested_by:
            session.add(
                Event(
                    case=case,
                    at=now,
                    kind=EventKind.EXTENSION_GRANTED,
                    actor=effect.by,
                    detail=f"requested by {effect.requested_by}",
                )
            )

    def command_reply(
        self, session: Session, case: Case, effect: CommandReply, parent: str | None, now: datetime
    ) -> dict[str, Any]:
        """One command's result, on the timeline; what the confirmation says of it (command_replies)."""
        catalogue = self.mailer.renderer.phrases("command_results", self.mailer.language_for(effect.to))
        params = {k: self._show(v) for k, v in effect.params.items()}
        detail = catalogue[effect.message].format(**params).strip()
        command = (
            effect.command
            if effect.command.startswith("#")
            else catalogue.get(effect.command, effect.command)
        )
        session.add(
            Event(
                case=case,
                at=now,
                kind=EventKind.COMMAND if effect.ok else EventKind.COMMAND_REFUSED,
                actor=effect.to,
                detail=f"{command}: {detail}",
            )
        )
        return {"command": command, "ok": effect.ok, "detail": detail}

    def command_replies(
        self, session: Session, case: Case, effects: Sequence[CommandReply], parent: str | None, now: datetime
    ) -> None:
        """Every command result of one mail on the timeline, and one confirmation per recipient listing them
        all: a flood of commands is one mail, not a flood of mail."""
        results: dict[str, list[dict[str, Any]]] = {}
        for effect in effects:
            results.setdefault(effect.to, []).append(self.command_reply(session, case, effect, parent, now))
        for to, listed in results.items():
            context = {
                "case_number": case.number,
                "command": ", ".join(dict.fromkeys(r["command"] for r in listed)),
                "ok": all(r["ok"] for r in listed),
                "detail": "\n".join(r["detail"] for r in listed),
                "results": listed,
            }
            self.work.send_staff(
                session,
                case,
                "command_reply",
                (to,),
                "command_reply",
                context,
                now,
                parent=parent,
                token_kind="command",
            )

    def _show(self, value: object) -> str:
        if isinstance(value, datetime):
            return self.mailer.calendar.local_date(value).strftime("%d.%m.%Y")
        return "" if value is None else str(value)

    def report_refusal(
        self,
        session: Session,
        row: Message,
        case: Case | None,
        effect: ReportRefusal,
        parsed: Parsed,
        now: datetime,
    ) -> None:
        """Tell the head what was refused and why; the mail itself stays in the database (messages list)."""
        context = {
            "case_number": case.number if case else "",
            "sender": parsed.from_addr,
            "subject": parsed.subject,
            "reason": effect.reason,
            "message_id": parsed.message_id or "",
            "excerpt": parsed.text[:1000],
            "limited": False,  # True: the summary of this hour; later refusals are not reported one by one
            "refused_last_hour": 0,
        }
        hour = now - timedelta(hours=1)
        for head in effect.to:
            reported = session.scalar(
                select(func.count(Outbox.id)).where(
                    Outbox.recipient == head,
                    Outbox.kind == MailKind.REFUSED_REPORT,
                    Outbox.created_at >= hour,
                )
            )
            if reported is not None and reported > REFUSAL_REPORTS_PER_HOUR:
                continue  # the summary of this hour went already: the mail is in `messages list`
            if reported == REFUSAL_REPORTS_PER_HOUR:
                refused = select(func.count(Message.id)).where(
                    Message.status == MessageStatus.REFUSED, Message.received_at >= hour
                )
                context |= {"limited": True, "refused_last_hour": session.scalar(refused) or 0}
            rendered = self.mailer.renderer.render("refused", self.mailer.language_for(head), context)
            envelope = self.mailer.staff_envelope(case, head, "refused", reply_to=False)
            self.mailer.queue(session, case, MailKind.REFUSED_REPORT, envelope, rendered, now)
        log.warning("message #%s from %s refused: %s", row.id, parsed.from_addr, effect.reason)
