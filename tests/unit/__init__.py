"""Pure tests: the regulation's decisions, mail in and out, the config; no database, no server, no process.

Each runs in milliseconds and the same on either backend (tests/unit/conftest.py gives them no PostgreSQL).
"""
