"""Forwarded-in mail (4.3.10): the original consumer from an attached message or an inline forward block,
as Outlook, Thunderbird, Gmail, Yandex, Mail.ru and Apple Mail write it; web-form mail (4.3.2)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mailrobot.mail.forwarded import clean_subject, find_forwarded, sender_of, webform_consumer
from mailrobot.mail.parse import parse_message
from tests.support.factories import mail, make_parsed
from tests.support.routing_world import OP1

ORIGINAL = "Здравствуйте! Третий день нет горячей воды в доме по ул. Абая 12.\nПрошу разобраться."
COMMENT = "Коллеги, это пришло мне, пересылаю."

INLINE = {
    "gmail-en": "---------- Forwarded message ---------\nFrom: Айгуль Серикова <aigul@mail.ru>\n"
    "Date: Fri, Nov 20, 2026 at 10:00 AM\nSubject: Горячая вода\nTo: <op1@skes.example.kz>\n\n\n{body}\n",
    "gmail-ru": "---------- Пересылаемое сообщение ---------\nОт: Айгуль Серикова <aigul@mail.ru>\n"
    "Date: пт, 20 нояб. 2026 г. в 10:00\nSubject: Горячая вода\nTo: <op1@skes.example.kz>\n\n\n{body}\n",
    "thunderbird-en": "-------- Forwarded Message --------\nSubject: \tГорячая вода\n"
    "Date: \tFri, 20 Nov 2026 10:00:00 +0500\nFrom: \tАйгуль Серикова <aigul@mail.ru>\n"
    "To: \top1@skes.example.kz\n\n\n\n{body}\n",
    "thunderbird-ru": "-------- Пересылаемое сообщение --------\nТема: \tГорячая вода\n"
    "Дата: \tFri, 20 Nov 2026 10:00:00 +0500\nОт: \tАйгуль Серикова <aigul@mail.ru>\n"
    "Кому: \top1@skes.example.kz\n\n{body}\n",
    "mail-ru": "-------- Пересылаемое сообщение --------\nОт кого: Айгуль Серикова <aigul@mail.ru>\n"
    "Кому: op1@skes.example.kz\nДата: Пятница, 20 ноября 2026, 10:00 +05:00\nТема: Горячая вода\n\n{body}\n",
    "yandex": "-------- Пересылаемое сообщение --------\n"
    '20.11.2026, 10:00, "Айгуль Серикова" <aigul@mail.ru>:\n'
    "\n{body}\n\n-------- Конец пересылаемого сообщения --------\n",
    "apple-mail-ru": "Начало переадресованного сообщения:\n\nОт: Айгуль Серикова <aigul@mail.ru>\n"
    "Тема: Горячая вода\nДата: 20 ноября 2026 г., 10:00:00 GMT+5\nКому: op1@skes.example.kz\n\n{body}\n",
    "apple-mail-en": "Begin forwarded message:\n\nFrom: Айгуль Серикова <aigul@mail.ru>\n"
    "Subject: Горячая вода\n"
    "Date: November 20, 2026 at 10:00:00 GMT+5\nTo: op1@skes.example.kz\n\n{body}\n",
    "outlook-en": "________________________________\nFrom: Айгуль Серикова <aigul@mail.ru>\n"
    "Sent: Friday, November 20, 2026 10:00 AM\nTo: Op One <op1@skes.example.kz>\n"
    "Subject: Горячая вода\n\n{body}\n",
    "outlook-ru": "________________________________\nОт: Айгуль Серикова <aigul@mail.ru>\n"
    "Отправлено: 20 ноября 2026 г. 10:00\nКому: Иванова Анна\nТема: Горячая вода\n\n{body}\n",
    "outlook-ru-mailto": "-----Исходное сообщение-----\nОт: Айгуль Серикова [mailto:aigul@mail.ru]\n"
    "Отправлено: Friday, November 20, 2026 10:00 AM\nКому: Иванова Анна\nТема: Горячая вода\n\n{body}\n",
    "outlook-kk": "Кімнен: Айгуль Серикова <aigul@mail.ru>\nЖіберілді: 20 қараша 2026 ж. 10:00\n"
    "Кімге: Иванова Анна\nТақырып: Горячая вода\n\n{body}\n",
    "outlook-kk-sender": "Жіберуші: Айгуль Серикова <aigul@mail.ru>\nКүні: 20.11.2026 10:00\n"
    "Алушы: op1@skes.example.kz\nТақырыбы: Горячая вода\n\n{body}\n",
}


def _forward(body: str, subject: str = "Fwd: Горячая вода") -> bytes:
    return mail(OP1, f"{COMMENT}\n\n{body}", subject=subject)


@pytest.mark.parametrize("client", sorted(INLINE))
def test_inline_forwards_of_every_client_name_the_original_consumer(client: str) -> None:
    parsed = parse_message(_forward(INLINE[client].format(body=ORIGINAL)))
    found = find_forwarded(parsed)
    assert found is not None, client
    assert (found.sender, found.sender_name) == ("aigul@mail.ru", "Айгуль Серикова")
    assert found.subject == "Горячая вода"
    assert found.text == ORIGINAL
    assert found.comment == COMMENT
    assert found.message_id is None and found.how.startswith("inline forward")


def test_an_attached_message_is_the_original(tmp_path: Path) -> None:
    original = mail(
        "aigul@mail.ru",
        ORIGINAL,
        subject="Горячая вода",
        name="Айгуль Серикова",
        message_id="<orig-1@mail.ru>",
        attachments=(("фото.jpg", "image/jpeg", b"\xff\xd8jpeg"),),
    )
    outer = mail(OP1, COMMENT, subject="Fw: Горячая вода", attached_message=original)
    found = find_forwarded(parse_message(outer))
    assert found is not None
    assert (found.sender, found.sender_name, found.subject) == (
        "aigul@mail.ru",
        "Айгуль Серикова",
        "Горячая вода",
    )
    assert found.text == ORIGINAL and found.message_id == "orig-1@mail.ru"
    assert [a.filename for a in found.attachments] == ["фото.jpg"]
    assert found.how == "attached message" and found.comment == COMMENT


def test_corpus_forwards_attached_and_inline(corpus_dir: Path) -> None:
    enclosed = parse_message((corpus_dir / "messages/flanker/enclosed.eml").read_bytes())
    found = find_forwarded(enclosed)
    assert found is not None and found.how == "attached message"
    assert (found.sender, found.subject) == ("dan@example.com", "Thanks!")

    thunderbird = parse_message((corpus_dir / "messages/django-helpdesk/forwarded-message.eml").read_bytes())
    found = find_forwarded(thunderbird)
    assert found is not None and found.how == "inline forward (Original Message)"
    assert (found.sender, found.sender_name) == ("noreply@github.com", "GitHub")
    assert found.subject == "[GitHub API] Update notice for access token [SEC=UNOFFICIAL]"
    assert found.text.startswith("Hello there!") and found.comment == "This is email body"


def test_a_mail_without_a_forward_has_no_original() -> None:
    assert find_forwarded(parse_message(mail(OP1, "Коллеги, завтра совещание в 10:00."))) is None
    # A header block without any address cannot name a consumer.
    no_address = "-------- Пересылаемое сообщение --------\nОт: Айгуль\nТема: Вода\n\nТекст"
    assert find_forwarded(parse_message(mail(OP1, no_address))) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Айгуль Серикова <Aigul@Mail.ru>", ("aigul@mail.ru", "Айгуль Серикова")),
        ('"Серикова, Айгуль" <aigul@mail.ru>', ("aigul@mail.ru", "Серикова, Айгуль")),
        ("Айгуль Серикова [mailto:aigul@mail.ru]", ("aigul@mail.ru", "Айгуль Серикова")),
        ("aigul@mail.ru", ("aigul@mail.ru", "")),
        ("Айгуль Серикова", ("", "")),
    ],
)
def test_sender_of_a_from_field(value: str, expected: tuple[str, str]) -> None:
    assert sender_of(value) == expected


def test_clean_subject_drops_forward_and_reply_prefixes() -> None:
    assert clean_subject("Fwd: Re: Пересл: FW: Горячая вода") == "Горячая вода"
    assert clean_subject("Горячая вода: опять") == "Горячая вода: опять"


FIELD = r"(?im)^\s*(?:e-?mail|email|эл\.?\s*почта|электронная почта)\s*:\s*(\S+@\S+)"


def test_web_form_consumer_from_reply_to_or_the_body_field() -> None:
    form = frozenset({"form@skes.kz"})
    by_reply_to = make_parsed(
        from_addr="form@skes.kz", reply_to=("aigul@mail.ru",), text="Имя: Айгуль\nТекст"
    )
    assert webform_consumer(by_reply_to, FIELD, form) == ("aigul@mail.ru", "Айгуль")
    body = "ФИО: Серикова Айгуль\nЭл. почта: Aigul@Mail.ru\nСообщение: нет света"
    by_field = make_parsed(from_addr="form@skes.kz", reply_to=("form@skes.kz",), text=body)
    assert webform_consumer(by_field, FIELD, form) == ("aigul@mail.ru", "Серикова Айгуль")
    assert webform_consumer(make_parsed(from_addr="form@skes.kz", text="Сообщение"), FIELD, form) is None
    assert re.search(FIELD, "E-mail: x@y.kz")
