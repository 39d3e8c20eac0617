"""Where things are: the repository, and the corpus of real-world mail vendored in tests/data/corpus."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORPUS_ENV = "MAILROBOT_CORPUS"


def corpus_dir() -> Path:
    """The corpus of real-world messages in tests/data/corpus (its README names each source and license);
    $MAILROBOT_CORPUS points at another copy."""
    return Path(os.environ.get(CORPUS_ENV) or REPO / "tests" / "data" / "corpus")
