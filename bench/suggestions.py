"""What a forward's "answered before" suggestions cost (issue 12 item 8), and how often they are right.

N answered cases with stored summaries (the labelled month's 85 answered questions, repeated with other
numbers) in a SQLite database; prints the time to summarize one answer (done once, when a case is
answered), to build the in-memory index (once, and again after new answers), and to find the suggestions
for a new case with the index built (what most forwards cost); then the share of the labelled new questions
whose first suggestion is of the same topic.
Run by hand:  .venv/bin/python bench/suggestions.py [-n 5000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mailrobot.jobs.suggestions import HORIZON, Suggestions, summarize_case  # noqa: E402
from mailrobot.store.db import Database  # noqa: E402
from mailrobot.store.models import Case  # noqa: E402

DATA = REPO / "tests" / "data" / "faq_month"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=5000, help="answered cases with summaries")
    args = parser.parse_args()
    month = json.loads((DATA / "month.json").read_text(encoding="utf-8"))
    new = json.loads((DATA / "new_questions.json").read_text(encoding="utf-8"))
    now = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/bench.db")
        db.upgrade()
        started = time.perf_counter()
        summaries = []
        for item in month:
            case = Case(
                number=item["case"],
                subject="Обращение",
                body=item["question"],
                language=item["language"],
                requester_name=item["requester"] or "",
            )
            summaries.append((item, summarize_case(case, item["answer"])))
        summarize_ms = (time.perf_counter() - started) * 1000 / len(month)
        topic_of = {}
        with db.transaction() as session:
            for i in range(args.n):
                item, (question, answer) = summaries[i % len(summaries)]
                number = f"SKES-2026-{i + 1:06d}"
                topic_of[number] = item["topic"]
                session.add(
                    Case(number=number, requester=f"c{i}@mail.kz", subject="Обращение", body=item["question"],
                         language=item["language"], state="answered", received_at=now, due_at=now,
                         answered_at=now - timedelta(seconds=i), summary_question=question,
                         summary_answer=answer, summary_language=item["language"])
                )  # fmt: skip
        suggestions = Suggestions()
        times, hits = [], 0
        with db.sessions() as session:
            started = time.perf_counter()
            suggestions.similar(session, "", new[0]["question"])
            build_ms = (time.perf_counter() - started) * 1000
            for question in new:
                best = float("inf")
                for _ in range(5):  # the best of five: the machine is shared, a forward is not
                    started = time.perf_counter()
                    found = suggestions.similar(session, "", question["question"])
                    best = min(best, (time.perf_counter() - started) * 1000)
                times.append(best)
                hits += bool(found) and topic_of[found[0].number] == question["topic"]
        added = []
        for k in range(5):  # an answer was given since the last forward: it is added, nothing rebuilt
            with db.transaction() as session:
                item, (question, answer) = summaries[k]
                session.add(
                    Case(number=f"SKES-2026-9{k:05d}", requester="x@mail.kz", subject="Обращение",
                         body=item["question"], language=item["language"], state="answered", received_at=now,
                         due_at=now, answered_at=now + timedelta(minutes=k + 1), summary_question=question,
                         summary_answer=answer, summary_language=item["language"])
                )  # fmt: skip
            with db.sessions() as session:
                started = time.perf_counter()
                suggestions.similar(session, "", new[k]["question"])
                added.append((time.perf_counter() - started) * 1000)
        db.dispose()
    print(f"{args.n} stored summaries (SQLite), the newest {HORIZON} searched")
    print(f"summarize one answer (redaction, once per answered case): {summarize_ms:.1f} ms")
    print(f"build the index (first forward; again at +20% or hourly): {build_ms:.0f} ms")
    print(f"suggestions for one forward, index built (best of 5): median {statistics.median(times):.1f} ms, "
          f"max {max(times):.1f} ms")  # fmt: skip
    print(f"a forward after a new answer (added, not rebuilt): median {statistics.median(added):.1f} ms")
    print(f"first suggestion of the same topic: {hits} of {len(new)} new questions")


if __name__ == "__main__":
    main()
