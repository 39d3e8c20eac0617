"""Drill 2: the SMTP server down while mail keeps arriving, then back on the same port.

Verdict: every notice delivered once; the outbox backlog and its age shown by the metrics and by `doctor`
meanwhile.   .venv/bin/python bench/drills/smtp_down.py [-n 200] [--seconds 60] [--postgresql]
"""

from common import run

from tests.support.drills import smtp_down_drill


def add(p):
    p.add_argument("-n", type=int, default=200, help="mails arriving while SMTP is down")
    p.add_argument("--seconds", type=float, default=60.0)


run(__doc__, add, lambda w, a: smtp_down_drill(w, a.n, a.seconds))
