"""Verdict + parsed message + policy -> the effects to apply.  Pure: this is where the regulation lives."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailrobot.classify import Facts, Kind, Verdict
from mailrobot.language import detect_language
from mailrobot.parse import Parsed

# Strict on purpose: a requester address goes into an outgoing To: header.
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
BODY_LIMIT = 100_000


@dataclass(frozen=True)
class Policy:
    default_language: str = "ru"
    notices_per_sender_per_day: int = 5


@dataclass(frozen=True)
class RecordMessage:
    status: str  # case | ignored | quarantined
    reason: str


@dataclass(frozen=True)
class RegisterCase:
    requester: str
    requester_name: str
    subject: str
    body: str
    language: str
    channel: str = "email"


@dataclass(frozen=True)
class QueueNotice:
    """The registration notice (regulation 4.3.3) to the requester of the case just registered."""


@dataclass(frozen=True)
class SkipNotice:
    reason: str


Effect = RecordMessage | RegisterCase | QueueNotice | SkipNotice


def is_mailable(address: str) -> bool:
    return bool(_ADDRESS.match(address)) and len(address) <= 254


def decide(verdict: Verdict, parsed: Parsed, facts: Facts, policy: Policy) -> list[Effect]:
    """The effects of one incoming message."""
    if verdict.kind is Kind.AUTOMATIC:
        return [RecordMessage("ignored", verdict.reason)]
    if verdict.kind is Kind.NO_SENDER:
        return [RecordMessage("quarantined", verdict.reason)]
    language = detect_language(f"{parsed.subject}\n{parsed.text}", policy.default_language)
    effects: list[Effect] = [
        RecordMessage("case", verdict.reason),
        RegisterCase(
            requester=parsed.from_addr,
            requester_name=parsed.from_name,
            subject=parsed.subject,
            body=parsed.text[:BODY_LIMIT],
            language=language,
        ),
    ]
    effects.append(_notice_or_skip(parsed.from_addr, facts, policy))
    return effects


def _notice_or_skip(requester: str, facts: Facts, policy: Policy) -> QueueNotice | SkipNotice:
    if not is_mailable(requester):
        return SkipNotice(f"requester address {requester!r} cannot be mailed")
    if facts.notices_to_sender_today >= policy.notices_per_sender_per_day:
        return SkipNotice(
            f"notice cap reached: {facts.notices_to_sender_today} notices to this sender in 24 h "
            f"(robot.notices_per_sender_per_day = {policy.notices_per_sender_per_day})"
        )
    return QueueNotice()
