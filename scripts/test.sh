#!/usr/bin/env bash
# The whole check, as CI runs it: dependencies, lint, tests.  Extra arguments go to pytest
# (e.g. scripts/test.sh -k harness -x).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/test-deps.sh
.venv/bin/ruff check mailrobot tests demo
exec .venv/bin/python -m pytest -q "$@"
