#!/usr/bin/env bash
# The whole check, as CI runs it: dependencies, lint, tests.  Extra arguments go to pytest
# (e.g. scripts/test.sh -k harness -x).  The suite runs once per database backend: SQLite, then PostgreSQL
# (a throw-away cluster the tests start themselves, see tests/support/pg.py).  MAILROBOT_TEST_BACKENDS=sqlite
# runs one pass only.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/test-deps.sh
.venv/bin/ruff check mailrobot tests demo bench
# The dependency direction of shared/DESIGN.md, one owner per outside library, no import circles (.importlinter).
.venv/bin/lint-imports
status=0
for backend in ${MAILROBOT_TEST_BACKENDS:-sqlite postgresql}; do
  echo "=== pytest on $backend"
  start=$SECONDS
  # Both passes run even when the first fails: a failure on one backend only is worth knowing at once.
  MAILROBOT_TEST_BACKEND=$backend .venv/bin/python -m pytest -q "$@" || status=$?
  echo "=== pytest on $backend: $((SECONDS - start)) s"
done
exit "$status"
