# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""k8slab.kube_proxy.route inside a throwaway namespace: create, idempotence, check mode, drift, absent."""

from __future__ import annotations

from conftest import settled_netlink_state

DEFAULT = "- k8slab.kube_proxy.route: {netns: netns_adam, gateway: 10.0.0.1}\n"
ABSENT = "- k8slab.kube_proxy.route: {netns: netns_adam, state: absent}\n"


def prepare(sandbox):
    """A pod namespace with its veth end addressed, as after the tutorial's step 6."""
    sandbox.run(["ip", "netns", "add", "netns_adam"])
    sandbox.run(["ip", "link", "add", "dev", "veth_adam", "type", "veth", "peer", "name", "veth_ns_adam",
                 "netns", "netns_adam"])
    sandbox.run(["ip", "link", "set", "dev", "veth_adam", "up"])
    sandbox.run(["ip", "address", "add", "10.0.0.1/24", "dev", "veth_adam"])
    sandbox.run(["ip", "-n", "netns_adam", "link", "set", "dev", "veth_ns_adam", "up"])
    sandbox.run(["ip", "-n", "netns_adam", "address", "add", "10.0.0.11/24", "dev", "veth_ns_adam"])


def defaults(sandbox, netns="netns_adam"):
    prefix = ["-n", netns] if netns else []
    return [(r.get("gateway"), r.get("dev"), r.get("metric", 0))
            for r in sandbox.ip_json(*(prefix + ["-4", "route", "show"])) if r["dst"] == "default"]


def test_create_rerun_check_drift_absent(sandbox):
    prepare(sandbox)
    result = sandbox.playbook(DEFAULT, diff=True)[0]
    assert result["changed"] is True
    assert defaults(sandbox) == [("10.0.0.1", "veth_ns_adam", 0)]
    assert result["route"] == {"netns": "netns_adam", "destination": "default", "gateway": "10.0.0.1",
                               "device": "veth_ns_adam", "metric": 0, "exists": True}
    assert result["diff"]["before"]["routes"] == []

    assert sandbox.playbook(DEFAULT)[0]["changed"] is False

    state = settled_netlink_state(sandbox)
    check = sandbox.playbook(DEFAULT.replace("10.0.0.1", "10.0.0.254"), check=True)[0]
    assert check["changed"] is True
    assert [c[1:] for c in check["commands"]] == [
        ["-n", "netns_adam", "-4", "route", "replace", "default", "via", "10.0.0.254"]]
    assert settled_netlink_state(sandbox) == state

    # Drift: the route deleted by hand, then replaced by another gateway and a second default with a metric.
    sandbox.run(["ip", "-n", "netns_adam", "route", "del", "default"])
    assert sandbox.playbook(DEFAULT)[0]["changed"] is True
    assert defaults(sandbox) == [("10.0.0.1", "veth_ns_adam", 0)]
    sandbox.run(["ip", "-n", "netns_adam", "route", "replace", "default", "via", "10.0.0.254"])
    sandbox.run(["ip", "-n", "netns_adam", "route", "add", "default", "via", "10.0.0.253", "metric", "50"])
    assert sandbox.playbook(DEFAULT)[0]["changed"] is True
    assert settled_netlink_state(sandbox) == state

    gone = sandbox.playbook(ABSENT, diff=True)[0]
    assert gone["changed"] is True and defaults(sandbox) == []
    assert gone["diff"]["after"]["routes"] == []
    again = sandbox.playbook(ABSENT)[0]
    assert (again["changed"], again["commands"]) == (False, [])


def test_root_namespace_route_with_device_and_metric(sandbox):
    prepare(sandbox)
    task = "- k8slab.kube_proxy.route: {destination: 10.96.0.0/12, gateway: 10.0.0.11, device: veth_adam, metric: 100}\n"
    assert sandbox.playbook(task)[0]["changed"] is True
    routes = [r for r in sandbox.ip_json("-4", "route", "show") if r["dst"] == "10.96.0.0/12"]
    assert [(r["gateway"], r["dev"], r["metric"]) for r in routes] == [("10.0.0.11", "veth_adam", 100)]
    assert sandbox.playbook(task)[0]["changed"] is False
    # A second route with another metric is not ours when metric is given.
    sandbox.run(["ip", "route", "add", "10.96.0.0/12", "via", "10.0.0.11", "metric", "200"])
    assert sandbox.playbook(task)[0]["changed"] is False
    # Without metric the module owns every route to the destination.
    owned = "- k8slab.kube_proxy.route: {destination: 10.96.0.0/12, gateway: 10.0.0.11}\n"
    assert sandbox.playbook(owned)[0]["changed"] is True
    assert len([r for r in sandbox.ip_json("-4", "route", "show") if r["dst"] == "10.96.0.0/12"]) == 1
    assert sandbox.playbook(owned)[0]["changed"] is False
