"""The mail robot end to end, on this machine, in one command (scripts/demo.sh runs it).

Starts a private Dovecot and an SMTP sink on 127.0.0.1 (the servers of tests/support that the tests use),
puts the sample mails of demo/mails/ into the feedback mailbox, runs `mailrobot run --once`, and shows what
came out: the cases, the messages, and every mail the robot sent.  The consumers' mails must each get one
registration notice; the out-of-office reply and the bounce must get none.  Exit status 0 when so.

The config and the SQLite database stay in demo/work/ afterwards, so the CLI can be tried on them:
    .venv/bin/mailrobot cases show SKES-2026-000001 --config demo/work/config.toml
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from email.utils import getaddresses
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: make `tests.support` importable

from tests.support.config import robot_config, write_toml  # noqa: E402
from tests.support.daemon import run_mailrobot  # noqa: E402
from tests.support.dovecot import Dovecot  # noqa: E402
from tests.support.smtp import ReceivedMail, SmtpSink  # noqa: E402

MAILS = REPO / "demo" / "mails"
WORK = REPO / "demo" / "work"
MAILBOX = "feedback@skes.example.kz"

# Senders whose mail is automatic: the robot must not answer them (a loop, or mail to nowhere).
NO_NOTICE = {"a.serikova@example.kz", "mailer-daemon@mx.skes.example.kz", "ivanov.petr@mail.ru"}

# What an admin would configure: who the head is, the two subsidiaries of regulation 4.3.7, the operators
# and specialists, and simple routing rules.  Everyone here is fake (example.kz).
ORGANISATION = {
    "robot": {
        "company_names": {
            "ru": "ТОО «Севказэнергосбыт»",
            "kk": "«Севказэнергосбыт» ЖШС",
            "en": "Sevkazenergosbyt LLP",
        },
    },
    "people": {"head": ["head.cc@skes.example.kz"], "pr": ["pr@skes.example.kz"]},
    "organizations": {
        "skes": {"name": "ТОО «Севказэнергосбыт»"},
        "grid": {"name": "АО «Северо-Казахстанская Распределительная Электросетевая Компания»"},
        "heat": {"name": "ТОО «Петропавловские Тепловые Сети»"},
    },
    "groups": {
        "operators": {
            "organization": "skes",
            "members": ["operator1@skes.example.kz", "operator2@skes.example.kz"],
            "assign": "round_robin",
        },
        "grid": {"organization": "grid", "role": "specialist", "members": ["dispatch@grid.example.kz"]},
        "heat": {"organization": "heat", "role": "specialist", "members": ["abon@heat.example.kz"]},
    },
    "routing": {"default_group": "operators"},
}


def mailrobot(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the mailrobot CLI of this virtualenv on the demo's config."""
    return run_mailrobot(WORK / "config.toml", *args)


def heading(title: str) -> None:
    print(f"\n{'=' * 100}\n{title}\n{'=' * 100}")


def show(result: subprocess.CompletedProcess[str]) -> None:
    print(result.stdout.rstrip() or "(no output)")
    if result.stderr.strip():
        print(textwrap.indent(result.stderr.rstrip(), "  | "))


def notice_summary(mail: ReceivedMail) -> str:
    body = mail.text().strip() or f"(no text part; HTML:)\n{mail.html() or ''}".strip()
    return (
        f"To:      {mail.to}\n"
        f"Subject: {mail.subject}\n"
        f"(envelope: from <{mail.mail_from}> to {', '.join(f'<{r}>' for r in mail.rcpt_tos)})\n\n"
        f"{textwrap.indent(body, '    ')}"
    )


def consumer_addresses(paths: list[Path]) -> set[str]:
    """The From addresses of the sample mails that a person wrote (the ones that deserve a notice)."""
    from email import message_from_bytes, policy

    found = set()
    for path in paths:
        message = message_from_bytes(path.read_bytes(), policy=policy.compat32)
        for _name, address in getaddresses([str(message.get("From", ""))]):
            if address and address.lower() not in NO_NOTICE:
                found.add(address.lower())
    return found


def main() -> int:
    mails = sorted(MAILS.glob("*.eml"))
    if not mails:
        print(f"no sample mails in {MAILS}", file=sys.stderr)
        return 1
    shutil.rmtree(WORK, ignore_errors=True)  # a fresh database every run
    WORK.mkdir(parents=True)

    with Dovecot() as dovecot, SmtpSink() as sink:
        password = dovecot.add_user(MAILBOX)
        config = robot_config(
            dovecot,
            (MAILBOX, password),
            sink,
            f"sqlite:///{WORK / 'mailrobot.db'}",
            smtp={"from_address": MAILBOX, "from_name": "ТОО «Севказэнергосбыт»"},
            logging={"level": "INFO"},
            **ORGANISATION,
        )
        write_toml(WORK / "config.toml", config)
        heading(f"Dovecot on {dovecot.host}:{dovecot.port}, SMTP sink on {sink.host}:{sink.port}")
        print(f"config: {WORK / 'config.toml'}")

        heading(f"APPEND {len(mails)} sample mails to {MAILBOX}'s INBOX")
        for path in mails:
            # Mail arrives over SMTP/IMAP with CRLF line ends; the files are kept with LF for git.
            raw = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            print(f"  UID {dovecot.append(MAILBOX, raw):>3}  {path.name}")

        heading("mailrobot run --once")
        run = mailrobot("run", "--once")
        show(run)
        if run.returncode != 0:
            print(f"\nmailrobot run --once failed with exit status {run.returncode}", file=sys.stderr)
            return 1

        heading("mailrobot cases list")
        show(mailrobot("cases", "list"))
        heading("mailrobot messages list")
        show(mailrobot("messages", "list"))

        sent = sink.messages
        heading(f"The SMTP sink received {len(sent)} mail(s)")
        for number, mail in enumerate(sent, 1):
            print(f"\n--- {number} " + "-" * 95)
            print(notice_summary(mail))

        inbox, processed = dovecot.list_uids(MAILBOX), dovecot.list_uids(MAILBOX, "Processed")

    heading("Checks")
    recipients: dict[str, int] = {}
    for mail in sent:
        for rcpt in mail.rcpt_tos:
            recipients[rcpt.lower()] = recipients.get(rcpt.lower(), 0) + 1
    problems = []
    for address in sorted(consumer_addresses(mails)):
        count = recipients.get(address, 0)
        print(f"  {'ok ' if count == 1 else 'BAD'} {address}: {count} mail(s), expected 1 (the notice)")
        if count != 1:
            problems.append(address)
    for address in sorted(NO_NOTICE):
        count = recipients.get(address, 0)
        print(f"  {'ok ' if count == 0 else 'BAD'} {address}: {count} mail(s), expected none (automatic)")
        if count:
            problems.append(address)
    print(f"  {'ok ' if not inbox else 'BAD'} INBOX holds {len(inbox)}, Processed holds {len(processed)}")
    if inbox:
        problems.append("INBOX not emptied")
    print("\nAll good." if not problems else f"\nFAILED: {', '.join(problems)}")
    print(f"The database stays in {WORK}; try: .venv/bin/mailrobot cases list --config {WORK}/config.toml")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
