"""Real servers for end-to-end tests and the demo: a private Dovecot (IMAP) and an aiosmtpd sink (SMTP).

Nothing here is mocked: the robot talks to a real IMAP server and a real SMTP server on 127.0.0.1, so what
passes here passes against a production Dovecot/Postfix.  Dovecot is started once per test session (about
0.3 s); each test gets its own user so tests never see each other's mail.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import grp
import json
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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import imapclient
import tomli_w
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

LOCALHOST = "127.0.0.1"
DOVECOT_BINARY = "/usr/sbin/dovecot"
INSTALL_HINT = "run scripts/test-deps.sh (as root) to install dovecot-imapd"

# A fixed signing secret for test configs: 32 characters, so robot.secret validation passes.
TEST_SECRET = "mailrobot-test-secret-0123456789"


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port that was free a moment ago (the caller retries if another process takes it first)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"({path} does not exist)"
    return "\n".join(text.splitlines()[-lines:]) or f"({path} is empty)"


# ----------------------------------------------------------------------------------------------------
# Dovecot


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

_CONFIG_TEMPLATE = """\
# Written by tests/servers.py: a private, throw-away Dovecot for tests.  Standalone on purpose: the
# system's /etc/dovecot is never read, so whatever the package installed there does not matter.
instance_name = {instance}
base_dir = {run_dir}
state_dir = {state_dir}
log_path = {log_path}
log_timestamp = "%Y-%m-%d %H:%M:%S "
auth_verbose = yes

protocols = imap
listen = {host}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# A wrong-password test should not cost the default 2 s.
auth_failure_delay = 0

# The only uid/gid allowed for mail (root, uid 0, is refused by Dovecot unless first_valid_uid = 0).
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
last_valid_gid = {gid}
{privilege_settings}
mail_location = maildir:{mail_dir}/%u
namespace inbox {{
  inbox = yes
  separator = /
}}
# Speed over durability: the mail lives only as long as the test session.
mail_fsync = never
# Only Dovecot writes these Maildirs, so it need not rescan cur/ on every sync.
maildir_very_dirty_syncs = yes
# inotify wakes IDLE; this is only the fallback when it does not.  Either way an IDLE client hears of a
# new message about 0.5 s after the APPEND: Dovecot batches changes with a fixed 500 ms delay
# (NOTIFY_DELAY_MSECS in its mailbox-watch.c), not configurable.  Latency tests must allow for it.
mailbox_idle_check_interval = 1 secs
# Tests (and watchdog drills) may open many connections as one user from 127.0.0.1; the default is 10.
mail_max_userip_connections = 1000

# One passwd-file per user: Dovecot re-reads a passwd-file at most once a second, so a user added to a
# shared file right after another login would be "unknown user" for up to a second.  A new file is read
# at once.
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {users_dir}/%u
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {users_dir}/%u
}}

