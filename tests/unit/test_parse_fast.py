"""parse_message reads plain mail with the stdlib alone and runs mail-parser only where it can read something
differently (mail/plain.py): both paths must give the same `Parsed`, field by field.

`parse.ALWAYS_MAILPARSER` forces mail-parser on every message, which is how every message was read before;
each test compares the two readings of the same bytes.
"""

from __future__ import annotations

import dataclasses
import email
import logging
from collections.abc import Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from mailrobot.mail import parse
from mailrobot.mail.parse import Parsed, Unparseable, parse_message
from mailrobot.mail.plain import mailparser_reason
from tests.support.factories import consumer_mail
from tests.support.fuzz import corpus, mutations
from tests.support.paths import REPO

DATA = REPO / "tests" / "data"
VENDORED = sorted(
    p.relative_to(DATA).as_posix()
    for p in DATA.rglob("*")
    if p.is_file() and p.suffix not in (".md", ".json")
)

# What a consumer's mail looks like after Postfix and Dovecot's LMTP delivered it.
RECEIVED = (
    "Received: from mail.example.kz (mail.example.kz [192.0.2.10])\r\n"
    "\tby mx.skes.kz (Postfix) with ESMTPS id 4F1C2A0123\r\n"
    "\tfor <feedback@skes.kz>; Mon, 30 Nov 2026 14:00:00 +0600 (+06)",
    "Received: from mx.skes.kz ([10.0.0.5])\r\n\tby mail.skes.kz with LMTP\r\n"
    "\tid 9Kx1AbCdEf (envelope-from <aigul@mail.ru>)\r\n"
    "\tfor <feedback@skes.kz>; Mon, 30 Nov 2026 14:00:01 +0600",
    "Received: by 2002:a05:6a10:8e0b:b0:5d1:3a4f with SMTP id t11csp123456pxb;\r\n"
    "        Mon, 30 Nov 2026 00:00:02 -0800 (PST)",
)


@pytest.fixture(autouse=True)
def _quiet_mailparser() -> Iterator[None]:
    logger = logging.getLogger("mailparser")
    level = logger.level
    logger.setLevel(logging.CRITICAL)  # it logs raw header values (personal data) while recovering
    yield
    logger.setLevel(level)


def read(raw: bytes, force: bool) -> Parsed | str:
    """One reading: the Parsed value, or the Unparseable reason."""
    parse.ALWAYS_MAILPARSER = force
    try:
        return parse_message(raw)
    except Unparseable as exc:
        return f"Unparseable: {exc}"
    finally:
        parse.ALWAYS_MAILPARSER = False


def fields(value: Parsed | str) -> dict[str, Any] | str:
    """Every field; the date with its UTC offset too (aware datetimes compare equal across zones)."""
    if isinstance(value, str):
        return value
    out = dataclasses.asdict(value)
    out["date"] = None if value.date is None else (value.date, value.date.utcoffset())
    return out


def assert_same_reading(raw: bytes) -> None:
    fast, forced = fields(read(raw, False)), fields(read(raw, True))
    if isinstance(fast, dict) and isinstance(forced, dict):
        assert {k: v for k, v in fast.items() if v != forced[k]} == {}, "fields differ (fast path first)"
    assert fast == forced


def reason(raw: bytes) -> str | None:
    msg = email.message_from_bytes(raw, policy=policy.compat32)
    index: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        index.setdefault(name.strip().lower(), []).append(str(value))
    return mailparser_reason(msg, index)


def mail(*headers: str, body: str = "Здравствуйте! Нет света третий день.") -> bytes:
    base = {
        "From": "=?utf-8?b?0JDQudCz0YPQu9GMINCh0LXRgNC40LrQvtCy0LA=?= <aigul@mail.ru>",
        "To": "feedback@skes.kz",
        "Subject": "=?utf-8?b?0J7QsdGA0LDRidC10L3QuNC1?=",
        "Date": "Mon, 30 Nov 2026 14:00:00 +0600",
        "Message-ID": "<c1@mail.ru>",
    }
    extra, replaced = [], set()
    for header in headers:
        name, _, value = header.partition(":")
        if name in base and name not in replaced:
            base[name] = value.strip()
            replaced.add(name)
        else:
            extra.append(header)
    lines = [*extra, *(f"{k}: {v}" for k, v in base.items())]
    lines += [
        "MIME-Version: 1.0",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: 8bit",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + body + "\r\n").encode("utf-8", "surrogateescape")


# --- every vendored mail ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", VENDORED)
def test_vendored_mail_reads_the_same_on_both_paths(name: str) -> None:
    raw = (DATA / name).read_bytes()
    assert_same_reading(raw)
    if name.startswith("replies/"):  # reply bodies: also as the body of a consumer's mail
        assert_same_reading(consumer_mail(body=raw.decode("utf-8", "replace")))


def test_the_vendored_files_are_there_and_many_take_the_fast_path() -> None:
    messages = [n for n in VENDORED if n.startswith(("corpus/messages/", "dsn/"))]
    fast = [n for n in messages if reason((DATA / n).read_bytes()) is None]
    assert len(messages) > 75
    # plain mail among them: a consumer's mail from flanker, a helpdesk's, a Postfix bounce
    assert {"flanker/text-only.eml", "django-helpdesk/quoted_printable.eml"} <= {n[16:] for n in fast}
    assert "dsn/sisimai/lhost-exim-01.eml" in fast


# --- mutations --------------------------------------------------------------------------------------

_SMALL = [*corpus(max_bytes=100_000), *(mail(r) for r in RECEIVED)]
_PLAIN = [m for m in _SMALL if reason(m) is None]
PIECES = [
    '"', "\\", "<", ">", ",", ";", ":", "(", ")", "[", "]", "@", ".", " ", "\t", "\r\n ", "=?", "?=",
    "=?utf-8?b?0JDQudCz0YPQu9GM?=", "=?utf-8?q?A_B?=", "=?koi8-r?b?4c7O?=", "=?utf-8?b?QQ?=", "=?x?b?QQ==?=",
    "=?utf-16?b?2AA=?=", "=?utf-8?b?YUBiLmt6?=", "a@b.kz", "A.B@c-d.kz", "Name", "J.", '"Q, R"', '"a@b.kz"',
    "(Name)", "Айгуль", "\udcff", "Mon,", "Tue,", "30", "31", "Feb", "Nov", "2026", "26", "1899", "14:00",
    "14:00:60", "25:00:00", "+0600", "-0000", "+2400", "GMT", "UTC", "AST", "(PST)", "(a (b) c)", "from",
    "by", "with", "id", "for", "2020-01-01 10:00:00.123456789 +0000 UTC m=+1.0",
    "=?utf-8?b?" + "QUFB" * 20 + "?=", "\x00", "undisclosed-recipients:;", "a@b.kz (Mail Delivery System)",
]  # fmt: skip
HEADERS = ["From", "To", "Cc", "Reply-To", "Bcc", "Delivered-To", "Date", "Resent-Date", "Received",
           "Content-Type", "Content-Disposition"]  # fmt: skip


@st.composite
def header_mutations(draw: st.DrawFn) -> bytes:
    """A plain mail with one to three headers set to pieces that parsers disagree on."""
    head, sep, body = draw(st.sampled_from(_PLAIN)).partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = head.partition(b"\n\n")
    lines = head.split(b"\n")
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(HEADERS))
        value = "".join(draw(st.lists(st.sampled_from(PIECES), max_size=10)))
        line = f"{name}: {value}".encode("utf-8", "surrogateescape")
        same = [i for i, old in enumerate(lines) if old.lower().startswith(name.lower().encode() + b":")]
        if same and draw(st.booleans()):
            lines[same[0]] = line
        else:
            lines.insert(draw(st.integers(0, len(lines))), line)
    return b"\n".join(lines) + sep + body


