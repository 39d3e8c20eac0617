"""Tests on a database: the store, applying effects, intake, jobs, reports and the CLI on real rows.

They run once per backend: SQLite, and PostgreSQL with MAILROBOT_TEST_BACKEND=postgresql (tests/support/pg.py
starts a throw-away cluster).  No IMAP server and no daemon process.
"""
