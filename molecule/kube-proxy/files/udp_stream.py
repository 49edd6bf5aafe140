#!/usr/bin/env python
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A UDP client as a long-lived DNS client is: one socket, so one source port and one conntrack entry.

    udp_stream.py send HOST PORT OUT [MAX_SECONDS]
    udp_stream.py summary OUT REMOVED CONVERGE_START CONVERGE_END [EXPIRED_AT]

send: a datagram every 50 ms to HOST:PORT, each waiting up to 40 ms for its answer, until OUT.stop
appears (or MAX_SECONDS, 120 by default, pass). Writes OUT.port (the source port) at once, OUT.first
(the first answer's namespace) when it comes, and at the end OUT (JSON): every datagram as
[send time (time.time(), the node's clock), answering namespace or null, why none came or null].
While OUT.quiet exists and OUT.resume does not, it sends nothing (so its conntrack entry can expire).

summary: the figures of one run of send, as JSON, for the pod REMOVED (its namespace name) and the
converge that removed it (start and end, the node's clock); EXPIRED_AT is when its conntrack entry was
seen gone during the quiet time. A datagram is "bad" when it was lost after the converge started, or
answered by REMOVED after the converge ended.
"""

import errno
import json
import os
import socket
import sys
import time

INTERVAL, WAIT = 0.05, 0.04


def send(host, port, out, max_seconds=120.0):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("", 0))
    with open(out + ".port", "w") as handle:
        handle.write(str(sock.getsockname()[1]))
    sent, first, quiet = [], None, None
    end = time.time() + max_seconds
    while time.time() < end and not os.path.exists(out + ".stop"):
        if os.path.exists(out + ".quiet") and not os.path.exists(out + ".resume"):
            quiet = quiet or [round(time.time(), 3), None]
            time.sleep(INTERVAL)
            continue
        if quiet and quiet[1] is None:
            quiet[1] = round(time.time(), 3)
        sock.setblocking(False)
        try:
            while True:
                sock.recv(2048)  # a late answer to an earlier datagram is not this one's
        except OSError:
            pass
        sock.settimeout(WAIT)
        start = time.time()
        answer = why = None
        try:
            sock.sendto(b"k8slab-udp-stream\n", (host, port))
            words = sock.recv(2048).decode("utf-8", "replace").split()
            # The app answers "hello world from <namespace> namespace".
            answer = words[words.index("from") + 1] if "from" in words[:-1] else " ".join(words)
        except socket.timeout:
            why = "timeout"
        except OSError as err:
            why = errno.errorcode.get(err.errno, str(err.errno))  # ECONNREFUSED, EHOSTUNREACH: an ICMP error came back
        sent.append([round(start, 3), answer, why])
        if answer and first is None:
            first = answer
            with open(out + ".first", "w") as handle:
                handle.write(answer)
        time.sleep(max(0.0, INTERVAL - (time.time() - start)))
    with open(out + ".tmp", "w") as handle:
        json.dump({"source_port": sock.getsockname()[1], "quiet": quiet, "sent": sent}, handle)
    os.rename(out + ".tmp", out)


def counts(items, removed):
    return {
        "sent": len(items),
        "answered_by_removed": sum(1 for item in items if item[1] == removed),
        "answered_by_listed": sum(1 for item in items if item[1] and item[1] != removed),
        "lost": sum(1 for item in items if not item[1]),
    }


def summary(out, removed, start, end, expired_at=None):
    with open(out) as handle:
        log = json.load(handle)
    sent, quiet = log["sent"], log.get("quiet")
    before_quiet = [item for item in sent if not quiet or item[0] < quiet[0]]
    # Served badly: lost from the converge's start on, or answered by the pod that left after the converge
    # (during it the pod may answer: it still runs until the converge stops it).
    bad = [item for item in before_quiet if item[0] >= start and not item[1] or item[0] >= end and item[1] == removed]
    first_bad, last_bad = (bad[0][0], bad[-1][0]) if bad else (None, None)
    result = {
        "source_port": log["source_port"],
        "removed": removed,
        "converge_start": start,
        "converge_seconds": round(end - start, 2),
        "during": counts([item for item in before_quiet if start <= item[0] < end], removed),
        "after": counts([item for item in before_quiet if item[0] >= end], removed),
        "after_seconds": round(before_quiet[-1][0] - end, 2) if before_quiet and before_quiet[-1][0] >= end else 0,
        "bad_first": round(first_bad - start, 2) if bad else None,
        "bad_last": round(last_bad - start, 2) if bad else None,
        "bad_seconds": round(last_bad - first_bad + INTERVAL, 2) if bad else 0,
        "bad_until_end": bool(bad) and bad[-1] is before_quiet[-1],
    }
    if quiet:
        last_sent = before_quiet[-1][0]
        resumed = [item for item in sent if item[0] >= quiet[0]]
        result["quiet_seconds"] = round((quiet[1] or last_sent) - last_sent, 2)
        result["expired_after"] = round(expired_at - last_sent, 2) if expired_at else None
        result["after_resume"] = counts(resumed, removed)
        result["first_after_resume"] = resumed[0][1] if resumed else None
    return result


def main():
    if sys.argv[1] == "send":
        send(sys.argv[2], int(sys.argv[3]), sys.argv[4], *[float(arg) for arg in sys.argv[5:6]])
    elif sys.argv[1] == "summary":
        numbers = [float(arg) for arg in sys.argv[4:] if arg]
        print(json.dumps(summary(sys.argv[2], sys.argv[3], *numbers)))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
