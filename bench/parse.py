"""Micro-bench of `parse_message` (issue 13: intake CPU): µs per mail on bench/intake.py's mails and on the
messages under tests/data, each against the stdlib's `email.message_from_bytes` on the same bytes in the
same run (the ratio is what to compare: the machine is shared).  `--profile FILE` writes a cProfile of
parse on the bench mails (sorted by own time) instead.

    PYTHONPATH=. .venv/bin/python bench/parse.py [--rounds 5] [--profile FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import email
import logging
import pstats
import sys
import time
import timeit
from collections.abc import Callable
from email import policy
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.intake import mails
from mailrobot.mail.parse import Unparseable, parse_message

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
MAX_FILE = 200_000  # bytes: the few big torture tests would drown the figure of ordinary mail


def data_mails() -> list[bytes]:
    """The vendored messages and DSNs (not the reply-body fragments), up to MAX_FILE bytes each."""
    files = [*(DATA / "corpus" / "messages").rglob("*"), *(DATA / "dsn").rglob("*")]
    return [
        p.read_bytes()
        for p in sorted(files)
        if p.is_file() and p.suffix not in (".md", ".json") and p.stat().st_size <= MAX_FILE
    ]


def _parse_all(raws: list[bytes]) -> None:
    for raw in raws:
        with contextlib.suppress(Unparseable):
            parse_message(raw)


def _stdlib_all(raws: list[bytes]) -> None:
    for raw in raws:
        email.message_from_bytes(raw, policy=policy.compat32)


def best_us(run: Callable[[list[bytes]], None], raws: list[bytes], rounds: int) -> float:
    """CPU µs per mail (process time: waiting for a core shared with others is not counted), best of
    `rounds` passes over `raws` (the least disturbed by other processes)."""
    times = timeit.repeat(lambda: run(raws), number=1, repeat=rounds, timer=time.process_time)
    return min(times) / len(raws) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mails", type=int, default=1000, help="bench mails per pass")
    parser.add_argument("--profile", help="write a cProfile text report of parse on the bench mails")
    args = parser.parse_args()
    logging.getLogger("mailparser").setLevel(logging.CRITICAL)  # it logs raw header values
    sets = {"bench mails": mails(args.mails, "parse"), "tests/data": data_mails()}
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(_parse_all, sets["bench mails"] * 5)
        with open(args.profile, "w") as out:
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(40)
        print(f"profile written to {args.profile}")
        return
    for name, raws in sets.items():
        _parse_all(raws)  # warm: imports, regex compilation, codec lookups
        ours = best_us(_parse_all, raws, args.rounds)
        stdlib = best_us(_stdlib_all, raws, args.rounds)
        print(
            f"{name:12} {len(raws):5} mails: parse_message {ours:7.1f} µs/mail, "
            f"email.message_from_bytes {stdlib:6.1f} µs/mail, ratio {ours / stdlib:5.2f}"
        )


if __name__ == "__main__":
    main()
