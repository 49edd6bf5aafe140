#!/usr/bin/env python
# SPDX-License-Identifier: GPL-3.0-or-later
"""Crash consistency: SIGKILL converges at random moments, then check that nothing was lost (issue 24).

Usage: crash.py SEED KILLS CONTAINER PROJECT WORKDIR [--verify-every N] [--report REPORT]

Runs on the controller, in two phases, all drawn from SEED.

Controller rounds (K8SLAB_CRASH_CONTROLLER_KILLS, 3 by default): a full site.yml converge to a new set of pods,
layout and backend, killed with SIGKILL to the whole process group of ansible-playbook (the controller) or to
the module's own python3 process on the node, at a random moment of the converge or just after a chosen step
starts (the hard cases: the drain sync that records ownership then applies, the app stop right after it,
pod_sync creating veth pairs, the last sync), a step only when that converge gives it work (the drain
with pods leaving, veth pairs with pods joining). A kill at a step comes within the shortest time that step took
in the earlier rounds' whole converges, from its task line to its result (SHORT_STEP before one has), so it
lands in the step even when that is the last sync, which ends the run. The next converge, to the same target,
must succeed without help; it runs with ANSIBLE_KEEP_REMOTE_FILES, and the module payloads it leaves on the node
(AnsiballZ files: module and arguments) are kept as that target's set.

Module rounds (the rest of KILLS): cheap kills without the controller. The node replays one set's
converge module by module (crash_node.py round), SIGKILLs the module running at a random moment (or at
a chosen step, within the shortest time that step took in the set's earlier replays), then releases the
lock as site.yml's `always` would or leaves it to lapse (as if the controller had died too), and replays
the whole set again: every step of that recovery must succeed. The targets are planned so that every set
can be reached from another (a layout or backend switch only with pods added, never removed: churn.yml, a
backend switch does not drain the old backend).

After every round: the records, namespaces and units agree with the pods, the foreign chain, namespace
and file planted at the start are unchanged, the lock is free again; verify.yml runs every N rounds
(--verify-every) and after the last. A client in pod `client` opens new TCP connections to the ClusterIP
the whole time; the report gives its failures and longest gap per kill; a failure counts when some pod
stayed listed through the round (with none left, the Service has no endpoint for a while by design).
Exits 1 on any failed check or counted connection.

REPORT (default WORKDIR/report.json) gets the rounds and the summary as JSON, with the commit measured and
the date: scripts/render_crash.py turns it into the reliability guide's figures. The report names who each
kill hit (``kind``, see kind()); render_crash.py shows those names as they are.
"""
import argparse
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
# (what the kill aims at, a line of ansible-playbook's output to wait for or None for a random moment, what
# the converge must do for that step to have work: pods "leaving", pods "joining", or None for any converge).
# The line is a role task's name: ansible-playbook never prints the name of an import_role in site.yml.
POINTS = [
    ("random moment", None, None),
    ("random moment", None, None),
    ("drain sync: records, then apply", "Sync the Service rules (drain)]", "leaving"),
    ("app stop", "Stop the app in pods no longer listed", "leaving"),
    ("pod_sync, veth pairs half made", "Converge IPv4 forwarding, every pod's namespace, veth pair and routes", "joining"),
    ("last sync: records, then apply", "Sync the Service rules]", None),
]
# (what the kill aims at, the replayed step or None for a random moment, words of a command that step runs:
# the kill comes as soon as it starts that command, so the module dies with its apply under way)
MODULE_POINTS = [
    ("random moment", None, None),
    ("random moment", None, None),
    ("random moment", None, None),
    ("drain sync: records, then apply", "proxy_sync drain", None),
    ("drain sync: during its apply", "proxy_sync drain", "--noflush,nft -f"),
    ("app stop", "app_instances pruned", None),
    ("pod_sync, veth pairs half made", "pod_sync", None),
    ("pod_sync: during a netns or veth add", "pod_sync", "netns add,link add"),
    ("pod_sync: pods made, stale neighbours not yet flushed", "pod_sync", "neigh show"),
    ("app start", "app_instances present", None),
    ("last sync: records, then apply", "proxy_sync", None),
    ("last sync: during its apply", "proxy_sync", "--noflush,nft -f"),
]


