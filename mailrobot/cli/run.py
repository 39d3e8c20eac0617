"""`mailrobot run`: the daemon, or one pass over the mailbox with --once."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click

from mailrobot.cli.common import config_option, load
from mailrobot.logs import setup_logging


@contextlib.contextmanager
def _leader_errors() -> Iterator[None]:
    """A second daemon refused, a leader that stepped down, a sender process that died: the reason,
    without a traceback; exit 1."""
    from mailrobot.outside.leader import AnotherDaemonRuns, LeadershipLost
    from mailrobot.service.sending import SenderDied

    try:
        yield
    except (AnotherDaemonRuns, LeadershipLost, SenderDied) as exc:
        raise click.ClickException(str(exc)) from None


@click.command()
@config_option
@click.option("--once", is_flag=True, help="Process the mailbox once, drain the outbox, exit.")
@click.option(
    "--sender",
    type=click.Choice(["process", "thread"]),
    default=None,
    help="The outbox sender as a process of its own (a second core sends while this one reads and "
    "decides; about 25 MB more) or as threads of the daemon (less memory, one core). "
    "Default: smtp.sender of the config (process).",
)
def run(config_path: str, once: bool, sender: str | None) -> None:
    """Run the daemon (or one pass with --once)."""
    services = load(config_path, log_sql=True)
    setup_logging(services.settings.logging.level, services.settings.logging.json_format)
    from mailrobot.service.daemon import Robot

    robot = Robot(services, sender_process=(sender or services.settings.smtp.sender) == "process")
    if once:
        with _leader_errors():
            summary = robot.run_once()
        counts = ", ".join(f"{s} {summary.count(s)}" for s in ("case", "ignored", "quarantined", "duplicate"))
        # Mail about existing cases (routing): shown when there was some.
        about = [f"{k} {summary.count(k)}" for k in ("followup", "reply", "refused") if summary.count(k)]
        counts = ", ".join([counts, *about])
        click.echo(
            f"processed {len(summary.outcomes)} messages ({counts}); sent {summary.sent} mails"
            + (f", {summary.send_failures} send failures (will retry)" if summary.send_failures else "")
        )
        return
    with _leader_errors():
        robot.run_forever()


COMMANDS = [run]
