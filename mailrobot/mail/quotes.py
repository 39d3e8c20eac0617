"""A reply's own words: quoted history, reply headers and signatures taken away.

No library knows Russian and Kazakh reply headers, so the patterns live here, each named after the client
that writes it.  The rules, in the order they are applied to each line of a reply:

1. A reply header ("On … wrote:", "… пишет:", "… <addr>:" after a date, Outlook's From/Sent/To/Subject block,
   "-----Original Message-----") that is followed by `>`-quoted lines only introduces that quote: the header
   line goes, the quoted lines go, and what the author wrote between quotes stays (inline answers).
2. Any other reply header starts the history: everything from it to the end goes (Outlook and Gmail put
   the previous mail under a header without quoting it).
3. `>`-quoted lines go (HTML blockquotes arrive here already as "> " lines, see text.html_to_text).
4. Signatures go: from a "-- " delimiter, or a client's "Sent from my iPhone" line at the end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# -- header fields, as the clients localise them ---------------------------------------------------------

FROM_FIELDS = ("from", "от", "от кого", "кімнен", "жіберуші", "von", "de")
DATE_FIELDS = ("sent", "date", "отправлено", "дата", "жіберілді", "жіберілген", "күні", "gesendet")
TO_FIELDS = ("to", "кому", "кімге", "алушы", "an")
CC_FIELDS = ("cc", "копия", "көшірме")
SUBJECT_FIELDS = ("subject", "тема", "тақырып", "тақырыбы", "betreff")
_ALL_FIELDS = FROM_FIELDS + DATE_FIELDS + TO_FIELDS + CC_FIELDS + SUBJECT_FIELDS + ("reply-to", "importance")

# "*From:* x" is Outlook's bold in a plain-text reply; Thunderbird puts a tab after the colon.
_FIELD = re.compile(
    r"^\s*\*?\s*(?P<name>"
    + "|".join(sorted((re.escape(f) for f in _ALL_FIELDS), key=len, reverse=True))
    + r")\s*:\s*\*?[ \t]*(?P<value>.*?)\s*$",
    re.IGNORECASE,
)

# Lines that separate the reply from the history outright.
SEPARATOR = re.compile(
    r"^\s*-{2,}\s*(?:original message|исходное сообщение|бастапқы (?:хабар|хат)\w*|forwarded message"
    r"|пересылаемое сообщение|начало пересылаемого сообщения|қайта жіберілген (?:хат|хабар)\w*)\s*-{2,}\s*$"
    r"|^\s*(?:begin forwarded message|начало переадресованного сообщения)\s*:\s*$",
    re.IGNORECASE,
)

# "On Fri, Nov 20, 2026 at 10:00 AM Name <addr> wrote:" (Gmail, Thunderbird, Apple Mail; often wrapped
# over two or three lines, so the check runs on the line joined with the next ones).
_ON_WROTE = re.compile(
    r"^\s*(?:on|le|am)\s.{3,300}?(?:wrote|a écrit|schrieb)\s*:\s*$", re.IGNORECASE | re.DOTALL
)
# "20.11.2026 10:00, Айгуль пишет:" (Thunderbird ru), "… написал(а):" (Apple Mail ru), "… жазды:" (kk).
_WRITES = re.compile(
    r"^.{1,300}?\s(?:пишет|написал\(а\)|написала|написал|жазды|жазған)\s*:\s*$", re.IGNORECASE | re.DOTALL
)
# "пт, 20 нояб. 2026 г. в 10:00, Name <addr>:" (Gmail ru), "20.11.2026, 10:00, "Name" <addr>:" (Yandex),
# "Пятница, 20 ноября 2026, 10:00 +05:00 от Name <addr>:" (Mail.ru): a time, an address, a colon.
_DATED_ADDRESS = re.compile(r"^.{0,200}?\d{1,2}:\d{2}.{0,200}?<?[^\s<>@]+@[^\s<>@]+?>?\s*:\s*$", re.DOTALL)
_TIME_OR_ADDRESS = re.compile(r"\d{1,2}:\d{2}|\d{1,2}[./]\d{1,2}[./]\d{2,4}|@")

_QUOTED = re.compile(r"^\s*>")
_RULE_LINE = re.compile(r"^\s*[-_=*—–]{3,}\s*$")
_SIGNATURE_DELIMITER = re.compile(r"^--\s*$")
# "Sent from my iPhone", "Отправлено с iPhone", "Отправлено из мобильной Почты Mail.ru", "Get Outlook for
# Android", "iPhone құрылғысынан жіберілді": a short line, no comma (a sentence that merely starts so stays).
_MOBILE_SIGNATURE = re.compile(
    r"^\s*(?:sent from (?:my |the |mail for |outlook|yahoo|yandex|samsung|gmail|windows)"
    r"|get outlook for|отправлено (?:с|со|из|через)\s|послано с\s|получить outlook для"
    r"|\S*(?:iphone|ipad|android|samsung|mail\.ru|яндекс|outlook)\S*(?:\s\S+){0,3}\s(?:жіберілді|жіберілген))"
    r"[^,]{0,60}$",
    re.IGNORECASE,
)
_LIST_FOOTER_HINT = re.compile(r"https?://|@|unsubscribe|mailing list|рассылк", re.IGNORECASE)


@dataclass(frozen=True)
class HeaderBlock:
    """Header lines of a quoted or forwarded mail, as its client wrote them ("От: …", "Subject: …")."""

    start: int
    end: int  # index after the block
    fields: dict[str, str]  # canonical name (from, date, to, cc, subject) -> value

    def get(self, name: str) -> str:
        return self.fields.get(name, "")


def _canonical(name: str) -> str:
    name = name.lower()
    for canonical, names in (
        ("from", FROM_FIELDS),
        ("date", DATE_FIELDS),
        ("to", TO_FIELDS),
        ("cc", CC_FIELDS),
        ("subject", SUBJECT_FIELDS),
    ):
        if name in names:
            return canonical
    return name


def header_block(lines: list[str], start: int, min_fields: int = 3) -> HeaderBlock | None:
    """The header block that begins at `lines[start]`, when there is one with a From field and at least
    `min_fields` fields in all (Outlook: From/Sent/To/Subject; Thunderbird: Subject/Date/From/To)."""
    fields: dict[str, str] = {}
    i = start
    last = ""
    while i < len(lines) and i - start < 12:
        match = _FIELD.match(lines[i])
        if match:
            last = _canonical(match["name"])
            fields.setdefault(last, match["value"].strip("* \t"))
        elif last and lines[i][:1] in (" ", "\t") and lines[i].strip():
            fields[last] = f"{fields[last]} {lines[i].strip()}"  # a folded To: or Subject: line
        else:
            break
        i += 1
    if "from" not in fields or len(fields) < min_fields:
        return None
    return HeaderBlock(start, i, fields)


def reply_header_length(lines: list[str], i: int) -> int:
    """How many lines the reply header at `lines[i]` spans (0: none there)."""
    line = lines[i]
    if not line.strip() or _QUOTED.match(line):
        return 0
    if SEPARATOR.match(line):
        return 1
    block = header_block(lines, i)
    if block is not None:
        return block.end - i
    for span in (1, 2, 3):
        if i + span > len(lines):
            break
        chunk = lines[i : i + span]
        if span > 1 and any(not part.strip() or _QUOTED.match(part) for part in chunk):
            break
        joined = " ".join(part.strip() for part in chunk)
        if len(joined) > 400:
            break
        if _ON_WROTE.match(joined):
            return span
        # A wrapped Russian header starts with its date: "Hi," above "On … wrote:" is not part of it.
        if span > 1 and not re.search(r"\d", chunk[0]):
            continue
        if _DATED_ADDRESS.match(joined) or (_WRITES.match(joined) and _TIME_OR_ADDRESS.search(joined)):
            return span
    return 0


def _next_content(lines: list[str], i: int) -> str | None:
    while i < len(lines):
        if lines[i].strip():
            return lines[i]
        i += 1
    return None


def strip_reply(text: str) -> str:
    """The author's own words in a reply: without the quoted history, reply headers and signature."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    i = 0
    while i < len(lines):
        span = reply_header_length(lines, i)
        if span:
            following = _next_content(lines, i + span)
            if following is not None and _QUOTED.match(following) and not SEPARATOR.match(lines[i]):
                i += span  # the header of an inline-answered quote: drop it, keep answering text below
                continue
            break  # unquoted history from here on
        if not _QUOTED.match(lines[i]):
            kept.append(lines[i].rstrip())
        i += 1
    kept = _without_signature(kept)
    return _tidy(kept)


