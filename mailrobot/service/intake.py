"""A batch of fetched mail -> stored, classified, decided and applied; returns what became of each message.

Two transactions per batch: the raw bytes are committed first (nothing is lost if a later stage crashes),
then the decisions of the whole batch commit together, outbox mail included.  Each message is decided
inside a savepoint, so one message that trips a bug is quarantined instead of failing its batch.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from mailrobot.casework.applier import Applied, Applier
from mailrobot.config import Settings
from mailrobot.mail.parse import Parsed, Unparseable, parse_message
from mailrobot.mail.render import Renderer
from mailrobot.regulation.classify import Facts, Verdict, classify
from mailrobot.regulation.decide import Effect, Policy, QueueNotice, RegisterCase, decide
from mailrobot.regulation.routing import Routing
from mailrobot.regulation.states import MessageStatus
from mailrobot.regulation.workdays import WorkCalendar
from mailrobot.store.db import Database
from mailrobot.store.lookup import Lookup
from mailrobot.store.models import MailboxState, Message, utcnow
from mailrobot.store.queue import DAY, notices_sent_since

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_MESSAGE_ID = re.compile(
    rb"^message-id:[ \t]*(?:\r?\n[ \t]+)?(<[^<>\s]{1,900}>)", re.IGNORECASE | re.MULTILINE
)


@dataclass(frozen=True)
class Fetched:
    uid: int
    raw: bytes


@dataclass(frozen=True)
class Outcome:
    uid: int
    status: str  # case | ignored | quarantined | duplicate | replay
    reason: str
    case_number: str | None = None
    message_id: str | None = None


def dedup_key(raw: bytes) -> str:
    """The message's identity: its Message-ID, or a hash of its bytes when it has none.

    Read with a regex from the header section, never the full parser: the key must exist even for mail
    that the parser cannot handle.
    """
    end = _HEADER_END.search(raw)
    header = raw[: end.start() if end else 65536]
    match = _MESSAGE_ID.search(header)
    if match:
        key = "mid:" + match.group(1).decode("ascii", "replace")
        if len(key) <= 255:
            return key
        return "mid-sha256:" + hashlib.sha256(match.group(1)).hexdigest()
    return "sha256:" + hashlib.sha256(raw).hexdigest()


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
        self.applier = Applier(settings, calendar, renderer)
        self.clock = clock
        self.policy = Policy(
            default_language=settings.robot.default_language,
            notices_per_sender_per_day=settings.robot.notices_per_sender_per_day,
            routing=Routing.from_settings(settings),
        )
        self.lookup = Lookup(settings, calendar)
        self.own_addresses = frozenset({settings.smtp.from_address, settings.imap.username.lower()})

    def process(self, mailbox: str, uidvalidity: int | None, batch: Sequence[Fetched]) -> list[Outcome]:
        """Store, decide and apply a batch; every fetched message gets exactly one outcome."""
        if not batch:
            return []
        with self.db.sessions() as session:
            with session.begin():
                pending, outcomes = self._store(session, mailbox, uidvalidity, batch)
            parsed = [(row, self._parse(row, raw)) for row, raw in pending]
            try:
                # Fast path: the whole batch in one flush.  A message that trips a bug fails it...
                with session.begin():
                    decided = self._decide_all(session, parsed, isolate=False)
                    self._remember_sync(session, mailbox, uidvalidity, max(f.uid for f in batch))
            except DBAPIError:
                raise  # the database is unwell: let the daemon retry the batch later
            except Exception:
                # ...and is then retried message by message, each in a savepoint, to find the culprit.
                log.warning("batch of %s failed; retrying message by message", len(batch), exc_info=True)
                with session.begin():
                    decided = self._decide_all(session, parsed, isolate=True)
                    self._remember_sync(session, mailbox, uidvalidity, max(f.uid for f in batch))
        return sorted(outcomes + decided, key=lambda o: o.uid)

    def _store(
        self, session: Session, mailbox: str, uidvalidity: int | None, batch: Sequence[Fetched]
    ) -> tuple[list[tuple[Message, bytes]], list[Outcome]]:
        keys = {f.uid: dedup_key(f.raw) for f in batch}
        known = {
            m.dedup_key: m
            for m in session.scalars(select(Message).where(Message.dedup_key.in_(set(keys.values()))))
        }
        pending: list[tuple[Message, bytes]] = []
        outcomes: list[Outcome] = []
        now = self.clock()
        for fetched in batch:
            key = keys[fetched.uid]
            first = known.get(key)
            if first is None:
                row = self._new_row(fetched, mailbox, uidvalidity, now, key, status=MessageStatus.RECEIVED)
                row.attempts = 1
                session.add(row)
                known[key] = row
                pending.append((row, fetched.raw))
            elif (first.mailbox, first.uidvalidity, first.uid) == (mailbox, uidvalidity, fetched.uid):
                outcomes.extend(self._replay(first, fetched, pending))
            else:
                session.flush()
                row = self._new_row(fetched, mailbox, uidvalidity, now, None, status=MessageStatus.DUPLICATE)
                row.reason = f"duplicate of message #{first.id} ({key})"
                row.duplicate_of_id, row.case_id = first.id, first.case_id
                session.add(row)
                outcomes.append(Outcome(fetched.uid, MessageStatus.DUPLICATE, row.reason, None, key))
                log.info(
                    "message %s seen again (uid %s): recorded as duplicate of #%s", key, fetched.uid, first.id
                )
        return pending, outcomes

    @staticmethod
    def _replay(first: Message, fetched: Fetched, pending: list[tuple[Message, bytes]]) -> list[Outcome]:
        """The same mailbox message again: a crash came between commit and move, or during processing."""
        if first.status == MessageStatus.RECEIVED:
            first.attempts += 1
            pending.append((first, fetched.raw))
            return []
        log.info("message uid %s already processed as %s; moving it on", fetched.uid, first.status)
        return [
            Outcome(
                fetched.uid,
                MessageStatus.REPLAY,
                f"already processed: {first.status}",
                None,
                first.message_id,
            )
        ]

    @staticmethod
    def _new_row(
        fetched: Fetched, mailbox: str, uidvalidity: int | None, now: datetime, key: str | None, status: str
    ) -> Message:
        return Message(
            dedup_key=key,
            mailbox=mailbox,
            uidvalidity=uidvalidity,
            uid=fetched.uid,
            received_at=now,
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
            return parse_message(raw, self.settings.robot.max_attachment_bytes)
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
        notices_today = notices_sent_since(session, senders, now - DAY)
        outcomes = []
        for row, parsed in batch:
            if isolate:
                applied = self._decide_isolated(session, row, parsed, notices_today, now)
            else:
                applied = self._decide_one(session, row, parsed, notices_today, now)
            if applied.status == MessageStatus.QUARANTINED:
                log.warning("message #%s (uid %s) quarantined: %s", row.id, row.uid, applied.reason)
            outcomes.append(
                Outcome(row.uid or 0, applied.status, applied.reason, applied.case_number, row.message_id)
            )
        return outcomes

    def _decide_isolated(
        self,
        session: Session,
        row: Message,
        parsed: Parsed | str,
        notices_today: dict[str, int],
        now: datetime,
    ) -> Applied:
        savepoint = session.begin_nested()
        try:
            applied = self._decide_one(session, row, parsed, notices_today, now)
            savepoint.commit()
            return applied
        except DBAPIError:
            raise
        except Exception as exc:  # a bug must not block the mailbox: quarantine and go on
            savepoint.rollback()
            log.exception("message #%s (uid %s) failed; quarantined", row.id, row.uid)
            applied = Applied("quarantined", f"internal error: {type(exc).__name__}: {exc}"[:2000])
            row.status, row.reason, row.case_id = applied.status, applied.reason, None
            return applied

    def _decide_one(
        self,
        session: Session,
        row: Message,
        parsed: Parsed | str,
        notices_today: dict[str, int],
        now: datetime,
    ) -> Applied:
        if isinstance(parsed, str):
            return self._quarantine(row, parsed)
        row.message_id, row.sender, row.subject = (
            parsed.message_id,
            parsed.from_addr[:320],
            parsed.subject[:500],
        )
        _verdict, effects = self.decision(session, parsed, now, notices_today)
        applied = self.applier.apply(session, row, parsed, effects, now)
        if any(isinstance(e, QueueNotice) for e in effects):
            # The notice goes to the requester: for a forward or a web form, not the sender.
            to = next((e.requester for e in effects if isinstance(e, RegisterCase)), parsed.from_addr)
            notices_today[to] = notices_today.get(to, 0) + 1
        if applied.status == MessageStatus.IGNORED:
            log.info("message <%s> from %s ignored: %s", parsed.message_id, parsed.from_addr, applied.reason)
        return applied

    def decision(
        self, session: Session, parsed: Parsed, now: datetime, notices_today: dict[str, int]
    ) -> tuple[Verdict, list[Effect]]:
        """What the robot decides for this mail, from what the database knows now (nothing applied):
        the one path for the daemon and for `mailrobot routes test`."""
        facts = self.lookup.facts(session, parsed, Facts(self.own_addresses), now, notices_today)
        verdict = classify(parsed, facts)
        return verdict, decide(verdict, parsed, facts, self.policy)

    @staticmethod
    def _quarantine(row: Message, reason: str) -> Applied:
        row.status, row.reason = MessageStatus.QUARANTINED, reason
        return Applied("quarantined", reason)

    def _remember_sync(self, session: Session, mailbox: str, uidvalidity: int | None, last_uid: int) -> None:
        state = session.get(MailboxState, mailbox)
        if state is None:
            state = MailboxState(mailbox=mailbox, last_uid=0)
            session.add(state)
        if state.uidvalidity != uidvalidity:
            state.last_uid = 0
        state.uidvalidity, state.synced_at = uidvalidity, self.clock()
        state.last_uid = max(state.last_uid or 0, last_uid)
