"""Which inputs take mail-parser's path and which the stdlib's alone (mail/plain.py), each read the same
on both: hand-made headers and parts that need mail-parser's recovery or on which it reports something,
and plain mail that must never reach it."""

from __future__ import annotations

import email
from email import policy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailrobot.mail import mime, parse, plain
from mailrobot.mail.parse import parse_message
from mailrobot.mail.plain import mailparser_reason, plain_pairs
from tests.support.factories import consumer_mail
from tests.unit.test_parse_fast import (
    _FUZZ,
    PIECES,
    RECEIVED,
    _quiet_mailparser,
    assert_same_reading,
    mail,
    reason,
)

__all__ = ["_quiet_mailparser"]  # the autouse fixture, for this module too


# --- what needs mail-parser, and what does not -------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        '"Name" <aigul@mail.ru>, junk',  # recovery of a broken list
        "Ivanov, Ivan <ivan@mail.ru>",  # an unquoted comma in the name
        '"=?utf-8?b?0JDQudCz0YPQu9GM?=" <aigul@mail.ru>',  # an encoded word inside quotes
        "Aigul aigul@mail.ru",  # no angle brackets
        "Aigul <aigul@mail.ru",  # no closing bracket
        "<aigul@mail.ru> Aigul",  # the name after the address
        "aigul(home)@mail.ru",  # a comment inside the address
        "purchasing@example.kz <do-not-reply@mail.ru>",  # an address as the name
        # an encoded word over 75 characters
        "=?utf-8?b?0YHQu9GD0LbQsdCwINCk0J3QoSDQlNCw0L3QuNC40Lsg0KHRg9Cy0L7RgNC+0LI=?= <a@mail.ru>",
        "=?utf-8?B?a?= <aigul@mail.ru>",  # a base64 word mail-parser cannot decode (it raises)
        "=?koi8-r?b?4c7O?= <aigul@mail.ru>",  # a charset decode_header_value may read otherwise
        "undisclosed-recipients:;",  # a group
        "Aigul\udcff <aigul@mail.ru>",  # 8-bit bytes
    ],
)
def test_a_sender_that_needs_recovery_takes_the_mail_parser_path(header: str) -> None:
    raw = mail(f"From: {header}")
    assert reason(raw) == "from is not a plain address list"
    assert_same_reading(raw)


@pytest.mark.parametrize(
    "header",
    [
        "Cc: Ivanov, Ivan <ivan@mail.ru>",
        "To: feedback@skes.kz, , x@y.kz",
        "Reply-To: <aigul@mail.ru",
        "Bcc: a(b)@c.kz",
        "Delivered-To: feedback@[192.0.2.1]",
    ],
)
def test_other_broken_address_headers_take_the_mail_parser_path(header: str) -> None:
    raw = mail(header)
    assert reason(raw) == f"{header.split(':')[0].lower()} is not a plain address list"
    assert_same_reading(raw)


@pytest.mark.parametrize(
    "value",
    [
        "31 Feb 2026 25:61:61 +9999",  # impossible
        "Tue, 30 Nov 2026 14:00:00 +0600",  # the wrong weekday
        "30 Nov 26 14:00 GMT",  # obs-date: two-digit year (the stdlib reads 50-68 as 20xx, mail-parser 19xx)
        "Mon, 30 Nov 2026 14:00:00 (ALMT) +0600",  # a comment before the zone
        "Mon, 30 Nov 2026 14:00:00 AST",  # a zone the two readers place differently
        "Mon, 30 Nov 2026 14:00:00 A",  # a military zone
        "Mon, 30 Nov 2026 14:00:60 +0600",  # a leap second
        "Mon, 30 Nov 2026 14:00:00 +0600 (\udcd0)",  # an 8-bit byte in the comment: invalid UTF-8
        "2026-11-30 14:00:00",
        "",
    ],
)
def test_a_date_that_is_not_plain_takes_the_mail_parser_path(value: str) -> None:
    raw = mail(f"Date: {value}")
    assert reason(raw) == "date is not a plain date"
    assert_same_reading(raw)


