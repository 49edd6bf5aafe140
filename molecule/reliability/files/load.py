#!/usr/bin/env python
# SPDX-License-Identifier: GPL-3.0-or-later
"""One load client: a new TCP connection and one HTTP GET per request, again and again.

Usage: load.py HOST PORT RATE SECONDS LOG

Opens at most RATE new connections a second (a steady pace, so two clients
and a converge share two cores), for at most SECONDS seconds or until the
file LOG.stop appears. Each line of LOG: start and end time (epoch seconds),
the HTTP status (000 when the connection failed or took more than 2 s) and
the pod that answered (the app names its namespace: "hello world from
netns_adam namespace" -> adam; "-" when none did).
"""
import os
import re
import socket
import sys
import time


def request(host, port):
    """Status and the first line of the body of one GET on a new connection; ('000', '-') on failure."""
    try:
        with socket.create_connection((host, port), timeout=2) as conn:
            conn.settimeout(2)
            conn.sendall(b"GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host.encode())
            data = b""
            while True:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return "000", "-"
    head, _sep, body = data.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1].decode() if head.startswith(b"HTTP/") else "000"
    match = re.search(r"from (?:netns_)?(\S+) namespace", body.decode("utf-8", "replace"))
    return status, (match.group(1) if match else "-")


def main(host, port, rate, seconds, log):
    port, rate, seconds = int(port), float(rate), float(seconds)
    interval = 1.0 / rate
    deadline = time.time() + seconds
    stop = log + ".stop"
    with open(log, "w") as out:
        next_start = time.time()
        while time.time() < deadline and not os.path.exists(stop):
            start = time.time()
            status, pod = request(host, port)
            out.write("%.6f %.6f %s %s\n" % (start, time.time(), status, pod))
            out.flush()
            next_start = max(next_start + interval, time.time())
            time.sleep(max(0.0, next_start - time.time()))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
