#!/usr/bin/env bash
# Installs everything kmemdbg's tests and demo need on a fresh Debian machine (root).
# Idempotent: a second run only checks. Never touches anything but apt state.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(kamailio kamailio-extra-modules sip-tester bison flex make gcc pkg-config gdb procps iproute2 dpkg-dev man-db python3 cmake ansible-core librsvg2-bin time util-linux systemd dbus rsyslog git)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
src_list=/etc/apt/sources.list.d/kmemdbg-src.sources
if [ ! -f "$src_list" ]; then
  cat > "$src_list" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bullseye trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  need_update=1
fi
if [ "${#missing[@]}" -gt 0 ] || [ "${need_update:-0}" = 1 ]; then
  apt-get update -qq
fi
if [ "${#missing[@]}" -gt 0 ]; then
  # Installed services are not started (rsyslog must run only inside its test's box).
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  echo "kmemdbg: installing ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# rsyslog is for the one capture test that runs it inside its own systemd box
# (tests/capture_journald.rs): never enabled, so other boxes (which share
# /etc) stay journald-only like a stock Debian 12 box, and nothing starts it here.
if systemctl is-enabled rsyslog.service >/dev/null 2>&1; then
  systemctl disable rsyslog.service >/dev/null 2>&1 || true
fi
# The packaged service must not hold 5060 on a box where tests run their own proxies.
if pgrep -x kamailio >/dev/null 2>&1 && [ "${KMEMDBG_KEEP_SERVICE:-0}" != 1 ]; then
  echo "kmemdbg: note: a kamailio is already running here (tests use their own ports)"
fi
echo "kmemdbg: dependencies ready"
