"""The confirmations of staff commands are texts in templates/<lang>/command_results.toml: every key the
regulation can answer with exists in every language, and the admin's copy wins."""

from __future__ import annotations

import re
from pathlib import Path

import mailrobot.regulation.commands as commands
import mailrobot.regulation.decide as decide
from mailrobot.mail.render import Renderer

LANGUAGES = ("ru", "kk", "en")


def _keys_used() -> set[str]:
    source = Path(commands.__file__).read_text(encoding="utf-8") + Path(decide.__file__).read_text("utf-8")
    return set(re.findall(r"reply\(\s*(?:True|False|ok|\w+)\s*,\s*\"([a-z_]+)\"", source))


def test_every_confirmation_exists_in_every_language() -> None:
    renderer = Renderer()
    used = _keys_used()
    assert len(used) >= 10
    for language in LANGUAGES:
        missing = used - set(renderer.phrases("command_results", language))
        assert not missing, f"{language}/command_results.toml lacks {sorted(missing)}"
    assert set(renderer.phrases("command_results", "kk")) == set(renderer.phrases("command_results", "ru"))


def test_an_admins_copy_wins_and_an_unknown_language_falls_back(tmp_path: Path) -> None:
    (tmp_path / "ru").mkdir()
    (tmp_path / "ru" / "command_results.toml").write_text('noted = "Записано, спасибо."\n', encoding="utf-8")
    renderer = Renderer(tmp_path)
    ours = renderer.phrases("command_results", "ru")
    assert ours["noted"] == "Записано, спасибо."
    assert set(ours) == set(Renderer().phrases("command_results", "ru"))  # the other keys stay shipped
    assert renderer.phrases("command_results", "de") == renderer.phrases("command_results", "ru")
