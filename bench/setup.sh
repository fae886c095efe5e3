#!/usr/bin/env bash
# Installs the load tools the benchmark drives (Debian packages). Run as root; safe to repeat.
# nginx-light's postinst would start and enable a system nginx on :80; the harness runs its own
# nginx in a temp dir, so a policy-rc.d that answers 101 ("action forbidden") keeps the service
# from starting during the install, and is removed again afterwards.
set -euo pipefail

# gcc and libc6-dev: the udp workload compiles its load generator (lib/udp.c) with cc.
pkgs=(iperf3 wrk nginx-light socat gcc libc6-dev)

if [ "$(id -u)" -ne 0 ]; then
  echo "bench/setup.sh: must run as root (apt-get install)" >&2
  exit 1
fi

for f in /usr/bin/systemd-socket-activate /usr/lib/systemd/systemd-socket-proxyd; do
  [ -x "$f" ] || echo "bench/setup.sh: warning: $f missing (package systemd); that subject will fail" >&2
done

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "bench/setup.sh: ${pkgs[*]} already installed"
  exit 0
fi

policy=/usr/sbin/policy-rc.d
saved="$policy.sockrelay-bench"
if [ -e "$policy" ]; then mv "$policy" "$saved"; fi
restore() {
  rm -f "$policy"
  if [ -e "$saved" ]; then mv "$saved" "$policy"; fi
}
trap restore EXIT
printf '#!/bin/sh\n# sockrelay bench/setup.sh: no service starts during this install\nexit 101\n' >"$policy"
chmod 755 "$policy"

export DEBIAN_FRONTEND=noninteractive
apt-get update
# iperf3 asks whether to install a daemon service; answer no.
echo 'iperf3 iperf3/start_daemon boolean false' | debconf-set-selections 2>/dev/null || true
apt-get install -y --no-install-recommends "${missing[@]}"
echo "bench/setup.sh: installed ${missing[*]}"
