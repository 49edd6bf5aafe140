# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""k8slab.kube_proxy.pod_sync in throwaway namespaces: the tutorial's state in one run, then a node's life.

Pods added and removed, a node route removed, the bridge renamed, an upgrade from 0.1 (routes marked with
metric 1013, no record), check mode, a foreign route, absent; every re-run reports changed=false.
"""

from __future__ import annotations

import json
import os

import pytest

from conftest import Sandbox, settled_netlink_state
from test_netlink_tutorial import TUTORIAL


def pod(name, address, **extra):
    return dict({"name": name, "netns": "netns_" + name, "host_veth": "veth_" + name, "pod_veth": "veth_ns_" + name,
                 "cidr": address + "/24", "nameservers": ["8.8.8.8"]}, **extra)


ADAM, EVE, KUBE = pod("adam", "10.0.0.11"), pod("eve", "10.0.0.21"), pod("kube", "10.0.0.31")


class Node:
    """A sandbox with the module's records in its own folder (the sandbox shares /var/lib with the host)."""

    def __init__(self, box):
        self.box = box
        self.records = os.path.join(box.tmpdir, "records")

    def args(self, **kwargs):
        args = {"bridge": "bridge_eden", "bridge_address": "10.0.0.1/24", "pods": [ADAM, EVE],
                "state_dir": os.path.join(self.records, "pod_sync"),
                "netns_state_dir": os.path.join(self.records, "netns")}
        args.update(kwargs)
        return args

    def sync(self, check=False, diff=False, expect_failure=False, **kwargs):
        task = "- k8slab.kube_proxy.pod_sync: %s\n" % json.dumps(self.args(**kwargs))
        return self.box.playbook(task, check=check, diff=diff, expect_failure=expect_failure)[0]

    def record(self):
        path = os.path.join(self.records, "pod_sync", "pod_network.json")
        return json.load(open(path)) if os.path.exists(path) else None

    def netns_records(self):
        path = os.path.join(self.records, "netns", "pod_network")
        return sorted(os.listdir(path)) if os.path.isdir(path) else []

    def links(self):
        return sorted(link["ifname"] for link in self.box.ip_json("link", "show"))

    def routes(self):
        return sorted((route["dst"], route.get("gateway"), route.get("metric", 0))
                      for route in self.box.ip_json("-4", "route", "show") if route.get("gateway"))

    def master(self, link):
        return self.box.ip_json("link", "show", "dev", link)[0].get("master")


@pytest.fixture
def node(sandbox):
    # The node's own network, over which the other nodes' pod subnets are reached.
    sandbox.run(["ip", "link", "add", "dev", "eth0", "type", "veth", "peer", "name", "uplink"])
    sandbox.run(["ip", "address", "add", "192.0.2.11/24", "dev", "eth0"])
    sandbox.run(["ip", "link", "set", "dev", "eth0", "up"])
    sandbox.run(["ip", "link", "set", "dev", "uplink", "up"])
    return Node(sandbox)


@pytest.fixture
def second_sandbox(sandbox, tmp_path):
    box = Sandbox(str(tmp_path))
    try:
        yield box
    finally:
        box.close()


def test_one_run_builds_what_the_tutorial_builds(sandbox, second_sandbox):
    for step in TUTORIAL:
        if isinstance(step, tuple):
            second_sandbox.run(step[1], input=step[0])
        else:
            second_sandbox.run(step)
    node = Node(sandbox)
    first = node.sync()
    assert first["changed"] is True
    ours, theirs = settled_netlink_state(sandbox), settled_netlink_state(second_sandbox)
    for part in sorted(theirs):
        assert ours[part] == theirs[part], part
    assert node.netns_records() == ["netns_adam", "netns_eve"]
    assert node.record() == {"version": 1, "owner": "pod_network", "bridges": ["bridge_eden"], "routes": []}

    again = node.sync()
    assert again["changed"] is False and again["commands"] == [], again
    assert settled_netlink_state(sandbox) == ours


