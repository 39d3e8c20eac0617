"""What the database and the config know about an incoming mail, gathered before it is classified.

The edge that keeps classify and decide pure: the case a token names (with its participants and any
extension request waiting for the head), the staff list, the original inside a staff member's forward,
the consumer a web form names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from mailrobot.config import Settings
from mailrobot.mail.dsn import read_dsn
from mailrobot.mail.forwarded import Forwarded, unwrap, webform_consumer
from mailrobot.mail.parse import Parsed
from mailrobot.mail.tokens import canonical_number, case_number_pattern, read_bounce_address, read_message_id
from mailrobot.regulation.caseview import CaseView, HeldAnswer, ParticipantView, PendingExtension
from mailrobot.regulation.classify import BounceFacts, Facts
from mailrobot.regulation.deadlines import extension_refusal, extension_start
from mailrobot.regulation.publish import report_period
from mailrobot.regulation.rules import BOUNCE
from mailrobot.regulation.spam import SpamPolicy, sender_authenticated, spam_reason
from mailrobot.regulation.staff import Staff
from mailrobot.regulation.states import DONE_STATES, EventKind, OutboxState
from mailrobot.regulation.trust import find_reference
from mailrobot.regulation.workdays import WorkCalendar
from mailrobot.store.away import away_addresses
from mailrobot.store.models import Case, Event, Outbox, Participant
from mailrobot.store.queue import notice_counts, notice_keys

# An interim answer held: its event's detail starts so (the rest is the text).
HELD_INTERIM = "#interim\n"
_ANSWER_KINDS = (EventKind.ANSWER, EventKind.INTERIM_ANSWER, EventKind.ANSWER_HELD)
# The timeline kinds that open or settle an operator's extension request.
_EXTENSION_KINDS = (EventKind.EXTENSION_REQUESTED, EventKind.EXTENDED, EventKind.EXTENSION_DENIED)


class Lookup:
    def __init__(self, settings: Settings, calendar: WorkCalendar) -> None:
        self.settings = settings
        self.calendar = calendar
        self.staff = Staff.from_settings(settings)
        self.case_pattern = case_number_pattern(settings.robot.case_number_format)
        self.webform_senders = frozenset(a.lower() for a in settings.routing.webform_senders)
        self.public_domains = frozenset(d.lower() for d in settings.robot.public_mail_domains)
        self.spam_policy = SpamPolicy(
            settings.spam.score_header.lower(),
            settings.spam.threshold,
            frozenset(i.lower() for i in settings.spam.trusted_authserv_ids),
        )

    def facts(
        self,
        session: Session,
        parsed: Parsed,
        base: Facts,
        now: datetime,
        notices: dict[str, int],
        cases: BatchCases | None = None,
    ) -> Facts:
        """`base` completed with what is known about the case the mail names and the people in it.

        `notices` is the batch's `notice_counts` (per address without +tag in the last day, per domain in
        the last hour); it is read (and filled in for a recipient not seen yet) for whoever this mail's
        notice would go to.  `cases`: the batch's open cases of its requesters (else one query).
        """
        settings = self.settings
        refs = find_reference(parsed, settings.robot.keys, settings.smtp.from_address, self.case_pattern)
        case = load_case(session, refs.found.number, self.calendar, settings, now) if refs.found else None
        bounce = find_bounce(session, parsed, settings.robot.keys) if BOUNCE.check(parsed) else None
        if bounce is not None:  # the case is the bounced mail's, whatever the DSN's headers name
            bounce, number = bounce
            case = load_case(session, number, self.calendar, settings, now) if number else None
        sender = parsed.from_addr
        forwarded, forwarders, kept = _unwrap(self, parsed, sender, bool(refs.found and refs.found.signed))
        webform = None
        if sender in self.webform_senders:
            not_consumers = self.webform_senders | base.own_addresses | {settings.smtp.from_address}
            webform = webform_consumer(parsed, settings.routing.webform_email_field, not_consumers)
        # The notice goes to the consumer, not to the employee who forwarded or to the web form: count theirs.
        requester = forwarded.sender if forwarded else webform[0] if webform else sender
        by_address, by_domain = notice_keys(requester or "")
        by_requester = "case:" + (requester or "").lower()
        if requester and not {by_address, by_domain, by_requester} <= notices.keys():
            notice_counts(session, [requester], now, notices)
        public = by_domain[1:] in self.public_domains
        open_cases: tuple[tuple[str, str | None], ...] = ()
        if case is None and requester:
            open_cases = cases.of(session, requester) if cases else open_cases_of(session, requester)
        return replace(
            base,
            notices_to_sender_today=notices.get(by_address, 0),
            notices_to_domain_this_hour=None if public else notices.get(by_domain, 0),
            cases_from_requester_this_hour=notices.get(by_requester, 0),
            reference=refs.found,
            forged_token=refs.forged,
            token_flood=refs.flood,
            case=case,
            staff=self.staff,
            forwarded=forwarded,
            forwarders=forwarders,
            forward_kept=kept,
            webform=webform,
            webform_senders=self.webform_senders,
            now=now,
            spam=spam_reason(parsed, self.spam_policy),
            bounce=bounce,
            open_cases=open_cases,
            report_period=report_period(refs.found.number) if refs.found and refs.found.signed else None,
            replied_text=replied_text(session, parsed) if refs.found and refs.found.signed else None,
        )


def replied_text(session: Session, parsed: Parsed) -> str | None:
    """The text of our own mail that this reply answers (In-Reply-To), so that strip_reply can cut it out of
    the reply wherever the client put it; None when it is not ours or retention purged it."""
    ids = [f"<{i.strip('<>')}>" for i in parsed.in_reply_to[:3]]
    if not ids:
        return None
    raw = session.scalar(select(Outbox.raw).where(Outbox.message_id.in_(ids)).limit(1))
    if not raw:
        return None
    try:
        message = message_from_bytes(raw, policy=policy.default)
        body = message.get_body(preferencelist=("plain",)) if isinstance(message, EmailMessage) else None
        return str(body.get_content()) if body is not None else None
    except (LookupError, ValueError, AttributeError):  # our own mail: only a bug gets here; cut nothing then
        return None


def find_case(session: Session, number: str) -> Case | None:
    """Case `number`, whatever the letter case it is written in (a reply address comes back lower-cased)."""
    case = session.scalar(select(Case).where(Case.number.in_({number, canonical_number(number)})).limit(1))
    if case is None:
        # Numbers are unique ignoring case (one format makes them); the index on upper(number) serves this.
        upper = func.upper(Case.number)
        case = session.scalar(select(Case).where(upper == canonical_number(number)).limit(1))
    return case


OPEN_CASES_SHOWN = 10  # of a consumer's open cases, named in the forward of their new one


def open_cases_of(session: Session, requester: str) -> tuple[tuple[str, str | None], ...]:
    """The requester's open cases, newest first: (number, assignee); one query (see BatchCases for a batch).

    Read without an autoflush (a flush per message was a third of the intake's time in bench/intake.py's
    profile): the cases this batch made, not flushed yet, come from the session.  A case closed or reopened
    earlier in the same batch shows as the database had it (this list is what a forward names, no more)."""
    with session.no_autoflush:
        rows = session.execute(
            select(Case.number, Case.assignee)
            .where(Case.requester == requester, Case.state.not_in(tuple(DONE_STATES)))
            .order_by(Case.id.desc())
            .limit(OPEN_CASES_SHOWN)
        ).all()
    made = [
        (c.number, c.assignee)
        for c in session.new
        if isinstance(c, Case) and c.requester == requester and c.number and c.state not in DONE_STATES
    ]
    shown = dict.fromkeys([*reversed(made), *((number, assignee) for number, assignee in rows)])
    return tuple(shown)[:OPEN_CASES_SHOWN]


class BatchCases:
    """The open cases of a batch's requesters, read in one query for the whole batch (one query a message
    was 1.2 of bench/intake.py's 8 s), and the cases the batch itself registers: a later mail of the same
    requester sees them with their assignee as routed, as `open_cases_of` does."""

    def __init__(self) -> None:
        self._stored: dict[str, list[tuple[int, str, str | None]]] = {}
        self._made: dict[str, list[Case]] = {}

    def load(self, session: Session, requesters: Iterable[str]) -> None:
        """Read the open cases of those `requesters` not read yet (the newest OPEN_CASES_SHOWN of each)."""
        wanted = {r for r in requesters if r and r not in self._stored}
        if not wanted:
            return
        newest = func.row_number().over(partition_by=Case.requester, order_by=Case.id.desc()).label("newest")
        ranked = (
            select(Case.requester, Case.id, Case.number, Case.assignee, newest)
            .where(Case.requester.in_(wanted), Case.state.not_in(tuple(DONE_STATES)))
            .subquery()
        )
        query = select(ranked.c.requester, ranked.c.id, ranked.c.number, ranked.c.assignee).where(
            ranked.c.newest <= OPEN_CASES_SHOWN
        )
        self._stored.update((r, []) for r in wanted)
        with session.no_autoflush:
            for requester, case_id, number, assignee in session.execute(query.order_by(ranked.c.id.desc())):
                self._stored[requester].append((case_id, number, assignee))

    def made(self, case: Case) -> None:
        """A case this batch registered (the live row: its assignee and state as the batch leaves them)."""
        self._made.setdefault(case.requester, []).append(case)

    def of(self, session: Session, requester: str) -> tuple[tuple[str, str | None], ...]:
        """What `open_cases_of` says, without a query for a requester the batch has read.  A stored case
        the batch changed (closed, assigned) shows as the batch left it."""
        self.load(session, (requester,))
        shown: list[tuple[str, str | None]] = []
        with session.no_autoflush:
            # A case made in a savepoint that was rolled back is no longer in the session.
            for case in reversed(self._made.get(requester, ())):
                if case in session and case.number and case.state not in DONE_STATES:
                    shown.append((case.number, case.assignee))
            for case_id, number, assignee in self._stored[requester]:
                live = session.identity_map.get(identity_key(Case, case_id))
                if live is None:
                    shown.append((number, assignee))
                elif live.state not in DONE_STATES:
                    shown.append((live.number, live.assignee))
        return tuple(dict.fromkeys(shown))[:OPEN_CASES_SHOWN]


def held_answers(session: Session, case_id: int) -> tuple[HeldAnswer, ...]:
    """The answers held for one voice whose authors have not had an answer relayed since."""
    held: dict[str, HeldAnswer] = {}
    for kind, actor, detail in session.execute(
        select(Event.kind, Event.actor, Event.detail)
        .where(Event.case_id == case_id, Event.kind.in_(_ANSWER_KINDS))
        .order_by(Event.id)
    ):
        if kind == EventKind.ANSWER_HELD:
            interim = detail.startswith(HELD_INTERIM)
            held[actor] = HeldAnswer(actor, detail.removeprefix(HELD_INTERIM), interim)
        else:
            held.pop(actor, None)
    return tuple(held.values())


def find_bounce(
    session: Session, parsed: Parsed, keys: tuple[str, ...]
) -> tuple[BounceFacts, str | None] | None:
    """The mail of ours a bounce returns, and its case number: by our signed VERP envelope sender among
    the recipients, else by the DSN's original Message-ID if it is one of our signed ones; None for a
    bounce that names neither (a forged DSN, or one without the original)."""
    dsn = read_dsn(parsed)
    row, via = None, ""
    for address in (*parsed.delivered_to, *parsed.to, *parsed.cc):
        outbox_id = read_bounce_address(keys, address)
        if outbox_id is not None:
            row, via = session.get(Outbox, outbox_id), f"VERP address {address}"
            break
    if row is None:
        for message_id in dsn.original_message_ids:
            if read_message_id(keys, message_id) is None:
                continue
            row = session.scalar(select(Outbox).where(Outbox.message_id.in_((f"<{message_id}>", message_id))))
            if row is not None:
                via = f"original Message-ID <{message_id}>"
                break
    if row is None:
        return None
    number = row.case.number if row.case is not None else None
    facts = BounceFacts(
        row.id, row.kind, row.recipient, via, dsn.status, dsn.diagnostic, row.state == OutboxState.BOUNCED
    )
    return facts, number


def _unwrap(
    lookup: Lookup, parsed: Parsed, sender: str, signed: bool
) -> tuple[Forwarded | None, tuple[str, ...], str | None]:
    """The consumer's original inside a forward from staff or from the organizations' domains (4.3.10):
    (original, forwarders, why it stays the sender's own case).  Mail from outside is never unwrapped;
    with spam.trusted_authserv_ids set, the forwarder's address must pass our server's authentication."""
    staff = lookup.staff
    if signed or staff.outside(sender):
        return None, (), None
    is_ours = lambda address: not staff.outside(address)  # noqa: E731
    found = unwrap(parsed, is_ours, lookup.settings.robot.max_attachment_bytes)
    trusted = lookup.spam_policy.trusted_authserv_ids
    if found.original is not None and trusted and not sender_authenticated(parsed, trusted):
        why = f"the forwarder {sender} is not authenticated by our mail server (Authentication-Results)"
        return None, found.forwarders, why
    return found.original, found.forwarders, found.kept


def relayed_answers(session: Session, case_id: int) -> tuple[tuple[str, str], ...]:
    """(author, text) of every answer relayed to the consumer, final or interim, oldest first."""
    rows = session.execute(
        select(Event.actor, Event.detail)
        .where(Event.case_id == case_id, Event.kind.in_((EventKind.ANSWER, EventKind.INTERIM_ANSWER)))
        .order_by(Event.id)
    )
    return tuple((actor, detail) for actor, detail in rows)


def load_case(
    session: Session,
    number: str,
    calendar: WorkCalendar,
    settings: Settings,
    now: datetime | None = None,
) -> CaseView | None:
    """A snapshot of case `number` for classification and decisions, None when there is no such case."""
    case = find_case(session, number)
    if case is None:
        return None
    participants = tuple(
        ParticipantView(p.address, p.role, p.organization, p.asked_by)
        for p in session.scalars(
            select(Participant).where(Participant.case_id == case.id).order_by(Participant.id)
        )
    )
    last = session.scalar(
        select(Event)
        .where(Event.case_id == case.id, Event.kind.in_(_EXTENSION_KINDS))
        .order_by(Event.id.desc())
        .limit(1)
    )
    pending = (
        PendingExtension(last.detail, last.actor)
        if last and last.kind == EventKind.EXTENSION_REQUESTED
        else None
    )
    extended_due_at = calendar.due_at(
        extension_start(case.received_at, case.reopened_at), settings.robot.extended_days
    )
    refused = extension_refusal(
        case.state,
        case.extended_at,
        case.answered_at,
        case.closed_at,
        case.due_at,
        extended_due_at,
        calendar,
        case.reopened_at,
    )
    return CaseView(
        id=case.id,
        number=case.number,
        requester=case.requester,
        requester_name=case.requester_name,
        subject=case.subject,
        language=case.language,
        state=case.state,
        received_at=case.received_at,
        due_at=case.due_at,
        extended_at=case.extended_at,
        answered_at=case.answered_at,
        closed_at=case.closed_at,
        assignee=case.assignee,
        group=case.group,
        organization=case.organization,
        participants=participants,
        pending_extension=pending,
        extended_due_at=extended_due_at,
        extension_refused=refused,
        assignee_away=bool(case.assignee)
        and now is not None
        and case.assignee in away_addresses(session, Staff.from_settings(settings), calendar.local_date(now)),
        held=held_answers(session, case.id),
        relayed=relayed_answers(session, case.id),
    )
