# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The route module: planning against canned `ip -json route` output, and the module end to end with a fake `ip`."""

from __future__ import annotations

import pytest

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.k8slab.kube_proxy.plugins.module_utils.iproute import ValidationError
from ansible_collections.k8slab.kube_proxy.plugins.module_utils import netlink_objects
from ansible_collections.k8slab.kube_proxy.plugins.modules import route
from ansible_collections.k8slab.kube_proxy.tests.unit.plugins.modules.fake_ip import FakeIp, Then, ip

# `ip -n netns_adam -4 -json route show table main` after the tutorial's step 7.
CONNECTED = {"dst": "10.0.0.0/24", "dev": "veth_ns_adam", "protocol": "kernel", "scope": "link",
             "prefsrc": "10.0.0.11", "flags": []}
DEFAULT = {"dst": "default", "gateway": "10.0.0.1", "dev": "veth_ns_adam", "flags": []}


def params(**kwargs):
    result = {"netns": "netns_adam", "destination": "default", "gateway": "10.0.0.1", "device": None, "metric": None,
              "state": "present"}
    result.update(kwargs)
    return result


def plan(routes, **kwargs):
    p = params(**kwargs)
    destination, gateway, family = route.validate(p)
    return netlink_objects.plan_route(p, destination, gateway, family, routes)


# planning --------------------------------------------------------------------------

def test_tutorial_default_route():
    steps, after = plan([CONNECTED])
    assert steps == [("netns_adam", ["-4", "route", "replace", "default", "via", "10.0.0.1"])]
    assert after == [{"dst": "default", "metric": 0, "gateway": "10.0.0.1"}]


def test_converged_route_needs_nothing():
    assert plan([DEFAULT, CONNECTED]) == ([], [DEFAULT])
    assert plan([DEFAULT, CONNECTED], device="veth_ns_adam", metric=0)[0] == []


def test_other_gateway_is_replaced_in_place():
    wrong = dict(DEFAULT, gateway="10.0.0.254")
    assert plan([wrong, CONNECTED])[0] == [("netns_adam", ["-4", "route", "replace", "default", "via", "10.0.0.1"])]


def test_other_metric_is_deleted_after_the_new_route_is_in():
    wrong = dict(DEFAULT, gateway="10.0.0.254", metric=100)
    assert plan([wrong, CONNECTED])[0] == [
        ("netns_adam", ["-4", "route", "replace", "default", "via", "10.0.0.1"]),
        ("netns_adam", ["-4", "route", "del", "default", "via", "10.0.0.254", "dev", "veth_ns_adam", "metric", "100"])]


def test_a_second_route_to_the_same_destination_is_removed():
    spare = dict(DEFAULT, gateway="10.0.0.254", metric=100)
    assert plan([DEFAULT, spare, CONNECTED])[0] == [
        ("netns_adam", ["-4", "route", "del", "default", "via", "10.0.0.254", "dev", "veth_ns_adam", "metric", "100"])]


def test_with_metric_only_that_metric_is_owned():
    spare = dict(DEFAULT, gateway="10.0.0.254", metric=100)
    assert plan([DEFAULT, spare], metric=0)[0] == []
    assert plan([DEFAULT, spare], metric=100, gateway="10.0.0.1")[0] == [
        ("netns_adam", ["-4", "route", "replace", "default", "via", "10.0.0.1", "metric", "100"])]


def test_device_mismatch_is_replaced():
    assert plan([DEFAULT], device="eth1")[0] == [
        ("netns_adam", ["-4", "route", "replace", "default", "via", "10.0.0.1", "dev", "eth1"])]


def test_network_destination_and_host_routes():
    host = {"dst": "10.97.0.1", "gateway": "10.0.0.1", "dev": "veth_ns_adam", "flags": []}
    assert plan([host], destination="10.97.0.1/32")[0] == []
    assert plan([host], destination="10.96.0.0/12")[0] == [
        ("netns_adam", ["-4", "route", "replace", "10.96.0.0/12", "via", "10.0.0.1"])]


def test_other_route_types_are_left_alone():
    blackhole = {"type": "blackhole", "dst": "default", "flags": []}
    assert plan([blackhole, DEFAULT])[0] == []


def test_ipv6_default_metric():
    v6 = {"dst": "default", "gateway": "fd00::1", "dev": "veth_ns_adam", "metric": 1024, "flags": [], "pref": "medium"}
    assert plan([v6], gateway="fd00::1")[0] == []
    assert plan([dict(v6, gateway="fd00::2")], gateway="fd00::1")[0] == [
        ("netns_adam", ["-6", "route", "replace", "default", "via", "fd00::1"])]


