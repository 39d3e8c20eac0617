"""Effects on cases -> rows and mail: forwards to staff, relayed answers, requests to specialists.

The staff side of apply.py, in the caller's transaction (the state changes of commands: casestate.py).
Mail to staff comes from our address with a signed Reply-To (`feedback+<case>.<token>@…`), a signed
Message-ID and the case tag in the subject, so a reply from any client finds its case again (DESIGN.md,
"Trust").  Mail to consumers goes out under the company's name and never shows a staff address.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailrobot.casework.mailer import Mailer
from mailrobot.casework.records import add_participant, case_attachments, files_not_kept, outgoing_files
from mailrobot.mail.compose import Envelope
from mailrobot.mail.parse import Attachment, Parsed
from mailrobot.mail.render import Rendered
from mailrobot.regulation.effects import (
    AskSpecialists,
    RouteCase,
    TellStaff,
)
from mailrobot.regulation.routing import pick_members
from mailrobot.regulation.staff import Group, Staff
from mailrobot.regulation.states import CaseState, EventKind, MailKind
from mailrobot.store.away import away_addresses
from mailrobot.store.models import DONE_STATES, Case, Event
from mailrobot.store.numbering import next_value

log = logging.getLogger(__name__)

# A context key that send_staff turns into "organization", the name in each recipient's language.
ORGANIZATION_KEY = "_organization_key"
ROUTE_RULE_KEY = "_route_rule"  # likewise: the question of a route's request (ROUTE_QUESTION)

# What a route's request to specialists asks (the consumer's text and files follow it in the mail).
ROUTE_QUESTION = {
    "ru": "Просим подготовить разъяснение по обращению потребителя (правило маршрутизации «{rule}»). "
    "Ответ получат операторы контакт-центра.",
    "kk": "Тұтынушының өтініші бойынша түсініктеме дайындауды сұраймыз («{rule}» бағыттау ережесі). "
    "Жауапты байланыс орталығының операторлары алады.",
    "en": "Please prepare an explanation of the consumer's request (routing rule '{rule}'). "
    "The contact center's operators get your answer.",
}


# (case, the final answer's text) -> the redacted summary (question, answer) stored on the case.
Summarize = Callable[[Case, str], tuple[str, str]]
# (session, the new case) -> up to three {"number", "question", "answer"}, the most alike first.
Suggest = Callable[[Session, Case], list[dict[str, str]]]


class CaseWork:
    """Carries out the staff-side effects: forwards, relayed answers, requests to specialists."""

    def __init__(
        self,
        mailer: Mailer,
        summarize: Summarize | None = None,
        suggest: Suggest | None = None,
    ) -> None:
        self.mailer = mailer
        # Given by the service (jobs.similar, a layer above): the answered case in a line, redacted; and
        # the earlier answered cases most like a new one.  None: no summaries, no suggestions.
        self.summarize = summarize
        self.suggest = suggest
        self.settings = mailer.settings
        self.staff = Staff.from_settings(mailer.settings)
        self.language = mailer.staff_language

    # -- mail to staff ---------------------------------------------------------------------------------

    def staff_envelope(self, case: Case, to: str, kind: str, parent: str | None = None) -> Envelope:
        return self.mailer.staff_envelope(case, to, kind, parent)

    def commands_help(self, language: str | None = None) -> str:
        language = self.mailer.renderer.resolve_language("forward", language or self.language)
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
        rendered: dict[str, Rendered] = {}  # each recipient reads staff mail in their own language
        for address in dict.fromkeys(to):
            language = self.mailer.language_for(address)
            if language not in rendered:
                localized = dict(context)
                if "commands_help" in context:
                    localized["commands_help"] = self.commands_help(language)
                if ORGANIZATION_KEY in context:  # the organization's name in the reader's language
                    key = localized.pop(ORGANIZATION_KEY)
                    localized["organization"] = self.staff.organization_name(key, language)
                if ROUTE_RULE_KEY in context:  # a route's request, worded in the reader's language
                    rule = localized.pop(ROUTE_RULE_KEY)
                    localized["question"] = ROUTE_QUESTION.get(language, ROUTE_QUESTION["ru"]).format(
                        rule=rule
                    )
                rendered[language] = self.mailer.renderer.render(template, language, localized)
            envelope = self.staff_envelope(case, address, token_kind or outbox_kind, parent)
            self.mailer.queue(session, case, outbox_kind, envelope, rendered[language], now, files)

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
                kind=EventKind.ROUTED,
                detail=f"rule {effect.rule} -> group {effect.group or '-'}: {effect.why}",
            )
        )
        chosen: tuple[str, ...] = ()
        group = self.staff.groups.get(effect.group or "")
        away = away_addresses(session, self.staff, self.mailer.calendar.local_date(now))
        if group is not None:
            chosen = self.pick(session, group, away)
            holder = self.holder_of_open_cases(group, effect.open_cases, away)
            if holder is not None:  # one operator for one consumer, where the assignment picks one
                chosen = (holder,)
            case.group, case.organization = group.name, group.organization
            if len(chosen) == 1:
                case.assignee = chosen[0]
            for address in chosen:
                add_participant(case, address, group.role, group.organization, now)
        heads = self.staff.heads if effect.copy_head else ()
        for head in heads:
            add_participant(case, head, "head", None, now)
        if effect.forward != "mail":
            self.flood_summary(session, case, effect, (*chosen, *heads), now)
            return
        open_cases = [{"number": n, "assignee": a or ""} for n, a in effect.open_cases]
        context = self.context(case, open_cases=open_cases, similar=self.similar(session, case))
        self.send_staff(session, case, "forward", (*chosen, *heads), "forward", context, now, attachments)
        if not chosen and not heads:
            log.warning("case %s: group %s has nobody to forward to", case.number, effect.group)
        for target_name in effect.ask:
            target = self.staff.resolve_ask_target(target_name)
            if target is None:  # config.py checks routes.ask: only a reload race gets here
                log.warning("case %s: routes.ask %r names no specialists", case.number, target_name)
                continue
            # In the operators' name: the one assigned, else the answer goes to the case's operators.
            asker = chosen[0] if len(chosen) == 1 else None
            question = ROUTE_QUESTION.get(self.language, ROUTE_QUESTION["ru"]).format(rule=effect.rule)
            effect_ask = AskSpecialists(target, question, asker)
            self.ask(session, case, effect_ask, now, attachments, chosen, route_rule=effect.rule)

    def flood_summary(
        self, session: Session, case: Case, effect: RouteCase, to: Sequence[str], now: datetime
    ) -> None:
        """Past routing.forwards_per_sender_per_hour, a case is routed without its forward (on the
        timeline); the first such case of the hour sends its recipients one summary of the sender's cases."""
        limit = self.settings.routing.forwards_per_sender_per_hour
        detail = (
            f"not forwarded: {effect.flood} cases from {case.requester} in an hour "
            f"(routing.forwards_per_sender_per_hour = {limit})"
        )
        session.add(Event(case=case, at=now, kind=EventKind.FORWARD_HELD, detail=detail))
        if effect.forward != "summary" or not to:
            return
        numbers = session.scalars(
            select(Case.number)
            .where(Case.requester == case.requester, Case.received_at >= now - timedelta(hours=1))
            .order_by(Case.id)
            .limit(100)
        ).all()
        context = {
            "sender": case.requester,
            "count": effect.flood,
            "limit": limit,
            "case_numbers": [*dict.fromkeys([*numbers, case.number])],
        }
        rendered = self.mailer.renderer.render("forward_summary", self.language, context)
        for address in dict.fromkeys(to):
            # About many cases: its Message-ID names none, so a reply to it answers no consumer.
            envelope = self.mailer.staff_envelope(
                case, address, MailKind.FORWARD_SUMMARY, thread=f"flood-{case.number}", reply_to=False
            )
            self.mailer.queue(session, case, MailKind.FORWARD_SUMMARY, envelope, rendered, now)
        log.warning("case %s: %s", case.number, detail)

    def holder_of_open_cases(
        self, group: Group, open_cases: Sequence[tuple[str, str | None]], away: frozenset[str]
    ) -> str | None:
        """The operator who has the consumer's open cases, when the group assigns one member per case
        (round_robin, least_open) and that operator is in it and not away."""
        if group.assign == "everyone":
            return None
        for _number, assignee in open_cases:
            if assignee and assignee in group.members and assignee not in away:
                return assignee
        return None

    def similar(self, session: Session, case: Case) -> list[dict[str, str]]:
        """Up to three earlier answered cases most like this one, redacted (issue 12 item 8)."""
        if self.suggest is None:
            return []
        try:
            return self.suggest(session, case)
        except Exception:  # a suggestion is a help: the forward goes without it rather than not at all
            log.exception("case %s: no suggestions for the forward", case.number)
            return []

    def pick(self, session: Session, group: Group, away: frozenset[str] = frozenset()) -> tuple[str, ...]:
        turn = next_value(session, f"rr:{group.name}") - 1 if group.assign == "round_robin" else 0
        open_cases: dict[str, int] = {}
        if group.assign == "least_open":
            rows = session.execute(
                select(Case.assignee, func.count())
                .where(Case.assignee.in_(group.members), Case.state.not_in(DONE_STATES))
                .group_by(Case.assignee)
            )
            open_cases = {assignee: count for assignee, count in rows}
        return pick_members(group, turn, open_cases, away)

    def tell_staff(
        self, session: Session, case: Case, effect: TellStaff, parsed: Parsed, now: datetime
    ) -> None:
        """A consumer's follow-up, forwarded to the people working on the case."""
        # Reopened by this very follow-up (ReopenCase comes first): the staff read the new deadline.
        reopened = case.state == CaseState.REOPENED and case.reopened_at == now
        context = self.context(case, followup_text=effect.text, requester=effect.author, reopened=reopened)
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

    def ask(
        self,
        session: Session,
        case: Case,
        effect: AskSpecialists,
        now: datetime,
        files: Sequence[Attachment] | None = None,
        operators: Sequence[str] = (),
        route_rule: str | None = None,
    ) -> None:
        """A request to a specialist group (per its assignment mode) or one address; they become
        participants who answer to the asker (or, for a route's request, to the case's operators).
        `files`: the consumer's (default: the case's first message's)."""
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
                kind=EventKind.ASKED,
                actor=effect.asked_by or "robot",
                detail=f"to {', '.join(chosen) or '-'} ({organization or '-'}): {effect.question}",
            )
        )
        context = self.context(
            case,
            question=effect.question,
            asked_by=effect.asked_by or ", ".join(operators) or "-",
            organization=self.staff.organization_name(organization, self.language),
            **{ORGANIZATION_KEY: organization},
            **({ROUTE_RULE_KEY: route_rule} if route_rule else {}),
        )
        attachments = case_attachments(session, case) if files is None else files
        self.send_staff(session, case, "ask", chosen, "ask", context, now, attachments)
