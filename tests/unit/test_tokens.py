import pytest

from mailrobot.mail.tokens import (
    case_number_pattern,
    make_message_id,
    read_message_id,
    read_reply_address,
    reply_address,
)

SECRET = "0123456789abcdef-secret"


def test_message_id_round_trip_and_forgery() -> None:
    mid = make_message_id(SECRET, "example.kz", "SKES-2026-000123", "notice")
    ref = read_message_id(SECRET, mid)
    assert ref is not None and ref.case_number == "SKES-2026-000123" and ref.kind == "notice"
    assert read_message_id("another-secret-entirely", mid) is None
    forged = mid.replace("000123", "000124")
    assert read_message_id(SECRET, forged) is None
    assert read_message_id(SECRET, "<random@example.com>") is None


def test_reply_address_names_the_case_only_when_signed() -> None:
    address = reply_address(SECRET, "feedback@example.kz", "SKES-2026-000007")
    assert address.startswith("feedback+SKES-2026-000007.") and address.endswith("@example.kz")
    assert read_reply_address(SECRET, address) == "SKES-2026-000007"
    assert read_reply_address(SECRET, address.replace("000007", "000008")) is None
    assert read_reply_address(SECRET, "feedback@example.kz") is None


def test_case_number_pattern_follows_the_format() -> None:
    pattern = case_number_pattern("SKES-{year}-{seq:06d}")
    assert pattern.findall("Re: [SKES-2026-000123] Счёт") == ["SKES-2026-000123"]
    assert pattern.findall("SKES-2026-000123 without brackets, [SKES-26-1]") == []
    assert case_number_pattern("{year}/{seq}").findall("[2026/15]") == ["2026/15"]


@pytest.mark.parametrize("number", ["SKES-2026-000007", "2026-000007"])
def test_a_reply_address_verifies_only_at_full_length(number: str) -> None:
    address = reply_address(SECRET, "feedback@example.kz", number)
    local, domain = address.split("@")
    base, signature = local.rsplit(".", 1)
    assert read_reply_address(SECRET, address) == number
    for cut in range(1, len(signature)):
        assert read_reply_address(SECRET, f"{base}.{signature[:cut]}@{domain}") is None
    for extra in ("a", "q", signature):
        assert read_reply_address(SECRET, f"{base}.{signature}{extra}@{domain}") is None
    # The signature is base32 (one letter case): its case carries no information, so it is not a forgery.
    assert read_reply_address(SECRET, f"{base}.{signature.upper()}@{domain}") == number


@pytest.mark.parametrize("number", ["SKES-2026-000007", "2026-000007"])
def test_no_one_character_guess_verifies(number: str) -> None:
    hits = [
        c for c in "abcdefghijklmnopqrstuvwxyz234567"
        if read_reply_address(SECRET, f"feedback+{number}.{c}@example.kz")
    ]
    assert hits == []


def test_a_message_id_verifies_only_at_full_length() -> None:
    mid = make_message_id(SECRET, "example.kz", "2026-000123", "forward")
    head, _, domain = mid.strip("<>").partition("@")
    body, signature = head.rsplit(".", 1)
    for cut in range(1, len(signature)):
        assert read_message_id(SECRET, f"<{body}.{signature[:cut]}@{domain}>") is None
    assert read_message_id(SECRET, f"<{body}.{signature}x@{domain}>") is None
    assert read_message_id(SECRET, mid) is not None


# -- item 3 of issue 9: tokens verify whatever letter case they come back in; rotated keys still verify ----

# Made by the code before the canonical form (robot.secret = SECRET): mail already sent carries these.
OLD_REPLY = "feedback+SKES-2026-000007.xq7rst3nsee2@example.kz"
OLD_REPLY_LOWER_FORMAT = "feedback+skes-2026-000007.xkg5w7ocpejp@example.kz"  # a format with small letters
OLD_MESSAGE_ID = "<mr.SKES-2026-000007.forward.0a1b2c3d4e5f.ohjyaytiq2g2@example.kz>"
OLD_MESSAGE_ID_MIXED = "<mr.Skes-2026-000007.forward.0a1b2c3d4e5f.hq2bg6hpq6hx@example.kz>"


def test_a_lower_cased_reply_address_still_names_its_case() -> None:
    address = reply_address(SECRET, "feedback@example.kz", "SKES-2026-000002")
    for seen in (address, address.lower(), address.upper()):
        number = read_reply_address(SECRET, seen)
        assert number is not None and number.upper() == "SKES-2026-000002"
    # Case-changing the number does not make another case's token: the number still has to match.
    assert read_reply_address(SECRET, address.lower().replace("000002", "000003")) is None


def test_tokens_made_before_the_change_still_verify() -> None:
    assert read_reply_address(SECRET, OLD_REPLY) == "SKES-2026-000007"
    assert read_reply_address(SECRET, OLD_REPLY.lower()) == "skes-2026-000007"
    assert read_reply_address(SECRET, OLD_REPLY_LOWER_FORMAT) == "skes-2026-000007"
    assert reply_address(SECRET, "feedback@example.kz", "SKES-2026-000007") == OLD_REPLY
    for mid in (OLD_MESSAGE_ID, OLD_MESSAGE_ID.lower(), OLD_MESSAGE_ID_MIXED):
        ref = read_message_id(SECRET, mid)
        assert ref is not None and ref.case_number.upper() == "SKES-2026-000007" and ref.kind == "forward"


def test_a_message_id_verifies_in_any_letter_case() -> None:
    mid = make_message_id(SECRET, "example.kz", "SKES-2026-000123", "extreq")
    for seen in (mid.lower(), mid.upper()):
        ref = read_message_id(SECRET, seen)
        assert ref is not None and ref.case_number.upper() == "SKES-2026-000123" and ref.kind == "extreq"


def test_previous_secrets_verify_and_never_sign() -> None:
    new = "a-brand-new-secret-0123456789"
    keys = (new, SECRET)  # robot.secret rotated: the old one in robot.previous_secrets
    assert read_reply_address(keys, OLD_REPLY) == "SKES-2026-000007"
    assert read_message_id(keys, OLD_MESSAGE_ID) is not None
    assert read_reply_address(new, OLD_REPLY) is None  # without it, the old mail is cut off
    fresh = reply_address(keys, "feedback@example.kz", "SKES-2026-000007")
    assert fresh != OLD_REPLY and read_reply_address(new, fresh) == "SKES-2026-000007"
    assert read_message_id(new, make_message_id(keys, "example.kz", "SKES-2026-1", "ask")) is not None


def test_a_typed_subject_tag_is_found_in_any_letter_case() -> None:
    pattern = case_number_pattern("SKES-{year}-{seq:06d}")
    assert pattern.findall("Re: [skes-2026-000123] Счёт") == ["skes-2026-000123"]
