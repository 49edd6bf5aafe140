# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""k8slab.kube_proxy.netns inside a throwaway namespace: create, idempotence, check mode, drift, absent."""

from __future__ import annotations

import subprocess

from conftest import settled_netlink_state

ADAM = """
- name: Pod namespace
  k8slab.kube_proxy.netns:
    name: netns_adam
    nameservers: [8.8.8.8]
"""


def lo_up(sandbox, netns):
    lo = [link for link in sandbox.ip_json("-n", netns, "link", "show") if link["ifname"] == "lo"][0]
    return "UP" in lo["flags"]


def resolv(sandbox, netns="netns_adam"):
    return sandbox.run(["cat", "/etc/netns/%s/resolv.conf" % netns], check=False).stdout


def test_create_rerun_check_drift(sandbox):
    result = sandbox.playbook(ADAM, diff=True)[0]
    assert result["changed"] is True
    assert [entry["name"] for entry in sandbox.ip_json("netns", "list")] == ["netns_adam"]
    assert lo_up(sandbox, "netns_adam")
    assert resolv(sandbox) == "nameserver 8.8.8.8\n"
    assert sandbox.run(["stat", "-c", "%a", "/etc/netns/netns_adam/resolv.conf"]).stdout.strip() == "644"
    assert result["netns"] == {"name": "netns_adam", "exists": True, "lo_up": True, "nameservers": ["8.8.8.8"],
                               "resolv_conf": "/etc/netns/netns_adam/resolv.conf"}
    assert result["diff"]["before"]["exists"] is False and result["diff"]["after"]["exists"] is True
    assert [command[1:] for command in result["commands"]] == [
        ["netns", "add", "netns_adam"], ["-n", "netns_adam", "link", "set", "dev", "lo", "up"]]

    again = sandbox.playbook(ADAM)[0]
    assert (again["changed"], again["commands"]) == (False, [])

    state = settled_netlink_state(sandbox)
    check = sandbox.playbook(ADAM.replace("8.8.8.8", "1.1.1.1"), check=True, diff=True)[0]
    assert check["changed"] is True and check["diff"]["after"]["nameservers"] == ["1.1.1.1"]
    assert settled_netlink_state(sandbox) == state

    # Drift: lo down, a line added by hand, wrong mode.
    sandbox.run(["ip", "-n", "netns_adam", "link", "set", "dev", "lo", "down"])
    sandbox.run(["tee", "-a", "/etc/netns/netns_adam/resolv.conf"], input="nameserver 9.9.9.9\n")
    sandbox.run(["chmod", "600", "/etc/netns/netns_adam/resolv.conf"])
    repaired = sandbox.playbook(ADAM)[0]
    assert repaired["changed"] is True
    assert settled_netlink_state(sandbox) == state

    # Without nameservers the file is left alone.
    sandbox.run(["tee", "/etc/netns/netns_adam/resolv.conf"], input="nameserver 9.9.9.9\n")
    assert sandbox.playbook("- k8slab.kube_proxy.netns: {name: netns_adam}\n")[0]["changed"] is False
    assert resolv(sandbox) == "nameserver 9.9.9.9\n"


def test_exact_names_only(sandbox):
    sandbox.run(["ip", "netns", "add", "ns10"])
    result = sandbox.playbook("- k8slab.kube_proxy.netns: {name: ns1, state: absent}\n")[0]
    assert result["changed"] is False
    created = sandbox.playbook("- k8slab.kube_proxy.netns: {name: ns1}\n")[0]
    assert created["changed"] is True
    assert sorted(entry["name"] for entry in sandbox.ip_json("netns", "list")) == ["ns1", "ns10"]


def test_absent_with_processes_inside(sandbox):
    sandbox.playbook(ADAM)
    sleeper = subprocess.Popen(sandbox.argv(["ip", "netns", "exec", "netns_adam", "sleep", "300"]))
    try:
        for _attempt in range(50):
            if sandbox.run(["ip", "netns", "pids", "netns_adam"]).stdout.strip():
                break
            subprocess.run(["sleep", "0.1"], check=True)
        state = settled_netlink_state(sandbox)
        refused = sandbox.playbook("- k8slab.kube_proxy.netns: {name: netns_adam, state: absent}\n",
                                   expect_failure=True)[0]
        assert refused["_status"] == "failed" and "still has processes" in refused["msg"] and "force=true" in refused["msg"]
        assert settled_netlink_state(sandbox) == state

        check = sandbox.playbook("- k8slab.kube_proxy.netns: {name: netns_adam, state: absent, force: true}\n",
                                 check=True)[0]
        assert check["changed"] is True and check["killed_pids"]
        assert settled_netlink_state(sandbox) == state and sleeper.poll() is None

        forced = sandbox.playbook("- k8slab.kube_proxy.netns: {name: netns_adam, state: absent, force: true}\n",
                                  diff=True)[0]
        assert forced["changed"] is True and forced["killed_pids"]
        assert forced["diff"]["after"] == {"name": "netns_adam", "exists": False, "lo_up": False, "nameservers": None}
        assert sleeper.wait(timeout=15) != 0
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()
    assert sandbox.ip_json("netns", "list") == []
    assert sandbox.run(["ls", "-A", "/etc/netns"]).stdout == ""
    second = sandbox.playbook("- k8slab.kube_proxy.netns: {name: netns_adam, state: absent}\n")[0]
    assert second["changed"] is False
