"""[robot] and [calendar]: the robot's own identity, limits and working days."""

from __future__ import annotations

from datetime import date, time
from typing import Literal

from pydantic import Field, field_validator, model_validator

from mailrobot.config.base import Section, read_secret

PUBLIC_MAIL_DOMAINS = (
    "mail.ru",
    "inbox.ru",
    "bk.ru",
    "list.ru",
    "internet.ru",
    "mail.kz",
    "gmail.com",
    "googlemail.com",
    "yandex.kz",
    "yandex.ru",
    "yandex.com",
    "ya.ru",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "icloud.com",
    "me.com",
    "yahoo.com",
    "rambler.ru",
    "proton.me",
    "protonmail.com",
)


class RobotSettings(Section):
    case_number_format: str = "SKES-{year}-{seq:06d}"
    timezone: str = "Asia/Almaty"
    default_language: Literal["ru", "kk", "en"] = "ru"
    answer_days: int = Field(default=3, ge=1)
    extended_days: int = Field(default=14, ge=1)
    working_day_start: time = time(9, 0)
    working_day_end: time = time(18, 0)
    notices_per_sender_per_day: int = Field(default=5, ge=0)  # counted without the address's +tag
    # Notices to one mail domain in an hour (an auto-responder rotating its addresses); 0: no domain cap.
    # Public mail providers are exempt: one such domain is thousands of people.
    notices_per_domain_per_hour: int = Field(default=20, ge=0)
    public_mail_domains: list[str] = Field(default_factory=lambda: list(PUBLIC_MAIL_DOMAINS))
    max_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=0)
    # The company's name as consumers read it, per language; smtp.from_name where a language has none.
    company_names: dict[str, str] = Field(default_factory=dict)
    secret: str | None = None
    secret_file: str | None = None
    # Keys that verify (never sign) the tokens of mail sent before robot.secret was rotated, so replies in
    # flight keep working; drop one once its mail no longer comes back.  A file holds one key per line.
    previous_secrets: list[str] = Field(default_factory=list)
    previous_secrets_file: str | None = None
    templates_dir: str | None = None

    @model_validator(mode="after")
    def _secret(self) -> RobotSettings:
        secret = read_secret(self.secret, self.secret_file, "MAILROBOT_SECRET", "robot.secret")
        if not secret or len(secret) < 16:
            raise ValueError(
                "robot.secret (the key that signs reply addresses) must be at least 16 characters: "
                "set robot.secret, robot.secret_file or the env var MAILROBOT_SECRET "
                "(e.g. the output of `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
        object.__setattr__(self, "secret", secret)
        previous = list(self.previous_secrets)
        from_file = read_secret(None, self.previous_secrets_file, "", "robot.previous_secrets")
        previous += [line.strip() for line in (from_file or "").splitlines() if line.strip()]
        if any(len(key) < 16 for key in previous):
            raise ValueError("robot.previous_secrets: every key must be at least 16 characters")
        object.__setattr__(self, "previous_secrets", [k for k in dict.fromkeys(previous) if k != secret])
        return self

    @property
    def keys(self) -> tuple[str, ...]:
        """The signing key first, then the previous ones: every one verifies a token, only the first signs."""
        return (self.secret or "", *self.previous_secrets)

    @field_validator("case_number_format")
    @classmethod
    def _number_format(cls, value: str) -> str:
        try:
            sample = value.format(year=2026, seq=1)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"cannot format with {{year}} and {{seq}}: {exc}") from exc
        if "{seq" not in value:
            raise ValueError("must contain {seq} (e.g. SKES-{year}-{seq:06d})")
        if not sample.replace("-", "").replace("/", "").isalnum():
            raise ValueError("may contain only letters, digits, '-' and '/' around {year} and {seq}")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Asia/Almaty") from exc
        return value


class CalendarSettings(Section):
    country: str = "KZ"
    extra_days_off: list[date] = Field(default_factory=list)
    extra_working_days: list[date] = Field(default_factory=list)
