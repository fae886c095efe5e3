#!/usr/bin/env python3
"""Runs a command as a child subreaper (prctl PR_SET_CHILD_SUBREAPER), so that the processes a reload
starts (which leave their parent at once) are reaped here, and reports every exit on stderr as a JSON
line {"msg": "reaped", "pid": N, "code": C} (C: exit status, or 128 + signal). Exits, once no
descendant is left, with the first nonzero code reported, else 0. SIGTERM here kills the command's
whole process group (every descendant) with SIGKILL: a test's cleanup.

usage: subreaper.py COMMAND [ARG...]
"""
import ctypes
import json
import os
import signal
import sys

PR_SET_CHILD_SUBREAPER = 36
if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed")

child = os.fork()
if child == 0:
    os.setpgid(0, 0)
    os.execvp(sys.argv[1], sys.argv[1:])
# Both sides set the group, so that it is set before either goes on (the usual fork idiom). Once
# the child has exec'd, the parent's call fails with EACCES: the child's own call came first.
try:
    os.setpgid(child, child)
except PermissionError:
    pass
signal.signal(signal.SIGTERM, lambda *_: os.killpg(child, signal.SIGKILL))

first_failure = 0
while True:
    try:
        pid, status = os.wait()
    except ChildProcessError:
        break
    except InterruptedError:
        continue
    code = os.waitstatus_to_exitcode(status)
    code = code if code >= 0 else 128 - code
    sys.stderr.write(json.dumps({"msg": "reaped", "pid": pid, "code": code}) + "\n")
    sys.stderr.flush()
    if code != 0 and first_failure == 0:
        first_failure = code
sys.exit(first_failure)
