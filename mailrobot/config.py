"""TOML -> validated settings.  Errors name the key and the fix."""

from __future__ import annotations

import os
import re
import tomllib
from datetime import date, time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_CONFIG_PATH = "/etc/mailrobot/config.toml"
CONFIG_ENV = "MAILROBOT_CONFIG"


class ConfigError(Exception):
    """The configuration is unusable; the message names the key and what to do."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _read_secret(value: str | None, file: str | None, env: str, key: str) -> str | None:
    """A secret comes from the env var first, then a file, then the TOML value."""
    if os.environ.get(env):
        return os.environ[env]
    if file:
        path = Path(os.path.expandvars(file))
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            # expandvars leaves unset variables as they are.  Under systemd, LoadCredential= sets
            # $CREDENTIALS_DIRECTORY; a check run by hand has to set it.
            unset = re.search(r"\$\{?(\w+)", str(path))
            hint = ""
            if unset and unset.group(1) == "CREDENTIALS_DIRECTORY":
                hint = (
                    " (CREDENTIALS_DIRECTORY is not set: systemd sets it for the service; by hand, set it "
                    "to where the files are, e.g. CREDENTIALS_DIRECTORY=/etc/mailrobot/credentials)"
                )
            elif unset:
                hint = f" (the environment variable {unset.group(1)} is not set)"
            raise ValueError(f"cannot read {key}_file {path}: {exc.strerror}{hint}") from exc
    return value


class M365Settings(_Section):
    """Microsoft 365 app-only sign-in (client credentials), for imap/smtp auth = "oauth2"."""

    tenant: str  # the directory (tenant) id or domain, e.g. "contoso.onmicrosoft.com"
    client_id: str
    client_secret: str | None = None
    client_secret_file: str | None = None
    scope: str = "https://outlook.office365.com/.default"
    authority: str | None = None  # default https://login.microsoftonline.com/<tenant>

    @model_validator(mode="after")
    def _secret(self) -> M365Settings:
        secret = _read_secret(
            self.client_secret, self.client_secret_file, "MAILROBOT_M365_CLIENT_SECRET", "m365.client_secret"
        )
        if not secret:
            raise ValueError(
                "no client secret: set m365.client_secret, m365.client_secret_file "
                "or the env var MAILROBOT_M365_CLIENT_SECRET"
            )
        object.__setattr__(self, "client_secret", secret)
        return self


def _check_oauth2(section: str, token_command: str | None, m365: M365Settings | None) -> None:
    if (token_command is None) == (m365 is None):
        raise ValueError(
            f'{section}.auth = "oauth2" needs exactly one of {section}.token_command (a program that '
            f"prints an access token) or a [{section}.m365] section (Microsoft 365 client credentials)"
        )


class ImapSettings(_Section):
    host: str
    port: int = 993
    security: Literal["ssl", "starttls", "none"] = "ssl"
    username: str
    password: str | None = None
    password_file: str | None = None
    folder: str = "INBOX"
    processed_folder: str = "Processed"
    quarantine_folder: str | None = None
    create_folders: bool = True
    use_idle: bool = True
    poll_interval: float = Field(default=30.0, gt=0)
    idle_restart: float = Field(default=300.0, gt=0, le=600)
    timeout: float = Field(default=30.0, gt=0)
    batch_size: int = Field(default=100, ge=1, le=1000)
    # A batch also stops at this many bytes of mail (RFC822.SIZE): memory is bounded by the config, not by
    # the mail; a message larger than this is fetched alone.
    batch_bytes: int = Field(default=32 * 1024 * 1024, ge=1024 * 1024)
    verify_tls: bool = True
    # "oauth2" for Microsoft 365 and Gmail: a token from token_command or [imap.m365] instead of a password.
    auth: Literal["password", "oauth2"] = "password"
    oauth2_mechanism: Literal["XOAUTH2", "OAUTHBEARER"] = "XOAUTH2"
    token_command: str | None = None
    m365: M365Settings | None = None

    @model_validator(mode="after")
    def _secret(self) -> ImapSettings:
        if self.auth == "oauth2":
            _check_oauth2("imap", self.token_command, self.m365)
            return self
        secret = _read_secret(self.password, self.password_file, "MAILROBOT_IMAP_PASSWORD", "imap.password")
        if not secret:
            raise ValueError(
                "no IMAP password: set imap.password, imap.password_file "
                "or the env var MAILROBOT_IMAP_PASSWORD"
            )
        object.__setattr__(self, "password", secret)
        return self


class SmtpSettings(_Section):
    host: str
    port: int = 587
    security: Literal["ssl", "starttls", "none"] = "starttls"
    username: str | None = None
    password: str | None = None
    password_file: str | None = None
    from_address: str
    from_name: str = ""
    timeout: float = Field(default=30.0, gt=0)
    connections: int = Field(default=4, ge=1, le=16)
    # A mail server's queue: temporary failures are retried with backoff up to retry_max_seconds apart,
    # for as long as max_queue_days (Postfix's maximal_queue_lifetime is 5 days); only a refusal of the mail
    # itself, or that age, fails it.
    retry_base_seconds: float = Field(default=30.0, gt=0)
    retry_max_seconds: float = Field(default=900.0, gt=0)
    max_queue_days: float = Field(default=5.0, gt=0)
    verify_tls: bool = True
    # Envelope sender feedback+b.<signed id>@… (VERP), so a bounce names the mail it bounces; false for
    # providers that refuse any sender but the mailbox (Microsoft 365, Gmail may): the DSN's original
    # Message-ID is read then.
    verp: bool = True
    # "oauth2": AUTH XOAUTH2 with a token from token_command or [smtp.m365] (username is then required).
    auth: Literal["password", "oauth2"] = "password"
    token_command: str | None = None
    m365: M365Settings | None = None

    @model_validator(mode="before")
    @classmethod
    def _retired_keys(cls, data: Any) -> Any:
        # smtp.max_attempts failed mail after ~4 hours of outage; it is ignored so that an old config still
        # loads (check-config names it), and max_queue_days bounds the retries instead.
        if isinstance(data, dict) and "max_attempts" in data:
            data = {k: v for k, v in data.items() if k != "max_attempts"}
        return data

    @model_validator(mode="after")
    def _secret(self) -> SmtpSettings:
        if self.auth == "oauth2":
            if not self.username:
                raise ValueError('smtp.auth = "oauth2" needs smtp.username (the mailbox that sends)')
            _check_oauth2("smtp", self.token_command, self.m365)
            return self
        secret = _read_secret(self.password, self.password_file, "MAILROBOT_SMTP_PASSWORD", "smtp.password")
        if self.username and not secret:
            raise ValueError(
                "smtp.username is set but there is no password: set smtp.password, smtp.password_file "
                "or the env var MAILROBOT_SMTP_PASSWORD (or remove smtp.username for no authentication)"
            )
        object.__setattr__(self, "password", secret)
        return self

    @field_validator("from_address")
    @classmethod
    def _address(cls, value: str) -> str:
        if "@" not in value or any(c in value for c in " <>\r\n"):
            raise ValueError("must be a bare address like feedback@example.kz")
        return value.lower()


class DatabaseSettings(_Section):
    url: str = "sqlite:////var/lib/mailrobot/mailrobot.db"
    echo: bool = False


# Public mail providers of Kazakhstan's consumers (robot.public_mail_domains): the per-domain notice cap
# does not apply to them.
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


class RobotSettings(_Section):
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
        secret = _read_secret(self.secret, self.secret_file, "MAILROBOT_SECRET", "robot.secret")
        if not secret or len(secret) < 16:
            raise ValueError(
                "robot.secret (the key that signs reply addresses) must be at least 16 characters: "
                "set robot.secret, robot.secret_file or the env var MAILROBOT_SECRET "
                "(e.g. the output of `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
        object.__setattr__(self, "secret", secret)
        previous = list(self.previous_secrets)
        from_file = _read_secret(None, self.previous_secrets_file, "", "robot.previous_secrets")
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


class CalendarSettings(_Section):
    country: str = "KZ"
    extra_days_off: list[date] = Field(default_factory=list)
    extra_working_days: list[date] = Field(default_factory=list)


def _addresses(values: list[str]) -> list[str]:
    for value in values:
        if "@" not in value or any(c in value for c in " <>\r\n,;"):
            raise ValueError(f"{value!r} is not a bare e-mail address")
    return [v.lower() for v in values]


class PeopleSettings(_Section):
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


class OrganizationSettings(_Section):
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


class GroupSettings(_Section):
    """People who receive forwarded cases: operators, or specialists of one organization."""

    organization: str
    role: Literal["operator", "specialist"] = "operator"
    members: list[str]
    assign: Literal["everyone", "round_robin", "least_open"] = "everyone"
    language: Literal["ru", "kk", "en"] | None = None  # of the staff mail its members get

    _check = field_validator("members")(classmethod(lambda cls, v: _addresses(v)))


class RouteSettings(_Section):
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


class RoutingSettings(_Section):
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


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_format: bool = Field(default=False, alias="json")


class MetricsSettings(_Section):
    """The Prometheus endpoint (http://address:port/metrics), off unless enabled."""

    enabled: bool = False
    # Loopback by default: the metrics name no person, but they are nobody else's business either; put a
    # reverse proxy or the Prometheus host's tunnel in front rather than opening the port.
    address: str = "127.0.0.1"
    port: int = Field(default=9468, ge=0, le=65535)


# One crontab field: numbers, names (mon, jan), ranges, lists and steps.  The full check (ranges of each
# field) is the scheduler's, which owns APScheduler: `mailrobot.jobs.scheduler.check_schedules`.
_CRON_FIELD = re.compile(r"^(\*|[0-9a-z]+(-[0-9a-z]+)?)(/[0-9]+)?(,(\*|[0-9a-z]+(-[0-9a-z]+)?)(/[0-9]+)?)*$")


def _crontab(value: str) -> str:
    """A five-field crontab line, or "" (the job is off)."""
    value = " ".join(value.lower().split())
    fields = value.split(" ") if value else []
    if fields and (len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields)):
        raise ValueError(
            "not a crontab schedule: want five fields 'minute hour day month day_of_week', "
            "e.g. '30 9 * * *', or \"\" to turn the job off"
        )
    return value


