"""The things every command needs, loaded once: the settings, the database, the calendar and the renderer.

The daemon, the CLI and the jobs start from one `Services`; nothing else builds a Database, a WorkCalendar or
a Renderer out of the config.  The database is opened (and migrated, when asked) on first use, so that a
command that only needs the calendar or the settings never touches it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from mailrobot.config import ConfigError, Settings, load_settings
from mailrobot.mail.render import Renderer
from mailrobot.regulation.workdays import WorkCalendar, check_timezone
from mailrobot.store.db import Database

if TYPE_CHECKING:
    from mailrobot.jobs.tasks import Jobs
    from mailrobot.service.intake import Intake


@dataclass(eq=False)
class Services:
    """One config and what it describes, each built once, on first use.

    `config_path` is where the settings were read from (None when they were built in memory): SIGHUP reads
    it again.  `upgrade` migrates the database when it is first opened; `log_sql` honours [database] echo,
    which only the daemon does (a command's stdout is its output, not a log).
    """

    settings: Settings
    config_path: Path | None = None
    upgrade: bool = True
    log_sql: bool = False
    _db: Database | None = field(default=None, repr=False)

    @classmethod
    def load(cls, config_path: str | Path, *, upgrade: bool = True, log_sql: bool = False) -> Services:
        """The services of the config file at `config_path`; raises ConfigError naming what is wrong."""
        return cls(load_settings(config_path), Path(config_path), upgrade=upgrade, log_sql=log_sql)

    @property
    def db(self) -> Database:
        """The database of [database] url, migrated to the latest schema first when `upgrade` is set."""
        if self._db is None:
            database = self.settings.database
            db = Database(database.url, database.echo and self.log_sql)
            if self.upgrade:
                db.upgrade()
            self._db = db
        return self._db

    @cached_property
    def calendar(self) -> WorkCalendar:
        """The working-day calendar of [robot] and [calendar]."""
        return WorkCalendar.from_settings(self.settings)

    @cached_property
    def renderer(self) -> Renderer:
        """The mail templates of [robot] templates_dir, in its default language and time zone."""
        return Renderer.from_settings(self.settings)

    def intake(self) -> Intake:
        """The intake pipeline over these services (the daemon's, and `mailrobot routes test`'s)."""
        from mailrobot.service.intake import Intake  # loads the mail parser: only the commands that read mail

        return Intake(self.db, self.settings, self.calendar, self.renderer)

    def jobs(self) -> Jobs:
        """The scheduled jobs over these services (what the scheduler and `mailrobot jobs run` call)."""
        from mailrobot.jobs.tasks import Jobs  # loads the mail parser: only the commands that run jobs pay

        return Jobs(self.db, self.settings, self.calendar, self.renderer)

    def close(self) -> None:
        """Close the database's connections, if it was opened."""
        if self._db is not None:
            self._db.dispose()

    def reloaded(self) -> Services:
        """The config file read again (SIGHUP), on the same open database, checked as far as it can be
        without using it: the time zone database knows the zone, every template renders.

        Raises ConfigError (or StaleTimezone) with the reason when the new config cannot replace this one,
        another [database] included: that needs a restart.
        """
        if self.config_path is None:
            raise ConfigError("the settings were not read from a config file: there is nothing to reload")
        settings = load_settings(self.config_path)
        if settings.database != self.settings.database:
            raise ConfigError("[database] changed: another database needs a restart (systemctl restart)")
        check_timezone(settings.robot.timezone)
        fresh = Services(settings, self.config_path, self.upgrade, self.log_sql, _db=self._db)
        problems = fresh.renderer.check_templates()
        if problems:
            raise ConfigError("templates do not render: " + "; ".join(problems))
        return fresh
