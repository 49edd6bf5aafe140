#!/usr/bin/env python
# SPDX-License-Identifier: GPL-3.0-or-later
"""Crash consistency: SIGKILL converges at random moments, then check that nothing was lost (issue 24).

Usage: crash.py SEED KILLS CONTAINER PROJECT WORKDIR [VERIFY_EVERY]

Runs on the controller. Each round picks (from SEED) a change of pods, layout or backend and a way to
die: SIGKILL to the whole process group of ansible-playbook (the controller), or to the module's own
python3 process on the node. It kills either at a random moment of the converge or just after a chosen
step starts (the hard cases: the drain sync that records ownership then applies, the window between the
drain and the app stop, pod_sync creating veth pairs). After each kill it measures how long until the
next converge holds the node lock, runs that converge (it must succeed without help), checks that the
records, namespaces and units agree with the pods, that the foreign chain, namespace and file planted at
the start are unchanged and that the lock is free again; verify.yml runs every VERIFY_EVERY rounds and
after the last. A client in pod `client` opens new TCP connections to the ClusterIP the whole time;
the report gives its failures and longest gap per kill; a failure counts when some pod stayed listed
through the round (with none left, the Service has no endpoint for a while by design). Exits 1 on any
failed check or counted connection.
"""
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

APP = [("adam", "10.0.0.11"), ("eve", "10.0.0.21"), ("cain", "10.0.0.31"), ("abel", "10.0.0.41"),
       ("seth", "10.0.0.51")]
CLIENT = {"name": "client", "address": "10.0.0.99", "labels": {"role": "client"}}
# No kube-proxy layout on iptables: the node holds a foreign KUBE-SERVICES on purpose (see churn.yml).
SHAPES = [("tutorial", "iptables"), ("tutorial", "nftables"), ("kube-proxy", "nftables")]
# (what the kill aims at, a line of ansible-playbook's output to wait for, or None for a random moment)
POINTS = [
    ("random moment", None),
    ("random moment", None),
    ("drain sync: records, then apply", "Take pods no longer listed out of every Service"),
    ("between drain and app stop", "Turn on IP forwarding"),
    ("app stop", "Stop the app in pods no longer listed"),
    ("pod_sync, veth pairs half made", "Converge every pod's namespace, veth pair and routes"),
    ("last sync: records, then apply", "Write the Service chains"),
]


class Node:
    def __init__(self, container):
        self.container = container

    def run(self, *argv):
        return subprocess.run(["docker", "exec", self.container, "python3", "/root/crash/crash_node.py"]
                              + list(argv), check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True)

    def lock(self):
        try:
            return json.loads(self.run("lock").stdout or "{}")
        except ValueError:
            return {}


class Playbook:
    """One ansible-playbook in its own process group, its output read line by line."""

    def __init__(self, project, playbook, varfile, log):
        argv = ["ansible-playbook", "--inventory=%s/molecule/resources/inventory/nodes.yml" % project,
                "--inventory=%s/molecule/reliability/inventory.yml" % project,
                "%s/playbooks/%s" % (project, playbook), "-e", "@" + varfile]
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        self.log = open(log, "w")
        self.lines = []
        self.started = time.time()
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                        universal_newlines=True, start_new_session=True)
        self.reader = threading.Thread(target=self.read)
        self.reader.start()

    def read(self):
        for line in self.process.stdout:
            self.lines.append(line)
            self.log.write(line)

    def saw(self, text):
        return any(text in line for line in self.lines)

    def wait(self):
        rc = self.process.wait()
        self.reader.join()
        self.log.close()
        return rc


