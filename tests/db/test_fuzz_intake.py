"""Drill 7 as a test: mutated corpus mail through the whole intake; every input ends as a case, ignored or
quarantined, and no exception escapes parse, classify or decide (bench/drills/fuzz.py runs thousands)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from tests.support.config import make_settings
from tests.support.fuzz import Judge, corpus, mutations
from tests.support.pipeline import NOW, new_intake

MESSAGES = corpus(max_bytes=64 * 1024)


@pytest.fixture(scope="module")
def judge(tmp_path_factory: pytest.TempPathFactory) -> Judge:
    tmp = tmp_path_factory.mktemp("fuzz")
    return Judge(new_intake(make_settings(tmp, robot={"notices_per_sender_per_day": 10**6}), lambda: NOW))


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(raw=mutations(MESSAGES))
def test_mutated_mail_ends_as_a_case_ignored_or_quarantined(judge: Judge, raw: bytes) -> None:
    assert judge.problems(raw) == []


def test_the_corpus_itself_is_there() -> None:
    assert len(MESSAGES) > 30, Path(__file__)
