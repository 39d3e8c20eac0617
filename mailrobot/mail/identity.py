"""A raw message's identity: its Message-ID (the dedup key) and a fingerprint of its content.

Both are read with regexes from the bytes, never the full parser: they must exist even for mail the parser
cannot handle.  The same mail delivered twice has the same key and the same fingerprint; web forms and
broken clients reuse one Message-ID for different mails, which the fingerprint tells apart (issue 11.4).
"""

from __future__ import annotations

import hashlib
import re

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_MESSAGE_ID = re.compile(
    rb"^message-id:[ \t]*(?:\r?\n[ \t]+)?(<[^<>\s]{1,900}>)", re.IGNORECASE | re.MULTILINE
)
# The headers that say what a mail is, as its author's client wrote them: what a relay may add (Received,
# Delivered-To, X-Spam-*, DKIM signatures of a list) is left out, so a redelivery keeps its fingerprint.
_CONTENT_HEADERS = (b"from", b"date", b"subject")
_FOLD = re.compile(rb"\r?\n[ \t]+")
_HEADER_LINE = re.compile(rb"^([!-9;-~]+)[ \t]*:(.*)$", re.MULTILINE)
_SPACE = re.compile(rb"\s+")
_MAX_HEADER = 1 << 20


def split_raw(raw: bytes) -> tuple[bytes, bytes]:
    """(header section, body) of a raw message; the body is b"" when there is no blank line."""
    end = _HEADER_END.search(raw)
    if end is None:
        return raw[:_MAX_HEADER], b""
    return raw[: end.start()], raw[end.end() :]


def dedup_key(raw: bytes) -> str:
    """The message's identity: its Message-ID, or a hash of its bytes when it has none."""
    end = _HEADER_END.search(raw)
    match = _MESSAGE_ID.search(raw[: end.start() if end else 65536])
    if match:
        key = "mid:" + match.group(1).decode("ascii", "replace")
        if len(key) <= 255:
            return key
        return "mid-sha256:" + hashlib.sha256(match.group(1)).hexdigest()
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def content_fingerprint(raw: bytes) -> str:
    """SHA-256 of what the author sent: the From, Date and Subject headers (unfolded, spaces collapsed)
    and the body (line ends and trailing spaces normalised).  Equal for the same mail delivered again,
    different for another mail under a reused Message-ID."""
    end = _HEADER_END.search(raw)
    header = raw[: end.start()] if end else raw[:_MAX_HEADER]
    digest = hashlib.sha256()
    found: dict[bytes, bytes] = {}
    for match in _HEADER_LINE.finditer(_FOLD.sub(b" ", header)):
        name = match.group(1).lower()
        if name in _CONTENT_HEADERS and name not in found:
            found[name] = _SPACE.sub(b" ", match.group(2)).strip()
    for name in _CONTENT_HEADERS:
        digest.update(name + b":" + found.get(name, b"") + b"\n")
    digest.update(b"\n")
    # The body digested in place: split_raw's copy of a 34 MB scan was the intake's peak (+37 MB).
    _digest_lines(digest, raw, end.end() if end else len(raw))
    return digest.hexdigest()


_WHITESPACE = b" \t\n\r\x0b\x0c"  # what bytes.rstrip() strips
_CHUNK = 1 << 20


def _digest_lines(digest: hashlib._Hash, body: bytes, begin: int = 0) -> None:
    """digest.update(line.rstrip() + b"\n") for each line of body.replace(b"\r\n", b"\n").rstrip(), a
    megabyte at a time: the whole body split into lines cost 3.5 times its size (a 34 MB scan: 120 MB)."""
    end = len(body)
    while end > begin and body[end - 1] in _WHITESPACE:
        end -= 1
    if end <= begin:
        digest.update(b"\n")
        return
    start = begin
    while start < end:
        stop = body.find(b"\n", min(start + _CHUNK, end), end)
        stop = end if stop == -1 else stop
        # CRLF or LF: a line's trailing CR goes with its rstrip(), as after the replace.
        digest.update(b"".join(line.rstrip() + b"\n" for line in body[start:stop].split(b"\n")))
        start = stop + 1
