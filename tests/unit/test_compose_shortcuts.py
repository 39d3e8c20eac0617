"""The registration notice's shortcuts (issue 13, speed) give the bytes the slow paths gave: the subject
folded without email.header's character-by-character loop, a name encoded without email.charset's, the
company's From and the batch's Date kept, base64 bodies cut from one encoding, the templates' parts
rendered from one context dict, dates formatted without strftime.  In every language; a changed company
name is on the next mail at once."""

from __future__ import annotations

import base64
import random
import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from email import message_from_bytes, policy
from email.header import Header
from email.utils import format_datetime, formataddr
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from jinja2 import UndefinedError

from mailrobot.mail import compose as composing
from mailrobot.mail.compose import Envelope, compose
from mailrobot.mail.render import Renderer
from mailrobot.mail.text import header_safe

LANGUAGES = ("ru", "kk", "en")
COMPANY = {"ru": "ТОО «Севказэнергосбыт»", "kk": "«Солтүстікқазэнергосауда» ЖШС", "en": "SKES LLP"}
NOW = datetime(2026, 3, 20, 6, 0, tzinfo=UTC)
# Characters of one, two, three and four UTF-8 bytes, those Q writes as one character and as three.
ALPHABET = "abcXYZ019 -_=?![]()\"'«»:;,.é€ßабвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВәғқңөұүһі中😀𝔘\u00a0"


def _slow_header(name: str, value: str) -> str:
    """_text_header as it was: the standard library folds every non-ASCII value."""
    value = header_safe(value, 250)
    if value.isascii() and len(value) < 900:
        return f"{name}: {value}"
    return f"{name}: " + Header(value, "utf-8", header_name=name).encode(linesep="\r\n")


def _values(seed: int, count: int) -> Iterator[str]:
    rng = random.Random(seed)
    for _ in range(count):
        length = rng.choice((1, 2, 3, 7, 20, 45, 60, 90, 160, 260))
        letters = rng.choice((ALPHABET, ALPHABET[:31], "ф😀a", "қ ә"))
        yield "".join(rng.choice(letters) for _ in range(length)) + rng.choice(ALPHABET[31:])


@pytest.mark.parametrize("name", ["Subject", "X-A", "Comments", "X-" + "N" * 50, "X-" + "N" * 58, "X" * 62])
def test_a_header_reads_as_the_standard_library_folds_it(name: str) -> None:
    for value in _values(len(name), 1500):
        assert composing._text_header(name, value) == _slow_header(name, value), value


@pytest.mark.parametrize(
    "value",
    [
        "[SKES-2026-000001] Ваше обращение зарегистрировано",
        "[SKES-2026-000001] Сіздің өтінішіңіз тіркелді",
        "Re: " + "Жалоба на счёт за отопление " * 12,
        "ф",
        "😀" * 70,
        "a" * 240 + "é",
        "line\u2028separator and a\ttab",  # whitespace that splitlines() would cut: header_safe joins it
        "lone \udcff surrogate",  # clean() re-decodes it before anything folds it
        "=?utf-8?b?0YQ=?= looks encoded",
    ],
)
def test_the_edges_read_as_the_standard_library_folds_them(value: str) -> None:
    for name in ("Subject", "X" * 61, "X" * 62):
        assert composing._text_header(name, value) == _slow_header(name, value)


def test_a_mailbox_reads_as_formataddr_writes_it() -> None:
    names = [*_values(11, 3000), "", "Aigul", 'Dr. "Evil", <x>', "Айгуль «Серикова»", "lone \udcff"]
    for name in names:
        want = formataddr((header_safe(name, 80), "aigul@mail.ru"), charset="utf-8")
        assert composing._mailbox(name, "aigul@mail.ru") == want, name
    with pytest.raises(UnicodeEncodeError):  # as formataddr refuses it
        composing._mailbox("Айгуль", "айгуль@почта.рф")


def test_the_date_header_is_format_datetime_s_in_each_zone() -> None:
    moment = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    ambiguous = datetime(2026, 10, 25, 2, 30, tzinfo=ZoneInfo("Europe/Berlin"))  # twice that night
    for value in (
        moment,
        moment.astimezone(ZoneInfo("Asia/Almaty")),  # the same moment, an equal datetime
        moment.astimezone(timezone(timedelta(hours=-3))),
        ambiguous,
        ambiguous.replace(fold=1),  # equal to the first, an hour later
        datetime(2026, 3, 20, 6, 0),
    ):
        assert composing._date(value, value.utcoffset()) == format_datetime(value)


def test_base64_bodies_are_the_lines_encodebytes_wrote() -> None:
    rng = random.Random(7)
    for size in [*range(0, 200), 56, 57, 58, 4095, 100_000]:
        data = rng.randbytes(size)
        assert composing._base64(data) == base64.encodebytes(data).decode("ascii").replace("\n", "\r\n")


def test_dates_print_as_strftime_printed_them() -> None:
    renderer = Renderer()
    for day in (date(1, 1, 1), date(999, 12, 31), date(2026, 3, 9), date(9999, 12, 31)):
        assert renderer._format_date(day) == day.strftime("%d.%m.%Y")
    late = datetime(2026, 12, 31, 19, 30, tzinfo=UTC)  # already 1 January in Almaty
    assert renderer._format_date(late) == "01.01.2027"


