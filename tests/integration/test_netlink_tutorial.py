# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Done when: the modules alone build exactly the pod network the tutorial's own commands build."""

from __future__ import annotations

import json
import os

import pytest

from conftest import REPO, Sandbox, run_playbook_file, settled_netlink_state

PLAYBOOK = os.path.join(REPO, "tests", "integration", "playbooks", "tutorial_pod_network.yml")

# The tutorial's steps 1-7, command for command (`sudo` and `ip netns exec NS ip ...` as `ip -n NS ...`
# would also do; the tutorial's own form is kept).
TUTORIAL = [
    ["ip", "link", "add", "dev", "bridge_eden", "type", "bridge"],
    ["ip", "address", "add", "10.0.0.1/24", "dev", "bridge_eden"],
    ["ip", "netns", "add", "netns_adam"],
    ["ip", "netns", "add", "netns_eve"],
    ["ip", "netns", "exec", "netns_adam", "ip", "link", "set", "dev", "lo", "up"],
    ["ip", "netns", "exec", "netns_eve", "ip", "link", "set", "dev", "lo", "up"],
    ["mkdir", "-p", "/etc/netns/netns_adam"],
    ["mkdir", "-p", "/etc/netns/netns_eve"],
    ("nameserver 8.8.8.8\n", ["tee", "-a", "/etc/netns/netns_adam/resolv.conf"]),
    ("nameserver 8.8.8.8\n", ["tee", "-a", "/etc/netns/netns_eve/resolv.conf"]),
    ["ip", "link", "add", "dev", "veth_adam", "type", "veth", "peer", "name", "veth_ns_adam"],
    ["ip", "link", "add", "dev", "veth_eve", "type", "veth", "peer", "name", "veth_ns_eve"],
    ["ip", "link", "set", "dev", "veth_adam", "master", "bridge_eden"],
    ["ip", "link", "set", "dev", "veth_eve", "master", "bridge_eden"],
    ["ip", "link", "set", "dev", "veth_adam", "up"],
    ["ip", "link", "set", "dev", "veth_eve", "up"],
    ["ip", "link", "set", "dev", "veth_ns_adam", "netns", "netns_adam"],
    ["ip", "link", "set", "dev", "veth_ns_eve", "netns", "netns_eve"],
    ["ip", "netns", "exec", "netns_adam", "ip", "link", "set", "dev", "veth_ns_adam", "up"],
    ["ip", "netns", "exec", "netns_eve", "ip", "link", "set", "dev", "veth_ns_eve", "up"],
    ["ip", "netns", "exec", "netns_adam", "ip", "address", "add", "10.0.0.11/24", "dev", "veth_ns_adam"],
    ["ip", "netns", "exec", "netns_eve", "ip", "address", "add", "10.0.0.21/24", "dev", "veth_ns_eve"],
    ["ip", "link", "set", "bridge_eden", "up"],
    ["ip", "netns", "exec", "netns_adam", "ip", "route", "add", "default", "via", "10.0.0.1"],
    ["ip", "netns", "exec", "netns_eve", "ip", "route", "add", "default", "via", "10.0.0.1"],
]


@pytest.fixture
def second_sandbox(sandbox, tmp_path):
    box = Sandbox(str(tmp_path))
    try:
        yield box
    finally:
        box.close()


def run_tutorial(box):
    """The tutorial's steps 1-7 in `box`, command for command."""
    for step in TUTORIAL:
        if isinstance(step, tuple):
            box.run(step[1], input=step[0])
        else:
            box.run(step)


def test_playbook_builds_what_the_tutorial_builds(sandbox, second_sandbox):
    run_tutorial(second_sandbox)
    first = run_playbook_file(sandbox, PLAYBOOK)
    assert all(task["changed"] for task in first), json.dumps(first, indent=1)

    ours, theirs = settled_netlink_state(sandbox), settled_netlink_state(second_sandbox)
    assert ours["netns"] == ["netns_adam", "netns_eve"]
    assert [link["ifname"] for link in ours["root"]["links"]] == ["bridge_eden", "lo", "veth_adam", "veth_eve"]
    for part in sorted(theirs):
        assert ours[part] == theirs[part], part

    second = run_playbook_file(sandbox, PLAYBOOK)
    assert [task["changed"] for task in second] == [False] * 4, json.dumps(second, indent=1)
    assert settled_netlink_state(sandbox) == ours

    # And the network works: each pod reaches the other and its gateway.
    for netns, peer in (("netns_adam", "10.0.0.21"), ("netns_eve", "10.0.0.11"), ("netns_adam", "10.0.0.1")):
        sandbox.run(["ip", "netns", "exec", netns, "python3", "-c",
                     "import socket; s = socket.socket(); s.settimeout(2); s.connect_ex((%r, 9)); s.close()" % peer])
        neighbours = sandbox.ip_json("-n", netns, "neigh", "show", peer)
        assert neighbours and neighbours[0].get("lladdr"), (netns, peer, neighbours)


LISTS = os.path.join(REPO, "tests", "integration", "playbooks", "tutorial_pod_network_lists.yml")


def test_list_forms_build_what_the_one_object_forms_build(sandbox, second_sandbox):
    run_playbook_file(second_sandbox, PLAYBOOK)
    first = run_playbook_file(sandbox, LISTS)
    assert all(task["changed"] for task in first), json.dumps(first, indent=1)
    assert [item["netns"] for item in first[2]["pairs"]] == ["netns_adam", "netns_eve"]
    assert [item["gateway"] for item in first[3]["routes"]] == ["10.0.0.1", "10.0.0.1"]
    ours = settled_netlink_state(sandbox)
    assert ours == settled_netlink_state(second_sandbox)

    second = run_playbook_file(sandbox, LISTS)
    assert [task["changed"] for task in second] == [False] * 4, json.dumps(second, indent=1)
    assert [task["commands"] for task in second[1:]] == [[]] * 3

    # Drift in one pod only: only that pod's commands run, in check mode none of them.
    sandbox.run(["ip", "-n", "netns_eve", "route", "del", "default"])
    sandbox.run(["ip", "link", "set", "dev", "veth_adam", "down"])
    drifted = settled_netlink_state(sandbox)
    check = run_playbook_file(sandbox, LISTS, check=True)
    assert [task["changed"] for task in check] == [False, False, True, True]
    assert [command[1:] for command in check[2]["commands"]] == [["link", "set", "dev", "veth_adam", "up"]]
    assert [command[1:] for command in check[3]["commands"]] == [
        ["-n", "netns_eve", "-4", "route", "replace", "default", "via", "10.0.0.1"]]
    assert settled_netlink_state(sandbox) == drifted
    assert [task["changed"] for task in run_playbook_file(sandbox, LISTS)] == [False, False, True, True]
    assert settled_netlink_state(sandbox) == ours


def test_a_bad_item_fails_the_list_before_any_change(sandbox):
    bad = "- k8slab.kube_proxy.netns: {namespaces: [{name: netns_adam}, {name: 'bad/name'}]}\n"
    result = sandbox.playbook(bad, expect_failure=True)[0]
    assert result["_status"] == "failed" and "bad/name" in result["msg"], result
    assert settled_netlink_state(sandbox)["netns"] == []
    twice = "- k8slab.kube_proxy.veth: {pairs: [{name: veth_a, peer: veth_b}, {name: veth_a, peer: veth_c}]}\n"
    result = sandbox.playbook(twice, expect_failure=True)[0]
    assert result["_status"] == "failed" and "listed twice" in result["msg"], result
