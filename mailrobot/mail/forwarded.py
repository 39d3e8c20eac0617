"""Mail that speaks for someone else: a consumer's mail forwarded in by an employee (regulation 4.3.10), and
web-form mail whose sender is the form, not the consumer (4.3.2).

A forward is found in an attached `message/rfc822` part first (Outlook "forward as attachment", Thunderbird
"forward as attachment"), else in an inline forward block as the clients write it:

- Gmail:        "---------- Forwarded message ---------" / "---------- Пересылаемое сообщение ---------",
                then From/От, Date, Subject, To
- Thunderbird:  "-------- Forwarded Message --------" / "-------- Пересылаемое сообщение --------",
                then Subject/Тема, Date/Дата, From/От, To/Кому
- Mail.ru:      "-------- Пересылаемое сообщение --------", then "От кого:", "Кому:", "Дата:", "Тема:"
- Yandex:       "-------- Пересылаемое сообщение --------", then one line `20.11.2026, 10:00, "Name" <addr>:`,
                the text, "-------- Конец пересылаемого сообщения --------"
- Apple Mail:   "Begin forwarded message:" / "Начало переадресованного сообщения:", then the fields
- Outlook:      "-----Original Message-----" / "-----Исходное сообщение-----", or no marker at all, only the
                block From/Sent/To/Subject, От/Отправлено/Кому/Тема, Кімнен (Жіберуші)/Жіберілді/Кімге/Тақырып
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from mailrobot.mail.parse import Attachment, Parsed, Unparseable, parse_message
from mailrobot.mail.reply_headers import SEPARATOR, header_block

_END_MARKER = re.compile(
    r"^\s*-{2,}\s*(?:конец пересылаемого сообщения|end (?:of )?forwarded message|end original message)"
    r"\s*-{2,}\s*$",
    re.IGNORECASE,
)
# Yandex: `20.11.2026, 10:00, "Айгуль Серикова" <aigul@mail.ru>:`
_YANDEX_FROM = re.compile(
    r"^\s*(?P<date>.{0,80}?\d{1,2}:\d{2}[^,]{0,20}),\s*\"?(?P<name>[^\"<>]*?)\"?\s*"
    r"<(?P<addr>[^<>\s]+@[^<>\s]+)>\s*:\s*$"
)
_MAILTO = re.compile(r"mailto:([^\]\s>]+@[^\]\s>]+)", re.IGNORECASE)
_BARE_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_SUBJECT_PREFIX = re.compile(
    r"^(?:\s*(?:fwd?|fw|пересл|tr|wg|re|ответ|отв|aw)\s*(?:\[\d+\])?\s*:\s*)+", re.IGNORECASE
)
_RULE = re.compile(r"^\s*[-_=*]{3,}\s*$")


@dataclass(frozen=True)
class Forwarded:
    """The original mail inside a forward: whose it is and what it said."""

    sender: str  # lower-cased address of the original sender
    sender_name: str
    subject: str
    text: str
    date: str  # as the forward shows it
    message_id: str | None  # known only for an attached message
    attachments: tuple[Attachment, ...]
    comment: str  # what the forwarder wrote above the forward
    how: str  # "attached message" or "inline forward (<marker>)"
    # The original as a message of its own, to look for a forward inside it (a forward of a forward).
    inner: Parsed | None = field(default=None, compare=False, repr=False)


def clean_subject(subject: str) -> str:
    """A subject without its Fwd:/Fw:/Пересл:/Re: prefixes."""
    return _SUBJECT_PREFIX.sub("", subject).strip()


def find_forwarded(parsed: Parsed, max_attachment_bytes: int = 10 * 1024 * 1024) -> Forwarded | None:
    """The original mail a forward carries, attached or inline; None when this is not a forward or the
    original sender's address cannot be read from it."""
    for raw in parsed.attached_messages:
        found = _attached(raw, parsed, max_attachment_bytes)
        if found is not None:
            return found
    return _inline(parsed)


def _attached(raw: bytes, outer: Parsed, max_attachment_bytes: int) -> Forwarded | None:
    try:
        inner = parse_message(raw, max_attachment_bytes)
    except Unparseable:
        return None
    if not inner.from_addr:
        return None
    return Forwarded(
        sender=inner.from_addr,
        sender_name=inner.from_name,
        subject=inner.subject or clean_subject(outer.subject),
        text=inner.text,
        date=inner.date.isoformat() if inner.date else "",
        message_id=inner.message_id,
        attachments=inner.attachments + outer.attachments,
        comment=outer.text.strip(),
        how="attached message",
        inner=inner,
    )


def _inline(parsed: Parsed) -> Forwarded | None:
    lines = parsed.text.replace("\r\n", "\n").split("\n")
    for i, line in enumerate(lines):
        if SEPARATOR.match(line):
            found = _after_marker(lines, i, parsed)
            if found is not None:
                return found
            continue
        block = header_block(lines, i)
        if block is not None:  # Outlook: no marker, only the block (often under a rule of underscores)
            found = _from_block(lines, i, block.end, block.fields, parsed, "inline forward (header block)")
            if found is not None:
                return found
    return None