def test_absent():
    assert plan([DEFAULT, CONNECTED], state="absent")[0] == [
        ("netns_adam", ["-4", "route", "del", "default", "via", "10.0.0.1", "dev", "veth_ns_adam", "metric", "0"])]
    assert plan([CONNECTED], state="absent")[0] == []
    # absent with another gateway than the one there: nothing to delete
    assert plan([DEFAULT], state="absent", gateway="10.0.0.254")[0] == []
    # absent without gateway: every route to the destination
    assert len(plan([DEFAULT, dict(DEFAULT, metric=5)], state="absent", gateway=None)[0]) == 2


@pytest.mark.parametrize("kwargs, message", [
    ({"gateway": "10.0.0.300"}, "gateway '10.0.0.300' is not a valid"),
    ({"gateway": "10.0.0.1/24"}, "gateway '10.0.0.1/24' is not a valid"),
    ({"destination": "10.96.0.1/12"}, "host bits must be zero"),
    ({"destination": "10.96.0.1"}, "must be 'default' or a network"),
    ({"destination": "10.96.0.0/12", "gateway": "fd00::1"}, "gateway fd00::1 is IPv6 but destination 10.96.0.0/12 is IPv4"),
    ({"gateway": None}, "needs a gateway, a device or both"),
    ({"netns": "a/b"}, "not a legal namespace name"),
    ({"device": "eth0 up"}, "illegal characters"),
    ({"metric": -1}, "out of range"),
])
def test_bad_input(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        route.validate(params(**kwargs))


# the module end to end against a fake `ip` ------------------------------------------

LIST = ("-json", "netns", "list")
ROUTES = ("-n", "netns_adam", "-json", "-4", "route", "show", "table", "main")


def test_module_adds_default_route(monkeypatch, capsys):
    fake = FakeIp(monkeypatch, capsys, {LIST: [{"name": "netns_adam"}], ROUTES: Then([[CONNECTED], [DEFAULT, CONNECTED]])})
    result = fake.run(route.main, params(), diff=True)
    assert result["changed"] is True
    assert fake.changes == [["-n", "netns_adam", "-4", "route", "replace", "default", "via", "10.0.0.1"]]
    assert result["route"] == {"netns": "netns_adam", "destination": "default", "gateway": "10.0.0.1",
                               "device": "veth_ns_adam", "metric": 0, "exists": True}
    assert result["diff"] == {
        "before": {"netns": "netns_adam", "destination": "default", "routes": []},
        "after": {"netns": "netns_adam", "destination": "default",
                  "routes": [{"gateway": "10.0.0.1", "device": "veth_ns_adam", "metric": 0}]}}


def test_module_idempotent_and_check_mode(monkeypatch, capsys):
    fake = FakeIp(monkeypatch, capsys, {LIST: [{"name": "netns_adam"}], ROUTES: [DEFAULT, CONNECTED]})
    assert fake.run(route.main, params())["changed"] is False
    result = fake.run(route.main, params(gateway="10.0.0.254"), check=True)
    assert result["changed"] is True and fake.changes == []
    assert result["commands"] == [ip("-n", "netns_adam", "-4", "route", "replace", "default", "via", "10.0.0.254")]


def test_module_missing_namespace(monkeypatch, capsys):
    fake = FakeIp(monkeypatch, capsys, {LIST: [{"name": "netns_adam0"}]})
    result = fake.run(route.main, params())
    assert result["failed"] is True and "namespace netns_adam does not exist" in result["msg"]
    warnings = []
    monkeypatch.setattr(AnsibleModule, "warn", lambda module, message: warnings.append(message))
    result = fake.run(route.main, params(), check=True)
    assert result["changed"] is True and "namespace netns_adam does not exist" in warnings[0]
    assert fake.run(route.main, params(state="absent"))["changed"] is False
    assert fake.changes == []


def test_module_missing_device(monkeypatch, capsys):
    fake = FakeIp(monkeypatch, capsys, {LIST: [{"name": "netns_adam"}],
                                        ("-n", "netns_adam", "-json", "-details", "address", "show"): []})
    result = fake.run(route.main, params(device="veth_ns_adam"))
    assert result["failed"] is True and "device veth_ns_adam does not exist in namespace netns_adam" in result["msg"]


def test_module_refuses_a_destination_beside_routes(monkeypatch, capsys):
    # It used to be ignored silently: every item got its own (default) destination.
    fake = FakeIp(monkeypatch, capsys, {})
    result = fake.run(route.main, {"routes": [{"netns": "netns_adam", "gateway": "10.0.0.1"}],
                                   "destination": "10.96.0.0/12"})
    assert result["failed"] and result["msg"] == \
        "destination cannot be given beside routes; set it on each item instead", result
    assert fake.changes == [] and result["commands"] == []
