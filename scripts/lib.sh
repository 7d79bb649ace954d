# Shared by scripts/start and scripts/test: install what a fresh Debian/Ubuntu machine with the Swift
# toolchain lacks. Idempotent; installs nothing that is already there.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

say() { printf '==> %s\n' "$*" >&2; }

# Debian packages the build, the tests and the agent packaging need.
SYSTEM_PACKAGES=(libsqlite3-dev zlib1g-dev python3 python3-venv python3-pip curl ca-certificates systemd dpkg-dev file binutils openssl)
# Only scripts/test installs these: the browser test of the admin console (Tests/browser) drives Debian's
# Chromium through its matching chromedriver; the fonts make the screenshots legible.
TEST_SYSTEM_PACKAGES=(chromium chromium-driver fonts-dejavu-core)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "error: need root (or sudo) to run: $*" >&2; exit 1; fi
}

# install_system_packages PACKAGE...: installs those of the given Debian packages that are missing.
install_system_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  command -v swift >/dev/null || { echo "error: the Swift toolchain is not on PATH (https://www.swift.org/install/linux/)" >&2; exit 1; }
}

# A Python virtual environment with the independent RFC 9421 implementation used by the interop tests,
# and Selenium for the browser test.
PYTHON_PACKAGES=(http-message-signatures requests selenium)
VENV="$ROOT/.venv"

install_python_packages() {
  if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import http_message_signatures, requests, selenium' 2>/dev/null; then
    say "creating $VENV with ${PYTHON_PACKAGES[*]}"
    /usr/bin/python3 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "${PYTHON_PACKAGES[@]}"
  fi
}
