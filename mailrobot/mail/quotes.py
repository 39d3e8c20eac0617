"""A reply's own words: quoted history, reply headers and signatures taken away.

Operators answer from every client in every language, so history is recognised by its shape, not by the
words of one client.  In the order `strip_reply` applies them:

1. The reply-above marker the robot puts at the top of every mail to staff goes with everything below it and
   the attribution or header block just above it; when it is quoted, with the quote it stands in (an answer
   written below that quote stays).
2. The robot knows what it sent: a run of lines near the end that repeats our own mail, in order (quoted,
   re-wrapped, re-spaced), goes with the attribution above it.
3. Reply headers by shape: an attribution (a line, or two or three a client wrapped, ending in a colon,
   holding a date or a time in any notation and/or an address), a header block (consecutive `Field: value`
   lines in any language, values that wrap) and separator lines ("-----Original Message-----", "-----Исходное
   сообщение-----").  A header followed by `>`-quoted lines introduces that quote: the text between quotes
   stays (inline answers).  Any other header starts the history: everything below it goes.
4. `>`-quoted lines go (HTML blockquotes arrive as "> " lines, see text.html_to_text), and so do the lines a
   client re-wrapped out of a quote without its `>`.
5. Signatures go: from a "-- " delimiter, and a client's footer ("Sent from my iPhone", "Get Outlook for
   iOS", "Отправлено из Mail.ru") at the end.

When in doubt a line stays: an answer that loses the operator's words is worse than one that keeps a
signature.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# -- the reply-above marker -------------------------------------------------------------------------------

REPLY_ABOVE = {
    "ru": "--- Ответьте выше этой строки ---",
    "kk": "--- Осы жолдың үстіне жауап жазыңыз ---",
    "en": "--- Reply above this line ---",
}
_MARKER_PHRASES = frozenset(" ".join(m.strip("- ").casefold().split()) for m in REPLY_ABOVE.values())


def reply_above_marker(language: str) -> str:
    """The line at the top of every mail to staff above which they write their answer (English when the
    language has none)."""
    return REPLY_ABOVE.get(language, REPLY_ABOVE["en"])


def is_reply_above_marker(line: str) -> bool:
    """Whether `line` is a reply-above marker in any of our languages, quoted or not, one or several
    joined by "/"."""
    core = line.strip().lstrip(">| \t").strip("-–—_*=~ \t").casefold()
    parts = [" ".join(part.strip("-–—_*=~ \t").split()) for part in core.split("/")]
    return bool(core) and all(part in _MARKER_PHRASES for part in parts)


# -- header fields, as the clients localise them ---------------------------------------------------------

FROM_FIELDS = (
    "from", "от", "от кого", "кімнен", "жіберуші", "von", "de", "da", "van", "från", "fra", "od", "kimden",
    "lähettäjä", "від", "feladó", "odesílatel", "发件人", "寄件者",
)  # fmt: skip
DATE_FIELDS = (
    "sent", "date", "отправлено", "дата", "жіберілді", "жіберілген", "күні", "gesendet", "datum", "envoyé",
    "inviato", "data", "verzonden", "skickat", "sendt", "enviado", "enviada", "wysłano", "gönderildi",
    "tarih", "lähetetty", "надіслано", "odesláno", "elküldve", "发送时间", "日期",
)  # fmt: skip
TO_FIELDS = (
    "to", "кому", "кімге", "алушы", "an", "à", "a", "aan", "till", "til", "para", "do", "kime",
    "vastaanottaja", "komu", "címzett", "收件人",
)  # fmt: skip
CC_FIELDS = ("cc", "копия", "көшірме", "kopie", "copie", "kopia", "копія")
SUBJECT_FIELDS = (
    "subject", "тема", "тақырып", "тақырыбы", "betreff", "objet", "oggetto", "onderwerp", "ämne", "emne",
    "asunto", "temat", "konu", "aihe", "předmět", "tárgy", "主题", "assunto", "sujet",
)  # fmt: skip
_CANONICAL = {
    name: canonical
    for canonical, names in (
        ("from", FROM_FIELDS),
        ("date", DATE_FIELDS),
        ("to", TO_FIELDS),
        ("cc", CC_FIELDS),
        ("subject", SUBJECT_FIELDS),
    )
    for name in names
}

# "Field: value" in any language: one to three words before the colon.  "*From:* x" is Outlook's bold in a
# plain-text reply, Thunderbird puts a tab after the colon, French a space before it.
_FIELD = re.compile(
    r"^\s*[*_]{0,2}\s*(?P<name>[^\W\d_][^\W\d_'’.-]*(?:[ '’-][^\W\d_]+\.?){0,2})\s*[*_]{0,2}\s*[:：]"
    r"(?!//)\s*[*_]{0,2}[ \t]*(?P<value>.*?)\s*$"
)

# Lines that separate the reply from the history outright.
SEPARATOR = re.compile(
    r"^[^\w-]*-{2,}\s*(?:original message|исходное сообщение|бастапқы (?:хабар|хат)\w*|forwarded message"
    r"|пересылаемое сообщение|начало пересылаемого сообщения|қайта жіберілген (?:хат|хабар)\w*"
    r"|ursprüngliche nachricht|weitergeleitete nachricht|mensaje original|mensaje reenviado"
    r"|message d'origine|message transféré|messaggio originale|messaggio inoltrato|oorspronkelijk bericht"
    r"|doorgestuurd bericht|originalmeddelande|vidarebefordrat meddelande|opprinnelig melding"
    r"|oprindelig meddelelse|oryginalna wiadomość|mensagem original|orijinal ileti|alkuperäinen viesti"
    r"|вихідне повідомлення|пересланий лист)\s*-{2,}[^\w-]*$"
    r"|^\s*(?:begin forwarded message|начало переадресованного сообщения)\s*:\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class HeaderBlock:
    """Header lines of a quoted or forwarded mail, as its client wrote them ("От: …", "Subject: …")."""

    start: int
    end: int  # index after the block
    fields: dict[str, str]  # canonical name (from, date, to, cc, subject) -> value

    def get(self, name: str) -> str:
        return self.fields.get(name, "")


def _has_value(line: str) -> bool:
    """Whether `line` is a header field with a value ("Sent: Friday, …"; a wrapped "… a écrit :" is none)."""
    found = _field(line)
    return found is not None and bool(found[1])


@lru_cache(maxsize=4096)
def _field(line: str) -> tuple[str, str] | None:
    match = _FIELD.match(line)
    if not match or len(match["name"]) > 25:
        return None
    name = " ".join(match["name"].lower().split())
    return _CANONICAL.get(name, name), match["value"].strip("* \t")


def _fields(lines: list[str], start: int) -> tuple[dict[str, str], int, int]:
    """The `Field: value` lines from `start`: their values by (canonical) name, the index after them, and how
    many there were.  A line that is no field continues the value above it (a wrapped address, a long
    subject) when another field follows within two lines."""
    fields: dict[str, str] = {}
    count, i, last = 0, start, ""
    while i < len(lines) and i - start < 16:
        found = _field(lines[i]) if not _QUOTED.match(lines[i]) else None
        if found is not None:
            last = found[0]
            fields.setdefault(last, found[1])
            count += 1
        elif last and lines[i].strip() and not _QUOTED.match(lines[i]):
            ahead = [j for j in (i + 1, i + 2) if j < len(lines)]
            indented = lines[i][:1] in (" ", "\t")
            if not indented and not any(_field(lines[j]) for j in ahead if lines[j].strip()):
                break
            fields[last] = f"{fields[last]} {lines[i].strip()}".strip()
        else:
            break
        i += 1
    return fields, i, count


def header_block(lines: list[str], start: int, min_fields: int = 3) -> HeaderBlock | None:
    """The header block that begins at `lines[start]`, when there is one with a From field and at least
    `min_fields` fields in all (Outlook: From/Sent/To/Subject; Thunderbird: Subject/Date/From/To), in the
    field names of the clients' languages."""
    if _field(lines[start]) is None:
        return None
    fields, end, count = _fields(lines, start)
    if "from" not in fields or count < min_fields:
        return None
    known = {name: value for name, value in fields.items() if name in ("from", "date", "to", "cc", "subject")}
    if len(known) < min(min_fields, 2) or not _dated_or_addressed(" ".join(fields.values())):
        return None
    return HeaderBlock(start, end, fields)


