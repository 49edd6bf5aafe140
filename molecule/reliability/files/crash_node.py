#!/usr/bin/env python
# SPDX-License-Identifier: GPL-3.0-or-later
"""The node side of the crash harness (crash.py): what it reads and plants on the node.

Usage: crash_node.py plant | unplant | foreign | modules | lock | state PODS...

plant: a foreign nat chain, a namespace with an /etc/netns folder and a file in /var/lib/k8slab, none of
the lab's (unplant removes them); foreign: their snapshot (and the foreign rules prepare.yml wrote), which must never change;
modules: the PIDs of the module processes of a run now on the node (python3 run by Ansible, not the
lock's holder); lock: the lock file; state: the pods the records, the namespaces and the units name,
checked against PODS (exit 1 when they disagree).
"""
import glob
import json
import os
import subprocess
import sys

LOCK = "/run/lock/kube-proxy-lab.converge.lock"
FOREIGN_FILE = "/var/lib/k8slab/crash-foreign.txt"


def out(argv):
    return subprocess.run(argv, check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True).stdout


def plant():
    subprocess.run(["iptables-restore", "--noflush"], check=True, universal_newlines=True, input=(
        "*nat\n:CRASH-FOREIGN - [0:0]\n-A CRASH-FOREIGN -d 192.0.2.99/32 -p tcp -j RETURN\nCOMMIT\n"))
    subprocess.run(["ip", "netns", "add", "crash_foreign"], check=True)
    os.makedirs("/etc/netns/crash_foreign", exist_ok=True)
    with open("/etc/netns/crash_foreign/resolv.conf", "w") as handle:
        handle.write("nameserver 192.0.2.53\n")
    os.makedirs(os.path.dirname(FOREIGN_FILE), exist_ok=True)
    with open(FOREIGN_FILE, "w") as handle:
        handle.write("someone else's file\n")


def unplant():
    subprocess.run(["iptables", "-t", "nat", "-F", "CRASH-FOREIGN"], check=True)
    subprocess.run(["iptables", "-t", "nat", "-X", "CRASH-FOREIGN"], check=True)
    subprocess.run(["ip", "netns", "delete", "crash_foreign"], check=True)
    for path in ("/etc/netns/crash_foreign/resolv.conf", FOREIGN_FILE):
        os.remove(path)
    os.rmdir("/etc/netns/crash_foreign")


def foreign():
    rules = [line for line in out(["iptables-save"]).splitlines()
             if any(word in line for word in ("CRASH-FOREIGN", "DOCKER", "KUBE-SERVICES -d 203.", "198.51.100.7"))]
    netns = [line for line in out(["ip", "netns", "list"]).splitlines() if "crash_foreign" in line]
    files = []
    for path in ("/etc/netns/crash_foreign/resolv.conf", FOREIGN_FILE):
        try:
            with open(path) as handle:
                files.append("%s: %s" % (path, handle.read().strip()))
        except OSError as error:
            files.append("%s: %s" % (path, error))
    print("\n".join(rules + netns + files))


def modules():
    try:
        with open(LOCK) as handle:
            holder = json.loads(handle.read() or "{}").get("pid")
    except (OSError, ValueError):
        holder = None
    pids = []
    for path in glob.glob("/proc/[0-9]*/cmdline"):
        pid = int(path.split("/")[2])
        try:
            with open(path, "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        # Ansible runs a module as "python3" reading the module from stdin (pipelining), or an AnsiballZ file
        if argv and argv[0].endswith(b"python3") and (argv[1:] in ([b""], []) or b"AnsiballZ" in b" ".join(argv)) \
                and pid not in (holder, os.getpid()):
            pids.append(pid)
    print(" ".join(str(pid) for pid in sorted(pids)))


def state(pods):
    problems = []
    netns = set(line.split()[0] for line in out(["ip", "netns", "list"]).splitlines()
                if line.split() and line.split()[0].startswith("netns_"))
    want = set("netns_%s" % pod for pod in pods)
    if netns != want:
        problems.append("namespaces %s, pods %s" % (sorted(netns), sorted(want)))
    recorded = set(os.path.basename(path) for path in glob.glob("/var/lib/k8slab/netns/*/netns_*"))
    if recorded != want:
        problems.append("namespace records %s, pods %s" % (sorted(recorded), sorted(want)))
    listed = out(["systemctl", "list-units", "--all", "--plain", "--no-legend", "--no-pager", "k8slab-web-app*"])
    units = set(line.split()[0] for line in listed.splitlines() if line.split())
    stray = [unit for unit in units if not any(pod in unit for pod in pods)]
    if stray:
        problems.append("app units of no pod: %s" % sorted(stray))
    leftovers = glob.glob("/var/lib/k8slab/**/*.tmp", recursive=True) + glob.glob("/run/lock/*.tmp")
    if leftovers:
        problems.append("temporary files left: %s" % leftovers)
    print("\n".join(problems) or "ok")
    return 1 if problems else 0


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "plant":
        plant()
    elif command == "unplant":
        unplant()
    elif command == "foreign":
        foreign()
    elif command == "modules":
        modules()
    elif command == "lock":
        print(out(["cat", LOCK]).strip())
    elif command == "state":
        sys.exit(state(sys.argv[2:]))
