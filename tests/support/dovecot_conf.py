"""The configuration file of the tests' private Dovecot: standalone, so /etc/dovecot never matters."""

from __future__ import annotations

import grp
from pathlib import Path

_TEMPLATE = """\
# Written by tests/support/dovecot.py: a private, throw-away Dovecot for tests.  Standalone on purpose: the
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


def dovecot_conf(
    *,
    workdir: Path,
    host: str,
    port: int,
    uid: int,
    gid: int,
    run_as: str | None,
    oauth2_args: Path | None = None,
) -> str:
    """dovecot.conf for a Dovecot in `workdir` (run/, state/, mail/, users/, dovecot.log) on host:port.

    `run_as`: the user every Dovecot process runs as when we are not root (None: Dovecot's own users).
    `oauth2_args`: a file written by `oauth2_passdb_args`; XOAUTH2/OAUTHBEARER logins are then checked by it.
    """
    if run_as:
        # Non-root: Dovecot cannot switch users or chroot, so every process runs as us.
        group = grp.getgrgid(gid).gr_name
        privilege = (
            f"default_internal_user = {run_as}\ndefault_internal_group = {group}\n"
            f"default_login_user = {run_as}\n"
        )
        chroot = "  chroot =\n"
    else:
        privilege, chroot = "", ""
    text = _TEMPLATE.format(
        instance=f"mailrobot-test-{port}",
        run_dir=workdir / "run",
        state_dir=workdir / "state",
        log_path=workdir / "dovecot.log",
        host=host,
        port=port,
        uid=uid,
        gid=gid,
        privilege_settings=privilege,
        mail_dir=workdir / "mail",
        users_dir=workdir / "users",
        login_chroot=chroot,
    )
    if oauth2_args is not None:
        mechanisms = "auth_mechanisms = plain login"
        text = text.replace(f"{mechanisms}\n", f"{mechanisms} xoauth2 oauthbearer\n")
        passdb = f"  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {oauth2_args}\n"
        text += f"passdb {{\n{passdb}}}\n"
    return text


def oauth2_passdb_args(introspection_url: str) -> str:
    """The oauth2 passdb's settings: each token is POSTed to this RFC 7662 introspection URL, whose answer
    must say {"active": true, "username": "<the login name>"}."""
    return (
        f"introspection_mode = post\nintrospection_url = {introspection_url}\n"
        "username_attribute = username\nactive_attribute = active\nactive_value = true\n"
    )
