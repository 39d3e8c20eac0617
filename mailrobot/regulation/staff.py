"""Who is who, from the config: the head, the operator groups, the specialists of each organization.

An immutable view built once from the settings, so classification and decisions can ask "is this address
staff, and in what role?" without a database and without the pydantic models.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailrobot.config import Settings

ROLES = ("head", "operator", "specialist")


@dataclass(frozen=True)
class Group:
    name: str
    organization: str
    role: str  # operator | specialist
    members: tuple[str, ...]
    assign: str  # everyone | round_robin | least_open


@dataclass(frozen=True)
class Organization:
    key: str
    name: str
    names: Mapping[str, str] = field(default_factory=dict)
    domains: tuple[str, ...] = ()  # its mail domains ([organizations.X] domains)


@dataclass(frozen=True)
class AskTarget:
    """Whom an operator's `#ask` goes to: a specialist group, or one address."""

    organization: str | None
    group: str | None = None
    address: str | None = None

    @property
    def label(self) -> str:
        return self.address or self.group or self.organization or ""


@dataclass(frozen=True)
class Staff:
    heads: tuple[str, ...] = ()
    groups: Mapping[str, Group] = field(default_factory=dict)
    organizations: Mapping[str, Organization] = field(default_factory=dict)
    approvers: tuple[str, ...] = ()  # who grants extensions (4.3.9); empty: the heads
    languages: Mapping[str, str] = field(default_factory=dict)  # address -> language of staff mail
    default_language: str = "ru"
    away: frozenset[str] = frozenset()  # operators away by the config (people.away)

    @classmethod
    def from_settings(cls, settings: Settings) -> Staff:
        groups = {
            name: Group(name, g.organization, g.role, tuple(g.members), g.assign)
            for name, g in settings.groups.items()
        }
        organizations = {
            key: Organization(key, o.name, MappingProxyType(dict(o.names)), tuple(o.domains))
            for key, o in settings.organizations.items()
        }
        languages = {m: settings.staff_language(m) for g in settings.groups.values() for m in g.members}
        languages.update(settings.people.languages)
        return cls(
            tuple(settings.people.head),
            MappingProxyType(groups),
            MappingProxyType(organizations),
            tuple(settings.people.approvers),
            MappingProxyType(languages),
            settings.robot.default_language,
            frozenset(settings.people.away),
        )

    def language_of(self, address: str) -> str:
        """The language staff mail to `address` is written in (people.languages, its group's, default)."""
        return self.languages.get(address.lower(), self.default_language)

    def may_extend(self, address: str) -> bool:
        """Whether `address` grants extensions by its own resolution (people.extension_approvers)."""
        return address.lower() in (self.approvers or self.heads)

    def operator_members(self) -> tuple[str, ...]:
        """Every operator by the config, in config order."""
        found = [m for g in self.groups.values() if g.role == "operator" for m in g.members]
        return tuple(dict.fromkeys(found))

    def role_of(self, address: str) -> str | None:
        """The address's role by the config: head first (an extension approver acts as one), then operator,
        then specialist; None: not staff."""
        address = address.lower()
        if address in self.heads or address in self.approvers:
            return "head"
        for role in ("operator", "specialist"):
            if any(address in g.members for g in self.groups.values() if g.role == role):
                return role
        return None

    def organization_of(self, address: str) -> str | None:
        address = address.lower()
        return next((g.organization for g in self.groups.values() if address in g.members), None)

    def is_staff(self, address: str) -> bool:
        return self.role_of(address) is not None

    @property
    def addresses(self) -> frozenset[str]:
        members = {m for g in self.groups.values() for m in g.members}
        return frozenset(self.heads) | frozenset(self.approvers) | members

    def organization_name(self, key: str | None, language: str = "ru") -> str:
        org = self.organizations.get(key or "")
        if org is None:
            return key or ""
        return org.names.get(language) or org.name

    def resolve_person(self, text: str) -> str | None:
        """A staff member named in `#assign PERSON`: a full address, or the part before '@' when only one
        staff member has it."""
        wanted = text.strip().strip("<>").lower()
        if not wanted:
            return None
        if "@" in wanted:
            return wanted if wanted in self.addresses else None
        matches = sorted(a for a in self.addresses if a.split("@", 1)[0] == wanted)
        return matches[0] if len(matches) == 1 else None

    def resolve_ask_target(self, text: str) -> AskTarget | None:
        """Whom `#ask TARGET …` means: an organization (its key, or a word of its name, e.g. "grid",
        "РЭК"), a group name, a configured person (address, or the part before @), or an address inside an
        organization's `domains`.  A request carries the consumer's personal data and files (4.3.7 sends
        it to the enterprises' specialists): any other address is no target (`outside` tells it apart)."""
        wanted = text.strip().strip("<>").lower()
        if not wanted:
            return None
        if "@" in wanted:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", wanted) or self.outside(wanted):
                return None
            return AskTarget(self.organization_of(wanted) or self.domain_organization(wanted), address=wanted)
        if wanted in self.groups:
            return AskTarget(self.groups[wanted].organization, group=wanted)
        org = self._organization(wanted)
        if org is None:
            person = self.resolve_person(wanted)
            return AskTarget(self.organization_of(person), address=person) if person else None
        group = next(
            (g.name for g in self.groups.values() if g.organization == org and g.role == "specialist"), None
        )
        return AskTarget(org, group=group) if group else None

    @property
    def domains(self) -> tuple[str, ...]:
        """Every organization's mail domains."""
        return tuple(d for org in self.organizations.values() for d in org.domains)

    def domain_organization(self, address: str) -> str | None:
        """The organization whose `domains` hold `address` (a subdomain counts), None for any other."""
        domain = address.rpartition("@")[2].lower()
        for key, org in self.organizations.items():
            if any(domain == d or domain.endswith("." + d) for d in org.domains):
                return key
        return None

    def outside(self, address: str) -> bool:
        """Whether `address` is neither a configured person nor inside an organization's domains."""
        return address.lower() not in self.addresses and self.domain_organization(address) is None

    def _organization(self, wanted: str) -> str | None:
        if wanted in self.organizations:
            return wanted
        found = []
        for key, org in self.organizations.items():
            names = [org.name, *org.names.values()]
            words = {w for n in names for w in re.findall(r"[\w-]+", n.lower())}
            if wanted in words or any(wanted == n.lower() for n in names):
                found.append(key)
        # "ТОО" or "АО" name several organizations: only a word that names one of them counts.
        return found[0] if len(found) == 1 else None
