"""A private Dovecot (IMAP) for end-to-end tests, bench/ and demo/: real, never mocked.

The robot talks to a real IMAP server on 127.0.0.1, so what passes here passes against a production Dovecot.
Started once per test session (about 0.3 s); each test gets its own user so tests never see each other's mail.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import NamedTuple, Self

import imapclient

from tests.support.dovecot_conf import dovecot_conf, oauth2_passdb_args
from tests.support.net import LOCALHOST, free_port, tail

DOVECOT_BINARY = "/usr/sbin/dovecot"
INSTALL_HINT = "run scripts/test-deps.sh (as root) to install dovecot-imapd"


class Mailbox(NamedTuple):
    """A Dovecot user made for one test; unpacks as (username, password)."""

    username: str
    password: str


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the test process dies, even by SIGKILL (Linux prctl).

    Without it a killed pytest leaves its Dovecot running for good: it has its own session, so no
    terminal hang-up reaches it either.
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG


class DovecotError(RuntimeError):
    """Dovecot is missing, would not start, or refused what the harness asked of it."""


_USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")


class Dovecot:
    """A private Dovecot 2.3 on 127.0.0.1: plain IMAP (no TLS), passwd-file users, Maildir in a temp dir.

    Runs in the foreground (`dovecot -F`) as our child in its own process group, so stop/freeze reach
    every Dovecot process it forked and nothing else.  As root the mail belongs to `nobody` (Dovecot
    refuses uid 0 for mail); as an ordinary user everything runs as that user.
    """

    def __init__(
        self,
        *,
        host: str = LOCALHOST,
        binary: str | None = None,
        workdir: str | Path | None = None,
        start_timeout: float = 15.0,
        oauth2_introspection_url: str | None = None,
    ) -> None:
        self.host = host
        self.port = 0
        # When set, XOAUTH2/OAUTHBEARER logins are checked by POSTing the token to this RFC 7662
        # introspection URL (Dovecot's oauth2 passdb); passwords keep working beside them.
        self.oauth2_introspection_url = oauth2_introspection_url
        self.binary = binary or shutil.which("dovecot") or DOVECOT_BINARY
        self.start_timeout = start_timeout
        self._given_workdir = Path(workdir) if workdir else None
        self.workdir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._frozen = False
        self._users: dict[str, str] = {}
        self._lock = threading.Lock()
        self._uid, self._gid, self._run_as = self._identity()

    # -- paths ---------------------------------------------------------------------------------------------

    def _path(self, name: str) -> Path:
        if self.workdir is None:
            raise DovecotError("Dovecot has not been started")
        return self.workdir / name

    @property
    def config_path(self) -> Path:
        return self._path("dovecot.conf")

    @property
    def log_path(self) -> Path:
        return self._path("dovecot.log")

    @property
    def users_dir(self) -> Path:
        return self._path("users")

    @property
    def mail_dir(self) -> Path:
        return self._path("mail")

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def logtail(self, lines: int = 40) -> str:
        """The end of Dovecot's log and its stderr (startup errors land there before the log process runs)."""
        return (
            f"--- {self.log_path} ---\n{tail(self.log_path, lines)}\n"
            f"--- {self._path('stderr.log')} ---\n{tail(self._path('stderr.log'), lines)}"
        )

    # -- lifecycle -----------------------------------------------------------------------------------------

    @staticmethod
    def _identity() -> tuple[int, int, str | None]:
        """(uid, gid) owning the mail; the user for Dovecot's unprivileged processes (None: defaults)."""
        if os.geteuid() == 0:
            # Root: mail as `nobody`; Dovecot's own processes as the package's `dovecot`/`dovenull` users.
            nobody = pwd.getpwnam("nobody")
            return nobody.pw_uid, nobody.pw_gid, None
        me = pwd.getpwuid(os.geteuid())
        return me.pw_uid, me.pw_gid, me.pw_name

    def _check_installed(self) -> None:
        if not (os.path.isfile(self.binary) and os.access(self.binary, os.X_OK)):
            raise DovecotError(f"Dovecot is not installed (no {self.binary}): {INSTALL_HINT}")
        if os.geteuid() == 0:
            for user in ("dovecot", "dovenull"):
                try:
                    pwd.getpwnam(user)
                except KeyError:
                    raise DovecotError(
                        f"system user {user!r} is missing (dovecot-core creates it): {INSTALL_HINT}"
                    ) from None

    def _prepare_workdir(self) -> Path:
        if self._given_workdir is not None:
            workdir = self._given_workdir
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            # Short path in /tmp on purpose: Dovecot's unix sockets live under base_dir and a socket path
            # is limited to 108 bytes (pytest's tmp_path can be long, and it is 0700, see below).
            workdir = Path(tempfile.mkdtemp(prefix="mailrobot-dovecot-"))
        # Dovecot's unprivileged processes (dovenull, dovecot, nobody) must traverse into it.
        workdir.chmod(0o755)
        (workdir / "mail").mkdir(exist_ok=True)
        if os.geteuid() == 0:
            # Dovecot creates each user's Maildir in here as the mail uid.
            os.chown(workdir / "mail", self._uid, self._gid)
        # Read by the auth process, which does not run as root.
        (workdir / "users").mkdir(mode=0o755, exist_ok=True)
        return workdir

    def _write_config(self) -> None:
        assert self.workdir is not None
        oauth2_args = None
        if self.oauth2_introspection_url:
            oauth2_args = self._path("oauth2.conf.ext")
            oauth2_args.write_text(oauth2_passdb_args(self.oauth2_introspection_url), encoding="utf-8")
        text = dovecot_conf(
            workdir=self.workdir,
            host=self.host,
            port=self.port,
            uid=self._uid,
            gid=self._gid,
            run_as=self._run_as,
            oauth2_args=oauth2_args,
        )
        self.config_path.write_text(text, encoding="utf-8")

    def start(self) -> Self:
        """Start Dovecot and return once it greets on its port; raise DovecotError with its log otherwise."""
        if self.running:
            return self
        self._check_installed()
        if self.workdir is None:
            self.workdir = self._prepare_workdir()
        keep_port = self.port != 0  # a restart keeps the port so clients can reconnect to the same address
        for _attempt in range(5):
            if not keep_port:
                self.port = free_port(self.host)
            self._write_config()
            if self._spawn_and_wait():
                return self
            if keep_port or "Address already in use" not in self.logtail():
                break
            # Someone took the port between free_port() and Dovecot's bind(): pick another.
        raise DovecotError(f"Dovecot did not start on {self.host}:{self.port}\n{self.logtail()}")

    def _spawn_and_wait(self) -> bool:
        with self._path("stderr.log").open("ab") as stderr:
            self._proc = subprocess.Popen(
                [self.binary, "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                # Own process group: freeze/stop signal the whole Dovecot tree, and a Ctrl-C aimed at pytest
                # does not kill Dovecot before the fixture's clean stop.
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._proc = None
                return False
            if self._greets():
                return True
            time.sleep(0.05)
        self._terminate()
        raise DovecotError(
            f"Dovecot did not greet on {self.host}:{self.port} within {self.start_timeout}s\n"
            + self.logtail()
        )

    def _greets(self) -> bool:
        # A listening socket is not enough: the kernel accepts before the login process is ready, so wait
        # for the IMAP greeting itself.
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0) as sock:
                return sock.recv(64).startswith(b"* OK")
        except OSError:
            return False

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if self._frozen:
            # A stopped process cannot act on SIGTERM; wake it first.
            self.thaw()
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        # The master reaps its children on SIGTERM; anything left in the group (e.g. after SIGKILL) goes now.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    def stop(self) -> None:
        """Stop Dovecot and delete its temp dir (mail, logs), unless the caller gave the workdir."""
        self._terminate()
        if self.workdir is not None and self._given_workdir is None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
            self.port = 0
            self._users.clear()

    def restart(self) -> None:
        """Stop and start on the same port, keeping users and mail: a server restart as clients see it."""
        self._terminate()
        self.start()

    def freeze(self) -> None:
        """SIGSTOP every Dovecot process: connections stay open but nothing answers (for watchdog tests)."""
        if not self.running:
            raise DovecotError("cannot freeze: Dovecot is not running")
        assert self._proc is not None
        os.killpg(self._proc.pid, signal.SIGSTOP)
        self._frozen = True

    def thaw(self) -> None:
        """SIGCONT every Dovecot process after freeze()."""
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGCONT)
        self._frozen = False

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            # __exit__ does not run when __enter__ raises; the error already carries the log's tail.
            self.stop()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- users and mail ------------------------------------------------------------------------------------

    def add_user(self, name: str, password: str | None = None) -> str:
        """Create a mail user, usable at once; return its password (random unless given)."""
        if not _USER_RE.match(name):
            raise ValueError(f"bad user name {name!r}: letters, digits and ._@+- only, at most 64 characters")
        password = password or secrets.token_urlsafe(12)
        if any(c in password for c in ":\r\n"):
            raise ValueError("a passwd-file password may not contain ':' or line breaks")
        with self._lock:
            if name in self._users:
                raise ValueError(f"user {name!r} already exists")
            home = self.mail_dir / name
            entry = self.users_dir / name
            entry.write_text(f"{name}:{{PLAIN}}{password}:{self._uid}:{self._gid}::{home}::\n", "utf-8")
            entry.chmod(0o644)
            self._users[name] = password
        return password

    def password(self, user: str) -> str:
        try:
            return self._users[user]
        except KeyError:
            raise DovecotError(f"no such user {user!r}: call add_user() first") from None

    def client(self, user: str, timeout: float = 10.0) -> imapclient.IMAPClient:
        """An IMAPClient logged in as `user`; the caller logs out (or use `session()`)."""
        client = imapclient.IMAPClient(self.host, self.port, ssl=False, timeout=timeout)
        try:
            client.login(user, self.password(user))
        except Exception as exc:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise DovecotError(f"IMAP login as {user!r} failed: {exc}\n{self.logtail()}") from exc
        return client

    @contextlib.contextmanager
    def session(self, user: str, timeout: float = 10.0) -> Iterator[imapclient.IMAPClient]:
        """`with dovecot.session(user) as imap:` — a logged-in client, logged out afterwards."""
        client = self.client(user, timeout)
        try:
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.logout()

    def append(
        self,
        user: str,
        raw: bytes,
        folder: str = "INBOX",
        flags: tuple[str, ...] = (),
        msg_time: datetime | None = None,
    ) -> int:
        """APPEND raw bytes to `folder` (created if missing) and return the new message's UID."""
        with self.session(user) as imap:
            if folder.upper() != "INBOX" and not imap.folder_exists(folder):
                imap.create_folder(folder)
            response = imap.append(folder, raw, flags=flags, msg_time=msg_time)
        # Dovecot has UIDPLUS: "[APPENDUID <uidvalidity> <uid>] Append completed."
        match = re.search(rb"APPENDUID \d+ (\d+)", response or b"")
        if not match:
            raise DovecotError(f"APPEND to {folder!r} gave no APPENDUID: {response!r}")
        return int(match.group(1))

    def list_uids(self, user: str, folder: str = "INBOX") -> list[int]:
        """UIDs in `folder`, ascending; [] when the folder does not exist (yet)."""
        with self.session(user) as imap:
            if not imap.folder_exists(folder):
                return []
            imap.select_folder(folder, readonly=True)
            return sorted(imap.search("ALL"))

    def fetch(self, user: str, folder: str = "INBOX") -> dict[int, bytes]:
        """Every message in `folder` as {uid: raw bytes}; {} when the folder does not exist."""
        with self.session(user) as imap:
            if not imap.folder_exists(folder):
                return {}
            imap.select_folder(folder, readonly=True)
            uids = imap.search("ALL")
            if not uids:
                return {}
            return {uid: data[b"BODY[]"] for uid, data in imap.fetch(uids, ["BODY.PEEK[]"]).items()}

    def folders(self, user: str) -> list[str]:
        with self.session(user) as imap:
            return sorted(name for _flags, _delim, name in imap.list_folders())
