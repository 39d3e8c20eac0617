"""TOML -> validated settings.  Errors name the key and the fix.

The sections live in the modules of this package; everything is importable from `mailrobot.config`.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator

from mailrobot.config.base import ConfigError, Section, read_secret
from mailrobot.config.operation import (
    JobsSettings,
    LoggingSettings,
    MetricsSettings,
    RetentionSettings,
    SpamSettings,
)
from mailrobot.config.people import (
    GroupSettings,
    OrganizationSettings,
    PeopleSettings,
    RouteSettings,
    RoutingSettings,
)
from mailrobot.config.robot import (
    PUBLIC_MAIL_DOMAINS,
    CalendarSettings,
    RobotSettings,
)
from mailrobot.config.servers import (
    DatabaseSettings,
    ImapSettings,
    M365Settings,
    SmtpSettings,
)

DEFAULT_CONFIG_PATH = "/etc/mailrobot/config.toml"
CONFIG_ENV = "MAILROBOT_CONFIG"


class Settings(Section):
    imap: ImapSettings
    smtp: SmtpSettings
    database: DatabaseSettings = DatabaseSettings()
    robot: RobotSettings
    calendar: CalendarSettings = CalendarSettings()
    logging: LoggingSettings = LoggingSettings()
    metrics: MetricsSettings = MetricsSettings()
    people: PeopleSettings = PeopleSettings()
    organizations: dict[str, OrganizationSettings] = Field(
        default_factory=lambda: {"skes": OrganizationSettings(name="ТОО «Севказэнергосбыт»")}
    )
    groups: dict[str, GroupSettings] = Field(default_factory=dict)
    routes: list[RouteSettings] = Field(default_factory=list)
    routing: RoutingSettings = RoutingSettings()
    jobs: JobsSettings = JobsSettings()
    retention: RetentionSettings = RetentionSettings()
    spam: SpamSettings = SpamSettings()

    @model_validator(mode="after")
    def _references(self) -> Settings:
        for name, group in self.groups.items():
            if group.organization not in self.organizations:
                raise ValueError(
                    f"groups.{name}.organization: {group.organization!r} is not one of [organizations.*] "
                    f"({', '.join(self.organizations)})"
                )
        for index, route in enumerate(self.routes):
            if route.group not in self.groups:
                raise ValueError(
                    f"routes[{index}] ({route.name}).group: no group {route.group!r} in [groups.*]"
                )
            _check_route(index, route, self.groups, self.organizations)
        if self.groups and self.routing.default_group not in self.groups:
            raise ValueError(f"routing.default_group: no group {self.routing.default_group!r} in [groups.*]")
        return self

    def staff_language(self, address: str) -> str:
        """The language of staff mail to `address`: people.languages, else its group's, else the default."""
        address = address.lower()
        if address in self.people.languages:
            return self.people.languages[address]
        for group in self.groups.values():
            if group.language and address in group.members:
                return group.language
        return self.robot.default_language

    @property
    def mail_domain(self) -> str:
        return self.smtp.from_address.rsplit("@", 1)[1]

    def company_name(self, language: str) -> str:
        return self.robot.company_names.get(language) or self.smtp.from_name


def _check_route(
    index: int,
    route: RouteSettings,
    groups: dict[str, GroupSettings],
    organizations: dict[str, OrganizationSettings],
) -> None:
    """A route goes to operators (4.3.6: they answer and consolidate); specialists are asked with `ask`."""
    group = groups[route.group]
    if group.role != "operator":
        operators = ", ".join(n for n, g in groups.items() if g.role == "operator") or "none yet"
        raise ValueError(
            f"routes.{index}: group '{route.group}' is a specialist group; write "
            f"group = '<an operator group>' and ask = ['{route.group}'] (operator groups: {operators})"
        )
    for target in route.ask:
        asked = groups.get(target)
        if asked is not None and asked.role == "specialist":
            continue
        has_specialists = any(g.organization == target and g.role == "specialist" for g in groups.values())
        if target in organizations and has_specialists:
            continue
        specialists = ", ".join(repr(n) for n, g in groups.items() if g.role == "specialist")
        raise ValueError(
            f"routes.{index}.ask: {target!r} is neither a specialist group nor an organization with one; "
            f"write one of: {specialists or 'none yet (add a [groups.X] with role = specialist)'}"
        )


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    kind = error["type"]
    if kind == "missing":
        return f"{key}: required key is missing; add it to the config (see config.example.toml)"
    if kind == "extra_forbidden":
        return f"{key}: unknown key; check its spelling against config.example.toml"
    message = error["msg"].removeprefix("Value error, ")
    return f"{key}: {message} (got {error.get('input')!r})" if kind != "value_error" else f"{key}: {message}"


def parse_settings(data: dict[str, Any], source: str = "config") -> Settings:
    """Validate a parsed TOML document; raise ConfigError listing every bad key."""
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        lines = [_describe(err) for err in exc.errors()]
        raise ConfigError(f"{source} is invalid:\n  " + "\n  ".join(lines)) from None


def config_path(explicit: str | None) -> Path:
    return Path(explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)


def load_settings(path: str | Path) -> Settings:
    """Read and validate the TOML file at `path`."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} does not exist: copy config.example.toml there, "
            f"or pass --config PATH / set {CONFIG_ENV}"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    return parse_settings(data, str(path))


__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_PATH",
    "PUBLIC_MAIL_DOMAINS",
    "CalendarSettings",
    "ConfigError",
    "DatabaseSettings",
    "GroupSettings",
    "ImapSettings",
    "JobsSettings",
    "LoggingSettings",
    "M365Settings",
    "MetricsSettings",
    "OrganizationSettings",
    "PeopleSettings",
    "RetentionSettings",
    "RobotSettings",
    "RouteSettings",
    "RoutingSettings",
    "Section",
    "Settings",
    "SmtpSettings",
    "SpamSettings",
    "config_path",
    "load_settings",
    "parse_settings",
    "read_secret",
]
