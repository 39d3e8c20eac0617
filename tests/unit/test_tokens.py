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
