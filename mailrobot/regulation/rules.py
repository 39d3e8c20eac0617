"""Named yes/no checks about a `Parsed` message, in the manner of GNU Mailman's rules.

Each rule has a `name`, a `description` and `check(parsed) -> str | None`; the string it returns is the reason
that gets stored ("auto-reply: Auto-Submitted: auto-replied").  `automatic_reason` runs the rules for mail
that must never be answered, in order; the first match wins.
"""

from __future__ import annotations

import re
from typing import Protocol

from mailrobot.mail.addresses import without_tag
from mailrobot.mail.parse import Parsed
from mailrobot.mail.text import header_safe


class Rule(Protocol):
    name: str
    description: str

    def check(self, parsed: Parsed) -> str | None: ...


def _because(rule: Rule, detail: str) -> str:
    return f"{rule.name}: {header_safe(detail, 160)}"


_address_key = without_tag  # own mail is recognised whatever sub-address it was sent from


_ADDRESS_IN_TEXT = re.compile(r"[^\s<>,;\"']+@[^\s<>,;\"']+")


class OwnMail:
    name = "own-mail"
    description = "our own mail come back: it carries X-Mailrobot, an X-Loop naming us, or our From address"

    def __init__(self, own_addresses: frozenset[str]) -> None:
        self.own = frozenset(_address_key(a) for a in own_addresses if "@" in a)

    def check(self, parsed: Parsed) -> str | None:
        marker = parsed.headers.get("x-mailrobot")
        if marker is not None:
            return _because(self, f"X-Mailrobot: {marker}")
        loop = parsed.headers.get("x-loop", "")
        if any(_address_key(address) in self.own for address in _ADDRESS_IN_TEXT.findall(loop)):
            return _because(self, f"X-Loop: {loop}")
        if parsed.from_addr and _address_key(parsed.from_addr) in self.own:
            return _because(self, f"From: {parsed.from_addr} is our own address")
        return None


class Complaint:
    name = "complaint"
    description = "a feedback-loop spam complaint (ARF, RFC 5965): multipart/report of a feedback-report"

    def check(self, parsed: Parsed) -> str | None:
        if parsed.report_type == "feedback-report":
            return _because(self, "multipart/report; report-type=feedback-report")
        if "message/feedback-report" in parsed.part_types:
            return _because(self, "message/feedback-report part")
        return None


class ReadReceipt:
    name = "read-receipt"
    description = "a read receipt (MDN, RFC 8098): multipart/report of a disposition-notification"

    def check(self, parsed: Parsed) -> str | None:
        if parsed.report_type == "disposition-notification":
            return _because(self, "multipart/report; report-type=disposition-notification")
        for part in ("message/disposition-notification", "message/global-disposition-notification"):
            if part in parsed.part_types:
                return _because(self, f"{part} part")
        return None


_MAILER_DAEMONS = frozenset({"mailer-daemon", "mailer_daemon", "mailerdaemon"})
_POSTMASTERS = frozenset({"postmaster", "mail-daemon", "mdaemon"})
# Subjects of delivery failures as the common MTAs word them (English, Russian, Kazakh, a few others).
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered mail|delivery status notification|delivery (?:status )?fail|returned mail"
    r"|failure notice|mail delivery failed|delivery has failed|could not be delivered|returned to sender"
    r"|delivery problem|delayed mail|non remis|unzustellbar|не доставлен|недоставлен|ошибка доставки"
    r"|не удалось доставить|возврат письма|жеткізілмеді",
    re.IGNORECASE,
)


class Bounce:
    name = "bounce"
    description = (
        "a delivery status notification: report-type delivery-status, a message/delivery-status part, "
        "X-Failed-Recipients, a MAILER-DAEMON sender, or a postmaster sender with a bounce subject"
    )

    def check(self, parsed: Parsed) -> str | None:
        if parsed.report_type == "delivery-status":
            return _because(self, "multipart/report; report-type=delivery-status" + self._status(parsed))
        for part in ("message/delivery-status", "message/global-delivery-status"):
            if part in parsed.part_types:
                return _because(self, f"{part} part" + self._status(parsed))
        failed = parsed.headers.get("x-failed-recipients")
        if failed:
            return _because(self, f"X-Failed-Recipients: {failed}")
        local = parsed.from_addr.rpartition("@")[0]
        if local in _MAILER_DAEMONS:
            return _because(self, f"From: {parsed.from_addr}")
        # A postmaster address is also a person's role mailbox: only a bounce subject makes it a bounce.
        if local in _POSTMASTERS and _BOUNCE_SUBJECT.search(parsed.subject):
            return _because(self, f"From: {parsed.from_addr}, Subject: {parsed.subject}")
        return None

    @staticmethod
    def _status(parsed: Parsed) -> str:
        fields = dict(
            line.split(":", 1) for line in (parsed.delivery_status or "").splitlines() if ":" in line
        )
        found = [f"{k.strip()}: {v.strip()}" for k, v in fields.items() if k.strip().lower() in _DSN_SHOWN]
        return f" ({', '.join(found)})" if found else ""


