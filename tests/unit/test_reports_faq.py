"""Grouping near-identical questions: stems, the question's own words, and the clustering itself."""

from __future__ import annotations

import random

import pytest

from mailrobot.jobs.faq import answer_text, cluster, jaccard, question_text, stem, tokens


@pytest.mark.parametrize(
    ("forms", "language"),
    [
        (("счётчик", "счетчика", "счётчику", "счетчиком"), "ru"),
        (("свет", "света", "свету"), "ru"),
        (("квитанция", "квитанции", "квитанцию"), "ru"),
        (("төлем", "төлемді", "төлемнің"), "kk"),
        (("payment", "payments"), "en"),
    ],
)
def test_forms_of_a_word_share_a_stem(forms: tuple[str, ...], language: str) -> None:
    assert len({stem(f) for f in forms}) == 1, [stem(f) for f in forms]


def test_tokens_drop_filler_names_and_contacts() -> None:
    text = "Здравствуйте! Меня зовут Иван Петров, пишу с ivan@mail.ru. Нет света третий день на улице Абая."
    assert tokens(text) == {"пиш", "свет", "трет", "улиц"}
    assert tokens("Сәлеметсіз бе! Менің атым Айгүл. Төлем түспеді.") == {"төлем", "түспе"}
    assert tokens("Здравствуйте!") == frozenset()


def test_question_text_is_the_question() -> None:
    body = (
        "Здравствуйте! Добрый день.\n\nВ квитанции за октябрь неверные показания. Прошу исправить.\n\n"
        "С уважением,\nИван\n\n> Исходное сообщение"
    )
    assert question_text("Квитанция", body) == "В квитанции за октябрь неверные показания. Прошу исправить."
    assert question_text("Нет света", "Здравствуйте!") == "Нет света"
    long = " ".join(["Очень длинное предложение о счётчике."] * 30)
    cut = question_text("", long, limit=120)
    assert len(cut) <= 120 and cut.endswith(".")


def test_answer_text_drops_greeting_and_signature() -> None:
    answer = (
        "Здравствуйте, Айгүл!\n\nПерерасчёт выполнен.\nСумма уменьшена.\n\nС уважением,\nоператор Иванова А."
    )
    assert answer_text(answer) == "Перерасчёт выполнен.\nСумма уменьшена."
    assert answer_text("Құрметті тұтынушы!\nТөлем түсті.\nҚұрметпен,\nАйгүл") == "Төлем түсті."


def test_near_identical_questions_form_one_cluster() -> None:
    questions = [
        "Нет света третий день",
        "Здравствуйте, света нет уже третий день!",
        "Третий день нет света, когда дадут?",
        "В квитанции неверные показания счётчика",
        "Неверные показания счетчика в квитанции за октябрь",
        "Қараша айындағы төлем есепшотқа түспеді",
        "Қараша айындағы төлем түспеді",
        "Как передать показания через Kaspi?",
    ]
    clusters = cluster([(i, tokens(q)) for i, q in enumerate(questions)], 0.5)
    assert sorted(sorted(c.members) for c in clusters) == [[0, 1, 2], [3, 4], [5, 6], [7]]
    assert clusters[0].members == [0, 1, 2]  # the largest first


def test_the_most_frequent_wording_leads() -> None:
    items = [(1, frozenset("ab")), (2, frozenset("abc")), (3, frozenset("abc")), (4, frozenset("abcd"))]
    [only] = cluster(items, 0.5)
    assert only.leader == frozenset("abc") and only.members[:2] == [2, 3]


def test_threshold_and_empty_items() -> None:
    items = [(1, frozenset("abcd")), (2, frozenset("abxy")), (3, frozenset())]
    assert len(cluster(items, 0.5)) == 2  # Jaccard 2/6 < 0.5
    assert len(cluster(items, 0.3)) == 1
    assert jaccard(frozenset("ab"), frozenset("bc")) == pytest.approx(1 / 3)


def test_members_are_similar_to_their_leader_and_leaders_rarely_to_each_other() -> None:
    rng = random.Random(7)
    vocabulary = [f"w{i}" for i in range(60)]
    items = [
        (i, frozenset(rng.sample(vocabulary[: rng.randint(8, 60)], rng.randint(2, 7)))) for i in range(400)
    ]
    by_key = dict(items)
    for threshold in (0.3, 0.5, 0.8):
        clusters = cluster(items, threshold)
        assert sorted(k for c in clusters for k in c.members) == list(range(400))
        for c in clusters:
            assert all(jaccard(by_key[key], c.leader) >= threshold for key in c.members)
        # Candidates come from MinHash buckets: a similar leader may be missed, but seldom.
        leaders = [c.leader for c in clusters]
        pairs = [(a, b) for i, a in enumerate(leaders) for b in leaders[i + 1 :]]
        missed = sum(1 for a, b in pairs if jaccard(a, b) >= threshold)
        assert missed <= 0.01 * len(pairs) + 1


def test_clustering_does_not_depend_on_the_order_of_items() -> None:
    items = [
        (i, tokens(q)) for i, q in enumerate(["нет света", "света нет дома", "дома нет света", "счётчик"] * 3)
    ]
    shuffled = items[:]
    random.Random(3).shuffle(shuffled)
    assert [(c.leader, sorted(c.members)) for c in cluster(items)] == [
        (c.leader, sorted(c.members)) for c in cluster(shuffled)
    ]


def test_clustering_a_big_month_keeps_every_question_once() -> None:
    """20,000 questions on 40 topics, each worded with a few of its words and common ones (Zipf-like): every
    question lands in exactly one group, the largest first.  (How fast: bench/jobs.py, not a test.)"""
    rng = random.Random(1)
    common = [f"общ{i}" for i in range(300)]
    topics = [[f"тема{t}слово{i}" for i in range(12)] for t in range(40)]
    items = []
    for i in range(20_000):
        topic = topics[min(int(rng.paretovariate(1.2)) - 1, 39)]
        words = rng.sample(topic, rng.randint(3, 6)) + rng.sample(
            common[: rng.randint(5, 300)], rng.randint(0, 4)
        )
        items.append((i, frozenset(words)))
    clusters = cluster(items, 0.5)
    members = [m for c in clusters for m in c.members]
    assert sorted(members) == list(range(20_000))
    assert clusters[0].size > clusters[-1].size
