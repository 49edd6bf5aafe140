#!/usr/bin/env python
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
the report gives its failures and longest gap per kill. Exits 1 on any failed check or connection.
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


def model(rng):
    chosen = rng.sample(APP, rng.randint(1, len(APP)))
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
    """Kill ``play`` ``how`` at ``point``; returns (seconds into the run, the lock's token then) or None."""
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
                return time.time() - play.started, token
            if play.process.poll() is not None:
                return None
            time.sleep(0.05)
        how = "controller"  # no module ran: kill the controller instead
    os.killpg(play.process.pid, signal.SIGKILL)
    return time.time() - play.started, token


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
    print("crash harness: seed %d, %d kills (rerun with this seed to repeat them)" % (seed, kills))
    node = Node(container)
    foreign = node.run("foreign").stdout
    current = {"k8slab_pods": [{"name": "adam"}, {"name": "eve"}, CLIENT]}
    rows, problems = [], []
    started = time.time()
    for number in range(1, kills + 1):
        target = model(rng)
        how = rng.choice(["controller", "module"])
        point = rng.choice(POINTS)
        varfile = os.path.join(workdir, "vars-%d.json" % number)
        with open(varfile, "w") as handle:
            json.dump(target, handle)
        change = describe(current, target)
        round_start = time.time()
        play = Playbook(project, "site.yml", varfile, os.path.join(workdir, "kill-%d.log" % number))
        killed = kill(rng, node, play, how, point, 14.0)
        rc = play.wait()
        died = time.time()
        # the next converge: same target, must succeed without help; how soon does it hold the lock?
        recovery = Playbook(project, "site.yml", varfile, os.path.join(workdir, "recover-%d.log" % number))
        takeover = None
        old = killed[1] if killed else None
        while recovery.process.poll() is None:
            holder = node.lock()
            if holder.get("token") and holder.get("token") != old and not holder.get("ended"):
                takeover = time.time() - died
                break
            time.sleep(0.2)
        recovery_rc = recovery.wait()
        took_over = recovery.saw("took over the node lock")
        current = target
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
        if number % verify_every == 0 or number == kills:
            verify = Playbook(project, "verify.yml", varfile, os.path.join(workdir, "verify-%d.log" % number))
            if verify.wait() != 0:
                failed.append("verify failed (see verify-%d.log)" % number)
        connections, gap = load_figures(node, round_start, time.time())
        if connections:
            failed.append("%d new connections failed" % connections)
        rows.append((number, how if killed else "-", point[0], "%.1f" % killed[0] if killed else "ended",
                     rc, "%.1f" % takeover if takeover is not None else "-", "yes" if took_over else "no",
                     connections, gap, change))
        print("kill %2d: %-10s at %-33s %6s s  rc %3s  lock after %4s s (took over: %s)  "
              "failed conns %d, gap %.2f s  %s" % rows[-1])
        for problem in failed:
            print("  FAILED: %s" % problem)
        sys.stdout.flush()
        problems.extend("kill %d: %s" % (number, problem) for problem in failed)
    survived = sum(1 for row in rows if row[1] != "-") - len(set(p.split(":")[0] for p in problems))
    killed_rounds = sum(1 for row in rows if row[1] != "-")
    takeovers = [float(row[5]) for row in rows if row[5] != "-" and row[1] != "-"]
    print("seed %d: %d rounds in %.0f s, %d killed mid-run, %d survived; lock held again after at most %.1f s; "
          "%d failed new connections, longest gap %.2f s"
          % (seed, kills, time.time() - started, killed_rounds, survived, max(takeovers or [0]),
             sum(row[7] for row in rows), max([row[8] for row in rows] or [0])))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
