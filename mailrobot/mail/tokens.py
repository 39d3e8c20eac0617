"""Signed identities in outgoing mail: Message-IDs, reply addresses and subject tags.

A reply speaks for a case only when the token it carries verifies with our secret; the From: header alone
proves nothing.

Mail systems change the letter case of addresses (Dovecot, Exchange and many clients lower-case them), so a
token signs the *canonical*, upper-cased case number and its signature is base32 (one letter case): a token
verifies whatever case it comes back in.  Tokens signed before that (the number as formatted) verify too.
`secret` may be several keys: the first signs, every one verifies, so rotating robot.secret keeps the tokens
of mail in flight working while the old key stays in robot.previous_secrets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass

# The signing key first, then keys that only verify (robot.previous_secrets).
Secrets = str | Sequence[str]

_TOKEN_LENGTH = 12
_CASE = r"[A-Za-z0-9][A-Za-z0-9/-]*[A-Za-z0-9]"
_MESSAGE_ID = re.compile(
    rf"^<?mr\.(?P<case>{_CASE})\.(?P<kind>[a-z_]+)\.(?P<nonce>[a-z0-9]+)\.(?P<sig>[a-z2-7]+)@", re.IGNORECASE
)
_REPLY_LOCAL = re.compile(rf"^(?P<base>[^+@]+)\+(?P<case>{_CASE})\.(?P<sig>[a-z2-7]+)@", re.IGNORECASE)


def sign(secret: str, payload: str, length: int = _TOKEN_LENGTH) -> str:
    """A short, lower-case, mail-safe HMAC-SHA256 of `payload`."""
    digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower().rstrip("=")[:length]


def verify(secret: str, payload: str, signature: str) -> bool:
    """True only for the full-length signature of `payload`, compared in constant time.

    A shorter prefix must never verify: a one-character token would be guessed in 32 tries.
    """
    expected = sign(secret, payload)
    candidate = signature.lower()
    if len(candidate) != len(expected):
        return False
    return hmac.compare_digest(expected.encode(), candidate.encode("ascii", "replace"))


def _keys(secret: Secrets) -> tuple[str, ...]:
    return (secret,) if isinstance(secret, str) else tuple(secret)


def canonical_number(case_number: str) -> str:
    """The case number as tokens sign it: upper-cased, since addresses come back in any letter case."""
    return case_number.upper()


def _verifies(secret: Secrets, payloads: Sequence[str], signature: str) -> bool:
    """Whether `signature` is the full signature of one of `payloads` under any of the keys."""
    return any(verify(key, payload, signature) for key in _keys(secret) if key for payload in payloads)


def new_nonce() -> str:
    return secrets.token_hex(6)


@dataclass(frozen=True)
class MessageRef:
    """What a verified Message-ID of ours says: which case, which kind of mail."""

    case_number: str
    kind: str
    nonce: str


def make_message_id(
    secret: Secrets, domain: str, case_number: str, kind: str, nonce: str | None = None
) -> str:
    """A Message-ID that names the case and the kind of mail, signed so a reply to it can be trusted."""
    nonce = nonce or new_nonce()
    body = f"{case_number}.{kind}.{nonce}"
    signed = f"{canonical_number(case_number)}.{kind}.{nonce}"
    return f"<mr.{body}.{sign(_keys(secret)[0], signed)}@{domain}>"


def read_message_id(secret: Secrets, message_id: str) -> MessageRef | None:
    """The case a Message-ID of ours refers to, or None when it is not ours or its signature fails."""
    match = _MESSAGE_ID.match(message_id.strip())
    if not match:
        return None
    case, kind, nonce = match["case"], match["kind"].lower(), match["nonce"].lower()
    # Canonical first; then the number as written (Message-IDs signed before the canonical form).
    payloads = [f"{number}.{kind}.{nonce}" for number in dict.fromkeys((canonical_number(case), case))]
    if not _verifies(secret, payloads, match["sig"]):
        return None
    return MessageRef(case, kind, nonce)


def reply_address(secret: Secrets, address: str, case_number: str) -> str:
    """`feedback+<case>.<token>@domain`: a sub-address that routes replies to the case."""
    local, domain = address.split("@", 1)
    signature = sign(_keys(secret)[0], "reply:" + canonical_number(case_number))
    return f"{local}+{case_number}.{signature}@{domain}"


def read_reply_address(secret: Secrets, address: str) -> str | None:
    """The case number a signed sub-address names (in the letter case it came in: look it up ignoring
    case), or None when it is absent or forged."""
    match = _REPLY_LOCAL.match(address.strip())
    if not match:
        return None
    case = match["case"]
    payloads = ["reply:" + number for number in dict.fromkeys((canonical_number(case), case))]
    return case if _verifies(secret, payloads, match["sig"]) else None


_BOUNCE_LOCAL = re.compile(r"^(?P<base>[^+@]+)\+b\.(?P<id>\d{1,18})\.(?P<sig>[a-z2-7]+)@", re.IGNORECASE)


def bounce_address(secret: Secrets, address: str, outbox_id: int) -> str:
    """`feedback+b.<outbox id>.<token>@domain`: the envelope sender (VERP) of one outgoing mail, so that a
    bounce names the mail it bounces, signed as reply addresses are."""
    local, domain = address.split("@", 1)
    return f"{local}+b.{outbox_id}.{sign(_keys(secret)[0], f'bounce:{outbox_id}')}@{domain}"


def is_bounce_address(address: str) -> bool:
    """Whether `address` has the shape of our VERP envelope sender (signed or not)."""
    return bool(_BOUNCE_LOCAL.match(address.strip()))


def read_bounce_address(secret: Secrets, address: str) -> int | None:
    """The outbox row a VERP address names, or None when it is absent or its signature fails."""
    match = _BOUNCE_LOCAL.match(address.strip())
    if not match:
        return None
    outbox_id = int(match["id"])
    return outbox_id if _verifies(secret, [f"bounce:{outbox_id}"], match["sig"]) else None


def subject_tag(case_number: str) -> str:
    return f"[{case_number}]"


def find_case_numbers(text: str, pattern: re.Pattern[str]) -> list[str]:
    """Case numbers written in brackets in a subject, in order (unsigned: a hint, never proof)."""
    return [m.group(1) for m in pattern.finditer(text)]


def case_number_pattern(number_format: str) -> re.Pattern[str]:
    """A regex matching `[NUMBER]` for the configured number format (e.g. SKES-{year}-{seq:06d})."""
    parts = []
    for literal, field, _spec, _conv in string.Formatter().parse(number_format):
        parts.append(re.escape(literal))
        if field == "year":
            parts.append(r"\d{4}")
        elif field is not None:
            parts.append(r"\d+")
    # Typed by a person, the number's letters may come in any case: lookups ignore it.
    return re.compile(r"\[(" + "".join(parts) + r")\]", re.IGNORECASE)