class JobsSettings(_Section):
    """Scheduled jobs (regulation 4.3.9 deadlines, 4.3.11 monthly report), in robot.timezone.

    A schedule says when a job looks for work; the job itself decides with the working-day calendar
    (reminders and digests on working days, mail to people within working hours), so the defaults fire
    every day and a decreed working Saturday is handled like any working day.
    """

    enabled: bool = True
    overdue_scan: str = "*/15 * * * *"
    reminders: str = "30 9 * * *"
    digest: str = "0 9 * * *"
    monthly_report: str = "0 10 * * *"
    misfire_grace_seconds: int = Field(default=6 * 3600, ge=1)
    catch_up: bool = True
    report_top_questions: int = Field(default=10, ge=1, le=100)
    report_similarity: float = Field(default=0.5, gt=0, le=1)

    _check = field_validator("overdue_scan", "reminders", "digest", "monthly_report")(
        classmethod(lambda cls, v: _crontab(v))
    )


class RetentionSettings(_Section):
    """How long raw mail and attachments (personal data) are kept; cases and timelines are kept regardless.

    0 days keeps them forever.  attachments_days defaults to raw_days.
    """

    raw_days: int = Field(default=1095, ge=0)
    attachments_days: int | None = Field(default=None, ge=0)
    # When the purge job runs (crontab, robot.timezone), "" for never: `mailrobot retention purge` then.
    schedule: str = "30 3 * * *"

    _check = field_validator("schedule")(classmethod(lambda cls, v: _crontab(v)))


class SpamSettings(_Section):
    """The verdict of the mail server's filter in front of the mailbox (issue 11.7): spam gets no notice and
    reaches no operator; the head sees the count in the digest and `mailrobot messages release ID` undoes it.

    X-Spam-Flag/X-Spam-Status (SpamAssassin) and X-Spam-Action/X-Spam (rspamd) are always honoured.
    """

    score_header: str = ""  # e.g. "X-Spam-Score" or "X-Rspamd-Score": its first number is the score
    threshold: float | None = None  # spam from this score on (with score_header)
    # Authentication-Results (RFC 8601) are read only from these authserv-ids (our own mail servers):
    # anyone can write that header.  Empty: they are ignored.
    trusted_authserv_ids: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _score(self) -> SpamSettings:
        if bool(self.score_header) != (self.threshold is not None):
            raise ValueError("spam.score_header and spam.threshold go together: set both, or neither")
        if self.score_header and not re.fullmatch(r"[!-9;-~]+", self.score_header):
            raise ValueError(f"spam.score_header {self.score_header!r} is not a header name")
        return self


class Settings(_Section):
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
