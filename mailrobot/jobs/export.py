"""A case as files, for an auditor or a court request: the case and its timeline, and every mail as .eml.

    DIR/case.json                          the case, its timeline, and an index of the files below
    DIR/messages/<n>-message-<id>.eml      each message of the case, byte for byte as received
    DIR/outbox/<n>-<kind>-<state>-<id>.eml each mail the robot wrote for the case, byte for byte as sent
    DIR/attachments/message-<id>/<n>-<filename>
    DIR/SHA256SUMS                         `sha256sum -c SHA256SUMS` checks that nothing changed since

Raw mail that retention purged is listed in case.json with `"raw": "purged"` and has no file; each received
message keeps the SHA-256 taken at intake, so a copy found elsewhere can still be matched against it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, or_, select
from sqlalchemy.orm import Session, undefer

from mailrobot.store import chunks
from mailrobot.store.db import Database
from mailrobot.store.models import Attachment, Case, Event, Message, Outbox


class ExportError(Exception):
    """The case cannot be exported as asked; the message says why."""


@dataclass(frozen=True)
class Exported:
    directory: Path
    messages: int
    outbox: int
    attachments: int
    purged: int  # mails listed without a file: retention purged them


def _row(obj: Any) -> dict[str, Any]:
    """Every column of a row, JSON-ready, so that a column added later is exported without a change here."""
    data: dict[str, Any] = {}
    for attr in inspect(obj).mapper.column_attrs:
        if attr.key in ("raw_inline", "data"):
            continue  # the bytes go to files
        data[attr.key] = _json_value(getattr(obj, attr.key))
    return data


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return None
    return value


_UNSAFE = re.compile(r"[^\w.\-() +,=@]+")


def safe_filename(name: str, fallback: str = "attachment") -> str:
    """A file name that stays inside its directory and is readable on any system: no separators, no
    leading dot, no control characters, at most 100 characters (the extension kept)."""
    name = _UNSAFE.sub("_", name.replace("\\", "/").rsplit("/", 1)[-1]).strip(" ._") or fallback
    if len(name) > 100:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 99 - len(ext)] + "." + ext) if dot and len(ext) <= 10 else name[:100]
    return name


def _version() -> str:
    try:
        return version("mailrobot")
    except PackageNotFoundError:
        return "unknown"


def private_dir(path: Path) -> None:
    """Create `path` (and missing parents) readable by its owner alone (0700), whatever the umask."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def private_file(path: Path, data: bytes | Iterable[bytes]) -> str:
    """Write a new file readable by its owner alone (0600), whatever the umask, from its bytes or from its
    pieces (a stored attachment's chunks: never whole in memory); returns its SHA-256."""
    digest = hashlib.sha256()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        os.fchmod(file.fileno(), 0o600)
        for piece in (data,) if isinstance(data, bytes) else data:
            file.write(piece)
            digest.update(piece)
    return digest.hexdigest()


