"""[people], [organizations.X], [groups.X], [[routes]] and [routing]: who is who, and where cases go."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from mailrobot.config.base import Section


def _addresses(values: list[str]) -> list[str]:
    for value in values:
        if "@" not in value or any(c in value for c in " <>\r\n,;"):
            raise ValueError(f"{value!r} is not a bare e-mail address")
    return [v.lower() for v in values]


class PeopleSettings(Section):
    """The head of the contact center (escalations, extensions, digests) and the PR department (4.3.11)."""

    head: list[str] = Field(default_factory=list)
    pr: list[str] = Field(default_factory=list)
    # Who grants extensions to 14 working days (4.3.9: "by the resolution of the enterprise's head");
    # empty: people.head.
    extension_approvers: list[str] = Field(default_factory=list)
    # A person's language for staff mail, e.g. { "op2@skes.kz" = "kk" }; else their group's, else
    # robot.default_language.
    languages: dict[str, Literal["ru", "kk", "en"]] = Field(default_factory=dict)
    # Operators away (leave, sick): no new cases are assigned to them, and colleagues' answers to their
    # open cases are not held.  `#away until YYYY-MM-DD` by e-mail does the same for a time.
    away: list[str] = Field(default_factory=list)

    _check = field_validator("head", "pr", "extension_approvers", "away")(
        classmethod(lambda cls, v: _addresses(v))
    )

    @field_validator("languages")
    @classmethod
    def _language_keys(cls, value: dict[str, str]) -> dict[str, str]:
        return dict(zip(_addresses(list(value)), value.values(), strict=True))

    @property
    def approvers(self) -> list[str]:
        return self.extension_approvers or self.head


class OrganizationSettings(Section):
    """SKES itself or one of its subsidiaries (grid company, heat-network company)."""

    name: str
    names: dict[str, str] = Field(default_factory=dict)  # per language, for mail to consumers
    # The organization's mail domains: a forward from any address in them (any employee, 4.3.10) is
    # registered for the consumer it carries; shared with other checks that need "one of ours".
    domains: list[str] = Field(default_factory=list)

    @field_validator("domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        out = []
        for domain in value:
            domain = domain.strip().lower().lstrip("@")
            if not re.fullmatch(
                r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+", domain
            ):
                raise ValueError(
                    f'{domain!r} is not a mail domain: write it like "skes.kz" (no @, no address)'
                )
            out.append(domain)
        return out


class GroupSettings(Section):
    """People who receive forwarded cases: operators, or specialists of one organization."""

    organization: str
    role: Literal["operator", "specialist"] = "operator"
    members: list[str]
    assign: Literal["everyone", "round_robin", "least_open"] = "everyone"
    language: Literal["ru", "kk", "en"] | None = None  # of the staff mail its members get

    _check = field_validator("members")(classmethod(lambda cls, v: _addresses(v)))


class RouteSettings(Section):
    """One routing rule: every condition given must match; the first rule that matches wins."""

    name: str
    group: str  # an operator group: operators answer and consolidate (4.3.6)
    # Specialists asked at once, in the operators' name (organization keys or specialist groups, 4.3.7).
    ask: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)  # any of them, case-insensitive, subject or body
    subject_regex: str | None = None
    body_regex: str | None = None
    senders: list[str] = Field(default_factory=list)  # addresses or @domain
    recipients: list[str] = Field(default_factory=list)  # the address the mail came to
    languages: list[str] = Field(default_factory=list)

    _check = field_validator("subject_regex", "body_regex")(classmethod(lambda cls, v: _regex(v)))


def _regex(value: str | None) -> str | None:
    """A regex that compiles: a typo in a routing rule is an error at start, not a silent non-match."""
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
    return value


class RoutingSettings(Section):
    default_group: str = "operators"
    copy_head: bool = False
    # A consumer's follow-up to a case closed more than this many days ago opens a new, linked case.
    reopen_days: int = Field(default=30, ge=0)
    # Commands run from one staff mail; the rest are refused in the same confirmation (a flood of #ask or
    # #note lines must not become a flood of mail).
    max_commands_per_mail: int = Field(default=10, ge=1)
    # Past this many new cases from one sender in an hour, the cases are registered and routed without a
    # forward each: the operators get one summary per sender per hour instead.  0: no cap.
    forwards_per_sender_per_hour: int = Field(default=20, ge=0)
    # Web-form mail: sent by these addresses, the consumer's address is in Reply-To or a body field.
    webform_senders: list[str] = Field(default_factory=list)
    webform_email_field: str = r"(?im)^\s*(?:e-?mail|email|эл\.?\s*почта|электронная почта)\s*:\s*(\S+@\S+)"

    _check = field_validator("webform_email_field")(classmethod(lambda cls, v: _regex(v)))
