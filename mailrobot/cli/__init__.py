"""The `mailrobot` command line: the `main` group, and the command modules it registers.

Holds: run (the daemon), cases, consumers (erasure on request), messages, outbox, jobs (jobs and report),
admin (doctor, check-config, db, retention, routes, due-date, calendar), and common (the `--config` option
and the helpers they share).
May import: the service and every stage below it.  A command module never imports this dispatcher back.
"""

from __future__ import annotations

import sys

import click

from mailrobot.cli import admin, cases, consumers, jobs, messages, outbox, run
from mailrobot.cli.common import main_config_option
from mailrobot.store.db import DatabaseFilesRefused


class _Main(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        # The database files' refusal (owner, -wal/-shm) is the command's error message, not a traceback.
        try:
            return super().invoke(ctx)
        except DatabaseFilesRefused as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Main)
@click.version_option(package_name="mailrobot")
@main_config_option
def main(config_path: str | None) -> None:
    """mailrobot: registers consumer e-mail as cases, sends notices, tracks deadlines."""
    # Each command reads `--config` from here when it was given before the subcommand (common.config_option).


for _module in (run, cases, consumers, messages, outbox, jobs, admin):
    for _command in _module.COMMANDS:
        main.add_command(_command)

if __name__ == "__main__":
    sys.exit(main())
