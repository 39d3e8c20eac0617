"""Verdict + parsed message + policy -> the effects to apply.  Pure: this is where the regulation lives."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import timedelta

from mailrobot.mail.forwarded import clean_subject
from mailrobot.mail.language import detect_language
from mailrobot.mail.parse import Attachment, Parsed
from mailrobot.mail.quotes import strip_reply
from mailrobot.regulation.caseview import CaseView
from mailrobot.regulation.classify import Facts, Kind, Verdict
from mailrobot.regulation.commands import decide_staff_reply, read_commands
from mailrobot.regulation.effects import (
    AddEvent,
    CaseEffect,
    CommandReply,
    MarkBounced,
    OnCase,
    RelayAnswer,
    ReopenCase,
    ReportRefusal,
    RouteCase,
    TellStaff,
)
from mailrobot.regulation.publish import PublishReport, edited_faq_file, faq_between_markers
from mailrobot.regulation.routing import Mail, Routing
from mailrobot.regulation.states import CONSUMER_MAIL_KINDS, EventKind, MessageStatus

# Strict on purpose: a requester address goes into an outgoing To: header.
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
BODY_LIMIT = 100_000


@dataclass(frozen=True)
class Policy:
    default_language: str = "ru"
    notices_per_sender_per_day: int = 5
    notices_per_domain_per_hour: int = 20  # 0: no domain cap
    routing: Routing | None = None  # None: cases are registered and noticed, not forwarded
    max_commands_per_mail: int = 10  # routing.max_commands_per_mail
    forwards_per_sender_per_hour: int = 20  # 0: no cap


@dataclass(frozen=True)
class RecordMessage:
    status: str  # case | followup | reply | refused | ignored | quarantined
    reason: str


@dataclass(frozen=True)
class RegisterCase:
    requester: str
    requester_name: str
    subject: str
    body: str
    language: str
    channel: str = "email"  # email | webform | forwarded
    forwarded_by: str | None = None
    parent_case_id: int | None = None  # a follow-up to a long-closed case opens a new, linked one
    attachments: tuple[Attachment, ...] | None = None  # None: the message's own


@dataclass(frozen=True)
class QueueNotice:
    """The registration notice (regulation 4.3.3) to the requester of the case just registered."""

    # For a forwarded-in mail the notice answers the consumer's original, not the employee's forward.
    in_reply_to: str | None = None
    thread_on_message: bool = True  # False: thread on `in_reply_to` alone


@dataclass(frozen=True)
class SkipNotice:
    reason: str


Effect = RecordMessage | RegisterCase | QueueNotice | SkipNotice | CaseEffect | PublishReport


def is_mailable(address: str) -> bool:
    return bool(_ADDRESS.match(address)) and len(address) <= 254


def decide(verdict: Verdict, parsed: Parsed, facts: Facts, policy: Policy) -> list[Effect]:
    """The effects of one incoming message."""
    match verdict.kind:
        case Kind.AUTOMATIC:
            return [RecordMessage(MessageStatus.IGNORED, verdict.reason)]
        case Kind.SPAM:
            return [RecordMessage(MessageStatus.SPAM, verdict.reason)]
        case Kind.BOUNCE:
            return _bounced(verdict, facts)
        case Kind.NO_SENDER:
            return [RecordMessage(MessageStatus.QUARANTINED, verdict.reason)]
        case Kind.REFUSED:
            return _refuse(verdict, parsed, facts)
        case Kind.FOLLOWUP:
            return _followup(verdict, parsed, facts, policy)
        case Kind.OPERATOR_REPLY | Kind.SPECIALIST_REPLY | Kind.HEAD_REPLY:
            return _staff_reply(verdict, parsed, facts, policy)
        case Kind.FORWARDED_IN:
            return _forwarded_in(verdict, parsed, facts, policy)
        case Kind.WEBFORM:
            return _webform(verdict, parsed, facts, policy)
        case Kind.REPORT_REPLY:
            return _report_reply(verdict, parsed, facts)
    return _new_case(verdict, parsed, facts, policy)


def _report_reply(verdict: Verdict, parsed: Parsed, facts: Facts) -> list[Effect]:
    """The head's reply to the monthly report: `#publish` sends it to PR with the FAQ draft the head chose
    (an attached file, else the text between the markers, else the original); anything else is kept."""
    assert facts.report_period is not None
    commands, _rest = read_commands(strip_reply(parsed.text) or parsed.text)
    if not commands or commands[0].name != "publish":
        return [RecordMessage(MessageStatus.REPLY, f"{verdict.reason}: no #publish, nothing sent")]
    publish = PublishReport(
        facts.report_period,
        parsed.from_addr,
        edited_faq_file(parsed.attachments),
        faq_between_markers(parsed.text),
    )
    return [RecordMessage(MessageStatus.REPLY, f"{verdict.reason}: #publish"), publish]


def _new_case(verdict: Verdict, parsed: Parsed, facts: Facts, policy: Policy) -> list[Effect]:
    language = detect_language(f"{parsed.subject}\n{parsed.text}", policy.default_language)
    register = RegisterCase(
        requester=parsed.from_addr,
        requester_name=parsed.from_name,
        subject=parsed.subject,
        body=parsed.text[:BODY_LIMIT],
        language=language,
    )
    effects = _register(verdict.reason, register, QueueNotice(), parsed, facts, policy)
    if facts.forward_kept:  # an employee's forward that stays their own case says why (4.3.10)
        detail = f"forward not unwrapped: {facts.forward_kept}"
        effects.append(AddEvent(EventKind.FORWARD_KEPT, detail, parsed.from_addr))
    return effects


def _webform(verdict: Verdict, parsed: Parsed, facts: Facts, policy: Policy) -> list[Effect]:
    assert facts.webform is not None
    address, name = facts.webform
    language = detect_language(f"{parsed.subject}\n{parsed.text}", policy.default_language)
    register = RegisterCase(address, name, parsed.subject, parsed.text[:BODY_LIMIT], language, "webform")
    # The form's own Message-ID means nothing to the consumer: the notice starts a thread of its own.
    return _register(verdict.reason, register, QueueNotice(thread_on_message=False), parsed, facts, policy)


def _forwarded_in(verdict: Verdict, parsed: Parsed, facts: Facts, policy: Policy) -> list[Effect]:
    original = facts.forwarded
    assert original is not None
    language = detect_language(f"{original.subject}\n{original.text}", policy.default_language)
    register = RegisterCase(
        requester=original.sender,
        requester_name=original.sender_name,
        subject=original.subject,
        body=original.text[:BODY_LIMIT],
        language=language,
        channel="forwarded",
        forwarded_by=parsed.from_addr,
        attachments=original.attachments,
    )
    notice = QueueNotice(in_reply_to=original.message_id, thread_on_message=False)
    return _register(verdict.reason, register, notice, parsed, facts, policy)


def _register(
    reason: str, register: RegisterCase, notice: QueueNotice, parsed: Parsed, facts: Facts, policy: Policy
) -> list[Effect]:
    effects: list[Effect] = [RecordMessage(MessageStatus.CASE, reason), register]
    effects.append(_notice_or_skip(register.requester, notice, facts, policy))
    route = _route(register, parsed, policy, facts.open_cases)
    if route is not None:
        effects.append(_flood_checked(route, facts.cases_from_requester_this_hour, policy))
    return effects


def _flood_checked(route: RouteCase, earlier: int, policy: Policy) -> RouteCase:
    """Past routing.forwards_per_sender_per_hour cases from one sender in an hour, a case is routed
    without its forward: the first one past the limit sends the hour's summary, the others nothing."""
    limit = policy.forwards_per_sender_per_hour
    if not limit or earlier < limit:
        return route
    return replace(route, forward="summary" if earlier == limit else "none", flood=earlier + 1)


