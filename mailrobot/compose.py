"""Rendered text -> the bytes of an outgoing mail, with every header built from safe values only."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from mailrobot.render import Rendered
from mailrobot.text import header_safe

_MSGID = re.compile(r"^[!-;=?-~]+$")  # printable ASCII without '<' and '>': safe inside <...>


@dataclass(frozen=True)
class Envelope:
    """Who a mail is from and to, and what it answers.  Addresses are checked before they get here."""

    from_address: str
    from_name: str
    to_address: str
    to_name: str = ""
    message_id: str = ""
    in_reply_to: str | None = None  # without angle brackets
    references: tuple[str, ...] = ()
    reply_to: str | None = None
    auto_submitted: str | None = "auto-replied"
    case_number: str | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)


def _address(name: str, address: str) -> Address:
    local, domain = address.rsplit("@", 1)
    return Address(display_name=header_safe(name, 80), username=local, domain=domain)


def _safe_ids(ids: tuple[str, ...]) -> list[str]:
    return [f"<{i}>" for i in ids if _MSGID.match(i)]


def compose(rendered: Rendered, envelope: Envelope, date: datetime) -> bytes:
    """The RFC 5322 bytes of a mail: text part, and an HTML alternative when the template has one."""
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = _address(envelope.from_name, envelope.from_address)
    msg["To"] = _address(envelope.to_name, envelope.to_address)
    if envelope.reply_to:
        msg["Reply-To"] = _address(envelope.from_name, envelope.reply_to)
    msg["Subject"] = header_safe(rendered.subject, 250)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = envelope.message_id
    parents = _safe_ids((envelope.in_reply_to,) if envelope.in_reply_to else ())
    if parents:
        msg["In-Reply-To"] = parents[0]
    references = _safe_ids(envelope.references)[-10:] + [p for p in parents if p not in envelope.references]
    if references:
        msg["References"] = " ".join(dict.fromkeys(references))
    if envelope.auto_submitted:
        msg["Auto-Submitted"] = envelope.auto_submitted
    # Ask Exchange and friends not to answer our mail with out-of-office replies (loop prevention).
    msg["X-Auto-Response-Suppress"] = "All"
    # Marks our own mail, so that it is recognised if it ever comes back to the feedback mailbox.
    msg["X-Mailrobot"] = envelope.case_number or "robot"
    for name, value in envelope.extra_headers.items():
        msg[name] = header_safe(value, 250)
    msg.set_content(rendered.text, cte="quoted-printable" if not rendered.text.isascii() else "7bit")
    if rendered.html:
        msg.add_alternative(rendered.html, subtype="html")
    return msg.as_bytes()
