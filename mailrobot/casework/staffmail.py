"""Effects on cases -> rows and mail: forwards to staff, relayed answers, requests to specialists.

The staff side of apply.py, in the caller's transaction (the state changes of commands: casestate.py).
Mail to staff comes from our address with a signed Reply-To (`feedback+<case>.<token>@…`), a signed
Message-ID and the case tag in the subject, so a reply from any client finds its case again (DESIGN.md,
"Trust").  Mail to consumers goes out under the company's name and never shows a staff address.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailrobot.casework.mailer import Mailer
from mailrobot.casework.records import add_participant, case_attachments, files_not_kept, outgoing_files
from mailrobot.mail.compose import Envelope
from mailrobot.mail.parse import Attachment, Parsed
from mailrobot.regulation.effects import (
    AskSpecialists,
    RelayAnswer,
    RelaySpecialistAnswer,
    RouteCase,
    TellStaff,
)
from mailrobot.regulation.routing import pick_members
from mailrobot.regulation.staff import Group, Staff
from mailrobot.regulation.states import CaseState
from mailrobot.store.models import DONE_STATES, Case, Event, Message
from mailrobot.store.numbering import next_value

log = logging.getLogger(__name__)


class CaseWork:
    """Carries out the staff-side effects: forwards, relayed answers, requests to specialists."""

    def __init__(self, mailer: Mailer) -> None:
        self.mailer = mailer
        self.settings = mailer.settings
        self.staff = Staff.from_settings(mailer.settings)
        self.language = mailer.staff_language

    # -- mail to staff ---------------------------------------------------------------------------------

    def staff_envelope(self, case: Case, to: str, kind: str, parent: str | None = None) -> Envelope:
        return self.mailer.staff_envelope(case, to, kind, parent)

    def commands_help(self) -> str:
        language = self.mailer.renderer.resolve_language("forward", self.language)
        template = self.mailer.renderer.environment.get_template(f"{language}/_commands_help.txt.j2")
        return template.render(organizations=", ".join(self.staff.organizations)).strip()

    def context(self, case: Case, **extra: Any) -> dict[str, Any]:
        return {
            "case_number": case.number,
            "requester": case.requester,
            "requester_name": case.requester_name,
            "subject": case.subject,
            "body": case.body,
            "due_at": case.due_at,
            "commands_help": self.commands_help(),
            "forwarded_by": case.forwarded_by or "",  # an employee's forward: who sent it in (4.3.10)
            **extra,
        }

    def send_staff(
        self,
        session: Session,
        case: Case,
        template: str,
        to: Iterable[str],
        outbox_kind: str,
        context: dict[str, Any],
        now: datetime,
        attachments: Sequence[Attachment] = (),
        parent: str | None = None,
        token_kind: str | None = None,
    ) -> None:
        files = outgoing_files(attachments)
        limit = self.mailer.settings.robot.max_attachment_bytes
        context = {"files_not_kept": files_not_kept(attachments, limit), **context}
        rendered = self.mailer.renderer.render(template, self.language, context)
        for address in dict.fromkeys(to):
            envelope = self.staff_envelope(case, address, token_kind or outbox_kind, parent)
            self.mailer.queue(session, case, outbox_kind, envelope, rendered, now, files)

    # -- routing ---------------------------------------------------------------------------------------

    def route(
        self,
        session: Session,
        case: Case,
        effect: RouteCase,
        attachments: Sequence[Attachment],
        now: datetime,
    ) -> None:
        """Forward a new case to the routed group, per its assignment mode, and the head if copied."""
        session.add(
            Event(
                case=case,
                at=now,
                kind="routed",
                detail=f"rule {effect.rule} -> group {effect.group or '-'}: {effect.why}",
            )
        )
        chosen: tuple[str, ...] = ()
        group = self.staff.groups.get(effect.group or "")
        if group is not None:
            chosen = self.pick(session, group)
            case.group, case.organization = group.name, group.organization
            if len(chosen) == 1:
                case.assignee = chosen[0]
            for address in chosen:
                add_participant(case, address, group.role, group.organization, now)
        heads = self.staff.heads if effect.copy_head else ()
        for head in heads:
            add_participant(case, head, "head", None, now)
        self.send_staff(
            session, case, "forward", (*chosen, *heads), "forward", self.context(case), now, attachments
        )
        if not chosen and not heads:
            log.warning("case %s: group %s has nobody to forward to", case.number, effect.group)

    def pick(self, session: Session, group: Group) -> tuple[str, ...]:
        turn = next_value(session, f"rr:{group.name}") - 1 if group.assign == "round_robin" else 0
        open_cases: dict[str, int] = {}
        if group.assign == "least_open":
            rows = session.execute(
                select(Case.assignee, func.count())
                .where(Case.assignee.in_(group.members), Case.state.not_in(DONE_STATES))
                .group_by(Case.assignee)
            )
            open_cases = {assignee: count for assignee, count in rows}
        return pick_members(group, turn, open_cases)

    # -- answers ---------------------------------------------------------------------------------------

    def relay_answer(
        self, session: Session, row: Message, case: Case, effect: RelayAnswer, parsed: Parsed, now: datetime
    ) -> None:
        """The answer to the consumer under the company's name; the case is answered."""
        text = self.without_staff_addresses(session, case, effect.text)
        language = case.language
        rendered = self.mailer.renderer.render(
            "answer",
            language,
            {
                "case_number": case.number,
                "answer_text": text,
                "company_name": self.settings.company_name(language),
                "requester_name": case.requester_name,
                "subject": case.subject,
            },
        )
        # A person's answer, relayed: not an automatic reply.
        envelope = self.mailer.consumer_envelope(session, case, "answer", auto_submitted=None)
        # The text alone, for the monthly report and the FAQ (answers.find_answers reads "answer" first).
        session.add(
            Event(
                case=case,
                at=now,
                kind="answer",
                actor=effect.author,
                message=row,
                detail=text,
            )
        )
        files = outgoing_files(parsed.attachments)
        self.mailer.queue(session, case, "answer", envelope, rendered, now, files, note=text)
        case.state, case.answered_at = CaseState.ANSWERED, now
        if not case.assignee:
            case.assignee = effect.author  # "everyone" mode: whoever answers first is responsible
        log.info("case %s: answer of %s relayed to the consumer", case.number, effect.author)

    def without_staff_addresses(self, session: Session, case: Case, text: str) -> str:
        """The consumer never sees a staff address: a signature's address becomes the feedback address."""
        known = set(self.staff.addresses) | {p.address for p in case.participants}
        for address in sorted(known, key=len, reverse=True):
            text = re.sub(re.escape(address), self.settings.smtp.from_address, text, flags=re.IGNORECASE)
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
        organization = participant.organization if participant else self.staff.organization_of(effect.author)
        session.add(
            Event(
                case=case,
                at=now,
                kind="specialist_answer",
                actor=effect.author,
                message=row,
                detail=effect.text,
            )
        )
        context = self.context(
            case,
            specialist=effect.author,
            organization=self.staff.organization_name(organization, self.language),
            answer_text=effect.text,
        )
        self.send_staff(
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

    def tell_staff(
        self, session: Session, case: Case, effect: TellStaff, parsed: Parsed, now: datetime
    ) -> None:
        """A consumer's follow-up, forwarded to the people working on the case."""
        context = self.context(case, followup_text=effect.text, requester=effect.author)
        self.send_staff(session, case, "followup", effect.to, "followup", context, now, parsed.attachments)

    def forward_to(self, session: Session, case: Case, address: str, now: datetime) -> None:
        """The case as a forward, to someone who joins it later (#assign)."""
        self.send_staff(
            session,
            case,
            "forward",
            (address,),
            "forward",
            self.context(case),
            now,
            case_attachments(session, case),
        )

    # -- asking specialists ----------------------------------------------------------------------------

    def ask(self, session: Session, case: Case, effect: AskSpecialists, now: datetime) -> None:
        """A request to a specialist group (per its assignment mode) or one address; they become
        participants who answer to the asker."""
        target = effect.target
        group = self.staff.groups.get(target.group or "")
        if target.address:
            chosen: tuple[str, ...] = (target.address,)
        elif group is not None:
            chosen = self.pick(session, group)
        else:
            chosen = ()
        organization = target.organization or (group.organization if group else None)
        for address in chosen:
            add_participant(case, address, "specialist", organization, now, asked_by=effect.asked_by)
        session.add(
            Event(
                case=case,
                at=now,
                kind="asked",
                actor=effect.asked_by,
                detail=f"to {', '.join(chosen) or '-'} ({organization or '-'}): {effect.question}",
            )
        )
        context = self.context(
            case,
            question=effect.question,
            asked_by=effect.asked_by,
            organization=self.staff.organization_name(organization, self.language),
        )
        self.send_staff(session, case, "ask", chosen, "ask", context, now, case_attachments(session, case))