def routing_mail(register: RegisterCase, parsed: Parsed) -> Mail:
    """The mail as routing sees it: the registered case's (the original's, for a forward or a web form),
    addressed as the message that arrived."""
    return Mail(
        subject=register.subject,
        body=register.body,
        sender=register.requester,
        recipients=(*parsed.to, *parsed.cc, *parsed.delivered_to),
        language=register.language,
    )


def _route(
    register: RegisterCase,
    parsed: Parsed,
    policy: Policy,
    open_cases: tuple[tuple[str, str | None], ...] = (),
) -> RouteCase | None:
    routing = policy.routing
    if routing is None:
        return None
    route = routing.route(routing_mail(register, parsed))
    if route.group is None and not routing.copy_head:
        return None
    return RouteCase(route.rule, route.group, route.why, routing.copy_head, route.ask, open_cases)


def _followup(verdict: Verdict, parsed: Parsed, facts: Facts, policy: Policy) -> list[Effect]:
    case = facts.case
    assert case is not None
    text = strip_reply(parsed.text, sent=facts.replied_text) or parsed.text.strip()
    reopen_days = policy.routing.reopen_days if policy.routing else None
    if (
        reopen_days is not None
        and case.closed_at is not None
        and facts.now is not None
        and facts.now - case.closed_at > timedelta(days=reopen_days)
    ):
        language = detect_language(f"{parsed.subject}\n{text}", case.language)
        register = RegisterCase(
            requester=case.requester,
            requester_name=parsed.from_name or case.requester_name,
            subject=clean_subject(parsed.subject) or case.subject,
            body=text[:BODY_LIMIT],
            language=language,
            parent_case_id=case.id,
        )
        reason = f"{verdict.reason}; the case was closed more than {reopen_days} days ago: a new case"
        return _register(reason, register, QueueNotice(), parsed, facts, policy)
    effects: list[Effect] = [
        RecordMessage(MessageStatus.FOLLOWUP, verdict.reason),
        OnCase(case.id, case.number),
        AddEvent(EventKind.FOLLOWUP, text[:BODY_LIMIT], parsed.from_addr),
    ]
    if case.is_done:
        # Not satisfied with the answer, or writing again after closing: the case waits for an answer again.
        effects.append(ReopenCase(parsed.from_addr))
    to = _followup_recipients(facts)
    if to:
        effects.append(TellStaff(text[:BODY_LIMIT], parsed.from_addr, to))
    return effects


