#!/usr/bin/env bash
# Boot a real systemd in ROOT (a per-run copy, never the host's own root: booting systemd there
# runs tmpfiles and wipes the host's /tmp) with the checkout and the host's node bound in read-only.
# Usage: boot.sh NSPAWN ROOT CHECKOUT CGROUP_NAME     (runs in the foreground until the container ends)
# The host's PID 1 is not systemd (no machined, no system bus), so nspawn runs with --register=no
# --keep-unit from a cgroup of its own, which the container's systemd then manages below itself.
set -euo pipefail
nspawn=$1 root=$2 checkout=$3 cgroup=$4
for hierarchy in systemd unified; do
  dir=/sys/fs/cgroup/$hierarchy/$cgroup
  if [ -d "/sys/fs/cgroup/$hierarchy" ]; then
    mkdir -p "$dir"
    echo $$ >"$dir/cgroup.procs"
  fi
done
exec "$nspawn" --quiet -D "$root" --register=no --keep-unit --private-network \
  --bind-ro="$checkout:/opt/sockrelay" --bind-ro=/usr/bin/node:/usr/local/bin/node \
  --console=read-only -b
