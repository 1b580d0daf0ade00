#!/usr/bin/env bash
# Downloads Debian's Kamailio source packages (5.4.4, 5.6.3, 6.0.1) and unpacks
# each pristine upstream tree once into $KMEMDBG_SRC_CACHE (default
# /var/cache/kmemdbg/src/kamailio-VERSION). Tests copy a tree before changing it.
# Needs the deb-src entry that ci/install-deps.sh writes.
set -euo pipefail
cache=${KMEMDBG_SRC_CACHE:-/var/cache/kmemdbg/src}
mkdir -p "$cache/dl"
for v in ${KMEMDBG_SRC_VERSIONS:-5.6.3-2 5.4.4-1 6.0.1-1+deb13u1}; do
  up=${v%%-*}
  dest="$cache/kamailio-$up"
  if [ -f "$dest/.kmemdbg-complete" ]; then continue; fi
  ( cd "$cache/dl"
    ls kamailio_"$up".orig.tar.* >/dev/null 2>&1 ||
      apt-get source --download-only -qq "kamailio=$v" >/dev/null 2>&1 || true )
  tarball=$(ls "$cache/dl"/kamailio_"$up".orig.tar.* 2>/dev/null | head -n1 || true)
  if [ -z "$tarball" ]; then echo "kmemdbg: could not download kamailio $v source" >&2; exit 1; fi
  rm -rf "$dest" "$dest.tmp"; mkdir -p "$dest.tmp"
  tar -xf "$tarball" -C "$dest.tmp" --strip-components=1
  touch "$dest.tmp/.kmemdbg-complete"
  mv "$dest.tmp" "$dest"
  echo "kmemdbg: kamailio $up source in $dest"
done