def _after_marker(lines: list[str], marker: int, parsed: Parsed) -> Forwarded | None:
    how = f"inline forward ({lines[marker].strip(' -')})"
    start = marker + 1
    while start < len(lines) and not lines[start].strip():
        start += 1
    if start >= len(lines):
        return None
    block = header_block(lines, start, min_fields=1)
    if block is not None:
        return _from_block(lines, marker, block.end, block.fields, parsed, how)
    yandex = _YANDEX_FROM.match(lines[start])
    if yandex:
        fields = {"from": f'"{yandex["name"]}" <{yandex["addr"]}>', "date": yandex["date"].strip()}
        return _from_block(lines, marker, start + 1, fields, parsed, how)
    return None


def _from_block(
    lines: list[str], begin: int, body_start: int, fields: dict[str, str], parsed: Parsed, how: str
) -> Forwarded | None:
    sender, name = sender_of(fields.get("from", ""))
    if not sender:
        return None
    body: list[str] = []
    for line in lines[body_start:]:
        if _END_MARKER.match(line):
            break
        body.append(line)
    comment = lines[:begin]
    while comment and (not comment[-1].strip() or _RULE.match(comment[-1])):
        comment.pop()
    subject = clean_subject(fields.get("subject", "")) or clean_subject(parsed.subject)
    text = _unquote("\n".join(body)).strip()
    return Forwarded(
        sender=sender,
        sender_name=name,
        subject=subject,
        text=text,
        date=fields.get("date", ""),
        message_id=None,
        attachments=parsed.attachments,
        comment="\n".join(comment).strip(),
        how=how,
        inner=replace(
            parsed, from_addr=sender, from_name=name, subject=subject, text=text, attached_messages=()
        ),
    )


def sender_of(value: str) -> tuple[str, str]:
    """(address, display name) from a From field as a client shows it: `Name <addr>`,
    `Name [mailto:addr]` (Outlook), `"Name" <addr>`, or a bare address; ("", "") when there is none."""
    value = value.strip()
    mailto = _MAILTO.search(value)
    if mailto:
        return mailto.group(1).lower(), value[: mailto.start()].strip(" [\"'")
    name, address = email.utils.parseaddr(value)
    if "@" in address and _BARE_ADDRESS.fullmatch(address):
        return address.lower(), name.strip()
    bare = _BARE_ADDRESS.search(value)
    if bare:
        return bare.group(0).lower(), value[: bare.start()].strip(" <[\"'")
    return "", ""


def _unquote(text: str) -> str:
    """The forwarded text without a `>` level that some clients add to every line of it."""
    lines = text.split("\n")
    content = [line for line in lines if line.strip()]
    if content and all(line.lstrip().startswith(">") for line in content):
        return "\n".join(re.sub(r"^\s*> ?", "", line) for line in lines)
    return text


MAX_FORWARD_DEPTH = 20  # forwards of forwards unwrapped; real chains stay under 5


@dataclass(frozen=True)
class Unwrapped:
    """What an employee's forward carries, forwards of forwards unwrapped (regulation 4.3.10)."""

    original: Forwarded | None  # the innermost mail from outside the organizations; None: see `kept`
    forwarders: tuple[str, ...]  # the mail's sender first, then each forwarder inside
    kept: str | None  # why the mail stays the forwarder's own case (None: not a forward at all, or unwrapped)


def unwrap(
    parsed: Parsed, is_ours: Callable[[str], bool], max_attachment_bytes: int = 10 * 1024 * 1024
) -> Unwrapped:
    """The innermost original of a forward whose senders are ours (`is_ours`: staff or the organizations'
    domains): the head forwarding an employee's forward reaches the consumer.  A forward whose innermost
    sender is ours, or that holds no recognisable original, or nests deeper than MAX_FORWARD_DEPTH, is
    `kept` with the reason."""
    forwarders = [parsed.from_addr]
    current: Parsed | None = parsed
    for _depth in range(MAX_FORWARD_DEPTH):
        found = find_forwarded(current, max_attachment_bytes) if current is not None else None
        if found is None:
            if len(forwarders) == 1:
                return Unwrapped(None, (), None)  # not a forward
            inner = forwarders[-1]
            return Unwrapped(None, tuple(forwarders), f"its innermost sender {inner} is one of ours")
        if not is_ours(found.sender):
            return Unwrapped(found, tuple(forwarders), None)
        forwarders.append(found.sender)
        current = found.inner
    return Unwrapped(None, tuple(forwarders), f"forwards nested deeper than {MAX_FORWARD_DEPTH}")


# -- web forms -------------------------------------------------------------------------------------------

_NAME_FIELD = re.compile(r"(?im)^\s*(?:имя|фио|ф\.\s*и\.\s*о\.|name|аты-жөні|аты)\s*:\s*(.{1,120}?)\s*$")


def webform_consumer(
    parsed: Parsed, email_field: str, not_consumers: frozenset[str]
) -> tuple[str, str] | None:
    """The consumer a web-form mail is about: (address, name) from Reply-To, else from the body field that
    `email_field` (routing.webform_email_field) matches; None when the form gave no address."""
    name_match = _NAME_FIELD.search(parsed.text)
    name = name_match.group(1) if name_match else ""
    for address in parsed.reply_to:
        if address not in not_consumers:
            return address, name
    match = re.search(email_field, parsed.text)
    if match:
        found = _BARE_ADDRESS.search(match.group(1) if match.groups() else match.group(0))
        if found:
            return found.group(0).lower(), name
    return None
