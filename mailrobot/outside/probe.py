"""What a probe of an outside server (for `mailrobot doctor`) reports when it fails."""

from __future__ import annotations

import socket
from enum import StrEnum


class Failure(StrEnum):
    REFUSED = "refused"  # the server refused our credentials
    TOKEN = "token"  # no OAuth2 token could be had
    NETWORK = "network"  # no connection, a timeout, TLS
    SERVER = "server"  # the server failed a command


class ProbeFailed(Exception):
    def __init__(self, failure: Failure, detail: str) -> None:
        super().__init__(detail)
        self.failure = failure
        self.detail = detail


def describe(value: object) -> str:
    """An exception or a server's reply as one readable line."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, socket.timeout | TimeoutError):
        return "timed out"
    return str(value) or type(value).__name__
