"""The verdict of the mail server in front of the mailbox: is this spam, and does the sender's address pass
authentication (issue 11.7 and 11.2).  Pure: reads the parsed headers and the policy, nothing else.

Honoured: SpamAssassin's `X-Spam-Flag: YES` / `X-Spam-Status: Yes, …`, rspamd's `X-Spam-Action` and
`X-Spam: Yes`, a configured score header with its threshold, and Authentication-Results (RFC 8601) only
from an authserv-id the config names as ours: anyone can write that header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailrobot.mail.parse import Parsed
from mailrobot.mail.text import header_safe

_YES = frozenset({"yes", "true", "1"})
# rspamd's actions that mean "this is spam" (no action, greylist and soft reject do not).
_SPAM_ACTIONS = frozenset({"reject", "add header", "add_header", "rewrite subject", "rewrite_subject"})
_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?")
_RESULT = re.compile(r"(?:^|;)\s*([a-z0-9_-]+)\s*=\s*([a-z]+)([^;]*)", re.IGNORECASE)
_PROPERTY = re.compile(r"\b([a-z]+)\.([a-z0-9_-]+)\s*=\s*\"?([^\s;\"]+)", re.IGNORECASE)
_COMMENT_POLICY = re.compile(r"\bp=([a-z]+)", re.IGNORECASE)


@dataclass(frozen=True)
class SpamPolicy:
    score_header: str = ""  # lower-cased header name; "" = none
    threshold: float | None = None
    trusted_authserv_ids: frozenset[str] = frozenset()  # lower-cased


@dataclass(frozen=True)
class Method:
    """One method's result in an Authentication-Results header: `dkim=pass header.d=skes.kz`."""

    method: str  # spf, dkim, dmarc, …
    result: str  # pass, fail, softfail, none, …
    properties: dict[str, str]  # "header.from" -> "skes.kz", "smtp.mailfrom" -> "…", "policy.dmarc" -> …
    comment: str


def trusted_results(parsed: Parsed, trusted: frozenset[str]) -> list[Method]:
    """The methods of the Authentication-Results headers that one of our own servers wrote; none when no
    authserv-id is trusted (a header from a foreign authserv-id counts as absent)."""
    if not trusted:
        return []
    methods = []
    for header in parsed.auth_results:
        authserv, _, rest = header.partition(";")
        if authserv.strip().split(" ")[0].lower() not in trusted:
            continue
        for match in _RESULT.finditer(";" + rest):
            extra = match.group(3)
            properties = {f"{p[0].lower()}.{p[1].lower()}": p[2].lower() for p in _PROPERTY.findall(extra)}
            methods.append(Method(match.group(1).lower(), match.group(2).lower(), properties, extra))
    return methods


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


def _aligned(domain: str, other: str) -> bool:
    """Relaxed DMARC alignment: the same organizational domain, approximated as one being a subdomain of
    the other."""
    return bool(domain and other) and (
        domain == other or domain.endswith("." + other) or other.endswith("." + domain)
    )


def sender_authenticated(parsed: Parsed, trusted: frozenset[str]) -> str | None:
    """How our own server's Authentication-Results prove the From address (DMARC pass, or DKIM or SPF
    passing for an aligned domain), or None when they do not."""
    domain = _domain(parsed.from_addr)
    for m in trusted_results(parsed, trusted):
        if m.result != "pass":
            continue
        if m.method == "dmarc" and _aligned(domain, m.properties.get("header.from", domain)):
            return f"dmarc=pass for {domain}"
        if m.method == "dkim" and _aligned(domain, m.properties.get("header.d", "")):
            return f"dkim=pass header.d={m.properties['header.d']}"
        if m.method == "spf":
            mailfrom = m.properties.get("smtp.mailfrom", "")
            if _aligned(domain, _domain(mailfrom) if "@" in mailfrom else mailfrom):
                return f"spf=pass smtp.mailfrom={mailfrom}"
    return None


def spam_reason(parsed: Parsed, policy: SpamPolicy) -> str | None:
    """Why the filter in front of the mailbox, or our own server's authentication, says this is spam or
    a forged sender; None when nothing does."""
    headers = parsed.headers
    flag = headers.get("x-spam-flag", "")
    if flag.strip().lower() in _YES:
        return f"X-Spam-Flag: {header_safe(flag, 40)}"
    status = headers.get("x-spam-status", "")
    if status.strip().lower().startswith("yes"):
        return f"X-Spam-Status: {header_safe(status, 120)}"
    action = headers.get("x-spam-action", "")
    if action.strip().lower() in _SPAM_ACTIONS:
        return f"X-Spam-Action: {header_safe(action, 40)} (rspamd)"
    rspamd = headers.get("x-spam", "")
    if rspamd.strip().lower() in _YES:
        return f"X-Spam: {header_safe(rspamd, 40)} (rspamd)"
    if policy.score_header and policy.threshold is not None:
        value = headers.get(policy.score_header, "")
        number = _NUMBER.search(value)
        if number and float(number.group(0).replace(",", ".")) >= policy.threshold:
            return f"{policy.score_header}: {header_safe(value, 60)} (spam.threshold = {policy.threshold:g})"
    return _authentication_failed(parsed, policy.trusted_authserv_ids)


def _authentication_failed(parsed: Parsed, trusted: frozenset[str]) -> str | None:
    """dmarc=fail under a reject or quarantine policy, or SPF and DKIM both failing, in our own server's
    Authentication-Results: the From address cannot be trusted with a notice."""
    methods = trusted_results(parsed, trusted)
    for m in methods:
        if m.method != "dmarc" or m.result != "fail":
            continue
        policy = m.properties.get("policy.dmarc") or next(iter(_COMMENT_POLICY.findall(m.comment)), "")
        if policy.lower() in ("reject", "quarantine"):
            return f"Authentication-Results: dmarc=fail (p={policy.lower()}) for {_domain(parsed.from_addr)}"
    spf = {m.result for m in methods if m.method == "spf"}
    dkim = {m.result for m in methods if m.method == "dkim"}
    if spf and dkim and spf <= {"fail", "softfail"} and dkim <= {"fail", "permerror"}:
        return f"Authentication-Results: spf={'/'.join(sorted(spf))} and dkim={'/'.join(sorted(dkim))}"
    return None
