"""Drill 6: the disk fills while raw mail is stored (as root: the SQLite database on a small tmpfs).

Verdict: the big message stays in the inbox, the journal and `doctor` say why, and the robot goes on by
itself once there is space again.   .venv/bin/python bench/drills/disk_full.py [--attachment-mb 3]
"""

import sys

from common import finish, options

from tests.support.drills import World, disk_full_drill, small_disk

parser = options(__doc__)
parser.add_argument("--attachment-mb", type=int, default=3)
args = parser.parse_args()
if args.postgresql:
    sys.exit("drill 6 fills a SQLite file's disk; PostgreSQL's disk is the server's, not the robot's")

import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

if os.geteuid() != 0:
    sys.exit("drill 6 mounts a tmpfs: run it as root")
workdir = Path(tempfile.mkdtemp(prefix="mailrobot-drill-"))
try:
    with small_disk(workdir / "data", "2m") as resize, World(workdir, f"sqlite:///{workdir}/data/m.db") as w:
        verdict = disk_full_drill(w, resize, args.attachment_mb)
finally:
    shutil.rmtree(workdir, ignore_errors=True)
finish(verdict)
