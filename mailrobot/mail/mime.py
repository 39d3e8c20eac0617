"""The MIME walk of one message: its text, HTML, attachments (with their names as the sender's client wrote
them), attached messages and report parts.  Never enters attached messages; never raises on bad input."""

from __future__ import annotations

import binascii
import email
import io
import mimetypes
import quopri
import re
from dataclasses import dataclass
from email import policy
from email.errors import MessageDefect
from email.generator import BytesGenerator
from email.message import Message
from functools import cached_property
from typing import Any, Protocol

from mailrobot.mail.text import clean, decode_header_value, decode_text, header_safe, html_to_text

MAX_DEPTH = 30  # MIME nesting walked; real mail stays under 10
MAX_PARTS = 1000
MAX_TEXT = 1_000_000  # characters of body text and of HTML kept
MAX_FILENAME = 255  # characters of an attachment's name kept (the extension survives the cut)

_MESSAGE_TYPES = ("message/rfc822", "message/global", "message/news")
_BOUNDARY_LINE = re.compile(rb"^--([^\s]{1,200})[ \t]*\r?$", re.MULTILINE)
_DSN_TYPES = ("message/delivery-status", "message/global-delivery-status")
# A type and a charset parameter and nothing else, the value a token, quoted or not (ASCII only: the stdlib
# gives up on others).
_ONLY_CHARSET = re.compile(
    r'[ \t]*[\w.+-]+/[\w.+-]+[ \t\r\n]*;[ \t\r\n]*charset=(?:"([\w.:+-]+)"|([\w.:+-]+))[ \t\r\n]*', re.ASCII
)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    size: int
    data: bytes | None  # None when the part was larger than the configured limit (recorded, not kept)


class Leaf:
    """What both Body and a PartCheck read off a leaf part (its file name, content and charset), read once;
    each raises as the stdlib call behind it does."""

    def __init__(self, part: Message) -> None:
        self.part = part
        self.decode_defects: list[MessageDefect] = []  # what decoding the content found

    @cached_property
    def raw_filename(self) -> str | None:
        return raw_filename(self.part)

    @cached_property
    def payload(self) -> Any:
        """get_payload(decode=True), leaving part.defects as parsed: decoding records base64 defects on
        the part, and mail-parser, when it runs after the walk, must find the part as parsed."""
        known = len(self.part.defects)
        try:
            return self.part.get_payload(decode=True)
        finally:
            self.decode_defects = self.part.defects[known:]
            del self.part.defects[known:]

    @cached_property
    def charset(self) -> str | None:
        """get_content_charset(), read off the usual one-parameter Content-Type without its parameter parse
        (which cost a bench mail's walk a quarter of its time)."""
        value = self.part.get("content-type")
        match = _ONLY_CHARSET.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            return self.part.get_content_charset()
        return (match[1] or match[2]).lower()


class PartCheck(Protocol):
    """A reading of the parts made during Body's walk (mail/plain.py's: whether mail-parser is needed), so
    the tree is walked once.  Each part is handed over before Body reads it."""

    def visit(self, part: Message, depth: int, leaf: Leaf | None) -> None:
        """A part Body reads itself: a leaf (with its Leaf) or a multipart whose children follow."""

    def subtree(self, part: Message, depth: int) -> None:
        """A part Body does not enter (attached messages, reports, too deep) or reads otherwise: it and all
        below it."""


def raw_filename(part: Message) -> str | None:
    """part.get_filename(), without parsing the parameters of a part that cannot have a name (most)."""
    if "content-disposition" not in part and "name" not in str(part.get("content-type", "")).lower():
        return None
    return part.get_filename()


def content_type(part: Message) -> str:
    try:
        return clean(part.get_content_type()).lower()
    except Exception:  # a part whose Content-Type cannot be read is treated as the RFC 2045 default
        return "text/plain"


