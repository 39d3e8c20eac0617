"""Parsed message + what the database knows -> one Verdict: what kind of mail this is, and why."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mailrobot.parse import Parsed
from mailrobot.rules import automatic_reason


class Kind(StrEnum):
    NEW_CASE = "new_case"
    AUTOMATIC = "automatic"  # bounce, auto-reply, list mail, our own mail: recorded, never answered
    NO_SENDER = "no_sender"  # nobody to register the case for: quarantined for a human to look at


@dataclass(frozen=True)
class Facts:
    """What the caller looked up before classifying: the decision itself stays a pure function."""

    own_addresses: frozenset[str]
    notices_to_sender_today: int = 0


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    reason: str


def classify(parsed: Parsed, facts: Facts) -> Verdict:
    """Name the kind of an incoming message; the reason is what the message row stores."""
    automatic = automatic_reason(parsed, facts.own_addresses)
    if automatic:
        return Verdict(Kind.AUTOMATIC, automatic)
    if not parsed.from_addr or "@" not in parsed.from_addr:
        return Verdict(Kind.NO_SENDER, "no usable sender address (From:)")
    return Verdict(Kind.NEW_CASE, "new consumer mail")
