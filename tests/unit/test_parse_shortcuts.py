"""The short cuts parse takes past stdlib calls on the usual header values (mail/mime.py's Leaf.charset,
parse's space test in an address) give what the stdlib call gives, on those values and on values built to
trip them."""

from __future__ import annotations

import sys
from collections.abc import Callable
from email.message import Message

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailrobot.mail import mime, parse
from mailrobot.mail.mime import Leaf
from tests.unit.test_parse_fast import _FUZZ

_PIECES = [
    "text/plain", "text/html", "multipart/mixed", "x", "/", ";", " ", "\t", "\r\n ", "=", '"', "'", "\\",
    "charset", "Charset", "charset*", "*0", "utf-8", "UTF-8", "koi8-r", "us-ascii", "windows-1251",
    "x-no-such", "utf-8''", "%D0", "name", "a.pdf", "format=flowed", "\x00", "\udcff", "é", "(c)", ":", "+",
]  # fmt: skip
_WS = st.sampled_from(["", " ", "\t", "\r\n "])


@st.composite
def _content_type(draw: st.DrawFn) -> str:
    """A type and a charset as clients write them, sometimes with a piece out of place."""
    ctype = draw(st.sampled_from(["text/plain", "text/html", "x/y", "text/plain "]))
    charset = draw(st.sampled_from(["utf-8", "UTF-8", "koi8-r", "x-no-such", "a.b:c+d_e"]))
    if draw(st.booleans()):
        charset = f'"{charset}"'
    value = ctype + draw(_WS) + ";" + draw(_WS) + "charset=" + charset + draw(_WS)
    if draw(st.booleans()):
        at = draw(st.integers(0, len(value)))
        value = value[:at] + draw(st.sampled_from(_PIECES)) + value[at:]
    return value


def _part(content_type: str) -> Message:
    part = Message()
    part["Content-Type"] = content_type
    return part


def _reading(read: Callable[[], str | None]) -> object:
    try:
        return read()
    except Exception as exc:  # then the short cut must raise the same
        return type(exc)


@_FUZZ
@given(_content_type() | st.lists(st.sampled_from(_PIECES), max_size=10).map("".join))
def test_the_charset_short_cut_reads_what_get_content_charset_reads(content_type: str) -> None:
    part = _part(content_type)
    assert _reading(lambda: Leaf(part).charset) == _reading(part.get_content_charset)


@pytest.mark.parametrize(
    ("content_type", "charset"),
    [
        ('text/plain; charset="utf-8"', "utf-8"),
        ("text/plain; charset=UTF-8", "utf-8"),
        ("text/html;\r\n\tcharset=koi8-r", "koi8-r"),
        ('text/plain; charset="utf-8"; format=flowed', "utf-8"),  # not the short cut's: the stdlib reads it
        ("text/plain; Charset=Windows-1251", "windows-1251"),
        ('text/plain; charset="utf-8', '"utf-8'),
        ("charset=utf-8", "utf-8"),
        ("text/plain", None),
    ],
)
def test_usual_charsets(content_type: str, charset: str | None) -> None:
    assert Leaf(_part(content_type)).charset == charset == _part(content_type).get_content_charset()


def test_the_short_cut_takes_the_usual_values() -> None:
    for value in (
        'text/plain; charset="utf-8"',
        "text/html; charset=windows-1251",
        "text/plain;\r\n charset=us-ascii",
    ):
        assert mime._ONLY_CHARSET.fullmatch(value)


def test_an_address_space_is_what_isspace_calls_one() -> None:
    # parse._normalize_address finds spaces with a pattern instead of str.isspace() per character
    differ = [c for c in range(sys.maxunicode + 1) if bool(parse._SPACE.search(chr(c))) != chr(c).isspace()]
    assert differ == []
    assert parse._normalize_address("a b@c.kz") == parse._normalize_address("a\u2003@c.kz") == ""
