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

from mailrobot.mail.reply_headers import (
    QUOTED,
    RULE_LINE,
    SEPARATOR,
    SHORT_DASHED,
    attribution_span,
    dated_or_addressed,
    field_lines,
    has_value,
    history_header,
    next_content,
)

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
        if not _unquoted(last).strip() or RULE_LINE.match(_unquoted(last)) or SEPARATOR.match(last):
            lines.pop()
            continue
        if header_gone:
            break
        header_gone = True
        begin = _header_block_ending_at(lines)
        if begin is None:
            span = attribution_span(lines, len(lines) - 1, quote_follows=True)
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
    short = len(line) <= 100 and not QUOTED.match(line)
    return short and line.endswith((":", "：")) and not has_value(line)


def _header_block_ending_at(lines: list[str]) -> int | None:
    """Where the header block that ends with `lines` begins (any language: three `Field: value` lines, or
    two with an address or a date), or None."""
    start = len(lines) - 1
    while start > 0 and start > len(lines) - 16 and lines[start - 1].strip():
        start -= 1
    for begin in range(start, len(lines)):
        fields, end, count = field_lines(lines, begin)
        proof = dated_or_addressed(" ".join(fields.values()))
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
        if not QUOTED.match(line):
            return above
        end, previous = i + 1, line
        while end < len(lines):
            current = lines[end]
            if _rewrapped(previous, current, lines[end + 1 : end + 2]):
                current = "> " + current
            elif current.strip() and not QUOTED.match(current):
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
        if QUOTED.match(line) or (piped and line.strip()):
            kept.append(None)
            i += 1
            continue
        if line.strip() and i > 0 and _rewrapped(lines[i - 1], line, lines[i + 1 : i + 2]):
            kept.append(None)
            lines[i] = "> " + line  # so that a second re-wrapped line below is seen as one too
            i += 1
            continue
        span, quote_follows = history_header(lines, i)
        if span and quote_follows:
            kept.append(None)
            i += span  # the header of an inline-answered quote: drop it, keep answering text below
            following = next_content(lines, i)
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
    if not QUOTED.match(above) or QUOTED.match(line) or not line.strip():
        return False
    quoted = _unquoted(above).strip()
    first_word = line.split()[0]
    if len(above.rstrip()) < 50 or len(above.rstrip()) + 1 + len(first_word) <= 66:
        return False
    if len(quoted) < 30 or quoted.endswith((".", "!", "?", "…")):
        return False
    continues = first_word[:1].islower() or first_word[:1].isdigit() or first_word[:1] in ",;)»\"'-–"
    short_in_quote = len(line.strip()) <= 30 and bool(below) and bool(QUOTED.match(below[0]))
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
    while out and (not out[-1].strip() or RULE_LINE.match(out[-1]) or SHORT_DASHED.match(out[-1])):
        out.pop()
    while out and not out[0].strip():
        out.pop(0)
    return "\n".join(out)