@pytest.mark.parametrize(
    "value",
    [
        "from a (b by c; Mon, 30 Nov 2026 14:00:00 +0600",  # an unclosed comment
        "from a by b <c@d.kz; Mon, 30 Nov 2026 14:00:00 +0600",  # an unclosed angle
        "from a by b id 1; for <c@d.kz>; Mon, 30 Nov 2026 14:00:00 +0600",  # two separators
        "from a by b; Tue, 30 Nov 2026 14:00:00 +0600",  # the wrong weekday
        "from a by b with SMTP 2026-11-30 08:00:00.123456789 +0000 UTC m=+0.1",  # SendGrid's stamp
        "from a by b;",
        "from a ([192.0.2.1]) by <(b> c; Mon, 30 Nov 2026 14:00:00 +0600",  # a comment opened in an angle
    ],
)
def test_a_trace_field_mail_parser_reports_takes_its_path(value: str) -> None:
    raw = mail(f"Received: {value}")
    assert reason(raw) == "received is not plain"
    assert_same_reading(raw)


@pytest.mark.parametrize(
    "headers",
    [
        ("Resent-Date: yesterday",),
        ("To: a@b.kz", "To: c@d.kz"),  # mail-parser reads only the first
        ("From: a@b.kz", "From: c@d.kz"),
        ("X-Note: =?utf\x00?q?x?=",),  # mail-parser decodes every header; this charset makes it raise
    ],
)
def test_more_cases_that_take_the_mail_parser_path(headers: tuple[str, ...]) -> None:
    raw = mail(*headers)
    assert reason(raw) is not None
    assert_same_reading(raw)


@pytest.mark.parametrize(
    ("content_type", "encoding", "body"),
    [
        ('text/plain; charset="utf-8"', "base64", "0JfQtNGA0LDQstGB0YLQstGD0LnRgtC1/w=="),  # not UTF-8 inside
        ('text/plain; charset="x-no-such"', "base64", "0JfQtNGA0LDQstGB0YLQstGD0LnRgtC1"),
        ('text/plain; charset="utf-8"', "base64", "0JfQtNGA0LDQstGB0YLQstGD0LnRgtC"),  # bad padding: a defect
        ("application/octet-stream", "base64", "/////w=="),  # no name: mail-parser reads it as text
    ],
)
def test_a_body_part_mail_parser_would_report_takes_its_path(
    content_type: str, encoding: str, body: str
) -> None:
    raw = mail().replace(
        b'Content-Type: text/plain; charset="utf-8"', f"Content-Type: {content_type}".encode()
    )
    raw = raw.replace(b"Transfer-Encoding: 8bit", f"Transfer-Encoding: {encoding}".encode())
    raw = raw.split(b"\r\n\r\n")[0] + f"\r\n\r\n{body}\r\n".encode()
    assert reason(raw) is not None
    assert_same_reading(raw)


@pytest.mark.parametrize(
    "name",
    [
        "filename*=unicode-escape''%5Cud800.pdf",  # RFC 2231 in a codec that gives a lone surrogate
        "filename*=utf-7''%2B2AA-.pdf",
        'filename="=?unicode-escape?q?=5Cud800?="',  # an encoded word in such a codec
    ],
)
def test_a_file_name_mail_parser_reports_takes_its_path(name: str) -> None:
    raw = (
        "From: a@b.kz\r\nTo: c@d.kz\r\nDate: Mon, 30 Nov 2026 14:00:00 +0600\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\n"
        f"Content-Type: application/pdf\r\nContent-Disposition: attachment; {name}\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n--b--\r\n"
    ).encode()
    assert reason(raw) == "a file name mail-parser may not decode"
    assert_same_reading(raw)
    assert reason(raw.replace(name.encode(), b'filename="receipt.pdf"')) is None


def test_an_8bit_file_with_an_rfc2231_charset_takes_the_mail_parser_path() -> None:
    # mail-parser reads a base64 file with get_payload(), which raises TypeError on 8-bit bytes when the
    # charset parameter is an RFC 2231 one; it fails and the stdlib reading is used, with a note.
    raw = (
        "From: a@b.kz\r\nTo: c@d.kz\r\nDate: Mon, 30 Nov 2026 14:00:00 +0600\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\n"
        "Content-Type: application/pdf; charset*=utf-8''utf-8\r\nContent-Disposition: attachment\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n\xff\xfe\r\n--b--\r\n"
    ).encode("latin-1")
    assert reason(raw) == "a payload get_payload() cannot give"
    assert_same_reading(raw)
    assert any("mail-parser failed (TypeError)" in d for d in parse_message(raw).defects)


def test_parts_are_left_as_parsed_for_mail_parser() -> None:
    # Decoding records base64 defects on a part; mail-parser must still find the part as parsed.
    raw = mail().replace(b"8bit", b"base64").split(b"\r\n\r\n")[0] + b"\r\n\r\n0JfQtNG=A0LD\r\n"
    msg = email.message_from_bytes(raw, policy=policy.compat32)
    assert msg.defects == []
    mailparser_reason(msg, {})
    assert msg.defects == []
    assert_same_reading(raw)