def _without_signature(lines: list[str]) -> list[str]:
    content = [i for i, line in enumerate(lines) if line.strip()]
    if not content:
        return []
    for i in content:
        if _SIGNATURE_DELIMITER.match(lines[i]) and sum(1 for j in content if j > i) <= 15:
            lines = lines[:i]
            break
    content = [i for i, line in enumerate(lines) if line.strip()]
    if content and _MOBILE_SIGNATURE.match(lines[content[-1]]):
        lines = lines[: content[-1]]
    # A mailing-list footer: a rule of underscores and a few lines with a link or an address.
    content = [i for i, line in enumerate(lines) if line.strip()]
    for i in content:
        tail = [lines[j] for j in content if j > i]
        rule = re.match(r"^\s*_{20,}\s*$", lines[i])
        if rule and 0 < len(tail) <= 4 and any(_LIST_FOOTER_HINT.search(t) for t in tail):
            lines = lines[:i]
            break
    return lines


def _tidy(lines: list[str]) -> str:
    # Rules left hanging above a cut ("________" or "-----" before Outlook's header block) are noise.
    while lines and (not lines[-1].strip() or _RULE_LINE.match(lines[-1])):
        lines.pop()
    text = "\n".join(lines).strip("\n")
    return re.sub(r"\n{3,}", "\n\n", text).strip()
