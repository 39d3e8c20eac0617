"""The month's questions grouped by meaning (4.3.11): one group per question, however it was worded.

A contact center answers a frequent question with the same canned text, personalised; so the answers are
the strongest signal, and the grouping goes in three steps:

1. answers that are one text personalised (most of their word pairs shared) make a group each: a canned
   answer's consumers asked one question, whatever their words;
2. such groups join when they are one question in two languages or two versions of a text: what their
   questions and their answers are about (stems, the glossary's concepts, the anchors such as the web
   address) is alike, and the operators' `#category` does not disagree;
3. every other question (unanswered, or answered in the operator's own words) joins the group its
   question and answer are most like, or, if none is like enough, groups with the other such questions.

Similarity is the cosine of TF-IDF weighted terms; terms found in one text only are left out.  Only the
standard library is used; the work grows with the questions times the groups, not with their square.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from mailrobot.jobs import faq
from mailrobot.jobs.faq_terms import answer_shingles, answer_terms, question_terms

Vector = dict[str, float]

SAME_TEXT = 0.4  # Jaccard of two answers' word pairs from which they are one canned text
JOIN_GROUPS = 0.42  # similarity from which two answer groups are one question
JOIN_ONE = 0.4  # ... from which a question joins a group
JOIN_LEFTOVERS = 0.45  # ... from which two questions without a group make one
MIN_SHARED_CONCEPTS = 2
SAME_CATEGORY, OTHER_CATEGORY = 0.1, -0.25
COHESION = 0.1  # mean likeness of two of an answer group's questions below which its text tells no topic
COHESION_SAMPLE = 30  # questions of an answer group whose likeness is measured
MAX_SEEDS = 500  # answer groups compared with each other: the largest ones


@dataclass(frozen=True)
class Asked:
    """One case as the grouping sees it: its question, the answer given ("" if none), its #category."""

    key: int
    question: str
    answer: str = ""
    category: str = ""
    language: str = ""


@dataclass
class Group:
    """Cases that asked one question; `members` are their keys, the most typical first."""

    members: list[int] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.members)


@dataclass
class _Profile:
    """A group while it forms: its questions', answers' and categories' sums."""

    question: Counter[str] = field(default_factory=Counter)
    answer: Counter[str] = field(default_factory=Counter)
    categories: Counter[str] = field(default_factory=Counter)
    keys: list[int] = field(default_factory=list)
    _sides: tuple[Side, Side] | None = None

    def add(self, question: Vector, answer: Vector | None, category: str, key: int) -> None:
        self.question.update(question)
        if answer:
            self.answer.update(answer)
        if category:
            self.categories[category] += 1
        self.keys.append(key)
        self._sides = None

    def absorb(self, other: _Profile) -> None:
        self.question.update(other.question)
        self.answer.update(other.answer)
        self.categories.update(other.categories)
        self.keys.extend(other.keys)
        self._sides = None

    @property
    def sides(self) -> tuple[Side, Side]:
        if self._sides is None:
            self._sides = (Side.of(self.question), Side.of(self.answer or None))
        return self._sides

    @property
    def size(self) -> int:
        return len(self.keys)

    @property
    def category(self) -> str:
        """The category most of its cases have, if one has more than any other."""
        if not self.categories:
            return ""
        (top, count), *rest = [*self.categories.most_common(2), ("", 0)]
        return top if count > rest[0][1] else ""


def _tfidf(counts: Counter[str], idf: Mapping[str, float]) -> Vector:
    vector = {t: (1 + math.log(n)) * idf[t] for t, n in counts.items() if t in idf}
    norm = math.sqrt(sum(w * w for w in vector.values()))
    return {t: w / norm for t, w in vector.items()} if norm else {}


def _idf(documents: Iterable[Counter[str]]) -> dict[str, float]:
    df: Counter[str] = Counter()
    total = 0
    for terms in documents:
        df.update(terms.keys())
        total += 1
    return {t: math.log((1 + total) / (1 + n)) + 1 for t, n in df.items() if n > 1}


def cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    dot = sum(w * b.get(t, 0.0) for t, w in a.items())
    if not dot:
        return 0.0
    return dot / math.sqrt(sum(w * w for w in a.values()) * sum(w * w for w in b.values()))


def _category_bonus(a: str, b: str) -> float:
    if not a or not b:
        return 0.0
    return SAME_CATEGORY if a == b else OTHER_CATEGORY


def neutral(vector: Mapping[str, float]) -> Vector:
    """The part of a vector that reads the same in every language: concepts and anchors."""
    return {t: w for t, w in vector.items() if t[0] in "~#@"}


@dataclass(frozen=True)
class Side:
    """A question's or an answer's vector (None: no answer), and its language-neutral part, both of unit
    length so that a cosine is a dot product."""

    full: Mapping[str, float] | None
    neutral: Mapping[str, float] | None = None

    @classmethod
    def of(cls, vector: Mapping[str, float] | None) -> Side:
        if not vector:
            return cls(None)
        return cls(_unit(vector), _unit(neutral(vector)))


def _unit(vector: Mapping[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(w * w for w in vector.values()))
    return {t: w / norm for t, w in vector.items()} if norm else {}


def _dot(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(w * b.get(t, 0.0) for t, w in a.items())


def alike(a: Side, b: Side) -> float:
    """The cosine of two sides, in their words or, when higher (two languages), in their concepts; one
    concept in common is no evidence ("электричество" is in many questions)."""
    if not a.full or not b.full:
        return 0.0
    words = _dot(a.full, b.full)
    if not a.neutral or not b.neutral or len(a.neutral.keys() & b.neutral.keys()) < MIN_SHARED_CONCEPTS:
        return words
    return max(words, _dot(a.neutral, b.neutral))


def similarity(
    questions: tuple[Side, Side], answers: tuple[Side, Side], categories: tuple[str, str]
) -> float:
    """How alike two questions (or groups) are: their questions' and answers' likeness, averaged where both
    have an answer, moved up or down by the operators' categories."""
    score = alike(*questions)
    if answers[0].full and answers[1].full:
        score = (score + alike(*answers)) / 2
    return score + _category_bonus(*categories)


def group_questions(asked: Iterable[Asked]) -> list[Group]:
    """Group the month's questions by meaning; the largest groups first, each case in exactly one group."""
    items = list(asked)
    q_terms = [question_terms(faq.question_text("", a.question)) for a in items]
    a_terms = [answer_terms(a.answer) if a.answer else Counter[str]() for a in items]
    q_idf, a_idf = _idf(q_terms), _idf(t for t in a_terms if t)
    questions = [_tfidf(t, q_idf) for t in q_terms]
    answers = [_tfidf(t, a_idf) if t else None for t in a_terms]
    sides = [(Side.of(q), Side.of(a)) for q, a in zip(questions, answers, strict=True)]

    def with_group(i: int, profile: _Profile) -> float:
        question, answer = profile.sides
        categories = (items[i].category, profile.category)
        return similarity((sides[i][0], question), (sides[i][1], answer), categories)

    # 1. One canned text, one group.
    texts = faq.cluster(
        ((i, answer_shingles(a.answer)) for i, a in enumerate(items) if a.answer.strip()), SAME_TEXT
    )
    seeds: list[_Profile] = []
    grouped: set[int] = set()
    for text in texts:
        if text.size < 2 or len(seeds) >= MAX_SEEDS:
            continue
        profile = _Profile()
        for i in sorted(text.members):
            profile.add(questions[i], answers[i], items[i].category, i)
        # "Your request has been registered" answers every question alike: such a text tells no topic.
        if _cohesion([sides[i][0] for i in profile.keys[:COHESION_SAMPLE]]) < COHESION:
            for i in profile.keys:
                answers[i], sides[i] = None, (sides[i][0], Side(None))
            continue
        grouped.update(profile.keys)
        seeds.append(profile)

    # 2. Texts that answer one question join, most alike first.
    groups = _join_seeds(seeds)

    # 3. Everything else joins the group most like it, or groups with its like.
    leftovers: list[int] = []
    joined: dict[int, list[int]] = defaultdict(list)
    for i in range(len(items)):
        if i in grouped:
            continue
        scores = [(with_group(i, profile), -g) for g, profile in enumerate(groups)]
        score, g = max(scores, default=(0.0, 0))
        if score > JOIN_ONE:
            joined[-g].append(i)
        else:
            leftovers.append(i)
    for g, members in joined.items():
        for i in members:
            groups[g].add(questions[i], answers[i], items[i].category, i)
    groups.extend(_group_leftovers(leftovers, questions, answers, sides, items))

    result = [Group(members=[items[i].key for i in _typical_first(p, sides)]) for p in groups]
    return sorted(result, key=lambda g: (-g.size, g.members[0]))


def _cohesion(questions: list[Side]) -> float:
    """How alike a group's questions are, two by two, on average."""
    pairs = [(a, b) for x, a in enumerate(questions) for b in questions[x + 1 :]]
    return sum(alike(a, b) for a, b in pairs) / len(pairs) if pairs else 1.0


def _join_seeds(seeds: list[_Profile]) -> list[_Profile]:
    """Join the most alike pair of answer groups, then again, while the most alike pair is alike enough;
    a joined group is compared anew (its vectors are the sums of its members')."""

    def score(a: int, b: int) -> float:
        (qa, aa), (qb, ab) = seeds[a].sides, seeds[b].sides
        return similarity((qa, qb), (aa, ab), (seeds[a].category, seeds[b].category))

    version = [0] * len(seeds)
    heap = [
        (-s, a, b, 0, 0)
        for a in range(len(seeds))
        for b in range(a + 1, len(seeds))
        if (s := score(a, b)) > JOIN_GROUPS
    ]
    heapq.heapify(heap)
    alive = set(range(len(seeds)))
    while heap:
        _, a, b, version_a, version_b = heapq.heappop(heap)
        if a not in alive or b not in alive or (version[a], version[b]) != (version_a, version_b):
            continue
        seeds[a].absorb(seeds[b])
        alive.discard(b)
        version[a] += 1
        for other in alive - {a}:
            if (s := score(a, other)) > JOIN_GROUPS:
                low, high = min(a, other), max(a, other)
                heapq.heappush(heap, (-s, low, high, version[low], version[high]))
    return [seeds[i] for i in sorted(alive)]


def _group_leftovers(
    indices: list[int],
    questions: list[Vector],
    answers: list[Vector | None],
    sides: list[tuple[Side, Side]],
    items: list[Asked],
) -> list[_Profile]:
    """Questions no answer group took: each joins the first like leader, or leads a group of its own."""
    leaders: list[_Profile] = []
    for i in sorted(indices, key=lambda i: (-len(questions[i]), items[i].question)):
        best, best_score = None, JOIN_LEFTOVERS
        for leader in leaders:
            first = leader.keys[0]
            score = similarity(
                (sides[i][0], sides[first][0]),
                (sides[i][1], sides[first][1]),
                (items[i].category, items[first].category),
            )
            if score > best_score:
                best, best_score = leader, score
        if best is None:
            best = _Profile()
            leaders.append(best)
        best.add(questions[i], answers[i], items[i].category, i)
    return leaders


def _typical_first(profile: _Profile, sides: list[tuple[Side, Side]]) -> list[int]:
    """The group's cases, those most like the whole group first."""
    question, answer = profile.sides

    def closeness(i: int) -> float:
        return alike(sides[i][0], question) + alike(sides[i][1], answer)

    return sorted(profile.keys, key=lambda i: (-closeness(i), i))
