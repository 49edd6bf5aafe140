# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""nfacct counter objects, listed and made over netfilter netlink, as kube-proxy's nfacct runner does.

An iptables rule ``-m nfacct --nfacct-name NAME`` counts into an object that lives
outside the table, per network namespace; iptables refuses a rule that names a
missing one (``No such file or directory``). kube-proxy makes its counters at a full
sync and names each in a rule only when it exists. No ``nfacct`` tool is needed: one
netlink socket (NETLINK_NETFILTER, subsystem NFNL_SUBSYS_ACCT) does it.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import sys

# kube-proxy's counters (pkg/proxy/metrics): INVALID packets its KUBE-FORWARD rule drops, localhost NodePort connections.
INVALID_DROPPED = "ct_state_invalid_dropped_pkts"
LOCALHOST_NODEPORTS = "localhost_nps_accepted_pkts"

NETLINK_NETFILTER = 12
NFNL_SUBSYS_ACCT = 7
NFNL_MSG_ACCT_NEW = 0
NFNL_MSG_ACCT_GET = 1
NFNL_MSG_ACCT_DEL = 3  # (2 is GET_CTRZERO)
NFACCT_NAME = 1
NFACCT_NAME_MAX = 32  # with its NUL
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x300, 0x200, 0x400
NLMSG_ERROR, NLMSG_DONE = 2, 3
_HEADER = struct.Struct("=IHHII")


class NfacctError(OSError):
    """The kernel refused a request (errno set), or has no nfacct (EPROTONOSUPPORT, ENOENT...)."""


def _message(kind, flags, name=None):
    payload = struct.pack("=BBH", socket.AF_UNSPEC, 0, 0)  # nfgenmsg: family, version 0, resource id 0
    if name is not None:
        data = name.encode("ascii") + b"\0"
        if len(data) > NFACCT_NAME_MAX:
            raise ValueError("nfacct name %r is longer than %d characters" % (name, NFACCT_NAME_MAX - 1))
        attr = struct.pack("=HH", 4 + len(data), NFACCT_NAME) + data
        payload += attr + b"\0" * (-len(attr) % 4)
    return _HEADER.pack(_HEADER.size + len(payload), (NFNL_SUBSYS_ACCT << 8) | kind, flags, 1, 0) + payload


def _messages(data):
    """(type, body) of each netlink message in a datagram."""
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, kind, dummy, dummy2, dummy3 = _HEADER.unpack_from(data, offset)
        if length < _HEADER.size:
            break
        yield kind, data[offset + _HEADER.size:offset + length]
        offset += (length + 3) & ~3


def _error(body):
    code = -struct.unpack_from("=i", body)[0]
    return NfacctError(code, os.strerror(code)) if code else None


def _name(body):
    offset = 4  # after nfgenmsg
    while offset + 4 <= len(body):
        length, kind = struct.unpack_from("=HH", body, offset)
        if length < 4:
            break
        if kind & 0x7fff == NFACCT_NAME:
            return body[offset + 4:offset + length].split(b"\0", 1)[0].decode("ascii", "replace")
        offset += (length + 3) & ~3
    return None


def _socket():
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.bind((0, 0))
    return sock


def counters():
    """The names of the nfacct objects of this network namespace, sorted."""
    names = []
    sock = _socket()
    try:
        sock.send(_message(NFNL_MSG_ACCT_GET, NLM_F_REQUEST | NLM_F_DUMP))
        while True:
            for kind, body in _messages(sock.recv(65536)):
                if kind == NLMSG_DONE:
                    return sorted(names)
                if kind == NLMSG_ERROR:
                    error = _error(body)
                    if error:
                        raise error
                    return sorted(names)
                name = _name(body)
                if name:
                    names.append(name)
    finally:
        sock.close()


def _request(kind, flags, name):
    """Send one request with NLM_F_ACK and wait for its acknowledgement; raises NfacctError with the kernel's errno."""
    sock = _socket()
    try:
        sock.send(_message(kind, flags | NLM_F_REQUEST | NLM_F_ACK, name))
        while True:
            for reply, body in _messages(sock.recv(65536)):
                if reply == NLMSG_ERROR:
                    error = _error(body)
                    if error:
                        raise error
                    return
    finally:
        sock.close()


def add(name):
    """Make the nfacct object ``name``; EEXIST when it is there already."""
    _request(NFNL_MSG_ACCT_NEW, NLM_F_CREATE | NLM_F_EXCL, name)


def remove(name):
    """Delete the nfacct object ``name`` when no rule counts into it; whether it was deleted."""
    try:
        _request(NFNL_MSG_ACCT_DEL, 0, name)
    except NfacctError as exc:
        if exc.errno in (errno.ENOENT, errno.EBUSY):
            return False  # gone already, or still named by a rule (someone else's)
        raise
    return True


def script():
    """Python source that makes the counters its arguments name and fails unless all are there: this module's
    own source (read through its loader, as AnsiballZ runs it from a zip), for another network namespace."""
    source = sys.modules[__name__].__loader__.get_source(__name__)
    return source + (
        "\n\nif __name__ == '__main__':\n"
        "    present, dummy = ensure(sys.argv[1:])\n"
        "    sys.exit(None if present == sorted(set(sys.argv[1:])) else 'cannot make the nfacct counters %s' % sys.argv[1:])\n")


def ensure(names):
    """Make the missing objects of ``names``; returns (present, made), each a sorted list. A counter the kernel
    refuses to make is left out of ``present``."""
    there = set(counters())
    made = []
    for name in names:
        if name in there:
            continue
        try:
            add(name)
            made.append(name)
        except NfacctError as exc:
            if exc.errno != errno.EEXIST:  # made by someone else meanwhile counts as there
                continue
        there.add(name)
    return sorted(name for name in names if name in there), sorted(made)
