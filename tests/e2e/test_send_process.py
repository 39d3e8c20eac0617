"""The outbox sender as a process of its own (issue 13): forked by `mailrobot run` while the outbox has mail
to send, retired once idle, gone with the daemon.

A sender left running after a kill -9 of its daemon would run beside the restarted daemon's sender, and on
SQLite (no row claims) the two could send the same notice; a sender that died silently would leave notices
in the outbox for ever.  A sender kept for ever costs its copy-on-write pages (bench/memory.py).  The retire
race, driven step by step: tests/db/test_send_retire.py.  The kill -9 drill with the sender process:
tests/e2e/test_drills.py.

A child is kept alive where a test needs one running by a delivery the sink refuses with 451: its retry is
due only in 10 minutes, and a pending retry keeps the child (nothing else would, once idle for its linger).
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.daemon import DaemonProcess, run_mailrobot
from tests.support.factories import consumer_mail
from tests.support.site import Site
from tests.support.smtp import SmtpSink
from tests.support.systemd import is_ready


def started(daemon: DaemonProcess) -> list[int]:
    """The pids of the sender processes the daemon forked so far, as it logs them."""
    return [int(pid) for pid in re.findall(r"outbox sender started as process (\d+)", daemon.log())]


def alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped, is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def senders(daemon: DaemonProcess) -> list[int]:
    """The daemon's running children named mailrobot-send (from /proc, whatever the log says)."""
    pids = [
        int(p) for f in Path(f"/proc/{daemon.pid}/task").glob("*/children") for p in f.read_text().split()
    ]
    return [p for p in pids if alive(p) and "(mailrobot-send)" in stat(p)]


def stat(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # exited meanwhile
        return ""


def until(condition: Callable[[], object], what: str, daemon: DaemonProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        daemon.assert_alive()
        assert time.monotonic() < deadline, f"{what}:\n{daemon.log()[-3000:]}"
        time.sleep(0.05)


def gone(pid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def sending(site: Site, daemon: DaemonProcess, n: int = 1) -> int:
    """Mail whose delivery the sink refuses (451, retry in 10 minutes): the one sender that keeps it."""
    site.smtp_sink.fail_next(1)
    site.append(consumer_mail(f"r{n}@mail.ru", "Долг", message_id=f"<sp-retry-{n}@mail.ru>"))
    until(lambda: site.smtp_sink.refused == 1, "the sink saw no delivery", daemon)
    until(lambda: len(senders(daemon)) == 1, "not one sender running", daemon)  # a retired one exits
    [child] = senders(daemon)
    return child


def start(site: Site, **smtp: object) -> DaemonProcess:
    daemon = site.start_daemon(site.write_config(smtp={"retry_base_seconds": 600, **smtp}))
    site.notify.wait_for(is_ready, timeout=60)
    return daemon


def test_the_sender_retires_when_idle_and_new_mail_forks_another_with_the_newest_settings(site: Site) -> None:
    daemon = start(site)
    for i in range(5):
        site.append(consumer_mail(f"b{i}@mail.ru", "Счёт", message_id=f"<sp-burst-{i}@mail.ru>"))
    assert len(site.smtp_sink.wait_for(5, timeout=60)) == 5
    first = started(daemon)
    assert first  # a child sent them
    until(lambda: not senders(daemon), "no sender retired after its linger", daemon)
    assert all(not alive(pid) for pid in first)
    with SmtpSink() as other:
        # A reload while no sender runs: the next one forks with the new [smtp] settings.
        site.writer(site.tmp_path, site.mailbox, other, smtp={"retry_base_seconds": 600})
        daemon.signal(signal.SIGHUP)
        daemon.wait_for_log("config reloaded")
        site.append(consumer_mail("late@mail.ru", "Вода", message_id="<sp-late@mail.ru>"))
        assert [m.rcpt_tos for m in other.wait_for(1, timeout=30)] == [("late@mail.ru",)]
    again = started(daemon)
    assert len(again) == len(first) + 1 and again[-1] not in first
    assert len(site.smtp_sink.messages) == 5
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(15) == 0


def test_a_kill_9_of_the_daemon_takes_its_running_sender_along(site: Site) -> None:
    daemon = start(site)
    child = sending(site, daemon)
    line = stat(child)
    assert "(mailrobot-send)" in line  # its name in ps and top
    assert int(line.rpartition(")")[2].split()[1]) == daemon.pid  # the daemon's child
    daemon.signal(signal.SIGKILL)
    daemon.proc.wait(10)
    assert gone(child), "the sender outlived its daemon"


def test_sigterm_stops_the_running_sender_and_the_daemon_waits_for_it(site: Site) -> None:
    daemon = start(site)
    child = sending(site, daemon)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(15) == 0
    assert not alive(child)  # stopped and reaped before the daemon exited
    assert "outbox sender process" not in daemon.log().split("signal SIGTERM")[-1]  # no death reported


def test_a_sender_process_that_dies_stops_the_daemon_with_an_error(site: Site) -> None:
    daemon = start(site)
    child = sending(site, daemon)
    os.kill(child, signal.SIGKILL)
    # Non-zero, so that systemd's Restart=on-failure starts the daemon and a new sender together.
    assert daemon.wait(30) == 1
    assert f"the outbox sender process {child} exited (killed by SIGKILL)" in daemon.log()


def test_new_smtp_settings_of_a_reload_reach_the_running_sender(site: Site) -> None:
    daemon = start(site)
    child = sending(site, daemon)
    with SmtpSink() as other:
        site.writer(site.tmp_path, site.mailbox, other, smtp={"retry_base_seconds": 600})
        daemon.signal(signal.SIGHUP)
        daemon.wait_for_log("config reloaded")
        site.append(consumer_mail("second@mail.ru", "Вода", message_id="<sp-second@mail.ru>"))
        assert [m.rcpt_tos for m in other.wait_for(1, timeout=30)] == [("second@mail.ru",)]
        assert senders(daemon) == [child] and started(daemon)[-1] == child  # the running one sent it
    assert site.smtp_sink.messages == []  # the first server refused the only mail it was offered
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
    # smtp.sender in the config chooses for every run; the option still overrides it.
    small = site.write_config(smtp={"sender": "thread"})
    site.append(consumer_mail("t2@mail.ru", "Газ", message_id="<sp-thread-2@mail.ru>"))
    by_config = run_mailrobot(small, "run", "--once", check=True, timeout=120)
    assert "processed 1 messages" in by_config.stdout and "sent 1 mails" in by_config.stdout
    assert "outbox sender started as process" not in by_config.stderr
    overridden = run_mailrobot(small, "run", "--once", "--sender", "process", check=True, timeout=120)
    assert "outbox sender started as process" in overridden.stderr
