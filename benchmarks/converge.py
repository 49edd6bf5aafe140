# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Converge benchmark: what site.yml costs on a fresh node container, and how it grows with the number of pods.

For each pod count (default: the tutorial's 2 pods, then 100 pods) it starts a
fresh node container with molecule's shared create/prepare playbooks (its own
inventory; the containers are named K8SLAB_CONTAINER_PREFIX + "k8slab-bench",
with "-100" added for 100 pods) and times the first `ansible-playbook site.yml`.
With every node up, it then times the converge with nothing to change (several
rounds, every pod count in each round; every one must report changed=0), on the
default lab next to a play of one `ping` task on the same node (the floor:
ansible-playbook's own start-up and one round trip) and, for scale, a play of as
many `ping` tasks as the converge ran modules on the node (what its round trips
alone cost), then removes the containers. The 2-pod run uses the role
defaults, so it is also the default lab's no-change converge; its task count is
ok + changed + skipped of the recap. With --baseline REV (default: the commit
before the converge was reshaped as one proxier and one pod-network run) the
default lab's first converge also runs from that commit's tree, on a fresh node
of its own, in the same rounds. Everything runs interleaved, round by round, so
load from other work on the machine hits both sides alike. Usage, from the
repository root (needs Docker and the node image, as molecule does):

    K8SLAB_NODE_IMAGE=k8slab/node:<tag> .venv/bin/python benchmarks/converge.py [--pods 2 100] [--rounds 7]

It ends with every figure, its target (issues 14 and 20) and met/missed, and
the tasks where the no-change converge of the largest lab spends its time.
"""
import argparse
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from targets import Targets, median, spread, stamp

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
HOST = "k8slab-bench"


def pods(count):
    """count pods labelled component=app behind the default Service; None: the tutorial's defaults."""
    if count == 2:
        return None
    if count > 240:
        raise SystemExit("at most 240 pods fit the default /24 pod network")
    base = ipaddress.ip_address("10.0.0.10")
    return [{"name": "pod%03d" % index, "address": str(base + index), "labels": {"component": "app"}}
            for index in range(1, count + 1)]


# The last commit before issue 20 reshaped the converge.
BASELINE = "afbb9cf"


def ping_play(count):
    """A play of count ping tasks on the node: one task's round trip, count times, and nothing else."""
    return [{"name": "%d ping tasks" % count, "hosts": "nodes", "become": True, "gather_facts": False,
             "tasks": [{"name": "Ping %d" % (index + 1), "ansible.builtin.ping": {}} for index in range(count)]}]


def task_medians(rounds):
    """(task, median seconds) in the order the tasks ran, from each round's {task: [seconds, runs]}; the task's
    name without its role prefix (the callback names a role's task "role : role : name")."""
    names = list(dict.fromkeys(name for times in rounds for name in times))
    return [(name.split(" : ")[-1], median([times[name][0] for times in rounds if name in times])) for name in names]


def source_tree(rev, workdir):
    """The files of commit rev, unpacked under workdir (with its .collections link to itself)."""
    tree = os.path.join(workdir, "tree-%s" % rev)
    os.makedirs(tree)
    archive = subprocess.run(["git", "-C", REPO, "archive", rev], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
    return tree


class Lab:
    def __init__(self, workdir, tree=REPO, host=HOST):
        self.workdir = workdir
        self.tree = tree
        self.host = host
        cache = os.environ.get("K8SLAB_CACHE", os.path.join(REPO, ".cache"))
        self.inventory = os.path.join(workdir, "%s.yml" % host)
        with open(self.inventory, "w", encoding="utf-8") as handle:
            json.dump({"all": {"children": {"nodes": {"hosts": {host: {}}}}}}, handle)
        self.env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
                        ANSIBLE_COLLECTIONS_PATH=os.pathsep.join([os.path.join(tree, ".collections"),
                                                                  os.path.join(cache, "collections")]),
                        ANSIBLE_CALLBACK_PLUGINS=os.path.join(REPO, "benchmarks", "callback_plugins"),
                        ANSIBLE_CALLBACKS_ENABLED="task_times",
                        ANSIBLE_NOCOLOR="1",
                        PATH=BIN + os.pathsep + os.environ.get("PATH", ""))

    def playbook(self, path, extra_vars=None, times=None):
        argv = [os.path.join(BIN, "ansible-playbook"),
                "-i", os.path.join(REPO, "molecule", "resources", "inventory", "nodes.yml"), "-i", self.inventory,
                os.path.join(self.tree, path)]
        if extra_vars:
            argv += ["-e", "@" + extra_vars]
        env = dict(self.env, K8SLAB_TASK_TIMES=times or "")
        start = time.perf_counter()
        result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, check=False)
        seconds = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit("%s failed (%d):\n%s\n%s" % (path, result.returncode, result.stdout[-4000:], result.stderr[-2000:]))
        recap = result.stdout.split("PLAY RECAP")[-1]
        counts = {key: sum(int(n) for n in re.findall(r"\b%s=(\d+)" % key, recap)) for key in ("ok", "changed", "skipped")}
        return seconds, counts["changed"], sum(counts.values())

    def fresh_node(self):
        self.playbook("molecule/resources/playbooks/destroy.yml")
        self.playbook("molecule/resources/playbooks/create.yml")
        self.playbook("molecule/resources/playbooks/prepare.yml")

    def destroy(self):
        self.playbook("molecule/resources/playbooks/destroy.yml")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--pods", type=int, nargs="+", default=[2, 100], help="pod counts; 2 is the tutorial's lab")
    parser.add_argument("--rounds", type=int, default=7,
                        help="no-change converges per fresh node (with 3, the medians moved by 10%% from run to run)")
    parser.add_argument("--fresh-rounds", type=int, default=1, help="fresh nodes (first converges) per pod count")
    parser.add_argument("--baseline", default=BASELINE,
                        help="commit whose first converge of the default lab is compared (empty: none)")
    parser.add_argument("--markdown", action="store_true", help="also print the table as markdown")
    options = parser.parse_args()
    if not os.environ.get("K8SLAB_CONTAINER_PREFIX"):
        print("note: K8SLAB_CONTAINER_PREFIX is not set; the container is called %s" % HOST)

    workdir = tempfile.mkdtemp(prefix="k8slab-bench-converge-")
    # One node per pod count (the default lab's is HOST), all up at once, so the no-change rounds of every count
    # run interleaved, round by round; the baseline's first converge gets a node of its own.
    labs = dict((count, Lab(workdir, host=HOST if count == 2 else "%s-%d" % (HOST, count))) for count in options.pods)
    baseline = Lab(workdir, source_tree(options.baseline, workdir), "%s-baseline" % HOST) if options.baseline else None
    ping = os.path.join(workdir, "ping.yml")
    with open(ping, "w", encoding="utf-8") as handle:
        json.dump(ping_play(1), handle)
    pings = os.path.join(workdir, "pings.yml")  # as many pings as the no-change converge runs modules on the node
    module_runs, floor_modules = [], []
    first = {count: [] for count in options.pods}
    again = {count: [] for count in options.pods}
    floor, tasks, first_baseline = [], [], []
    default_lab_times = []  # each no-change round of the default lab: {task: [seconds, runs]}
    times_of_largest = os.path.join(workdir, "times.json")
    vars_files = {}
    for count in options.pods:
        vars_files[count] = os.path.join(workdir, "pods-%d.json" % count)
        records = pods(count)
        with open(vars_files[count], "w", encoding="utf-8") as handle:
            json.dump({"k8slab_pods": records} if records else {}, handle)
    print("converge benchmark: site.yml on fresh node containers, pods %s, %d no-change rounds, %d CPUs, load %s"
          % (options.pods, options.rounds, os.cpu_count(), os.getloadavg()[0]))
    try:
        for fresh in range(options.fresh_rounds):
            if baseline:
                baseline.fresh_node()
                seconds, changed, dummy = baseline.playbook("playbooks/site.yml")
                first_baseline.append(seconds)
                print("    2 pods, fresh node %d: first converge at %s %.1f s (changed=%d)"
                      % (fresh + 1, options.baseline, seconds, changed))
                baseline.destroy()
            for count in options.pods:
                labs[count].fresh_node()
                seconds, changed, dummy = labs[count].playbook("playbooks/site.yml", vars_files[count])
                first[count].append(seconds)
                print("  %3d pods, fresh node %d: first converge %.1f s (changed=%d)" % (count, fresh + 1, seconds, changed))
        # The no-change converges of the last fresh nodes, every pod count in each round.
        for dummy in range(options.rounds):
            for count in options.pods:
                lab = labs[count]
                times = times_of_largest if count == max(options.pods) else os.path.join(workdir, "times-%d.json" % count)
                seconds, changed, count_tasks = lab.playbook("playbooks/site.yml", vars_files[count], times)
                if changed != 0:
                    raise SystemExit("the converge with nothing to change reported changed=%d" % changed)
                again[count].append(seconds)
                if count == 2:
                    tasks.append(count_tasks)
                    with open(times, encoding="utf-8") as handle:
                        recorded = json.load(handle)
                    default_lab_times.append(recorded["tasks"])
                    module_runs.append(recorded["modules"].get(lab.host, 0))
                    floor.append(lab.playbook(ping)[0])
                    with open(pings, "w", encoding="utf-8") as handle:
                        json.dump(ping_play(module_runs[-1]), handle)
                    floor_modules.append(lab.playbook(pings)[0])
                print("  %3d pods: no-change converge %.1f s, %d tasks%s"
                      % (count, seconds, count_tasks, ", one-task play %.1f s" % floor[-1] if count == 2 else ""))
    finally:
        for lab in labs.values():
            lab.destroy()

    small, large = min(options.pods), max(options.pods)
    table = Targets("Converge (site.yml), %s" % stamp(REPO))
    table.add("first converge, %d vs %d pods" % (large, small), median(first[large]) / median(first[small]),
              "%s vs %s" % (spread(first[large]), spread(first[small])), 3.0)
    table.add("no-change converge, %d vs %d pods" % (large, small), median(again[large]) / median(again[small]),
              "%s vs %s" % (spread(again[large]), spread(again[small])), 1.2)
    if 2 in again:
        table.add("default lab (2 pods), tasks in a no-change converge (ok + changed + skipped)", max(tasks),
                  "%s" % sorted(set(tasks)), 15, unit="tasks")
        table.add("default lab, no-change converge vs a one-task play", median(again[2]) / median(floor),
                  "%s vs %s" % (spread(again[2]), spread(floor)), 4.0)
        # What the tasks' round trips alone cost: the target is out of reach while this row exceeds it.
        table.add("  for scale: a play of %s ping tasks (the no-change converge's module runs on the node) vs a one-task play"
                  % "/".join(str(n) for n in sorted(set(module_runs))), median(floor_modules) / median(floor),
                  "%s vs %s" % (spread(floor_modules), spread(floor)))
        if first_baseline:
            table.add("default lab, first converge vs %s" % options.baseline, median(first[2]) / median(first_baseline),
                      "%s vs %s" % (spread(first[2]), spread(first_baseline)), 0.7)
        # Where the no-change converge's time goes, task by task in the order they ran: each task that runs a
        # module on the node costs about what one ping task does, a distinct module also its packaging.
        for name, seconds in task_medians(default_lab_times):
            table.add("  default lab, no-change, task: %s" % name, seconds,
                      "median of %d rounds" % len(default_lab_times), unit="s")
    table.print_table()
    if os.path.exists(times_of_largest):
        with open(times_of_largest, encoding="utf-8") as handle:
            times = json.load(handle)["tasks"]
        total = sum(entry[0] for entry in times.values())
        print("\nWhere the last no-change converge of %d pods spends its time (top 10 of %.1f s in tasks):" % (large, total))
        for name, (seconds, count) in sorted(times.items(), key=lambda item: -item[1][0])[:10]:
            print("  %6.1f s %4.0f%%  %s%s" % (seconds, 100 * seconds / total, name, " (x%d)" % count if count > 1 else ""))
    if options.markdown:
        print("\n" + table.markdown())
    shutil.rmtree(workdir, ignore_errors=True)  # its plays, timings and baseline tree; kept when a run fails, to look at


if __name__ == "__main__":
    main()
