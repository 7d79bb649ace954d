#!/usr/bin/env bash
# Checks what an operator installs on endpoints: the units verify, the .deb builds with the expected
# contents, and its binary needs no Swift shared library and runs in a bare environment.
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "FAIL: $*" >&2; exit 1; }
passed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }

DEB=$(Agent/build-deb.sh)
[ -f "$DEB" ] || fail "no package built"
ok "built $DEB"

CONTENTS=$(dpkg-deb -c "$DEB")
for f in ./usr/bin/kontor-agent ./lib/systemd/system/kontor-agent.service ./lib/systemd/system/kontor-agent.path ./etc/kontor/agent.yaml; do
  grep -q " $f\$" <<<"$CONTENTS" || fail "$DEB lacks $f"
done
dpkg-deb -f "$DEB" Package Version Architecture Depends >/dev/null || fail "control fields missing"
[ "$(dpkg-deb -f "$DEB" Conffiles 2>/dev/null; dpkg-deb -I "$DEB" conffiles)" != "" ] || fail "agent.yaml is not a conffile"
ok "package contents and control fields"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
dpkg-deb -x "$DEB" "$WORK/pkg"
BIN="$WORK/pkg/usr/bin/kontor-agent"
if ldd "$BIN" | grep -Ei 'libswift|libFoundation|libdispatch|libBlocksRuntime|not found'; then
  fail "the packaged binary needs Swift runtime libraries"
fi
ok "no Swift shared library needed ($(ldd "$BIN" | wc -l) system libraries)"
# One `import Foundation` anywhere in what the agent links brings back ICU and its data (50 MB;
# docs/benchmarks.md, issue 16): the agent's modules use FoundationEssentials.
if grep -q 'icudt[0-9]*l' "$BIN"; then
  fail "the packaged binary contains ICU's data: something the agent links imports Foundation instead of FoundationEssentials"
fi
ok "no Foundation/ICU in the binary ($(($(stat -c %s "$BIN") / 1048576)) MiB)"
file "$BIN" | grep -q "stripped" && ! file "$BIN" | grep -q "not stripped" || fail "binary is not stripped"
ok "binary is stripped ($(du -h "$BIN" | cut -f1))"
env -i "$BIN" --help >/dev/null || fail "packaged binary does not run in an empty environment"
env -i "$BIN" status --root "$WORK/root" | grep -q "not enrolled" || fail "packaged binary cannot report status"
ok "packaged binary runs without a Swift toolchain on PATH"

# Verify the units from the package with ExecStart pointing at the unpacked binary.
mkdir -p "$WORK/units"
for u in "$WORK"/pkg/lib/systemd/system/*; do
  sed -E "s#^(ExecStart=)/usr/bin/kontor-agent#\1$BIN#" "$u" >"$WORK/units/$(basename "$u")"
done
systemd-analyze verify "$WORK"/units/kontor-agent.service "$WORK"/units/kontor-agent.path 2>&1 | tee "$WORK/verify.log"
[ ! -s "$WORK/verify.log" ] || fail "systemd-analyze verify reported problems"
ok "systemd-analyze verify accepts kontor-agent.service and kontor-agent.path"
echo "$passed passed, 0 failed"
