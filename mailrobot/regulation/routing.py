"""Where a new case goes: routing rules in config order, first match wins, and who in the group gets it.

Each rule is a list of conditions (keywords, subject/body regex, sender, recipient, language); every
condition a rule gives must hold.  The rule that matched, and why, is recorded on the case's timeline, and
`mailrobot routes test FILE.eml` prints the same explanation for any mail.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailrobot.mail.addresses import without_tag
from mailrobot.regulation.staff import Group

if TYPE_CHECKING:
    from mailrobot.mail.addresses import without_tag
from mailrobot.config import RouteSettings, Settings

DEFAULT_RULE = "default"


@dataclass(frozen=True)
class Mail:
    """What routing looks at: for a forwarded-in mail, the original's."""

    subject: str
    body: str
    sender: str
    recipients: tuple[str, ...]
    language: str


def _fold(text: str) -> str:
    # Consumers write "счет" and "счёт" alike.
    return text.casefold().replace("ё", "е")


def _address_matches(address: str, patterns: tuple[str, ...]) -> str | None:
    """The pattern (an address, or "@domain" / "domain" for a whole domain) that `address` matches."""
    domain = address.lower().rpartition("@")[2]
    base = without_tag(address)
    for pattern in patterns:
        if "@" not in pattern or pattern.startswith("@"):
            if domain == pattern.lstrip("@") or domain.endswith("." + pattern.lstrip("@")):
                return pattern
        elif pattern in (address.lower(), base):
            return pattern
    return None


@dataclass(frozen=True)
class Rule:
    name: str
    group: str
    keywords: tuple[str, ...] = ()
    ask: tuple[str, ...] = ()  # specialists asked at once, in the operators' name (4.3.7)
    subject_regex: re.Pattern[str] | None = None
    body_regex: re.Pattern[str] | None = None
    senders: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "keywords", tuple(_fold(k) for k in self.keywords if k.strip()))

    @classmethod
    def from_settings(cls, route: RouteSettings) -> Rule:
        flags = re.IGNORECASE | re.MULTILINE
        return cls(
            name=route.name,
            group=route.group,
            keywords=tuple(route.keywords),
            subject_regex=re.compile(route.subject_regex, flags) if route.subject_regex else None,
            body_regex=re.compile(route.body_regex, flags) if route.body_regex else None,
            senders=tuple(s.lower() for s in route.senders),
            recipients=tuple(r.lower() for r in route.recipients),
            languages=tuple(lang.lower() for lang in route.languages),
            ask=tuple(route.ask),
        )

    def check(self, mail: Mail) -> tuple[bool, str]:
        """Whether the rule matches, and why: the conditions that held, or the first one that did not."""
        held: list[str] = []
        if self.keywords:
            subject, body = _fold(mail.subject), _fold(mail.body)
            hit = next(((k, "subject") for k in self.keywords if k in subject), None) or next(
                ((k, "body") for k in self.keywords if k in body), None
            )
            if hit is None:
                return False, f"none of the keywords {list(self.keywords)} in subject or body"
            held.append(f"keyword {hit[0]!r} in {hit[1]}")
        for regex, text, where in (
            (self.subject_regex, mail.subject, "subject"),
            (self.body_regex, mail.body, "body"),
        ):
            if regex is not None:
                found = regex.search(text)
                if not found:
                    return False, f"{where} does not match /{regex.pattern}/"
                held.append(f"{where} matches /{regex.pattern}/ ({found.group(0)[:40]!r})")
        if self.senders:
            pattern = _address_matches(mail.sender, self.senders)
            if pattern is None:
                return False, f"sender {mail.sender} is not one of {list(self.senders)}"
            held.append(f"sender {mail.sender} matches {pattern}")
        if self.recipients:
            hit_to = next(
                ((r, p) for r in mail.recipients if (p := _address_matches(r, self.recipients))), None
            )
            if hit_to is None:
                return False, f"sent to none of {list(self.recipients)}"
            held.append(f"sent to {hit_to[0]} (matches {hit_to[1]})")
        if self.languages:
            if mail.language not in self.languages:
                return False, f"language {mail.language} is not one of {list(self.languages)}"
            held.append(f"language {mail.language}")
        return True, "; ".join(held) or "no conditions: matches every mail"


@dataclass(frozen=True)
class Route:
    rule: str
    group: str | None  # None: no groups configured, nobody to forward to
    why: str
    ask: tuple[str, ...] = ()  # specialist groups or organizations asked at once, in the operators' name


@dataclass(frozen=True)
class Routing:
    rules: tuple[Rule, ...] = ()
    groups: Mapping[str, Group] | None = None
    default_group: str | None = None
    copy_head: bool = False
    reopen_days: int = 30

    @classmethod
    def from_settings(cls, settings: Settings) -> Routing:
        from mailrobot.regulation.staff import Staff

        staff = Staff.from_settings(settings)
        default = settings.routing.default_group if settings.routing.default_group in staff.groups else None
        return cls(
            rules=tuple(Rule.from_settings(r) for r in settings.routes),
            groups=staff.groups,
            default_group=default,
            copy_head=settings.routing.copy_head,
            reopen_days=settings.routing.reopen_days,
        )

    def explain(self, mail: Mail) -> list[tuple[Rule, bool, str]]:
        """Every rule with whether it matches and why, in order (all of them, for `routes test`)."""
        return [(rule, *rule.check(mail)) for rule in self.rules]

    def route(self, mail: Mail) -> Route:
        """The group a new case goes to: the first rule that matches, else the default group."""
        for rule in self.rules:
            matched, why = rule.check(mail)
            if matched:
                return Route(rule.name, rule.group, why, rule.ask)
        if self.default_group:
            return Route(DEFAULT_RULE, self.default_group, "no rule matched: routing.default_group")
        return Route(DEFAULT_RULE, None, "no groups configured: nobody to forward to")


def pick_members(
    group: Group, turn: int, open_cases: Mapping[str, int], away: frozenset[str] = frozenset()
) -> tuple[str, ...]:
    """Who in `group` gets a case: everyone; the member whose turn it is (`turn` counts the group's cases
    so far); or the member with the fewest open cases (config order breaks ties).  Members `away` get no
    new cases, unless all of them are away."""
    members = tuple(m for m in group.members if m not in away) or group.members
    if not members:
        return ()
    if group.assign == "round_robin":
        return (members[turn % len(members)],)
    if group.assign == "least_open":
        return (min(members, key=lambda m: (open_cases.get(m, 0), members.index(m))),)
    return members
