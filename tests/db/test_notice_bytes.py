"""The registration notice's shortcuts (issue 13, speed) change no byte a consumer receives: the same mails
in Russian, Kazakh and English through the intake, once with the shortcuts and once with the slow paths
they replace, leave the same bytes in the outbox; a company name changed by a reload is on the next notice.
"""

from __future__ import annotations

import base64
import secrets
from datetime import date, datetime
from email import message_from_bytes, policy
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any

import pytest
from jinja2 import Template
from sqlalchemy import select

from mailrobot.mail import compose as composing
from mailrobot.mail import render as rendering
from mailrobot.mail.render import Renderer
from mailrobot.mail.text import header_safe
from mailrobot.regulation.states import MailKind
from mailrobot.service.intake import Fetched
from mailrobot.store.models import Outbox
from tests.support.config import make_settings
from tests.support.factories import consumer_mail
from tests.support.pipeline import BOX, NOW, new_intake

BODIES = [
    "Здравствуйте! В квитанции за октябрь неверные показания счётчика: 12 450 вместо 11 450. Перерасчёт!",
    "Сәлеметсіз бе! Қараша айындағы төлем есепшотқа түспеді. Тексеріп беруіңізді сұраймын.",
    "Hello, I paid my electricity bill on 15 November but the payment is not shown in my account.",
]
TOPICS = [
    "Обращение № {}: «показания» & <перерасчёт>",
    "Өтініш № {}: «төлем» <есепшот>",
    "Request {}: <bill> & 'payment'",
]
NAMES = ["Айгуль Серикова", "Ержан Қасымұлы", "Dr. O'Brien", ""]
MAILS = [
    consumer_mail(
        sender=f"consumer{i}@mail.ru",
        subject=TOPICS[i % 3].format(i),
        body=BODIES[i % 3],
        message_id=f"<notice-bytes-{i}@mail.ru>",
        name=NAMES[i % 4],
    )
    for i in range(9)
]
COMPANY = {"ru": "ТОО «Севказэнергосбыт»", "kk": "«Солтүстікқазэнергосауда» ЖШС", "en": "SKES LLP"}
SUBJECTS = {"ru": "Ваше обращение зарегистрировано", "kk": "өтінішіңіз тіркелді", "en": "has been registered"}


def _count_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nonces and multipart boundaries 0, 1, 2...: the same on every run."""
    counter = iter(range(10**6))
    monkeypatch.setattr(secrets, "token_hex", lambda n=32: f"{next(counter):0{2 * n}x}")


def _notices(tmp_path: Path, company: dict[str, str], mails: list[bytes], first_uid: int = 1) -> list[bytes]:
    """The mails through an intake of these company names (a new one, as after a reload): the notices."""
    settings = make_settings(tmp_path, robot={"company_names": company})
    intake = new_intake(settings, lambda: NOW)
    intake.process(BOX, 7, [Fetched(uid, raw) for uid, raw in enumerate(mails, first_uid)])
    with intake.db.sessions() as session:
        rows = session.scalars(select(Outbox).where(Outbox.kind == MailKind.NOTICE).order_by(Outbox.id))
        notices = [bytes(row.raw or b"") for row in rows]
    intake.db.dispose()
    return notices


def _formataddr(name: str, address: str) -> str:
    """compose's mailboxes as they were: formataddr's."""
    return formataddr((header_safe(name, 80), address), charset="utf-8")


def _slow_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """What compose and render did before the shortcuts."""

    def strftime_date(self: Renderer, value: date | datetime | None) -> str:
        if value is None:
            return ""
        return (self._local(value) if isinstance(value, datetime) else value).strftime("%d.%m.%Y")

    def template_render(template: Template, values: dict[str, Any]) -> str:
        return template.render(values)

    monkeypatch.setattr(composing, "_encoded_line", lambda name, value: None)
    monkeypatch.setattr(composing, "_mailbox", _formataddr)
    monkeypatch.setattr(composing, "_sender", _formataddr)
    monkeypatch.setattr(composing, "_date", lambda date, offset: format_datetime(date))
    monkeypatch.setattr(composing, "_base64", lambda d: base64.encodebytes(d).decode().replace("\n", "\r\n"))
    monkeypatch.setattr(Renderer, "_format_date", strftime_date)
    monkeypatch.setattr(rendering, "_render", template_render)


def _language(raw: bytes) -> str:
    subject = str(message_from_bytes(raw, policy=policy.default)["Subject"])
    return next(lang for lang, words in SUBJECTS.items() if words in subject)


def test_the_notices_are_the_bytes_the_slow_paths_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _count_tokens(monkeypatch)
    fast = _notices(tmp_path / "fast", COMPANY, MAILS)
    _slow_paths(monkeypatch)
    _count_tokens(monkeypatch)
    slow = _notices(tmp_path / "slow", COMPANY, MAILS)
    assert len(fast) == len(MAILS) and fast == slow
    assert sorted({_language(raw) for raw in fast}) == ["en", "kk", "ru"]
    for raw in fast:
        message = message_from_bytes(raw, policy=policy.default)
        head = raw.split(b"\r\n\r\n", 1)[0]
        sender = message["From"].addresses[0]
        assert (sender.display_name, sender.addr_spec) == (COMPANY[_language(raw)], "feedback@example.kz")
        assert message["To"].addresses[0].addr_spec.startswith("consumer")  # a name with a dot: quoted
        assert head.isascii()  # every header encoded: the consumer's name, the subject


def test_a_reloaded_company_name_is_on_the_next_notice(tmp_path: Path) -> None:
    renamed = {lang: f"{name} (новое имя)" for lang, name in COMPANY.items()}
    before = _notices(tmp_path, COMPANY, MAILS[:3])
    after = _notices(tmp_path, renamed, MAILS[3:6], first_uid=4)[3:]  # the same database: its first three too
    again = _notices(tmp_path, COMPANY, MAILS[6:], first_uid=7)[6:]
    for notices, names in ((before, COMPANY), (after, renamed), (again, COMPANY)):
        assert len(notices) == 3
        for raw in notices:
            message = message_from_bytes(raw, policy=policy.default)
            company = names[_language(raw)]
            assert message["From"].addresses[0].display_name == company
            assert company in message.get_body(("plain",)).get_content()
