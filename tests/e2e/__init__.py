"""End to end: a real Dovecot, a real SMTP sink and `mailrobot` processes, as an admin runs them.

Marked `integration` (tests/conftest.py), so `pytest -m "not integration"` leaves them out.
"""
