#!/usr/bin/env python3
"""Hands one socket of a kind systemd could pass (but sockrelay must refuse) to a command as fd 3,
under the activation protocol: LISTEN_FDS=1 and LISTEN_PID set to this pid, which exec keeps.

usage: exec-with-socket.py KIND COMMAND [ARG...]
KIND: netlink (a bound NETLINK_ROUTE datagram socket), tcp-unconnected or unix-unconnected (a bound
TCP or unix stream socket that neither listens nor is connected).
"""
import os
import socket
import sys

kind, command = sys.argv[1], sys.argv[2:]
if kind == "netlink":
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, socket.NETLINK_ROUTE)
    sock.bind((0, 0))
elif kind == "tcp-unconnected":
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
elif kind == "unix-unconnected":
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(f"\0sockrelay-test-unconnected-{os.getpid()}")
else:
    sys.exit(f"unknown kind {kind}")

fd = sock.detach()
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.set_inheritable(3, True)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())
os.environ.pop("LISTEN_FDNAMES", None)
os.execvp(command[0], command)
