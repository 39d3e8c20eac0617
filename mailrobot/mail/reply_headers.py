"""Reply headers by their shape, in any language: header blocks (consecutive `Field: value` lines, values
that wrap), separator lines, and attribution lines (a line, or two or three a client wrapped, ending in a
colon, holding a date or a time and/or an address).  Used by quotes (a reply's history) and forwarded (the
original inside a forward)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

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


def has_value(line: str) -> bool:
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


def field_lines(lines: list[str], start: int) -> tuple[dict[str, str], int, int]:
    """The `Field: value` lines from `start`: their values by (canonical) name, the index after them, and how
    many there were.  A line that is no field continues the value above it (a wrapped address, a long
    subject) when another field follows within two lines."""
    fields: dict[str, str] = {}
    count, i, last = 0, start, ""
    while i < len(lines) and i - start < 16:
        found = _field(lines[i]) if not QUOTED.match(lines[i]) else None
        if found is not None:
            last = found[0]
            fields.setdefault(last, found[1])
            count += 1
        elif last and lines[i].strip() and not QUOTED.match(lines[i]):
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
    fields, end, count = field_lines(lines, start)
    if "from" not in fields or count < min_fields:
        return None
    known = {name: value for name, value in fields.items() if name in ("from", "date", "to", "cc", "subject")}
    if len(known) < min(min_fields, 2) or not dated_or_addressed(" ".join(fields.values())):
        return None
    return HeaderBlock(start, end, fields)


def dated_or_addressed(text: str) -> bool:
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
    fields, end, count = field_lines(lines, start)
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
QUOTED = re.compile(r"^\s*(?:>|[A-Za-z]{1,10}>(?:\s|$))")  # "> x", and Supercite's "Name> x"
_QUOTE_LIKE = re.compile(r"^\s*[>|]")
RULE_LINE = re.compile(r"^\s*[-_=*—–~]{3,}\s*$")
_DASHED = re.compile(r"^\s*-{2,}\s*(?P<inner>\S.*?)\s*-{2,}\s*$")  # "---- On … wrote ----" (Zoho)
SHORT_DASHED = re.compile(r"^\s*\*?-{3,}\s*[^\W\d_]+(?:\s[^\W\d_]+){0,3}\s*-{3,}\*?\s*$")
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


def attribution_span(lines: list[str], end: int, quote_follows: bool) -> int:
    """How many lines (1–3) ending at `lines[end]` form an attribution (0: none).  The shortest such run is
    taken, then grown upwards over a line that holds what it still lacks (a date, an address) and does not
    end a sentence: "Hi," above "On … wrote:" stays."""
    for span in (1, 2, 3):
        first = end - span + 1
        if first < 0:
            return 0
        chunk = lines[first : end + 1]
        if any(not part.strip() or QUOTED.match(part) or has_value(part) for part in chunk):
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
    return bool(line.strip()) and not QUOTED.match(line) and not _SENTENCE_END.search(stripped[-40:])


def _completes(above: str, joined: str) -> bool:
    """Whether `above` holds what the attribution `joined` below it still lacks (a date, an address)."""
    has_address, has_date, _, _ = _evidence(joined)
    above_address, above_date, above_time, _ = _evidence(above)
    return bool(
        (above_date and not has_date)
        or (above_address and not has_address)
        or (above_time and not has_date and not _TIME.search(joined))
    )


def next_content(lines: list[str], i: int) -> int | None:
    while i < len(lines):
        if lines[i].strip():
            return i
        i += 1
    return None


def history_header(lines: list[str], i: int) -> tuple[int, bool]:
    """A reply header beginning at `lines[i]`: (lines it spans, whether a quote follows it); (0, False)
    when there is none."""
    line = lines[i]
    if not line.strip() or QUOTED.match(line):
        return 0, False
    if SEPARATOR.match(line):
        return 1, False
    end = _any_header_block(lines, i)
    if end:
        return end - i, False
    for span in (1, 2, 3):
        last = i + span - 1
        if last >= len(lines) or not lines[last].strip() or QUOTED.match(lines[last]):
            break
        following = next_content(lines, last + 1)
        quote_follows = following is not None and bool(_QUOTE_LIKE.match(lines[following]))
        tail = lines[last].rstrip().rstrip("*_ ")
        ending = tail.endswith((":", "：", "-")) or bool(_WROTE.search(tail[-20:]))
        if (ending or quote_follows) and attribution_span(lines, last, quote_follows) == span:
            return span, quote_follows
    return 0, False
