"""Answers: the operator's answer relayed to the consumer under the company's name (or held when another
operator already answered: one voice), and a specialist's answer back to the operators (4.3.8)."""

from __future__ import annotations

import logging
import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailrobot.casework.records import outgoing_files
from mailrobot.casework.staffmail import ORGANIZATION_KEY, CaseWork
from mailrobot.mail.parse import Parsed
from mailrobot.regulation.effects import (
    HoldAnswer,
    RelayAnswer,
    RelaySpecialistAnswer,
)
from mailrobot.regulation.states import CaseState, EventKind, MailKind
from mailrobot.store.lookup import HELD_INTERIM
from mailrobot.store.models import Case, Event, Message

log = logging.getLogger(__name__)


class AnswerRelay:
    """Carries out the answer effects with the staff-side tools of a CaseWork."""

    def __init__(self, work: CaseWork) -> None:
        self.work = work

    def relay_answer(
        self, session: Session, row: Message, case: Case, effect: RelayAnswer, parsed: Parsed, now: datetime
    ) -> None:
        """The answer to the consumer under the company's name: the final one answers the case; an interim
        one (#interim) has its own frame and leaves the case open, its deadline running."""
        text = self.without_staff_addresses(session, case, effect.text)
        language = case.language
        kind = MailKind.INTERIM if effect.interim else MailKind.ANSWER
        context = {
            "case_number": case.number,
            "answer_text": text,
            "company_name": self.work.settings.company_name(language),
            "requester_name": case.requester_name,
            "subject": case.subject,
        }
        if effect.interim:
            context["due_at"] = case.due_at
        rendered = self.work.mailer.renderer.render(kind, language, context)
        # A person's answer, relayed: not an automatic reply.
        envelope = self.work.mailer.consumer_envelope(session, case, kind, auto_submitted=None)
        # The text alone, for the monthly report and the FAQ (answers.find_answers reads "answer" first).
        session.add(
            Event(
                case=case,
                at=now,
                kind=EventKind.INTERIM_ANSWER if effect.interim else EventKind.ANSWER,
                actor=effect.author,
                message=row,
                detail=text,
            )
        )
        files = outgoing_files(parsed.attachments)
        self.work.mailer.queue(session, case, kind, envelope, rendered, now, files, note=text)
        if not effect.interim:
            case.state, case.answered_at = CaseState.ANSWERED, now
            if self.work.summarize is not None:  # what the forwards of later cases show (issue 12 item 8)
                summary = self.work.summarize(case, text)
                case.summary_question, case.summary_answer = summary
                case.summary_language = case.language
        if not case.assignee:
            case.assignee = effect.author.lower()  # one voice: whoever answers first is responsible
        log.info("case %s: %s of %s relayed to the consumer", case.number, kind.value, effect.author)

    def hold_answer(
        self, session: Session, row: Message, case: Case, effect: HoldAnswer, parsed: Parsed, now: datetime
    ) -> None:
        """One voice: the answer goes back to its author with the answer already sent; #send sends it."""
        detail = (HELD_INTERIM if effect.interim else "") + effect.text
        session.add(
            Event(
                case=case, at=now, kind=EventKind.ANSWER_HELD, actor=effect.author, message=row, detail=detail
            )
        )
        sent = session.execute(
            select(Event.detail, Event.at)
            .where(Event.case_id == case.id, Event.kind.in_((EventKind.ANSWER, EventKind.INTERIM_ANSWER)))
            .order_by(Event.id.desc())
            .limit(1)
        ).first()
        context = {
            "case_number": case.number,
            "assignee": effect.assignee,
            "held_text": effect.text,
            "sent_text": sent.detail if sent else "",
            "sent_at": sent.at if sent else None,
        }
        self.work.send_staff(
            session,
            case,
            MailKind.ANSWER_HELD,
            (effect.author,),
            MailKind.ANSWER_HELD,
            context,
            now,
            parent=parsed.message_id,
            token_kind="held",
        )
        log.info("case %s: answer of %s held (assignee %s)", case.number, effect.author, effect.assignee)

    def without_staff_addresses(self, session: Session, case: Case, text: str) -> str:
        """The consumer never sees a staff address: a signature's address becomes the feedback address."""
        known = set(self.work.staff.addresses) | {p.address for p in case.participants}
        for address in sorted(known, key=len, reverse=True):
            text = re.sub(re.escape(address), self.work.settings.smtp.from_address, text, flags=re.IGNORECASE)
        return text

    def relay_specialist_answer(
        self,
        session: Session,
        row: Message,
        case: Case,
        effect: RelaySpecialistAnswer,
        parsed: Parsed,
        now: datetime,
    ) -> None:
        """A specialist's answer goes to the operator who asked (4.3.8) and joins the timeline."""
        participant = next((p for p in case.participants if p.address == effect.author), None)
        organization = (
            participant.organization if participant else self.work.staff.organization_of(effect.author)
        )
        session.add(
            Event(
                case=case,
                at=now,
                kind=EventKind.SPECIALIST_ANSWER,
                actor=effect.author,
                message=row,
                detail=effect.text,
            )
        )
        context = self.work.context(
            case,
            specialist=effect.author,
            organization=self.work.staff.organization_name(organization, self.work.language),
            **{ORGANIZATION_KEY: organization},
            answer_text=effect.text,
        )
        self.work.send_staff(
            session,
            case,
            "specialist_answer",
            effect.to,
            "specialist_answer",
            context,
            now,
            parsed.attachments,
            parent=parsed.message_id,
            token_kind="spanswer",
        )
