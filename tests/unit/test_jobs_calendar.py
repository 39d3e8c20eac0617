"""`mailrobot calendar YEAR`: the working-day calendar in force, as an admin checks it against the decree."""

from __future__ import annotations

from pathlib import Path

import tomli_w
from click.testing import CliRunner

from mailrobot.cli import main
from tests.support.config import settings_dict


def calendar(*args: str) -> list[str]:
    result = CliRunner().invoke(main, ["calendar", *args])
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def test_calendar_2026_lists_holidays_and_observed_days(tmp_path: Path) -> None:
    lines = calendar("2026", "--config", str(tmp_path / "absent.toml"))  # no config: Kazakhstan's defaults
    by_day = {line[:10]: line for line in lines}
    assert "holiday" in by_day["2026-01-01"] and "Thu" in by_day["2026-01-01"]
    assert "holiday" in by_day["2026-03-23"]  # Nauryz
    assert "observed" in by_day["2026-03-24"] and "observed" in by_day["2026-03-25"]
    assert "holiday" in by_day["2026-12-16"]  # Independence Day
    assert "2026-03-21" not in by_day  # Nauryz on a Saturday changes nothing by itself: not listed
    assert lines == sorted(lines)


def test_calendar_shows_the_config_overrides(tmp_path: Path) -> None:
    data = settings_dict(
        tmp_path, calendar={"extra_days_off": ["2026-01-05"], "extra_working_days": ["2026-01-03"]}
    )
    config = tmp_path / "config.toml"
    config.write_text(tomli_w.dumps(data), encoding="utf-8")
    by_day = {line[:10]: line for line in calendar("2026", "--config", str(config))}
    assert "config: day off" in by_day["2026-01-05"] and "Mon" in by_day["2026-01-05"]
    assert "config: working day" in by_day["2026-01-03"] and "Sat" in by_day["2026-01-03"]


def test_calendar_of_the_next_year_crosses_new_year(tmp_path: Path) -> None:
    by_day = {line[:10]: line for line in calendar("2027", "--config", str(tmp_path / "absent.toml"))}
    assert "holiday" in by_day["2027-01-01"]
    assert "observed" in by_day["2027-01-04"]  # 2 January 2027 is a Saturday: moved to Monday