class Body:
    """Walks the message's own MIME tree (never into attached messages) and collects text, HTML,
    attachments, attached messages and report parts."""

    def __init__(self, max_attachment_bytes: int, notes: list[str], check: PartCheck | None = None) -> None:
        self.max_attachment_bytes = max_attachment_bytes
        self.notes = notes
        self.check = check
        self.plain: list[str] = []
        self.htmls: list[str] = []
        self.attachments: list[Attachment] = []
        self.attached: list[bytes] = []
        self.part_types: list[str] = []
        self.part_defects: list[str] = []
        self.delivery_status: list[str] = []
        self.feedback_report: list[str] = []

    def walk(self, msg: Message) -> None:
        # Iterative, with a depth cap: the stdlib's own walk() recurses once per level.  The flag: a part of
        # msg itself, for the check (a recovered multipart's parts are not).
        stack: list[tuple[Message, int, bool]] = [(msg, 0, True)]
        while stack:
            part, depth, own = stack.pop()
            if len(self.part_types) >= MAX_PARTS:
                self.notes.append(f"more than {MAX_PARTS} MIME parts; the rest ignored")
                for rest, at, checked in [(part, depth, own), *stack]:
                    if checked and self.check is not None:
                        self.check.subtree(rest, at)
                return
            stack.extend(self._part(part, depth, self.check if own else None))

    def _part(self, part: Message, depth: int, check: PartCheck | None) -> list[tuple[Message, int, bool]]:
        """Reads one part; its children to walk next."""
        ctype = content_type(part)
        self.part_types.append(ctype)
        entered = part.is_multipart() and not ctype.startswith("message/") and depth < MAX_DEPTH
        leaf = None if part.is_multipart() or ctype.startswith(("multipart/", "message/")) else Leaf(part)
        if check is not None and (entered or leaf is not None):
            check.visit(part, depth, leaf)
        elif check is not None:
            check.subtree(part, depth)
        if ctype in _MESSAGE_TYPES:
            self._attached_message(part)
        elif ctype in _DSN_TYPES:
            self.delivery_status.append(_fields_text(part))
        elif ctype == "message/feedback-report":
            self.feedback_report.append(_fields_text(part))
        elif entered:
            children = [p for p in part.get_payload() if isinstance(p, Message)]
            return [(child, depth + 1, check is not None) for child in reversed(children)]
        elif part.is_multipart():
            # MDNs and external-body references: the type alone is what rules need.
            if ctype == "message/partial":
                self.notes.append("message/partial fragment; not reassembled")
            elif not ctype.startswith("message/"):
                self.notes.append(f"MIME nesting deeper than {MAX_DEPTH}; inner parts ignored")
        elif ctype.startswith("multipart/"):
            # A multipart whose boundary never appears: try the boundary its body actually uses, else
            # read the body as text rather than lose what the sender wrote.
            recovered = _recover_multipart(part) if depth < MAX_DEPTH else None
            if recovered is not None:
                self.notes.append(f"{ctype} with a wrong boundary; parts recovered")
                return [(recovered, depth + 1, False)]
            self._leaf(part, "text/plain")
        else:
            self._leaf(part, ctype, leaf)
        return []

    def _leaf(self, part: Message, ctype: str, leaf: Leaf | None = None) -> None:
        leaf = leaf or Leaf(part)
        try:
            disposition = (part.get_content_disposition() or "").lower()
        except Exception:  # an unreadable Content-Disposition is no disposition
            disposition = ""
        filename = _filename(part, leaf)
        data = _payload_bytes(part, leaf)
        defects = (*part.defects, *leaf.decode_defects)
        self.part_defects.extend(f"{ctype}: {type(d).__name__}: {d.__doc__}" for d in defects)
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
            try:
                charset = leaf.charset
            except Exception:
                charset = None
            text, note = decode_text(data, charset)
            if note:
                self.notes.append(f"{ctype}: {note}")
            (self.plain if ctype == "text/plain" else self.htmls).append(text)
            return
        if not filename:
            filename = _generated_filename(part, ctype, len(self.attachments) + 1)
        keep = len(data) <= self.max_attachment_bytes
        if not keep:
            self.notes.append(f"attachment {filename!r} ({len(data)} bytes) over the limit; not kept")
        self.attachments.append(Attachment(filename, ctype, len(data), data if keep else None))

    def _attached_message(self, part: Message) -> None:
        payload = part.get_payload() if part.is_multipart() else None
        if not isinstance(payload, list) or not payload or not isinstance(payload[0], Message):
            self.notes.append("message/rfc822 part without a message; ignored")
            return
        inner = payload[0]
        encoding = str(part.get("content-transfer-encoding", "")).strip().lower()
        if encoding in ("base64", "quoted-printable") and not inner.keys():
            # Encoded against RFC 2046: the parser saw no headers, only the encoded text as a body.
            encoded = _payload_bytes(inner)
            try:
                data = binascii.a2b_base64(encoded) if encoding == "base64" else quopri.decodestring(encoded)
            except binascii.Error:
                self.notes.append("encoded message/rfc822 part could not be decoded; ignored")
                return
            self.attached.append(data)
            return
        buffer = io.BytesIO()
        try:
            BytesGenerator(buffer, mangle_from_=False, policy=_AS_RECEIVED).flatten(inner)
        except Exception as exc:  # re-serialising a broken message may fail: note it
            self.notes.append(f"attached message could not be kept ({type(exc).__name__})")
            return
        self.attached.append(buffer.getvalue())

    def text(self) -> str:
        text = clean("\n".join(self.plain)).strip()
        if not text and self.htmls:
            text = html_to_text("\n".join(self.htmls))
        if len(text) > MAX_TEXT:
            self.notes.append(f"body text longer than {MAX_TEXT} characters; truncated")
            text = text[:MAX_TEXT]
        return text

    def html(self) -> str | None:
        return clean("\n".join(self.htmls))[:MAX_TEXT] or None


