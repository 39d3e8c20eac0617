"""What was answered before (issue 12 item 8) on the test's database: summaries stored when a case is
answered are found for a new question; later answers join the index without rebuilding it."""

from __future__ import annotations

from pathlib import Path

from mailrobot.jobs.suggestions import Suggestions, summarize_case
from mailrobot.store.models import Case
from tests.support.jobs_world import World, add_case, at, due

KASPI = "Как оплатить через Kaspi? Не нахожу вашу компанию в приложении."
KASPI_ANSWER = "Здравствуйте, Марат! В Kaspi выберите Платежи — Коммунальные услуги — Севказэнергосбыт."
TARIFF = "Почему счёт за свет такой большой в этом месяце?"
TARIFF_ANSWER = "Здравствуйте! Начисление выросло из-за перехода на зимний тариф."


def answered(world: World, number: str, question: str, answer: str, minute: int) -> None:
    with world.db.transaction() as session:
        case = add_case(session, number, due(2026, 11, 20), state="answered", body=question)
        case.requester_name = "Кенжебаев Марат"
        case.answered_at = at(2026, 11, 18, 10, minute)
        case.summary_question, case.summary_answer = summarize_case(case, answer)
        case.summary_language = "ru"


def test_suggestions_from_stored_summaries_and_later_answers(tmp_path: Path) -> None:
    world = World(tmp_path)
    answered(world, "SKES-2026-000001", TARIFF, TARIFF_ANSWER, 1)
    suggestions = Suggestions()
    with world.db.sessions() as session:
        assert suggestions.similar(session, "", "Как заплатить через Kaspi?") == []
        index = suggestions._index
    answered(world, "SKES-2026-000002", KASPI, KASPI_ANSWER, 2)
    with world.db.sessions() as session:
        found = suggestions.similar(session, "", "Как заплатить за свет через Kaspi?")[0]
        assert suggestions._index is index  # added, not rebuilt
        assert found.number == "SKES-2026-000002" and "Kaspi" in found.answer
        assert "Марат" not in found.answer and "Кенжебаев" not in found.question
        mine = session.get(Case, 2)
        assert mine is not None and suggestions(session, mine) == []  # a case is not its own suggestion
