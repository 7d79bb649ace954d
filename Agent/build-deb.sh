#!/usr/bin/env bash
# Builds dist/kontor-agent_<version>_<arch>.deb: a stripped release build linked with
# --static-swift-stdlib (the endpoint needs no Swift runtime), the systemd units and a sample config.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=$(sed -n 's/^public let agentVersion = "\(.*\)"$/\1/p' Sources/KontorAgent/Facts.swift)
ARCH=$(dpkg --print-architecture)
SCRATCH=${KONTOR_RELEASE_SCRATCH:-.build-release}
# -Osize, lld folding identical code, no dynamic symbol table for the executable's own symbols (the
# toolchain's static-stdlib flags export them all, which also keeps --gc-sections from dropping them).
FLAGS=(-c release --product kontor-agent --static-swift-stdlib --scratch-path "$SCRATCH" -Xswiftc -Osize -Xswiftc -use-ld=lld
  -Xlinker -s -Xlinker --no-export-dynamic -Xlinker --icf=all)

echo "==> building kontor-agent $VERSION (release, static Swift runtime)" >&2
swift build "${FLAGS[@]}" >&2
BIN="$(swift build "${FLAGS[@]}" --show-bin-path)/kontor-agent"

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
install -D -m 0755 "$BIN" "$STAGE/usr/bin/kontor-agent"
strip --strip-unneeded "$STAGE/usr/bin/kontor-agent" 2>/dev/null || true
install -D -m 0644 Agent/kontor-agent.service "$STAGE/lib/systemd/system/kontor-agent.service"
install -D -m 0644 Agent/kontor-agent.path "$STAGE/lib/systemd/system/kontor-agent.path"
install -D -m 0644 Agent/agent.yaml "$STAGE/etc/kontor/agent.yaml"
install -D -m 0644 README.md "$STAGE/usr/share/doc/kontor-agent/README.md"

# Shared libraries the binary still needs, as Debian dependencies.
DEPENDS=$(dpkg-shlibdeps -O -e "$STAGE/usr/bin/kontor-agent" 2>/dev/null | sed -n 's/^shlibs:Depends=//p' || true)
[ -n "$DEPENDS" ] || DEPENDS="libc6"
DEPENDS="$DEPENDS, tzdata"  # quiet-hours time zones are read from /usr/share/zoneinfo (no ICU in the binary)
# deb-systemd-helper and deb-systemd-invoke (maintainer scripts below).
DEPENDS="$DEPENDS, init-system-helpers (>= 1.54~)"
SIZE=$(du -ks "$STAGE" | cut -f1)

mkdir -p "$STAGE/DEBIAN"
cat >"$STAGE/DEBIAN/control" <<CONTROL
Package: kontor-agent
Version: $VERSION
Architecture: $ARCH
Maintainer: Kontor developers <kontor@example.org>
Depends: $DEPENDS
Installed-Size: $SIZE
Section: admin
Priority: optional
Description: Kontor device-policy agent
 Enrolls this laptop with a Kontor server, applies its work policy (quiet
 hours, app allowlist, work container) and reports back. Enroll with:
 sudo kontor-agent enroll --server URL --token TOKEN
CONTROL
echo /etc/kontor/agent.yaml >"$STAGE/DEBIAN/conffiles"
# The maintainer scripts do what dh_installsystemd would: deb-systemd-helper enables the units on the
# first installation (and a reinstallation), and remembers an administrator's `systemctl disable` across
# upgrades; deb-systemd-invoke starts only enabled units.
UNITS="kontor-agent.service kontor-agent.path"
cat >"$STAGE/DEBIAN/postinst" <<SCRIPT
#!/bin/sh
set -e
if [ "\$1" = configure ] || [ "\$1" = abort-upgrade ] || [ "\$1" = abort-deconfigure ] || [ "\$1" = abort-remove ]; then
    for unit in $UNITS; do
        deb-systemd-helper unmask "\$unit" >/dev/null || true
        if deb-systemd-helper --quiet was-enabled "\$unit"; then
            deb-systemd-helper enable "\$unit" >/dev/null || true
        else
            deb-systemd-helper update-state "\$unit" >/dev/null || true
        fi
    done
    if [ -d /run/systemd/system ]; then
        systemctl --system daemon-reload >/dev/null || true
        deb-systemd-invoke start kontor-agent.path >/dev/null || true
        # After an upgrade of an enrolled device, run the new binary.
        deb-systemd-invoke try-restart kontor-agent.service >/dev/null || true
    fi
fi
SCRIPT
cat >"$STAGE/DEBIAN/prerm" <<SCRIPT
#!/bin/sh
set -e
if [ "\$1" = remove ] && [ -d /run/systemd/system ]; then
    deb-systemd-invoke stop $UNITS >/dev/null || true
fi
SCRIPT
cat >"$STAGE/DEBIAN/postrm" <<SCRIPT
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
fi
if [ "\$1" = remove ]; then
    deb-systemd-helper mask $UNITS >/dev/null || true
fi
if [ "\$1" = purge ]; then
    deb-systemd-helper purge $UNITS >/dev/null || true
    deb-systemd-helper unmask $UNITS >/dev/null || true
    # This device's identity, key and state: it would have to enroll again. /var/lib/kontor goes too
    # unless something else (a kontor-server on the same machine) keeps files there.
    rm -rf /var/lib/kontor/agent
    rmdir --ignore-fail-on-non-empty /var/lib/kontor 2>/dev/null || true
fi
SCRIPT
chmod 0755 "$STAGE/DEBIAN/postinst" "$STAGE/DEBIAN/prerm" "$STAGE/DEBIAN/postrm"

mkdir -p dist
OUT="dist/kontor-agent_${VERSION}_${ARCH}.deb"
dpkg-deb --build --root-owner-group "$STAGE" "$OUT" >/dev/null
echo "$OUT"
