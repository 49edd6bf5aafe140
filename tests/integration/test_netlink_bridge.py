# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""k8slab.kube_proxy.bridge inside a throwaway namespace: create, idempotence, check mode, drift, absent."""

from __future__ import annotations

from conftest import settled_netlink_state

EDEN = """
- name: The pods' bridge
  k8slab.kube_proxy.bridge:
    name: bridge_eden
    addresses: [10.0.0.1/24, "fd00:10::1/64"]
"""


def bridge(sandbox):
    found = [link for link in sandbox.ip_json("-details", "address", "show") if link["ifname"] == "bridge_eden"]
    return found[0] if found else None


def global_addresses(link):
    return ["%s/%s" % (a["local"], a["prefixlen"]) for a in link["addr_info"] if a["scope"] == "global"]


def test_create_rerun_check_drift_absent(sandbox):
    result = sandbox.playbook(EDEN, diff=True)[0]
    assert result["changed"] is True
    link = bridge(sandbox)
    assert link["linkinfo"]["info_kind"] == "bridge" and "UP" in link["flags"]
    assert sorted(global_addresses(link)) == ["10.0.0.1/24", "fd00:10::1/64"]
    assert result["bridge"] == {"name": "bridge_eden", "exists": True, "addresses": ["10.0.0.1/24", "fd00:10::1/64"],
                                "up": True}
    assert result["diff"] == {"before": {"name": "bridge_eden", "exists": False, "addresses": [], "up": False},
                              "after": result["bridge"]}

    assert sandbox.playbook(EDEN)[0]["changed"] is False

    state = settled_netlink_state(sandbox)
    check = sandbox.playbook(EDEN.replace("10.0.0.1/24", "10.0.0.1/16"), check=True)[0]
    assert check["changed"] is True
    assert [c[1:] for c in check["commands"]] == [["address", "del", "10.0.0.1/24", "dev", "bridge_eden"],
                                                  ["address", "add", "10.0.0.1/16", "dev", "bridge_eden"]]
    assert settled_netlink_state(sandbox) == state

    # Drift: the address removed, a stranger added, the bridge set down.
    sandbox.run(["ip", "address", "del", "10.0.0.1/24", "dev", "bridge_eden"])
    sandbox.run(["ip", "address", "add", "192.0.2.1/24", "dev", "bridge_eden"])
    sandbox.run(["ip", "link", "set", "dev", "bridge_eden", "down"])
    repaired = sandbox.playbook(EDEN)[0]
    assert repaired["changed"] is True
    assert sorted(global_addresses(bridge(sandbox))) == ["10.0.0.1/24", "fd00:10::1/64"]
    assert "UP" in bridge(sandbox)["flags"]
    assert sandbox.playbook(EDEN)[0]["changed"] is False

    # A secondary the kernel drops with its primary is put back in the same run.
    sandbox.run(["ip", "address", "del", "10.0.0.1/24", "dev", "bridge_eden"])
    sandbox.run(["ip", "address", "add", "10.0.0.9/24", "dev", "bridge_eden"])
    sandbox.run(["ip", "address", "add", "10.0.0.1/24", "dev", "bridge_eden"])
    assert sandbox.playbook(EDEN)[0]["changed"] is True
    assert sorted(global_addresses(bridge(sandbox))) == ["10.0.0.1/24", "fd00:10::1/64"]

    # up: false, and addresses omitted leaves them alone (the kernel itself drops IPv6 addresses on down).
    down = sandbox.playbook("- k8slab.kube_proxy.bridge: {name: bridge_eden, up: false}\n")[0]
    assert down["changed"] is True and "UP" not in bridge(sandbox)["flags"]
    assert global_addresses(bridge(sandbox)) == ["10.0.0.1/24"]
    # With addresses given, a down bridge still gets all of them, in one run.
    down = sandbox.playbook(EDEN.replace("fd00:10::1/64\"]", "fd00:10::1/64\"]\n    up: false"))[0]
    assert down["changed"] is True and "UP" not in bridge(sandbox)["flags"]
    assert sorted(global_addresses(bridge(sandbox))) == ["10.0.0.1/24", "fd00:10::1/64"]

    gone = sandbox.playbook("- k8slab.kube_proxy.bridge: {name: bridge_eden, state: absent}\n", diff=True)[0]
    assert gone["changed"] is True and bridge(sandbox) is None
    assert gone["diff"]["after"]["exists"] is False
    again = sandbox.playbook("- k8slab.kube_proxy.bridge: {name: bridge_eden, state: absent}\n")[0]
    assert (again["changed"], again["commands"]) == (False, [])


def test_absent_keeps_the_ports(sandbox):
    sandbox.playbook(EDEN)
    sandbox.run(["ip", "link", "add", "dev", "veth_adam", "type", "veth", "peer", "name", "veth_ns_adam"])
    sandbox.run(["ip", "link", "set", "dev", "veth_adam", "master", "bridge_eden"])
    sandbox.playbook("- k8slab.kube_proxy.bridge: {name: bridge_eden, state: absent}\n")
    names = [link["ifname"] for link in sandbox.ip_json("link", "show")]
    assert "bridge_eden" not in names and "veth_adam" in names
