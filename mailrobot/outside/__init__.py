"""The outside world: the IMAP mailbox, the SMTP server, OAuth2 tokens, leadership, systemd, metrics.

Each outside library has one owner here: imapclient (imap), smtplib (sender), msal and token commands
(oauth), sd_notify (systemd), the HTTP metrics endpoint (metrics).  Probes for `doctor` live beside the code
they probe and raise this project's own errors.
May import: `mailrobot.store`, `mailrobot.regulation`, `mailrobot.mail`, `mailrobot.config`.
"""
