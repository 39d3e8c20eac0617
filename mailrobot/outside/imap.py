"""The mailbox source: fetches new mail in UID order, waits with IDLE (or polls), moves what was committed.

Knows nothing about cases.  A message is moved (or flagged) only after the caller says its outcome is
committed; a crash before that means the message is fetched again, which the intake recognises.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime

import imapclient
from imapclient.exceptions import IMAPClientError, LoginError

from mailrobot.config import ImapSettings
from mailrobot.outside.oauth import TokenError, token_source, with_fresh_token
from mailrobot.outside.probe import Failure, ProbeFailed, describe

log = logging.getLogger(__name__)

DONE_FLAG = b"$MailrobotDone"
# A message bigger than this is fetched in pieces of this size.  imapclient parses each piece's response with
# a few copies of it: 4 MB pieces peaked 20 MB over the buffer of a 34 MB mail, 1 MB pieces 5 MB; and a
# 200-mail backlog of 2 MB mails peaked at 191 MB batched whole, 122 MB each in pieces (bench/memory.py).
PIECE = 1024 * 1024
IDLE_SETTLE_SECONDS = 2.0


class MailboxGone(Exception):
    """The server said BYE or the connection died: reconnect."""


# What ensure_processed_folder found.
EXISTS, CREATED, MISSING = "exists", "created", "missing"


def ensure_processed_folder(client: imapclient.IMAPClient, s: ImapSettings) -> str:
    """Make sure imap.processed_folder exists (creating it when imap.create_folders allows)."""
    if not s.processed_folder or client.folder_exists(s.processed_folder):
        return EXISTS
    if not s.create_folders:
        return MISSING
    client.create_folder(s.processed_folder)
    return CREATED


class MailboxProbe:
    """The mailbox as `doctor` checks it: log in, the folders, the capabilities; raises ProbeFailed."""

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        self.client: imapclient.IMAPClient | None = None

    def login(self) -> None:
        try:
            self.client = open_client(self.settings)
        except LoginError as exc:
            raise ProbeFailed(Failure.REFUSED, describe(exc)) from None
        except TokenError as exc:
            raise ProbeFailed(Failure.TOKEN, str(exc)) from None
        except (OSError, ssl.SSLError, IMAPClientError) as exc:
            raise ProbeFailed(Failure.NETWORK, describe(exc)) from None

    def folders(self) -> tuple[bool, str]:
        """Whether imap.folder exists, and what ensure_processed_folder found (EXISTS, CREATED, MISSING)."""
        client = self._client()
        try:
            if not client.folder_exists(self.settings.folder):
                return False, MISSING
            return True, ensure_processed_folder(client, self.settings)
        except (OSError, IMAPClientError) as exc:
            raise ProbeFailed(Failure.SERVER, describe(exc)) from None

    def has(self, capability: str) -> bool:
        try:
            return bool(self._client().has_capability(capability))
        except (OSError, IMAPClientError) as exc:
            raise ProbeFailed(Failure.SERVER, describe(exc)) from None

    def _client(self) -> imapclient.IMAPClient:
        assert self.client is not None, "login() first"
        return self.client

    def close(self) -> None:
        if self.client is not None:
            _quietly_logout(self.client)
            self.client = None


class MailboxSource:
    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        self.client: imapclient.IMAPClient | None = None
        self.uidvalidity: int | None = None
        self.can_move = False
        self.can_idle = False

    @property
    def mailbox(self) -> str:
        s = self.settings
        return f"{s.username}@{s.host}:{s.port}/{s.folder}"

    def connect(self) -> None:
        """Log in, make sure the folders exist, select the feedback folder."""
        s = self.settings
        try:
            client = open_client(s)
        except LoginError as exc:
            if "[UNAVAILABLE]" in str(exc):  # RFC 5530: the server cannot log anyone in just now
                raise MailboxGone(f"login temporarily impossible: {describe(exc)}") from exc
            raise
        except IMAPClientError as exc:
            # A server that is (re)starting drops the connection or answers BYE mid-greeting: that is the
            # server going away, retried on the short backoff, not a refusal of our settings.
            raise MailboxGone(f"cannot connect: {describe(exc)}") from exc
        try:
            capabilities = client.capabilities()
            self.can_move = b"MOVE" in capabilities
            self.can_idle = s.use_idle and b"IDLE" in capabilities
            if self.can_move and ensure_processed_folder(client, s) == MISSING:
                raise MailboxGone(
                    f"IMAP folder {s.processed_folder!r} does not exist (imap.processed_folder)"
                )
            selected = client.select_folder(s.folder)
        except IMAPClientError as exc:
            _quietly_logout(client)
            raise MailboxGone(f"the server failed a command while connecting: {describe(exc)}") from exc
        except Exception:
            _quietly_logout(client)
            raise
        self.client = client
        self.uidvalidity = int(selected[b"UIDVALIDITY"])
        log.info(
            "IMAP %s selected (UIDVALIDITY %s, MOVE %s, IDLE %s)",
            self.mailbox,
            self.uidvalidity,
            self.can_move,
            self.can_idle,
        )

    def _client(self) -> imapclient.IMAPClient:
        if self.client is None:
            raise MailboxGone("not connected")
        return self.client

    def pending_uids(self) -> list[int]:
        """UIDs of the messages still to process, oldest first."""
        criteria = ["ALL"] if self.can_move else ["NOT", "KEYWORD", DONE_FLAG.decode()]
        try:
            return sorted(self._client().search(criteria))
        except (IMAPClientError, OSError) as exc:
            raise MailboxGone(str(exc)) from exc

    def sizes(self, uids: list[int]) -> dict[int, int]:
        """RFC822.SIZE of these messages (bytes, as the server counts them); a message expunged meanwhile is
        absent."""
        if not uids:
            return {}
        try:
            data = self._client().fetch(uids, [b"RFC822.SIZE"])
        except (IMAPClientError, OSError) as exc:
            raise MailboxGone(str(exc)) from exc
        return {uid: int(item.get(b"RFC822.SIZE") or 0) for uid, item in data.items()}

    def fetch(
        self, uids: Iterable[int], sizes: dict[int, int] | None = None
    ) -> list[tuple[int, bytes | bytearray, datetime | None]]:
        """Raw bytes of these messages, without setting \\Seen, and when each reached the mailbox (its
        INTERNALDATE, aware UTC; None when the server gave none).  A message over PIECE bytes (by `sizes`)
        is read in pieces into one buffer: imaplib's read of a whole literal held it 3.3 times over."""
        uids = list(uids)
        sizes = sizes or {}
        small = [uid for uid in uids if sizes.get(uid, 0) <= PIECE]
        try:
            data = self._client().fetch(small, [b"BODY.PEEK[]", b"INTERNALDATE"]) if small else {}
            found = {
                uid: (data[uid][b"BODY[]"], arrival_time(data[uid].get(b"INTERNALDATE")))
                for uid in small
                if uid in data and b"BODY[]" in data[uid]
            }
            del data
            for uid in uids:
                if uid not in found and sizes.get(uid, 0) > PIECE:
                    big = self._fetch_in_pieces(uid, sizes[uid])
                    if big is not None:
                        found[uid] = big
        except (IMAPClientError, OSError) as exc:
            raise MailboxGone(str(exc)) from exc
        # A message expunged meanwhile is simply absent; the rest come back in UID order.
        return [(uid, *found[uid]) for uid in uids if uid in found]

    def _fetch_in_pieces(self, uid: int, size: int) -> tuple[bytearray, datetime | None] | None:
        """The message read in pieces into one buffer of its announced size, handed on as it is: a copy
        into bytes would cost its size again (34 MB for a 25 MB scan) at the fetch's peak."""
        client = self._client()
        buffer, filled = bytearray(size), 0
        arrived: datetime | None = None
        while True:
            items = [b"BODY.PEEK[]<%d.%d>" % (filled, PIECE)] + ([b"INTERNALDATE"] if not filled else [])
            item = client.fetch([uid], items).get(uid)
            piece = item.get(b"BODY[]<%d>" % filled) if item else None
            if piece is None:
                del buffer[filled:]
                return None if not buffer else (buffer, arrived)  # expunged meanwhile
            if not filled:
                arrived = arrival_time(item.get(b"INTERNALDATE")) if item else None
            buffer[filled : filled + len(piece)] = piece  # grows the buffer if the server sends more
            filled += len(piece)
            if len(piece) < PIECE:
                del buffer[filled:]  # the server sent less than it announced
                return buffer, arrived

    def mark_done(self, uids: list[int]) -> None:
        """Move committed messages to the processed folder (or flag them where MOVE is missing)."""
        if not uids:
            return
        client = self._client()
        try:
            if self.can_move and self.settings.processed_folder:
                client.move(uids, self.settings.processed_folder)
            else:
                client.add_flags(uids, [DONE_FLAG, imapclient.SEEN])
        except (IMAPClientError, OSError) as exc:
            raise MailboxGone(str(exc)) from exc

    def wait(self, stop: threading.Event, timeout: float | None = None) -> None:
        """Block until the mailbox may have changed, `stop` is set, or the re-sync interval has passed."""
        limit = (
            timeout
            if timeout is not None
            else (self.settings.idle_restart if self.can_idle else self.settings.poll_interval)
        )
        if not self.can_idle:
            stop.wait(limit)
            return
        deadline = time.monotonic() + limit
        try:
            # Mail that lands in the instant between our last command and IDLE may go unannounced until the
            # server's own fallback check (Dovecot: 11-30 s, seen in tests).  So the first round is short,
            # and a NOOP after it reports whatever slipped through; then the long round.
            if self._idle_round(stop, min(deadline, time.monotonic() + IDLE_SETTLE_SECONDS)):
                return
            _text, responses = self._client().noop()
            if stop.is_set() or _mail_announced(responses):
                return
            self._idle_round(stop, deadline)
        except (TimeoutError, IMAPClientError, OSError) as exc:
            raise MailboxGone(f"IDLE failed: {exc}") from exc

    def _idle_round(self, stop: threading.Event, until: float) -> bool:
        """IDLE until `until`; True when the server announced new mail."""
        client = self._client()
        client.idle()
        announced = False
        try:
            while not stop.is_set() and time.monotonic() < until:
                responses = client.idle_check(timeout=min(1.0, max(until - time.monotonic(), 0.01)))
                if any(r and r[0] == b"BYE" for r in responses if isinstance(r, tuple)):
                    raise MailboxGone("server said BYE")
                if _mail_announced(responses):
                    announced = True
                    break
        finally:
            _text, responses = client.idle_done()
        # The server syncs the mailbox when IDLE ends: mail that slipped in just before IDLE began is often
        # announced only now, in the reply to DONE, and the NOOP after the first round would not repeat it.
        return announced or _mail_announced(responses)

    def close(self) -> None:
        if self.client is not None:
            _quietly_logout(self.client)
            self.client = None


