"""`--config` before the subcommand or after it, or $MAILROBOT_CONFIG: each command reads the same file.

Admins type `mailrobot --config X cases list` as they would with other tools, and `mailrobot cases list
--config X` as the help shows it.  Two configs, one with a registered case and one empty, tell which file a
command actually read.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mailrobot.cli import main
from mailrobot.config import CONFIG_ENV
from tests.support.config import settings_dict, write_toml
from tests.support.factories import consumer_mail
from tests.support.paths import REPO
from tests.support.pipeline import NOW, make_register


@pytest.fixture
def configs(tmp_path: Path) -> tuple[Path, Path]:
    """(with_case, empty): two configs, each with its own database; the first database holds one case."""
    _settings, _db, register = make_register(tmp_path / "a")
    register(NOW, [consumer_mail()])
    with_case = write_toml(tmp_path / "a" / "config.toml", settings_dict(tmp_path / "a"))
    empty = write_toml(tmp_path / "b" / "config.toml", settings_dict(tmp_path / "b"))
    return with_case, empty


def mailrobot(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    environment = {CONFIG_ENV: "", **(env or {})}  # the tester's own $MAILROBOT_CONFIG must not leak in
    return CliRunner().invoke(main, [str(a) for a in args], env=environment)


def listed(result: Result) -> int:
    """How many cases `cases list --json` printed."""
    assert result.exit_code == 0, result.output
    return len(json.loads(result.stdout))


def test_config_before_or_after_the_subcommand_is_the_same(configs: tuple[Path, Path]) -> None:
    with_case, empty = configs
    assert listed(mailrobot("--config", with_case, "cases", "list", "--json")) == 1
    assert listed(mailrobot("cases", "list", "--json", "--config", with_case)) == 1
    assert listed(mailrobot("--config", empty, "cases", "list", "--json")) == 0
    assert listed(mailrobot("cases", "list", "--config", empty, "--json")) == 0


def test_the_environment_variable_yields_to_either_place(configs: tuple[Path, Path]) -> None:
    with_case, empty = configs
    env = {CONFIG_ENV: str(with_case)}
    assert listed(mailrobot("cases", "list", "--json", env=env)) == 1
    assert listed(mailrobot("--config", empty, "cases", "list", "--json", env=env)) == 0
    assert listed(mailrobot("cases", "list", "--json", "--config", empty, env=env)) == 0


def test_two_different_configs_on_one_command_line_are_refused(configs: tuple[Path, Path]) -> None:
    with_case, empty = configs
    refused = mailrobot("--config", with_case, "cases", "list", "--config", empty)
    assert refused.exit_code == 2
    assert "--config given twice" in refused.output and str(empty) in refused.output
    assert listed(mailrobot("--config", with_case, "cases", "list", "--json", "--config", with_case)) == 1


def test_every_command_reads_the_config_given_before_it(configs: tuple[Path, Path], tmp_path: Path) -> None:
    with_case, _empty = configs
    checked = mailrobot("--config", with_case, "check-config")
    assert checked.exit_code == 0 and checked.output.startswith(f"{with_case}: OK"), checked.output
    [case] = json.loads(mailrobot("cases", "list", "--json", "--config", with_case).stdout)
    number = case["number"]
    shown = mailrobot("--config", with_case, "cases", "show", number, "--json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["number"] == number
    assert mailrobot("--config", with_case, "messages", "list").exit_code == 0
    assert mailrobot("--config", with_case, "outbox", "list").exit_code == 0
    missing = mailrobot("--config", tmp_path / "nope.toml", "outbox", "list")
    assert missing.exit_code == 1 and "nope.toml does not exist" in missing.output


def test_calendar_commands_take_the_config_before_them(tmp_path: Path) -> None:
    day_off = settings_dict(tmp_path, calendar={"extra_days_off": ["2026-03-20"]})
    config = write_toml(tmp_path / "config.toml", day_off)
    # Three working days after Thursday 19 March 2026: Friday 20, then (Nauryz on 23-25 March) Thursday 26 and
    # Friday 27; with the config's day off on the 20th, Monday 30.
    assert mailrobot("--config", config, "due-date", "2026-03-19").output.strip() == "2026-03-30"
    assert mailrobot("due-date", "2026-03-19", "--config", config).output.strip() == "2026-03-30"
    no_config = tmp_path / "absent.toml"  # Kazakhstan's calendar as it is
    assert mailrobot("--config", no_config, "due-date", "2026-03-19").output.strip() == "2026-03-27"
    days_off = mailrobot("--config", config, "calendar", "2026").output
    assert "2026-03-20" in days_off and "config: day off" in days_off


def test_the_console_script_and_python_m_take_config_in_both_places(configs: tuple[Path, Path]) -> None:
    with_case, _empty = configs
    script = Path(sys.executable).with_name("mailrobot")  # the venv's console script (pyproject)
    programs = [[sys.executable, "-m", "mailrobot"]] + ([[str(script)]] if script.exists() else [])
    for program in programs:
        for args in (
            ["--config", str(with_case), "cases", "list"],
            ["cases", "list", "--config", str(with_case)],
        ):
            done = subprocess.run(
                [*program, *args],
                capture_output=True,
                text=True,
                timeout=120,
                cwd=REPO,
                env={"PATH": "/usr/bin:/bin"},
            )
            assert done.returncode == 0, done.stderr
            assert done.stderr.strip() == "1 case(s)"
