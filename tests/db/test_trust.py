"""Issue 9 ("trust and delivery") through the real intake pipeline on the database (no IMAP, no SMTP):
tokens in any letter case and across a key rotation, command floods, #ask inside the organizations,
loops through rotating addresses, replayed and late staff replies, forward floods and refusal reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mailrobot.config import parse_settings
from mailrobot.mail.tokens import read_reply_address
from tests.support.config import SECRET, settings_dict
from tests.support.factories import mail, text_of
from tests.support.routing_world import CONSUMER, OP1, World, contact_center, open_case

ANSWER = "Добрый день!\n\nПоказания исправлены, перерасчёт будет в квитанции за ноябрь."


def world_with(tmp_path: Path, robot: dict[str, Any] | None = None, **sections: Any) -> World:
    data = settings_dict(tmp_path)
    data.update(contact_center())
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    if robot:
        data["robot"] = {**data["robot"], **robot}
    return World(parse_settings(data))


@pytest.fixture
def world(tmp_path: Path) -> World:
    return world_with(tmp_path)


def reply_to_address_only(forward: Any, sender: str, text: str, transform: Any = str.lower) -> bytes:
    """A reply typed to the forward's Reply-To, as a client that keeps no In-Reply-To/References sends it,
    the address in the letter case `transform` gives it."""
    address = transform(str(forward["Reply-To"].addresses[0].addr_spec))
    return mail(sender, text, subject=f"Re: {forward['Subject']}", to=address)


# -- 3. the signed reply address alone --------------------------------------------------------------------


def test_a_reply_to_the_lower_cased_reply_address_alone_is_the_answer(world: World) -> None:
    number, fwd = open_case(world)
    outcome = world.deliver_one(reply_to_address_only(fwd, OP1, ANSWER))
    assert (outcome.status, outcome.case_number) == ("reply", number), outcome
    assert ANSWER in text_of(world.last("answer", CONSUMER))
    assert world.case(number).state == "answered"
    assert world.mails("refused_report") == []  # no false alarm to the head


def test_a_reply_signed_before_a_key_rotation_still_works(tmp_path: Path) -> None:
    before = world_with(tmp_path)
    number, fwd = open_case(before)
    # robot.secret is rotated while the forward is in the operator's inbox; the old key only verifies now.
    new_key = "rotated-secret-0123456789abcdef"
    after = world_with(tmp_path, robot={"secret": new_key, "previous_secrets": [SECRET]})
    after.now, after.uids = before.now, before.uids
    outcome = after.deliver_one(reply_to_address_only(fwd, OP1, ANSWER, transform=str.upper))
    assert (outcome.status, outcome.case_number) == ("reply", number), outcome
    # Without the previous key the same reply is refused as forged.
    cut_off = world_with(tmp_path, robot={"secret": new_key})
    cut_off.now, cut_off.uids = after.now, after.uids
    refused = cut_off.deliver_one(reply_to_address_only(fwd, OP1, ANSWER + " (2)"))
    assert refused.status == "refused" and "does not verify" in refused.reason
    # New mail is signed with the new key only.
    number2, fwd2 = open_case(after, sender="b@mail.ru")
    reply_to = str(fwd2["Reply-To"].addresses[0].addr_spec)
    assert read_reply_address(new_key, reply_to) == number2 and read_reply_address(SECRET, reply_to) is None
