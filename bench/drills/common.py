"""What every drill command shares: its options, the servers, a database (SQLite, or PostgreSQL on a private
cluster with --postgresql), the verdict line at the end and the exit status (0 only on PASS)."""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.support.drills import Verdict, World  # noqa: E402
from tests.support.pg import PostgresServer  # noqa: E402


def options(doc: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgresql", action="store_true", help="on a private PostgreSQL (default SQLite)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, database)")
    return parser


@contextlib.contextmanager
def world(args: argparse.Namespace) -> Iterator[World]:
    """The drill's servers in a temp dir; with --postgresql, a cluster of its own (world.pg)."""
    workdir = Path(tempfile.mkdtemp(prefix="mailrobot-drill-"))
    server = PostgresServer() if args.postgresql else None
    try:
        url = server.create_database() if server else f"sqlite:///{workdir}/mailrobot.db"
        with World(workdir, url) as w:
            w.pg = server  # type: ignore[attr-defined]
            yield w
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            print(f"work directory kept: {workdir}")
        else:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)


def finish(verdict: Verdict) -> None:
    print(verdict.line())
    sys.exit(0 if verdict.passed else 1)


def run(
    doc: str | None, add: Callable[[argparse.ArgumentParser], None], drill: Callable[..., Verdict]
) -> None:
    """Parse the options, run `drill(world, args)` and end with its verdict."""
    parser = options(doc)
    add(parser)
    args = parser.parse_args()
    with world(args) as w:
        verdict = drill(w, args)
    finish(verdict)