_CT = ["application/pdf", "text/plain", "text/html", "image/png", "application/octet-stream", "text/rtf"]
_CT += ["multipart/mixed", "message/rfc822"]
_PARAMS = ["", "; name=a.pdf", '; name="=?utf-8?b?0JDQudCz?=.pdf"', "; name*=utf-8''%D0%90.pdf"]
_PARAMS += ["; charset=utf-8", '; charset="x-no-such"', "; charset=koi8-r", "; charset=utf-16"]
_PARAMS += ["; name*0=a; name*1=b", '; name=""', "; name*=unicode-escape''%5Cud800", "; boundary=zz"]
_PARAMS += ["; filename*=utf-8''%FF", "; charset*=utf-8''utf-8"]
_DISPOSITIONS = ["", "attachment", "inline", "attachment; filename=r.pdf", "inline; filename=r.txt"]
_DISPOSITIONS += ['inline; filename="=?koi8-r?b?4c7O?="', "attachment; filename*=utf-7''%2B2AA-"]
_ENCODINGS = ["", "base64", "quoted-printable", "7bit", "8bit", "x-uuencode", " base64 "]
_BODIES = ["JVBERi0xLjQK", "0JDQudCz0YPQu9GM", "/////w==", "hello", "=D0=90=FF", "\xff\xfe", "YWJj\r\nZA", ""]
_BODIES += ["Content-Type: text/plain\r\n\r\ninner"]


@st.composite
def part_mutations(draw: st.DrawFn) -> bytes:
    """A plain mail with a second part whose MIME headers and body are drawn from what parsers disagree on."""
    headers = [f"Content-Type: {draw(st.sampled_from(_CT))}{draw(st.sampled_from(_PARAMS))}"]
    for name, values in (("Content-Disposition", _DISPOSITIONS), ("Content-Transfer-Encoding", _ENCODINGS)):
        if value := draw(st.sampled_from(values)):
            headers.append(f"{name}: {value}")
    if draw(st.booleans()):
        headers.append("Content-ID: <img1@skes.kz>")
    text = draw(st.sampled_from(["Content-Transfer-Encoding: base64\r\n\r\n0JDQudCz0YPQu9GM", "\r\nhi"]))
    raw = (
        "From: =?utf-8?b?0JDQudCz0YPQu9GM?= <a@b.kz>\r\nTo: c@d.kz\r\n"
        "Date: Mon, 30 Nov 2026 14:00:00 +0600\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        f"--b\r\nContent-Type: text/plain; charset=utf-8\r\n{text}\r\n--b\r\n"
        + "\r\n".join(headers)
        + f"\r\n\r\n{draw(st.sampled_from(_BODIES))}\r\n--b--\r\n"
    )
    return raw.encode("latin-1")


_FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@_FUZZ
@given(mutations(_SMALL))
def test_byte_mutations_of_the_corpus_read_the_same(raw: bytes) -> None:
    assert_same_reading(raw)


@_FUZZ
@given(mutations(_PLAIN))
def test_byte_mutations_of_plain_mail_read_the_same(raw: bytes) -> None:
    assert_same_reading(raw)


@_FUZZ
@given(part_mutations())
def test_part_mutations_read_the_same(raw: bytes) -> None:
    assert_same_reading(raw)


@_FUZZ
@given(header_mutations())
def test_header_mutations_read_the_same(raw: bytes) -> None:
    assert_same_reading(raw)


def test_the_plain_mutations_do_reach_the_fast_path() -> None:
    # Without this the mutation tests above could pass by sending everything to mail-parser.
    assert len(_PLAIN) >= 30
    assert Path(DATA / "corpus/messages/flanker/text-only.eml").read_bytes() in _PLAIN