# --- the parts are checked in the body's one walk ------------------------------------------------------

_BAD_NAME = "Content-Disposition: attachment; filename*=utf-7''%2B2AA-.pdf"


def _multipart(*parts: str) -> bytes:
    head = (
        "From: a@b.kz\r\nTo: c@d.kz\r\nDate: Mon, 30 Nov 2026 14:00:00 +0600\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
    )
    return (head + "".join(f"--b\r\n{part}\r\n" for part in parts) + "--b--\r\n").encode()


def _nested(levels: int, part: str) -> str:
    for i in range(levels):
        part = f"Content-Type: multipart/mixed; boundary=d{i}\r\n\r\n--d{i}\r\n{part}\r\n--d{i}--"
    return part


@pytest.mark.parametrize(
    "part",
    [
        # where the walk of the body does not go: an attached message, a DSN's blocks, past the depth cap
        "Content-Type: message/rfc822\r\n\r\nFrom: x@y.kz\r\nContent-Type: multipart/mixed; boundary=i\r\n"
        f"\r\n--i\r\nContent-Type: application/pdf\r\n{_BAD_NAME}\r\n\r\nJVBERg==\r\n--i--",
        "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.skes.kz\r\n\r\n"
        "Final-Recipient: rfc822; a@b.kz\r\nnot a field",
        _nested(35, f"Content-Type: application/pdf\r\n{_BAD_NAME}\r\n\r\nJVBERg=="),
        # a multipart whose boundary never appears: its own body is what mail-parser reads as text
        "Content-Type: multipart/mixed; boundary=zz\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        "--y\r\nContent-Type: text/plain\r\n\r\nhi\r\n--y--",
    ],
)
def test_parts_the_walk_does_not_read_itself_are_checked_whole(part: str) -> None:
    raw = _multipart(part)
    assert reason(raw) is not None
    assert_same_reading(raw)


def test_parts_past_the_walks_part_limit_are_checked() -> None:
    plain = ["Content-Type: text/plain\r\n\r\nhi"] * (mime.MAX_PARTS + 5)
    assert reason(_multipart(*plain)) is None
    raw = _multipart(*plain, f"Content-Type: application/pdf\r\n{_BAD_NAME}\r\n\r\nJVBERg==")
    assert reason(raw) == "a file name mail-parser may not decode"
    assert_same_reading(raw)


def test_the_notes_of_mail_parser_and_of_from_come_before_the_bodys() -> None:
    # mail-parser runs after the walk now; its notes and the sender's keep their place before the walk's.
    raw = mail("From: Nobody").replace(b'charset="utf-8"', b'charset="x-no-such"')
    assert reason(raw) is not None
    assert_same_reading(raw)
    defects = parse_message(raw).defects
    sender = next(i for i, d in enumerate(defects) if d.startswith("From has no usable address"))
    assert sender < next(i for i, d in enumerate(defects) if "unknown charset" in d)


