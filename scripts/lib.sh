# Shared by scripts/start and scripts/test: install what a fresh Debian/Ubuntu machine with the Swift
# toolchain lacks. Idempotent; installs nothing that is already there.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

say() { printf '==> %s\n' "$*" >&2; }

# Debian packages the build, the tests and the agent packaging need.
SYSTEM_PACKAGES=(libsqlite3-dev zlib1g-dev python3 python3-venv python3-pip curl ca-certificates systemd dpkg-dev file binutils openssl)
# Only scripts/test installs these: the browser test of the admin console (Tests/browser) drives Debian's
# Chromium through its matching chromedriver; the fonts make the screenshots legible. PostgreSQL 15
# (server and client) is for a throwaway test server (start_test_postgres below). mmdebstrap and
# systemd-nspawn (systemd-container) make and boot the Debian container of the system test (Tests/system).
TEST_POSTGRES_PACKAGES=(postgresql-15 postgresql-client-15)
# dbus-daemon runs the session buses of the desktop-notice tests (Tests/KontorAgentTests/SessionBusTests.swift);
# libfaketime moves the server's clock in the retention end-to-end test; poppler-utils (pdftotext) reads the
# DPO pack's PDF back in its end-to-end test.
TEST_SYSTEM_PACKAGES=(chromium chromium-driver fonts-dejavu-core "${TEST_POSTGRES_PACKAGES[@]}" mmdebstrap systemd-container dbus-daemon libfaketime poppler-utils)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "error: need root (or sudo) to run: $*" >&2; exit 1; fi
}

# install_system_packages PACKAGE...: installs those of the given Debian packages that are missing, and
# checks that the Swift toolchain is there.
install_system_packages() {
  install_debian_packages "$@"
  command -v swift >/dev/null || { echo "error: the Swift toolchain is not on PATH (https://www.swift.org/install/linux/)" >&2; exit 1; }
}

# install_debian_packages PACKAGE...: the same without the Swift check (scripts/postgres-shell needs no Swift).
install_debian_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# A Python virtual environment with the independent RFC 9421 implementation used by the interop tests,
# openapi-spec-validator for the OpenAPI document, icalendar for the on-call feed, and Selenium for the
# browser test, dbus-fast for the notification server of the desktop-notice tests, and scim2-tester with
# scim2-client (and its httpx2 engine) for the SCIM compliance check and a directory's provisioning, pyrage (age) for the retention archive format,
# and authlib with flask for the OpenID provider the sign-in tests run (Tests/Interop/oidc_provider.py).
PYTHON_PACKAGES=(http-message-signatures requests selenium openapi-spec-validator icalendar dbus-fast scim2-tester "scim2-client[httpx2]" pyrage authlib flask)
VENV="$ROOT/.venv"

install_python_packages() {
  if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import http_message_signatures, requests, selenium, openapi_spec_validator, icalendar, dbus_fast, scim2_tester, httpx2, pyrage, authlib, flask' 2>/dev/null; then
    say "creating $VENV with ${PYTHON_PACKAGES[*]}"
    /usr/bin/python3 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "${PYTHON_PACKAGES[@]}"
  fi
}

# A throwaway PostgreSQL 15 server for tests (Debian's postgresql-15; see TEST_POSTGRES_PACKAGES).
#   start_test_postgres   initdb in a new folder under ${TMPDIR:-/tmp}, start postgres on 127.0.0.1 at a
#                         free port (trust authentication, superuser kontor, no durability unless
#                         TEST_POSTGRES_DURABLE=1, 500
#                         connections: the API tests open ~300 at once, a pool per test), create the
#                         database kontor_test, export KONTOR_TEST_POSTGRES_URL
#                         (postgres://kontor@127.0.0.1:PORT/kontor_test) and KONTOR_TEST_POSTGRES_DIR,
#                         and stop it all on exit (chained in front of the caller's EXIT trap, so set
#                         that trap before, not after). Call it in the script's shell, not in $(...).
#   stop_test_postgres    stops the server and removes its folder now (idempotent).
# initdb and postgres refuse to run as root: as root they run as Debian's postgres system user.
TEST_POSTGRES_BIN=/usr/lib/postgresql/15/bin
TEST_POSTGRES_PORT=
_kontor_pg_dir=   # the folder of the server this shell started (not exported: a child never stops it)

# Runs a PostgreSQL program as the user that owns the server (the postgres user when we are root).
_as_postgres_owner() {
  if [ "$(id -u)" -ne 0 ]; then "$@"
  elif command -v runuser >/dev/null; then runuser -u postgres -- "$@"
  elif command -v setpriv >/dev/null; then setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
  else su -s /bin/sh postgres -c "$(printf '%q ' "$@")"; fi
}

