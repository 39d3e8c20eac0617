"""Drill 5: the robot against an auto-responder that does not say it is one (no Auto-Submitted, a new
Subject each time, no In-Reply-To).

Verdict: the exchange stops by itself; prints how many mails each side sent.
    .venv/bin/python bench/drills/mail_loop.py [--limit 200] [--quiet 10]
"""

from common import run

from tests.support.drills import loop_drill


def add(p):
    p.add_argument("--limit", type=int, default=200, help="the responder gives up after this many answers")
    p.add_argument("--quiet", type=float, default=10.0, help="seconds without mail that end the exchange")


run(__doc__, add, lambda w, a: loop_drill(w, a.limit, a.quiet))