def _dated_or_addressed(text: str) -> bool:
    return bool(_ADDRESS.search(text) or _DATE.search(text) or _TIME.search(text))


def _any_header_block(lines: list[str], start: int) -> int:
    """The end of a header block at `start` in any language (0: none): four or more `Field: value` lines
    (From, Date, To, Subject in every client), the first holding an address and one a date with its time;
    or a block with known field names."""
    block = header_block(lines, start)
    if block is not None:
        return block.end
    if _field(lines[start]) is None:
        return 0
    fields, end, count = _fields(lines, start)
    dated = any(_DATE.search(value) and _TIME.search(value) for value in fields.values())
    sender = next(iter(fields.values()), "")
    if count >= 4 and dated and _ADDRESS.search(sender):
        return end
    return 0


# -- attributions ------------------------------------------------------------------------------------------

_ADDRESS = re.compile(
    r"(?<![^\s<>()\[\]@,;:\"])[^\s<>()\[\]@,;:\"]+@[^\s<>()\[\]@,;:\"]+\.[^\W_]{2,}|mailto:", re.IGNORECASE
)
# 10:05, 10:05:12, 18.30, 3:35 PM, 10h05 — never a piece of a date such as 20.11.2026.
_TIME = re.compile(r"(?<![\d.:/-])(?:[01]?\d|2[0-3])(?:[:h]|\.(?=\d\d\b))\s?[0-5]\d(?::[0-5]\d)?(?![.:/]?\d)")
# 20.11.2026, 2026-11-20, 11/20/26, 20 нояб. 2026, 20 de noviembre de 2026, Nov 20, 2026, 2026年11月20日;
# a phone number's 12-34-56 is none.
_DATE = re.compile(
    r"(?<![\d.:/-])(?:(?:0?[1-9]|[12]\d|3[01])([./])(?:0?[1-9]|1[0-2])\1(?:\d{4}|\d\d)(?![\d])"
    r"|(?:0?[1-9]|[12]\d|3[01])-(?:0?[1-9]|1[0-2])-\d{4}|(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])/\d{2,4}"
    r"|\d{4}([./-])(?:0?[1-9]|1[0-2])\2(?:0?[1-9]|[12]\d|3[01])(?!\d)"
    r"|\d{1,2}\.?\s+(?:de\s+)?[^\W\d_]{3,}\.?,?\s+(?:de\s+)?\d{4}"
    r"|\b[^\W\d_]{3,}\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}"
    r"|\d{4}\s*年)(?!\d)",
    re.IGNORECASE,
)
# Further evidence for an attribution above unquoted history (where a wrong guess would lose the rest).
_WROTE = re.compile(
    r"\b(?:wrote|writes|a écrit|écrit|schrieb|schreibt|geschrieben|ha scritto|scrisse|scrive|escribió|escribe"
    r"|escreveu|escreve|schreef|schrijft|geschreven|skrev|skriver|napisał|napisała|pisze|napsal|napisao"
    r"|napisala|írta|yazdı|kirjoitti|a scris|έγραψε|пишет|написал|написала|написав|пише|жазды|жазған|жазады)"
    r"|写道|寫道|のメッセージ|작성",
    re.IGNORECASE,
)
# The address in brackets closes the line: `… "Name" <addr>:`, `<addr<mailto:addr>>:`, `[mailto:addr]:`.
_ENDS_WITH_ADDRESS = re.compile(r"@[^\s<>@]+\.[^\W_]{2,}\s*[>\]]\W{0,3}[:：]$")
_QUOTED = re.compile(r"^\s*(?:>|[A-Za-z]{1,10}>(?:\s|$))")  # "> x", and Supercite's "Name> x"
_QUOTE_LIKE = re.compile(r"^\s*[>|]")
_RULE_LINE = re.compile(r"^\s*[-_=*—–~]{3,}\s*$")
_DASHED = re.compile(r"^\s*-{2,}\s*(?P<inner>\S.*?)\s*-{2,}\s*$")  # "---- On … wrote ----" (Zoho)
_SHORT_DASHED = re.compile(r"^\s*\*?-{3,}\s*[^\W\d_]+(?:\s[^\W\d_]+){0,3}\s*-{3,}\*?\s*$")
_SENTENCE_END = re.compile(r"(?:[^\W\d_]{6,}|\d:\d\d)[.!?…]$|[!?…]$|\.\.\.$")


