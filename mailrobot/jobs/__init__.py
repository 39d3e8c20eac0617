"""Timed work: the overdue scan, reminders, the head's digest, the monthly report, retention, export.

Holds: tasks (the jobs, callable with a given `now`), scheduler (APScheduler, which owns the crontab
syntax), reports, report_mail, faq, redact, answers (the monthly report and its FAQ draft), retention,
export.
May import: `mailrobot.casework`, `mailrobot.store`, `mailrobot.regulation`, `mailrobot.mail`,
`mailrobot.config`.
"""
