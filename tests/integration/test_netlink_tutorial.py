# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
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


def test_playbook_builds_what_the_tutorial_builds(sandbox, second_sandbox):
    for step in TUTORIAL:
        if isinstance(step, tuple):
            second_sandbox.run(step[1], input=step[0])
        else:
            second_sandbox.run(step)
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
