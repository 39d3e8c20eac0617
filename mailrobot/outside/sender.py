"""The outbox sender: drains pending mail over SMTP with retry and backoff.

A row is marked sent only after the server accepted it; a crash in between resends the same bytes with the
same Message-ID, the worst the crash rule allows.  So that a kill -9 resends at most what was in flight, each
acceptance is written at once to the sent journal (outside/sent_journal.py) and the batch recorded after; on
PostgreSQL without a journal directory each row is claimed, sent and recorded in a transaction of its own
(bench/drills/kill9.py).
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from mailrobot.config import SmtpSettings
from mailrobot.mail.tokens import Secrets, bounce_address
from mailrobot.outside.oauth import TokenError, token_source, with_fresh_token, xoauth2
from mailrobot.outside.probe import Failure, ProbeFailed, describe
from mailrobot.outside.sent_journal import SentJournal, postgresql_journal, sent_journal_path
from mailrobot.regulation.states import OutboxState, mail_event
from mailrobot.store.db import Database
from mailrobot.store.models import Event, Outbox, utcnow
from mailrobot.store.queue import CONFIGURATION_REFUSED, expired, retry_delay

log = logging.getLogger(__name__)


class PermanentFailure(Exception):
    """The server refused this mail or recipient for good (5xx to RCPT TO or DATA): retrying will not help."""


class TemporaryFailure(Exception):
    """Worth another attempt later: the mail is fine, the server (or our settings for it) is not."""

    def __init__(self, message: str, configuration: bool = False) -> None:
        super().__init__(CONFIGURATION_REFUSED + message if configuration else message)
        self.configuration = configuration


class SmtpConnection:
    """One kept-open SMTP connection, reopened when the server drops it."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self.client: smtplib.SMTP | None = None

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self.settings.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def open(self) -> smtplib.SMTP:
        """A connected client, logged in with the password or (auth = "oauth2") with AUTH XOAUTH2."""
        if self.settings.auth == "oauth2":
            return with_fresh_token(
                token_source(self.settings),
                self._open,
                lambda exc: isinstance(exc, smtplib.SMTPAuthenticationError),
            )
        return self._open(None)

    def _open(self, token: str | None) -> smtplib.SMTP:
        s = self.settings
        client: smtplib.SMTP
        if s.security == "ssl":
            client = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=self._context())
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            if s.security == "starttls":
                client.starttls(context=self._context())
            if token is not None:
                client.ehlo_or_helo_if_needed()
                initial = xoauth2(s.username or "", token)
                # A refused token comes back as a 334 challenge carrying a JSON error; the empty answer
                # makes the server finish with 535, which smtplib raises as SMTPAuthenticationError.
                client.auth("XOAUTH2", lambda challenge=None: initial if challenge is None else "")
            elif s.username:
                client.login(s.username, s.password or "")
        except Exception:
            with contextlib.suppress(Exception):
                client.close()
            raise
        return client

    def send(self, mail_from: str, recipient: str, raw: bytes) -> None:
        """Hand one mail to the server; raises PermanentFailure or TemporaryFailure (never anything else)."""
        for attempt in (1, 2):
            fresh = self.client is None
            try:
                if self.client is None:
                    self.client = self.open()
                refused = self.client.sendmail(mail_from, [recipient], raw)
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = exc.recipients.get(recipient, (550, b"refused"))
                raise _reply_failure("RCPT TO", code, text) from None
            except smtplib.SMTPDataError as exc:
                self.close()
                raise _reply_failure("DATA", exc.smtp_code, exc.smtp_error) from None
            except (smtplib.SMTPSenderRefused, smtplib.SMTPAuthenticationError) as exc:
                self.close()
                step = "MAIL FROM" if isinstance(exc, smtplib.SMTPSenderRefused) else "AUTH"
                raise TemporaryFailure(f"{step}: {_reply(exc.smtp_code, exc.smtp_error)}", True) from None
            except smtplib.SMTPResponseException as exc:
                self.close()
                raise TemporaryFailure(_reply(exc.smtp_code, exc.smtp_error)) from None
            except (smtplib.SMTPServerDisconnected, OSError) as exc:  # OSError: refused, timeout, TLS
                self.close()
                if attempt == 2 or fresh:
                    raise TemporaryFailure(f"{type(exc).__name__}: {exc}") from None
                continue  # the kept-open connection may have been closed by the server while idle
            except smtplib.SMTPException as exc:
                self.close()
                raise TemporaryFailure(f"{type(exc).__name__}: {exc}") from None
            if refused:
                code, text = refused[recipient]
                raise _reply_failure("RCPT TO", code, text)
            return

    def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self.client.quit()
            self.client = None


def _reply(code: int, text: bytes | str) -> str:
    return f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"


def _reply_failure(step: str, code: int, text: bytes | str) -> Exception:
    """A reply to RCPT TO or DATA: 5xx refuses this mail for good, anything else is worth a retry."""
    message = f"{step}: {_reply(code, text)}"
    return PermanentFailure(message) if 500 <= code < 600 else TemporaryFailure(message)