def _followup_recipients(facts: Facts) -> tuple[str, ...]:
    """Who hears of a consumer's follow-up: the responsible person; else the case's operators; else the
    others working on it; else the head."""
    case = facts.case
    assert case is not None
    if case.assignee:
        return (case.assignee,)
    working = case.operators() or tuple(p.address for p in case.participants if p.role != "head")
    return working or facts.staff.heads


def _staff_reply(verdict: Verdict, parsed: Parsed, facts: Facts, policy: Policy) -> list[Effect]:
    case = facts.case
    assert case is not None
    role = {Kind.OPERATOR_REPLY: "operator", Kind.SPECIALIST_REPLY: "specialist", Kind.HEAD_REPLY: "head"}[
        verdict.kind
    ]
    effects: list[Effect] = [RecordMessage(MessageStatus.REPLY, verdict.reason), OnCase(case.id, case.number)]
    replied_to = facts.reference.replied_to if facts.reference else None
    text = strip_reply(parsed.text, sent=facts.replied_text)
    effects += _replayed_or_late(
        case,
        decide_staff_reply(
            role, parsed.from_addr, case, text, facts.staff, replied_to, policy.max_commands_per_mail
        ),
    )
    return effects


def _replayed_or_late(case: CaseView, effects: list[CaseEffect]) -> list[Effect]:
    """An answer already relayed, delivered again (a client's resend: same author, same text, a new
    Message-ID), is recorded as a duplicate and not relayed twice; an answer to a closed case reopens it
    first (state reopened, on the timeline), its author is told, and it is then relayed."""
    relay = next((e for e in effects if isinstance(e, RelayAnswer)), None)
    if relay is None:
        return list(effects)
    author, text = relay.author.lower(), _comparable(relay.text)
    if any(a.lower() == author and _comparable(t) == text for a, t in case.relayed):
        reason = f"duplicate answer: {relay.author} sent the same text before; not relayed again"
        others = [e for e in effects if e is not relay]
        duplicate = AddEvent(EventKind.DUPLICATE_ANSWER, reason, relay.author)
        return [RecordMessage(MessageStatus.DUPLICATE, reason), duplicate, *others]
    if case.is_closed:
        told = CommandReply(relay.author, "answer", True, "reopened_by_answer")
        return [ReopenCase(relay.author), *effects, told]
    return list(effects)


def _comparable(text: str) -> str:
    """An answer's words, for telling a resend: addresses (a relayed answer's are replaced), spacing and
    letter case do not count."""
    return " ".join(re.sub(r"\S+@\S+", " ", text).split()).casefold()


def _bounced(verdict: Verdict, facts: Facts) -> list[Effect]:
    """A bounce of our mail: recorded (ignored, never answered), tied to the case; for mail to the consumer
    (answer, notice, extension) the case's people are told the consumer did not get it."""
    bounce = facts.bounce
    assert bounce is not None
    effects: list[Effect] = [RecordMessage(MessageStatus.IGNORED, verdict.reason)]
    tell: tuple[str, ...] = ()
    if facts.case is not None:
        effects.append(OnCase(facts.case.id, facts.case.number))
        if bounce.kind in CONSUMER_MAIL_KINDS and not bounce.already_bounced:
            tell = tuple(a for a in _followup_recipients(facts) if a != bounce.recipient)
    effects.append(MarkBounced(bounce.outbox_id, bounce.status, bounce.diagnostic, tell))
    return effects


def _refuse(verdict: Verdict, parsed: Parsed, facts: Facts) -> list[Effect]:
    effects: list[Effect] = [RecordMessage(MessageStatus.REFUSED, verdict.reason)]
    if facts.case is not None:
        effects += [
            OnCase(facts.case.id, facts.case.number),
            AddEvent(
                "refused", f"{verdict.reason}; subject: {parsed.subject[:200]}", parsed.from_addr or "?"
            ),
        ]
    if facts.staff.heads:
        effects.append(ReportRefusal(facts.staff.heads, verdict.reason))
    return effects


def _notice_or_skip(
    requester: str, notice: QueueNotice, facts: Facts, policy: Policy
) -> QueueNotice | SkipNotice:
    if not is_mailable(requester):
        return SkipNotice(f"requester address {requester!r} cannot be mailed")
    if facts.notices_to_sender_today >= policy.notices_per_sender_per_day:
        return SkipNotice(
            f"notice cap reached: {facts.notices_to_sender_today} notices to this sender in 24 h "
            f"(robot.notices_per_sender_per_day = {policy.notices_per_sender_per_day})"
        )
    per_domain, domain_count = policy.notices_per_domain_per_hour, facts.notices_to_domain_this_hour
    if per_domain and domain_count is not None and domain_count >= per_domain:
        domain = requester.rpartition("@")[2]
        return SkipNotice(
            f"notice cap reached: {domain_count} notices to @{domain} in 1 h "
            f"(robot.notices_per_domain_per_hour = {per_domain})"
        )
    return notice