_free_tcp_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start_test_postgres() {
  local bin=$TEST_POSTGRES_BIN p
  for p in initdb pg_ctl postgres pg_isready createdb; do
    [ -x "$bin/$p" ] || { echo "error: $bin/$p is missing; install the Debian packages ${TEST_POSTGRES_PACKAGES[*]}" >&2; return 1; }
  done
  if [ "$(id -u)" -eq 0 ] && ! id -u postgres >/dev/null 2>&1; then
    echo "error: running as root, but there is no postgres system user to run the server (it comes with the Debian package postgresql-common)" >&2
    return 1
  fi

  [ -z "$_kontor_pg_dir" ] || { echo "error: start_test_postgres: this shell already runs one ($_kontor_pg_dir)" >&2; return 1; }
  local dir
  dir=$(mktemp -d "${TMPDIR:-/tmp}/kontor-pg.XXXXXX")
  _kontor_pg_dir=$dir
  export KONTOR_TEST_POSTGRES_DIR=$dir
  # Stop and clean up on exit, then run whatever the caller's EXIT trap did (read back with trap -p) with
  # the exit status in $? as before ("&& :" keeps set -e from stopping at a non-zero status there).
  local previous; previous=$(trap -p EXIT)
  if [ -n "$previous" ]; then
    eval "set -- $previous"   # trap -- 'COMMAND' EXIT
    trap "_kontor_pg_status=\$?; stop_test_postgres; (exit \$_kontor_pg_status) && :; $3" EXIT
  else
    trap stop_test_postgres EXIT
  fi
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$dir"
    _as_postgres_owner test -w "$dir" || { echo "error: the postgres user cannot write to $dir (set TMPDIR to a folder it can reach)" >&2; return 1; }
  fi

  # The C.UTF-8 locale (glibc >= 2.35): byte-order collation, but upper()/lower() know non-ASCII letters.
  local locale=C
  locale -a 2>/dev/null | grep -qix 'c\.utf-\?8' && locale=C.UTF-8
  say "PostgreSQL 15: initdb in $dir/data"
  # Run from the folder: the postgres user may not be allowed into the caller's working directory.
  (cd "$dir" && _as_postgres_owner "$bin/initdb" --pgdata="$dir/data" --username=kontor --auth-local=trust --auth-host=trust \
      --encoding=UTF8 --locale="$locale" --no-sync >"$dir/initdb.log" 2>&1) \
    || { cat "$dir/initdb.log" >&2; echo "error: initdb failed" >&2; return 1; }

  # Tests need no durability; a benchmark (TEST_POSTGRES_DURABLE=1) measures PostgreSQL as deployed.
  local durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  [ "${TEST_POSTGRES_DURABLE:-0}" = 1 ] && durability="-c shared_buffers=512MB"
  # Another process may take the port between our probe and postgres' bind: then try another one.
  local port attempt started=0
  for attempt in 1 2 3; do
    port=$(_free_tcp_port)
    rm -f "$dir/postgres.log"
    if (cd "$dir" && _as_postgres_owner "$bin/pg_ctl" start --pgdata="$dir/data" --log="$dir/postgres.log" --wait --timeout=20 --silent \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir $durability -c max_connections=500" >/dev/null 2>&1); then
      started=1; break
    fi
    grep -q 'could not bind' "$dir/postgres.log" 2>/dev/null || break
    say "PostgreSQL 15: port $port was taken; trying another"
  done
  [ $started -eq 1 ] || { tail -n 20 "$dir/postgres.log" >&2 2>/dev/null || true; echo "error: postgres did not start (the end of its log is above)" >&2; return 1; }
  TEST_POSTGRES_PORT=$port

  local waited=0
  until "$bin/pg_isready" --quiet --host=127.0.0.1 --port="$port" --username=kontor --dbname=postgres; do
    [ $waited -lt 200 ] || { tail -n 20 "$dir/postgres.log" >&2; echo "error: postgres was not ready after 20 s (the end of its log is above)" >&2; return 1; }
    sleep 0.1; waited=$((waited + 1))
  done
  "$bin/createdb" --host=127.0.0.1 --port="$port" --username=kontor kontor_test
  export KONTOR_TEST_POSTGRES_URL="postgres://kontor@127.0.0.1:$port/kontor_test"
  say "PostgreSQL 15 is running: $KONTOR_TEST_POSTGRES_URL"
}

stop_test_postgres() {
  local dir=$_kontor_pg_dir
  [ -n "$dir" ] || return 0
  if [ -f "$dir/data/postmaster.pid" ]; then
    (cd "$dir" && _as_postgres_owner "$TEST_POSTGRES_BIN/pg_ctl" stop --pgdata="$dir/data" --mode=immediate --wait --silent >/dev/null 2>&1) || true
  fi
  rm -rf "$dir"
  unset KONTOR_TEST_POSTGRES_DIR KONTOR_TEST_POSTGRES_URL
  TEST_POSTGRES_PORT= _kontor_pg_dir=
}
