# Shared set-up for tests/run and tests/demo. Source it, then call nba_setup:
#
#   source tests/tools/setup.sh && nba_setup || exit 1
#
# nba_setup picks a Python >= 3.12 (NBA_PYTHON, python3.13/python3.12/python3 on PATH, then pyenv),
# creates .venv when missing, runs `pip install -e '.[test]' netbox==4.7.3` only when pyproject.toml
# changed since the last install (stamp file .venv/.nba-installed), and `npm ci` in tests/idp when
# its node_modules are missing or older than package-lock.json. NBA_NEWEST_SOCIAL_AUTH=1 then installs the
# newest social-auth-core and social-auth-app-django over NetBox's pins (CI's look ahead at NetBox's next release). nba_ensure_services exports the
# NBA_* variables of PostgreSQL and Redis (embedded ones are started when none run here).
# Every function returns non-zero, after saying why, instead of exiting.

NBA_REPO="${NBA_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
NBA_VENV="${NBA_VENV:-$NBA_REPO/.venv}"
NBA_NETBOX_VERSION="${NBA_NETBOX_VERSION:-4.7.3}"

nba_log() {
  printf '%s\n' "$*" >&2
}

# True when $1 runs and is Python 3.12 or newer.
nba_python_ok() {
  "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1
}

# Print the path of a Python >= 3.12 interpreter.
nba_pick_python() {
  local candidate root
  for candidate in "${NBA_PYTHON:-}" python3.13 python3.12 python3; do
    if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 && nba_python_ok "$candidate"; then
      # Resolve pyenv shims and the like to the real interpreter.
      "$candidate" -c 'import sys; print(sys.executable)'
      return 0
    fi
  done
  if command -v pyenv >/dev/null 2>&1 && root="$(pyenv root 2>/dev/null)"; then
    for candidate in $(ls -d "$root"/versions/3.* 2>/dev/null | sort -rV); do
      if nba_python_ok "$candidate/bin/python3"; then
        printf '%s\n' "$candidate/bin/python3"
        return 0
      fi
    done
  fi
  nba_log "No Python 3.12 or newer found (tried \$NBA_PYTHON, python3.13, python3.12 and python3 on PATH, and pyenv's versions)."
  nba_log "Install Python 3.12 or 3.13, or point NBA_PYTHON at one."
  return 1
}

nba_ensure_venv() {
  if [ -x "$NBA_VENV/bin/python" ] && nba_python_ok "$NBA_VENV/bin/python"; then
    return 0
  fi
  if [ -e "$NBA_VENV" ]; then
    nba_log "$NBA_VENV exists but holds no working Python 3.12+. Remove it and run again."
    return 1
  fi
  local python
  python="$(nba_pick_python)" || return 1
  nba_log "Creating $NBA_VENV with $python ..."
  "$python" -m venv "$NBA_VENV" || return 1
}

nba_install_packages() {
  local stamp="$NBA_VENV/.nba-installed" wanted
  wanted="$(sha256sum "$NBA_REPO/pyproject.toml" | cut -d' ' -f1) netbox==$NBA_NETBOX_VERSION newest=${NBA_NEWEST_SOCIAL_AUTH:-0}"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
    return 0
  fi
  nba_log "Installing the plugin and NetBox $NBA_NETBOX_VERSION into $NBA_VENV (pyproject.toml is new or changed) ..."
  (cd "$NBA_REPO" && "$NBA_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    -e '.[test]' "netbox==$NBA_NETBOX_VERSION") || return 1
  if [ "${NBA_NEWEST_SOCIAL_AUTH:-0}" = 1 ]; then
    nba_log "Installing the newest social-auth-core and social-auth-app-django over NetBox's pins ..."
    "$NBA_VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade \
      'social-auth-core>=7' 'social-auth-app-django>=8' || return 1
  fi
  printf '%s\n' "$wanted" >"$stamp"
}

nba_install_idp() {
  local idp="$NBA_REPO/tests/idp"
  if [ -f "$idp/node_modules/.package-lock.json" ] && ! [ "$idp/package-lock.json" -nt "$idp/node_modules/.package-lock.json" ]; then
    return 0
  fi
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    nba_log "The test provider needs Node.js 20 or newer with npm (Debian: apt-get install nodejs npm)."
    return 1
  fi
  if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
    nba_log "The test provider needs Node.js 20 or newer; this is $(node --version)."
    return 1
  fi
  nba_log "Installing the test provider's packages (npm ci in tests/idp) ..."
  npm ci --prefix "$idp" --no-audit --no-fund --loglevel=error >/dev/null || return 1
}

nba_setup() {
  nba_ensure_venv && nba_install_packages && nba_install_idp
}

# Export NBA_DB_* and NBA_REDIS_* for PostgreSQL and Redis, starting embedded ones under .local/ if none run.
nba_ensure_services() {
  local exports
  exports="$(cd "$NBA_REPO" && "$NBA_VENV/bin/python" -m tests.tools.services ensure)" || return 1
  eval "$exports"
}
