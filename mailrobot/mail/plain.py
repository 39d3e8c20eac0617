"""Whether mail-parser could read a message differently from the stdlib (issue 13: intake CPU).

`parse_message` used to run `mailparser.MailParser(msg)` on every message for four things: the From, To,
Cc and Reply-To pairs (its recovery of broken address headers), the Date (its lenient reading) and its
defects.  Its constructor walks and decodes every part again, which was most of the parse time.  For mail
whose headers and parts are well formed it answers exactly what the stdlib answers and reports nothing,
so `mailparser_reason` looks for every input on which its answer could differ (read off mail-parser
4.8's code: `core.MailParser.parse/_reset`, `addresses.parse_address_header`, `dates.parse_mail_date`,
`received.split_received`, `utils.mime_header_view`) and names the first one found; None means the
stdlib's reading is the same.  Every test here is conservative: a message it cannot vouch for takes the
mail-parser path, which is only slower.  parse_message asks in two halves, so that the MIME tree is walked
once: `headers_reason`, then a `PartsCheck` that mime.Body's walk hands every part to.
"""

from __future__ import annotations

import binascii
import datetime
import re
from collections.abc import Iterator
from email.message import Message

from mailrobot.mail.mime import Body, Leaf

# Headers mail-parser runs its address recovery on (mailparser.const.ADDRESSES_HEADERS): every
# occurrence of each can add an address-header defect.
ADDRESS_HEADERS = ("bcc", "cc", "delivered-to", "from", "reply-to", "to")
# Those whose pairs Parsed takes from mail-parser: it reads only the first occurrence, the stdlib all.
SINGLE_HEADERS = ("from", "to", "cc", "reply-to")
MAX_VALUE = 2000  # longer address or date values are left to mail-parser: the patterns stay cheap
MAX_DEPTH = 40  # MIME depth past which mail-parser's recursive walk may run out of stack
MAX_COMMENT_DEPTH = 4