def test_check_mode_changes_nothing_and_predicts(node):
    before = settled_netlink_state(node.box)
    result = node.sync(check=True, diff=True, hairpin=True, bridge_mac="02:4b:38:00:00:01",
                       routes=[{"destination": "10.0.2.0/24", "gateway": "192.0.2.12"}])
    assert result["changed"] is True and result["commands"], result
    assert [pod["veth"]["bridge"] for pod in result["pods"]] == ["bridge_eden", "bridge_eden"]
    assert result["diff"]["after"]["bridge"]["exists"] is True
    assert not result.get("warnings"), result
    assert settled_netlink_state(node.box) == before
    assert node.record() is None and node.netns_records() == []


def test_a_node_life(node):
    box = node.box
    routes = [{"destination": "10.0.2.0/24", "gateway": "192.0.2.12"},
              {"destination": "10.0.3.0/24", "gateway": "192.0.2.13"}]
    cluster = {"hairpin": True, "bridge_mac": "02:4b:38:00:00:01", "force": True}

    # Three pods, two other nodes.
    assert node.sync(pods=[ADAM, EVE, KUBE], routes=routes, **cluster)["changed"] is True
    assert node.routes() == [("10.0.2.0/24", "192.0.2.12", 0), ("10.0.3.0/24", "192.0.2.13", 0)]
    assert node.netns_records() == ["netns_adam", "netns_eve", "netns_kube"]
    assert box.ip_json("-d", "link", "show", "dev", "veth_kube")[0]["linkinfo"]["info_slave_data"]["hairpin"]
    again = node.sync(pods=[ADAM, EVE, KUBE], routes=routes, **cluster)
    assert again["changed"] is False and again["commands"] == [], again

    # kube leaves, node 10.0.3 leaves: first without prune (kept), then pruned.
    kept = node.sync(pods=[ADAM, EVE], routes=routes[:1], prune=False, **cluster)
    assert kept["changed"] is False, kept
    assert kept["kept"] == {"netns": ["netns_kube"], "routes": ["10.0.3.0/24 via 192.0.2.13"], "bridges": []}
    assert "netns_kube" in [ns["name"] for ns in box.ip_json("netns", "list")]
    pruned = node.sync(pods=[ADAM, EVE], routes=routes[:1], diff=True, **cluster)
    assert pruned["changed"] is True
    assert pruned["removed"] == {"netns": ["netns_kube"], "routes": ["10.0.3.0/24 via 192.0.2.13"], "bridges": []}
    assert sorted(ns["name"] for ns in box.ip_json("netns", "list")) == ["netns_adam", "netns_eve"]
    assert not os.path.exists("/proc/%d/root/etc/netns/netns_kube" % box.proc.pid)
    assert node.routes() == [("10.0.2.0/24", "192.0.2.12", 0)]
    assert node.netns_records() == ["netns_adam", "netns_eve"]
    assert node.record()["routes"] == routes[:1]
    assert "veth_kube" not in node.links()
    assert node.sync(pods=[ADAM, EVE], routes=routes[:1], **cluster)["changed"] is False

    # The bridge is renamed: the pods move, then the old bridge goes (with prune only).
    moved = node.sync(pods=[ADAM, EVE], routes=routes[:1], bridge="bridge_new", prune=False, **cluster)
    assert moved["changed"] is True and moved["kept"]["bridges"] == ["bridge_eden"]
    assert [node.master("veth_adam"), node.master("veth_eve")] == ["bridge_new", "bridge_new"]
    assert "bridge_eden" in node.links()
    renamed = node.sync(pods=[ADAM, EVE], routes=routes[:1], bridge="bridge_new", **cluster)
    assert renamed["removed"]["bridges"] == ["bridge_eden"]
    assert "bridge_eden" not in node.links() and node.record()["bridges"] == ["bridge_new"]
    for netns, peer in (("netns_adam", "10.0.0.21"), ("netns_eve", "10.0.0.1")):  # the pods still reach each other
        box.run(["ip", "netns", "exec", netns, "python3", "-c",
                 "import socket; s = socket.socket(); s.settimeout(2); s.connect_ex((%r, 9)); s.close()" % peer])
        neighbours = box.ip_json("-n", netns, "neigh", "show", peer)
        assert neighbours and neighbours[0].get("lladdr"), (netns, peer, neighbours)
    assert node.sync(pods=[ADAM, EVE], routes=routes[:1], bridge="bridge_new", **cluster)["changed"] is False

    # Someone else's route to a subnet we are told to route: refused before any change.
    box.run(["ip", "route", "add", "10.0.9.0/24", "via", "192.0.2.99"])
    before = settled_netlink_state(box)
    refused = node.sync(pods=[ADAM, EVE, KUBE], routes=routes[:1] + [{"destination": "10.0.9.0/24",
                                                                      "gateway": "192.0.2.19"}],
                        bridge="bridge_new", expect_failure=True, **cluster)
    assert "a route to 10.0.9.0/24 exists (via 192.0.2.99)" in refused["msg"], refused
    assert refused["commands"] == [] and settled_netlink_state(box) == before

    # Absent: everything recorded goes, the foreign route stays.
    gone = node.sync(state="absent", bridge="bridge_new", force=True)
    assert gone["changed"] is True
    assert node.links() == ["eth0", "lo", "uplink"] and box.ip_json("netns", "list") == []
    assert node.routes() == [("10.0.9.0/24", "192.0.2.99", 0)]
    assert node.record() is None and node.netns_records() == []
    assert node.sync(state="absent", bridge="bridge_new")["changed"] is False


