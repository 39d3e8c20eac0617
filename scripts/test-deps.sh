#!/usr/bin/env bash
# Installs what the tests and the demo need, and does nothing that is already done (safe to run every time):
#   - Debian packages: dovecot-imapd (the tests start their own private Dovecot), postgresql (its binaries
#     only: the PostgreSQL tests start their own throw-away server), systemd (for systemd-analyze),
#     python3-venv when ensurepip is missing;
#   - a virtualenv in .venv with this project installed editable, with its [test] extra.
# Needs root (or sudo) only when a package is missing.  Set PYTHON to choose the interpreter (>= 3.11).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "test-deps: $PYTHON is missing or older than 3.11; install Python 3.11+ or set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

missing=()
# systemd: only for systemd-analyze, which checks the shipped unit offline (no systemd needs to run).
for pkg in dovecot-imapd postgresql systemd; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
# Debian splits ensurepip (which `python -m venv` needs) into python3-venv.
if [[ ! -x .venv/bin/python ]] && ! "$PYTHON" -c 'import ensurepip' 2>/dev/null; then
  missing+=(python3-venv)
fi

if ((${#missing[@]})); then
  sudo=()
  if [[ $EUID -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "test-deps: need root to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  echo "test-deps: installing ${missing[*]}"
  # Installing postgresql would create and start a system cluster ("main"); the tests never use one, so
  # tell postgresql-common not to create it.  Only for this install: the drop-in is removed afterwards.
  cluster_dropin=/etc/postgresql-common/createcluster.d/99-mailrobot-tests-no-cluster.conf
  "${sudo[@]}" mkdir -p "$(dirname "$cluster_dropin")"
  echo "create_main_cluster = false" | "${sudo[@]}" tee "$cluster_dropin" >/dev/null
  trap '"${sudo[@]}" rm -f "$cluster_dropin"' EXIT

  apt_install() {
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  }
  # apt-get update only when needed: never run on this machine (no package lists), or the lists are stale
  # (the install fails on a missing package or a 404).
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
    "${sudo[@]}" apt-get update -q
  fi
  if ! apt_install; then
    "${sudo[@]}" apt-get update -q
    apt_install
  fi
  "${sudo[@]}" rm -f "$cluster_dropin"
  trap - EXIT

  # The package starts a system Dovecot on ports 143/993; the tests run their own, so stop and disable
  # the system one.  Without systemd (a container) there may be nothing running: then this is a no-op.
  if [[ " ${missing[*]} " == *" dovecot-imapd "* ]]; then
    if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
      "${sudo[@]}" systemctl disable --now dovecot.service dovecot.socket >/dev/null 2>&1 || true
    elif command -v service >/dev/null; then
      "${sudo[@]}" service dovecot stop >/dev/null 2>&1 || true
    fi
  fi
fi

# The virtualenv: reinstall only when pyproject.toml or the interpreter changed (the install is editable,
# so new modules under mailrobot/ need no reinstall).
stamp=.venv/.mailrobot-deps
want="$(sha256sum pyproject.toml | cut -d' ' -f1) $("$PYTHON" -c 'import sys; print(sys.version)' | head -n1)"
if [[ ! -x .venv/bin/python ]] || ! .venv/bin/python -c 'import sys' 2>/dev/null; then
  rm -rf .venv
  "$PYTHON" -m venv .venv
fi
if [[ ! -f $stamp || "$(cat "$stamp")" != "$want" ]]; then
  echo "test-deps: installing mailrobot[test] into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
  echo "$want" >"$stamp"
fi
