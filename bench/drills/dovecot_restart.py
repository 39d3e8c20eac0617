"""Drill 3: Dovecot killed -9 mid-burst and started again after a while.

Verdict: the daemon reconnects, nothing lost, every notice once, and the watchdog (WATCHDOG_USEC=10 s) would
not have fired while it waited.   .venv/bin/python bench/drills/dovecot_restart.py [-n 500] [--seconds 5]
"""

from common import run

from tests.support.drills import dovecot_drill


def add(p):
    p.add_argument("-n", type=int, default=500, help="mails in the burst")
    p.add_argument("--seconds", type=float, default=5.0, help="how long Dovecot stays down")


run(__doc__, add, lambda w, a: dovecot_drill(w, a.n, a.seconds))
