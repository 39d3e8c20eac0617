"""The outbox sender as a process of its own (issue 13): forked by `mailrobot run`, gone with the daemon.

A sender left running after a kill -9 of its daemon would run beside the restarted daemon's sender, and on
SQLite (no row claims) the two could send the same notice; a sender that died silently would leave notices
in the outbox for ever.  The kill -9 drill with the sender process: tests/e2e/test_drills.py.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

from tests.support.daemon import DaemonProcess, run_mailrobot
from tests.support.factories import consumer_mail
from tests.support.site import Site
from tests.support.smtp import SmtpSink
from tests.support.systemd import is_ready


def sender_of(daemon: DaemonProcess, timeout: float = 60) -> int:
    """The pid of the daemon's sender process, as the daemon logs it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(r"outbox sender started as process (\d+)", daemon.log())
        if found:
            return int(found.group(1))
        daemon.assert_alive()
        time.sleep(0.05)
    raise AssertionError(f"no sender process logged:\n{daemon.log()[-3000:]}")


def alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped, is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def gone(pid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def test_notices_leave_from_a_child_process_that_a_kill_9_of_the_daemon_takes_along(site: Site) -> None:
    daemon = site.start_daemon(site.write_config())
    child = sender_of(daemon)
    site.append(consumer_mail("aigerim@mail.ru", "Счёт", message_id="<sp-1@mail.ru>"))
    [notice] = site.smtp_sink.wait_for(1, timeout=30)
    assert notice.rcpt_tos == ("aigerim@mail.ru",)
    stat = Path(f"/proc/{child}/stat").read_text()
    assert "(mailrobot-send)" in stat  # its name in ps and top
    assert int(stat.rpartition(")")[2].split()[1]) == daemon.pid  # the daemon's child

    assert "forking the sender with" not in daemon.log()  # no thread of the daemon ran yet

    daemon.signal(signal.SIGKILL)
    daemon.proc.wait(10)
    assert gone(child), "the sender outlived its daemon"


def test_sigterm_stops_the_sender_and_the_daemon_waits_for_it(site: Site) -> None:
    daemon = site.start_daemon(site.write_config())
    child = sender_of(daemon)
    site.notify.wait_for(is_ready, timeout=60)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(15) == 0
    assert not alive(child)  # stopped and reaped before the daemon exited
    assert "outbox sender process" not in daemon.log().split("signal SIGTERM")[-1]  # no death reported


def test_a_sender_process_that_dies_stops_the_daemon_with_an_error(site: Site) -> None:
    daemon = site.start_daemon(site.write_config())
    child = sender_of(daemon)
    site.notify.wait_for(is_ready, timeout=60)
    os.kill(child, signal.SIGKILL)
    # Non-zero, so that systemd's Restart=on-failure starts the daemon and a new sender together.
    assert daemon.wait(30) == 1
    assert f"the outbox sender process {child} exited (killed by SIGKILL)" in daemon.log()


def test_new_smtp_settings_of_a_reload_reach_the_sender_process(site: Site) -> None:
    config = site.write_config()
    daemon = site.start_daemon(config)
    ready_at, _ = site.notify.wait_for(is_ready, timeout=60)
    site.append(consumer_mail("first@mail.ru", "Свет", message_id="<sp-first@mail.ru>"))
    assert [m.rcpt_tos for m in site.smtp_sink.wait_for(1, timeout=30)] == [("first@mail.ru",)]
    with SmtpSink() as other:
        site.writer(site.tmp_path, site.mailbox, other)  # the same config, another SMTP server
        daemon.signal(signal.SIGHUP)
        site.notify.wait_for(
            lambda f: is_ready(f) and f.get("STATUS") == "config reloaded", 30, after=ready_at
        )
        site.append(consumer_mail("second@mail.ru", "Вода", message_id="<sp-second@mail.ru>"))
        assert [m.rcpt_tos for m in other.wait_for(1, timeout=30)] == [("second@mail.ru",)]
    assert len(site.smtp_sink.messages) == 1
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(15) == 0


def test_run_once_counts_what_its_sender_process_sent(site: Site) -> None:
    config = site.write_config()
    for i in range(3):
        site.append(consumer_mail(f"c{i}@mail.ru", "Газ", message_id=f"<sp-once-{i}@mail.ru>"))
    done = run_mailrobot(config, "run", "--once", check=True, timeout=120)
    assert "processed 3 messages" in done.stdout and "sent 3 mails" in done.stdout
    # Drained before it exited: every notice is at the sink already, none waits in the outbox.
    assert len(site.smtp_sink.messages) == 3
    assert run_mailrobot(config, "outbox", "list", "--json", check=True).stdout.strip() == "[]"


def test_run_once_can_keep_the_sender_in_threads(site: Site) -> None:
    config = site.write_config()
    for i in range(2):
        site.append(consumer_mail(f"t{i}@mail.ru", "Газ", message_id=f"<sp-thread-{i}@mail.ru>"))
    done = run_mailrobot(config, "run", "--once", "--sender", "thread", check=True, timeout=120)
    assert "processed 2 messages" in done.stdout and "sent 2 mails" in done.stdout
    assert len(site.smtp_sink.messages) == 2
    assert "outbox sender started as process" not in done.stderr
    forked = run_mailrobot(config, "run", "--once", check=True, timeout=120)
    assert "outbox sender started as process" in forked.stderr  # the default
    assert "forking the sender with" not in forked.stderr  # before leader.py's threads
    # smtp.sender in the config chooses for every run; the option still overrides it.
    small = site.write_config(smtp={"sender": "thread"})
    site.append(consumer_mail("t2@mail.ru", "Газ", message_id="<sp-thread-2@mail.ru>"))
    by_config = run_mailrobot(small, "run", "--once", check=True, timeout=120)
    assert "processed 1 messages" in by_config.stdout and "sent 1 mails" in by_config.stdout
    assert "outbox sender started as process" not in by_config.stderr
    overridden = run_mailrobot(small, "run", "--once", "--sender", "process", check=True, timeout=120)
    assert "outbox sender started as process" in overridden.stderr