def _evidence(text: str) -> tuple[bool, bool, bool, bool]:
    return (
        ("@" in text or "mailto:" in text.lower()) and bool(_ADDRESS.search(text)),
        bool(_DATE.search(text)),
        bool(_TIME.search(text)),
        bool(_WROTE.search(text)),
    )


def _is_attribution(text: str, quote_follows: bool) -> bool:
    """Whether joined line(s) `text` have the shape of an attribution ("On … wrote:", "20.11.2026 10:05,
    Name пишет:", `30.09.2017, 18.30, "Name" <addr>:`).  Above a quote, less proof is needed than above
    unquoted text, where a wrong guess would throw away the rest of the mail."""
    text = text.strip().strip("*_").strip()
    if not text or len(text) > 300 or _QUOTE_LIKE.match(text):
        return False
    colon, dashed = text.endswith((":", "：")), _DASHED.match(text)
    if not (colon or dashed or quote_follows or _WROTE.search(text[-20:])):
        return False
    address, date, time, wrote = _evidence(text)
    if dashed:
        return (address or wrote) and (date or time)
    if len(_TIME.findall(text)) > 2:
        return False
    if quote_follows:
        if colon:
            return address or (date and time) or (wrote and (date or time))
        return (address or wrote) and (date or time)
    if not colon:  # "On … <addr> wrote" without its colon: every piece of proof, the verb at the end
        return address and wrote and (date or time) and bool(_WROTE.search(text[-20:]))
    if address:
        return wrote or ((date or time) and bool(_ENDS_WITH_ADDRESS.search(text)))
    return wrote and (date or time)


