"""Mail for tests: Parsed values, raw mails as consumers and staff write them with their clients, and the
check that a Parsed value holds only storable strings."""

from __future__ import annotations

import dataclasses
import itertools
import re
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from mailrobot.mail.parse import Parsed

FEEDBACK = "feedback@example.kz"


def make_parsed(**fields: Any) -> Parsed:
    """A parsed consumer mail to the feedback address; `fields` replace the defaults."""
    base: dict[str, Any] = {
        "message_id": "m1@example.com",
        "in_reply_to": (),
        "references": (),
        "from_addr": "aigul@mail.ru",
        "from_name": "Айгуль",
        "reply_to": (),
        "to": (FEEDBACK,),
        "cc": (),
        "delivered_to": (),
        "return_path": "aigul@mail.ru",
        "subject": "Неверные показания счётчика",
        "date": None,
        "text": "Здравствуйте! В квитанции за октябрь неверные показания счётчика.",
        "html": None,
        "attachments": (),
        "headers": {},
        "content_type": "text/plain",
        "report_type": None,
    }
    base.update(fields)
    return Parsed(**base)


def consumer_mail(
    sender: str = "aigul@mail.ru",
    subject: str = "Неверные показания счётчика",
    body: str = "Здравствуйте! В квитанции за октябрь указаны неверные показания счётчика. Прошу исправить.",
    message_id: str | None = "<c1@mail.ru>",
    name: str = "Айгуль Серикова",
    headers: dict[str, str] | None = None,
) -> bytes:
    """A consumer's first mail to the feedback address, the same bytes for the same arguments."""
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>" if name else sender
    msg["To"] = FEEDBACK
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime(2026, 11, 20, 10, 0).astimezone())
    if message_id:
        msg["Message-ID"] = message_id
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    return msg.as_bytes()


def mail_with_attachment(n: int, filename: str = "квитанция.pdf") -> bytes:
    """Consumer n's mail with a receipt attached (a PDF named `filename`)."""
    msg = EmailMessage()
    msg["From"] = f"Потребитель {n} <consumer{n}@mail.kz>"
    msg["To"] = "feedback@example.kz"
    msg["Subject"] = f"Счёт за электроэнергию {n}"
    msg["Message-ID"] = f"<retention-{n}@mail.kz>"
    msg.set_content(f"Здравствуйте! Прошу проверить счёт по лицевому счёту {n}. Квитанция во вложении.")
    msg.add_attachment(b"%PDF-1.4 receipt " + str(n).encode() * 50, "application", "pdf", filename=filename)
    return msg.as_bytes()


_ids = itertools.count(1)


def mail(
    sender: str,
    body: str,
    subject: str = "Вопрос",
    to: str = FEEDBACK,
    name: str = "",
    in_reply_to: str | None = None,
    references: str | None = None,
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
    attachments: tuple[tuple[str, str, bytes], ...] = (),
    attached_message: bytes | None = None,
) -> bytes:
    """Any mail to the robot: `attachments` as (filename, content type, bytes), `attached_message` as a
    message/rfc822 part; a new Message-ID unless given."""
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>" if name else sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    msg["Message-ID"] = message_id or f"<m{next(_ids)}@{sender.split('@')[1]}>"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = references or in_reply_to
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    for filename, ctype, data in attachments:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    if attached_message is not None:
        msg.add_attachment(message_from_bytes(attached_message, policy=policy.default))
    return msg.as_bytes()


