"""Small builders for unit tests: settings without a file, Parsed values, raw mails."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from mailrobot.config import Settings, parse_settings
from mailrobot.mail.parse import Parsed
from tests.pg import database_url

SECRET = "test-secret-0123456789abcdef0123"


def settings_dict(tmp_path: Path, **sections: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "imap": {
            "host": "127.0.0.1",
            "port": 1,
            "security": "none",
            "username": "feedback@example.kz",
            "password": "pw",
        },
        "smtp": {
            "host": "127.0.0.1",
            "port": 1,
            "security": "none",
            "from_address": "feedback@example.kz",
            "from_name": "ТОО «Севказэнергосбыт»",
        },
        "database": {"url": database_url(tmp_path)},
        "robot": {"secret": SECRET},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return data


def make_settings(tmp_path: Path, **sections: dict[str, Any]) -> Settings:
    return parse_settings(settings_dict(tmp_path, **sections))


def make_parsed(**fields: Any) -> Parsed:
    base: dict[str, Any] = {
        "message_id": "m1@example.com",
        "in_reply_to": (),
        "references": (),
        "from_addr": "aigul@mail.ru",
        "from_name": "Айгуль",
        "reply_to": (),
        "to": ("feedback@example.kz",),
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
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>" if name else sender
    msg["To"] = "feedback@example.kz"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(__import__("datetime").datetime(2026, 11, 20, 10, 0).astimezone())
    if message_id:
        msg["Message-ID"] = message_id
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    return msg.as_bytes()
