"""Drill 7: fuzz the intake with hypothesis: mutations of the corpus (tests/data/corpus) through parse ->
classify -> decide -> apply, on a SQLite database.

Verdict: no exception escapes; every input ends as a case, ignored, quarantined (or a duplicate of another
input).  A failing input is shrunk by hypothesis and saved in the work directory.
    .venv/bin/python bench/drills/fuzz.py [-n 3000] [--max-kb 0 (whole corpus)]
"""

import logging
import tempfile
import time
from pathlib import Path

from common import finish, options
from hypothesis import HealthCheck, given, settings

from tests.support.config import make_settings
from tests.support.drills import Verdict
from tests.support.fuzz import Judge, corpus, mutations, save_failure
from tests.support.pipeline import NOW, new_intake

logging.disable(logging.WARNING)  # each quarantined input logs a line: thousands
parser = options(__doc__)
parser.add_argument("-n", type=int, default=3000, help="inputs to try")
parser.add_argument("--max-kb", type=int, default=0, help="only corpus mails up to this size (0: all)")
args = parser.parse_args()
work = Path(tempfile.mkdtemp(prefix="mailrobot-fuzz-"))
judge = Judge(new_intake(make_settings(work, robot={"notices_per_sender_per_day": 10**6}), lambda: NOW))
messages = corpus(args.max_kb * 1024 or None)
verdict = Verdict("7 fuzz: mutated corpus through the intake")
started = time.monotonic()


@settings(max_examples=args.n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(raw=mutations(messages))
def drill(raw: bytes) -> None:
    wrong = judge.problems(raw)
    if wrong:
        print(f"saved {save_failure(work, raw, wrong)}: {wrong}")
    assert not wrong, wrong


try:
    drill()
except AssertionError as exc:
    verdict.problems.append(str(exc)[:500])
verdict.figures |= {
    "inputs": sum(judge.endings.values()),
    "corpus": len(messages),
    "seconds": round(time.monotonic() - started, 1),
    **judge.endings,
}
finish(verdict)