def _attribution_span(lines: list[str], end: int, quote_follows: bool) -> int:
    """How many lines (1–3) ending at `lines[end]` form an attribution (0: none).  The shortest such run is
    taken, then grown upwards over a line that holds what it still lacks (a date, an address) and does not
    end a sentence: "Hi," above "On … wrote:" stays."""
    for span in (1, 2, 3):
        first = end - span + 1
        if first < 0:
            return 0
        chunk = lines[first : end + 1]
        if any(not part.strip() or _QUOTED.match(part) or _has_value(part) for part in chunk):
            return 0
        if span > 1 and _SENTENCE_END.search(chunk[0].rstrip()[-40:]):
            return 0
        joined = " ".join(part.strip() for part in chunk)
        if _is_attribution(joined, quote_follows):
            break
    else:
        return 0
    while span < 3 and end - span >= 0:
        above = lines[end - span]
        if not _may_continue(above):
            break
        if not _completes(above, joined):
            # a name alone on its line, wrapped between the date and the address
            higher = lines[end - span - 1] if span == 1 and end - span - 1 >= 0 else ""
            if len(above.split()) > 4 or not _may_continue(higher) or not _completes(higher, joined):
                break
            span += 1
            joined = f"{above.strip()} {joined}"
            above = higher
        span += 1
        joined = f"{above.strip()} {joined}"
    return span


def _may_continue(line: str) -> bool:
    """Whether `line` may be the upper part of a wrapped attribution."""
    stripped = line.rstrip()
    return bool(line.strip()) and not _QUOTED.match(line) and not _SENTENCE_END.search(stripped[-40:])


def _completes(above: str, joined: str) -> bool:
    """Whether `above` holds what the attribution `joined` below it still lacks (a date, an address)."""
    has_address, has_date, _, _ = _evidence(joined)
    above_address, above_date, above_time, _ = _evidence(above)
    return bool(
        (above_date and not has_date)
        or (above_address and not has_address)
        or (above_time and not has_date and not _TIME.search(joined))
    )


