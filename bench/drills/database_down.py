"""Drill 4: the database unavailable while mail arrives: SQLite locked by another writer (default), or
PostgreSQL stopped (--postgresql).

Verdict: no mail moved out of the inbox that is not committed; processing resumes by itself.
    .venv/bin/python bench/drills/database_down.py [-n 100] [--seconds 30] [--postgresql]
"""

from pathlib import Path

from common import run
from sqlalchemy.engine import make_url

from tests.support.drills import database_drill, sqlite_locked


def add(p):
    p.add_argument("-n", type=int, default=100, help="mails arriving during the outage")
    p.add_argument("--seconds", type=float, default=30.0)


def drill(w, a):
    if a.postgresql:
        return database_drill(w, w.pg.cluster.halted, a.n, a.seconds, "PostgreSQL stopped")
    path = Path(make_url(w.database_url).database)
    return database_drill(w, lambda: sqlite_locked(path), a.n, a.seconds)


run(__doc__, add, drill)
