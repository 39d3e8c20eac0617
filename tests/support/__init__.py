"""What the tests, bench/ and demo/ share: real servers, one daemon-process helper, configs and mails.

    dovecot     a private Dovecot (IMAP) on 127.0.0.1, one user per test
    smtp        an SMTP sink (aiosmtpd) that keeps what it receives
    config      robot configs wired to those servers, and settings without a file
    daemon      `mailrobot` as a process: one command, or the daemon with its log (and systemd's socket)
    factories   Parsed values and raw mails as clients write them
    pg          the tests' database: SQLite, or a throw-away PostgreSQL

No test module imports from another test module: what two of them need lives here or in a conftest.py.
"""
