"""A batch of fetched mail -> stored, classified, decided and applied; returns what became of each message.

Two transactions per batch: the raw bytes are committed first (nothing is lost if a later stage crashes),
then the decisions of the whole batch commit together, outbox mail included.  A batch that trips a bug is
decided again a message at a time, each in a savepoint, so that only the culprit is quarantined.  A message
whose earlier processing never finished (the daemon died meanwhile) is a suspect: it goes alone, its attempt
counted before it starts, so that a kill -9 in a batch does not count against the other 99 of it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from mailrobot.casework.applier import Applied, Applier
from mailrobot.config import Settings
from mailrobot.jobs.suggestions import Suggestions, summarize_case
from mailrobot.mail.bigparts import parse_big
from mailrobot.mail.identity import content_fingerprint, dedup_key
from mailrobot.mail.parse import Parsed, Unparseable
from mailrobot.mail.render import Renderer
from mailrobot.regulation.classify import Facts, Verdict, classify
from mailrobot.regulation.decide import Effect, Policy, QueueNotice, RegisterCase, decide
from mailrobot.regulation.routing import Routing
from mailrobot.regulation.states import EventKind, MessageStatus
from mailrobot.regulation.workdays import WorkCalendar
from mailrobot.store.bulk import SharedBatch, write_batch
from mailrobot.store.db import Database
from mailrobot.store.lookup import BatchCases, Lookup
from mailrobot.store.models import Event, MailboxState, Message, utcnow
from mailrobot.store.numbering import CaseNumbers
from mailrobot.store.queue import count_case, count_notice, notice_counts

log = logging.getLogger(__name__)

# Deaths in a message's processing before it is quarantined (kept, reported, releasable).  Not 3: kills soon
# after each start hit the first mail processed again and again (the kill -9 drill under load, once).
MAX_ATTEMPTS = 5
__all__ = ["Fetched", "Intake", "Outcome", "ReleaseRefused", "dedup_key"]  # dedup_key: mail.identity's


@dataclass(frozen=True)
class Fetched:
    uid: int
    raw: bytes
    arrived: datetime | None = None  # IMAP INTERNALDATE: when the mail reached the mailbox (aware UTC)


class ReleaseRefused(Exception):
    """`mailrobot messages release` has nothing to do: no such message, not spam, or its bytes are gone."""


@dataclass(frozen=True)
class Outcome:
    uid: int
    status: str  # case | ignored | quarantined | duplicate | replay
    reason: str
    case_number: str | None = None
    message_id: str | None = None


class Intake:
    """Turns fetched mail into message rows, cases and outbox mail."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        calendar: WorkCalendar,
        renderer: Renderer,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.settings = settings
        # Summaries of answered cases, and the most similar of them in each forward (issue 12 item 8).
        self.suggestions = Suggestions()
        self.renderer = renderer
        self.applier = Applier(settings, calendar, renderer, summarize_case, self.suggestions)
        self.clock = clock
        self.policy = Policy(
            default_language=settings.robot.default_language,
            notices_per_sender_per_day=settings.robot.notices_per_sender_per_day,
            notices_per_domain_per_hour=settings.robot.notices_per_domain_per_hour,
            forwards_per_sender_per_hour=settings.routing.forwards_per_sender_per_hour,
            routing=Routing.from_settings(settings),
            max_commands_per_mail=settings.routing.max_commands_per_mail,
        )
        self.lookup = Lookup(settings, calendar)
        # Per batch, by id() of the row: why a Message-ID seen before is still a new message.
        self._reused: dict[int, str] = {}
        self._no_arrival: set[int] = set()
        self.own_addresses = frozenset({settings.smtp.from_address, settings.imap.username.lower()})
        self.keep_headers = (settings.spam.score_header,) if settings.spam.score_header else ()

    def process(self, mailbox: str, uidvalidity: int | None, batch: Sequence[Fetched]) -> list[Outcome]:
        """Store, decide and apply a batch; every fetched message gets exactly one outcome."""
        if not batch:
            return []
        sync = (mailbox, uidvalidity, max(f.uid for f in batch))
        # Each template is looked up once a batch (Renderer.batch), not on every mail.
        with self.db.sessions() as session, self.renderer.batch():
            with session.begin():
                pending, suspects, outcomes = self._store(session, mailbox, uidvalidity, batch)
            for row, raw in suspects:  # alone, the attempt committed first: a death now is this one's
                with session.begin():
                    row.attempts += 1
                outcomes += self._decide_group(session, [(row, raw)], None)
            outcomes += self._decide_group(session, pending, sync)
        return sorted(outcomes, key=lambda o: o.uid)

    def _decide_group(
        self, session: Session, group: list[tuple[Message, bytes]], sync: tuple[str, int | None, int] | None
    ) -> list[Outcome]:
        """Decide and apply in one transaction (and remember how far the mailbox is read, with `sync`)."""
        parsed = [(row, self._parse(row, raw)) for row, raw in group]
        try:
            # Fast path: the whole group in one flush.  A message that trips a bug fails it...
            with session.begin():
                decided = self._decide_all(session, parsed, isolate=False)
                if sync:
                    self._remember_sync(session, *sync)
        except DBAPIError:
            raise  # the database is unwell: let the daemon retry the batch later
        except Exception:
            # ...and is then retried message by message, each in a savepoint, to find the culprit.
            log.warning("batch of %s failed; retrying message by message", len(group), exc_info=True)
            with session.begin():
                decided = self._decide_all(session, parsed, isolate=True)
                if sync:
                    self._remember_sync(session, *sync)
        return decided

    def _store(
        self, session: Session, mailbox: str, uidvalidity: int | None, batch: Sequence[Fetched]
    ) -> tuple[list[tuple[Message, bytes]], list[tuple[Message, bytes]], list[Outcome]]:
        """New rows (attempt 1, committed with them), suspects (stored before, never finished), outcomes."""
        keys = {f.uid: dedup_key(f.raw) for f in batch}
        known: dict[str, list[Message]] = {}
        query = select(Message).where(Message.dedup_key.in_(set(keys.values()))).order_by(Message.id)
        for m in session.scalars(query):
            known.setdefault(m.dedup_key or "", []).append(m)
        pending: list[tuple[Message, bytes]] = []
        suspects: list[tuple[Message, bytes]] = []
        outcomes: list[Outcome] = []
        now = self.clock()
        self._reused.clear()
        self._no_arrival.clear()
        for fetched in batch:
            key, fingerprint = keys[fetched.uid], content_fingerprint(fetched.raw)
            rows = known.setdefault(key, [])
            place = (mailbox, uidvalidity, fetched.uid)
            here = next((r for r in rows if (r.mailbox, r.uidvalidity, r.uid) == place), None)
            same = next((r for r in rows if _fingerprint(r) == fingerprint), None)
            if here is not None:  # the same mailbox message again: a crash came before the move
                outcomes.extend(self._replay(here, fetched, suspects))
            elif same is None:
                row = self._new_row(fetched, mailbox, uidvalidity, now, key, status=MessageStatus.RECEIVED)
                row.fingerprint, row.attempts = fingerprint, 1
                session.add(row)
                if fetched.arrived is None:
                    self._no_arrival.add(id(row))
                if rows:
                    # Web forms and broken clients reuse a Message-ID for other mail: a message of its own.
                    session.flush()
                    self._reused[id(row)] = f"Message-ID reused: other content than message #{rows[0].id}"
                    log.info("message %s (uid %s) reuses a Message-ID with other content", key, fetched.uid)
                rows.append(row)
                pending.append((row, fetched.raw))
            else:
                session.flush()
                row = self._new_row(fetched, mailbox, uidvalidity, now, None, status=MessageStatus.DUPLICATE)
                row.reason = f"duplicate of message #{same.id} ({key}, same content)"
                row.duplicate_of_id, row.case_id = same.id, same.case_id
                session.add(row)
                outcomes.append(Outcome(fetched.uid, MessageStatus.DUPLICATE, row.reason, None, key))
                log.info(
                    "message %s seen again (uid %s): recorded as duplicate of #%s", key, fetched.uid, same.id
                )
        write_batch(session)  # its new rows in one INSERT a table
        return pending, suspects, outcomes

    def _notes(self, session: Session, row: Message, effects: list[Effect], now: datetime) -> None:
        """What the timeline of a case this message registered must say about the message itself."""
        reused = self._reused.get(id(row))
        if reused:
            row.reason = f"{row.reason}; {reused}"[:2000]
        if row.case is None or not any(isinstance(e, RegisterCase) for e in effects):
            return
        if reused:
            session.add(
                Event(case=row.case, at=now, kind=EventKind.MESSAGE_ID_REUSED, detail=reused, message=row)
            )
        if id(row) in self._no_arrival:
            detail = (
                "the mail server gave no arrival time (INTERNALDATE): the deadline counts from processing"
            )
            session.add(
                Event(case=row.case, at=now, kind=EventKind.ARRIVAL_UNKNOWN, detail=detail, message=row)
            )

    @staticmethod
    def _replay(first: Message, fetched: Fetched, suspects: list[tuple[Message, bytes]]) -> list[Outcome]:
        """The same mailbox message again: a crash came between commit and move, or during processing."""
        if first.status == MessageStatus.RECEIVED:
            suspects.append((first, fetched.raw))
            return []
        log.info("message uid %s already processed as %s; moving it on", fetched.uid, first.status)
        reason = f"already processed: {first.status}"
        return [Outcome(fetched.uid, MessageStatus.REPLAY, reason, None, first.message_id)]

    @staticmethod
    def _new_row(
        fetched: Fetched, mailbox: str, uidvalidity: int | None, now: datetime, key: str | None, status: str
    ) -> Message:
        return Message(
            dedup_key=key,
            mailbox=mailbox,
            uidvalidity=uidvalidity,
            uid=fetched.uid,
            # When the mail reached the mailbox (the deadline counts from then), never later than now.
            received_at=min(fetched.arrived, now) if fetched.arrived else now,
            size=len(fetched.raw),
            sha256=hashlib.sha256(fetched.raw).hexdigest(),
            raw=fetched.raw,
            status=status,
            reason="",
            attempts=0,
        )

    def _parse(self, row: Message, raw: bytes) -> Parsed | str:
        """The parsed message, or the reason it is quarantined without a decision."""
        if row.attempts > MAX_ATTEMPTS:
            return f"processing did not finish in {MAX_ATTEMPTS} attempts"
        try:
            # Big base64 parts are set aside while the MIME structure is parsed (mail.bigparts): a 25 MB
            # scan costs its decoded size once, not ten times its encoded size.
            return parse_big(raw, self.settings.robot.max_attachment_bytes, self.keep_headers)
        except Unparseable as exc:
            return f"unparseable: {exc}"
        except Exception as exc:  # a parser bug must not block the mailbox either
            log.exception("message #%s (uid %s): the parser failed", row.id, row.uid)
            return f"internal error in parse: {type(exc).__name__}: {exc}"[:2000]

    def _decide_all(
        self, session: Session, batch: list[tuple[Message, Parsed | str]], isolate: bool
    ) -> list[Outcome]:
        now = self.clock()
        senders = {p.from_addr for _row, p in batch if isinstance(p, Parsed) and p.from_addr}
        shared = SharedBatch(notice_counts(session, senders, now), BatchCases(), CaseNumbers())
        shared.cases.load(session, senders)
        outcomes = []
        for row, parsed in batch:
            if isolate:
                applied = self._decide_isolated(session, row, parsed, shared, now)
            else:
                applied = self._decide_one(session, row, parsed, shared, now)
            if applied.status == MessageStatus.QUARANTINED:
                log.warning("message #%s (uid %s) quarantined: %s", row.id, row.uid, applied.reason)
            outcomes.append(
                Outcome(row.uid or 0, applied.status, applied.reason, applied.case_number, row.message_id)
            )
        shared.numbers.write(session)
        return outcomes

    def _decide_isolated(
        self,
        session: Session,
        row: Message,
        parsed: Parsed | str,
        shared: SharedBatch,
        now: datetime,
    ) -> Applied:
        savepoint = session.begin_nested()
        try:
            applied = self._decide_one(session, row, parsed, shared, now)
            shared.numbers.write(session)
            savepoint.commit()
            return applied
        except DBAPIError:
            raise
        except Exception as exc:  # a bug must not block the mailbox: quarantine and go on
            savepoint.rollback()
            shared.numbers.forget()
            log.exception("message #%s (uid %s) failed; quarantined", row.id, row.uid)
            applied = Applied("quarantined", f"internal error: {type(exc).__name__}: {exc}"[:2000])
            row.status, row.reason, row.case_id = applied.status, applied.reason, None
            return applied

    def _decide_one(
        self,
        session: Session,
        row: Message,
        parsed: Parsed | str,
        shared: SharedBatch,
        now: datetime,
    ) -> Applied:
        if isinstance(parsed, str):
            return self._quarantine(row, parsed)
        row.message_id, row.sender, row.subject = (
            parsed.message_id,
            parsed.from_addr[:320],
            parsed.subject[:500],
        )
        _verdict, effects = self.decision(session, parsed, now, shared.notices, cases=shared.cases)
        applied = self.applier.apply(session, row, parsed, effects, now, shared.numbers)
        self._notes(session, row, effects, now)
        applied.reason = row.reason
        if any(isinstance(e, QueueNotice) for e in effects):
            # The notice goes to the requester: for a forward or a web form, not the sender.
            to = next((e.requester for e in effects if isinstance(e, RegisterCase)), parsed.from_addr)
            count_notice(shared.notices, to)
        for register in (e for e in effects if isinstance(e, RegisterCase)):
            count_case(shared.notices, register.requester)
            if row.case is not None:
                shared.cases.made(row.case)
        if applied.status == MessageStatus.IGNORED:
            log.info("message <%s> from %s ignored: %s", parsed.message_id, parsed.from_addr, applied.reason)
        return applied

    def decision(
        self,
        session: Session,
        parsed: Parsed,
        now: datetime,
        notices_today: dict[str, int],
        released: bool = False,
        cases: BatchCases | None = None,
    ) -> tuple[Verdict, list[Effect]]:
        """What the robot decides for this mail, from what the database knows now (nothing applied):
        the one path for the daemon and for `mailrobot routes test`; `released`: the head said it is not
        spam, whatever the filter said; `cases`: the batch's open cases of its requesters."""
        base = Facts(self.own_addresses)
        facts = self.lookup.facts(session, parsed, base, now, notices_today, cases)
        if released:
            facts = replace(facts, spam=None)
        verdict = classify(parsed, facts)
        return verdict, decide(verdict, parsed, facts, self.policy)

    def release(self, row_id: int) -> Outcome:
        """A mail filed as spam, decided again as if the filter had not said so (`mailrobot messages
        release`): it becomes a case (or whatever else it is) with its notice and forward; its deadline
        counts from its arrival.  Raises ReleaseRefused when there is nothing to release."""
        with self.db.sessions() as session, session.begin():
            row = session.get(Message, row_id)
            if row is None:
                raise ReleaseRefused(f"no message #{row_id}")
            if row.status != MessageStatus.SPAM:
                raise ReleaseRefused(f"message #{row_id} is {row.status}, not spam: nothing to release")
            if row.raw is None:
                raise ReleaseRefused(f"message #{row_id}: its raw bytes were purged (retention)")
            was = row.reason
            parsed = self._parse(row, row.raw)
            if isinstance(parsed, str):
                raise ReleaseRefused(f"message #{row_id} cannot be read again: {parsed}")
            now = self.clock()
            notices = notice_counts(session, {parsed.from_addr}, now)
            _verdict, effects = self.decision(session, parsed, now, notices, released=True)
            applied = self.applier.apply(session, row, parsed, effects, now)
            row.reason = f"{row.reason}; released from spam ({was})"[:2000]
            if row.case is not None:
                detail = f"released from spam by an admin; the filter had said: {was}"
                session.add(Event(case=row.case, at=now, kind=EventKind.RELEASED, detail=detail, message=row))
            log.info("message #%s released from spam: %s", row_id, applied.status)
            return Outcome(row.uid or 0, applied.status, row.reason, applied.case_number, row.message_id)

    @staticmethod
    def _quarantine(row: Message, reason: str) -> Applied:
        row.status, row.reason = MessageStatus.QUARANTINED, reason
        return Applied("quarantined", reason)

    def _remember_sync(self, session: Session, mailbox: str, uidvalidity: int | None, last_uid: int) -> None:
        write_batch(session)  # the batch's rows of one table in one INSERT (store.bulk)
        state = session.get(MailboxState, mailbox)
        if state is None:
            state = MailboxState(mailbox=mailbox, last_uid=0)
            session.add(state)
        if state.uidvalidity != uidvalidity:
            state.last_uid = 0
        state.uidvalidity, state.synced_at = uidvalidity, self.clock()
        state.last_uid = max(state.last_uid or 0, last_uid)


def _fingerprint(row: Message) -> str | None:
    """A stored message's content fingerprint, computed (and kept) for a row stored before it existed."""
    if row.fingerprint is None and row.raw is not None:
        row.fingerprint = content_fingerprint(row.raw)
    return row.fingerprint
