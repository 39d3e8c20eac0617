"""The spam filter's verdict and our own server's authentication results (issue 11.7, 11.2)."""

from __future__ import annotations

import pytest

from mailrobot.mail.parse import parse_message
from mailrobot.regulation.classify import Facts, Kind, classify
from mailrobot.regulation.decide import Policy, RecordMessage, decide
from mailrobot.regulation.spam import SpamPolicy, sender_authenticated, spam_reason
from tests.support.factories import consumer_mail

OURS = frozenset({"mx.skes.kz"})
POLICY = SpamPolicy("x-spam-score", 6.0, OURS)


def mail(headers: dict[str, str], sender: str = "aigul@mail.ru") -> bytes:
    return consumer_mail(sender, headers=headers)


def reason(headers: dict[str, str], policy: SpamPolicy = POLICY, sender: str = "aigul@mail.ru") -> str | None:
    raw = mail(headers, sender)
    return spam_reason(parse_message(raw, keep_headers=(policy.score_header,)), policy)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-Spam-Flag": "YES"}, "X-Spam-Flag: YES"),  # SpamAssassin
        ({"X-Spam-Status": "Yes, score=12.3 required=5.0 tests=BAYES_99"}, "X-Spam-Status: Yes"),
        ({"X-Spam-Action": "add header"}, "X-Spam-Action: add header"),  # rspamd
        ({"X-Spam-Action": "reject"}, "X-Spam-Action: reject"),
        ({"X-Spam": "Yes"}, "X-Spam: Yes"),  # rspamd's milter
        ({"X-Spam-Score": "7.5"}, "x-spam-score: 7.5"),
    ],
)
def test_each_header_style_is_spam(headers: dict[str, str], expected: str) -> None:
    found = reason(headers)
    assert found is not None and found.startswith(expected)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Spam-Flag": "NO"},
        {"X-Spam-Status": "No, score=1.2 required=5.0"},
        {"X-Spam-Action": "no action"},
        {"X-Spam-Action": "greylist"},
        {"X-Spam-Score": "5.9"},
        {},
    ],
)
def test_clean_mail_is_not_spam(headers: dict[str, str]) -> None:
    assert reason(headers) is None


def test_score_header_is_ignored_without_a_threshold() -> None:
    assert reason({"X-Spam-Score": "99"}, SpamPolicy()) is None


def test_dmarc_fail_under_reject_from_our_server_is_spam() -> None:
    ar = "mx.skes.kz; dmarc=fail (p=REJECT sp=REJECT dis=NONE) header.from=kaspi.kz"
    found = reason({"Authentication-Results": ar}, sender="noreply@kaspi.kz")
    assert found == "Authentication-Results: dmarc=fail (p=reject) for kaspi.kz"
    assert reason({"Authentication-Results": ar.replace("REJECT", "NONE")}, sender="noreply@kaspi.kz") is None


def test_spf_and_dkim_both_failing_is_spam() -> None:
    ar = "mx.skes.kz; spf=fail smtp.mailfrom=x@bank.kz; dkim=fail header.d=bank.kz"
    assert reason({"Authentication-Results": ar}, sender="x@bank.kz") is not None
    ar_one = "mx.skes.kz; spf=fail smtp.mailfrom=x@bank.kz; dkim=pass header.d=bank.kz"
    assert reason({"Authentication-Results": ar_one}, sender="x@bank.kz") is None


def test_forged_authentication_results_from_a_foreign_authserv_id_count_as_none() -> None:
    ar = "mx.attacker.example; dmarc=fail (p=REJECT) header.from=mail.ru"
    assert reason({"Authentication-Results": ar}) is None
    assert reason({"Authentication-Results": ar}, SpamPolicy()) is None  # nothing trusted: all ignored
    passed = "mx.attacker.example; dmarc=pass header.from=skes.kz"
    parsed = parse_message(mail({"Authentication-Results": passed}, "head@skes.kz"))
    assert sender_authenticated(parsed, OURS) is None


@pytest.mark.parametrize(
    ("ar", "proved"),
    [
        ("mx.skes.kz; dmarc=pass header.from=skes.kz", "dmarc=pass for skes.kz"),
        ("mx.skes.kz; dkim=pass header.d=skes.kz header.s=mail", "dkim=pass header.d=skes.kz"),
        ("mx.skes.kz; spf=pass smtp.mailfrom=buh@skes.kz", "spf=pass smtp.mailfrom=buh@skes.kz"),
        ("mx.skes.kz; dkim=pass header.d=mailchimp.com; spf=pass smtp.mailfrom=bounce@mc.com", None),
        ("mx.skes.kz; dmarc=fail header.from=skes.kz", None),
    ],
)
def test_sender_authenticated_needs_an_aligned_pass(ar: str, proved: str | None) -> None:
    parsed = parse_message(mail({"Authentication-Results": ar}, "buh@skes.kz"))
    assert sender_authenticated(parsed, OURS) == proved


def test_spam_is_recorded_without_notice_or_forward() -> None:
    parsed = parse_message(mail({"X-Spam-Flag": "YES"}))
    facts = Facts(frozenset({"feedback@skes.kz"}), spam=spam_reason(parsed, POLICY))
    verdict = classify(parsed, facts)
    assert verdict.kind == Kind.SPAM
    assert decide(verdict, parsed, facts, Policy()) == [RecordMessage("spam", verdict.reason)]