def open_client(settings: ImapSettings) -> imapclient.IMAPClient:
    """A connected, logged-in client (password, or an OAuth2 token retried once fresh when refused)."""
    if settings.auth == "oauth2":
        return with_fresh_token(
            token_source(settings),
            lambda token: _open(settings, token),
            lambda exc: isinstance(exc, LoginError),
        )
    return _open(settings, None)


def _open(s: ImapSettings, token: str | None) -> imapclient.IMAPClient:
    context = None
    if s.security != "none":
        context = ssl.create_default_context()
        if not s.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    client = imapclient.IMAPClient(
        s.host, port=s.port, ssl=s.security == "ssl", ssl_context=context, timeout=s.timeout
    )
    try:
        if s.security == "starttls":
            client.starttls(context)
        if token is None:
            client.login(s.username, s.password or "")
        elif s.oauth2_mechanism == "OAUTHBEARER":
            client.oauthbearer_login(s.username, token)
        else:
            client.oauth2_login(s.username, token)
    except Exception:
        _quietly_logout(client)
        raise
    return client


def fill_batches(uids: list[int], sizes: dict[int, int], count: int, budget: int) -> list[list[int]]:
    """`uids` in order, cut into batches of at most `count` messages and `budget` bytes (by `sizes`); a
    message larger than the budget makes a batch of its own.  A UID without a size (expunged meanwhile)
    counts as nothing: the fetch will not find it either."""
    batches: list[list[int]] = []
    batch: list[int] = []
    weight = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if batch and (len(batch) >= count or weight + size > budget):
            batches.append(batch)
            batch, weight = [], 0
        batch.append(uid)
        weight += size
    if batch:
        batches.append(batch)
    return batches


def arrival_time(value: object) -> datetime | None:
    """An INTERNALDATE as imapclient returns it (naive local time, or aware) -> aware UTC; None if absent."""
    if not isinstance(value, datetime):
        return None
    try:
        return value.astimezone(UTC)  # a naive value is local time: astimezone reads it so
    except (OverflowError, OSError, ValueError):
        return None


def _mail_announced(responses: list[object]) -> bool:
    """Whether these untagged responses announce new mail (EXISTS or RECENT)."""
    announced = any(
        isinstance(r, tuple) and len(r) >= 2 and r[1] in (b"EXISTS", b"RECENT") for r in responses
    )
    if announced:  # timestamped: bench/intake.py --burst reads when the daemon heard of the mail
        log.debug("the server announced new mail")
    return announced


def _quietly_logout(client: imapclient.IMAPClient) -> None:
    try:
        client.logout()
    except Exception:  # the connection is being thrown away; nothing to do about its errors
        with contextlib.suppress(Exception):
            client.shutdown()
