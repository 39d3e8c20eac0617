"""What the command modules share: the `--config` option, the services it names, output helpers.

A command module imports this, never the dispatcher (`mailrobot.cli`), which imports the command modules.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from mailrobot.config import CONFIG_ENV, DEFAULT_CONFIG_PATH, ConfigError
from mailrobot.regulation.workdays import WorkCalendar
from mailrobot.service.context import Services

F = TypeVar("F", bound=Callable[..., Any])

CONFIG_HELP = "The TOML config file (before or after the subcommand)."


def _config_given_before(ctx: click.Context) -> str | None:
    """The `--config` given to `mailrobot` itself, before the subcommand (None when it was not)."""
    root = ctx.find_root()
    if root is ctx or root.get_parameter_source("config_path") is not ParameterSource.COMMANDLINE:
        return None
    return root.params["config_path"]


def _resolve_config(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """The config a command uses: `--config` after the subcommand, else `--config` before it, else
    $MAILROBOT_CONFIG, else the default path.  Two different files on one command line are refused."""
    before = _config_given_before(ctx)
    if before is None:
        return value
    if ctx.get_parameter_source("config_path") is ParameterSource.COMMANDLINE:
        if Path(value) != Path(before):
            raise click.UsageError(f"--config given twice, as {before} and as {value}: give it once")
        return value
    return before


def config_option(func: F) -> F:
    """`--config PATH` for a command; the value reaches it as `config_path`."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        envvar=CONFIG_ENV,
        default=DEFAULT_CONFIG_PATH,
        show_default=True,
        show_envvar=True,
        callback=_resolve_config,
        help=CONFIG_HELP,
    )(func)


def main_config_option(func: F) -> F:
    """`mailrobot --config PATH COMMAND`: the same option before the subcommand, read by each command's
    own `--config` (which is what applies the environment variable and the default)."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        envvar=CONFIG_ENV,
        show_envvar=True,
        help=CONFIG_HELP,
    )(func)


def load(config_path: str, *, upgrade: bool = True, log_sql: bool = False) -> Services:
    """The services of the config file (the database opens on first use, migrated when `upgrade`); the
    config's faults become the command's error message (exit 1)."""
    try:
        return Services.load(config_path, upgrade=upgrade, log_sql=log_sql)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def calendar_of(config_path: str) -> WorkCalendar:
    """The calendar in force: the config's when there is a config file, Kazakhstan's defaults otherwise."""
    if not Path(config_path).exists():
        return WorkCalendar()
    return load(config_path, upgrade=False).calendar


def send_now(services: Services, now: datetime | None = None) -> str:
    """Send what is in the outbox now, as the daemon's sender would; with `now` in the future (a job run
    with --now), also the mail queued as at then.  Says what was sent."""
    from mailrobot.outside.sender import OutboxSender
    from mailrobot.store.models import utcnow

    moment = max(utcnow(), now) if now else utcnow()
    sender = OutboxSender(
        services.db,
        services.settings.smtp,
        clock=lambda: max(utcnow(), moment),
        secret=services.settings.robot.keys,
    )
    try:
        sent, failed = sender.drain()
    finally:
        sender.close()
    return f"sent {sent} mails" + (f", {failed} failed (they stay in the outbox)" if failed else "")


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))
