"""The one-country holiday loader: the holidays of `holidays.country_holidays`, not 250 other countries."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import holidays
import pytest

from mailrobot.regulation.holiday_source import country_class
from mailrobot.regulation.workdays import ORIGIN_HOLIDAY, ORIGIN_OBSERVED, ORIGIN_TRANSFER, WorkCalendar

YEARS = range(2024, 2029)


@pytest.mark.parametrize("observed", [True, False])
def test_the_same_holidays_as_country_holidays(observed: bool) -> None:
    ours = country_class("KZ")(years=YEARS, observed=observed)
    theirs = holidays.country_holidays("KZ", years=YEARS, observed=observed)
    assert dict(ours) == dict(theirs)
    assert ours.weekend_workdays == theirs.weekend_workdays
    assert ours.weekend_workdays  # the decreed transfers are there to compare (e.g. Sunday 5 January 2025)


def test_the_calendar_has_the_days_off_country_holidays_gives() -> None:
    cal = WorkCalendar()
    for year in YEARS:
        table = holidays.country_holidays("KZ", years=(year - 1, year, year + 1))
        plain = holidays.country_holidays("KZ", years=year, observed=False)
        expected = {(d, ORIGIN_HOLIDAY if d in plain else ORIGIN_OBSERVED) for d in table if d.year == year}
        expected = {(d, origin) for d, origin in expected if d.weekday() < 5}
        expected |= {(d, ORIGIN_TRANSFER) for d in table.weekend_workdays if d.year == year}
        assert {(d, origin) for d, _name, origin in cal.days_off(year)} == expected, year
    # Substitute days among them: Nauryz 2026 on a Saturday moves to Wednesday 25 March.
    assert (date(2026, 3, 25), ORIGIN_OBSERVED) in {(d, o) for d, _n, o in cal.days_off(2026)}


@pytest.mark.parametrize("name", ["KZ", "KAZ", "Kazakhstan"])
def test_every_name_country_holidays_accepts(name: str) -> None:
    assert dict(country_class(name)(years=2026)) == dict(holidays.country_holidays("KZ", years=2026))


def test_another_country_and_an_unknown_one() -> None:
    assert dict(country_class("RU")(years=2026)) == dict(holidays.country_holidays("RU", years=2026))
    with pytest.raises(ValueError, match="'XX'"):
        country_class("XX")


def test_the_other_countries_are_not_imported() -> None:
    # In a process of its own: this one has imported them through country_holidays above.
    code = (
        "import sys; from datetime import date; from mailrobot.regulation.workdays import WorkCalendar;"
        "cal = WorkCalendar(); assert not cal.is_working_day(date(2026, 3, 25));"
        "print(sorted(m for m in sys.modules if m.startswith('holidays.countries')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
