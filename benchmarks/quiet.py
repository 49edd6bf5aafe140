# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How much CPU the rest of the machine used while a benchmark ran: its figures are marked above a threshold.

The load average cannot tell the benchmark's own client, servers and NAT from
other work (a molecule run, a build). This counts the CPU time of every user
process that lives outside the benchmark's own network namespaces (the bench
namespace and its pods' namespaces), from /proc/<pid>/stat, between two
snapshots: that is the load the benchmark did not create. Kernel threads are
left out (softirq work for the benchmark's own packets can run in ksoftirqd).
"""
import os

PF_KTHREAD = 0x00200000


def stat_fields(text):
    """/proc/<pid>/stat after the command name (which may hold spaces): fields 3 onwards."""
    return text[text.rindex(")") + 2:].split()


def cpu_ticks(text):
    """(utime + stime, is a kernel thread) of one /proc/<pid>/stat line."""
    fields = stat_fields(text)
    # fields[0] is field 3 (state): flags is field 9, utime 14, stime 15.
    return int(fields[11]) + int(fields[12]), bool(int(fields[6]) & PF_KTHREAD)


def others_cpus(before, after, seconds, hz):
    """CPUs used (0.0-N) by the processes in ``after`` over ``seconds``; a process new since ``before`` counts whole."""
    ticks = sum(value - before.get(pid, 0) for pid, value in after.items() if value >= before.get(pid, 0))
    return ticks / float(hz) / seconds if seconds > 0 else 0.0


def namespace_inode(path):
    return os.stat(path).st_ino


class OtherLoad:
    """Snapshots of the CPU time of user processes outside ``namespaces`` (network namespace files)."""

    def __init__(self, namespaces):
        self.ours = set(namespace_inode(path) for path in namespaces)
        self.hz = os.sysconf("SC_CLK_TCK")

    def snapshot(self):
        ticks = {}
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                if os.stat("/proc/%s/ns/net" % pid).st_ino in self.ours:
                    continue
                with open("/proc/%s/stat" % pid, encoding="ascii", errors="replace") as handle:
                    value, kernel = cpu_ticks(handle.read())
            except (OSError, ValueError, IndexError):
                continue  # gone, or a kernel thread without a namespace link
            if not kernel:
                ticks[pid] = value
        return ticks

    def cpus_since(self, before, seconds):
        return others_cpus(before, self.snapshot(), seconds, self.hz)
