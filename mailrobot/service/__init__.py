"""The running service: the context every command shares, the intake pipeline, the daemon, the doctor.

Holds: context (config, database, calendar and renderer, loaded once), intake (fetch -> store raw -> parse
-> classify -> decide -> apply -> move), daemon (the only place with threads, signals and the clock),
doctor (every check the daemon depends on).
May import: every stage below it; only `mailrobot.cli` imports it.
"""