def _context(number: str, name: str) -> dict[str, Any]:
    return {
        "case_number": number,
        "received_at": datetime(2026, 3, 20, 5, 59, tzinfo=UTC),
        "due_at": datetime(2026, 3, 30, 13, 0, tzinfo=UTC),
        "requester_name": name,
        "subject": "Показания <счётчика> & «долг»",
        "answer_days": 3,
    }


PARTS = ("subject", "txt", "html")


def _slow_render(renderer: Renderer, language: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """The notice's parts as Template.render gives each (as Renderer.render did before)."""
    environment = renderer.environment
    values = {**context, "lang": language}
    subject, text, html = (
        environment.get_template(f"{language}/notice.{p}.j2").render(values) for p in PARTS
    )
    return " ".join(subject.split()), text.strip() + "\n", html.strip() + "\n"


def _strftime_date(self: Renderer, value: date | datetime | None) -> str:
    """Renderer._format_date as it was."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = self._local(value)
    return value.strftime("%d.%m.%Y")


def test_the_notice_renders_as_template_render_did(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = Renderer()
    monkeypatch.setattr(Renderer, "_format_date", _strftime_date)
    slow = Renderer()  # its date filter is bound now: strftime's
    for language in LANGUAGES:
        for name in ("Айгуль", ""):
            context = {**_context("SKES-2026-000042", name), "company_name": COMPANY[language]}
            with fast.batch():
                mail = fast.render("notice", language, context)
            assert (mail.subject, mail.text, mail.html) == _slow_render(slow, language, context)
            assert "&lt;счётчика&gt; &amp;" in (mail.html or "")  # the HTML part still escapes


def test_a_template_error_still_names_the_missing_value() -> None:
    context = _context("SKES-2026-000042", "Айгуль")  # no company_name
    with pytest.raises(UndefinedError, match="company_name"):
        Renderer().render("notice", "ru", context)


def _count_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """Multipart boundaries 0, 1, 2...: the same on every run."""
    counter = iter(range(10**6))
    monkeypatch.setattr(secrets, "token_hex", lambda n=32: f"{next(counter):0{2 * n}x}")


def _notice(renderer: Renderer, language: str, number: str, name: str, company: str) -> bytes:
    context = {**_context(number, name), "company_name": company}
    envelope = Envelope(
        from_address="feedback@example.kz",
        from_name=company,
        to_address=f"{number.lower()}@mail.ru",
        to_name=name,
        message_id=f"<mr.{number}.notice.abc@example.kz>",
        in_reply_to=f"{number}@mail.ru",
        references=("a@mail.ru",),
        auto_submitted="auto-replied",
        case_number=number,
    )
    with renderer.batch():
        return bytes(compose(renderer.render("notice", language, context), envelope, NOW))


def _formataddr(name: str, address: str) -> str:
    """compose's mailboxes as they were: formataddr's."""
    return formataddr((header_safe(name, 80), address), charset="utf-8")


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_notice_is_byte_for_byte_what_the_slow_paths_composed(
    language: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    renderer = Renderer()
    mails = [
        ("SKES-2026-000001", "Айгуль Серикова"),
        ("SKES-2026-000002", 'Evil "\r\nBcc: x@y.z'),
        ("A-3", ""),
    ]
    _count_tokens(monkeypatch)
    fast = [_notice(renderer, language, n, name, COMPANY[language]) for n, name in mails]
    monkeypatch.setattr(composing, "_encoded_line", lambda name, value: None)
    monkeypatch.setattr(composing, "_mailbox", _formataddr)
    monkeypatch.setattr(composing, "_sender", _formataddr)
    monkeypatch.setattr(composing, "_date", lambda date, offset: format_datetime(date))
    monkeypatch.setattr(composing, "_base64", lambda d: base64.encodebytes(d).decode().replace("\n", "\r\n"))
    _count_tokens(monkeypatch)
    slow = [_notice(renderer, language, n, name, COMPANY[language]) for n, name in mails]
    assert fast == slow
    heads = [m.split(b"\r\n\r\n", 1)[0] for m in fast]
    assert all(b"\r\nBcc:" not in head for head in heads)
    froms = {next(line for line in head.split(b"\r\n") if line.startswith(b"From:")) for head in heads}
    assert len(froms) == 1  # the company's, the same on each


def test_a_changed_company_name_is_on_the_next_notice() -> None:
    renderer = Renderer()
    names = ["ТОО «Севказэнергосбыт»", "АО «Новое имя»", "ТОО «Севказэнергосбыт»"]
    for number, company in enumerate(names, 1):
        raw = _notice(renderer, "ru", f"SKES-2026-00000{number}", "Айгуль", company)
        message = message_from_bytes(raw, policy=policy.default)
        assert str(message["From"]) == f"{company} <feedback@example.kz>"
        assert f"С уважением,\n{company}" in message.get_body(("plain",)).get_content()