# The node lock of every converge and replay: a short lease, so a killed run's lock lapses quickly; a lock that
# never lapses fails the round in a minute, not in ten.
LOCK_LEASE = 3
LOCK_TIMEOUT = 60


class Node:
    def __init__(self, container):
        self.container = container

    def run(self, *argv):
        # crash_node.py's replays take the lock as site.yml's converges do (k8slab_lock_lease, k8slab_lock_timeout)
        return subprocess.run(["docker", "exec", "-e", "K8SLAB_CRASH_LEASE=%d" % LOCK_LEASE,
                               "-e", "K8SLAB_CRASH_TIMEOUT=%d" % LOCK_TIMEOUT, self.container,
                               "python3", "/root/crash/crash_node.py"] + list(argv), check=False,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)

    def lock(self):
        try:
            return json.loads(self.run("lock").stdout or "{}")
        except ValueError:
            return {}


class Playbook:
    """One ansible-playbook in its own process group, its output read line by line."""

    def __init__(self, project, playbook, varfile, log, keep=False):
        argv = ["ansible-playbook", "--inventory=%s/molecule/resources/inventory/nodes.yml" % project,
                "--inventory=%s/molecule/reliability/inventory.yml" % project,
                "%s/playbooks/%s" % (project, playbook), "-e", "@" + varfile]
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        if keep:
            env["ANSIBLE_KEEP_REMOTE_FILES"] = "1"  # the module payloads stay on the node: a set to replay
        self.log = open(log, "w")
        self.lines, self.times = [], []  # the output, and when each line came
        self.started = time.time()
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                        universal_newlines=True, start_new_session=True)
        self.reader = threading.Thread(target=self.read)
        self.reader.start()

    def read(self):
        for line in self.process.stdout:
            self.times.append(time.time())
            self.lines.append(line)
            self.log.write(line)

    def saw(self, text):
        return any(text in line for line in self.lines)

    def wait(self):
        rc = self.process.wait()
        self.reader.join()
        self.log.close()
        return rc

    def timed(self):
        """[(time, line)] of the output (once the run ended)."""
        return list(zip(self.times, self.lines))


def target(pods, layout_backend):
    chosen = [(name, address) for name, address in APP if name in pods]
    return {"k8slab_pods": [{"name": name, "address": address, "labels": {"component": "app"}}
                            for name, address in chosen] + [CLIENT],
            "service_proxy_layout": layout_backend[0], "service_proxy_backend": layout_backend[1],
            "k8slab_lock_lease": LOCK_LEASE, "k8slab_lock_timeout": LOCK_TIMEOUT,
            # no digest-only proxy_sync payload: a replayed set must converge from any state
            "service_proxy_return_plan": True}


def app_pods(model):
    return set(pod["name"] for pod in model["k8slab_pods"] if pod.get("labels", {}).get("component"))


def shape(model):
    return model["service_proxy_layout"], model["service_proxy_backend"]


def reachable(old, new):
    """Whether a converge from ``old`` to ``new`` is a fair test: something changes, and a new layout or backend
    comes only with pods added, none removed (churn.yml: a backend switch does not drain the old backend)."""
    if shape(old) == shape(new):
        return app_pods(old) != app_pods(new)
    return app_pods(old) <= app_pods(new)


