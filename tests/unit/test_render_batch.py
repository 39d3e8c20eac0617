"""Renderer.batch (issue 13, speed): inside a batch each template is looked up once; outside, an admin's
edit of a template is seen at once (auto_reload), as before."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from jinja2 import TemplateNotFound

from mailrobot.mail.render import Renderer


def _edit(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    stat = path.stat()  # a later mtime, as an edit a second later would leave
    os.utime(path, (stat.st_atime + 5, stat.st_mtime + 5))


def test_a_batch_reads_each_template_once_and_the_next_one_sees_an_edit(tmp_path: Path) -> None:
    (tmp_path / "ru").mkdir()
    _edit(tmp_path / "ru" / "custom.subject.j2", "Тема {{ n }}")
    _edit(tmp_path / "ru" / "custom.txt.j2", "Первый текст {{ n }}")
    renderer = Renderer(tmp_path)
    with renderer.batch():
        first = renderer.render("custom", "ru", {"n": 1})
        _edit(tmp_path / "ru" / "custom.txt.j2", "Второй текст {{ n }}")
        with renderer.batch():  # nested: the same batch
            second = renderer.render("custom", "ru", {"n": 2})
        third = renderer.render("custom", "ru", {"n": 3})
    assert (first.subject, first.text, first.html) == ("Тема 1", "Первый текст 1\n", None)
    assert [second.text, third.text] == ["Первый текст 2\n", "Первый текст 3\n"]
    assert renderer.render("custom", "ru", {"n": 4}).text == "Второй текст 4\n"  # after the batch
    _edit(tmp_path / "ru" / "custom.html.j2", "<p>{{ n }}</p>")
    assert renderer.render("custom", "ru", {"n": 5}).html == "<p>5</p>\n"


def test_a_batch_renders_what_render_does_and_still_refuses_a_missing_mail(tmp_path: Path) -> None:
    renderer = Renderer()
    context = {
        "case_number": "SKES-2026-000001",
        "received_at": datetime(2026, 3, 20, 6, tzinfo=UTC),
        "due_at": datetime(2026, 3, 30, 13, tzinfo=UTC),
        "requester_name": "Айгуль",
        "subject": "Показания <счётчика>",
        "company_name": "ТОО «Севказэнергосбыт»",
        "answer_days": 3,
    }
    alone = [renderer.render("notice", lang, context) for lang in ("ru", "kk", "en", "de")]
    with renderer.batch():
        batched = [renderer.render("notice", lang, context) for lang in ("ru", "kk", "en", "de")]
        with pytest.raises(TemplateNotFound):
            renderer.render("no_such_mail", "ru", {})
    assert batched == alone and alone[0].html and "&lt;счётчика&gt;" in alone[0].html
