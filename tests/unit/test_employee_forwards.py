"""Mail forwarded in by any employee (issue 11.2, regulation 4.3.10): unwrapped to the innermost sender
outside the organizations' domains; mail from outside them is never unwrapped."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailrobot.mail.forwarded import MAX_FORWARD_DEPTH, unwrap
from mailrobot.mail.parse import parse_message
from mailrobot.regulation.staff import Staff
from tests.support.config import make_settings
from tests.support.factories import mail

CONSUMER = "aigul@mail.ru"


@pytest.fixture
def staff(tmp_path: Path) -> Staff:
    settings = make_settings(
        tmp_path,
        organizations={
            "skes": {"name": "ТОО «СКЭС»", "domains": ["skes.kz"]},
            "grid": {"name": "АО «СКРЭК»", "domains": ["@Grid.KZ"]},
        },
        people={"head": ["head@skes.kz"]},
    )
    return Staff.from_settings(settings)


def ours(staff: Staff):  # type: ignore[no-untyped-def]
    return lambda address: not staff.outside(address)


def consumer_original() -> bytes:
    text = "Свет отключили третий день."
    return mail(CONSUMER, text, "Нет света", name="Айгуль", message_id="<o1@mail.ru>")


def gmail_inline(sender: str, original_from: str, text: str, subject: str = "Нет света") -> bytes:
    body = (
        "Коллеги, посмотрите.\n\n---------- Forwarded message ---------\n"
        f"From: {original_from}\nDate: Fri, 20 Nov 2026 at 10:00\nSubject: {subject}\nTo: <buh@skes.kz>\n\n"
        + text
    )
    return mail(sender, body, f"Fwd: {subject}")


def test_an_employee_forward_is_the_consumers(staff: Staff) -> None:
    raw = mail("buh@skes.kz", "Это к вам.", "Fwd: Нет света", attached_message=consumer_original())
    found = unwrap(parse_message(raw), ours(staff))
    assert found.original is not None and found.original.sender == CONSUMER
    assert found.original.message_id == "o1@mail.ru" and found.forwarders == ("buh@skes.kz",)


def test_the_head_forwarding_an_employees_forward_reaches_the_consumer(staff: Staff) -> None:
    employee = mail("buh@skes.kz", "Это к вам.", "Fwd: Нет света", attached_message=consumer_original())
    head = mail("head@skes.kz", "Разберитесь.", "Fwd: Fwd: Нет света", attached_message=employee)
    found = unwrap(parse_message(head), ours(staff))
    assert found.original is not None and found.original.sender == CONSUMER
    assert found.forwarders == ("head@skes.kz", "buh@skes.kz")


def test_inline_forward_of_an_inline_forward(staff: Staff) -> None:
    inner = (
        "Пересылаю.\n\n---------- Forwarded message ---------\nFrom: Айгуль <aigul@mail.ru>\n"
        "Date: Thu, 19 Nov 2026\nSubject: Нет света\nTo: <buh@skes.kz>\n\nСвет отключили третий день."
    )
    raw = gmail_inline("head@skes.kz", "Бухгалтерия <buh@skes.kz>", inner)
    found = unwrap(parse_message(raw), ours(staff))
    assert found.original is not None and found.original.sender == CONSUMER
    assert "третий день" in found.original.text and found.forwarders == ("head@skes.kz", "buh@skes.kz")


def test_a_subsidiary_employee_forward(staff: Staff) -> None:
    raw = gmail_inline("master@res.grid.kz", "Айгуль <aigul@mail.ru>", "Свет отключили.")
    found = unwrap(parse_message(raw), ours(staff))
    assert found.original is not None and found.original.sender == CONSUMER


def test_a_forward_whose_innermost_sender_is_ours_is_kept(staff: Staff) -> None:
    raw = gmail_inline("buh@skes.kz", "Кассир <kassa@skes.kz>", "Касса закрыта в пятницу.")
    found = unwrap(parse_message(raw), ours(staff))
    assert found.original is None and found.kept == "its innermost sender kassa@skes.kz is one of ours"


def test_consumer_forwarding_our_own_mail_is_never_unwrapped(staff: Staff) -> None:
    assert staff.outside(CONSUMER)  # lookup unwraps only for staff and the domains: this one stays as it is
    assert not staff.outside("billing@skes.kz")


def test_fifty_nested_forwards_give_a_clear_outcome(staff: Staff) -> None:
    raw = consumer_original()
    for i in range(50):
        raw = mail(f"e{i}@skes.kz", f"Пересылаю {i}.", "Fwd: Нет света", attached_message=raw)
    found = unwrap(parse_message(raw), ours(staff))
    assert found.original is None and found.kept == f"forwards nested deeper than {MAX_FORWARD_DEPTH}"


def test_domains_are_checked(tmp_path: Path) -> None:
    from mailrobot.config import ConfigError

    with pytest.raises((ConfigError, ValueError), match="not a mail domain"):
        make_settings(tmp_path, organizations={"skes": {"name": "x", "domains": ["buh@skes.kz"]}})