@pytest.mark.parametrize(
    "headers",
    [
        (),
        RECEIVED,
        ("From: aigul@mail.ru",),
        ('From: "Seitkali, Aigul" <Aigul.Seitkali@mail.ru>',),
        ("From: J. R. Smith <j.smith@example.com>",),
        ("From: MAILER-DAEMON@mx.skes.kz (Mail Delivery System)",),
        ('From: "aigul@mail.ru" <aigul@mail.ru>',),  # a name that is the address: mail-parser drops it
        ("From: =?utf-8?b?YWlndWxAbWFpbC5ydQ==?= <aigul@mail.ru>",),  # the same, encoded
        ("From: =?UTF-8?Q?=D0=90=D0=B9=D0=B3=D1=83=D0=BB=D1=8C?= Seitkali <aigul@mail.ru>",),
        ("To: feedback@skes.kz, =?koi8-r?b?4c7O?= <x@y.kz>", "Cc: Operator <op@skes.kz>"),
        ("Date: 30 Nov 2026 08:00 GMT", "Resent-Date: Mon, 30 Nov 2026 14:00:00 +0600 (ALMT)"),
    ],
)
def test_plain_mail_is_read_by_the_stdlib_alone(
    headers: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = mail(*headers)
    assert reason(raw) is None
    assert_same_reading(raw)
    monkeypatch.setattr(parse, "_run_mailparser", _no_mailparser)
    parsed = parse_message(raw)
    assert parsed.date is not None and parsed.date.utcoffset() is not None
    assert parsed.date.utcoffset().total_seconds() == 0  # in UTC, as mail-parser gave it


def _no_mailparser(*_: object) -> None:
    raise AssertionError("mail-parser ran on plain mail")


def test_the_bench_mail_takes_the_fast_path() -> None:
    # bench/intake.py's mails(): consumer_mail with these bodies
    for i, body in enumerate(
        ["Здравствуйте! Перерасчёт!", "Сәлеметсіз бе! Төлем түспеді.", "Hello, I paid."]
    ):
        raw = consumer_mail(sender=f"consumer{i}@mail.ru", subject=f"Обращение {i}", body=body)
        assert reason(raw) is None
        assert_same_reading(raw)


# --- plain address lists read without getaddresses -----------------------------------------------------

_ADDRESS_PIECES = [
    *PIECES,
    "a@b.kz",
    "<a@b.kz>",
    " <c.d@e-f.kz>",
    "(Doe, John)",
    '"Doe, John"',
    '""',
    "  ",
    "\t",
]
_WORDS = ["J.", "Aigul", "=?utf-8?q?A_B?=", ".", "O'Neil", '""', '"Q, R"', '" a  b "', '"(x)"', '"a@b.kz"']
_SPECS = ["a@b.kz", "A.B@c-d.kz", "x+y@z.kz", "a=b?c@d", "#!@x"]
_NAMES = ["(Name)", "(Doe, John)", "( a  b )", "()", '("q")', "(a@b.kz)", "(<x>)"]
_FWS = st.sampled_from(["", " ", "  ", "\t", "\r\n ", "\r\n\t"])


@st.composite
def _address_list(draw: st.DrawFn) -> str:
    """A list along plain.py's grammar, sometimes with a piece out of place."""
    items = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.integers(0, 2))
        spec = draw(st.sampled_from(_SPECS))
        if kind == 0:
            words = draw(st.lists(st.sampled_from(_WORDS), max_size=3))
            items.append(" ".join(words) + draw(_FWS) + f"<{spec}>")
        else:
            items.append(spec + (" " + draw(st.sampled_from(_NAMES)) if kind == 2 else ""))
    value = draw(_FWS) + (draw(_FWS) + "," + draw(_FWS)).join(items) + draw(_FWS)
    if draw(st.booleans()):
        at = draw(st.integers(0, len(value)))
        value = value[:at] + draw(st.sampled_from(_ADDRESS_PIECES)) + value[at:]
    return value


def _getaddresses(values: list[str]) -> list[tuple[str, str]]:
    return email.utils.getaddresses([v.replace("\r", " ").replace("\n", " ") for v in values])


_RANDOM_LIST = st.lists(st.sampled_from(_ADDRESS_PIECES), max_size=12).map("".join)


@_FUZZ
@given(st.lists(_address_list() | _RANDOM_LIST, min_size=1, max_size=3))
def test_plain_pairs_are_what_getaddresses_reads(values: list[str]) -> None:
    pairs = plain_pairs(values)
    assert pairs is None or pairs == _getaddresses(values)
    # and it reads every list the check calls plain (To, Cc, Reply-To), no other
    plain_list = all(
        v.isascii() and len(v) <= plain.MAX_VALUE and plain._PLAIN_LIST.fullmatch(v) for v in values
    )
    assert (pairs is not None) == plain_list


@pytest.mark.parametrize(
    "value",
    [
        "aigul@mail.ru",
        "Aigul <aigul@mail.ru>",
        '"Seitkali, Aigul" <Aigul.Seitkali@mail.ru>, op@skes.kz',
        'J. R. "Bob" Smith <j.smith@example.com>',
        "MAILER-DAEMON@mx.skes.kz (Mail Delivery System)",
        "=?utf-8?b?0JDQudCz0YPQu9GM?=\r\n <aigul@mail.ru>,\r\n\t<b@c.kz> , d@e.kz (D,  E)",
        '"" <a@b.kz>',
    ],
)
def test_plain_address_lists_are_read_without_getaddresses(value: str) -> None:
    assert plain_pairs([value, "x@y.kz"]) == _getaddresses([value, "x@y.kz"])


@pytest.mark.parametrize("value", ["", " ", "undisclosed-recipients:;", "a@b.kz,", "Ivanov, Ivan <i@b.kz>"])
def test_other_address_lists_are_left_to_getaddresses(value: str) -> None:
    assert plain_pairs([value]) is None
