"""Text hygiene for mail: charsets, encoded words, HTML to text, clean strings and header-safe strings.

Everything here is pure and total: any input gives a string, nothing raises on bad data.
"""

from __future__ import annotations

import binascii
import codecs
import re
from html.parser import HTMLParser

# Lone surrogates: \udc80-\udcff are bytes smuggled through `surrogateescape` (the stdlib does this for raw
# 8-bit headers); anything else in the surrogate block comes from a broken codec and is never text.
_ESCAPED_BYTES = re.compile("[\udc80-\udcff]+")
_SURROGATES = re.compile("[\ud800-\udfff]")
# C0 controls except \t and \n (\r is normalised first), DEL, and C1 controls: invisible in any client, and
# U+0085 (NEL) is a line break for str.splitlines(), which would let it split a header.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_WHITESPACE = re.compile(r"\s+")

_CP_ALIAS = re.compile(r"^(?:x-)?(?:windows|win|cp|ms)[-_]?(\d{3,4})$")
_CHARSET_ALIASES = {
    "koi8r": "koi8-r",
    "koi8": "koi8-r",
    "koi8u": "koi8-u",
    "x-mac-cyrillic": "mac-cyrillic",
    "unicode-1-1-utf-8": "utf-8",
    "utf8": "utf-8",
    "x-unicode20utf8": "utf-8",
    "iso-8859-8-i": "iso-8859-8",
    # Supersets: mailers label text with the old name and use the new repertoire.
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
}
# Codecs Python accepts by name that are not charsets a mail may legitimately declare: they turn escape
# sequences into arbitrary code points, or are platform-specific.
_REFUSED_CODECS = frozenset(
    {"unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined", "mbcs", "oem"}
)
_SINGLE_BYTE_CYRILLIC = frozenset(
    {"cp1251", "koi8-r", "koi8-u", "iso8859-5", "cp866", "kz1048", "mac-cyrillic"}
)
# The thirty most frequent letter pairs of Russian: a text read through the wrong Cyrillic code page has its
# letters permuted (and their case swapped), so its pairs stop being these, in any letter case.
_FREQUENT_PAIRS = frozenset(
    {
        "ст", "но", "то", "на", "ен", "ов", "ни", "ра", "во", "ко", "ос", "по", "го", "ро", "пр",
        "ре", "ал", "ет", "ть", "ол", "ор", "ан", "не", "ли", "ер", "ка", "ле", "ом", "ве", "ес",
    }
)
_CYRILLIC_LETTER = re.compile("[\u0400-\u04ff]")
_CYRILLIC_WORD = re.compile("[\u0400-\u04ff]+")


def clean(s: str) -> str:
    """Return `s` as storable text: escaped raw bytes re-decoded (UTF-8, else windows-1251), other
    surrogates replaced, line ends normalised to \\n, NUL and other control characters except \\n and \\t
    removed."""
    if not s:
        return ""
    if _SURROGATES.search(s):
        s = _redecode_escaped_bytes(s)
    if "\r" in s:
        s = s.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS.sub("", s)


def header_safe(s: str, limit: int = 200) -> str:
    """Return `s` fit for an e-mail header value: cleaned, all whitespace (line breaks included) collapsed to
    single spaces, and cut to at most `limit` characters on a character boundary, ending in "…" when cut."""
    s = _WHITESPACE.sub(" ", clean(s)).strip()
    # Unicode line/paragraph separators are whitespace to \s, so they are gone too.
    if len(s) <= limit:
        return s
    if limit <= 0:
        return ""
    return s[: limit - 1].rstrip() + "…"


def normalize_charset(name: str | None) -> str | None:
    """Return the Python codec name for a declared MIME charset, or None when it is absent, unknown or not
    a text charset we are willing to use."""
    if not name:
        return None
    key = str(name).strip().strip("\"'").lower()
    key = key.split("*", 1)[0]  # RFC 2231 charset*language
    key = _CHARSET_ALIASES.get(key, key)
    match = _CP_ALIAS.match(key)
    if match:
        key = "cp" + match.group(1)
    try:
        codec = codecs.lookup(key).name
    except (LookupError, ValueError):
        return None
    if codec.replace("_", "-") in _REFUSED_CODECS:
        return None
    return codec