def test_upgrade_from_routes_marked_with_metric_1013(node):
    box = node.box
    node.sync()
    # A node last converged by 0.1: the namespaces are recorded, the bridge and routes are not; its routes to the
    # other nodes carry metric 1013. One of those nodes has left the cluster since.
    os.unlink(os.path.join(node.records, "pod_sync", "pod_network.json"))
    box.run(["ip", "route", "add", "10.0.2.0/24", "via", "192.0.2.12", "metric", "1013"])
    box.run(["ip", "route", "add", "10.0.3.0/24", "via", "192.0.2.13", "metric", "1013"])
    box.run(["ip", "route", "add", "10.0.9.0/24", "via", "192.0.2.99"])  # not ours

    routes = [{"destination": "10.0.2.0/24", "gateway": "192.0.2.12"}]
    result = node.sync(routes=routes, adopt_route_metric=1013)
    assert result["changed"] is True and result["removed"]["routes"] == ["10.0.3.0/24 via 192.0.2.13"], result
    assert node.routes() == [("10.0.2.0/24", "192.0.2.12", 1013), ("10.0.9.0/24", "192.0.2.99", 0)]
    assert node.record() == {"version": 1, "owner": "pod_network", "bridges": ["bridge_eden"], "routes": routes}
    assert node.sync(routes=routes, adopt_route_metric=1013)["changed"] is False
    # From now on the record decides: the old metric no longer matters.
    assert node.sync(routes=[])["removed"]["routes"] == ["10.0.2.0/24 via 192.0.2.12"]
    assert node.routes() == [("10.0.9.0/24", "192.0.2.99", 0)]


def test_refusals_come_before_any_change(node):
    box = node.box
    box.run(["ip", "netns", "add", "netns_eve"])  # someone else's namespace
    before = settled_netlink_state(box)
    result = node.sync(expect_failure=True)
    assert "netns_eve already exists and was not created by owner pod_network" in result["msg"], result
    assert result["commands"] == [] and settled_netlink_state(box) == before
    assert node.record() is None and node.netns_records() == []

    result = node.sync(pods=[], expect_failure=True)
    assert "pods is empty" in result["msg"] and "state=absent" in result["msg"], result