def model(rng, current):
    """The next converge's variables: a random set of app pods; a new layout or backend only together with
    added pods and no removed one (churn.yml: a backend switch does not drain the old backend)."""
    chosen = rng.sample(APP, rng.randint(1, len(APP)))
    layout, backend = current.get("service_proxy_layout"), current.get("service_proxy_backend")
    was = set(pod["name"] for pod in current["k8slab_pods"])
    if not was - set(name for name, address in chosen) or layout is None:
        layout, backend = rng.choice(SHAPES)
    pods = [{"name": name, "address": address, "labels": {"component": "app"}} for name, address in chosen]
    return {"k8slab_pods": pods + [CLIENT], "service_proxy_layout": layout, "service_proxy_backend": backend,
            "k8slab_lock_lease": 3}


def describe(old, new):
    was = set(pod["name"] for pod in old["k8slab_pods"])
    now = set(pod["name"] for pod in new["k8slab_pods"])
    return " ".join(["+" + name for name in sorted(now - was)] + ["-" + name for name in sorted(was - now)]
                    + ["%s/%s" % (new["service_proxy_layout"], new["service_proxy_backend"])])


def kill(rng, node, play, how, point, budget):
    """Kill ``play`` ``how`` at ``point``; returns (how, seconds into the run, the lock's token then), or None
    when the run ended first."""
    label, marker = point
    deadline = time.time() + budget
    if marker:
        while not play.saw(marker) and play.process.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.5))
    else:
        time.sleep(rng.uniform(0.5, budget))
    if play.process.poll() is not None:
        return None
    token = node.lock().get("token")
    if how == "module":
        for _attempt in range(40):
            pids = node.run("modules").stdout.split()
            if pids:
                subprocess.run(["docker", "exec", node.container, "kill", "-KILL"] + pids, check=False)
                return how, time.time() - play.started, token
            if play.process.poll() is not None:
                return None
            time.sleep(0.05)
        how = "controller"  # no module ran: kill the controller instead
    os.killpg(play.process.pid, signal.SIGKILL)
    return how, time.time() - play.started, token


def load_figures(node, start, end):
    """Failed new connections and the longest gap between two answers among the requests started in [start, end)."""
    failed, gap, last = 0, 0.0, None
    log = subprocess.run(["docker", "exec", node.container, "cat", "/root/crash/load.log"], check=False,
                         stdout=subprocess.PIPE, universal_newlines=True).stdout
    for line in log.splitlines():
        parts = line.split()
        if len(parts) != 4 or not start <= float(parts[0]) < end:
            continue
        if parts[2] != "200":
            failed += 1
            continue
        if last is not None:
            gap = max(gap, float(parts[1]) - last)
        last = float(parts[1])
    return failed, gap