# After a failed login, Dovecot's "auth penalty" delays every later login from the same IP by 2-15 s:
# one wrong-password test would slow all the tests after it.  The auth process keeps the penalty in
# anvil through this socket; when it cannot connect (mode 0: the auth process does not run as root),
# the penalty is off.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  # One long-lived login process for all connections: faster than a fork per connection.
  service_count = 0
  process_min_avail = 1
{login_chroot}}}
"""


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

    def log_tail(self, lines: int = 40) -> str:
        """The end of Dovecot's log and its stderr (startup errors land there before the log process runs)."""
        return (
            f"--- {self.log_path} ---\n{_tail(self.log_path, lines)}\n"
            f"--- {self._path('stderr.log')} ---\n{_tail(self._path('stderr.log'), lines)}"
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
        if self._run_as:
            # Non-root: Dovecot cannot switch users or chroot, so every process runs as us.
            group = grp.getgrgid(self._gid).gr_name
            privilege = (
                f"default_internal_user = {self._run_as}\ndefault_internal_group = {group}\n"
                f"default_login_user = {self._run_as}\n"
            )
            chroot = "  chroot =\n"
        else:
            privilege, chroot = "", ""
        assert self.workdir is not None
        self.config_path.write_text(
            _CONFIG_TEMPLATE.format(
                instance=f"mailrobot-test-{self.port}",
                run_dir=self.workdir / "run",
                state_dir=self.workdir / "state",
                log_path=self.log_path,
                host=self.host,
                port=self.port,
                uid=self._uid,
                gid=self._gid,
                privilege_settings=privilege,
                mail_dir=self.mail_dir,
                users_dir=self.users_dir,
                login_chroot=chroot,
            ),
            encoding="utf-8",
        )
        if self.oauth2_introspection_url:
            self._add_oauth2_passdb(self.oauth2_introspection_url)

    def _add_oauth2_passdb(self, url: str) -> None:
        # The introspection answer must say {"active": true, "username": "<the login name>"}.
        args = self._path("oauth2.conf.ext")
        args.write_text(
            f"introspection_mode = post\nintrospection_url = {url}\n"
            "username_attribute = username\nactive_attribute = active\nactive_value = true\n",
            encoding="utf-8",
        )
        text = self.config_path.read_text(encoding="utf-8")
        mechanisms = "auth_mechanisms = plain login"
        text = text.replace(f"{mechanisms}\n", f"{mechanisms} xoauth2 oauthbearer\n")
        text += f"passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {args}\n}}\n"
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
            if keep_port or "Address already in use" not in self.log_tail():
                break
            # Someone took the port between free_port() and Dovecot's bind(): pick another.
        raise DovecotError(f"Dovecot did not start on {self.host}:{self.port}\n{self.log_tail()}")

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
            + self.log_tail()
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
            raise DovecotError(f"IMAP login as {user!r} failed: {exc}\n{self.log_tail()}") from exc
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


# ----------------------------------------------------------------------------------------------------
# SMTP sink


@dataclass(frozen=True)
class ReceivedMail:
    """One message the sink accepted, as the SMTP server saw it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage
    authenticated_as: str | None = None
    received_at: float = field(default_factory=time.time)

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    @property
    def to(self) -> str:
        return str(self.message.get("To", ""))

    def text(self) -> str:
        """The decoded text/plain body with \n line ends ("" if the message has none)."""
        return self._body("plain") or ""

    def html(self) -> str | None:
        """The decoded text/html body with \n line ends, or None."""
        return self._body("html")

    def _body(self, subtype: str) -> str | None:
        part = self.message.get_body(preferencelist=(subtype,))
        if part is None:
            return None
        content = part.get_content()
        text = content if isinstance(content, str) else content.decode("utf-8", "replace")
        # SMTP delivers CRLF; tests compare with Python strings.
        return text.replace("\r\n", "\n")


class _SinkHandler:
    """aiosmtpd handler: called on the server's thread, so state is shared through the sink's lock."""

    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return self._sink._deliver(session, envelope)


class _OAuth2SinkHandler(_SinkHandler):
    """Adds AUTH XOAUTH2 (aiosmtpd offers every `auth_<MECHANISM>` method of the handler)."""

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        fields: dict[str, str] = {}
        with contextlib.suppress(ValueError):
            decoded = base64.b64decode(args[1], validate=True).decode("utf-8") if len(args) > 1 else ""
            fields = dict(part.split("=", 1) for part in decoded.split("\x01") if "=" in part)
        user, token = fields.get("user", ""), fields.get("auth", "").removeprefix("Bearer ")
        check = self._sink.oauth2
        if check is not None and user and check(user, token):
            return AuthResult(success=True, auth_data=user)
        # As Gmail and Microsoft do: a 334 challenge with a JSON error; the client's empty answer gets 535.
        await server.challenge_auth(json.dumps({"status": "401", "schemes": "bearer"}))
        return AuthResult(success=False, handled=False)


class SmtpSink:
    """An SMTP server on 127.0.0.1 (aiosmtpd in a thread) that keeps every message it accepts.

    `require_auth=True` demands AUTH PLAIN/LOGIN with `username`/`password` (over plain TCP, as the robot
    does with smtp.security = "none"); `fail_next(n)` makes the next n deliveries fail with a 451 so retry
    and backoff can be tested against a real server.
    """

    def __init__(
        self,
        *,
        host: str = LOCALHOST,
        port: int = 0,
        require_auth: bool = False,
        username: str = "robot",
        password: str = "robot-password",
        oauth2: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.host = host
        self.port = port  # 0: a free port at each start; else this one (to come back where clients look)
        self.require_auth = require_auth
        # When set, AUTH XOAUTH2 is offered and accepted for (user, token) pairs this returns True for.
        self.oauth2 = oauth2
        self.username = username
        self.password = password
        self._controller: Controller | None = None
        self._cond = threading.Condition()
        self._messages: list[ReceivedMail] = []
        self._fail_remaining = 0
        self._fail_reply = ""
        self.refused = 0  # deliveries answered with a fail_next() reply

    # -- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._controller is not None:
            return self
        last_error: OSError | None = None
        for _attempt in range(5):
            port = self.port or free_port(self.host)
            controller = Controller(
                _OAuth2SinkHandler(self) if self.oauth2 else _SinkHandler(self),
                hostname=self.host,
                port=port,
                ready_timeout=10.0,
                server_hostname="sink.test",
                enable_SMTPUTF8=True,
                authenticator=self._authenticate,
                auth_required=self.require_auth,
                auth_require_tls=False,
            )
            try:
                controller.start()
            except OSError as exc:  # the port was taken between free_port() and bind()
                last_error = exc
                continue
            self._controller, self.port = controller, port
            return self
        if self.port:
            raise RuntimeError(f"SMTP sink could not bind {self.host}:{self.port}: {last_error}")
        raise RuntimeError(f"SMTP sink could not bind a port on {self.host}: {last_error}")

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- behaviour -----------------------------------------------------------------------------------------

    def fail_next(self, count: int, reply: str = "451 4.3.0 Temporary failure, try again later") -> None:
        """Answer the next `count` deliveries (at end of DATA) with `reply` instead of accepting them."""
        with self._cond:
            self._fail_remaining = count
            self._fail_reply = reply

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode("utf-8", "replace") == self.username
            and auth_data.password.decode("utf-8", "replace") == self.password
        ):
            return AuthResult(success=True, auth_data=self.username)
        return AuthResult(success=False, handled=False)

    def _deliver(self, session: Session, envelope: Envelope) -> str:
        with self._cond:
            if self._fail_remaining > 0:
                self._fail_remaining -= 1
                self.refused += 1
                return self._fail_reply
        raw = envelope.original_content or b""
        if isinstance(envelope.content, bytes) and not raw:
            raw = envelope.content
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        login = session.auth_data if session.authenticated and isinstance(session.auth_data, str) else None
        mail = ReceivedMail(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            raw=raw,
            message=message,
            authenticated_as=login,
        )
        with self._cond:
            self._messages.append(mail)
            self._cond.notify_all()
        return "250 2.0.0 OK: queued"

    # -- inspection ----------------------------------------------------------------------------------------

    @property
    def messages(self) -> list[ReceivedMail]:
        """A snapshot of what has been accepted so far, in arrival order."""
        with self._cond:
            return list(self._messages)

    def clear(self) -> None:
        with self._cond:
            self._messages.clear()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        """Wait until at least `count` messages arrived and return them all; TimeoutError lists what came."""
        with self._cond:
            if self._cond.wait_for(lambda: len(self._messages) >= count, timeout=timeout):
                return list(self._messages)
            got = [f"{m.rcpt_tos} {m.subject!r}" for m in self._messages]
        raise TimeoutError(f"SMTP sink: expected {count} message(s) within {timeout}s, got {len(got)}: {got}")


# ----------------------------------------------------------------------------------------------------
# Config for the robot


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge `overrides` into a copy of `base`; a None value removes the key (to test a missing key)."""
    merged = dict(base)
    for key, value in overrides.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def robot_config(
    dovecot: Dovecot,
    mailbox: tuple[str, str],
    smtp: SmtpSink,
    database_url: str,
    /,  # positional-only, so the section overrides may be called imap=, smtp=, database=...
    **overrides: Any,
) -> dict[str, Any]:
    """A mailrobot config (mailrobot/config.py) wired to these servers.

    `overrides` are top-level keys of the config: section dicts merged into the defaults (imap=, smtp=,
    robot=, ...) or whole values such as routes=[...].
    """
    username, password = mailbox
    base: dict[str, Any] = {
        "imap": {
            "host": dovecot.host,
            "port": dovecot.port,
            "security": "none",
            "username": username,
            "password": password,
            "poll_interval": 0.2,
            "timeout": 10.0,
        },
        "smtp": {
            "host": smtp.host,
            "port": smtp.port,
            "security": "none",
            "from_address": "feedback@skes.example.kz",
            "from_name": "SKES Contact Center",
            "timeout": 10.0,
            "retry_base_seconds": 0.2,
        },
        "database": {"url": database_url},
        "robot": {"secret": TEST_SECRET},
        "calendar": {},
        "logging": {"level": "DEBUG"},
    }
    if smtp.require_auth:
        base["smtp"] |= {"username": smtp.username, "password": smtp.password}
    return merge(base, overrides)


def write_toml(path: Path, data: Mapping[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path