def test_a_pod_back_on_its_address_is_not_sent_to_its_old_mac(node):
    """eve leaves and comes back with a new veth: the node's entry for 10.0.0.21 must not keep the old MAC.

    Traffic that keeps confirming the entry keeps it REACHABLE with the old MAC for as long as it flows, and
    the node's packets to eve then go to a MAC nobody has (churn under load met this).
    """
    box = node.box
    fixed = {"bridge_mac": "02:4b:38:00:00:01"}  # a bridge whose MAC changes flushes its neighbours anyway
    assert node.sync(pods=[ADAM, EVE], **fixed)["changed"] is True
    old = box.ip_json("-n", "netns_eve", "link", "show", "dev", "veth_ns_eve")[0]["address"]
    assert node.sync(pods=[ADAM], **fixed)["changed"] is True
    # What the node may still hold for eve's address: her old MAC, confirmed.
    box.run(["ip", "neigh", "replace", "10.0.0.21", "lladdr", old, "dev", "bridge_eden", "nud", "reachable"])
    back = node.sync(pods=[ADAM, EVE], **fixed)
    assert back["changed"] is True and back["neighbours_flushed"] == ["10.0.0.21"], back
    new = box.ip_json("-n", "netns_eve", "link", "show", "dev", "veth_ns_eve")[0]["address"]
    assert new != old
    box.run(["python3", "-c", "import socket; s = socket.socket(); s.settimeout(2); s.connect_ex(('10.0.0.21', 9)); "
             "s.close()"])
    assert [entry.get("lladdr") for entry in box.ip_json("neigh", "show", "10.0.0.21", "dev", "bridge_eden")] == [new]
    again = node.sync(pods=[ADAM, EVE], **fixed)
    assert again["changed"] is False and again["commands"] == [] and again["neighbours_flushed"] == [], again


def test_a_stale_entry_left_by_a_killed_run_is_flushed_by_the_next(node):
    """A run killed after it made eve's veth but before its flush leaves the old MAC behind; the next run has no
    veth to make and must still flush it, on the node and in the other pods (the crash suite met this: eve's
    app started and never answered at 10.0.0.21:8080)."""
    box = node.box
    fixed = {"bridge_mac": "02:4b:38:00:00:01"}
    assert node.sync(pods=[ADAM, EVE], **fixed)["changed"] is True
    old = box.ip_json("-n", "netns_eve", "link", "show", "dev", "veth_ns_eve")[0]["address"]
    # What the killed run left: eve on a new MAC, the node and adam still holding her old one.
    box.run(["ip", "-n", "netns_eve", "link", "set", "dev", "veth_ns_eve", "address", "02:4b:38:00:00:21"])
    box.run(["ip", "neigh", "replace", "10.0.0.21", "lladdr", old, "dev", "bridge_eden", "nud", "reachable"])
    box.run(["ip", "-n", "netns_adam", "neigh", "replace", "10.0.0.21", "lladdr", old, "dev", "veth_ns_adam",
             "nud", "reachable"])
    unrelated = ["ip", "neigh", "replace", "10.0.0.99", "lladdr", old, "dev", "bridge_eden", "nud", "reachable"]
    box.run(unrelated)  # no pod's address: not this module's to touch

    # check mode, with kube to be added: its namespace does not exist yet, so it is not read
    check = node.sync(pods=[ADAM, EVE, KUBE], check=True, **fixed)
    assert check["changed"] is True and check["neighbours_flushed"] == ["10.0.0.21"], check
    assert box.ip_json("neigh", "show", "10.0.0.21", "dev", "bridge_eden")[0]["lladdr"] == old

    result = node.sync(pods=[ADAM, EVE], **fixed)
    assert result["changed"] is True and result["neighbours_flushed"] == ["10.0.0.21"], result
    flushed = [command for command in result["commands"] if "flush" in command]
    assert [command[command.index("dev") + 1] for command in flushed] == ["veth_ns_adam", "bridge_eden"], flushed
    assert [entry.get("lladdr") for entry in box.ip_json("neigh", "show", "10.0.0.21", "dev", "bridge_eden")] == []
    assert box.ip_json("-n", "netns_adam", "neigh", "show", "10.0.0.21", "dev", "veth_ns_adam") == []
    assert box.ip_json("neigh", "show", "10.0.0.99", "dev", "bridge_eden")[0]["lladdr"] == old
    again = node.sync(pods=[ADAM, EVE], **fixed)
    assert again["changed"] is False and again["commands"] == [] and again["neighbours_flushed"] == [], again


