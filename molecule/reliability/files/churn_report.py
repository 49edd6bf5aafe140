#!/usr/bin/env python
# SPDX-License-Identifier: GPL-3.0-or-later
"""Per converge and in total: seconds, requests sent, failed, the longest gap between two answers, who answered.

Usage: churn_report.py WINDOWS END LOG... ; WINDOWS has one line per converge, "N START LABEL...";
END is the epoch second the last converge ended. A LOG line is "START END STATUS POD" (load.py).
A request belongs to the converge during which it started; requests before the first converge
are "steady". Exits 1 when any request failed or a client sent nothing.
"""
import sys


def main(windows_path, end, logs):
    windows = []
    with open(windows_path) as handle:
        for line in handle:
            number, start, label = line.rstrip("\n").split(" ", 2)
            windows.append((float(start), number, label))
    windows.sort()
    ends = dict((number, later[0]) for (dummy, number, dummy2), later in zip(windows, windows[1:] + [(float(end),)]))
    rows = {}
    total = {"sent": 0, "failed": 0, "gap": 0.0, "pods": set()}
    empty_client = False
    for log in logs:
        client = log.rsplit("/", 1)[-1].replace(".log", "")
        last_ok = None
        sent = 0
        with open(log) as handle:
            for line in handle:
                parts = line.split()
                if len(parts) != 4:
                    continue
                start, finish, code, pod = float(parts[0]), float(parts[1]), parts[2], parts[3]
                key = "steady"
                for begin, number, dummy in windows:
                    if start >= begin:
                        key = number
                sent += 1
                for row in (rows.setdefault(key, {"sent": 0, "failed": 0, "gap": 0.0, "pods": set()}), total):
                    row["sent"] += 1
                    if code != "200":
                        row["failed"] += 1
                    else:
                        row["pods"].add(pod)
                if code != "200":
                    began = dict((n, b) for b, n, dummy in windows).get(key, start)
                    print("failed: client %s, converge %s, %.3f s after its start, status %s"
                          % (client, key, start - began, code))
                    continue
                if last_ok is not None:
                    gap = finish - last_ok
                    rows[key]["gap"] = max(rows[key]["gap"], gap)
                    total["gap"] = max(total["gap"], gap)
                last_ok = finish
        print("client %s: %d requests" % (client, sent))
        empty_client = empty_client or sent == 0
    labels = dict((number, label) for dummy, number, label in windows)
    starts = dict((number, begin) for begin, number, dummy in windows)
    line = "%-6s %5.0f %6d %4d %5.2fs  %-22s %s"
    print("%-6s %5s %6s %4s %6s  %-22s %s" % ("run", "secs", "reqs", "fail", "gap", "pods that answered", "change"))
    for key in ["steady"] + [number for dummy, number, dummy2 in windows]:
        row = rows.get(key, {"sent": 0, "failed": 0, "gap": 0.0, "pods": set()})
        seconds = ends[key] - starts[key] if key in ends else 0
        pods = ",".join(sorted(row["pods"])) or "-"
        print(line % (key, seconds, row["sent"], row["failed"], row["gap"], pods, labels.get(key, "before the churn")))
    seconds = float(end) - windows[0][0] if windows else 0
    pods = ",".join(sorted(total["pods"]))
    print(line % ("total", seconds, total["sent"], total["failed"], total["gap"], pods, "%d converges" % len(windows)))
    return 1 if total["failed"] or empty_client else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
