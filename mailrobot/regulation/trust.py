"""Which case an incoming mail speaks for, and how sure we are (DESIGN.md, "Trust").

A signed token proves the mail answers one of ours: our reply address `feedback+<case>.<token>@…` in
To/Cc/Delivered-To, or one of our signed Message-IDs in In-Reply-To/References.  It does not prove who
sent it: classify still checks that the sender is a participant of that case.  A bracketed case number
in the subject is only a hint, good enough for a consumer writing about their own case, never for staff.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailrobot.mail.parse import Parsed
from mailrobot.mail.tokens import (
    Secrets,
    find_case_numbers,
    is_bounce_address,
    read_message_id,
    read_reply_address,
)

# More of our reply addresses than any real reply carries (a reply-all to a forward and an ask holds two or
# three): a mail listing more is guessing tokens, and is refused whatever it holds.
MAX_REPLY_ADDRESSES = 3
# Mail we send to consumers: a token from one of these never makes its sender staff.
CONSUMER_MAIL_KINDS = frozenset({"notice", "answer", "extension"})
_OUR_MESSAGE_ID = re.compile(r"^<?mr\.[^@]+@(?P<domain>[^>]+)>?$")


@dataclass(frozen=True)
class CaseReference:
    number: str
    via: str  # for the timeline: "reply address feedback+…", "Message-ID <…> (forward)", "subject tag"
    signed: bool
    staff_token: bool  # carried by mail the robot sends to staff only (reply address, forward, …)
    replied_to: str | None = None  # the kind of our mail that In-Reply-To names ("forward", "extreq", …)


@dataclass(frozen=True)
class References:
    found: CaseReference | None
    forged: str | None  # a token that looks like ours and does not verify (altered, or an old secret)
    flood: str | None = None  # more of our reply addresses than a reply carries: a guessing attempt


def find_reference(
    parsed: Parsed, secret: Secrets, own_address: str, case_pattern: re.Pattern[str]
) -> References:
    """The case the mail names: signed reply address first, then signed Message-IDs (the newest reference
    first), then the subject tag.  `secret`: the signing key, then the previous ones (robot.previous_secrets).
    The number comes in the letter case the mail carried: the case is looked up ignoring it."""
    own_local, _, own_domain = own_address.lower().partition("@")
    ours = _our_sub_addresses(parsed, own_local, own_domain)
    if len(ours) > MAX_REPLY_ADDRESSES:
        return References(None, None, f"{len(ours)} of our reply addresses among the recipients")
    forged = None
    parent = next((r for m in parsed.in_reply_to if (r := read_message_id(secret, m))), None)
    replied_to = parent.kind if parent else None
    for address in (*parsed.to, *parsed.cc, *parsed.delivered_to):
        number = read_reply_address(secret, address)
        if number:
            found = CaseReference(number, f"reply address {address}", True, True, replied_to)
            return References(found, None)
        if address.lower() in ours:
            forged = forged or f"reply address {address}"
    for message_id in (*parsed.in_reply_to, *reversed(parsed.references)):
        ref = read_message_id(secret, message_id)
        if ref is not None:
            staff = ref.kind not in CONSUMER_MAIL_KINDS
            via = f"Message-ID <{message_id}> ({ref.kind})"
            found = CaseReference(ref.case_number, via, True, staff, replied_to)
            return References(found, None)
        our_id = _OUR_MESSAGE_ID.match(message_id)
        if our_id and our_id["domain"].lower() == own_domain:
            forged = forged or f"Message-ID <{message_id}>"
    numbers = find_case_numbers(parsed.subject, case_pattern)
    if numbers:
        return References(CaseReference(numbers[0], f"subject tag [{numbers[0]}]", False, False), forged)
    return References(None, forged)


def _our_sub_addresses(parsed: Parsed, own_local: str, own_domain: str) -> set[str]:
    """Our `feedback+…@domain` addresses among the mail's recipients, lower-cased, each once."""
    found = set()
    for address in (*parsed.to, *parsed.cc, *parsed.delivered_to):
        local, _, domain = address.lower().partition("@")
        # The VERP envelope sender (feedback+b.…) is ours too, but names a mail, not a case: bounces only.
        if domain == own_domain and local.startswith(own_local + "+") and not is_bounce_address(address):
            found.add(address.lower())
    return found
