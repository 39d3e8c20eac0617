"""Issue 9 ("trust and delivery") through the real intake pipeline on the database (no IMAP, no SMTP):
tokens in any letter case and across a key rotation, command floods, #ask inside the organizations,
loops through rotating addresses, replayed and late staff replies, forward floods and refusal reports."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mailrobot.config import parse_settings
from mailrobot.jobs.tasks import Jobs
from mailrobot.mail.render import Renderer
from mailrobot.mail.tokens import read_reply_address
from mailrobot.regulation.workdays import WorkCalendar
from tests.support.config import SECRET, settings_dict
from tests.support.factories import mail, read, reply, text_of
from tests.support.routing_world import (
    CONSUMER,
    GRID,
    HEAD,
    OP1,
    OP2,
    ORGANIZATIONS,
    World,
    contact_center,
    open_case,
)

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


# -- 5. command floods --------------------------------------------------------------------------------------


def test_a_thousand_notes_run_ten_and_send_one_confirmation(world: World) -> None:
    number, fwd = open_case(world)
    notes = "\n".join(f"#note заметка {i}" for i in range(1000))
    outcome = world.deliver_one(reply(fwd, OP1, notes))
    assert outcome.status == "reply"
    assert [d for k, _a, d in world.events(number) if k == "note"] == [f"заметка {i}" for i in range(10)]
    [confirmation] = world.mails("command_reply")
    body = text_of(confirmation)
    assert body.count("✔ #note: Заметка добавлена") == 10
    assert "✘ #note ×990: Не выполнены (990): в одном письме выполняются не больше 10 команд" in body
    assert "выполнено 10 из 11" in str(confirmation["Subject"])


def test_a_thousand_asks_send_at_most_ten_requests(tmp_path: Path) -> None:
    world = world_with(tmp_path, routing={"max_commands_per_mail": 3})
    number, fwd = open_case(world)
    asks = "\n".join(f"#ask grid вопрос {i}" for i in range(1000))
    world.deliver_one(reply(fwd, OP1, asks))
    assert len(world.mails("ask")) == 3
    assert {m.recipient for m in world.mails()} - {CONSUMER} == {OP1, OP2, GRID}  # type: ignore[attr-defined]
    [confirmation] = world.mails("command_reply")
    assert "✘ #ask ×997" in text_of(confirmation)
    assert len([k for k in world.kinds(number) if k == "asked"]) == 3


# -- 6. #ask stays inside the organizations -----------------------------------------------------------------


@pytest.fixture
def inside(tmp_path: Path) -> World:
    """The grid company's mail domain is configured: its people may be asked by address."""
    organizations = {**ORGANIZATIONS, "grid": {**ORGANIZATIONS["grid"], "domains": ["grid.example.kz"]}}
    return world_with(tmp_path, organizations=organizations)


def test_ask_to_an_outside_address_is_refused_with_the_reason(inside: World) -> None:
    number, fwd = open_case(inside)
    inside.deliver_one(reply(fwd, OP1, "#ask thief@evil.example.com\nПришлите данные потребителя"))
    assert inside.mails("ask") == []
    assert "thief@evil.example.com" not in inside.participants(number)
    body = text_of(inside.last("command_reply", OP1))
    assert "не входит в организации (домены: grid.example.kz)" in body and "п. 4.3.7" in body
    assert any(k == "command_refused" and "#ask" in d for k, _a, d in inside.events(number))


def test_ask_inside_an_organizations_domains_or_to_staff_is_sent(inside: World) -> None:
    number, fwd = open_case(inside)
    inside.deliver_one(reply(fwd, OP1, "#ask lineman@grid.example.kz\nБыло ли отключение?"))
    inside.deliver_one(reply(fwd, OP1, "#ask chief@rem.grid.example.kz\nИ на подстанции?"))
    inside.deliver_one(reply(fwd, OP1, "#ask op2\nВы звонили потребителю?"))  # a configured person's name
    inside.deliver_one(reply(fwd, OP1, "#ask grid\nА по графику?"))  # the organization, as before
    assert [m.recipient for m in inside.mails("ask")] == [  # type: ignore[attr-defined]
        "lineman@grid.example.kz",
        "chief@rem.grid.example.kz",
        OP2,
        GRID,
    ]
    assert inside.participants(number)["lineman@grid.example.kz"] == ("specialist", OP1)


def test_without_domains_only_staff_and_organizations_may_be_asked(world: World) -> None:
    _number, fwd = open_case(world)
    world.deliver_one(reply(fwd, OP1, "#ask someone@grid.example.kz\nВопрос"))
    assert world.mails("ask") == []
    assert "домены: -" in text_of(world.last("command_reply", OP1))


# -- 4. loops through rotating addresses --------------------------------------------------------------------


def auto_reply_round(i: int, sender: str) -> bytes:
    """An auto-responder that says nothing of being one, answering from a new +tag with a new subject."""
    return mail(sender, f"Ваше письмо получено, номер заявки {i}.", subject=f"Заявка №{1000 + i} принята")


def digest_text(world: World) -> str:
    jobs = Jobs(world.db, world.settings, WorkCalendar.from_settings(world.settings), Renderer(), "test")
    assert jobs.digest(world.now + timedelta(minutes=5)).status == "done"
    return text_of(world.last("digest", HEAD))


def test_rotating_tags_are_one_sender_for_the_notice_cap(world: World) -> None:
    for i in range(40):
        outcome = world.deliver_one(auto_reply_round(i, f"helpdesk+t{i}@vendor.example.com"))
        assert outcome.status == "case"  # every mail is still registered
    notices = world.mails("notice")
    assert len(notices) == 5  # robot.notices_per_sender_per_day, counted without the +tag
    assert "helpdesk@vendor.example.com: 35" in digest_text(world)


