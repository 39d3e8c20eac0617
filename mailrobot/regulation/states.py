"""Named states: a case's state, a message's status, an outbox row's state, the kinds of mail and of
timeline events.  The database stores these very strings (StrEnum members compare equal to them), so
naming them needed no data migration."""

from __future__ import annotations

from enum import StrEnum


class CaseState(StrEnum):
    NEW = "new"  # registered, waiting for the final answer, deadline running
    OVERDUE = "overdue"  # still open, past its deadline
    EXTENDED = "extended"  # was overdue, and the head's extension put the deadline ahead again
    REOPENED = "reopened"  # open again after an answer or closing, with a new deadline
    ANSWERED = "answered"  # the final answer went to the consumer
    CLOSED = "closed"  # closed by staff


# A case in one of these no longer waits for an answer; every other state is open and has a deadline.
DONE_STATES = frozenset({CaseState.ANSWERED, CaseState.CLOSED})
# The same as SQL, written out: only a literal condition lets SQLite and PostgreSQL use the partial index.
OPEN_STATES_SQL = "state NOT IN ('answered', 'closed')"


class MessageStatus(StrEnum):
    """What became of an incoming message."""

    RECEIVED = "received"  # raw bytes stored, not processed yet (a crash left it so)
    CASE = "case"  # registered as a new case
    FOLLOWUP = "followup"  # the consumer wrote again about their case
    REPLY = "reply"  # a staff reply: an answer, a specialist's answer or commands
    REFUSED = "refused"  # failed the trust checks: kept, not acted on, reported
    IGNORED = "ignored"  # automatic mail (bounce, auto-reply, list mail): recorded, never answered
    QUARANTINED = "quarantined"  # could not be handled: kept for an admin, with the reason
    DUPLICATE = "duplicate"  # the same mail delivered again
    SPAM = "spam"  # the spam filter's verdict: no notice, no forward; `mailrobot messages release` undoes it
    REPLAY = "replay"  # the same IMAP message seen again after a crash (an outcome, never stored)


class OutboxState(StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt
    SENT = "sent"  # accepted by the SMTP server
    FAILED = "failed"  # refused for good, or too long in the queue: `mailrobot outbox retry` sends it again
    BOUNCED = "bounced"  # accepted, then returned by a later server (a DSN names it): last_error says why


class MailKind(StrEnum):
    """The kinds of mail the robot sends (the outbox's `kind`, and a signed Message-ID's)."""

    NOTICE = "notice"  # registration notice to the consumer (4.3.3)
    ANSWER = "answer"  # an operator's answer, relayed to the consumer
    EXTENSION = "extension"  # the consumer is told of a deadline extended to 14 days (4.3.9)
    FORWARD = "forward"  # a case to its operators (4.3.5)
    FORWARD_SUMMARY = "forward_summary"  # one sender's flood of cases, once an hour, instead of forwards
    FOLLOWUP = "followup"  # the consumer's follow-up, to the case's operators
    ASK = "ask"  # a request to specialists (4.3.7)
    SPECIALIST_ANSWER = "specialist_answer"  # a specialist's answer, to the operator who asked (4.3.8)
    EXTENSION_REQUEST = "extension_request"  # an operator asks the head for an extension
    COMMAND_REPLY = "command_reply"  # the result of staff commands, to their author
    REFUSED_REPORT = "refused_report"  # a refused mail, reported to the head
    REMINDER = "reminder"
    OVERDUE = "overdue"
    DIGEST = "digest"
    REPORT = "report"
    DELIVERY_FAILED = "delivery_failed"  # a mail of the case failed for good: its operators are told
    INTERIM = "interim"  # an interim message to the consumer: the case stays open, the deadline runs
    ANSWER_HELD = "answer_held"  # a held answer, back to its author with the answer already sent


# Mail to consumers: a token from one of these never makes its sender staff.
CONSUMER_MAIL_KINDS = frozenset({MailKind.NOTICE, MailKind.ANSWER, MailKind.EXTENSION, MailKind.INTERIM})


class EventKind(StrEnum):
    """Timeline events that are not about one outgoing mail (those are `mail_event`'s)."""

    REGISTERED = "registered"
    FOLLOWUP = "followup"
    FOLLOWUP_NEW_CASE = "followup_new_case"
    NOTICE_SKIPPED = "notice_skipped"
    ROUTED = "routed"
    ASKED = "asked"
    ANSWER = "answer"  # the text of the answer relayed (the reports read it)
    SPECIALIST_ANSWER = "specialist_answer"
    ASSIGNED = "assigned"
    CATEGORIZED = "categorized"
    CLOSED = "closed"
    REOPENED = "reopened"
    DUPLICATE_ANSWER = "duplicate_answer"  # the same answer delivered again (a client's resend): not relayed
    ERASED = "erased"  # the consumer's personal data was erased on request (`mailrobot consumers erase`)
    FORWARD_HELD = "forward_held"  # routed without a forward: a flood from its sender (see decide)
    NOTE = "note"
    COMMAND = "command"
    COMMAND_REFUSED = "command_refused"
    EMPTY_REPLY = "empty_reply"
    EXTENSION_REQUESTED = "extension_requested"
    EXTENSION_REFUSED = "extension_refused"
    EXTENSION_GRANTED = "extension_granted"
    EXTENSION_DENIED = "extension_denied"
    EXTENDED = "extended"
    EXTENSION_NOTICE_SKIPPED = "extension_notice_skipped"
    OVERDUE = "overdue"
    REMINDER_QUEUED = "reminder_queued"
    INTERIM_ANSWER = "interim_answer"  # an interim message to the consumer (#interim): not the final answer
    ANSWER_HELD = "answer_held"  # a second voice's answer, held and returned to its author (#send sends it)
    REPORT_PUBLISHED = "report_published"  # the head's #publish sent the monthly report to PR (4.3.11)
    MESSAGE_ID_REUSED = "message_id_reused"  # the mail's Message-ID was seen before, with other content
    ARRIVAL_UNKNOWN = "arrival_unknown"  # no INTERNALDATE: the deadline counts from processing time
    RELEASED = "released"  # the head released a mail filed as spam: it became this case
    MAIL_BOUNCED = "mail_bounced"  # a mail of the case was returned (a DSN): who, status, diagnostic
    FORWARD_KEPT = "forward_kept"  # an employee's forward stays their own case: why it was not unwrapped


def mail_event(kind: str, outcome: str) -> str:
    """The timeline event of an outgoing mail: "<kind>_<outcome>", e.g. notice_queued, answer_failed
    (outcome: queued, sent, failed, retried)."""
    return f"{kind}_{outcome}"
