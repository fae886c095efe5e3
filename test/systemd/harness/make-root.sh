#!/usr/bin/env bash
# Build (once) and cache what the booted-systemd suite needs, under $SOCKRELAY_SYSTEMD_CACHE
# (default /var/tmp/sockrelay-systemd):
#   <cache>/252/root   a Debian 12 minbase root with Debian 12's own systemd (252)
#   <cache>/254/root   the same with systemd from bookworm-backports (>= 254, which sets $FDSTORE)
#   <cache>/nspawn/    systemd-nspawn unpacked from the systemd-container .deb matching the host's systemd:
#                      installing that package would upgrade the host's systemd.
# Usage: make-root.sh 252|254|nspawn     Prints the path it made (or found) on stdout.
# A root is built in a scratch dir and renamed into place, so a half-made root is never used.
set -euo pipefail
what=${1:?usage: make-root.sh 252|254|nspawn}
cache=${SOCKRELAY_SYSTEMD_CACHE:-/var/tmp/sockrelay-systemd}
mkdir -p "$cache"

# The mirror the host already uses (deb822 or one-line sources), so the suite needs no other network.
mirror=$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null |
  grep -v security | head -n1 | tr -d ' ' || true)
mirror=${mirror:-http://deb.debian.org/debian}
mirror=${mirror%/}

case "$what" in
nspawn)
  out=$cache/nspawn
  if [ ! -x "$out/usr/bin/systemd-nspawn" ]; then
    version=$(dpkg-query -W -f '${Version}' systemd)
    scratch=$(mktemp -d "$cache/.nspawn.XXXXXX")
    (cd "$scratch" && apt-get download -qq "systemd-container=$version" >&2)
    dpkg-deb -x "$scratch"/systemd-container_*.deb "$scratch/x"
    rm -rf "$out" && mv "$scratch/x" "$out" && rm -rf "$scratch"
  fi
  echo "$out/usr/bin/systemd-nspawn"
  ;;
252 | 254)
  out=$cache/$what/root
  # dbus and libnss-systemd: the unit asks systemd over the system bus whether a SIGTERM is a stop
  # or a restart. (dbus-daemon still drops DynamicUser= uids: PID 1 starts it with
  # SYSTEMD_NSS_DYNAMIC_BYPASS=1, so it cannot name them.)
  # A root cached before they were part of it is made again.
  if [ ! -e "$out/etc/sockrelay-root-ready" ] || [ ! -e "$out/usr/lib/x86_64-linux-gnu/libnss_systemd.so.2" ]; then
    mkdir -p "$cache/$what"
    scratch=$(mktemp -d "$cache/$what/.root.XXXXXX")
    sources=("deb $mirror bookworm main")
    hooks=()
    if [ "$what" = 254 ]; then
      sources+=("deb $mirror bookworm-backports main")
      hooks+=(--customize-hook='chroot "$1" apt-get install -y -qq -t bookworm-backports systemd systemd-sysv libnss-systemd >/dev/null')
    fi
    # minbase + systemd as init; python3-minimal is not needed: clients run on the bound-in node.
    mmdebstrap --quiet --variant=minbase --include=systemd,systemd-sysv,iproute2,dbus,libnss-systemd \
      --customize-hook='echo sockrelay-test >"$1/etc/hostname"' \
      --customize-hook='chroot "$1" systemctl mask getty@.service console-getty.service systemd-networkd.service systemd-resolved.service >/dev/null 2>&1 || true' \
      "${hooks[@]}" \
      --customize-hook='chroot "$1" dpkg-query -W -f "\${Version}\n" systemd >"$1/etc/sockrelay-root-ready"' \
      bookworm "$scratch/root" "${sources[@]}" >&2
    rm -rf "$out" && mv "$scratch/root" "$out" && rm -rf "$scratch"
  fi
  echo "$out"
  ;;
*)
  echo "make-root.sh: unknown target '$what' (expected 252, 254 or nspawn)" >&2
  exit 64
  ;;
esac
