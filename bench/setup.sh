#!/usr/bin/env bash
# Installs the load tools the benchmark drives (Debian packages). Run as root; safe to repeat.
# nginx-light's postinst would start and enable a system nginx on :80; the harness runs its own
# nginx in a temp dir, so a policy-rc.d that answers 101 ("action forbidden") keeps the service
# from starting during the install, and is removed again afterwards.
set -euo pipefail

pkgs=(iperf3 wrk nginx-light socat)

if [ "$(id -u)" -ne 0 ]; then
  echo "bench/setup.sh: must run as root (apt-get install)" >&2
  exit 1
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "bench/setup.sh: ${pkgs[*]} already installed"
  exit 0
fi

policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  own_policy=1
fi
cleanup() { if [ "$own_policy" -eq 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update
# iperf3 asks whether to install a daemon service; answer no.
echo 'iperf3 iperf3/start_daemon boolean false' | debconf-set-selections 2>/dev/null || true
apt-get install -y --no-install-recommends "${missing[@]}"

# Belt and braces: if a service manager started nginx anyway, stop the system one (not ours).
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nginx 2>/dev/null; then
  systemctl disable --now nginx || true
fi
echo "bench/setup.sh: installed ${missing[*]}"
