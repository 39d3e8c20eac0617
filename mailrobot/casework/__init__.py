"""Carrying out effects: the rows and mail that a decision means, in the caller's transaction.

Holds: applier (the effects of one incoming mail: register, notice, events), staffmail (forwards, relayed
answers, requests to specialists), case_commands (assign, close, reopen, extend, command replies), records
(participants, attachments, a case's mail thread), extension (the one way a deadline goes to 14 days).
May import: `mailrobot.store`, `mailrobot.regulation`, `mailrobot.mail`, `mailrobot.config`; no sockets.
"""