def main(seed, kills, container, project, workdir, verify_every=6):
    seed, kills, verify_every = int(seed), int(kills), int(verify_every)
    rng = random.Random(seed)
    # K8SLAB_CRASH_POINTS: aim only at the points whose name contains it (say "pod_sync" to hunt one fault)
    points = [point for point in POINTS if os.environ.get("K8SLAB_CRASH_POINTS", "") in point[0]] or POINTS
    print("crash harness: seed %d, %d kills (rerun with this seed to repeat them)" % (seed, kills))
    node = Node(container)
    foreign = node.run("foreign").stdout
    current = {"k8slab_pods": [{"name": "adam", "labels": {"component": "app"}},
                               {"name": "eve", "labels": {"component": "app"}}, CLIENT], "service_proxy_layout": "tutorial",
               "service_proxy_backend": "iptables"}
    rows, problems = [], []
    started = time.time()
    number = 0
    budget = 14.0  # seconds a converge lasts: random kills fall within it (then the last recovery's length)
    while sum(1 for row in rows if row["killed"]) < kills and number < 2 * kills:
        number += 1
        target = model(rng, current)
        how = rng.choice(["controller", "module"])
        point = rng.choice(points)
        varfile = os.path.join(workdir, "vars-%d.json" % number)
        with open(varfile, "w") as handle:
            json.dump(target, handle)
        change = describe(current, target)
        round_start = time.time()
        play = Playbook(project, "site.yml", varfile, os.path.join(workdir, "kill-%d.log" % number))
        killed = kill(rng, node, play, how, point, budget)
        rc = play.wait()
        died = time.time()
        # the next converge: same target, must succeed without help; how soon does it hold the lock?
        recovery = Playbook(project, "site.yml", varfile, os.path.join(workdir, "recover-%d.log" % number))
        takeover = None
        old = killed[2] if killed else None
        while recovery.process.poll() is None:
            holder = node.lock()
            if holder.get("token") and holder.get("token") != old and not holder.get("ended"):
                takeover = time.time() - died
                break
            time.sleep(0.2)
        recovery_rc = recovery.wait()
        budget = max(4.0, time.time() - recovery.started)
        took_over = recovery.saw("took over the node lock")
        current_before, current = current, target
        failed = []
        if recovery_rc != 0:
            failed.append("converge after the kill failed (rc %d, see recover-%d.log)" % (recovery_rc, number))
        pods = [pod["name"] for pod in target["k8slab_pods"]]
        state = node.run("state", *pods)
        if state.returncode != 0:
            failed.append("records, namespaces and units disagree: %s" % state.stdout.strip())
        if node.run("foreign").stdout != foreign:
            failed.append("foreign chain, namespace or file changed")
        holder = node.lock()
        if not holder.get("ended"):
            failed.append("lock still held after the converge: %s" % holder)
        if number % verify_every == 0 or sum(1 for row in rows if row["killed"]) + 1 >= kills:
            verify = Playbook(project, "verify.yml", varfile, os.path.join(workdir, "verify-%d.log" % number))
            if verify.wait() != 0:
                failed.append("verify failed (see verify-%d.log)" % number)
        connections, gap = load_figures(node, round_start, time.time())
        stay = set(pod["name"] for pod in current_before["k8slab_pods"] if pod.get("labels", {}).get("component"))
        stay &= set(pod["name"] for pod in target["k8slab_pods"] if pod.get("labels", {}).get("component"))
        if connections and stay:
            failed.append("%d new connections failed while %s stayed listed" % (connections, ",".join(sorted(stay))))
        row = {"number": number, "killed": bool(killed), "how": killed[0] if killed else "-", "point": point[0],
               "at": "%.1f" % killed[1] if killed else "ended", "rc": rc, "takeover": takeover,
               "took_over": took_over, "failed": connections, "gap": gap, "change": change, "ok": not failed}
        rows.append(row)
        print("round %2d: kill %-10s at %-31s %5s s  rc %3s  lock held again after %4s s (took over: %-3s)  "
              "failed conns %d, gap %.2f s  %s"
              % (number, row["how"], row["point"], row["at"], rc,
                 "%.1f" % takeover if takeover is not None else "-", "yes" if took_over else "no",
                 connections, gap, change))
        for problem in failed:
            print("  FAILED: %s" % problem)
        sys.stdout.flush()
        problems.extend("round %d: %s" % (number, problem) for problem in failed)
    killed_rows = [row for row in rows if row["killed"]]
    takeovers = [row["takeover"] for row in killed_rows if row["takeover"] is not None]
    print("seed %d: %d rounds in %.0f s; %d kills (%d of the controller, %d of a module), %d survived; "
          "next converge held the lock after at most %.1f s (%d takeovers of a lapsed lock); "
          "%d failed new connections; longest gap %.2f s"
          % (seed, len(rows), time.time() - started, len(killed_rows),
             sum(1 for row in killed_rows if row["how"] == "controller"),
             sum(1 for row in killed_rows if row["how"] == "module"),
             sum(1 for row in killed_rows if row["ok"]), max(takeovers or [0]),
             sum(1 for row in killed_rows if row["took_over"]),
             sum(row["failed"] for row in rows), max([row["gap"] for row in rows] or [0])))
    if len(killed_rows) < kills:
        problems.append("only %d kills landed in %d rounds" % (len(killed_rows), len(rows)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