_FWS = r"(?:[ \t]|\r?\n[ \t])"
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_ADDR_SPEC = rf"{_ATEXT}+(?:\.{_ATEXT}+)*@{_ATEXT}+(?:\.{_ATEXT}+)*"
_QUOTED = r'"[\t !#-\[\]-~]*"'  # no quoted pairs, no line breaks
_WORD = rf"(?:[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~.-]+|{_QUOTED})"  # a period is allowed in a phrase (obs-phrase)
_COMMENT_TEXT = r"[\t !-'*-\[\]-~]*"  # one level, no quoted pairs: the name of a bare address
_COMMENT_NAME = rf"\({_COMMENT_TEXT}\)"
_MAILBOX = rf"(?:{_WORD}(?:{_FWS}+{_WORD})*{_FWS}*)?<{_ADDR_SPEC}>|{_ADDR_SPEC}(?:{_FWS}+{_COMMENT_NAME})?"
# A list of plain mailboxes: no comments (but a bare address's name), groups, domain literals, quoted pairs,
# 8-bit bytes or empty items.
_PLAIN_LIST = re.compile(rf"{_FWS}*(?:{_MAILBOX})(?:{_FWS}*,{_FWS}*(?:{_MAILBOX}))*{_FWS}*")
# One mailbox of such a list and what follows it, for plain_pairs.
_ITEM = re.compile(
    rf"{_FWS}*(?:(?P<phrase>{_WORD}(?:{_FWS}+{_WORD})*)?{_FWS}*<(?P<angle>{_ADDR_SPEC})>"
    rf"|(?P<bare>{_ADDR_SPEC})(?:{_FWS}+\((?P<comment>{_COMMENT_TEXT})\))?){_FWS}*(?:,(?!\Z)|\Z)"
)
_PHRASE_WORD = re.compile(r'"([^"]*)"|([^ \t\r\n"]+)')
# mail-parser's encoded word (addresses._ENCODED_WORD): the words it decodes are among these matches.
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_STRICT_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_Q_ESCAPE = re.compile(r"=([0-9A-Fa-f]{2})")
# Charsets whose codecs cannot produce lone surrogates (mail-parser's "invalid-encoded-word").
_SAFE_CHARSET = re.compile(r"utf-8|us-ascii|iso-8859-\d{1,2}|windows-125\d|cp125\d|koi8-[ru]", re.I)
# In a display name Parsed keeps: the charsets our decode_header_value reads exactly as mail-parser does
# (it re-reads single-byte Cyrillic labels it finds mislabelled).
_NAME_CHARSET = re.compile(r"utf-8|us-ascii", re.I)
_NAME_UNSAFE = re.compile(r'[\x00-\x1f\x7f-\x9f"\\]|=\?')

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Zones both readers map to the same offset (the stdlib also knows UTC, Z, AST and ADT; mail-parser reads
# any other name as -0000).
_ZONES = ("ut", "gmt", "est", "edt", "cst", "cdt", "mst", "mdt", "pst", "pdt")
_WS = r"[ \t\r\n]"
# RFC 5322 date-time with a 4-digit year, seconds optional, one optional trailing comment.
_PLAIN_DATE = re.compile(
    rf"{_WS}*(?:(?P<wd>{'|'.join(_DAYS)}),{_WS}*)?(?P<d>\d{{1,2}}){_WS}+(?P<m>{'|'.join(_MONTHS)}){_WS}+"
    rf"(?P<y>\d{{4}}){_WS}+(?P<H>\d\d):(?P<M>\d\d)(?::(?P<S>\d\d))?{_WS}+"
    rf"(?:[+-](?P<zh>\d\d)(?P<zm>\d\d)|{'|'.join(_ZONES)})(?:{_WS}+\([^()\\]*\))?{_WS}*",
    re.IGNORECASE | re.ASCII,
)

# Received: structure kept, contents blanked (same length, so positions still point into the raw value).
_LITERAL = re.compile(r"\[[^\[\]()<>;]*\]")
_COMMENT = re.compile(r"\([^()]*\)")
_ANGLE = re.compile(r"<[^<>;]*>")
_ISO_DAY = re.compile(r"\d{4}-\d\d-\d\d")  # the start of the SendGrid stamp mail-parser reads as a date

_MIME_HEADERS = frozenset({"content-type", "content-disposition", "content-id", "content-transfer-encoding"})
_SURROGATE = re.compile("[\ud800-\udfff]")
_HEADER_WORD = re.compile(r"=\?([^?]*?)\?[qQbB]\?.*?\?=")  # email.header's ecre


def mailparser_reason(msg: Message, index: dict[str, list[str]]) -> str | None:
    """Why mail-parser's reading of `msg` could differ from the stdlib's (a short English phrase), or
    None when it cannot: then its pairs, date and (empty) defects are what the stdlib gives.  `index` is
    parse's lower-cased header name -> raw values of the top-level message.  parse_message makes the same
    check in two halves: headers_reason, then a PartsCheck in the walk of the body it reads anyway."""
    reason = headers_reason(index)
    if reason is None:
        check = PartsCheck()
        Body(0, [], check).walk(msg)
        reason = check.reason
    return reason


def headers_reason(index: dict[str, list[str]]) -> str | None:
    """The reason found in the top-level header fields (`index` as for mailparser_reason), or None."""
    for name in SINGLE_HEADERS:
        if len(index.get(name, ())) > 1:
            return f"{len(index[name])} {name} headers"
    for name in ADDRESS_HEADERS:
        for value in index.get(name, ()):
            if not _plain_addresses(value, name == "from"):
                return f"{name} is not a plain address list"
    for name in ("date", "resent-date"):
        for value in index.get(name, ()):
            if plain_date(value) is None:
                return f"{name} is not a plain date"
    for value in index.get("received", ()):
        if not _plain_received(value):
            return "received is not plain"
    if any("\x00" in value for values in index.values() for value in values):
        # mail-parser decodes every header; a NUL in an encoded word's charset makes str() raise
        return "NUL in a header"
    return None


def _plain_addresses(value: str, is_from: bool) -> bool:
    if not value.strip(" \t\r\n"):
        return True  # both read nothing, without a defect
    if len(value) > MAX_VALUE or not value.isascii() or not _PLAIN_LIST.fullmatch(value):
        return False
    if "=?" not in value:
        return True
    words = list(_ENCODED_WORD.finditer(value))
    if is_from and "=?" in _ENCODED_WORD.sub("", value):
        return False  # mail-parser would keep a literal "=?" in the name and take the raw one instead
    return all(_plain_word(value, word, is_from) for word in words)


def plain_pairs(values: list[str]) -> list[tuple[str, str]] | None:
    """What email.utils.getaddresses reads in these address header values (line breaks made spaces), when
    every value is a plain list; None for any other.  Its character-by-character reading was the largest
    cost of parsing plain mail after the MIME parse itself."""
    pairs = []
    for value in values:
        if len(value) > MAX_VALUE or not value.isascii() or not value.strip(" \t\r\n"):
            return None
        at = 0
        while at < len(value):  # mailbox after mailbox: the items of _PLAIN_LIST, whose language this is
            item = _ITEM.match(value, at)
            if item is None:
                return None
            at = item.end()
            if item["angle"] is not None:  # the phrase's words, unquoted, one space between them
                words = _PHRASE_WORD.findall(item["phrase"] or "")
                pairs.append((" ".join(quoted + atom for quoted, atom in words), item["angle"]))
            else:
                pairs.append((item["comment"] or "", item["bare"]))
    return pairs


def _plain_word(value: str, word: re.Match[str], is_from: bool) -> bool:
    charset, encoding, payload = word.group(1), word.group(2).lower(), word.group(3)
    if word.end() - word.start() > 75:
        return False  # "overlong-encoded-word"
    if encoding == "b" and not _STRICT_BASE64.fullmatch(payload):
        return False  # email.header raises HeaderParseError, which mail-parser does not catch
    if not (_NAME_CHARSET if is_from else _SAFE_CHARSET).fullmatch(charset):
        return False
    if not is_from:
        return True
    # In From the decoded name is kept: mail-parser must decode this word (whitespace around it), and
    # to exactly what decode_header_value makes of it.
    before = value[word.start() - 1] if word.start() else " "
    after = value[word.end()] if word.end() < len(value) else " "
    if before not in " \t\n" or after not in " \t\r":
        return False
    try:
        if encoding == "b":
            data = binascii.a2b_base64(payload, strict_mode=True)
        else:
            data = _Q_ESCAPE.sub(_unescape, payload.replace("_", " ")).encode("latin-1")
        text = data.decode(charset)
    except (ValueError, UnicodeError):
        return False
    return not _NAME_UNSAFE.search(text)


def _unescape(match: re.Match[str]) -> str:
    return chr(int(match.group(1), 16))


def plain_date(value: str) -> datetime.datetime | None:
    """The calendar reading of a date both mail-parser and the stdlib read alike and without a defect
    (valid date and time, weekday matching, year 1900-9998, zone under 24 h); None for any other."""
    # 8-bit bytes, even inside a comment, are mail-parser's "invalid-utf8"
    match = _PLAIN_DATE.fullmatch(value) if len(value) <= MAX_VALUE and value.isascii() else None
    if match is None:
        return None
    year, month, day = int(match["y"]), _MONTHS.index(match["m"].lower()) + 1, int(match["d"])
    hour, minute, second = int(match["H"]), int(match["M"]), int(match["S"] or 0)
    if not 1900 <= year <= 9998 or hour > 23 or minute > 59 or second > 59:
        return None
    if match["zh"] is not None and (int(match["zh"]) > 23 or int(match["zm"]) > 59):
        return None
    try:
        calendar = datetime.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    if match["wd"] is not None and _DAYS.index(match["wd"].lower()) != calendar.weekday():
        return None  # "weekday-mismatch"
    return calendar


def _plain_received(value: str) -> bool:
    """No trace-field defect: balanced comments, literals and angle addresses, at most one top-level ";"
    and a plain date after it (mailparser.received.split_received and receiveds_parsing)."""
    if len(value) > MAX_VALUE or not value.isascii() or '"' in value or "\\" in value:
        return False
    top = _LITERAL.sub(_blank, value)
    for _ in range(MAX_COMMENT_DEPTH):
        top, found = _COMMENT.subn(_blank, top)
        if not found:
            break
    if any(ch in top for ch in "()[]"):
        return False  # checked before the angles go: a "(" opens a comment inside an angle address too
    top = _ANGLE.sub(_blank, top)
    if "<" in top or ">" in top:
        return False
    separators = top.count(";")
    if separators == 0:
        return not _ISO_DAY.search(value)
    if separators > 1:
        return False
    return plain_date(value[top.index(";") + 1 :].strip(" \t\r\n")) is not None


def _blank(match: re.Match[str]) -> str:
    return "#" * len(match.group())


class PartsCheck:
    """The part half of mailparser_reason, fed by the body's one MIME walk (mime.Body): `reason` names the
    first part found that mail-parser could read differently, None while there is none.  mail-parser walks
    every part, attached messages included: their parse defects, invalid UTF-8 in their MIME headers, a
    file name it cannot decode and a body part its charset does not decode are all defects it reports (or
    exceptions it lets out)."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def visit(self, part: Message, depth: int, leaf: Leaf | None) -> None:
        if self.reason is None:
            self.reason = _part_reason(part, depth, leaf or Leaf(part))

    def subtree(self, part: Message, depth: int) -> None:
        for below, at in _walk(part, depth):
            if self.reason is not None:
                return
            self.visit(below, at, None)


def _walk(msg: Message, depth: int) -> Iterator[tuple[Message, int]]:
    stack: list[tuple[Message, int]] = [(msg, depth)]
    while stack:
        part, depth = stack.pop()
        yield part, depth
        if part.is_multipart() and depth <= MAX_DEPTH:
            # something not a part among the children is _part_reason's
            children = [child for child in part.get_payload() if isinstance(child, Message)]
            stack.extend((child, depth + 1) for child in reversed(children))


def _part_reason(part: Message, depth: int, leaf: Leaf) -> str | None:
    if depth > MAX_DEPTH:
        return "nested too deeply"
    if part.defects:
        return "parse defects"
    for name, value in part.raw_items():
        if name.lower() in _MIME_HEADERS and (not str(value).isascii() or "\x00" in str(value)):
            return "8-bit or NUL in a MIME header"
    if part.is_multipart() and not all(isinstance(child, Message) for child in part.get_payload()):
        return "a multipart holds something that is not a part"
    try:
        return _content_reason(part, leaf)
    except Exception:  # the same stdlib call inside mail-parser would raise or note a defect too
        return "a part the stdlib cannot read"


def _content_reason(part: Message, leaf: Leaf) -> str | None:
    filename = leaf.raw_filename
    if filename and (_SURROGATE.search(filename) or ("=?" in filename and not _plain_filename(filename))):
        # RFC 2231 names in utf-7 or unicode-escape can hold surrogates: mail-parser's invalid-encoded-word
        return "a file name mail-parser may not decode"
    disposition = part.get_content_disposition()
    if part.is_multipart():
        # mail-parser flattens an attached multipart again (utils.as_string_safe)
        return "a multipart attachment" if disposition == "attachment" else None
    if _payload_refused(part):
        return "a payload get_payload() cannot give"
    if disposition == "attachment":
        return None  # a file: mail-parser keeps it without decoding it as text
    inline_text = disposition == "inline" and part.get_content_type() in ("text/plain", "text/html")
    if filename and filename.strip() and "=?" not in filename and not inline_text:
        return None
    if part.get("content-id") and part.get_content_subtype() not in ("html", "plain"):
        return None
    return None if _body_decodes(part, leaf) else "a body part its charset does not decode"


def _plain_filename(filename: str) -> bool:
    """email.header.decode_header's words in the name all have a charset that cannot give surrogates."""
    return all(_SAFE_CHARSET.fullmatch(charset) for charset in _HEADER_WORD.findall(filename))


def _payload_refused(part: Message) -> bool:
    """mail-parser reads a base64 file with get_payload() (utils.raw_payload), which decodes 8-bit bytes
    with the charset parameter: an RFC 2231 one is a tuple there, and the TypeError stops mail-parser."""
    raw = part._payload
    if not isinstance(raw, str) or not _SURROGATE.search(raw):
        return False
    try:
        part.get_payload()
    except (LookupError, UnicodeError):
        return False  # caught by raw_payload, which then reads the bytes
    except Exception:
        return True
    return False


def _body_decodes(part: Message, leaf: Leaf) -> bool:
    """What core.MailParser._decode_body_payload does to a body part, without a CharsetDecodeDefect."""
    encoding = str(part.get("content-transfer-encoding", "")).strip().lower()
    raw = part._payload  # as mail-parser reads it: get_payload() would already have decoded 8-bit text
    if encoding in ("", "7bit", "8bit") and isinstance(raw, str) and not _SURROGATE.search(raw):
        return True
    data = leaf.payload  # leaves part.defects as parsed, for mail-parser
    if not data:
        return True
    charset = leaf.charset
    try:
        data.decode("utf-8" if charset is None else charset).encode("utf-8")
    except (LookupError, UnicodeError, ValueError):
        return False
    return True