def test_a_run_reads_each_pod_namespace_with_one_ip_process(node):
    """Each existing pod namespace's links and routes come from one `ip -batch` (Ip.prefetch), not two reads: a
    wrapper first on PATH logs every ip the module starts."""
    pods = [ADAM, EVE, KUBE]
    node.sync(pods=pods)
    log = os.path.join(node.box.tmpdir, "ip.log")
    wrapper = os.path.join(node.box.tmpdir, "wrap")
    os.makedirs(wrapper)
    with open(os.path.join(wrapper, "ip"), "w") as handle:
        handle.write('#!/bin/sh\necho "$*" >> %s\nexec /usr/sbin/ip "$@"\n' % log)
    os.chmod(os.path.join(wrapper, "ip"), 0o755)
    task = ("- k8slab.kube_proxy.pod_sync: %s\n  environment:\n    PATH: %s:/usr/sbin:/usr/bin:/sbin:/bin\n"
            % (json.dumps(node.args(pods=pods)), wrapper))
    result, = node.box.playbook(task)
    assert result["changed"] is False
    with open(log) as handle:
        in_pods = [line.split() for line in handle if line.startswith("-n netns_")]
    assert sorted(argv[1] for argv in in_pods) == ["netns_adam", "netns_eve", "netns_kube"]
    assert all(argv[2:] == ["-json", "-details", "-batch", "-"] for argv in in_pods)


FORWARD = [{"chain": "FORWARD", "rule": "-i bridge_eden -j ACCEPT", "position": "last"},
           {"chain": "FORWARD", "rule": "-o bridge_eden -j ACCEPT", "position": "last"}]
MASQUERADE = [{"chain": "POSTROUTING", "rule": "-s 10.0.0.0/24 -j MASQUERADE", "position": "last"}]


def rules(node, **extra):
    return dict({"owner": "pod_network", "state_dir": os.path.join(node.records, "iptables_chains"),
                 "tables": [{"table": "filter", "builtin_rules": FORWARD}, {"table": "nat", "builtin_rules": MASQUERADE}]},
                **extra)


def saved(box, table):
    return [line for line in box.run(["iptables-save", "-t", table]).stdout.splitlines() if line.startswith("-A ")]


def test_the_pods_and_their_forward_and_masquerade_rules_in_one_run(node):
    box = node.box
    first = node.sync(iptables=rules(node))
    assert first["changed"] is True and first["iptables"]["changed"] is True
    assert saved(box, "filter") == ["-A FORWARD -i bridge_eden -j ACCEPT", "-A FORWARD -o bridge_eden -j ACCEPT"]
    assert saved(box, "nat") == ["-A POSTROUTING -s 10.0.0.0/24 -j MASQUERADE"]
    again = node.sync(iptables=rules(node))
    assert again["changed"] is False and again["iptables"]["digest_hit"] is True
    # The records are iptables_chains' own: that module, with the same owner, finds nothing to change and
    # removes the rules (and pod_sync puts them back).
    chains_task = "- k8slab.kube_proxy.iptables_chains: %s\n" % json.dumps(
        dict(rules(node), tables=[{"table": "filter", "builtin_rules": FORWARD}, {"table": "nat", "builtin_rules": MASQUERADE}]))
    assert box.playbook(chains_task)[0]["changed"] is False
    absent_task = "- k8slab.kube_proxy.iptables_chains: %s\n" % json.dumps(dict(rules(node), state="absent"))
    assert box.playbook(absent_task)[0]["changed"] is True and saved(box, "nat") == []
    assert node.sync(iptables=rules(node))["iptables"]["changed"] is True and saved(box, "nat") != []
    # A table with its rules turned off loses them; the other keeps its own.
    off = node.sync(iptables=rules(node, tables=[{"table": "filter", "builtin_rules": FORWARD}, {"table": "nat"}]))
    assert off["changed"] is True and saved(box, "nat") == [] and len(saved(box, "filter")) == 2
    # absent: the rules first, then the pods, in one run.
    gone = node.sync(state="absent", iptables=rules(node, tables=[{"table": "filter"}, {"table": "nat"}]))
    assert gone["changed"] is True and gone["iptables"]["changed"] is True
    assert saved(box, "filter") == [] and node.netns_records() == [] and "bridge_eden" not in node.links()
    assert node.sync(state="absent", iptables=rules(node, tables=[{"table": "filter"}, {"table": "nat"}]))["changed"] is False