def read(raw: bytes) -> EmailMessage:
    """Raw bytes as an EmailMessage (the modern policy: get_body, get_content)."""
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def text_of(msg: EmailMessage) -> str:
    """The text/plain body of a mail the robot wrote."""
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def reply(
    to_mail: bytes | EmailMessage,
    sender: str,
    text: str,
    quote: str = "thunderbird-ru",
    name: str = "",
    attachments: tuple[tuple[str, str, bytes], ...] = (),
    to: str | None = None,
) -> bytes:
    """A reply to one of the robot's mails, as a client writes it: to its Reply-To (or From), with
    In-Reply-To/References, "Re:" and the original quoted in the client's manner."""
    original = read(to_mail) if isinstance(to_mail, bytes) else to_mail
    address = to or str(original["Reply-To"] or original["From"]).split("<")[-1].strip(">").strip()
    quoted = quote_as(quote, original)
    mid = str(original["Message-ID"])
    refs = " ".join(filter(None, [str(original.get("References", "")), mid]))
    return mail(
        sender,
        f"{text}\n\n{quoted}",
        subject=f"Re: {original['Subject']}",
        to=address,
        name=name,
        in_reply_to=mid,
        references=refs,
        attachments=attachments,
    )


def quote_as(client: str, original: EmailMessage) -> str:
    """The quoted history under a reply, the way each client writes it."""
    body = text_of(original).strip()
    sender = str(original["From"])
    subject = str(original["Subject"])
    quoted = "\n".join(f"> {line}" if line else ">" for line in body.split("\n"))
    if client == "thunderbird-ru":
        return f"20.11.2026 10:05, {sender.split('<')[0].strip()} пишет:\n{quoted}"
    if client == "thunderbird-en":
        return f"On 11/20/26 10:05, {sender.split('<')[0].strip()} wrote:\n{quoted}"
    if client == "gmail-ru":  # Gmail wraps its header line at the address
        name, address = sender.split("<")
        return f"пт, 20 нояб. 2026 г. в 10:05, {name.strip()} <\n{address.strip('>')}>:\n\n{quoted}"
    if client == "gmail-en":
        return f"On Fri, Nov 20, 2026 at 10:05 AM {sender}\nwrote:\n\n{quoted}"
    if client == "yandex":
        name, address = sender.split("<")
        return f'20.11.2026, 10:05, "{name.strip()}" <{address.strip(">")}>:\n{quoted}'
    if client == "mailru":
        return f"Пятница, 20 ноября 2026, 10:05 +05:00 от {sender}:\n{quoted}"
    if client == "outlook-ru":
        return (
            "________________________________\n"
            f"От: {sender}\nОтправлено: 20 ноября 2026 г. 10:05\nКому: Иванова Анна\nТема: {subject}\n\n"
            f"{body}"
        )
    if client == "outlook-en":
        return (
            f"-----Original Message-----\nFrom: {sender}\nSent: Friday, November 20, 2026 10:05 AM\n"
            f"To: Ivanova Anna\nSubject: {subject}\n\n{body}"
        )
    if client == "outlook-kk":
        return (
            f"Кімнен: {sender}\nЖіберілді: 20 қараша 2026 ж. 10:05\nКімге: Иванова Анна\n"
            f"Тақырып: {subject}\n\n{body}"
        )
    raise ValueError(client)


_UNCLEAN = re.compile("[\ud800-\udfff\x00-\x08\x0b-\x1f\x7f-\x9f]")


def assert_all_clean(parsed: Parsed) -> None:
    """Every string anywhere in a Parsed value is storable: no surrogates, NULs, \\r or other controls."""

    def visit(value: object, where: str) -> None:
        if isinstance(value, str):
            bad = _UNCLEAN.search(value)
            assert bad is None, f"{where} holds {bad.group()!r}: {value[:200]!r}"
        elif isinstance(value, dict):
            for key, item in value.items():
                visit(key, f"{where} key")
                visit(item, f"{where}[{key!r}]")
        elif isinstance(value, tuple | list):
            for i, item in enumerate(value):
                visit(item, f"{where}[{i}]")
        elif dataclasses.is_dataclass(value):
            for f in dataclasses.fields(value):
                visit(getattr(value, f.name), f"{where}.{f.name}")

    visit(parsed, "parsed")
    for name in ("subject", "from_name"):
        assert "\n" not in getattr(parsed, name) and "\t" not in getattr(parsed, name)
