# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Cluster benchmark: converging 3 nodes at once against converging 1 node, from one run.

It starts four fresh node containers on one segment (scripts/segment, as
`scripts/lab up --nodes` does): `solo`, a cluster of one node, and `n1`..`n3`,
a cluster of three, every node with two pods, the web app built once on the
controller. It times the first `ansible-playbook site.yml` of the one node,
then of the three nodes together (Ansible runs them in parallel, forks 5),
prints both and their ratio (the target: at most 1.5), then removes every
container it made. Usage, from the repository root (Docker and the node image,
as molecule needs):

    K8SLAB_NODE_IMAGE=k8slab/node:<tag> .venv/bin/python benchmarks/cluster.py [--order solo-first|cluster-first]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
PREFIX = os.environ.get("K8SLAB_CONTAINER_PREFIX", "")
SEGMENT = "bench-segment"


def node_vars(index):
    return {"k8slab_bridge_address": "10.0.%d.1/24" % index, "k8slab_node_address": "192.0.2.%d" % (10 + index)}


def group(names, first_index):
    hosts, pods = {}, []
    for offset, name in enumerate(names):
        index = first_index + offset
        hosts[name] = node_vars(index)
        for kind, last in (("adam", 11), ("eve", 21)):
            pods.append({"name": "%s-%d" % (kind, index), "address": "10.0.%d.%d" % (index, last), "node": name,
                         "labels": {"component": "app"}})
    return {"hosts": hosts, "vars": {"k8slab_pods": pods}}


def inventory(binary):
    solo = group(["bench-solo"], 4)
    trio = group(["bench-n1", "bench-n2", "bench-n3"], 1)
    hosts = dict(solo["hosts"], **trio["hosts"])
    return {"all": {"children": {
        "nodes": {"hosts": {name: {} for name in hosts},
                  "vars": {"k8slab_cluster_cidr": "10.0.0.0/16", "web_app_binary_src": binary}},
        "solo": solo, "trio": trio,
        "segment": {"hosts": {SEGMENT: {"k8slab_segment_address": "192.0.2.1/24",
                                        "ansible_host": PREFIX + SEGMENT,
                                        "ansible_connection": "community.docker.docker"}}}}}}


class Bench:
    def __init__(self, workdir):
        cache = os.environ.get("K8SLAB_CACHE", os.path.join(REPO, ".cache"))
        self.inventory = os.path.join(workdir, "cluster.json")
        with open(self.inventory, "w", encoding="utf-8") as handle:
            json.dump(inventory(os.path.join(workdir, "web-app")), handle)
        self.env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                        ANSIBLE_COLLECTIONS_PATH=os.pathsep.join([os.path.join(REPO, ".collections"),
                                                                  os.path.join(cache, "collections")]),
                        PATH=BIN + os.pathsep + os.environ.get("PATH", ""))

    def playbook(self, path, *args):
        argv = [os.path.join(BIN, "ansible-playbook"),
                "-i", os.path.join(REPO, "molecule", "resources", "inventory", "nodes.yml"), "-i", self.inventory,
                os.path.join(REPO, path)] + list(args)
        start = time.perf_counter()
        result = subprocess.run(argv, capture_output=True, text=True, env=self.env, cwd=REPO, check=False)
        seconds = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit("%s failed (%d):\n%s\n%s" % (path, result.returncode, result.stdout[-4000:],
                                                          result.stderr[-2000:]))
        return seconds, re.findall(r"(\S+)\s*: ok=\d+\s+changed=(\d+)", result.stdout.split("PLAY RECAP")[-1])

    def converge(self, hosts):
        return self.playbook("playbooks/site.yml", "-e", "k8slab_hosts=%s" % hosts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--order", choices=["solo-first", "cluster-first"], default="solo-first")
    options = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="k8slab-bench-cluster-")
    bench = Bench(workdir)
    print("cluster benchmark: first converge of 1 node vs 3 nodes at once, %d CPUs, load %.1f"
          % (os.cpu_count(), os.getloadavg()[0]))
    try:
        bench.playbook("molecule/resources/playbooks/destroy.yml")
        bench.playbook("molecule/resources/playbooks/create.yml")
        bench.playbook("molecule/resources/playbooks/segment.yml")
        runs = [("1 node ", "solo"), ("3 nodes", "trio")]
        if options.order == "cluster-first":
            runs.reverse()
        seconds = {}
        for label, hosts in runs:
            seconds[hosts], recap = bench.converge(hosts)
            print("  %s: first site.yml %.1f s  (%s)" % (label, seconds[hosts],
                                                         ", ".join("%s changed=%s" % item for item in recap)))
        ratio = seconds["trio"] / seconds["solo"]
        print("  ratio 3 nodes / 1 node: %.2f (target at most 1.5: %s)" % (ratio, "met" if ratio <= 1.5 else "missed"))
    finally:
        bench.playbook("molecule/resources/playbooks/destroy.yml")
        subprocess.run([os.path.join(REPO, "scripts", "segment"), "down", PREFIX + SEGMENT], check=False)


if __name__ == "__main__":
    main()