def replayable(current, sets, labels, marker):
    """The sets (``sets``: name -> (target, ...); ``labels``: name -> its steps) a module round may replay from
    ``current`` and kill at step ``marker`` (None: any step). A set is a fixed list of module runs, and a converge
    runs the app stop only when a pod leaves: a set without that step is replayed only where no pod leaves, as
    the converge it was captured from would have run it from there."""
    names = []
    for name, (model, dummy_varfile, dummy_steps) in sorted(sets.items()):
        steps = labels[name]
        if not reachable(current, model) or (marker and marker not in steps):
            continue
        if "app_instances pruned" in steps or app_pods(current) <= app_pods(model):
            names.append(name)
    return names


def plan(rng, count):
    """``count`` targets, each reachable from the one before (the first from the inventory's adam and eve on
    tutorial/iptables), and every one reachable again in the module rounds: all app pods on shape A, some
    on A, more on shape B, others on B, then back to all (a superset of any) on A."""
    first, second = rng.sample(SHAPES, 2)
    names = [name for name, address in APP]
    some = set(rng.sample(names, rng.randint(1, len(names) - 1)))
    more = some | set(rng.sample(names, rng.randint(0, len(names) - 1)))
    others = set(rng.sample(names, rng.randint(1, len(names) - 1)))
    while others == more:
        others = set(rng.sample(names, rng.randint(1, len(names) - 1)))
    cycle = [target(names, first), target(some, first), target(more, second), target(others, second)]
    return [cycle[number % len(cycle)] for number in range(max(count, 3))]


def aims(points, old, new):
    """The ``points`` a full converge from ``old`` to ``new`` may be killed at: a named step only when that converge
    gives it work (the drain and the app stop only with pods leaving, veth pairs only with pods joining), else a
    random moment."""
    work = {None: True, "leaving": bool(app_pods(old) - app_pods(new)), "joining": bool(app_pods(new) - app_pods(old))}
    return [point for point in points if work[point[2]]] or [("random moment", None, None)]


def unique(names):
    return list(dict.fromkeys(names))


def describe(old, new):
    was = set(pod["name"] for pod in old["k8slab_pods"])
    now = set(pod["name"] for pod in new["k8slab_pods"])
    return " ".join(["+" + name for name in sorted(now - was)] + ["-" + name for name in sorted(was - now)]
                    + ["%s/%s" % (new["service_proxy_layout"], new["service_proxy_backend"])])


# Seconds a controller kill waits at most after its step's line while no whole converge has timed that step: a
# module task takes 0.27-0.41 s in a no-change converge (guide_performance.rst: the last sync 0.28 s, the shortest
# such step), so the kill lands in the step even when it is the last sync, which ends the run.
SHORT_STEP = 0.25


def step_seconds(timed, marker):
    """Seconds the step whose line holds ``marker`` took in an ansible-playbook output ``timed`` ([(time, line)]):
    from its line to the next line printed, its result. None when the step did not run (absent or skipped) or
    printed no result."""
    lines = [(when, line) for when, line in timed if line.strip()]
    for number, (when, line) in enumerate(lines[:-1]):
        if marker in line:
            after, result = lines[number + 1]
            return None if result.startswith(("skipping:", "TASK [", "PLAY ")) else after - when
    return None


def step_lengths(known, timed, markers):
    """``known`` (marker -> seconds, the shortest its step took so far) with the steps of a whole converge's
    output ``timed`` added. A kill drawn within a step's shortest time lands inside that step, not after it."""
    lengths = dict(known)
    for marker in markers:
        seconds = step_seconds(timed, marker)
        if seconds is not None:
            lengths[marker] = min(seconds, lengths.get(marker, seconds))
    return lengths


def after_marker(rng, seconds):
    """Seconds to wait, once the aimed step's line is printed, before the kill: within ``seconds`` (the shortest
    the step took in the earlier whole converges), or SHORT_STEP before any timed it. One draw from ``rng``."""
    return rng.uniform(0.0, seconds or SHORT_STEP)


