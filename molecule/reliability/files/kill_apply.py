#!/usr/bin/env python
# SPDX-License-Identifier: GPL-3.0-or-later
"""kill -9 an iptables-restore in the middle of a big apply, at growing delays.

iptables_chains applies every change as one iptables-restore --noflush: the
table must then hold the old ruleset or the new one, never a part of it.
Each round loads 300 chains of 5 rules (owner "fault"), kills the restore
after a delay, and counts the FAULT- chains: 0 (old) or 300 (new) is right.
Exit 1 on any half state. The table is left without FAULT- chains.
"""
import os
import signal
import subprocess
import sys
import time

CHAINS = 300


def count():
    out = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True, check=True).stdout
    return sum(1 for line in out.splitlines() if line.startswith(":FAULT-")), \
        sum(1 for line in out.splitlines() if line.startswith("-A FAULT-"))


def payload(remove=False):
    lines = ["*nat"] + [":FAULT-%d - [0:0]" % n for n in range(CHAINS)]
    if remove:
        lines += ["-X FAULT-%d" % n for n in range(CHAINS)]
    else:
        for n in range(CHAINS):
            lines += ["-A FAULT-%d -d 203.0.113.%d/32 -p tcp -m tcp --dport %d -j RETURN" % (n, n % 250, 1000 + r)
                      for r in range(5)]
    return "\n".join(lines + ["COMMIT"]) + "\n"


def main():
    bad = 0
    for delay in (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4):
        proc = subprocess.Popen(["iptables-restore", "--noflush", "-w", "5"], stdin=subprocess.PIPE)
        proc.stdin.write(payload().encode())
        proc.stdin.flush()
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.stdin.close()
        proc.wait()
        chains, rules = count()
        whole = (chains, rules) in ((0, 0), (CHAINS, CHAINS * 5))
        bad += not whole
        print("kill -9 after %.2f s: %d chains, %d rules: %s" % (
            delay, chains, rules, "old ruleset" if chains == 0 else "new ruleset" if whole else "HALF"))
        if chains:
            subprocess.run(["iptables-restore", "--noflush"], input=payload(remove=True), text=True, check=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