def _next_content(lines: list[str], i: int) -> int | None:
    while i < len(lines):
        if lines[i].strip():
            return i
        i += 1
    return None


def _history_header(lines: list[str], i: int) -> tuple[int, bool]:
    """A reply header beginning at `lines[i]`: (lines it spans, whether a quote follows it); (0, False)
    when there is none."""
    line = lines[i]
    if not line.strip() or _QUOTED.match(line):
        return 0, False
    if SEPARATOR.match(line):
        return 1, False
    end = _any_header_block(lines, i)
    if end:
        return end - i, False
    for span in (1, 2, 3):
        last = i + span - 1
        if last >= len(lines) or not lines[last].strip() or _QUOTED.match(lines[last]):
            break
        following = _next_content(lines, last + 1)
        quote_follows = following is not None and bool(_QUOTE_LIKE.match(lines[following]))
        tail = lines[last].rstrip().rstrip("*_ ")
        ending = tail.endswith((":", "：", "-")) or bool(_WROTE.search(tail[-20:]))
        if (ending or quote_follows) and _attribution_span(lines, last, quote_follows) == span:
            return span, quote_follows
    return 0, False


# -- the robot's own mail ---------------------------------------------------------------------------------

_WORD = re.compile(r"\w+")


def _words(text: str) -> str:
    return " ".join(_WORD.findall(text.casefold()))


def _unquoted(line: str) -> str:
    return re.sub(r"^(?:\s*>)+", "", line)


def _our_mail(lines: list[str], sent: str) -> tuple[int, int] | None:
    """The run of lines that repeats our own mail `sent` in order (any quoting, wrapping, spacing), found
    from the end: (first, last) line, or None.  It is anchored on a line of three words or more; lines that
    do not match may sit inside it (a client's changed link), up to three in a row."""
    ours = f" {_words(sent)} "
    if len(ours) < 20:
        return None
    first = last = None
    bound = end = gap = 0
    for i in range(len(lines) - 1, -1, -1):
        words = _words(_unquoted(lines[i]))
        if not words:
            continue
        needle, strong = f" {words} ", len(words.split()) >= 3
        if last is None:
            pos = ours.rfind(needle) if strong else -1
            if pos >= 0:
                first = last = i
                bound, end = pos, pos + len(needle)
            continue
        pos = ours.rfind(needle, 0, bound + 1)
        if pos >= 0 and (gap == 0 or strong):
            first, bound, gap = i, pos, 0
        else:
            gap += 1
            if gap > 3:
                break
    if first is None or last is None:
        return None
    for j in range(last + 1, len(lines)):  # short lines below the anchor that go on with our mail
        words = _words(_unquoted(lines[j]))
        if words:
            pos = ours.find(f" {words} ", end - 1)
            if pos < 0:
                break
            last, end = j, pos + len(words) + 2
    # A sentence of the consumer's that the operator copied into the answer is no quote of our mail: the
    # run must hold the beginning of our mail, or be all there is below the answer.
    at_top = bound <= 40
    at_end = all(not _words(_unquoted(line)) for line in lines[last + 1 :])
    matched = _words(" ".join(_unquoted(line) for line in lines[first : last + 1]))
    return (first, last) if len(matched.split()) >= 8 and (at_top or at_end) else None


def _without_headers_at_end(lines: list[str]) -> list[str]:
    """`lines` without what a client put above the part of the history that was cut below them: one
    attribution or one header block, with the separator, rule and blank lines around it."""
    lines = list(lines)
    header_gone = False
    while lines:
        last = lines[-1]
        if not _unquoted(last).strip() or _RULE_LINE.match(_unquoted(last)) or SEPARATOR.match(last):
            lines.pop()
            continue
        if header_gone:
            break
        header_gone = True
        begin = _header_block_ending_at(lines)
        if begin is None:
            span = _attribution_span(lines, len(lines) - 1, quote_follows=True)
            begin = len(lines) - span if span else None
        if begin is None and _introduces(last):
            begin = len(lines) - 1
        if begin is None:
            break
        del lines[begin:]
    return lines


