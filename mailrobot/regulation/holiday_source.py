"""One country's holiday class from the `holidays` package, without importing the other ~250 countries.

`holidays.country_holidays("KZ")` imports `holidays.countries.kazakhstan`, and Python runs the package's
`holidays/countries/__init__.py` first, which imports every country module: 7–8 MB of a daemon that
needs one.  The country's module imports only the package's shared parts (calendars, groups, base
classes), never `holidays.countries`, so it is executed from its file under a private module name.
"""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path

import holidays
from holidays.holiday_base import HolidayBase
from holidays.registry import COUNTRIES

# Private: a later `import holidays.countries.kazakhstan` elsewhere gets the package's own module,
# complete with its parent, and ours does not stand in its way.
_PREFIX = "_mailrobot_holidays_"


def country_class(country: str) -> type[HolidayBase]:
    """The holiday class for `country`, any code or name `holidays.country_holidays` accepts ("KZ",
    "KAZ", "Kazakhstan"); ValueError if the package has no such country."""
    for module, names in COUNTRIES.items():
        if country in names:
            entity: type[HolidayBase] = getattr(_load(module), country)
            return entity
    raise ValueError(f"the holidays package has no calendar for country {country!r}")


@cache
def _load(module: str) -> object:
    name = _PREFIX + module
    path = Path(holidays.__file__).parent / "countries" / f"{module}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"the holidays package has no module for {module!r} at {path}")
    loaded = importlib.util.module_from_spec(spec)
    # Registered before running, as import does: the classes' __module__ must name a findable module.
    sys.modules[name] = loaded
    try:
        spec.loader.exec_module(loaded)
    except BaseException:
        del sys.modules[name]
        raise
    return loaded
