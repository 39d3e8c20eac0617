"""SIGHUP: the config, templates and rules are read again; a bad new config is refused, the old one stays."""

from __future__ import annotations

import logging
import signal
from pathlib import Path

import pytest

from mailrobot.service.context import Services
from mailrobot.service.daemon import Robot
from tests.support.config import settings_dict, write_toml
from tests.support.factories import consumer_mail
from tests.support.site import Site
from tests.support.systemd import is_ready

RELOADED_SUBJECT = "[{{ case_number }}] Обращение принято (после перезагрузки)"


def _templates(tmp_path: Path, subject: str) -> Path:
    directory = tmp_path / "templates"
    (directory / "ru").mkdir(parents=True, exist_ok=True)
    (directory / "ru" / "notice.subject.j2").write_text(subject + "\n", encoding="utf-8")
    return directory


def test_sighup_applies_a_good_config_and_refuses_a_broken_one(site: Site, tmp_path: Path) -> None:
    notify, smtp_sink = site.notify, site.smtp_sink
    config = site.write_config()
    daemon = site.start_daemon(config)
    ready_at, _ = notify.wait_for(is_ready, timeout=60)

    # A good new config: other sender name, an admin's template, one more routing-relevant setting.
    site.write_config(
        smtp={"from_name": "Контакт-центр (новое имя)"},
        robot={"templates_dir": str(_templates(tmp_path, RELOADED_SUBJECT))},
    )
    daemon.signal(signal.SIGHUP)
    reloading_at, _ = notify.wait_for(lambda f: f.get("RELOADING") == "1", timeout=30, after=ready_at)
    notify.wait_for(lambda f: is_ready(f) and f.get("STATUS") == "config reloaded", 30, after=reloading_at)

    site.append(consumer_mail("aigerim@mail.ru", "Счёт", message_id="<r1@mail.ru>"))
    [first] = smtp_sink.wait_for(1, timeout=30)
    assert "Обращение принято (после перезагрузки)" in first.subject
    assert "Контакт-центр (новое имя)" in str(first.message["From"])

    # A broken one: refused with the reason in the log; the running config (the reloaded one) stays.
    good_text = config.read_text(encoding="utf-8")
    config.write_text(good_text.replace("[imap]", '[imap]\nport_number = "993"'), encoding="utf-8")
    daemon.signal(signal.SIGHUP)
    _at, refused = notify.wait_for(lambda f: f.get("STATUS", "").startswith("reload refused"), timeout=30)
    assert is_ready(refused)
    assert "refused, the running config stays" in daemon.log()
    assert "imap.port_number: unknown key" in daemon.log()

    site.append(consumer_mail("erzhan@mail.ru", "Свет", message_id="<r2@mail.ru>"))
    second = smtp_sink.wait_for(2, timeout=30)[1]
    assert "Обращение принято (после перезагрузки)" in second.subject
    assert "Контакт-центр (новое имя)" in str(second.message["From"])

    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0


@pytest.fixture
def robot(tmp_path: Path) -> Robot:
    """A robot in this process (no server is contacted: reload only reads and checks the config)."""
    config = write_toml(tmp_path / "config.toml", settings_dict(tmp_path))
    return Robot(Services.load(config))


def test_reload_refuses_templates_that_do_not_render(
    robot: Robot, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = _templates(tmp_path, "[{{ case_number }}] {{ no_such_variable }}")
    write_toml(tmp_path / "config.toml", settings_dict(tmp_path, robot={"templates_dir": str(broken)}))
    before = robot.settings
    with caplog.at_level(logging.ERROR, logger="mailrobot.service.daemon"):
        assert robot.reload() is False
    assert robot.settings is before
    assert "templates do not render" in caplog.text and "ru/notice" in caplog.text


def test_reload_refuses_another_database_and_applies_rules(
    robot: Robot, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = settings_dict(tmp_path, database={"url": f"sqlite:///{tmp_path}/other.db"})
    write_toml(tmp_path / "config.toml", data)
    with caplog.at_level(logging.ERROR, logger="mailrobot.service.daemon"):
        assert robot.reload() is False
    assert "[database] changed" in caplog.text

    route = {"name": "billing", "group": "billing", "keywords": ["счёт"]}
    group = {"organization": "skes", "members": ["billing@example.kz"]}
    data = settings_dict(tmp_path)
    data |= {"groups": {"operators": group, "billing": group}, "routes": [route]}
    write_toml(tmp_path / "config.toml", data)
    assert robot.reload() is False  # True only when [imap] changed: nothing to reconnect here
    assert [r.name for r in robot.settings.routes] == ["billing"]
    assert robot.intake.settings is robot.settings