def decode_text(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """Decode a body or header fragment, trusting the declared charset when it decodes cleanly and is not an
    obvious mislabel; otherwise guess among UTF-8, windows-1251 and KOI8-R.  Returns the text and a note
    for the defects list when the declared charset was not used as is (None when it was)."""
    codec = normalize_charset(charset)
    # Only when nothing says otherwise: UTF-7, UTF-16 and ISO-2022 texts are also plain 7-bit bytes.
    if codec in (None, "ascii") and data.isascii():
        return data.decode("ascii"), None
    note = None
    if codec is not None and codec != "ascii":
        try:
            text = data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            note = f"charset {charset!r} does not decode the text"
        else:
            if codec not in _SINGLE_BYTE_CYRILLIC:
                return text, None
            better = _better_cyrillic(data, codec, text)
            if better is None:
                return text, None
            return better[1], f"charset {charset!r} looks mislabelled; decoded as {better[0]}"
    elif charset and codec is None:
        note = f"unknown charset {charset!r}"
    else:
        note = f"8-bit text without a charset (declared {charset or 'none'})"
    guessed, text = _guess_8bit(data)
    return text, f"{note}; decoded as {guessed}"


def decode_header_value(value: str) -> str:
    """Decode a raw header value: RFC 2047 encoded words (also broken ones: unknown charsets, bad padding,
    characters split across words, words inside quotes) and raw 8-bit bytes, unfolded and cleaned."""
    if not value:
        return ""
    value = value.replace("\r\n", "\n").replace("\n ", " ").replace("\n\t", " ").replace("\n", " ")
    if "=?" not in value:
        return clean(value)
    out: list[str] = []
    pending: list[bytes] = []  # bytes of adjacent encoded words in one charset, decoded together
    pending_charset: str | None = None
    last_end = 0
    for match in _ENCODED_WORD.finditer(value):
        between = value[last_end : match.start()]
        charset, encoding, payload = match.group(1), match.group(2).lower(), match.group(3)
        # Whitespace between two encoded words is not part of the text (RFC 2047 section 6.2).
        if between and (not pending or between.strip()):
            if pending:
                out.append(_decode_words(pending, pending_charset))
                pending = []
            out.append(between)
        if pending and charset.lower() != (pending_charset or "").lower():
            out.append(_decode_words(pending, pending_charset))
            pending = []
        pending_charset = charset
        pending.append(_word_bytes(encoding, payload))
        last_end = match.end()
    if pending:
        out.append(_decode_words(pending, pending_charset))
    out.append(value[last_end:])
    return clean("".join(out))


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
_Q_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")


def _word_bytes(encoding: str, payload: str) -> bytes:
    raw = payload.encode("utf-8", "surrogateescape")
    if encoding == "q":
        return _Q_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw.replace(b"_", b" "))
    raw = _NOT_BASE64.sub(b"", raw)
    raw = raw[: len(raw) - len(raw) % 4] if len(raw) % 4 == 1 else raw + b"=" * (-len(raw) % 4)
    try:
        return binascii.a2b_base64(raw)
    except binascii.Error:
        return b""


def _decode_words(chunks: list[bytes], charset: str | None) -> str:
    data = b"".join(chunks)
    if not data:
        return ""
    return decode_text(data, charset)[0]


def _guess_8bit(data: bytes) -> tuple[str, str]:
    """Decode 8-bit bytes of unknown charset: UTF-8 when it is (mostly) UTF-8, else the better of
    windows-1251 and KOI8-R by Russian letter frequencies."""
    try:
        return "utf-8", data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    lossy = data.decode("utf-8", "replace")
    bad = lossy.count("\ufffd")
    good = sum(1 for ch in lossy if ord(ch) > 0x7F) - bad
    # Truncated or slightly damaged UTF-8 (a cut filename, one stray byte) is still UTF-8; windows-1251
    # text almost never forms valid multi-byte sequences, so a clear majority of them decides.
    if good > 0 and good >= 2 * bad:
        return "utf-8", lossy
    cp1251 = data.decode("cp1251", "replace")
    koi8 = data.decode("koi8-r", "replace")
    if (_russian_score(koi8) or 0) > (_russian_score(cp1251) or 0):
        return "koi8-r", koi8
    return "cp1251", cp1251  # the likelier one when the text is too short to tell


def _better_cyrillic(data: bytes, codec: str, text: str) -> tuple[str, str] | None:
    """A single-byte Cyrillic label is often wrong (UTF-8 or the other code page sent under it); return a
    clearly better decoding, or None to keep the declared one."""
    try:
        utf8 = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        # Valid UTF-8 with Cyrillic in it cannot be an accident of windows-1251 text of any length.
        if _CYRILLIC_LETTER.search(utf8):
            return "utf-8", utf8
    if codec not in ("cp1251", "koi8-r"):
        return None
    other = "koi8-r" if codec == "cp1251" else "cp1251"
    declared_score = _russian_score(text, minimum=20)
    if declared_score is None or declared_score >= 0.2:
        return None
    alternative = data.decode(other, "replace")
    if (_russian_score(alternative, minimum=20) or 0) > declared_score + 0.1:
        return other, alternative
    return None


def _russian_score(text: str, minimum: int = 8) -> float | None:
    """Share of letter pairs that are among the thirty most frequent in Russian (about 0.3 in real text,
    under 0.15 when the text went through the wrong code page); None when there is too little to judge."""
    words = _CYRILLIC_WORD.findall(text[:4000].lower())
    pairs = hits = 0
    for word in words:
        for i in range(len(word) - 1):
            pairs += 1
            hits += word[i : i + 2] in _FREQUENT_PAIRS
    return hits / pairs if pairs >= minimum else None


