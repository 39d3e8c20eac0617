"""The outbox as rows: mail is queued in the transaction of the decision that caused it, and admins list
and retry what did not leave.  Sending is `mailrobot.outside.sender`'s job."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailrobot.config import SmtpSettings
from mailrobot.mail.addresses import without_tag
from mailrobot.mail.compose import Envelope
from mailrobot.regulation.states import MailKind, OutboxState, mail_event
from mailrobot.store.models import Case, Event, Outbox

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
# What a failed attempt's last_error starts with when the server refused our own settings (MAIL FROM or
# AUTH): retried like any temporary failure, and `doctor` fails on it, since an admin must act.
CONFIGURATION_REFUSED = "configuration refused: "


def retry_delay(settings: SmtpSettings, attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt: doubling, capped at retry_max_seconds."""
    seconds = settings.retry_base_seconds * 2 ** min(max(attempts - 1, 0), 32)
    return timedelta(seconds=min(seconds, settings.retry_max_seconds))


def expired(settings: SmtpSettings, created_at: datetime, now: datetime) -> bool:
    """True once a mail has waited in the queue longer than smtp.max_queue_days (it fails then)."""
    return now - created_at >= timedelta(days=settings.max_queue_days)


def queue_mail(
    session: Session,
    case: Case | None,
    kind: str,
    envelope: Envelope,
    raw: bytes,
    now: datetime,
    note: str = "",
) -> Outbox:
    """Put a composed mail in the outbox, with an event on the case's timeline (and `note` in its
    detail, after the recipient and Message-ID line: the text of an answer, for the reports)."""
    base, domain = notice_keys(envelope.to_address)
    mail = Outbox(
        case=case,
        kind=kind,
        recipient=envelope.to_address,
        recipient_base=base[:320],
        recipient_domain=domain[1:][:255],
        message_id=envelope.message_id,
        raw=raw,
        state=OutboxState.PENDING,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(mail)
    if case is not None:
        detail = f"to {envelope.to_address} {envelope.message_id}" + (f"\n\n{note}" if note else "")
        session.add(Event(case=case, at=now, kind=mail_event(kind, "queued"), outbox=mail, detail=detail))
    return mail


def notice_keys(address: str) -> tuple[str, str]:
    """What the notice caps count an address under: itself without its +tag (an auto-responder answering
    from helpdesk+t1@, +t2@, … is one sender), and "@domain" (robot.notices_per_domain_per_hour)."""
    base = without_tag(address)
    return base, "@" + base.rpartition("@")[2]


def notice_counts(
    session: Session, recipients: Iterable[str], now: datetime, counts: dict[str, int] | None = None
) -> dict[str, int]:
    """The notices sent (or queued) in the last 24 hours to each recipient without its +tag, and in the
    last hour to each recipient's domain, keyed as `notice_keys` names them, and the cases registered for
    each in the last hour ("case:<address>"); zeros too.  `counts` (a batch's, already filled for other
    recipients) is completed and returned."""
    counts = {} if counts is None else counts
    recipients = list(recipients)
    _registration_counts(session, recipients, now, counts)
    keys = [notice_keys(r) for r in recipients]
    bases = {b for b, _d in keys if b not in counts}
    domains = {d[1:] for _b, d in keys if d not in counts}
    counts.update(dict.fromkeys(bases, 0))
    counts.update(dict.fromkeys(("@" + d for d in domains), 0))
    if bases:
        rows = session.execute(
            select(Outbox.recipient_base, func.count())
            .where(
                Outbox.kind == MailKind.NOTICE,
                Outbox.recipient_base.in_(bases),
                Outbox.created_at >= now - DAY,
            )
            .group_by(Outbox.recipient_base)
        )
        counts.update({base: n for base, n in rows if base})
    if domains:
        rows = session.execute(
            select(Outbox.recipient_domain, func.count())
            .where(
                Outbox.kind == MailKind.NOTICE,
                Outbox.recipient_domain.in_(domains),
                Outbox.created_at >= now - HOUR,
            )
            .group_by(Outbox.recipient_domain)
        )
        counts.update({"@" + domain: n for domain, n in rows if domain})
    return counts


def _registration_counts(
    session: Session, requesters: list[str], now: datetime, counts: dict[str, int]
) -> None:
    """Cases registered for each requester in the last hour, keyed "case:<address>" (routing's
    forwards_per_sender_per_hour), zeros too."""
    wanted = {r.lower() for r in requesters if "case:" + r.lower() not in counts}
    counts.update(dict.fromkeys(("case:" + r for r in wanted), 0))
    if wanted:
        rows = session.execute(
            select(Case.requester, func.count())
            .where(Case.requester.in_(wanted), Case.received_at >= now - HOUR)
            .group_by(Case.requester)
        )
        counts.update({"case:" + requester: n for requester, n in rows})


def count_case(counts: dict[str, int], requester: str) -> None:
    """One more case registered for `requester` in a batch's `notice_counts`."""
    key = "case:" + requester.lower()
    counts[key] = counts.get(key, 0) + 1


def count_notice(counts: dict[str, int], recipient: str) -> None:
    """One more notice to `recipient` in a batch's `notice_counts`."""
    for key in notice_keys(recipient):
        counts[key] = counts.get(key, 0) + 1


def notices_sent_since(session: Session, recipients: set[str], since: datetime) -> dict[str, int]:
    """How many registration notices went (or are queued) to each of `recipients` since `since`, zeros too."""
    counts = dict.fromkeys(recipients, 0)
    if not recipients:
        return counts
    rows = session.execute(
        select(Outbox.recipient, func.count())
        .where(Outbox.recipient.in_(recipients), Outbox.kind == MailKind.NOTICE, Outbox.created_at >= since)
        .group_by(Outbox.recipient)
    )
    counts.update({recipient: count for recipient, count in rows})
    return counts


# -- the queue as admins see it (`mailrobot outbox`, doctor) ------------------------------------------------


@dataclass(frozen=True)
class QueuedMail:
    id: int
    case_number: str | None
    kind: str
    recipient: str
    state: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    last_error: str | None


def list_queue(session: Session, failed_only: bool = False, limit: int = 1000) -> list[QueuedMail]:
    """Mail not sent yet (pending and failed) and mail that bounced, or only the failed and bounced,
    oldest first."""
    undelivered = (OutboxState.FAILED, OutboxState.BOUNCED)
    states = undelivered if failed_only else (OutboxState.PENDING, *undelivered)
    rows = session.execute(
        select(Outbox, Case.number)
        .outerjoin(Case, Case.id == Outbox.case_id)
        .where(Outbox.state.in_(states))
        .order_by(Outbox.id)
        .limit(limit)
    ).all()
    return [
        QueuedMail(
            id=o.id,
            case_number=number,
            kind=o.kind,
            recipient=o.recipient,
            state=o.state,
            attempts=o.attempts,
            created_at=o.created_at,
            next_attempt_at=o.next_attempt_at if o.state == OutboxState.PENDING else None,
            last_error=o.last_error,
        )
        for o, number in rows
    ]


def retry(session: Session, ids: list[int] | None, now: datetime) -> list[int]:
    """Make failed mail (the given ids, or all failed when None) due now, with a fresh queue lifetime; the
    timeline of its case says so.  Returns the ids that were failed and are pending again."""
    query = select(Outbox).where(Outbox.state == OutboxState.FAILED)
    if ids is not None:
        query = query.where(Outbox.id.in_(ids))
    rows = list(session.scalars(query))
    for row in rows:
        row.state, row.next_attempt_at, row.created_at = OutboxState.PENDING, now, now
        if row.case_id is not None:
            detail = f"to {row.recipient}, after: {row.last_error}"
            kind = mail_event(row.kind, "retried")
            session.add(Event(case_id=row.case_id, at=now, kind=kind, outbox_id=row.id, detail=detail))
    return [r.id for r in rows]


@dataclass(frozen=True)
class QueueHealth:
    pending: int
    failed: int
    oldest_pending: datetime | None
    configuration_error: str | None  # the last "MAIL FROM / AUTH refused" reply, when mail waits on it


def queue_health(session: Session) -> QueueHealth:
    pending, oldest = session.execute(
        select(func.count(Outbox.id), func.min(Outbox.created_at)).where(Outbox.state == OutboxState.PENDING)
    ).one()
    failed = session.scalar(select(func.count(Outbox.id)).where(Outbox.state == OutboxState.FAILED)) or 0
    refused = session.scalar(
        select(Outbox.last_error)
        .where(Outbox.state == OutboxState.PENDING, Outbox.last_error.startswith(CONFIGURATION_REFUSED))
        .order_by(Outbox.id.desc())
        .limit(1)
    )
    return QueueHealth(pending or 0, failed, oldest, refused)
