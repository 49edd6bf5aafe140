#!/usr/bin/env python
"""Per converge and in total: requests sent, failed, and the longest gap between two answers, per client.

Usage: churn_report.py WINDOWS LOG... ; WINDOWS has one line per converge, "N START LABEL...".
A request belongs to the converge during which it started; requests before the first converge are "steady".
Exits 1 when any request failed.
"""
import sys


def main(windows_path, logs):
    windows = []
    with open(windows_path) as handle:
        for line in handle:
            number, start, label = line.rstrip("\n").split(" ", 2)
            windows.append((float(start), number, label))
    windows.sort()
    rows = {}
    total = {"sent": 0, "failed": 0, "gap": 0.0}
    for log in logs:
        client = log.rsplit("/", 1)[-1].replace(".log", "")
        last_ok = None
        with open(log) as handle:
            for line in handle:
                parts = line.split()
                if len(parts) != 3:
                    continue
                start, end, code = float(parts[0]), float(parts[1]), parts[2]
                key = "steady"
                for begin, number, dummy in windows:
                    if start >= begin:
                        key = number
                row = rows.setdefault(key, {"sent": 0, "failed": 0, "gap": 0.0})
                row["sent"] += 1
                total["sent"] += 1
                if code != "200":
                    row["failed"] += 1
                    total["failed"] += 1
                    continue
                if last_ok is not None:
                    gap = end - last_ok
                    row["gap"] = max(row["gap"], gap)
                    total["gap"] = max(total["gap"], gap)
                last_ok = end
        print("client %s: %s" % (client, log))
    labels = dict((number, label) for dummy, number, label in windows)
    print("%-9s %-44s %8s %7s %12s" % ("converge", "Service pods", "requests", "failed", "longest gap"))
    for key in ["steady"] + [number for dummy, number, dummy in windows]:
        row = rows.get(key, {"sent": 0, "failed": 0, "gap": 0.0})
        print("%-9s %-44s %8d %7d %10.2f s" % (key, labels.get(key, "before the churn"), row["sent"], row["failed"], row["gap"]))
    print("%-9s %-44s %8d %7d %10.2f s" % ("total", "", total["sent"], total["failed"], total["gap"]))
    return 1 if total["failed"] or not total["sent"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
