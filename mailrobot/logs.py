"""Logging: one line per event, readable in journald; JSON lines when asked."""

from __future__ import annotations

import json
import logging
import re
import sys


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {"level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


# The signature of a reply address `feedback+<case>.<sig>@…` or of a Message-ID
# `<mr.<case>.<kind>.<nonce>.<sig>@…>` (mail.tokens makes both; this module sits below it, so the shape is
# written here again).
_TOKEN_IN_TEXT = re.compile(
    r"(?P<keep>\+[A-Za-z0-9][A-Za-z0-9/-]*[A-Za-z0-9]\.|\bmr\.[A-Za-z0-9/-]+\.[a-z_]+\.[a-z0-9]+\.)"
    r"[a-z2-7]{4,}(?=@)",
    re.IGNORECASE,
)


def redact_tokens(text: str) -> str:
    """`text` with the signatures of our reply addresses and Message-IDs replaced by "…": what logs may
    carry (a token lets whoever holds it speak for a case)."""
    return _TOKEN_IN_TEXT.sub(lambda m: m["keep"] + "…", text)


class RedactTokens(logging.Filter):
    """No reply-address token or signed Message-ID reaches a log, at any level: a token lets whoever holds
    it speak for a case (the reasons of refused mail quote the addresses they came to)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_tokens(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_tokens(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact_tokens(record.exc_text)
        return True


def setup_logging(level: str = "INFO", json_format: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactTokens())
    if json_format:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # mail-parser logs a warning per report part, and errors that quote raw headers (personal data):
    # what matters of it reaches us as defects on the parsed message anyway.
    logging.getLogger("mailparser").setLevel(logging.CRITICAL)
    # imapclient logs the IMAP conversation at DEBUG, fetched mail included: raw mail (personal data) never
    # goes to a log, whatever the level; we log sizes and ids.
    logging.getLogger("imapclient").setLevel(max(logging.INFO, logging.getLevelName(level)))
