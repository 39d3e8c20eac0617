"""`mailrobot routes test` names the rule the daemon routes with, because it runs the daemon's decision:
a web-form mail is routed as its consumer's, a reply is no new case at all."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from mailrobot.cli import main
from mailrobot.store.models import Event
from tests.support.config import settings_dict, write_toml
from tests.support.factories import mail
from tests.support.routing_world import OP1, World, contact_center, make_routing_settings

FORM = "form@skes.example.kz"
GOVERNMENT = {"name": "government", "group": "operators", "senders": ["@gov.kz"]}


def _config(tmp_path: Path) -> dict:
    data = settings_dict(tmp_path)
    data.update(contact_center())
    data["routes"] = [GOVERNMENT, *data["routes"]]
    data["routing"]["webform_senders"] = [FORM]
    return data


def _routes_test(tmp_path: Path, raw: bytes) -> str:
    config = write_toml(tmp_path / "config.toml", _config(tmp_path))
    eml = tmp_path / "mail.eml"
    eml.write_bytes(raw)
    result = CliRunner().invoke(main, ["routes", "test", str(eml), "--config", str(config)])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_web_form_mail_is_explained_as_the_daemon_routes_it(tmp_path: Path) -> None:
    form = mail(FORM, "Имя: Акимат района\nEmail: akimat@gov.kz\nСообщение: просим сверку расчётов\n")
    output = _routes_test(tmp_path, form)
    assert "result:     rule government -> group operators" in output
    assert "from:       akimat@gov.kz" in output

    # The daemon, on the same mail and config, routes it by the same rule.
    data = _config(tmp_path)
    world = World(make_routing_settings(tmp_path, routes=data["routes"], routing=data["routing"]))
    world.deliver(form)
    with world.db.sessions() as session:
        routed = session.scalars(select(Event.detail).where(Event.kind == "routed")).all()
    assert routed and "government" in routed[0]


def test_a_staff_reply_is_no_new_case(tmp_path: Path) -> None:
    output = _routes_test(tmp_path, mail(OP1, "Спасибо", subject="Re: вопрос"))
    assert "no new case" in output and "verdict:" in output