_DSN_SHOWN = ("action", "status")
_AUTO_RESPONSE_SUPPRESS = frozenset({"all", "oof", "autoreply"})
_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk", "auto_reply", "auto-reply"})
_NO = frozenset({"", "no", "false", "0"})


class AutoReply:
    name = "auto-reply"
    description = (
        "an automatic reply or automatically generated mail: Auto-Submitted other than no (RFC 3834), "
        "X-Autoreply, X-Autorespond, X-AutoGenerated, X-Auto-Response-Suppress All/OOF/AutoReply, "
        "Precedence bulk/list/junk/auto_reply"
    )

    def check(self, parsed: Parsed) -> str | None:
        headers = parsed.headers
        auto_submitted = headers.get("auto-submitted")
        if auto_submitted is not None and auto_submitted.split(";")[0].strip().lower() != "no":
            return _because(self, f"Auto-Submitted: {auto_submitted}")
        for name, shown in (
            ("x-autoreply", "X-Autoreply"),
            ("x-autorespond", "X-Autorespond"),
            ("x-autogenerated", "X-AutoGenerated"),
        ):
            value = headers.get(name)
            if value is not None and value.strip().lower() not in _NO:
                return _because(self, f"{shown}: {value}")
        suppress = headers.get("x-auto-response-suppress", "")
        if _AUTO_RESPONSE_SUPPRESS & {v.lower() for v in re.split(r"[\s,;]+", suppress)}:
            return _because(self, f"X-Auto-Response-Suppress: {suppress}")
        for name, shown in (("precedence", "Precedence"), ("x-precedence", "X-Precedence")):
            value = headers.get(name, "")
            if value.strip().lower() in _BULK_PRECEDENCE:
                return _because(self, f"{shown}: {value}")
        return None


_LIST_HEADERS = (("list-id", "List-Id"), ("list-unsubscribe", "List-Unsubscribe"), ("list-post", "List-Post"))


class MailingList:
    name = "mailing-list"
    description = "mail from a mailing list or a newsletter: List-Id, List-Unsubscribe or List-Post"

    def check(self, parsed: Parsed) -> str | None:
        for name, shown in _LIST_HEADERS:
            value = parsed.headers.get(name)
            if value is not None:
                return _because(self, f"{shown}: {value}")
        return None


class NullSender:
    name = "null-sender"
    description = (
        "the envelope sender is <>: only delivery reports, read receipts and auto-replies are sent so "
        "(RFC 5321 4.5.5, RFC 3834 3.3); checked after them so the more telling reason wins"
    )

    def check(self, parsed: Parsed) -> str | None:
        if parsed.return_path == "":
            return _because(self, "Return-Path: <>")
        return None


class NoSender:
    name = "no-sender"
    description = "no usable From address: nobody to register a case for or to answer"

    def check(self, parsed: Parsed) -> str | None:
        if not parsed.from_addr or "@" not in parsed.from_addr:
            return _because(self, "no usable From address")
        return None


COMPLAINT = Complaint()
READ_RECEIPT = ReadReceipt()
BOUNCE = Bounce()
AUTO_REPLY = AutoReply()
MAILING_LIST = MailingList()
NULL_SENDER = NullSender()
NO_SENDER = NoSender()


def automatic_rules(own_addresses: frozenset[str]) -> tuple[Rule, ...]:
    """The rules for mail that must never be answered, in the order they are asked: explicit report
    types before the header heuristics, so the most specific reason is the one stored.  NO_SENDER is not
    among them: a mail without a sender and without any automatic marker goes to a human (classify)."""
    return (OwnMail(own_addresses), COMPLAINT, READ_RECEIPT, BOUNCE, AUTO_REPLY, MAILING_LIST, NULL_SENDER)


def automatic_reason(parsed: Parsed, own_addresses: frozenset[str] = frozenset()) -> str | None:
    """Why this message is automatic mail that must not be answered ("bounce: ...", "auto-reply: ..."),
    or None when it looks like a person wrote it.  The first matching rule wins."""
    for rule in automatic_rules(own_addresses):
        reason = rule.check(parsed)
        if reason:
            return reason
    return None