class _AsReceived(policy.Compat32):
    """Writes headers back exactly as they were received: compat32 would re-fold every one through
    email.header.Header, which is slow and changes the bytes of the forwarded message."""

    def fold_binary(self, name: str, value: str) -> bytes:
        return f"{name}: {value}{self.linesep}".encode("utf-8", "surrogateescape")


_AS_RECEIVED = _AsReceived(linesep="\r\n")


def _payload_bytes(part: Message, leaf: Leaf | None = None) -> bytes:
    """A leaf part's content with its transfer encoding undone; b"" when there is none.  Never the str
    get_payload(): it decodes with the declared charset and raises on a charset holding a NUL."""
    try:
        data = (leaf or Leaf(part)).payload
    except Exception:  # the stdlib undoes transfer encodings leniently; a failure leaves nothing to read
        return b""
    return data if isinstance(data, bytes) else b""


def _recover_multipart(part: Message) -> Message | None:
    body = _payload_bytes(part)
    match = _BOUNDARY_LINE.search(body)
    if not match:
        return None
    boundary = match.group(1).replace(b"\\", b"").replace(b'"', b"")
    try:
        recovered = email.message_from_bytes(
            b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\n\n' + body, policy=policy.compat32
        )
    except Exception:  # same input the stdlib already survived once; still, a failure only means no recovery
        return None
    if not recovered.is_multipart() or not recovered.get_payload():
        return None
    return recovered


def _fields_text(part: Message) -> str:
    """The header-like blocks of a DSN or ARF part as "Name: value" lines, one blank line between blocks."""
    if not part.is_multipart():
        return clean(decode_text(_payload_bytes(part), None)[0]).strip()
    payload = part.get_payload()
    blocks = []
    for block in payload:
        if not isinstance(block, Message):
            continue
        lines = [f"{name}: {header_safe(decode_header_value(str(v)), 500)}" for name, v in block.raw_items()]
        rest = "" if block.is_multipart() else decode_text(_payload_bytes(block), None)[0]
        if rest.strip():
            lines.append(clean(rest).strip())
        blocks.append("\n".join(lines))
    return "\n\n".join(b for b in blocks if b)


def _filename(part: Message, leaf: Leaf) -> str:
    """The attachment's name as the sender's client wrote it (RFC 2231, RFC 2047 words in a quoted name,
    raw UTF-8 or another 8-bit charset), made safe by `safe_filename`; "" when it has none."""
    mime = [(k, str(v)) for k, v in part.raw_items() if k.lower() in ("content-type", "content-disposition")]
    try:
        if any(re.search("[\udc80-\udcff]", v) for _, v in mime):
            # Raw 8-bit parameters: the stdlib hands them out with the bytes replaced; re-decode them first.
            source = Message()
            for k, v in mime:
                source[k] = clean(v)
            name = raw_filename(source)
        else:
            name = leaf.raw_filename
    except Exception:  # RFC 2231 continuations can be malformed in ways the stdlib does not survive
        return ""
    if not name:
        return ""
    return safe_filename(decode_header_value(_FOLDING.sub("", str(name))))


_FOLDING = re.compile(r"\r?\n(?=[ \t])")
# Replaced in a name: what could make it a path (separators), end a header or a line (CR, LF, NUL and the
# other control characters); nothing else, so «Өтініш_2026.docx» stays «Өтініш_2026.docx».
_UNSAFE_IN_NAME = re.compile("[\x00-\x1f\x7f-\x9f/\\\\\u2028\u2029]")


def safe_filename(name: str) -> str:
    """`name` with path separators and control characters (NUL, CR, LF included) replaced by "_", cut to
    MAX_FILENAME characters with its extension kept; "" for a name that is empty or only dots."""
    name = clean(_UNSAFE_IN_NAME.sub("_", name)).strip()
    if not name.strip("."):
        return ""
    if len(name) > MAX_FILENAME:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 20:
            name = stem[: MAX_FILENAME - len(extension) - 1].rstrip() + "." + extension
        else:
            name = name[:MAX_FILENAME].rstrip()
    return name


def _generated_filename(part: Message, ctype: str, number: int) -> str:
    """A stable name for an unnamed attachment: its Content-ID (inline images) or its position."""
    content_id = header_safe(str(part.get("content-id", "")), 100).strip("<> ")
    stem = re.sub(r"[^\w.-]", "_", content_id.split("@")[0]) if content_id else ""
    extension = mimetypes.guess_extension(ctype) or (".txt" if ctype.startswith("text/") else ".bin")
    return (stem or f"attachment-{number}") + ("" if stem.endswith(extension) else extension)
