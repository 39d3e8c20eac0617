"""E-mail addresses compared as mail servers deliver them."""

from __future__ import annotations


def without_tag(address: str) -> str:
    """The address lower-cased and without its sub-address tag: feedback+case.token@x is feedback@x."""
    local, _, domain = address.strip().lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"
