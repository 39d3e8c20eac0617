"""The content fingerprint read a megabyte at a time (issue 13): the same digest as the whole-body formula."""

from __future__ import annotations

import hashlib
import random

import pytest

from mailrobot.mail import identity
from tests.support.paths import corpus_dir


def whole_body(body: bytes) -> str:
    digest = hashlib.sha256()
    for line in body.replace(b"\r\n", b"\n").rstrip().split(b"\n"):
        digest.update(line.rstrip() + b"\n")
    return digest.hexdigest()


def chunked(body: bytes) -> str:
    digest = hashlib.sha256()
    identity._digest_lines(digest, body)
    return digest.hexdigest()


@pytest.mark.parametrize(
    "body",
    [b"", b"\r\n\r\n  \t", b"a", b"a\r\n", b"a \r\nb\t\n\n", b"x\ry\r\n\r\nz  \r", b"\nlead\n"],
)
def test_edges(body: bytes) -> None:
    assert chunked(body) == whole_body(body)


def test_bodies_longer_than_a_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(identity, "_CHUNK", 64)
    rng = random.Random(5)
    for _ in range(200):
        body = bytes(rng.choice(b"ab \t\r\n") for _ in range(rng.randrange(0, 600)))
        assert chunked(body) == whole_body(body), body


def test_corpus_fingerprints_are_unchanged() -> None:
    for path in sorted((corpus_dir() / "messages").rglob("*.eml")):
        _header, body = identity.split_raw(path.read_bytes())
        assert chunked(body) == whole_body(body), path


def test_the_body_digested_in_place_after_its_header(monkeypatch: pytest.MonkeyPatch) -> None:
    """content_fingerprint digests the body inside the raw mail (no copy): the header before it never counts,
    even when the body is only whitespace the right-strip would run into the header with."""
    monkeypatch.setattr(identity, "_CHUNK", 64)
    rng = random.Random(7)
    for _ in range(200):
        header = b"Subject: x \t\r\n" * rng.randrange(0, 4)
        body = bytes(rng.choice(b"ab \t\r\n") for _ in range(rng.randrange(0, 300)))
        digest = hashlib.sha256()
        identity._digest_lines(digest, header + body, len(header))
        assert digest.hexdigest() == whole_body(body), (header, body)
