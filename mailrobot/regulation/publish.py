"""The head publishes the monthly report (regulation 4.3.11: "the head sends the PR department ..."), pure.

The report goes to the head alone, from a signed reply address of its own (`feedback+report-2026-10.<token>`);
the head's reply whose first line is `#publish` sends it to people.pr.  The FAQ draft travels twice: as an
attachment and as text between two marker lines in the mail.  What goes to PR: a file the head attached
(edited), else the text between the markers as the head's reply has it (edited or not), else the original.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailrobot.mail.parse import Attachment, is_kept

FAQ_BEGIN = "=====FAQ BEGIN====="
FAQ_END = "=====FAQ END====="
# Opens the head's part of the report mail (how to publish, the FAQ text): PR gets the text above it.
PUBLISH_NOTE = "----- #publish -----"
_THREAD = re.compile(r"^report-(\d{4}-\d{2})$", re.IGNORECASE)
_QUOTE = re.compile(r"^(?:[ \t]*>)+[ \t]?")


def report_thread(period: str) -> str:
    """What the report mail's Message-ID and reply address name: "report-2026-10"."""
    return f"report-{period}"


def report_period(thread: str) -> str | None:
    """ "report-2026-10" -> "2026-10"; None for anything else (a case number)."""
    match = _THREAD.match(thread)
    return match.group(1) if match else None


@dataclass(frozen=True)
class PublishReport:
    """Send the month's report to people.pr, with the FAQ draft the head chose."""

    period: str
    by: str
    faq_file: Attachment | None  # the head's edited file
    faq_text: str | None  # the text between the markers in the head's reply


def faq_between_markers(text: str) -> str | None:
    """The text between the FAQ marker lines of a reply (quoted with "> " or not), None without them."""
    lines = text.replace("\r\n", "\n").split("\n")
    begin = next((i for i, line in enumerate(lines) if _QUOTE.sub("", line).strip() == FAQ_BEGIN), None)
    if begin is None:
        return None
    end = next((i for i in range(begin + 1, len(lines)) if _QUOTE.sub("", lines[i]).strip() == FAQ_END), None)
    if end is None:
        return None
    inner = [_QUOTE.sub("", line) for line in lines[begin + 1 : end]]
    found = "\n".join(inner).strip()
    return found or None


def edited_faq_file(attachments: tuple[Attachment, ...]) -> Attachment | None:
    """The FAQ file the head attached to the reply: one named faq*, else the only text or HTML file."""
    usable = [a for a in attachments if is_kept(a)]  # a big file is Streamed: kept, data None
    named = [a for a in usable if a.filename.lower().startswith("faq")]
    if named:
        return named[0]
    texts = [
        a for a in usable if a.content_type in ("text/html", "text/plain") or a.filename.endswith(".docx")
    ]
    return texts[0] if len(texts) == 1 else None