def probe_login(settings: SmtpSettings) -> None:
    """Connect and log in as the sender would, send nothing; raises ProbeFailed (for `doctor`)."""
    try:
        client = SmtpConnection(settings).open()
    except smtplib.SMTPAuthenticationError as exc:
        raise ProbeFailed(Failure.REFUSED, f"{exc.smtp_code} {describe(exc.smtp_error)}") from None
    except TokenError as exc:
        raise ProbeFailed(Failure.TOKEN, str(exc)) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise ProbeFailed(Failure.NETWORK, describe(exc)) from None
    with contextlib.suppress(OSError, smtplib.SMTPException):
        client.quit()


def backlog(db: Database) -> int:
    """Mails waiting in the outbox (due or not)."""
    with db.sessions() as session, session.begin():
        pending = select(func.count()).select_from(Outbox).where(Outbox.state == OutboxState.PENDING)
        return session.scalar(pending) or 0


# A PostgreSQL batch shares one claim, record and commit.  Sender CPU for 1,000 mails over 4 connections: a
# row a transaction 1.8-2.3 s, batches of 4: 0.7-1.0, 16: 0.41-0.46, 32: 0.32-0.42, 200: 0.29-0.30.  Not more:
# a takeover by the other host, which cannot read this host's journal, resends what left of the batch.
BATCH_PER_CONNECTION = 8


@dataclass(frozen=True)
class Result:
    outbox_id: int
    error: str | None
    permanent: bool = False


