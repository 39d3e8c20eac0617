from pathlib import Path

import pytest

from mailrobot.config import ConfigError, load_settings, parse_settings
from tests.support.config import settings_dict
from tests.support.paths import REPO


def test_example_config_is_valid_once_secrets_are_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILROBOT_IMAP_PASSWORD", "imap-pw")
    monkeypatch.setenv("MAILROBOT_SMTP_PASSWORD", "smtp-pw")
    monkeypatch.setenv("MAILROBOT_SECRET", "s" * 32)
    settings = load_settings(REPO / "config.example.toml")
    assert settings.imap.password == "imap-pw"
    assert settings.robot.secret == "s" * 32
    assert settings.robot.case_number_format == "SKES-{year}-{seq:06d}"


def test_errors_name_every_bad_key(tmp_path: Path) -> None:
    data = settings_dict(tmp_path)
    data["imap"]["port"] = "not-a-port"
    data["imap"]["colour"] = "blue"
    del data["smtp"]["from_address"]
    data["robot"]["case_number_format"] = "SKES-{year}"
    with pytest.raises(ConfigError) as err:
        parse_settings(data)
    text = str(err.value)
    assert "imap.port" in text
    assert "imap.colour: unknown key" in text
    assert "smtp.from_address: required key is missing" in text
    assert "robot.case_number_format" in text and "{seq}" in text


def test_secret_from_file_and_missing_secret(tmp_path: Path) -> None:
    secret_file = tmp_path / "imap-pw"
    secret_file.write_text("from-file\n")
    data = settings_dict(tmp_path)
    del data["imap"]["password"]
    data["imap"]["password_file"] = str(secret_file)
    assert parse_settings(data).imap.password == "from-file"
    data["imap"]["password_file"] = str(tmp_path / "absent")
    with pytest.raises(ConfigError, match=r"imap: .*cannot read imap\.password_file"):
        parse_settings(data)
    data = settings_dict(tmp_path)
    data["robot"]["secret"] = "short"
    with pytest.raises(ConfigError, match=r"robot\.secret"):
        parse_settings(data)


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[imap\nhost = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad)


def test_previous_secrets_come_from_the_list_and_a_file(tmp_path: Path) -> None:
    keys = tmp_path / "previous-secrets"
    keys.write_text("an-old-key-0123456789\n\nan-older-key-0123456789\n")
    data = settings_dict(tmp_path)
    data["robot"] |= {"previous_secrets": ["a-listed-key-0123456789"], "previous_secrets_file": str(keys)}
    robot = parse_settings(data).robot
    assert robot.keys == (
        robot.secret,
        "a-listed-key-0123456789",
        "an-old-key-0123456789",
        "an-older-key-0123456789",
    )
    data["robot"]["previous_secrets"] = ["short"]
    with pytest.raises(ConfigError, match=r"robot\.previous_secrets"):
        parse_settings(data)


def test_smtp_sender_is_a_process_or_threads_and_a_typo_names_the_key(tmp_path: Path) -> None:
    data = settings_dict(tmp_path)
    assert parse_settings(data).smtp.sender == "process"
    data["smtp"]["sender"] = "thread"
    assert parse_settings(data).smtp.sender == "thread"
    data["smtp"]["sender"] = "threads"
    with pytest.raises(ConfigError, match=r"smtp\.sender"):
        parse_settings(data)
