"""Big mail against a real Dovecot: batches filled by RFC822.SIZE up to imap.batch_bytes (issue 13)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailrobot.outside import imap
from mailrobot.outside.imap import MailboxSource
from mailrobot.service.context import Services
from mailrobot.service.daemon import Robot
from tests.support.drills import big_mail
from tests.support.site import Site

KB = 1024


def test_batches_are_filled_by_size_and_a_big_message_goes_alone(site: Site, tmp_path: Path) -> None:
    sizes = [600 * KB, 300 * KB, 2000 * KB, 100 * KB, 100 * KB]
    raws = [big_mail(n, f"<size-{i}@mail.ru>", f"s{i}@mail.ru") for i, n in enumerate(sizes)]
    for raw in raws:
        site.append(raw)
    config = site.write_config(imap={"batch_bytes": 1024 * KB})
    robot = Robot(Services.load(config))
    batches: list[list[int]] = []
    process = robot.intake.process

    def observed(mailbox, uidvalidity, batch):  # type: ignore[no-untyped-def]
        batches.append([len(f.raw) for f in batch])
        return process(mailbox, uidvalidity, batch)

    robot.intake.process = observed  # type: ignore[method-assign]
    source = MailboxSource(robot.settings.imap)
    source.connect()
    try:
        server_sizes = source.sizes(source.pending_uids())
        outcomes = robot.sync(source)
    finally:
        source.close()
        robot.db.dispose()
    # The server's RFC822.SIZE is the size of the message as it stores it (CRLF line ends).
    assert sorted(server_sizes.values()) == sorted(len(r.replace(b"\n", b"\r\n")) for r in raws)
    # 1 MB a batch: base64 makes the 600 KB scan ≈ 0.8 MB, so it goes with nothing else; the 2 MB one alone.
    assert [len(b) for b in batches] == [1, 1, 1, 2]
    assert all(sum(b) <= 1024 * KB for b in batches if len(b) > 1)
    assert sorted(o.status for o in outcomes) == ["case"] * 5
    assert site.dovecot.list_uids(site.mailbox.username) == []


def test_a_big_message_is_fetched_in_pieces_byte_for_byte(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imap, "PIECE", 100 * KB)  # pieces of 100 KB: a 1 MB mail in eleven or so
    raws = [big_mail(1024 * KB, "<piece-big@mail.ru>"), big_mail(10 * KB, "<piece-small@mail.ru>")]
    for raw in raws:
        site.append(raw)
    robot_settings = Services.load(site.write_config()).settings
    source = MailboxSource(robot_settings.imap)
    source.connect()
    try:
        uids = source.pending_uids()
        sizes = source.sizes(uids)
        whole = source.fetch(uids)
        pieces = source.fetch(uids, sizes)
    finally:
        source.close()
    assert max(sizes.values()) > 10 * imap.PIECE
    assert [(u, r) for u, r, _a in pieces] == [(u, r) for u, r, _a in whole]
    assert [a for _u, _r, a in pieces] == [a for _u, _r, a in whole] and whole[0][2] is not None
