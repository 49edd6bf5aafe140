# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""k8slab.kube_proxy.veth inside a throwaway namespace: create, idempotence, check mode, drift, absent."""

from __future__ import annotations

from conftest import settled_netlink_state

ADAM = """
- name: Plug pod adam into the bridge
  k8slab.kube_proxy.veth:
    name: veth_adam
    peer: veth_ns_adam
    bridge: bridge_eden
    netns: netns_adam
    peer_addresses: [10.0.0.11/24]
"""
ABSENT = "- k8slab.kube_proxy.veth: {name: veth_adam, peer: veth_ns_adam, netns: netns_adam, state: absent}\n"


def prepare(sandbox):
    """The bridge and the namespaces, made by hand as the tutorial's steps 1-2 do."""
    sandbox.run(["ip", "link", "add", "dev", "bridge_eden", "type", "bridge"])
    sandbox.run(["ip", "address", "add", "10.0.0.1/24", "dev", "bridge_eden"])
    sandbox.run(["ip", "link", "set", "dev", "bridge_eden", "up"])
    sandbox.run(["ip", "netns", "add", "netns_adam"])
    sandbox.run(["ip", "netns", "add", "netns_eve"])


def link(sandbox, name, netns=None):
    prefix = ["-n", netns] if netns else []
    found = [item for item in sandbox.ip_json(*(prefix + ["-details", "address", "show"])) if item["ifname"] == name]
    return found[0] if found else None


def addresses(item):
    return ["%s/%s" % (a["local"], a["prefixlen"]) for a in item["addr_info"] if a["scope"] == "global"]


def test_create_rerun_check_drift_absent(sandbox):
    prepare(sandbox)
    result = sandbox.playbook(ADAM, diff=True)[0]
    assert result["changed"] is True
    host, pod = link(sandbox, "veth_adam"), link(sandbox, "veth_ns_adam", "netns_adam")
    assert host["master"] == "bridge_eden" and "UP" in host["flags"] and host["linkinfo"]["info_kind"] == "veth"
    assert "UP" in pod["flags"] and addresses(pod) == ["10.0.0.11/24"]
    assert link(sandbox, "veth_ns_adam") is None
    assert result["veth"] == {"name": "veth_adam", "peer": "veth_ns_adam", "exists": True, "netns": "netns_adam",
                              "bridge": "bridge_eden", "hairpin": False, "up": True, "peer_up": True,
                              "peer_addresses": ["10.0.0.11/24"]}
    assert result["diff"]["before"]["exists"] is False and result["diff"]["after"] == result["veth"]
    sandbox.run(["ip", "netns", "exec", "netns_adam", "ping", "-c", "1", "-W", "2", "10.0.0.1"], check=False)

    assert sandbox.playbook(ADAM)[0]["changed"] is False

    state = settled_netlink_state(sandbox)
    check = sandbox.playbook(ADAM.replace("10.0.0.11/24", "10.0.0.12/24") + "    hairpin: true\n", check=True)[0]
    assert check["changed"] is True
    assert [c[1:] for c in check["commands"]] == [
        ["link", "set", "dev", "veth_adam", "type", "bridge_slave", "hairpin", "on"],
        ["-n", "netns_adam", "address", "del", "10.0.0.11/24", "dev", "veth_ns_adam"],
        ["-n", "netns_adam", "address", "add", "10.0.0.12/24", "dev", "veth_ns_adam"]]
    assert settled_netlink_state(sandbox) == state

    # Drift: both ends down, the pod's address gone, the port off the bridge.
    sandbox.run(["ip", "link", "set", "dev", "veth_adam", "nomaster"])
    sandbox.run(["ip", "link", "set", "dev", "veth_adam", "down"])
    sandbox.run(["ip", "-n", "netns_adam", "address", "flush", "dev", "veth_ns_adam"])
    sandbox.run(["ip", "-n", "netns_adam", "link", "set", "dev", "veth_ns_adam", "down"])
    repaired = sandbox.playbook(ADAM)[0]
    assert repaired["changed"] is True and len(repaired["commands"]) == 4
    assert settled_netlink_state(sandbox) == state

    # Hairpin on the host-side port, and off again.
    assert sandbox.playbook(ADAM + "    hairpin: true\n")[0]["changed"] is True
    assert link(sandbox, "veth_adam")["linkinfo"]["info_slave_data"]["hairpin"] is True
    assert sandbox.playbook(ADAM + "    hairpin: true\n")[0]["changed"] is False
    assert sandbox.playbook(ADAM)[0]["changed"] is True
    assert settled_netlink_state(sandbox) == state

    gone = sandbox.playbook(ABSENT, diff=True)[0]
    assert gone["changed"] is True and gone["diff"]["after"]["exists"] is False
    assert link(sandbox, "veth_adam") is None and link(sandbox, "veth_ns_adam", "netns_adam") is None
    again = sandbox.playbook(ABSENT)[0]
    assert (again["changed"], again["commands"]) == (False, [])


def test_finishes_a_half_done_tutorial(sandbox):
    prepare(sandbox)
    # Step 4 only: the pair exists, both ends in the root namespace.
    sandbox.run(["ip", "link", "add", "dev", "veth_adam", "type", "veth", "peer", "name", "veth_ns_adam"])
    result = sandbox.playbook(ADAM)[0]
    assert result["changed"] is True
    assert [c[1:] for c in result["commands"]][0] == ["link", "set", "dev", "veth_ns_adam", "netns", "netns_adam"]
    assert addresses(link(sandbox, "veth_ns_adam", "netns_adam")) == ["10.0.0.11/24"]
    assert sandbox.playbook(ADAM)[0]["changed"] is False


def test_two_pods_with_the_same_peer_ifindex(sandbox):
    prepare(sandbox)
    eve = ADAM.replace("adam", "eve").replace("10.0.0.11", "10.0.0.21")
    assert sandbox.playbook(ADAM + eve)[1]["changed"] is True
    # Both pod ends are ifindex 2 inside their namespaces; each pair still resolves to its own peer.
    assert [r["changed"] for r in sandbox.playbook(ADAM + eve)] == [False, False]
    assert addresses(link(sandbox, "veth_ns_eve", "netns_eve")) == ["10.0.0.21/24"]


def test_absent_from_the_pod_side(sandbox):
    prepare(sandbox)
    sandbox.playbook(ADAM)
    # The host end was moved away (into netns_eve): only the pod end is where we look.
    sandbox.run(["ip", "link", "set", "dev", "veth_adam", "netns", "netns_eve"])
    gone = sandbox.playbook(ABSENT)[0]
    assert gone["changed"] is True and [c[1:] for c in gone["commands"]] == [
        ["-n", "netns_adam", "link", "del", "dev", "veth_ns_adam"]]
    assert link(sandbox, "veth_adam", "netns_eve") is None
