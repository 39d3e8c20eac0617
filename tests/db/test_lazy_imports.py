"""Import only what a command needs (issue 13): Alembic when the schema is behind, prometheus_client with
[metrics] enabled.  Each costs ~10 MB of a daemon that should stay under 80 MB (bench/memory.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mailrobot.service.context import Services
from mailrobot.store.db import head_revision, script_head
from tests.support.config import settings_dict, write_toml
from tests.support.paths import REPO

PROBE = (
    "import sys; from mailrobot.service.context import Services; from mailrobot.service.daemon import Robot;"
    "robot = Robot(Services.load(sys.argv[1])); robot.db.dispose();"
    "print(' '.join(m for m in ('alembic', 'prometheus_client') if m in sys.modules) or 'neither')"
)


def loaded(config: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(config)], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_alembic_only_when_the_schema_is_behind_prometheus_only_with_metrics(tmp_path: Path) -> None:
    config = write_toml(tmp_path / "config.toml", settings_dict(tmp_path))
    assert loaded(config) == "alembic"  # a new database: migrated
    assert loaded(config) == "neither"  # at head: nothing to import
    on = write_toml(tmp_path / "metrics.toml", settings_dict(tmp_path, metrics={"enabled": True}))
    assert loaded(on) == "prometheus_client"


def test_the_head_read_from_the_files_is_alembics(tmp_path: Path) -> None:
    services = Services.load(write_toml(tmp_path / "config.toml", settings_dict(tmp_path)))
    assert script_head() == head_revision(services.db.engine)
    services.db.dispose()