def kill(rng, node, play, how, point, budget, seconds=None):
    """Kill ``play`` ``how`` at ``point``; returns (how, seconds into the run, the lock's token then), or None
    when the run ended first."""
    marker = point[1]
    deadline = time.time() + budget
    if marker:
        while not play.saw(marker) and play.process.poll() is None and time.time() < deadline:
            time.sleep(0.01)  # a step may last a quarter of a second
        time.sleep(after_marker(rng, seconds))
    else:
        time.sleep(rng.uniform(0.5, budget))
    if play.process.poll() is not None:
        return None
    # the lock is read once the kill is done: a docker exec before it would carry the kill past a short step
    if how == "module":
        for _attempt in range(40):
            pids = node.run("modules").stdout.split()
            if pids:
                subprocess.run(["docker", "exec", node.container, "kill", "-KILL"] + pids, check=False)
                at = time.time() - play.started
                return how, at, node.lock().get("token")
            if play.process.poll() is not None:
                return None
            time.sleep(0.05)
        how = "controller"  # no module ran: kill the controller instead
    os.killpg(play.process.pid, signal.SIGKILL)
    at = time.time() - play.started
    return how, at, node.lock().get("token")


def load_figures(node, start, end):
    """Requests, failed new connections and the longest gap between two answers among the requests started in
    [start, end)."""
    failed, gap, last, count = 0, 0.0, None, 0
    log = subprocess.run(["docker", "exec", node.container, "cat", "/root/crash/load.log"], check=False,
                         stdout=subprocess.PIPE, universal_newlines=True).stdout
    for line in log.splitlines():
        parts = line.split()
        if len(parts) != 4 or not start <= float(parts[0]) < end:
            continue
        count += 1
        if parts[2] != "200":
            failed += 1
            continue
        if last is not None:
            gap = max(gap, float(parts[1]) - last)
        last = float(parts[1])
    return count, failed, gap


def shortest(recorded, recovery):
    """Each step's shortest seconds so far: ``recorded`` ([label, seconds], None before the set's first whole
    replay) with the steps of a whole replay (``recovery``) added. A timed kill drawn within a step's shortest
    time lands inside that step, not in whatever step runs after it."""
    seconds = [step["seconds"] for step in recovery]
    if recorded:
        seconds = [min(old[1], new) for old, new in zip(recorded, seconds)]
    return [[step["step"], value] for step, value in zip(recovery, seconds)]


def moment(rng, steps, point):
    """(step index, seconds after it starts) for a kill at ``point`` of a replay whose steps took ``steps``
    ([label, seconds]: the shortest of the set's replays)."""
    marker = point[1]
    if marker:
        number = [step[0] for step in steps].index(marker)
        return number, rng.uniform(0.0, steps[number][1])
    at = rng.uniform(0.0, sum(seconds for name, seconds in steps))
    for number, (name, seconds) in enumerate(steps):
        if at < seconds:
            return number, at
        at -= seconds
    return len(steps) - 1, at


# Who a kill hit, by the harness's ``how``: the report carries these names (a row's ``kind``), and the guide shows
# them as they are.
KINDS = {"controller": "controller", "module": "module in a full converge", "module/free": "replayed module",
         "module/lapse": "replayed module"}


def kind(how):
    return KINDS.get(how, how)


def summarize(rows, kills_wanted, seconds, problems, aimed):
    """The run's figures, each computed once: the report's summary, and the line crash.yml shows (summary_line).
    ``aimed``: {phase: the moments that phase could aim at}; ``no_kill`` lists those no kill landed on."""
    killed = [row for row in rows if row["killed"]]
    takeovers = [row["takeover"] for row in killed if row["takeover"] is not None]
    by_kind = dict.fromkeys(KINDS.values(), 0)
    for row in killed:
        by_kind[row["kind"]] = by_kind.get(row["kind"], 0) + 1
    hit = set((row["phase"], row["aim"]) for row in killed)
    return {"rounds": len(rows), "seconds": round(seconds, 1), "kills": len(killed), "kills_wanted": kills_wanted,
            "kills_by_kind": by_kind, "survived": sum(1 for row in killed if row["ok"]),
            "lock_held_again_max": round(max(takeovers or [0]), 2),
            "takeovers": sum(1 for row in killed if row["took_over"]),
            "failed_connections": sum(row["failed"] for row in rows),
            "longest_gap": round(max([row["gap"] for row in rows] or [0]), 3),
            "no_kill": {phase: [name for name in names if (phase, name) not in hit] for phase, names in aimed.items()},
            "problems": list(problems)}


