"""Parsed message + what the database knows -> one Verdict: what kind of mail this is, and why.

A list of small named checks in the manner of GNU Mailman's rules, asked in order; the first that has an
answer decides, and its reason is what the message row stores ("refused: token used by a non-participant").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from mailrobot.mail.forwarded import Forwarded
from mailrobot.mail.parse import Parsed
from mailrobot.mail.quotes import strip_reply
from mailrobot.regulation.caseview import CaseView
from mailrobot.regulation.commands import starts_with_command
from mailrobot.regulation.rules import NO_SENDER, automatic_reason
from mailrobot.regulation.staff import Staff
from mailrobot.regulation.trust import CaseReference


class Kind(StrEnum):
    NEW_CASE = "new_case"
    WEBFORM = "webform"  # a web form's mail: the case is the consumer's named in it (4.3.2)
    FORWARDED_IN = "forwarded_in"  # an employee forwarded a consumer's mail in (4.3.10)
    FOLLOWUP = "followup"  # the consumer writes again about their case
    OPERATOR_REPLY = "operator_reply"  # answer or commands (4.3.6)
    SPECIALIST_REPLY = "specialist_reply"  # goes back to the operator who asked (4.3.8)
    HEAD_REPLY = "head_reply"  # answer or commands, #grant/#deny included (4.3.9)
    REFUSED = "refused"  # fails the trust checks: not relayed, recorded, reported to the head
    AUTOMATIC = "automatic"  # bounce, auto-reply, list mail, our own mail: recorded, never answered
    BOUNCE = "bounce"  # a DSN for one of our mails (VERP, or its signed Message-ID): marked bounced
    SPAM = "spam"  # the filter in front of the mailbox says spam: no notice, no forward, kept for a release
    NO_SENDER = "no_sender"  # nobody to register the case for: quarantined for a human to look at
    REPORT_REPLY = "report_reply"  # the head's reply to the monthly report: #publish sends it to PR (4.3.11)


REPLY_KINDS = {"operator": Kind.OPERATOR_REPLY, "specialist": Kind.SPECIALIST_REPLY, "head": Kind.HEAD_REPLY}


@dataclass(frozen=True)
class BounceFacts:
    """The mail of ours a bounce returns, found by our VERP envelope sender or its signed Message-ID."""

    outbox_id: int
    kind: str  # a MailKind
    recipient: str
    via: str  # "VERP address …" or "original Message-ID <…>"
    status: str
    diagnostic: str
    already_bounced: bool = False


@dataclass(frozen=True)
class Facts:
    """What the caller looked up before classifying: the decision itself stays a pure function."""

    own_addresses: frozenset[str]
    notices_to_sender_today: int = 0  # to the requester's address without its +tag, in 24 hours
    notices_to_domain_this_hour: int | None = None  # to its domain; None: a public mail provider's
    cases_from_requester_this_hour: int = 0  # registered for the requester in the last hour, before this mail
    reference: CaseReference | None = None  # the case the mail names (signed, or a subject hint)
    forged_token: str | None = None  # a token that looks like ours and does not verify
    token_flood: str | None = None  # more of our reply addresses than a reply carries
    case: CaseView | None = None  # the case `reference` names, when it exists
    staff: Staff = field(default_factory=Staff)
    forwarded: Forwarded | None = None  # the original inside a staff member's or employee's forward
    forwarders: tuple[str, ...] = ()  # who forwarded it, the mail's sender first (forwards of forwards)
    forward_kept: str | None = None  # why an employee's forward stays their own case (4.3.10)
    webform: tuple[str, str] | None = None  # (address, name) of the consumer a web form names
    webform_senders: frozenset[str] = frozenset()
    now: datetime | None = None
    replied_text: str | None = None  # the text of our mail the reply answers (history to cut)
    spam: str | None = None  # why the filter in front of the mailbox says spam (regulation/spam.py)
    bounce: BounceFacts | None = None  # the mail of ours a bounce returns (the case, if any, is `case`)
    # The requester's open cases (number, assignee), for the forward of a new one (issue 12 item 3).
    open_cases: tuple[tuple[str, str | None], ...] = ()
    report_period: str | None = None  # a signed reference names the monthly report of this month, no case

    def role_of(self, sender: str) -> str | None:
        """The sender's role on the referenced case: the head by the config, else as a participant of the
        case, else by the staff list; None for everyone else."""
        by_config = self.staff.role_of(sender)
        if by_config == "head":
            return by_config
        participant = self.case.participant(sender) if self.case else None
        return participant.role if participant else by_config


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    reason: str


class Check(Protocol):
    name: str
    description: str

    def check(self, parsed: Parsed, facts: Facts) -> Verdict | None: ...


def _refused(check: Check, detail: str) -> Verdict:
    return Verdict(Kind.REFUSED, f"{check.name}: {detail}")


class Bounced:
    name = "bounced"
    description = (
        "a bounce of one of our mails, named by our signed VERP envelope sender or the DSN's original "
        "Message-ID: the outbox row becomes bounced (a forged DSN names nothing and stays ignored)"
    )

    def check(self, parsed: Parsed, facts: Facts) -> Verdict | None:
        b = facts.bounce
        if b is None:
            return None
        status = " ".join(filter(None, (b.status, b.diagnostic))) or "no status given"
        return Verdict(Kind.BOUNCE, f"bounce of {b.kind} #{b.outbox_id} to {b.recipient} ({b.via}): {status}")


class Automatic:
    name = "automatic"
    description = "bounces, auto-replies, list mail and our own mail (rules.py) are recorded, never answered"

    def check(self, parsed: Parsed, facts: Facts) -> Verdict | None:
        reason = automatic_reason(parsed, facts.own_addresses)
        return Verdict(Kind.AUTOMATIC, reason) if reason else None


class NoSender:
    name = "no-sender"
    description = "no usable From address: nobody to register a case for"

    def check(self, parsed: Parsed, facts: Facts) -> Verdict | None:
        reason = NO_SENDER.check(parsed)
        return Verdict(Kind.NO_SENDER, reason) if reason else None


class TokenFlood:
    name = "token-flood"
    description = "more of our reply addresses among the recipients than any reply carries: guessing tokens"

    def check(self, parsed: Parsed, facts: Facts) -> Verdict | None:
        return _refused(self, facts.token_flood) if facts.token_flood else None


class ForgedToken:
    name = "forged-token"
    description = "a token that looks like ours but does not verify, and no valid one beside it"

    def check(self, parsed: Parsed, facts: Facts) -> Verdict | None:
        ref = facts.reference
        if facts.forged_token is None or (ref is not None and ref.signed):
            return None
        # A consumer writing about their own case keeps the subject tag: that is enough for a follow-up.
        if ref is not None and facts.case is not None and parsed.from_addr == facts.case.requester:
            return None
        return _refused(self, f"{facts.forged_token} does not verify (altered, or signed with an old secret)")


class SignedReply:
    name = "signed-reply"
    description = (
        "a verified token names the case: the requester's mail is a follow-up; a participant's or staff "
        "member's is a staff reply, if the token came in mail sent to staff; anyone else is refused"
    )

    def check(self, parsed: Parsed, facts: Facts) -> Verdict | None:
        ref = facts.reference
        if ref is None or not ref.signed:
            return None
        case, sender = facts.case, parsed.from_addr
        if case is None:
            return _refused(self, f"{ref.via} names case {ref.number}, which does not exist")
        role = facts.role_of(sender)
        if sender == case.requester and (role is None or not ref.staff_token):
            return _followup(parsed, f"follow-up to {case.number} by its requester ({ref.via})")
        if role is not None:
            if not ref.staff_token:
                return _refused(self, f"{role} {sender} used {ref.via}, a token from mail to the consumer")
            return Verdict(REPLY_KINDS[role], f"{role} reply on {case.number} from {sender} ({ref.via})")
        return _refused(self, f"{ref.via} for {case.number} used by {sender}, not a participant of the case")


class SubjectHint:
    name = "subject-hint"
    description = (
        "an unsigned [CASE] in the subject: a follow-up when the sender is the case's requester; staff "
        "must use a signed token (a forward still registers); anyone else writes a new case"
    )

    def check(self, parsed: Parsed, facts: Facts) -> Verdict | None:
        ref, case = facts.reference, facts.case
        if ref is None or ref.signed:
            return None
        if case is not None and parsed.from_addr == case.requester:
            return _followup(parsed, f"follow-up to {case.number} by its requester ({ref.via}, unsigned)")
        if facts.staff.is_staff(parsed.from_addr) and facts.forwarded is None:
            return _refused(
                self, f"staff mail from {parsed.from_addr} names {ref.via} without a signed token"
            )
        return None


class Spam:
    name = "spam"
    description = (
        "the mail server's spam filter or our own server's authentication results say spam or a forged "
        "sender: no notice (backscatter), no forward; counted in the digest, released by the head"
    )

    def check(self, parsed: Parsed, facts: Facts) -> Verdict | None:
        return Verdict(Kind.SPAM, f"{self.name}: {facts.spam}") if facts.spam else None


class StaffMail:
    name = "staff-mail"
    description = (
        "a staff address without a case token: a forward of a consumer's mail is registered for that "
        "consumer (4.3.10); anything else is refused, since a From: header alone proves nothing"
    )

    def check(self, parsed: Parsed, facts: Facts) -> Verdict | None:
        if not facts.staff.is_staff(parsed.from_addr):
            return None
        if facts.forwarded is not None:
            return _forwarded_in(parsed, facts, facts.forwarded)
        if facts.forward_kept is not None:
            return Verdict(Kind.NEW_CASE, f"forward kept as the sender's own case: {facts.forward_kept}")
        return _refused(
            self, f"mail from staff address {parsed.from_addr} without a case token, not a forward"
        )


class EmployeeForward:
    name = "employee-forward"
    description = (
        "a forward from any address in the organizations' domains is registered for the consumer inside "
        "(4.3.10), forwards of forwards unwrapped; mail from outside the domains is never unwrapped"
    )

    def check(self, parsed: Parsed, facts: Facts) -> Verdict | None:
        return _forwarded_in(parsed, facts, facts.forwarded) if facts.forwarded is not None else None


def _forwarded_in(parsed: Parsed, facts: Facts, original: Forwarded) -> Verdict:
    chain = " via ".join(facts.forwarders[1:])
    via = f" via {chain}" if chain else ""
    return Verdict(
        Kind.FORWARDED_IN,
        f"forwarded in by {parsed.from_addr}{via} ({original.how}): original sender {original.sender}",
    )


class WebForm:
    name = "web-form"
    description = "mail from a configured web-form sender: the case is the consumer's it names"

    def check(self, parsed: Parsed, facts: Facts) -> Verdict | None:
        if parsed.from_addr not in facts.webform_senders:
            return None
        if facts.webform is None:
            return Verdict(
                Kind.NO_SENDER, f"web-form mail from {parsed.from_addr} without the consumer's address"
            )
        return Verdict(Kind.WEBFORM, f"web form {parsed.from_addr} for {facts.webform[0]}")


class ReportReply:
    name = "report-reply"
    description = (
        "a signed reference to the monthly report: the head's reply decides its publication (4.3.11); "
        "anyone else's is refused"
    )

    def check(self, parsed: Parsed, facts: Facts) -> Verdict | None:
        if facts.report_period is None:
            return None
        if facts.staff.role_of(parsed.from_addr) == "head":
            return Verdict(Kind.REPORT_REPLY, f"head's reply to the report for {facts.report_period}")
        return _refused(self, f"{parsed.from_addr} replied to the report for {facts.report_period}")


CHECKS: tuple[Check, ...] = (
    Bounced(),
    Automatic(),
    NoSender(),
    TokenFlood(),
    ForgedToken(),
    ReportReply(),
    SignedReply(),
    SubjectHint(),
    Spam(),
    StaffMail(),
    EmployeeForward(),
    WebForm(),
)


def _followup(parsed: Parsed, reason: str) -> Verdict:
    # Commands are for staff: a consumer's "#close" is refused, not filed as a follow-up.
    if starts_with_command(strip_reply(parsed.text)):
        return Verdict(Kind.REFUSED, f"consumer-command: the requester {parsed.from_addr} sent a command")
    return Verdict(Kind.FOLLOWUP, reason)


def classify(parsed: Parsed, facts: Facts) -> Verdict:
    """Name the kind of an incoming message; the reason is what the message row stores."""
    for check in CHECKS:
        verdict = check.check(parsed, facts)
        if verdict is not None:
            return verdict
    return Verdict(Kind.NEW_CASE, "new consumer mail")
