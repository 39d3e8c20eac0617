"""Big base64 parts set aside before the MIME parse, decoded once straight from the raw bytes afterwards.

The stdlib parser holds a message as a list of its lines and joins them per part: a 34 MB mail (a 25 MB scan)
peaked at 264 MB in `email.message_from_bytes` alone.  So each run of base64 lines longer than
`MIN_BYTES` is replaced by a one-line marker, the small remainder is parsed as usual, and an attachment
whose data is a marker gets the run decoded from a view of the raw bytes (no copy of the encoded text).  If
any marker ends anywhere but as an attachment's data (base64-looking text in a text part, a marker in the
text), the message is parsed whole instead: the shortcut never changes what a message says.
"""

from __future__ import annotations

import binascii
import dataclasses
import re

from mailrobot.mail.parse import Parsed, parse_message

MIN_BYTES = 256 * 1024
# 40 to 100 base64 characters a line (76 is the norm), each line ended; at least 1,000 such lines in a row,
# and the shorter last line.  Possessive: the plain pattern's backtracking state cost 117 MB on 34 MB.
_RUN = re.compile(
    rb"(?:[A-Za-z0-9+/]{40,100}+={0,2}+\r?+\n){1000,}+(?:[A-Za-z0-9+/]{1,100}+={0,2}+\r?+\n)?+"
)


def _marker(n: int) -> bytes:
    return b"\0mailrobot big part %d\0" % n


def parse_big(raw: bytes, max_attachment_bytes: int, keep_headers: tuple[str, ...] = ()) -> Parsed:
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
    view = memoryview(raw)
    for a in parsed.attachments:
        span = markers.get(a.data) if a.data is not None else None
        if span is None:
            attachments.append(a)
            continue
        used.add(a.data)
        try:
            data = binascii.a2b_base64(view[span[0] : span[1]])  # skips the line ends; decodes from the view
        except binascii.Error:  # bad padding (found by the fuzz drill): the stdlib's lenient decoding decides
            return parse_message(raw, max_attachment_bytes, keep_headers)
        keep = len(data) <= max_attachment_bytes
        attachments.append(dataclasses.replace(a, size=len(data), data=data if keep else None))
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
