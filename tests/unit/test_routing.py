"""Routing rules: first match wins, every condition explained; assignment modes; `mailrobot routes test`."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mailrobot.cli import main
from mailrobot.config import ConfigError, parse_settings
from mailrobot.regulation.routing import Mail, Routing, Rule, pick_members
from mailrobot.regulation.staff import Group, Staff
from tests.support.config import settings_dict, write_toml
from tests.support.factories import mail
from tests.support.routing_world import GRID, HEAD, HEAT, OP1, OP2, contact_center, make_routing_settings


def _mail(subject: str = "Счёт", body: str = "Текст", sender: str = "a@mail.ru", **kw: object) -> Mail:
    values: dict = {"recipients": ("feedback@example.kz",), "language": "ru", **kw}
    return Mail(subject, body, sender, **values)


@pytest.fixture
def routing(tmp_path: Path) -> Routing:
    return Routing.from_settings(make_routing_settings(tmp_path))


def test_first_matching_rule_wins_and_says_why(routing: Routing) -> None:
    route = routing.route(_mail("Нет света", "С утра нет света в доме, и батареи холодные"))
    assert (route.rule, route.group, route.ask) == ("outage", "operators", ("grid",))
    assert route.why == "keyword 'нет света' in subject"
    heating = routing.route(_mail("Холодные батареи", "Отопление не работает"))
    assert (heating.rule, heating.group, heating.ask) == ("heating", "operators", ("heat",))
    assert "subject matches /отоплени|батаре/" in heating.why


def test_no_rule_matched_goes_to_the_default_group(routing: Routing) -> None:
    route = routing.route(_mail("Счёт за октябрь", "Прошу пересчитать"))
    assert (route.rule, route.group) == ("default", "operators")
    assert "routing.default_group" in route.why


def test_keywords_ignore_case_and_yo() -> None:
    rule = Rule("bill", "operators", keywords=("счёт",))
    assert rule.check(_mail("СЧЕТ за октябрь"))[0]
    assert rule.check(_mail("Вопрос", "неверный Счет"))[1] == "keyword 'счет' in body"


@pytest.mark.parametrize(
    ("rule", "mail", "matched", "why"),
    [
        (
            Rule("r", "g", senders=("@gov.kz",)),
            _mail(sender="akim@petropavl.gov.kz"),
            True,
            "matches @gov.kz",
        ),
        (Rule("r", "g", senders=("akimat.kz",)), _mail(sender="x@mail.ru"), False, "is not one of"),
        (
            Rule("r", "g", senders=("boss@corp.kz",)),
            _mail(sender="boss@corp.kz"),
            True,
            "matches boss@corp.kz",
        ),
        (
            Rule("r", "g", recipients=("grid@skes.kz",)),
            _mail(recipients=("feedback@skes.kz", "grid+x@skes.kz")),
            True,
            "sent to grid+x@skes.kz",
        ),
        (Rule("r", "g", recipients=("grid@skes.kz",)), _mail(), False, "sent to none of"),
        (Rule("r", "g", languages=("kk",)), _mail(language="kk"), True, "language kk"),
        (Rule("r", "g", languages=("kk",)), _mail(language="ru"), False, "language ru is not one of"),
        (Rule("r", "g"), _mail(), True, "no conditions"),
    ],
)
def test_each_condition(rule: Rule, mail: Mail, matched: bool, why: str) -> None:
    result = rule.check(mail)
    assert result[0] is matched and why in result[1]


def test_every_condition_of_a_rule_must_hold(tmp_path: Path) -> None:
    data = settings_dict(tmp_path)
    data.update(
        contact_center(
            routes=[
                {
                    "name": "kk-outage",
                    "group": "operators",
                    "ask": ["grid"],
                    "keywords": ["жарық"],
                    "languages": ["kk"],
                }
            ]
        )
    )
    routing = Routing.from_settings(parse_settings(data))
    route = routing.route(_mail("жарық жоқ", language="kk"))
    assert (route.group, route.ask) == ("operators", ("grid",))
    miss = routing.explain(_mail("жарық жоқ", language="ru"))
    assert miss[0][1] is False and "language ru is not one of ['kk']" in miss[0][2]


def test_a_bad_regex_is_a_config_error(tmp_path: Path) -> None:
    data = settings_dict(tmp_path)
    data.update(contact_center(routes=[{"name": "bad", "group": "operators", "body_regex": "(unclosed"}]))
    with pytest.raises(ConfigError, match=r"routes\.0\.body_regex: not a valid regular expression"):
        parse_settings(data)


def test_without_groups_nobody_is_routed(tmp_path: Path) -> None:
    route = Routing.from_settings(parse_settings(settings_dict(tmp_path))).route(_mail())
    assert route.group is None


GROUP = Group("operators", "skes", "operator", ("a@x.kz", "b@x.kz", "c@x.kz"), "everyone")


def test_assignment_modes() -> None:
    assert pick_members(GROUP, 0, {}) == GROUP.members
    robin = Group(**{**GROUP.__dict__, "assign": "round_robin"})
    assert [pick_members(robin, turn, {}) for turn in range(4)] == [
        ("a@x.kz",),
        ("b@x.kz",),
        ("c@x.kz",),
        ("a@x.kz",),
    ]
    least = Group(**{**GROUP.__dict__, "assign": "least_open"})
    assert pick_members(least, 0, {"a@x.kz": 3, "b@x.kz": 1, "c@x.kz": 1}) == ("b@x.kz",)
    assert pick_members(least, 0, {"a@x.kz": 2, "b@x.kz": 1}) == ("c@x.kz",)
    assert pick_members(Group("e", "skes", "operator", (), "everyone"), 0, {}) == ()


def test_staff_directory(tmp_path: Path) -> None:
    staff = Staff.from_settings(make_routing_settings(tmp_path))
    assert [staff.role_of(a) for a in (HEAD, OP1, GRID, "x@mail.ru")] == [
        "head",
        "operator",
        "specialist",
        None,
    ]
    assert staff.resolve_person("op2") == OP2 and staff.resolve_person(OP1.upper()) == OP1
    assert staff.resolve_person("nobody") is None and staff.resolve_person("x@mail.ru") is None
    assert staff.resolve_ask_target("grid").group == "grid"  # type: ignore[union-attr]
    assert staff.resolve_ask_target("СКРЭК").organization == "grid"  # type: ignore[union-attr]
    assert staff.resolve_ask_target("heat").group == "heat"  # type: ignore[union-attr]
    assert staff.resolve_ask_target("ТОО") is None  # names two organizations
    assert staff.resolve_ask_target("expert@univer.kz") is None  # outside every organization's domains
    assert staff.resolve_ask_target("skes") is None  # SKES has no specialist group here
    assert HEAT in staff.addresses


def test_routes_test_cli_explains_the_choice(tmp_path: Path) -> None:
    data = settings_dict(tmp_path)
    data.update(contact_center(copy_head=True))
    config = write_toml(tmp_path / "config.toml", data)
    eml = tmp_path / "outage.eml"
    eml.write_bytes(mail("aigul@mail.ru", "Второй день отключили свет на ул. Абая.", subject="Электричество"))
    result = CliRunner().invoke(main, ["routes", "test", str(eml), "--config", str(config)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert " 1. outage -> operators: MATCH (first: wins): keyword 'отключили свет' in body" in lines
    assert any(line.startswith(" 2. heating -> operators: no: subject does not match") for line in lines)
    assert "result:     rule outage -> group operators (keyword 'отключили свет' in body)" in lines
    assert f"members:    {OP1}, {OP2} (assign everyone)" in lines
    assert "asks:       grid (routes.ask: at once, in the operators' name)" in lines
    assert f"copied to:  {HEAD} (routing.copy_head)" in lines


def test_routes_test_cli_routes_a_forward_as_its_original(tmp_path: Path) -> None:
    data = settings_dict(tmp_path)
    data.update(contact_center())
    config = write_toml(tmp_path / "config.toml", data)
    eml = tmp_path / "fwd.eml"
    forward = (
        "-------- Пересылаемое сообщение --------\nОт: Ержан <erzhan@mail.ru>\n"
        "Тема: Холодные батареи\n\nХолодно."
    )
    eml.write_bytes(mail(OP1, forward, subject="Fwd: Холодные батареи"))
    result = CliRunner().invoke(main, ["routes", "test", str(eml), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert f"forwarded in by {OP1}" in result.output
    assert "from:       erzhan@mail.ru" in result.output
    assert "result:     rule heating -> group operators" in result.output