def test_a_domain_gets_at_most_its_hourly_notices_public_providers_are_exempt(tmp_path: Path) -> None:
    world = world_with(tmp_path, robot={"notices_per_domain_per_hour": 20})
    for i in range(25):
        world.deliver_one(auto_reply_round(i, f"robot{i}@vendor.example.com"))
        world.deliver_one(mail(f"consumer{i}@mail.ru", "Нет света", subject=f"Вопрос {i}"))
    notices = [m.recipient for m in world.mails("notice")]  # type: ignore[attr-defined]
    assert sum(r.endswith("@vendor.example.com") for r in notices) == 20
    assert sum(r.endswith("@mail.ru") for r in notices) == 25
    numbers = [f"SKES-2026-{n:06d}" for n in range(1, 51)]
    skipped = [d for n in numbers for k, _a, d in world.events(n) if k == "notice_skipped"]
    assert len(skipped) == 5 and all("@vendor.example.com in 1 h" in d for d in skipped)
    assert "@vendor.example.com: 5" in digest_text(world)
    # An hour later the domain may be told again.
    world.now += timedelta(hours=1)
    world.deliver_one(auto_reply_round(99, "robot99@vendor.example.com"))
    assert len(world.mails("notice")) == 46


# -- 7. replays and late replies ----------------------------------------------------------------------------


def resend(raw: bytes, message_id: str) -> bytes:
    """The same mail as a client resends it: a new Message-ID, everything else alike."""
    msg = read(raw)
    msg.replace_header("Message-ID", message_id)
    return msg.as_bytes()


def test_the_same_answer_delivered_twice_is_relayed_once(world: World) -> None:
    number, fwd = open_case(world)
    first = reply(fwd, OP1, ANSWER, quote="outlook-ru")
    assert world.deliver_one(first).status == "reply"
    again = world.deliver_one(resend(first, "<resent-1@skes.example.kz>"))
    assert again.status == "duplicate" and again.case_number == number
    assert "duplicate answer" in again.reason
    assert len(world.mails("answer", CONSUMER)) == 1
    assert [k for k in world.kinds(number) if k in ("answer", "duplicate_answer")] == [
        "answer",
        "duplicate_answer",
    ]
    # Another text from the same operator is an answer of its own.
    world.deliver_one(reply(fwd, OP1, "Дополнение: перерасчёт составит 1 200 тенге."))
    assert len(world.mails("answer", CONSUMER)) == 2


def test_a_staff_reply_to_a_closed_case_reopens_it_tells_its_author_and_is_relayed(world: World) -> None:
    number, fwd = open_case(world)
    world.deliver_one(reply(fwd, OP2, "#close"))
    assert world.case(number).state == "closed"
    outcome = world.deliver_one(reply(fwd, OP1, ANSWER))
    assert outcome.status == "reply"
    assert ANSWER in text_of(world.last("answer", CONSUMER))
    kinds = world.kinds(number)
    assert kinds.index("closed") < kinds.index("reopened") < kinds.index("answer")
    assert ("reopened", OP1) in [(k, a) for k, a, _d in world.events(number)]
    assert "снова открыл его и отправлен потребителю" in text_of(world.last("command_reply", OP1))
    assert world.case(number).state == "answered"


# -- 8. smaller findings ------------------------------------------------------------------------------------


def test_a_burst_from_one_sender_gets_twenty_forwards_then_one_summary(tmp_path: Path) -> None:
    world = world_with(tmp_path, routing={"forwards_per_sender_per_hour": 20})
    burst = [mail("flood@mail.ru", f"Письмо {i}", subject=f"Вопрос {i}") for i in range(60)]
    outcomes = world.deliver(*burst[:30]) + world.deliver(*burst[30:])
    assert [o.status for o in outcomes] == ["case"] * 60  # every mail is still a case
    assert len(world.mails("notice")) == 5
    assert len(world.mails("forward")) == 20 * 2  # both operators ("everyone"), for the first 20
    summaries = world.mails("forward_summary")
    assert sorted(m.recipient for m in summaries) == [OP1, OP2]  # type: ignore[attr-defined]
    body = text_of(summaries[0])
    assert "flood@mail.ru" in body and "21 писем" in body and "SKES-2026-000021" in body
    held = [n for n in range(21, 61) if "forward_held" in world.kinds(f"SKES-2026-{n:06d}")]
    assert held == list(range(21, 61))
    assert world.case("SKES-2026-000060").group == "operators"  # routed all the same
    # Another sender is forwarded as usual.
    open_case(world, sender="other@mail.ru")


def test_refusal_reports_stop_after_a_few_an_hour_with_one_summary(world: World) -> None:
    forged = [mail(OP1, f"#close\nподделка {i}", subject=f"Re: [SKES-2026-00000{i}]") for i in range(10)]
    outcomes = world.deliver(*forged)
    assert {o.status for o in outcomes} == {"refused"}
    reports = world.mails("refused_report", HEAD)
    assert len(reports) == 4  # three one by one, then the hour's summary
    assert "за час" in str(reports[-1]["Subject"]) and "4 за последний час" in text_of(reports[-1])
    world.now += timedelta(hours=1, minutes=1)
    world.deliver(mail(OP1, "#close\nещё", subject="Re: [SKES-2026-000001]"))
    assert len(world.mails("refused_report", HEAD)) == 5
