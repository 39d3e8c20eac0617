"""[imap], [smtp] and [database]: the servers the robot talks to, and how it logs in."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mailrobot.config.base import Section, read_secret


class M365Settings(Section):
    """Microsoft 365 app-only sign-in (client credentials), for imap/smtp auth = "oauth2"."""

    tenant: str  # the directory (tenant) id or domain, e.g. "contoso.onmicrosoft.com"
    client_id: str
    client_secret: str | None = None
    client_secret_file: str | None = None
    scope: str = "https://outlook.office365.com/.default"
    authority: str | None = None  # default https://login.microsoftonline.com/<tenant>

    @model_validator(mode="after")
    def _secret(self) -> M365Settings:
        secret = read_secret(
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


class ImapSettings(Section):
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
        secret = read_secret(self.password, self.password_file, "MAILROBOT_IMAP_PASSWORD", "imap.password")
        if not secret:
            raise ValueError(
                "no IMAP password: set imap.password, imap.password_file "
                "or the env var MAILROBOT_IMAP_PASSWORD"
            )
        object.__setattr__(self, "password", secret)
        return self


class SmtpSettings(Section):
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
    # "process": the outbox is drained by a process of its own (a second core sends while the daemon reads
    # and decides: 10-20 % faster in a burst, about 25 MB more); "thread": by the daemon's threads, for a
    # small VM.  `mailrobot run --sender` overrides it; a change takes effect at the next restart.
    sender: Literal["process", "thread"] = "process"
    # PostgreSQL: a directory of this host for the sent journal (outside/sent_journal.py), so that the outbox
    # is sent in batches and a kill -9 resends only the mail in flight; systemd's $STATE_DIRECTORY when unset.
    # Without either, each mail is claimed, sent and recorded in a transaction of its own.  SQLite ignores it.
    journal_dir: str | None = None
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
        secret = read_secret(self.password, self.password_file, "MAILROBOT_SMTP_PASSWORD", "smtp.password")
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


class DatabaseSettings(Section):
    url: str = "sqlite:////var/lib/mailrobot/mailrobot.db"
    echo: bool = False


# Public mail providers of Kazakhstan's consumers (robot.public_mail_domains): the per-domain notice cap
# does not apply to them.
