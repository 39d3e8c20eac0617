"""Attachment names both ways (issue 11.1): read whichever way the sender's client encoded them, written so
that Outlook, Thunderbird, Gmail and mail.ru show them; bytes unchanged; only separators and controls go."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.header import Header
from urllib.parse import quote

import pytest

from mailrobot.casework.records import files_not_kept, outgoing_files
from mailrobot.mail.compose import Attachment, Envelope, compose
from mailrobot.mail.mime import safe_filename
from mailrobot.mail.parse import parse_message
from mailrobot.mail.render import Rendered

NAMES = ["Счёт за май.pdf", "фото счётчика.jpg", "Өтініш_2026.docx", "Акт сверки.xlsx"]
DATA = bytes(range(256)) * 40


def with_part(headers: str, data: bytes = DATA) -> bytes:
    return (
        "From: Айгуль <aigul@mail.ru>\r\nTo: feedback@skes.kz\r\nSubject: Счёт\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nСчёт во вложении.\r\n--b\r\n"
        + headers
        + "Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(data).decode("ascii")
        + "--b--\r\n"
    ).encode("utf-8")


def rfc2231(name: str) -> str:  # Thunderbird, Gmail
    disposition = f"Content-Disposition: attachment; filename*=utf-8''{quote(name)}\r\n"
    return "Content-Type: application/pdf\r\n" + disposition


def rfc2047_quoted(name: str) -> str:  # Outlook
    word = Header(name, "utf-8").encode()
    return (
        f'Content-Type: application/pdf; name="{word}"\r\n'
        + f'Content-Disposition: attachment; filename="{word}"\r\n'
    )


def raw_utf8(name: str) -> str:  # mail.ru's web mail, phones
    return (
        f'Content-Type: application/pdf; name="{name}"\r\n'
        + f'Content-Disposition: attachment; filename="{name}"\r\n'
    )


@pytest.mark.parametrize("encoding", [rfc2231, rfc2047_quoted, raw_utf8])
@pytest.mark.parametrize("name", NAMES)
def test_names_are_read_exactly_as_sent(encoding, name: str) -> None:  # type: ignore[no-untyped-def]
    [part] = parse_message(with_part(encoding(name))).attachments
    assert part.filename == name
    assert part.data is not None and hashlib.sha256(part.data).digest() == hashlib.sha256(DATA).digest()


def test_names_are_written_so_every_reader_gets_them_back() -> None:
    names = [*NAMES, "report.csv", 'a "q" b;c.txt', "я" * 200 + ".pdf", "Счёт за май (копия).pdf"]
    raw = compose(
        Rendered("Ответ", "Текст", None),
        Envelope("feedback@skes.kz", "СКЭС", "aigul@mail.ru", message_id="<m@skes.kz>"),
        datetime(2026, 11, 20, tzinfo=UTC),
        [Attachment(n, "application/pdf", DATA) for n in names],
    )
    assert raw.isascii() and max(len(line) for line in raw.split(b"\r\n")) < 100
    stdlib = message_from_bytes(raw, policy=policy.default)
    assert [p.get_filename() for p in stdlib.iter_attachments()] == names  # type: ignore[attr-defined]
    ours = parse_message(raw).attachments
    assert [a.filename for a in ours] == names
    assert all(a.data == DATA for a in ours)
    assert b'name="=?utf-8?B?' in raw and b"filename*=utf-8''" in raw  # Outlook's and RFC 2231's forms


def test_outgoing_files_keep_the_names() -> None:
    parsed = parse_message(with_part(rfc2231("Өтініш_2026.docx")))
    [file] = outgoing_files(parsed.attachments)
    assert file.filename == "Өтініш_2026.docx" and file.data == DATA


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("..\\..\\Windows\\счёт.pdf", ".._.._Windows_счёт.pdf"),
        ("/etc/passwd", "_etc_passwd"),
        ("a\x00b.pdf", "a_b.pdf"),
        ("a\r\nSubject: x.pdf", "a__Subject: x.pdf"),
        ("..", ""),
    ],
)
def test_only_separators_and_control_characters_are_replaced(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


def test_hostile_names_give_a_name_never_a_crash() -> None:
    long_name = "я" * 10_000 + ".pdf"
    for headers in (
        rfc2231(long_name),
        rfc2047_quoted(long_name),
        raw_utf8("a\x00b.pdf"),
        'Content-Type: application/pdf; name="=?utf-8?B?'
        + base64.b64encode(b"x\r\ny\x00.pdf").decode()
        + '?="\r\n',
    ):
        [part] = parse_message(with_part(headers)).attachments
        assert 0 < len(part.filename) <= 255 and not any(c in part.filename for c in "\x00\r\n/\\")
        assert part.data == DATA
    [long] = parse_message(with_part(rfc2231(long_name))).attachments
    assert long.filename.endswith(".pdf")


def test_an_attachment_over_the_limit_is_named_with_its_size() -> None:
    parsed = parse_message(with_part(rfc2231("Видео счётчика.mp4")), max_attachment_bytes=100)
    assert files_not_kept(parsed.attachments, 100) == [
        {"name": "Видео счётчика.mp4", "size": len(DATA), "limit": 100}
    ]
    assert outgoing_files(parsed.attachments) == []
