"""Drill 1: kill -9 the daemon at random moments of a burst, restarting it each time.

Verdict: no mail lost, no duplicate case, notices sent twice at most once per kill, each twin the same mail
(same Message-ID).   .venv/bin/python bench/drills/kill9.py [-n 1000] [--kills 20] [--postgresql]
"""

from common import run

from tests.support.drills import kill_drill


def add(p):
    p.add_argument("-n", type=int, default=1000, help="mails in the burst")
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--seed", type=int, default=13)


run(__doc__, add, lambda w, a: kill_drill(w, a.n, a.kills, a.seed))
