"""Big base64 parts set aside before the MIME parse, decoded once straight from the raw bytes afterwards.

The stdlib parser holds a message as a list of its lines and joins them per part: a 34 MB mail (a 25 MB scan)
peaked at 264 MB in `email.message_from_bytes` alone.  So each run of base64 lines longer than
`MIN_BYTES` is replaced by a one-line marker, the small remainder is parsed as usual, and an attachment
whose data is a marker gets the run decoded from a view of the raw bytes (no copy of the encoded text).  If
any marker ends anywhere but as an attachment's data (base64-looking text in a text part, a marker in the
text), the message is parsed whole instead: the shortcut never changes what a message says.

A big part's decoded bytes are not kept either (issue 13): its attachment is `Streamed`, decoded again a
megabyte at a time from the raw bytes when it is stored in chunks or passed on in a forward.  parse_big
decodes it once to check it and learn its size, keeping nothing.
"""

from __future__ import annotations

import binascii
import dataclasses
import re
from collections.abc import Iterator

from mailrobot.mail.parse import Attachment, Parsed, Streamed, parse_message

MIN_BYTES = 256 * 1024
# 40 to 100 base64 characters a line (76 is the norm), each line ended; at least 1,000 such lines in a row,
# and the shorter last line.  Possessive: the plain pattern's backtracking state cost 117 MB on 34 MB.
_RUN = re.compile(
    rb"(?:[A-Za-z0-9+/]{40,100}+={0,2}+\r?+\n){1000,}+(?:[A-Za-z0-9+/]{1,100}+={0,2}+\r?+\n)?+"
)  # fmt: skip


# Base64 text decoded a step at a time: about 1 MB of bytes out of each step.
STEP = 1_400_000


class _PadInside(Exception):
    """Padding before the run's last step: concatenated base64, decoded whole as the stdlib would."""


@dataclasses.dataclass(frozen=True)
class Base64Run:
    """A run of base64 lines in the raw mail, decoded in pieces from a view of it (no copy of the text)."""

    raw: bytes | bytearray
    start: int
    end: int

    def pieces(self) -> Iterator[bytes]:
        """The decoded bytes, a step of lines at a time; the same bytes as one a2b_base64 of the run, and
        binascii.Error where that would raise."""
        view, at, carry = memoryview(self.raw), self.start, b""
        while at < self.end:
            cut = self.raw.find(b"\n", min(at + STEP, self.end - 1), self.end) + 1 or self.end
            text = carry + view[at:cut].tobytes().translate(None, b"\r\n")
            at = cut
            if at >= self.end:
                yield binascii.a2b_base64(text)
                return
            if b"=" in text:
                raise _PadInside
            whole = len(text) // 4 * 4
            carry = text[whole:]
            yield binascii.a2b_base64(text[:whole])


def _streamed(a: Attachment, run: Base64Run, limit: int) -> Attachment:
    """The attachment of a big part: Streamed from the raw bytes, or with its bytes whole (padding inside
    the run), or not kept (over `limit`).  Raises binascii.Error as the whole decoding would."""
    try:
        size = sum(len(piece) for piece in run.pieces())
    except _PadInside:
        data = binascii.a2b_base64(memoryview(run.raw)[run.start : run.end])
        return dataclasses.replace(a, size=len(data), data=data if len(data) <= limit else None)
    if size > limit:
        return dataclasses.replace(a, size=size, data=None)
    return Streamed(a.filename, a.content_type, size, None, run.pieces)


def _marker(n: int) -> bytes:
    return b"\0mailrobot big part %d\0" % n


def parse_big(
    raw: bytes | bytearray, max_attachment_bytes: int, keep_headers: tuple[str, ...] = ()
) -> Parsed:
    """parse_message(raw, ...), with the big base64 parts set aside while the MIME structure is parsed."""
    runs = [m.span() for m in _RUN.finditer(raw) if m.end() - m.start() >= MIN_BYTES]
    if not runs:
        return parse_message(raw, max_attachment_bytes, keep_headers)
    pieces, at = [], 0
    for n, (start, end) in enumerate(runs):
        pieces += [raw[at:start], binascii.b2a_base64(_marker(n))]
        at = end
    pieces.append(raw[at:])
    parsed = parse_message(b"".join(pieces), max_attachment_bytes, keep_headers)
    markers = {_marker(n): span for n, span in enumerate(runs)}
    attachments, used = [], set()
    for a in parsed.attachments:
        span = markers.get(a.data) if a.data is not None else None
        if span is None:
            attachments.append(a)
            continue
        used.add(a.data)
        try:
            attachments.append(_streamed(a, Base64Run(raw, *span), max_attachment_bytes))
        except binascii.Error:  # bad padding (found by the fuzz drill): the stdlib's lenient decoding decides
            return parse_message(raw, max_attachment_bytes, keep_headers)
    if len(used) != len(markers) or b"mailrobot big part" in (parsed.text or "").encode(errors="replace"):
        return parse_message(raw, max_attachment_bytes, keep_headers)  # a run was not an attachment's body
    dropped = tuple(
        f"attachment {a.filename!r} ({a.size} bytes) over the limit; not kept"
        for a in attachments
        if a.data is None and a.size > max_attachment_bytes
    )
    return dataclasses.replace(
        parsed, attachments=tuple(attachments), defects=tuple(dict.fromkeys(parsed.defects + dropped))
    )