def summary_line(seed, summary):
    """The summary as the run's last line of output."""
    return ("seed %d: %d rounds in %.0f s; %d kills (%s), %d survived; next converge held the lock after at most "
            "%.1f s (%d takeovers of a lapsed lock); %d failed new connections; longest gap %.2f s"
            % (seed, summary["rounds"], summary["seconds"], summary["kills"],
               ", ".join("%d %s" % (count, name) for name, count in summary["kills_by_kind"].items()),
               summary["survived"], summary["lock_held_again_max"], summary["takeovers"],
               summary["failed_connections"], summary["longest_gap"]))


class Harness:
    def __init__(self, seed, kills, container, project, workdir, verify_every):
        self.seed, self.kills, self.verify_every = seed, kills, verify_every
        self.project, self.workdir = project, workdir
        self.rng = random.Random(seed)
        # K8SLAB_CRASH_POINTS: aim only at the points whose name contains it (say "pod_sync" to hunt one fault)
        chosen = os.environ.get("K8SLAB_CRASH_POINTS", "")
        self.points = [point for point in POINTS if chosen in point[0]] or POINTS
        self.module_points = [point for point in MODULE_POINTS if chosen in point[0]] or MODULE_POINTS
        self.node = Node(container)
        self.foreign = self.node.run("foreign").stdout
        self.current = {"k8slab_pods": [{"name": "adam", "labels": {"component": "app"}},
                                        {"name": "eve", "labels": {"component": "app"}}, CLIENT],
                        "service_proxy_layout": "tutorial", "service_proxy_backend": "iptables"}
        self.rows, self.problems, self.summary = [], [], {}
        self.sets = {}  # set name -> (target, its vars file, [label, seconds] of each step's last replay)
        self.labels = {}  # set name -> its steps' labels, as captured
        self.step_lengths = {}  # a POINTS line -> the shortest seconds its step took in a whole converge's output
        self.number = 0
        self.budget = 14.0  # seconds a converge lasts: random kills fall within it (then the last recovery's length)

    def landed(self):
        return sum(1 for row in self.rows if row["killed"])

    def varfile(self, model):
        path = os.path.join(self.workdir, "vars-%d.json" % self.number)
        with open(path, "w") as handle:
            # Every step in every captured converge (the app stop too, a no-op when no pod leaves): a set is
            # replayed from other starting states than the one it was captured from.
            json.dump(dict(model, k8slab_app_stop="always"), handle)
        return path

    def controller_round(self, model, kill_it):
        """A full converge killed on the controller or the node (``kill_it``), then the next converge, whose
        module payloads become a set."""
        varfile = self.varfile(model)
        how, point, killed, rc = "-", ("none", None), None, "-"
        if kill_it:
            how, point = self.rng.choice(["controller", "module"]), self.rng.choice(aims(self.points, self.current, model))
            play = Playbook(self.project, "site.yml", varfile, os.path.join(self.workdir, "kill-%d.log" % self.number))
            killed = kill(self.rng, self.node, play, how, point, self.budget, self.step_lengths.get(point[1]))
            rc = play.wait()
        died = time.time()
        recovery = Playbook(self.project, "site.yml", varfile,
                            os.path.join(self.workdir, "recover-%d.log" % self.number), keep=True)
        takeover = None
        old = killed[2] if killed else None
        while kill_it and recovery.process.poll() is None:
            holder = self.node.lock()
            if holder.get("token") and holder.get("token") != old and not holder.get("ended"):
                takeover = time.time() - died
                break
            time.sleep(0.2)
        failed = []
        if recovery.wait() != 0:
            failed.append("converge after the kill failed (see recover-%d.log)" % self.number)
        else:
            self.step_lengths = step_lengths(self.step_lengths, recovery.timed(), [point[1] for point in POINTS if point[1]])
        self.budget = max(4.0, time.time() - recovery.started)
        name = "set%d" % self.number
        captured = self.node.run("capture", name, "%.3f" % recovery.started)
        if captured.returncode != 0:
            failed.append("the converge left no whole set of module payloads: %s" % captured.stdout.strip())
        else:
            self.sets[name] = (model, varfile, None)
            self.labels[name] = captured.stdout.strip().splitlines()[-1].split(" / ")
        how = killed[0] if killed else how
        row = {"killed": bool(killed), "how": how, "kind": kind(how), "phase": "full converge", "aim": point[0],
               "point": point[0],
               "at": "%.1f" % killed[1] if killed else "ended", "rc": rc, "takeover": takeover,
               "took_over": recovery.saw("took over the node lock")}
        return model, row, failed, varfile

    def module_round(self):
        """A converge replayed on the node from a set reachable from the current state, one module killed."""
        fits = [(point, names) for point, names in ((point, replayable(self.current, self.sets, self.labels, point[1]))
                                                    for point in self.module_points) if names]
        point, names = self.rng.choice(fits)
        name = self.rng.choice(names)
        model, varfile, recorded = self.sets[name]
        mode = self.rng.choice(["release", "die"])
        # before the set's first whole replay its steps' times are a guess
        steps = recorded or [[label, 0.6] for label in self.node.run("steps", name).stdout.strip().split(" / ")]
        number, at = moment(self.rng, steps, point)
        replay = self.node.run("round", name, str(number), "%.3f" % at, mode, point[2] or "")
        with open(os.path.join(self.workdir, "round-%d.json" % self.number), "w") as handle:
            handle.write(replay.stdout)
        try:
            report = json.loads(replay.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            report = {"ok": False, "recovery": [], "kill": None, "takeover": None, "took_over": ""}
        failed = []
        if not report["ok"]:
            bad = [step for step in report["recovery"] if step["failed"]]
            failed.append("replayed converge after the kill failed: %s" % (bad or replay.stdout.strip()[-500:]))
        elif len(report["recovery"]) == len(steps):
            self.sets[name] = (model, varfile, shortest(recorded, report["recovery"]))
        kill_info = report["kill"]
        how = "module/" + ("free" if mode == "release" else "lapse")
        return model, {"killed": bool(kill_info), "how": how, "kind": kind(how), "phase": "replayed", "aim": point[0],
                       "point": "%s (%s)" % (point[0], kill_info["step"]) if kill_info else point[0],
                       "at": "%.2f" % kill_info["at"] if kill_info else "ended", "rc": "-",
                       "takeover": report["takeover"], "took_over": bool(report["took_over"])}, failed, varfile

    def check(self, model):
        """What must hold after every round."""
        failed = []
        pods = [pod["name"] for pod in model["k8slab_pods"]]
        state = self.node.run("state", *pods)
        if state.returncode != 0:
            failed.append("records, namespaces and units disagree: %s" % state.stdout.strip())
        if self.node.run("foreign").stdout != self.foreign:
            failed.append("foreign chain, namespace or file changed")
        holder = self.node.lock()
        for _attempt in range(20):  # the last sync's exit ends the lock: the holder sees it within a tenth of a second
            if holder.get("ended"):
                break
            time.sleep(0.1)
            holder = self.node.lock()
        if not holder.get("ended"):
            failed.append("lock still held after the converge: %s" % holder)
        return failed

    def verify(self, varfile):
        """verify.yml, outside the round's load figures: it kills every app with kill -9 on purpose."""
        verify = Playbook(self.project, "verify.yml", varfile, os.path.join(self.workdir, "verify-%d.log" % self.number))
        return [] if verify.wait() == 0 else ["verify failed (see verify-%d.log)" % self.number]

    def round(self, run, *args):
        self.number += 1
        round_start = time.time()
        before = self.current
        model, row, failed, varfile = run(*args)
        self.current = model
        last = self.landed() + row["killed"] >= self.kills
        failed += self.check(model)
        requests, connections, gap = load_figures(self.node, round_start, time.time())
        if not requests:
            failed.append("the client in pod client sent no request in this round")
        stay = app_pods(before) & app_pods(model)
        if connections and stay:
            failed.append("%d new connections failed while %s stayed listed" % (connections, ",".join(sorted(stay))))
        if self.number % self.verify_every == 0 or last:
            failed += self.verify(varfile)
        row.update(number=self.number, failed=connections, gap=gap, change=describe(before, model), ok=not failed)
        self.rows.append(row)
        print("round %2d: kill %-12s at %-48s %5s s  rc %3s  lock held again after %4s s (took over: %-3s)  "
              "failed conns %d, gap %.2f s  %s"
              % (self.number, row["how"], row["point"], row["at"], row["rc"],
                 "%.1f" % row["takeover"] if row["takeover"] is not None else "-", "yes" if row["took_over"] else "no",
                 connections, gap, row["change"]))
        for problem in failed:
            print("  FAILED: %s" % problem)
        sys.stdout.flush()
        self.problems.extend("round %d: %s" % (self.number, problem) for problem in failed)

    def run(self, controller_kills):
        started = time.time()
        for count, model in enumerate(plan(self.rng, controller_kills)):
            self.round(self.controller_round, model, count < controller_kills)
        while self.landed() < self.kills and self.number < 2 * self.kills + 3 and len(self.sets) > 1:
            self.round(self.module_round)
        landed = self.landed()
        if landed < self.kills:
            self.problems.append("only %d kills landed in %d rounds" % (landed, len(self.rows)))
        aimed = {}  # the phases this run had rounds of
        if controller_kills:
            aimed["full converge"] = unique(point[0] for point in self.points)
        if self.kills > controller_kills:
            aimed["replayed"] = unique(point[0] for point in self.module_points)
        self.summary = summarize(self.rows, self.kills, time.time() - started, self.problems, aimed)
        print(summary_line(self.seed, self.summary))
        return 1 if self.problems else 0

    def report(self, path):
        """The rounds and the summary as JSON, named by the commit measured and the date (UTC)."""
        commit = subprocess.run(["git", "-C", self.project, "describe", "--always", "--dirty"], check=False,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True)
        result = {"seed": self.seed, "commit": commit.stdout.strip() or "unknown",
                  "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                  "summary": self.summary, "rows": self.rows}
        with open(path, "w") as handle:
            json.dump(result, handle, indent=1)
        sys.stderr.write("report: %s\n" % path)  # stdout's last line stays the summary


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    for name in ("seed", "kills"):
        parser.add_argument(name, type=int)
    for name in ("container", "project", "workdir"):
        parser.add_argument(name)
    parser.add_argument("--verify-every", type=int, default=15, help="run verify.yml every N rounds (and after the last)")
    parser.add_argument("--report", help="where the JSON report goes (default WORKDIR/report.json)")
    options = parser.parse_args(argv)
    seed, kills, verify_every = options.seed, options.kills, options.verify_every
    controller_kills = min(kills, int(os.environ.get("K8SLAB_CRASH_CONTROLLER_KILLS") or 3))
    print("crash harness: seed %d, %d kills, %d of them in full converges (rerun with this seed to repeat them)"
          % (seed, kills, controller_kills))
    sys.stdout.flush()
    harness = Harness(seed, kills, options.container, options.project, options.workdir, verify_every)
    status = harness.run(controller_kills)
    harness.report(options.report or os.path.join(options.workdir, "report.json"))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