def _redecode_escaped_bytes(s: str) -> str:
    runs = _ESCAPED_BYTES.findall(s)
    if runs:
        blob = b"".join(run.encode("utf-8", "surrogateescape") for run in runs)
        # One decision for the whole string: its bytes come from one mailer with one charset.
        encoding, _ = _guess_8bit(blob)
        s = _ESCAPED_BYTES.sub(
            lambda m: m.group().encode("utf-8", "surrogateescape").decode(encoding, "replace"), s
        )
    return _SURROGATES.sub("\ufffd", s)


# --- HTML to text -----------------------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "caption", "center", "dd", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "thead", "tfoot", "tr",
        "ul",
    }
)
_SKIP_TAGS = frozenset({"script", "style", "title", "template", "xml"})
_CELL_TAGS = frozenset({"td", "th"})
_HTML_LIMIT = 2_000_000  # characters converted; beyond it a mail is not read by a person anyway


class _TextExtractor(HTMLParser):
    """Collects text in runs of equal <blockquote> depth.  Block boundaries start a new line only when the
    current one has text, so nested <div>s and <p>s do not pile up blank lines; <br> always breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.runs: list[tuple[int, list[str]]] = [(0, [])]
        self.quote_depth = 0
        self.skip_depth = 0
        self.pre_depth = 0
        self.line_has_text = False
        # Outlook writes a blank line as an empty paragraph, <p>&nbsp;</p>: it must stay a blank line.
        self.spacer_paragraph = False

    def _emit(self, text: str) -> None:
        self.runs[-1][1].append(text)
        if text.endswith("\n"):
            self.line_has_text = False
        elif text.strip():
            self.line_has_text = True

    def _block(self) -> None:
        if self.line_has_text:
            self._emit("\n")

    def _set_quote_depth(self, depth: int) -> None:
        self._block()
        self.quote_depth = max(depth, 0)
        self.runs.append((self.quote_depth, []))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self.skip_depth += 1
        elif tag == "body":
            self.skip_depth = 0  # an unclosed <title> or <xml> must not hide the whole mail
        elif tag == "br":
            self._emit("\n")
        elif tag == "blockquote":
            self._set_quote_depth(self.quote_depth + 1)
        elif tag == "pre":
            self.pre_depth += 1
            self._block()
        elif tag == "li":
            self._block()
            self._emit("- ")
        elif tag in _BLOCK_TAGS:
            self._block()
            self.spacer_paragraph = False
        elif tag in _CELL_TAGS:
            self._emit(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._emit("\n")
        elif tag in _BLOCK_TAGS:
            self._block()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip_depth = max(self.skip_depth - 1, 0)
        elif tag == "blockquote":
            self._set_quote_depth(self.quote_depth - 1)
        elif tag == "pre":
            self.pre_depth = max(self.pre_depth - 1, 0)
            self._block()
        elif tag == "p" and self.spacer_paragraph and not self.line_has_text:
            self._emit("\n")
            self.spacer_paragraph = False
        elif tag in _BLOCK_TAGS:
            self._block()

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        if self.pre_depth:
            self._emit(data.replace("\r\n", "\n"))
            return
        if "\u00a0" in data and not data.strip(" \t\r\n\f\v\u00a0"):
            self.spacer_paragraph = True
        self._emit(_INLINE_SPACE.sub(" ", data))


_INLINE_SPACE = re.compile(r"[ \t\r\n\f\v\u00a0]+")
_BLANK_RUN = re.compile(r"\n{3,}")
_SPACES = re.compile(r" {2,}")
_TAG = re.compile(r"<[^>]*>")


def html_to_text(html: str) -> str:
    """Return the readable text of an HTML mail: block elements on their own lines, script/style dropped,
    entities unescaped, whitespace collapsed, and <blockquote> content prefixed with "> " per level."""
    if not html:
        return ""
    parser = _TextExtractor()
    try:
        parser.feed(html[:_HTML_LIMIT])
        parser.close()
    except (AssertionError, ValueError, IndexError):
        # html.parser gives up on some malformed declarations; the text without tags is still better
        # than nothing.
        return clean(_BLANK_RUN.sub("\n\n", _TAG.sub(" ", html[:_HTML_LIMIT]))).strip()
    lines: list[str] = []
    for depth, pieces in parser.runs:
        run = "".join(pieces)
        if not run.strip():
            continue
        prefix = "> " * depth
        for line in run.removesuffix("\n").split("\n"):
            line = _SPACES.sub(" ", line).strip(" ")  # cells and inline tags leave runs of spaces
            if not line and (not lines or not lines[-1].strip(" >")):
                continue  # at most one blank line in a row, none at the start
            lines.append((prefix + line).rstrip())
    while lines and not lines[-1].strip(" >"):
        lines.pop()
    return clean("\n".join(lines)).strip()
