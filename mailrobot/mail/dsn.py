"""What a delivery status notification says (RFC 3464): who failed, the status, the diagnostic, and the
Message-ID of the mail it returns.  Never raises: a DSN with none of it gives empty fields."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailrobot.mail.identity import split_raw
from mailrobot.mail.parse import Parsed
from mailrobot.mail.text import header_safe

_FIELD = re.compile(r"^([A-Za-z-]+):[ \t]*(.*)$", re.MULTILINE)
_MESSAGE_ID = re.compile(
    r"^message-id:[ \t]*(?:\r?\n[ \t]+)?<([^<>\s]{1,900})>", re.IGNORECASE | re.MULTILINE
)
_HEADER_TYPES = ("text/rfc822-headers", "message/rfc822-headers", "text/rfc822-header")
_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
MAX_SCANNED = 200_000  # characters of a DSN's text searched for the original's Message-ID


@dataclass(frozen=True)
class Dsn:
    status: str  # "5.1.1", "" when the DSN gives none
    diagnostic: str  # "smtp; 550 5.1.1 <x@mail.ru>: user unknown", "" when none
    recipient: str  # the Final-Recipient / Original-Recipient, "" when none
    original_message_ids: tuple[str, ...]  # of the returned mail, without angle brackets; first = best


def read_dsn(parsed: Parsed) -> Dsn:
    """The fields of the DSN's first failed recipient and the returned mail's Message-ID, read from the
    message/delivery-status part, the returned message or headers part, and at last the text."""
    fields: dict[str, str] = {}
    for name, value in _FIELD.findall(parsed.delivery_status or ""):
        key = name.lower()
        if key in ("final-recipient", "original-recipient", "status", "diagnostic-code", "action"):
            fields.setdefault(key, value.strip())
    status_match = _STATUS.search(fields.get("status", "")) or _STATUS.search(
        fields.get("diagnostic-code", "")
    )
    recipient = fields.get("final-recipient") or fields.get("original-recipient") or ""
    recipient = recipient.split(";", 1)[-1].strip().strip("<>")
    ids: dict[str, None] = {}
    for raw in parsed.attached_messages:
        header, _body = split_raw(raw)
        _ids_in(header.decode("utf-8", "replace"), ids)
    for part in parsed.attachments:
        if part.content_type in _HEADER_TYPES and part.data is not None:
            _ids_in(part.data[:MAX_SCANNED].decode("utf-8", "replace"), ids)
    _ids_in(parsed.text[:MAX_SCANNED], ids)  # bounces that quote the original in their text (qmail, Exim)
    return Dsn(
        status=status_match.group(1) if status_match else "",
        diagnostic=header_safe(fields.get("diagnostic-code", ""), 500),
        recipient=header_safe(recipient, 320),
        original_message_ids=tuple(ids)[:10],
    )


def _ids_in(text: str, found: dict[str, None]) -> None:
    for match in _MESSAGE_ID.finditer(text):
        found[match.group(1)] = None
