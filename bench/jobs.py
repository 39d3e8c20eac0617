"""Jobs benchmark: SQLite with 1,000,000 cases, then the overdue scan, the digest and the monthly report.

Seeds two years of cases (about 42,000 a month, mostly answered, a few thousand open, some of them past their
deadline and not yet flagged) straight through sqlite3 in large executemany chunks, then times each job as the
daemon runs it (same code, same transactions), and shows the query plans of the deadline queries.
Run by hand:  .venv/bin/python bench/jobs.py [--cases 1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import logging
import random
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import select, text  # noqa: E402

from mailrobot.jobs.case_lists import OPEN  # noqa: E402
from mailrobot.jobs.report_mail import produce  # noqa: E402
from mailrobot.jobs.reports import previous_month  # noqa: E402
from mailrobot.jobs.tasks import Jobs  # noqa: E402
from mailrobot.mail.render import Renderer  # noqa: E402
from mailrobot.regulation.workdays import WorkCalendar  # noqa: E402
from mailrobot.store.db import Database  # noqa: E402
from mailrobot.store.models import Case  # noqa: E402
from tests.support.config import make_settings  # noqa: E402

# Thursday 26 November 2026, 09:40 in Almaty: after the digest's and the reminders' hour.
NOW = datetime(2026, 11, 26, 4, 40, tzinfo=UTC)
MONTHS = 24
CHUNK = 50_000
TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores DateTime in SQLite (naive UTC)

QUESTIONS = [
    "В квитанции за {month} неверные показания счётчика: {n} вместо {m}. Прошу сделать перерасчёт.",
    "Нет света {days} день по адресу ул. {street}, д. {house}. Когда дадут электричество?",
    "Оплатил {date} через Kaspi, но оплата не отражена на лицевом счёте {account}.",
    "Прошу заменить прибор учёта, счётчик не работает с {date}.",
    "Почему в квитанции начислена пеня? Я всегда плачу вовремя.",
    "Как передать показания счётчика через интернет?",
    "Нет отопления в квартире {house}, батареи холодные уже {days} дня.",
    "Прошу переоформить лицевой счёт {account} на нового собственника.",
    "Сәлеметсіз бе! {month} айындағы төлем есепшотқа түспеді. Тексеруді сұраймын.",
    "Жарық {days} күн болмады, қашан қосылады?",
    "Hello, my payment from {date} is not shown in my account {account}.",
    "Почему тариф на электроэнергию вырос с {month}?",
    "Прошу предоставить акт сверки по лицевому счёту {account} за {year} год.",
    "Счётчик показывает больше, чем я потребляю. Прошу проверить прибор учёта.",
    "Когда будет перерасчёт за отключение горячей воды в {month}?",
]
GREETINGS = ["Здравствуйте! ", "Добрый день. ", "", "Здравствуйте, ", "Доброго времени суток! "]
SIGNATURES = ["", "\n\nС уважением,\nИванов И.И.", "\nСпасибо.", "\n\n{name}\nтел. +7 777 {tel}"]
NAMES = ["Айгүл Серікқызы", "Иван Петров", "Ержан Сейтказы", "Анна Смирнова", "Данияр Абенов"]
STREETS = ["Абая", "Жамбыла", "Конституции", "Букетова", "Интернациональная"]
MONTH_NAMES = ["январь", "февраль", "март", "апрель", "май", "июнь", "июль", "август", "сентябрь", "октябрь"]
CATEGORIES = ["billing", "outage", "meter", "payment", "tariff", None]
ORGANIZATIONS = ["skes", "skes", "skes", "grid", "heat", None]
OPERATORS = [f"operator{i}@skes.example.kz" for i in range(12)]


def body(rng: random.Random) -> str:
    question = rng.choice(QUESTIONS).format(
        month=rng.choice(MONTH_NAMES),
        n=rng.randint(1000, 9999),
        m=rng.randint(1000, 9999),
        days=rng.randint(2, 5),
        street=rng.choice(STREETS),
        house=rng.randint(1, 120),
        date=f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.2026",
        account=rng.randint(100000, 9999999),
        year=rng.choice((2024, 2025)),
    )
    signature = rng.choice(SIGNATURES).format(name=rng.choice(NAMES), tel=rng.randint(100, 999))
    return rng.choice(GREETINGS) + question + signature


def seed(db: Database, calendar: WorkCalendar, count: int) -> None:
    rng = random.Random(2026)
    start = NOW - timedelta(days=30 * MONTHS)
    span = (NOW - start).total_seconds()
    received = sorted(start + timedelta(seconds=rng.random() * span) for _ in range(count))
    raw = sqlite3.connect(str(db.engine.url.database))
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=OFF")
    columns = (
        "number, requester, requester_name, subject, body, language, state, channel, organization, assignee, "
        "category, received_at, due_at, answered_at, closed_at, overdue_at"
    )
    insert = f"INSERT INTO cases ({columns}) VALUES ({', '.join('?' * 16)})"
    due_cache: dict[object, datetime] = {}
    rows = []
    for i, moment in enumerate(received, start=1):
        day = calendar.local_date(moment)
        due = due_cache.get(day) or due_cache.setdefault(day, calendar.due_at(moment, 3))
        age = (NOW - moment).days
        roll = rng.random()
        answered = closed = overdue = None
        if age > 5 or (roll < 0.5 and moment + timedelta(hours=30) < NOW):
            # Mostly answered within a day or two; one in twenty late.
            answered = moment + timedelta(hours=rng.uniform(1, 48) if roll < 0.95 else rng.uniform(80, 300))
            answered = min(answered, NOW - timedelta(minutes=5))
            state = "answered" if roll < 0.7 else "closed"
            closed = answered + timedelta(days=1) if state == "closed" else None
            if answered > due:
                overdue = due + timedelta(minutes=15)
        else:
            state = rng.choice(("new", "forwarded", "new"))
        # A few thousand old cases nobody answered, past their deadline and not yet flagged: the scan's work.
        if age > 5 and roll > 0.997:
            state, answered, closed, overdue = "forwarded", None, None, None
        rows.append(
            (
                f"SKES-{moment.year}-{i:07d}",
                f"consumer{rng.randint(1, 200_000)}@mail.ru",
                rng.choice(NAMES),
                rng.choice(("Обращение", "Вопрос", "Жалоба", "Перерасчёт", "Нет света", "")),
                body(rng),
                rng.choice(("ru", "ru", "ru", "kk", "en")),
                state,
                "email",
                rng.choice(ORGANIZATIONS),
                rng.choice(OPERATORS) if rng.random() < 0.9 else None,
                rng.choice(CATEGORIES),
                _t(moment),
                _t(due),
                _t(answered),
                _t(closed),
                _t(overdue),
            )
        )
        if len(rows) == CHUNK:
            raw.executemany(insert, rows)
            raw.commit()
            rows.clear()
    if rows:
        raw.executemany(insert, rows)
    raw.executemany(
        "INSERT INTO messages (mailbox, uid, received_at, sender, subject, size, sha256, status, reason, "
        "attempts) VALUES ('INBOX', ?, ?, '', '', 1, '', 'quarantined', 'unparseable', 1)",
        [(i, _t(NOW - timedelta(hours=i))) for i in range(1, 200)],
    )
    raw.commit()
    raw.execute("ANALYZE")
    raw.close()


def _t(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime(TIME_FORMAT)


def timed(label: str, action):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = action()
    print(f"{label:<52} {time.perf_counter() - started:7.3f} s   {result}")
    return result


def main() -> None:
    # One warning per case flagged overdue is right for the daemon's log, not for this table.
    logging.getLogger("mailrobot").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="Put the database here and keep it (reused if it exists).")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="mailrobot-bench-jobs-"))
    workdir.mkdir(parents=True, exist_ok=True)
    settings = make_settings(workdir, people={"head": ["head@skes.example.kz"], "pr": ["pr@skes.example.kz"]})
    db = Database(settings.database.url)
    calendar = WorkCalendar.from_settings(settings)
    renderer = Renderer.from_settings(settings)
    fresh = not (workdir / "mailrobot.db").exists()
    db.upgrade()
    if fresh:
        timed(f"seed {args.cases:,} cases", lambda: seed(db, calendar, args.cases) or "")
    with db.sessions() as session:
        total = session.scalar(text("SELECT count(*) FROM cases"))
        open_cases = session.scalar(select(text("count(*)")).select_from(Case).where(OPEN))
        size = (workdir / "mailrobot.db").stat().st_size >> 20
        print(f"database: {total:,} cases, {open_cases:,} open, {size} MB")
        for label, query in (
            ("overdue scan", select(Case.id).where(OPEN, Case.state != "overdue", Case.due_at < NOW)),
            ("digest: open cases", select(Case.id).where(OPEN)),
            ("overdue alerts", select(Case.id).where(Case.state == "overdue")),
            ("report: a month", select(Case.id).where(Case.received_at >= NOW - timedelta(days=30))),
        ):
            compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
            plan = session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
            print(f"  plan of {label}: {'; '.join(row[-1] for row in plan)}")

    jobs = Jobs(db, settings, calendar, renderer, owner="bench")
    timed("overdue scan (flags the late ones)", lambda: jobs.overdue_scan(NOW).detail)
    timed("overdue scan again (nothing to do)", lambda: jobs.overdue_scan(NOW + timedelta(minutes=15)).detail)
    timed("reminders", lambda: jobs.reminders(NOW).detail)
    timed("digest (query, render, queue)", lambda: jobs.digest(NOW).detail)
    month = previous_month(calendar.local_date(NOW))

    def report() -> str:
        with db.transaction() as session:
            output = produce(session, settings, calendar, renderer, month, NOW)
        r = output.report
        return (
            f"{r.period}: {r.received:,} cases, {len(r.top_questions)} top questions, "
            f"CSV {len(output.csv) >> 10} KB"
        )

    timed(f"monthly report for {month:%Y-%m} (figures, CSV, FAQ)", report)
    first = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)  # Tuesday 1 December 10:00: November's report is due
    timed("monthly report job (…and two mails queued)", lambda: jobs.monthly_report(first).detail)
    print(
        f"database kept in {workdir}" if args.keep else f"(database in {workdir}; pass --keep DIR to reuse)"
    )


if __name__ == "__main__":
    main()