class OutboxSender:
    """Sends due outbox rows over a few kept-open connections and records each attempt."""

    def __init__(
        self,
        db: Database,
        settings: SmtpSettings,
        clock: Callable[[], datetime] = utcnow,
        secret: Secrets | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.secret = secret  # signs the VERP envelope sender (smtp.verp); None: the plain from_address
        self._local = threading.local()
        self._connections: list[SmtpConnection] = []
        self._lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=settings.connections, thread_name_prefix="smtp")
        # Set on shutdown: sends in flight finish and are recorded, the rest of the batch waits for the next
        # start (not counted as an attempt), so SIGTERM is quick and loses no record of a send.
        self.stopping = threading.Event()
        path = sent_journal_path(db)
        self.journal = SentJournal(path) if path is not None else None
        self._recovered = self.journal is None
        self._chosen = db.is_sqlite  # PostgreSQL: journal or not is chosen at the first round
        self.progress: Callable[[], None] = lambda: None  # at each attempt (the sender process's heartbeat)

    @property
    def batch(self) -> int:
        return BATCH_PER_CONNECTION * self.settings.connections

    def _recover(self) -> None:
        """Rows a killed sender had handed over but not recorded: sent, not to be sent again."""
        self._recovered = True
        assert self.journal is not None
        ids = self.journal.ids()
        if not ids:
            return
        with self.db.transaction() as session:
            # PostgreSQL waits for a row still claimed (nothing on SQLite): by our dying session, or by the
            # other host sending it again; skipping it would empty the journal and send it once more.
            pending = session.scalars(
                select(Outbox.id)
                .where(Outbox.id.in_(ids), Outbox.state == OutboxState.PENDING)
                .with_for_update(key_share=True)
            ).all()
            if pending:
                log.info("%s mail(s) had left before the last stop; recorded as sent", len(pending))
                self._record(session, [Result(i, None) for i in pending])
        self.journal.recorded()

    def _connection(self) -> SmtpConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = SmtpConnection(self.settings)
            with self._lock:
                self._connections.append(conn)
        return conn

    def envelope_sender(self, outbox_id: int) -> str:
        """MAIL FROM of one outbox row: feedback+b.<id>.<token>@… (VERP), so that its bounce names it; the
        mailbox itself with smtp.verp = false (providers that refuse any other sender)."""
        if self.settings.verp and self.secret:
            return bounce_address(self.secret, self.settings.from_address, outbox_id)
        return self.settings.from_address

    def _send_one(self, outbox_id: int, recipient: str, raw: bytes) -> Result:
        self.progress()
        try:
            self._connection().send(self.envelope_sender(outbox_id), recipient, raw)
        except PermanentFailure as exc:
            return Result(outbox_id, str(exc), permanent=True)
        except TemporaryFailure as exc:
            return Result(outbox_id, str(exc))
        except Exception as exc:  # a bug or an unexpected library error: never lose the row over it
            log.exception("sending outbox row %s raised", outbox_id)
            return Result(outbox_id, f"{type(exc).__name__}: {exc}")
        if self.journal is not None:
            self.journal.accepted(outbox_id)
        return Result(outbox_id, None)

    def _due(self, limit: int, *columns: Any) -> Select[Any]:
        return (
            select(*columns)
            .where(Outbox.state == OutboxState.PENDING, Outbox.next_attempt_at <= self.clock())
            .order_by(Outbox.next_attempt_at, Outbox.id)
            .limit(limit)
        )

    def due(self, session: Session, limit: int, claim: bool = False) -> list[tuple[int, str, bytes]]:
        query = self._due(limit, Outbox.id, Outbox.recipient, Outbox.raw)
        if claim:
            # NO KEY UPDATE, not UPDATE: an event row that references an outbox row (a foreign key takes
            # KEY SHARE) must not wait for a send.  SKIP LOCKED: a second sender takes other rows or none.
            query = query.with_for_update(skip_locked=True, key_share=True)
        return [(r.id, r.recipient, r.raw) for r in session.execute(query).all()]

    def drain_once(self, limit: int = 200) -> tuple[int, int]:
        """Send up to `limit` due mails; returns (sent, failed attempts)."""
        if self.db.is_sqlite:
            # SQLite has one write lock for the whole database: never hold it while talking SMTP.  Only one
            # daemon runs on a SQLite file (leader.py), so no one else sends these rows meanwhile.
            if not self._recovered:
                self._recover()
            with self.db.transaction() as session:
                batch = self.due(session, limit)
            results = self._send_all(batch)
            if results:
                with self.db.transaction() as session:
                    self._record(session, results)
                if self.journal is not None:
                    self.journal.recorded()
        else:
            if not self._chosen:  # not before: the sender a reload replaced has closed the journal then
                self._chosen, self.journal = True, postgresql_journal(self.settings, self.db.url, self.batch)
                self._recovered = self.journal is None
            results = self._claim_batch(limit) if self.journal is not None else self._claim_each(limit)
        failed = sum(1 for r in results if r.error)
        return len(results) - failed, failed

    def _claim_batch(self, limit: int) -> list[Result]:
        """PostgreSQL with a journal: claim a batch (another sender skips it), send it, record it, commit."""
        assert self.journal is not None
        try:
            if not self._recovered:
                self._recover()
            with self.db.transaction() as session:
                # Rows locked FOR NO KEY UPDATE (see due) until the record commits.
                results = self._send_all(self.due(session, min(limit, self.batch), claim=True))
                if results:
                    self._record(session, results)
        except Exception:
            self._recovered = False  # what the journal names left: the next round records it first
            raise
        self.journal.recorded()
        return results

    def _claim_each(self, limit: int) -> list[Result]:
        """PostgreSQL without a journal: each row claimed, sent and recorded in a transaction of its own, so
        a crash loses the record of at most one send a connection (it goes again, same Message-ID)."""
        with self.db.transaction() as session:
            waiting = len(session.scalars(self._due(limit, Outbox.id)).all())  # not their bytes
        claim = self._claim_one
        results = self.pool.map(lambda _n: None if self.stopping.is_set() else claim(), range(waiting))
        return [r for r in results if r]

    def _claim_one(self) -> Result | None:
        """Claim the next due row (another sender skips it), send it and record the result, committed."""
        with self.db.transaction() as session:
            rows = self.due(session, 1, claim=True)
            if not rows:
                return None
            result = self._send_one(*rows[0])
            self._record(session, [result])
            return result

    def _send_all(self, batch: list[tuple[int, str, bytes]]) -> list[Result]:
        results = self.pool.map(lambda row: None if self.stopping.is_set() else self._send_one(*row), batch)
        return [r for r in results if r is not None]

    def drain(self) -> tuple[int, int]:
        """Send everything that is due now (mail that fails is left for its next attempt)."""
        sent = failed = 0
        while True:
            s, f = self.drain_once()
            sent, failed = sent + s, failed + f
            if s + f == 0 or s == 0 or self.stopping.is_set():
                return sent, failed

    def _record(self, session: Session, results: list[Result]) -> None:
        now = self.clock()
        rows = {
            r.id: r
            for r in session.scalars(select(Outbox).where(Outbox.id.in_([x.outbox_id for x in results])))
        }
        for result in results:
            self._record_one(session, rows[result.outbox_id], result, now)

    def _record_one(self, session: Session, row: Outbox, result: Result, now: datetime) -> None:
        row.attempts += 1
        if result.error is None:
            row.state, row.sent_at, row.last_error = OutboxState.SENT, now, None
            kind, detail = mail_event(row.kind, "sent"), f"to {row.recipient} {row.message_id}"
            log.info("%s %s sent to %s (case id %s)", row.kind, row.message_id, row.recipient, row.case_id)
        elif result.permanent or expired(self.settings, row.created_at, now):
            error = (
                result.error
                if result.permanent
                else (
                    f"still undelivered after {self.settings.max_queue_days:g} days in the queue; "
                    f"last error: {result.error}"
                )
            )
            row.state, row.last_error = OutboxState.FAILED, error
            kind, detail = mail_event(row.kind, "failed"), f"to {row.recipient}: {error}"
            log.error("%s %s to %s failed for good: %s", row.kind, row.message_id, row.recipient, error)
        else:
            delay = retry_delay(self.settings, row.attempts)
            row.next_attempt_at, row.last_error = now + delay, result.error
            log.warning(
                "%s %s to %s: attempt %s failed (%s); next at %s", row.kind, row.message_id, row.recipient,
                row.attempts, result.error, row.next_attempt_at.isoformat(),
            )  # fmt: skip
            return
        if row.case_id is not None:
            session.add(Event(case_id=row.case_id, at=now, kind=kind, outbox_id=row.id, detail=detail))

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        for conn in self._connections:
            conn.close()
        if self.journal is not None:
            self.journal.close()