def _introduces(line: str) -> bool:
    """Whether `line`, right above our own mail, is a client's one-line introduction of it in whatever words
    ("Байланыс орталығы хабарлама:"): short, ending in a colon, no field with a value."""
    line = line.strip()
    short = len(line) <= 100 and not _QUOTED.match(line)
    return short and line.endswith((":", "：")) and not _has_value(line)


def _header_block_ending_at(lines: list[str]) -> int | None:
    """Where the header block that ends with `lines` begins (any language: three `Field: value` lines, or
    two with an address or a date), or None."""
    start = len(lines) - 1
    while start > 0 and start > len(lines) - 16 and lines[start - 1].strip():
        start -= 1
    for begin in range(start, len(lines)):
        fields, end, count = _fields(lines, begin)
        proof = _dated_or_addressed(" ".join(fields.values()))
        if end == len(lines) and (count >= 3 or (count == 2 and proof)):
            return begin
    return None


# -- the reply --------------------------------------------------------------------------------------------


def strip_reply(text: str, *, sent: str | None = None) -> str:
    """The author's own words in a reply: without the quoted history, reply headers and signature.  `sent`
    is the text of our own mail the reply answers, when known: its lines are history wherever the reply
    repeats them."""
    lines = _without_our_marker(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    if sent:
        found = _our_mail(lines, sent)
        if found is not None:
            lines = [*_without_headers_at_end(lines[: found[0]]), "", *lines[found[1] + 1 :]]
    kept = _without_history(lines)
    return _tidy(_without_signature(kept))


def _without_our_marker(lines: list[str]) -> list[str]:
    """`lines` without our mail from its reply-above marker on.  A quoted marker takes the quote it stands
    in (down to the first line the author wrote below it); an unquoted one, everything below it."""
    for i, line in enumerate(lines):
        if not is_reply_above_marker(line):
            continue
        above = _without_headers_at_end(lines[:i])
        if not _QUOTED.match(line):
            return above
        end, previous = i + 1, line
        while end < len(lines):
            current = lines[end]
            if _rewrapped(previous, current, lines[end + 1 : end + 2]):
                current = "> " + current
            elif current.strip() and not _QUOTED.match(current):
                break
            previous, end = current, end + 1
        return [*above, "", *lines[end:]]
    return lines


def _without_history(lines: list[str]) -> list[str | None]:
    """The lines that are no history; None where lines were taken out between them."""
    lines = list(lines)
    kept: list[str | None] = []
    i = 0
    piped = False  # under an attribution whose quote is marked with "|" instead of ">"
    inline_quote = False  # an attribution introduced a quote: the text below it may answer it inline
    while i < len(lines):
        line = lines[i]
        piped = piped and (not line.strip() or line.lstrip().startswith("|"))
        if _QUOTED.match(line) or (piped and line.strip()):
            kept.append(None)
            i += 1
            continue
        if line.strip() and i > 0 and _rewrapped(lines[i - 1], line, lines[i + 1 : i + 2]):
            kept.append(None)
            lines[i] = "> " + line  # so that a second re-wrapped line below is seen as one too
            i += 1
            continue
        span, quote_follows = _history_header(lines, i)
        if span and quote_follows:
            kept.append(None)
            i += span  # the header of an inline-answered quote: drop it, keep answering text below
            following = _next_content(lines, i)
            piped = following is not None and lines[following].lstrip().startswith("|")
            inline_quote = True
            continue
        if span:  # unquoted history from here on; text between it and a quote above is history too
            if inline_quote:
                kept = kept[: max(j for j, kept_line in enumerate(kept) if kept_line is None) + 1]
            break
        kept.append(line.rstrip())
        i += 1
    return kept


def _rewrapped(above: str, line: str, below: list[str]) -> bool:
    """Whether `line` is the end of the quoted line `above`, which a client wrapped without repeating `>`:
    the quoted line is long, its first word would not have fitted on it, it stops mid-sentence, and this one
    goes on in lower case, or is short and followed by the quote again."""
    if not _QUOTED.match(above) or _QUOTED.match(line) or not line.strip():
        return False
    quoted = _unquoted(above).strip()
    first_word = line.split()[0]
    if len(above.rstrip()) < 50 or len(above.rstrip()) + 1 + len(first_word) <= 66:
        return False
    if len(quoted) < 30 or quoted.endswith((".", "!", "?", "…")):
        return False
    continues = first_word[:1].islower() or first_word[:1].isdigit() or first_word[:1] in ",;)»\"'-–"
    short_in_quote = len(line.strip()) <= 30 and bool(below) and bool(_QUOTED.match(below[0]))
    return continues or short_in_quote


_SIGNATURE_DELIMITER = re.compile(r"^--\s*$")
# "Sent from my iPhone", "Отправлено с iPhone", "Отправлено из мобильной Почты Mail.ru", "Get Outlook for
# Android", "iPhone құрылғысынан жіберілді", "Von meinem iPhone gesendet": a short line, no comma (a sentence
# that merely starts so stays).
_MOBILE_SIGNATURE = re.compile(
    r"^\s*[(<]*\s*(?:sent (?:from|via|with) (?:my |the |mail for |outlook|yahoo|yandex|samsung|gmail|windows"
    r"|mail\.ru|blackberry|mailbox|airmail|proton)|sent from (?:my )?\S*(?:iphone|ipad|android|galaxy)"
    r"|get outlook for|получить outlook для|отправлено (?:с|со|из|через)\s|послано с\s|надіслано з\s"
    r"|envoyé (?:de|depuis|à partir de)\s|inviato da\s|enviado (?:desde|do|de)\s"
    r"|verzonden (?:met|vanaf|van)\s|verstuurd (?:met|vanaf|van)\s|skickat från\s|sendt fra\s|wysłane z\s"
    r"|lähetetty\s|gönderildi"
    r"|von meinem\s.{0,40}gesendet"
    r"|\S*(?:iphone|ipad|android|samsung|mail\.ru|яндекс|outlook)\S*(?:\s\S+){0,3}\s(?:жіберілді|жіберілген))"
    r"[^,]{0,60}$",
    re.IGNORECASE,
)
_LIST_FOOTER_HINT = re.compile(r"https?://|@|unsubscribe|mailing list|рассылк", re.IGNORECASE)


def _without_signature(lines: list[str | None]) -> list[str | None]:
    content = [i for i, line in enumerate(lines) if line and line.strip()]
    for n, i in enumerate(content):
        if len(content) - n - 1 <= 15 and _SIGNATURE_DELIMITER.match(lines[i] or ""):
            lines = lines[:i]
            break
    while True:
        content = [i for i, line in enumerate(lines) if line and line.strip()]
        if len(content) < 2 or not _MOBILE_SIGNATURE.match(lines[content[-1]] or ""):
            break
        lines = lines[: content[-1]]
    # A mailing-list footer: a rule of underscores and a few lines with a link or an address.
    content = [i for i, line in enumerate(lines) if line and line.strip()]
    for n, i in enumerate(content[-5:-1], start=max(len(content) - 5, 0)):
        tail = [lines[j] or "" for j in content[n + 1 :]]
        if re.match(r"^\s*_{20,}\s*$", lines[i] or "") and any(_LIST_FOOTER_HINT.search(t) for t in tail):
            lines = lines[:i]
            break
    return lines


def _tidy(lines: list[str | None]) -> str:
    """The kept lines as text: blank lines around a cut merged into one, the author's own spacing kept, and
    rules left hanging above a cut ("________" or "-----" before Outlook's header block) dropped."""
    out: list[str] = []
    gap = False
    for line in lines:
        if line is None:
            gap = True
            while out and not out[-1].strip():
                out.pop()
                gap = True
            continue
        if not line.strip():
            if gap:
                continue
            out.append("")
            continue
        if gap and out:
            out.append("")
        gap = False
        out.append(line.rstrip())
    # A separator in a language we do not know ("-----Původní zpráva-----") above a header block.
    while out and (not out[-1].strip() or _RULE_LINE.match(out[-1]) or _SHORT_DASHED.match(out[-1])):
        out.pop()
    while out and not out[0].strip():
        out.pop(0)
    return "\n".join(out)
