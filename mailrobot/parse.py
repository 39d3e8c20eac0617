"""Raw bytes -> an immutable `Parsed` value.  Never raises on bad input except `Unparseable`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


class Unparseable(Exception):
    """The bytes are not a usable e-mail message; the caller quarantines them with `str(exc)` as the reason."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    size: int
    data: bytes | None  # None when the part was larger than the configured limit (recorded, not kept)


@dataclass(frozen=True)
class Parsed:
    message_id: str | None  # without angle brackets; None when the header is absent or unusable
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    from_addr: str  # lower-cased address, "" when there is none
    from_name: str
    reply_to: tuple[str, ...]
    to: tuple[str, ...]
    cc: tuple[str, ...]
    delivered_to: tuple[str, ...]  # Delivered-To / X-Original-To, lower-cased
    return_path: str | None  # None when absent, "" for the null sender <>
    subject: str
    date: datetime | None  # aware, when the Date header parses
    text: str  # plain text body (HTML converted when there is no text part)
    html: str | None
    attachments: tuple[Attachment, ...]
    headers: dict[str, str]  # lower-cased name -> cleaned value, only the headers classification needs
    content_type: str  # top-level, lower-cased, e.g. "multipart/report"
    report_type: str | None  # the report-type parameter of multipart/report, lower-cased
    attached_messages: tuple[bytes, ...] = ()  # raw bytes of message/rfc822 parts (forwarded mail)
    defects: tuple[str, ...] = field(default=())
