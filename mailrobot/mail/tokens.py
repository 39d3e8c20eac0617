"""Signed identities in outgoing mail: Message-IDs, reply addresses and subject tags.

A reply speaks for a case only when the token it carries verifies with our secret; the From: header alone
proves nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass

_TOKEN_LENGTH = 12
_CASE = r"[A-Za-z0-9][A-Za-z0-9/-]*[A-Za-z0-9]"
_MESSAGE_ID = re.compile(
    rf"^<?mr\.(?P<case>{_CASE})\.(?P<kind>[a-z]+)\.(?P<nonce>[a-z0-9]+)\.(?P<sig>[a-z2-7]+)@"
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


def new_nonce() -> str:
    return secrets.token_hex(6)


@dataclass(frozen=True)
class MessageRef:
    """What a verified Message-ID of ours says: which case, which kind of mail."""

    case_number: str
    kind: str
    nonce: str


def make_message_id(secret: str, domain: str, case_number: str, kind: str, nonce: str | None = None) -> str:
    """A Message-ID that names the case and the kind of mail, signed so a reply to it can be trusted."""
    nonce = nonce or new_nonce()
    body = f"{case_number}.{kind}.{nonce}"
    return f"<mr.{body}.{sign(secret, body)}@{domain}>"


def read_message_id(secret: str, message_id: str) -> MessageRef | None:
    """The case a Message-ID of ours refers to, or None when it is not ours or its signature fails."""
    match = _MESSAGE_ID.match(message_id.strip())
    if not match:
        return None
    body = f"{match['case']}.{match['kind']}.{match['nonce']}"
    if not verify(secret, body, match["sig"]):
        return None
    return MessageRef(match["case"], match["kind"], match["nonce"])


def reply_address(secret: str, address: str, case_number: str) -> str:
    """`feedback+<case>.<token>@domain`: a sub-address that routes replies to the case."""
    local, domain = address.split("@", 1)
    return f"{local}+{case_number}.{sign(secret, 'reply:' + case_number)}@{domain}"


def read_reply_address(secret: str, address: str) -> str | None:
    """The case number a signed sub-address names, or None when it is absent or forged."""
    match = _REPLY_LOCAL.match(address.strip())
    if not match or not verify(secret, "reply:" + match["case"], match["sig"]):
        return None
    return match["case"]


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
    return re.compile(r"\[(" + "".join(parts) + r")\]")