def test_bad_rules_are_refused_before_any_pod_changes(node):
    for bad, words in [(rules(node, owner="bad owner!"), "owner"),
                       (rules(node, tables=[{"table": "nat"}, {"table": "nat"}]), "listed twice"),
                       # refused by the kernel in the scratch load, which comes before the pods too
                       (rules(node, tables=[{"table": "filter", "builtin_rules": [{"chain": "NO-SUCH", "rule": "-j ACCEPT"}]}]),
                        "iptables rejected the declared rules")]:
        failed = node.sync(iptables=bad, expect_failure=True)
        assert words in failed["msg"] and failed.get("commands", []) == [], failed
        assert node.netns_records() == [] and "bridge_eden" not in node.links()


def ip_forward(box):
    return box.run(["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout.strip()


def test_ip_forward_on_in_the_same_run_and_back_with_absent(node):
    """As the CNI bridge plugin turns forwarding on in its ADD; the value found first comes back with state=absent."""
    box = node.box
    box.run(["sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward"])
    conf = os.path.join(box.tmpdir, "sysctl.d", "99-k8slab-ip_forward.conf")
    state_dir = os.path.join(node.records, "sysctl")
    sysctls = [{"name": "net.ipv4.ip_forward", "value": "1", "sysctl_file": conf, "state_dir": state_dir}]
    before = settled_netlink_state(box)

    result = node.sync(check=True, diff=True, sysctls=sysctls)
    assert result["changed"] is True and result["sysctls"][0]["value"] == "1"
    assert result["diff"]["after"]["sysctls"]["net.ipv4.ip_forward"]["running"] == "1"
    assert ip_forward(box) == "0" and not os.path.exists(conf) and settled_netlink_state(box) == before

    result = node.sync(sysctls=sysctls)
    assert result["sysctls"] == [{"name": "net.ipv4.ip_forward", "value": "1", "previous": "0", "original": "0",
                                  "recorded": True, "changed": True}]
    assert ip_forward(box) == "1"
    with open(conf) as handle:
        assert "net.ipv4.ip_forward = 1\n" in handle.read()
    assert node.sync(sysctls=sysctls)["changed"] is False

    # the sysctl module reads the same record: nothing to do for it either
    task = ("- k8slab.kube_proxy.sysctl: {name: net.ipv4.ip_forward, value: '1', sysctl_file: %s, state_dir: %s}\n"
            % (conf, state_dir))
    assert box.playbook(task)[0]["changed"] is False

    absent = [{"name": "net.ipv4.ip_forward", "sysctl_file": conf, "state_dir": state_dir}]
    result = node.sync(state="absent", force=True, sysctls=absent)
    assert result["changed"] is True and result["sysctls"][0]["value"] == "0"
    assert ip_forward(box) == "0" and not os.path.exists(conf) and not os.path.exists(state_dir)
    assert settled_netlink_state(box) == before
    assert node.sync(state="absent", force=True, sysctls=absent)["changed"] is False


def test_bad_sysctls_are_refused_before_any_change(node):
    box = node.box
    before = settled_netlink_state(box)
    for sysctls, message in (
            ([{"name": "net.ipv4.no_such_knob", "value": "1"}], "unknown kernel parameter net.ipv4.no_such_knob"),
            ([{"name": "net..ipv4", "value": "1"}], "sysctls[0]: 'net..ipv4' is not a sysctl name"),
            ([{"name": "net.ipv4.ip_forward"}], "sysctls[0]: value is required with state=present"),
            ([{"name": "net.ipv4.ip_forward", "value": "1"}, {"name": "net/ipv4/ip_forward", "value": "1"}],
             "sysctls[1]: net.ipv4.ip_forward is listed twice")):
        for item in sysctls:
            item.update(sysctl_file=os.path.join(box.tmpdir, "x.conf"), state_dir=os.path.join(node.records, "sysctl"))
        result = node.sync(expect_failure=True, sysctls=sysctls)
        assert message in result["msg"]
        assert settled_netlink_state(box) == before and node.record() is None
