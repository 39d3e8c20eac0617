#!/usr/bin/env bash
# The demo: installs what it needs (as scripts/test-deps.sh does), then runs the robot once against a
# private Dovecot and SMTP sink with the sample mails of demo/mails/.  Output in demo/work/.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/test-deps.sh
exec .venv/bin/python demo/run_demo.py "$@"
