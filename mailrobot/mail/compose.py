"""Rendered text -> the bytes of an outgoing mail, with every header built from safe values only.

Built by hand rather than with `email.message.EmailMessage`: the standard library's header folding costs
about 4 ms a mail, which alone would cap the robot below its throughput target.  Every header value here is
either ours (ASCII) or passed through `header_safe` and RFC 2047 encoding, and bodies are base64, so no
line a consumer wrote can ever start a header.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import base64mime, quoprimime
from email.header import MAXLINELEN, Header
from email.utils import format_datetime, formataddr
from functools import lru_cache

from mailrobot.mail.render import Rendered
from mailrobot.mail.text import header_safe

_MSGID = re.compile(r"^[!-;=?-~]+$")  # printable ASCII without '<' and '>': safe inside <...>
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")
_CRLF = "\r\n"


@dataclass(frozen=True)
class Envelope:
    """Who a mail is from and to, and what it answers.  Addresses are checked before they get here."""

    from_address: str
    from_name: str
    to_address: str
    to_name: str = ""
    message_id: str = ""
    in_reply_to: str | None = None  # without angle brackets
    references: tuple[str, ...] = ()
    reply_to: str | None = None
    auto_submitted: str | None = "auto-replied"
    case_number: str | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Attachment:
    """A file sent with a mail: a consumer's or an operator's, passed on under its own name, or the robot's
    (the monthly report's CSV and FAQ draft)."""

    filename: str  # any characters: written as RFC 2231 and an RFC 2047 name= (_file_part)
    content_type: str  # e.g. "text/csv"
    data: bytes
    # A big file read a piece at a time (a stored file's chunks, a part of the raw mail): `data` is unused.
    pieces: Callable[[], Iterable[bytes]] | None = field(default=None, compare=False, repr=False)
    size: int | None = None  # the bytes `pieces` gives: the mail is then written into one buffer of its size


def _mailbox(name: str, address: str) -> str:
    name = header_safe(name, 80)
    data = _utf8(name) if address.isascii() and not name.isascii() else None
    if data is None:
        return formataddr((name, address), charset="utf-8")
    # What formataddr writes for a non-ASCII name (one encoded word, base64 or Q, whichever is shorter),
    # without email.charset's measuring of Q a byte at a time.
    return f"{_shorter_encoding(data)(data, charset='utf-8')} <{address}>"


@lru_cache(maxsize=64)
def _sender(name: str, address: str) -> str:
    """The From mailbox: the company's name in a language, the same on every mail, so encoded once.
    Keyed on its arguments: a reload's new name or address is a new entry, never a stale one."""
    return _mailbox(name, address)


def _text_header(name: str, value: str) -> str:
    value = header_safe(value, 250)
    if value.isascii() and len(value) < 900:
        return f"{name}: {value}"
    folded = _encoded_line(name, value)
    if folded is None:
        folded = Header(value, "utf-8", header_name=name).encode(linesep=_CRLF)
    return f"{name}: {folded}"


_CHROME = len("=?utf-8?b??=")  # what an encoded word adds to its text (the same for ?q?)
# The bytes that Q writes as one character (the rest as three, =XX).
_Q_PLAIN = bytes(b for b in range(256) if quoprimime.header_length(bytes([b])) == 1)


def _encoded_line(name: str, value: str) -> str | None:
    """What `Header(value, "utf-8", header_name=name).encode(linesep=CRLF)` returns for one line of text,
    computed as it does (the shorter of base64 and Q for the whole value; each word the most characters that
    fit on its line), without re-encoding the word at each character: 35 us a notice's subject, a tenth of
    the notice.  None where Header would do something else (several lines, a lone surrogate, a header name
    so long that no character fits): the caller asks Header then."""
    data = _utf8(value) if value.splitlines() == [value] else None
    if data is None:
        return None
    encode = _shorter_encoding(data)
    b64 = encode is base64mime.header_encode
    limit = MAXLINELEN - len(name) - 2 - _CHROME  # the first line holds "Name: " too
    words: list[str] = []
    while data:
        cut = 3 * (limit // 4) if b64 else _q_fit(data, limit)  # base64: 4 characters a 3 bytes or part
        while 0 < cut < len(data) and data[cut] & 0xC0 == 0x80:  # inside a character: before it
            cut -= 1
        if cut == 0:  # Header would leave the first line empty
            return None
        words.append(encode(data[:cut], charset="utf-8"))
        data, limit = data[cut:], MAXLINELEN - 1 - _CHROME  # a continuation line starts with a space
    return f"{_CRLF} ".join(words)


def _utf8(value: str) -> bytes | None:
    """`value` as UTF-8; None for a lone surrogate (which the standard library refuses, in its own way)."""
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        return None


def _shorter_encoding(data: bytes) -> Callable[..., str]:
    """The RFC 2047 encoder email.charset picks for UTF-8: base64 if shorter than Q, else Q (a tie too)."""
    q_length = len(data) + 2 * len(data.translate(None, _Q_PLAIN))  # quoprimime.header_length, faster
    return base64mime.header_encode if base64mime.header_length(data) < q_length else quoprimime.header_encode


def _q_fit(data: bytes, limit: int) -> int:
    """How many of `data`'s first bytes fit in `limit` characters as Q: one each if plain, else three."""
    length = 0
    for at, byte in enumerate(data):
        length += 1 if byte in _Q_PLAIN else 3
        if length > limit:
            return at
    return len(data)


@lru_cache(maxsize=16)
def _date(date: datetime, offset: timedelta | None) -> str:
    """The Date header's value: a batch's mail all have its clock's.  Keyed on the offset too: the same
    moment in another zone is an equal datetime, but another Date."""
    return format_datetime(date)


def _safe_ids(ids: Sequence[str]) -> list[str]:
    return [f"<{i}>" for i in ids if _MSGID.match(i)]


def _base64(data: bytes) -> str:
    """`base64.encodebytes` with CRLF: lines of 76 characters, the last one shorter, each ended.  Encoded
    whole and cut, rather than encodebytes' one call a line (the same text: 57 bytes make 76 characters)."""
    if not data:
        return ""
    encoded = binascii.b2a_base64(data, newline=False).decode("ascii")
    return _CRLF.join([encoded[at : at + 76] for at in range(0, len(encoded), 76)]) + _CRLF


# Bytes encoded a block at a time: a multiple of 57 (one 76-character line), about 1 MB.
_BLOCK = 57 * 18_000


def _base64_lines(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """Base64 lines of 76 characters ended by CRLF (what _base64 writes), a block of lines at a time: a 25 MB
    file is never encoded, decoded to text and re-encoded whole (that took several 34 MB copies)."""
    pending = b""
    for piece in pieces:
        view = memoryview(pending + piece if pending else piece)
        whole = len(view) // _BLOCK * _BLOCK
        for at in range(0, whole, _BLOCK):
            yield base64.encodebytes(view[at : at + _BLOCK]).replace(b"\n", b"\r\n")
        pending = bytes(view[whole:])
    if pending:
        yield base64.encodebytes(pending).replace(b"\n", b"\r\n")


def _text_part(subtype: str, text: str) -> str:
    body = text.replace("\r\n", "\n")
    if body.isascii() and max(map(len, body.split("\n"))) < 900:
        encoded, charset, cte = body.replace("\n", _CRLF).rstrip(_CRLF) + _CRLF, "us-ascii", "7bit"
    else:
        encoded, charset, cte = _base64(body.encode("utf-8")), "utf-8", "base64"
    head = f'Content-Type: text/{subtype}; charset="{charset}"{_CRLF}Content-Transfer-Encoding: {cte}{_CRLF}'
    return head + _CRLF + encoded


_PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ ()-]{0,69}$")  # safe as a quoted string as it is
_NAME_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f/\\\u2028\u2029]")
_ATTR_CHAR = re.compile(rb"[A-Za-z0-9!#$&+.^_`|~-]")  # RFC 2231 attribute-char, minus the ones we quote


def _rfc2231(value: str, per_line: int = 60) -> list[str]:
    """`value` as RFC 2231 extended-value pieces (percent-encoded UTF-8), none longer than `per_line`."""
    pieces, current = [], ""
    for char in value:
        encoded = "".join(
            chr(b) if _ATTR_CHAR.match(bytes([b])) else f"%{b:02X}" for b in char.encode("utf-8")
        )
        if len(current) + len(encoded) > per_line:
            pieces.append(current)
            current = ""
        current += encoded
    return [*pieces, current]


def _encoded_words(value: str, per_word: int = 45) -> str:
    """`value` as RFC 2047 base64 words of at most `per_word` UTF-8 bytes each, one per folded line."""
    words, chunk = [], b""
    for char in value:
        data = char.encode("utf-8")
        if len(chunk) + len(data) > per_word:
            words.append(chunk)
            chunk = b""
        chunk += data
    words.append(chunk)
    return f"{_CRLF} ".join(f"=?utf-8?B?{base64.b64encode(w).decode('ascii')}?=" for w in words)


def file_name_params(filename: str) -> tuple[str, str]:
    """The Content-Type `name` and the Content-Disposition `filename` parameters of an attachment: a plain
    ASCII name as it is; any other as RFC 2231 `filename*` (Thunderbird, Gmail, mail.ru read it) and an
    RFC 2047 `name=` (Outlook reads that), as Outlook-compatible senders write them."""
    name = _NAME_UNSAFE.sub("_", filename).strip() or "attachment"
    if _PLAIN_NAME.match(name):
        return f'name="{name}"', f'filename="{name}"'
    pieces = _rfc2231(name)
    if len(pieces) == 1:
        disposition = f"filename*=utf-8''{pieces[0]}"
    else:
        first = f"filename*0*=utf-8''{pieces[0]}"
        rest = (f"filename*{i}*={p}" for i, p in enumerate(pieces[1:], 1))
        disposition = f";{_CRLF} ".join((first, *rest))
    return f'name="{_encoded_words(name)}"', disposition


def _encoded_size(size: int) -> int:
    """Bytes of _base64_lines for `size` bytes: 4 characters per 3 bytes, CRLF after each 76 and the last."""
    chars = 4 * ((size + 2) // 3)
    return chars + 2 * ((chars + 75) // 76)


@dataclass(frozen=True)
class _Encoded:
    """A file's base64 lines, not yet encoded: written straight into the composed mail's buffer."""

    pieces: Callable[[], Iterable[bytes]]
    size: int

    def __len__(self) -> int:
        return _encoded_size(self.size)

    def lines(self) -> Iterator[bytes]:
        return _base64_lines(self.pieces())


def _file_part(attachment: Attachment) -> list[bytes | _Encoded]:
    content_type = (
        attachment.content_type
        if re.match(r"^[a-z0-9.+-]+/[a-z0-9.+-]+$", attachment.content_type)
        else "application/octet-stream"
    )
    name, filename = file_name_params(attachment.filename)
    head = (
        f"Content-Type: {content_type};{_CRLF} {name}{_CRLF}Content-Transfer-Encoding: base64{_CRLF}"
        f"Content-Disposition: attachment;{_CRLF} {filename}{_CRLF}{_CRLF}"
    )
    if attachment.pieces is not None and attachment.size is not None:
        return [head.encode("ascii"), _Encoded(attachment.pieces, attachment.size)]
    pieces = attachment.pieces() if attachment.pieces is not None else (attachment.data,)
    return [head.encode("ascii"), *_base64_lines(pieces)]


def _joined(segments: list[bytes | _Encoded]) -> bytes | bytearray:
    """The mail's bytes: joined, or, with a big file, written into one buffer of the mail's exact size (a
    bytearray: joining a 34 MB forward made a second 34 MB copy)."""
    if not any(isinstance(s, _Encoded) for s in segments):
        return b"".join(s for s in segments if isinstance(s, bytes))
    buffer, at = bytearray(sum(map(len, segments))), 0
    for segment in segments:
        for piece in segment.lines() if isinstance(segment, _Encoded) else (segment,):
            buffer[at : at + len(piece)] = piece  # in place; past the end, it grows
            at += len(piece)
    # A file that gave other bytes than its recorded size (a row stored by an older version, say): the
    # buffer grew where it gave more; where it gave fewer, the rest goes.
    del buffer[at:]
    return buffer


def _multipart(subtype: str, parts: list[list[bytes | _Encoded]]) -> list[bytes | _Encoded]:
    """A multipart body as pieces of bytes, joined once by compose (no whole copy per level)."""
    boundary = "=_mr_" + secrets.token_hex(12)
    pieces: list[bytes | _Encoded] = [
        f'Content-Type: multipart/{subtype}; boundary="{boundary}"{_CRLF}{_CRLF}'.encode("ascii")
    ]
    for part in parts:
        pieces += [f"--{boundary}{_CRLF}".encode("ascii"), *part]
    return [*pieces, f"--{boundary}--{_CRLF}".encode("ascii")]


def _headers(rendered: Rendered, envelope: Envelope, date: datetime) -> list[str]:
    lines = [
        f"From: {_sender(envelope.from_name, envelope.from_address)}",
        f"To: {_mailbox(envelope.to_name, envelope.to_address)}",
    ]
    if envelope.reply_to:
        lines.append(f"Reply-To: {_mailbox(envelope.from_name, envelope.reply_to)}")  # a case's own
    lines += [
        _text_header("Subject", rendered.subject),
        f"Date: {_date(date, date.utcoffset())}",
        f"Message-ID: {envelope.message_id}",
    ]
    parents = _safe_ids([envelope.in_reply_to] if envelope.in_reply_to else [])
    if parents:
        lines.append(f"In-Reply-To: {parents[0]}")
    references = list(dict.fromkeys(_safe_ids(envelope.references)[-10:] + parents))
    if references:
        lines.append("References: " + f"{_CRLF} ".join(references))
    if envelope.auto_submitted:
        lines.append(f"Auto-Submitted: {header_safe(envelope.auto_submitted, 40)}")
    # Ask Exchange and friends not to answer our mail with out-of-office replies (loop prevention).
    lines.append("X-Auto-Response-Suppress: All")
    # Marks our own mail, so that it is recognised if it ever comes back to the feedback mailbox.
    lines.append(f"X-Mailrobot: {header_safe(envelope.case_number or 'robot', 64)}")
    for name, value in envelope.extra_headers.items():
        if _HEADER_NAME.match(name):
            lines.append(_text_header(name, value))
    lines.append("MIME-Version: 1.0")
    return lines


def compose(
    rendered: Rendered, envelope: Envelope, date: datetime, attachments: Sequence[Attachment] = ()
) -> bytes | bytearray:
    """The RFC 5322 bytes of a mail: text part, an HTML alternative when the template has one, attachments
    (a bytearray when a file came in pieces)."""
    body: list[bytes | _Encoded] = [_text_part("plain", rendered.text).encode("ascii")]
    if rendered.html:
        body = _multipart("alternative", [body, [_text_part("html", rendered.html).encode("ascii")]])
    if attachments:
        body = _multipart("mixed", [body, *(_file_part(a) for a in attachments)])
    return _joined([(_CRLF.join(_headers(rendered, envelope, date)) + _CRLF).encode("ascii"), *body])
