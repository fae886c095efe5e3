#!/usr/bin/env python3
"""Prints the size (F_GETPIPE_SZ) of every pipe a process holds, one "INODE SIZE" line per pipe:
what Node cannot ask about its own pipes, having no fcntl. The pipes of this script's own stdio
are left out.

usage: pipe-sizes.py PID
"""
import fcntl
import os
import sys

F_GETPIPE_SZ = 1032

pid = sys.argv[1]
# The caller holds the other end of our stdio pipes while it runs us: not its own pipes.
seen = {os.readlink(f"/proc/self/fd/{fd}") for fd in (0, 1, 2) if os.path.exists(f"/proc/self/fd/{fd}")}
for fd in os.listdir(f"/proc/{pid}/fd"):
    path = f"/proc/{pid}/fd/{fd}"
    try:
        target = os.readlink(path)
    except OSError:
        continue  # closed since the listing
    if not target.startswith("pipe:") or target in seen:
        continue
    seen.add(target)
    # Opening a pipe through /proc reaches the same pipe; a reader that reads nothing changes nothing.
    try:
        own = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        continue
    try:
        print(target[len("pipe:[") : -1], fcntl.fcntl(own, F_GETPIPE_SZ))
    finally:
        os.close(own)
