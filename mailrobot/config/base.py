"""What every section of the config shares: the error that names the key, and how secrets are read."""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict


class ConfigError(Exception):
    """The configuration is unusable; the message names the key and what to do."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def read_secret(value: str | None, file: str | None, env: str, key: str) -> str | None:
    """A secret comes from the env var first, then a file, then the TOML value."""
    if os.environ.get(env):
        return os.environ[env]
    if file:
        path = Path(os.path.expandvars(file))
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            # expandvars leaves unset variables as they are.  Under systemd, LoadCredential= sets
            # $CREDENTIALS_DIRECTORY; a check run by hand has to set it.
            unset = re.search(r"\$\{?(\w+)", str(path))
            hint = ""
            if unset and unset.group(1) == "CREDENTIALS_DIRECTORY":
                hint = (
                    " (CREDENTIALS_DIRECTORY is not set: systemd sets it for the service; by hand, set it "
                    "to where the files are, e.g. CREDENTIALS_DIRECTORY=/etc/mailrobot/credentials)"
                )
            elif unset:
                hint = f" (the environment variable {unset.group(1)} is not set)"
            raise ValueError(f"cannot read {key}_file {path}: {exc.strerror}{hint}") from exc
    return value