class _Writer:
    """Files of the export: personal data, so 0600 in 0700 directories."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sums: list[tuple[str, str]] = []

    def write(self, relative: str, data: bytes | Iterable[bytes]) -> str:
        path = self.root / relative
        folder = self.root
        for part in Path(relative).parts[:-1]:
            folder = folder / part
            if not folder.is_dir():
                private_dir(folder)
        self.sums.append((private_file(path, data), relative))
        return relative


PURGED = "purged"  # what case.json says of raw bytes retention removed


def _eml(files: _Writer, row: Message | Outbox, path: str) -> tuple[dict[str, Any], str | None]:
    """A message or a sent mail as it goes into case.json, and its .eml file (None once purged)."""
    entry = _row(row)
    file = files.write(path, row.raw) if row.raw is not None else None
    entry["raw"] = file or PURGED
    return entry, file


def _attachment(
    session: Session, files: _Writer, message_id: int, k: int, attachment: Attachment
) -> dict[str, Any]:
    item = _row(attachment)
    if not attachment.kept:
        # Which of the two, the database does not record; the auditor gets both.
        item["data"] = "missing: over the size limit at intake, or purged by retention"
    else:
        name = safe_filename(attachment.filename, f"attachment-{attachment.id}")
        path = f"attachments/message-{message_id}/{k:02d}-{name}"
        item["data"] = files.write(path, chunks.file_pieces(session, attachment.id))  # a chunk at a time
    return item


def export_case(db: Database, number: str, out: Path, now: datetime | None = None) -> Exported:
    """Write case `number` into the new or empty directory `out` (see the module docstring for the layout)."""
    if out.is_symlink() and not out.exists():
        raise ExportError(
            f"{out} is a symbolic link to {os.readlink(out)}, which does not exist: "
            "export into a new directory (or create the link's target first)"
        )
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out} exists and is not an empty directory: export into a new one")
    try:
        return _export(db, number, out, now)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise ExportError(f"cannot write the export into {out}: {exc.strerror}{where}") from None


def _export(db: Database, number: str, out: Path, now: datetime | None) -> Exported:
    with db.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        if case is None:
            raise ExportError(f"no case {number}")
        events = session.scalars(
            select(Event).where(Event.case_id == case.id).order_by(Event.at, Event.id)
        ).all()
        # A case's messages: those filed under it, and any its timeline names (e.g. a duplicate it absorbed).
        messages = session.scalars(
            select(Message)
            .where(
                or_(
                    Message.case_id == case.id,
                    Message.id.in_(select(Event.message_row_id).where(Event.case_id == case.id)),
                )
            )
            .order_by(Message.received_at, Message.id)
            .options(undefer(Message.raw_inline))  # a big mail's: read from its chunks
        ).all()
        attachments = session.scalars(
            select(Attachment)
            .where(Attachment.message_row_id.in_([m.id for m in messages]))
            .order_by(Attachment.id)
        ).all()
        outbox = session.scalars(
            select(Outbox)
            .where(Outbox.case_id == case.id)
            .order_by(Outbox.id)
            .options(undefer(Outbox.raw_inline))
        ).all()

        private_dir(out)
        files = _Writer(out)
        message_list, message_files = [], {}
        for n, message in enumerate(messages, 1):
            entry, message_files[message.id] = _eml(
                files, message, f"messages/{n:04d}-message-{message.id}.eml"
            )
            own = (a for a in attachments if a.message_row_id == message.id)
            entry["attachments"] = [
                _attachment(session, files, message.id, k, a) for k, a in enumerate(own, 1)
            ]
            message_list.append(entry)
        outbox_list, outbox_files = [], {}
        for n, mail in enumerate(outbox, 1):
            kind, state = safe_filename(mail.kind, "mail"), safe_filename(mail.state, "state")
            entry, outbox_files[mail.id] = _eml(files, mail, f"outbox/{n:04d}-{kind}-{state}-{mail.id}.eml")
            outbox_list.append(entry)
        purged = sum(1 for entry in (*message_list, *outbox_list) if entry["raw"] == PURGED)

        timeline = []
        for event in events:
            entry = _row(event)
            if event.message_row_id is not None:
                entry["message_file"] = message_files.get(event.message_row_id)
            if event.outbox_id is not None:
                entry["outbox_file"] = outbox_files.get(event.outbox_id)
            timeline.append(entry)

        document = {
            "exported_at": (now or datetime.now(UTC)).isoformat(),
            "exported_by": f"mailrobot {_version()}",
            "case": _row(case),
            "timeline": timeline,
            "messages": message_list,
            "outbox": outbox_list,
        }
    files.write("case.json", json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8") + b"\n")
    sums = "".join(f"{digest}  {name}\n" for digest, name in files.sums)
    private_file(out / "SHA256SUMS", sums.encode("utf-8"))
    return Exported(out, len(messages), len(outbox), len(attachments), purged)
