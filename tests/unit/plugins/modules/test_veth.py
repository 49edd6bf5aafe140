# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The veth module: planning against canned `ip -json` output, and the module end to end with a fake `ip`."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.k8slab.kube_proxy.plugins.module_utils.iproute import ValidationError
from ansible_collections.k8slab.kube_proxy.plugins.module_utils import netlink_objects
from ansible_collections.k8slab.kube_proxy.plugins.modules import veth
from ansible_collections.k8slab.kube_proxy.tests.unit.plugins.modules.fake_ip import FakeIp, Then, ip

# `ip -json -details address show` after the tutorial's steps (trimmed): each pod's veth is ifindex 2 in its
# own namespace, so only link_netnsid tells them apart.
LO = {"ifindex": 1, "ifname": "lo", "flags": ["LOOPBACK", "UP", "LOWER_UP"], "addr_info": []}
BRIDGE = {"ifindex": 2, "ifname": "bridge_eden", "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
          "linkinfo": {"info_kind": "bridge"},
          "addr_info": [{"family": "inet", "local": "10.0.0.1", "prefixlen": 24, "scope": "global"}]}
VETH_ADAM = {"ifindex": 3, "link_index": 2, "ifname": "veth_adam", "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
             "master": "bridge_eden", "link_netnsid": 0,
             "linkinfo": {"info_kind": "veth", "info_slave_kind": "bridge", "info_slave_data": {"hairpin": False}},
             "addr_info": []}
VETH_EVE = {"ifindex": 4, "link_index": 2, "ifname": "veth_eve", "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
            "master": "bridge_eden", "link_netnsid": 1,
            "linkinfo": {"info_kind": "veth", "info_slave_kind": "bridge", "info_slave_data": {"hairpin": False}},
            "addr_info": []}
NS_ADAM = {"ifindex": 2, "link_index": 3, "ifname": "veth_ns_adam", "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
           "link_netnsid": 0, "linkinfo": {"info_kind": "veth"},
           "addr_info": [{"family": "inet", "local": "10.0.0.11", "prefixlen": 24, "scope": "global"},
                         {"family": "inet6", "local": "fe80::fce7:45ff:fe80:6aa4", "prefixlen": 64, "scope": "link"}]}
NS_EVE = {"ifindex": 2, "link_index": 4, "ifname": "veth_ns_eve", "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
          "link_netnsid": 0, "linkinfo": {"info_kind": "veth"},
          "addr_info": [{"family": "inet", "local": "10.0.0.21", "prefixlen": 24, "scope": "global"}]}
NETNS_LIST = [{"name": "netns_eve", "id": 1}, {"name": "netns_adam", "id": 0}]


def world(root=(LO, BRIDGE, VETH_ADAM, VETH_EVE), adam=(LO, NS_ADAM), eve=(LO, NS_EVE), netns_list=None):
    netns_list = NETNS_LIST if netns_list is None else netns_list
    return copy.deepcopy({"root": list(root), "netns_list": netns_list,
                          "links": {"netns_adam": list(adam), "netns_eve": list(eve)}})


def params(**kwargs):
    result = {"name": "veth_adam", "peer": "veth_ns_adam", "state": "present", "bridge": "bridge_eden",
              "netns": "netns_adam", "peer_addresses": ["10.0.0.11/24"], "hairpin": False, "check_subnet": True}
    result.update(kwargs)
    return result


def plan(the_world, check_mode=False, **kwargs):
    p = params(**kwargs)
    return netlink_objects.plan_veth(p, veth.validate(p), the_world, check_mode)


def changed(link, **kwargs):
    result = copy.deepcopy(link)
    result.update(kwargs)
    return result


# planning ------------------------------------------------------------------------------

def test_tutorial_steps_from_nothing():
    steps, before, after, warnings = plan(world(root=(LO, BRIDGE), adam=(LO,)))
    assert steps == [
        (None, ["link", "add", "dev", "veth_adam", "type", "veth", "peer", "name", "veth_ns_adam", "netns", "netns_adam"]),
        (None, ["link", "set", "dev", "veth_adam", "master", "bridge_eden"]),
        (None, ["link", "set", "dev", "veth_adam", "up"]),
        ("netns_adam", ["link", "set", "dev", "veth_ns_adam", "up"]),
        ("netns_adam", ["address", "add", "10.0.0.11/24", "dev", "veth_ns_adam"]),
    ]
    assert before["exists"] is False and warnings == []
    assert after == {"name": "veth_adam", "peer": "veth_ns_adam", "exists": True, "netns": "netns_adam",
                     "bridge": "bridge_eden", "hairpin": False, "up": True, "peer_up": True,
                     "peer_addresses": ["10.0.0.11/24"]}


def test_converged_pair_needs_nothing():
    steps, before, after, _warnings = plan(world())
    assert steps == [] and before == after


def test_the_other_pod_resolves_through_link_netnsid():
    # veth_eve's peer is ifindex 2 too, but in netns_eve (id 1), not netns_adam.
    steps = plan(world(), name="veth_eve", peer="veth_ns_eve", netns="netns_eve", peer_addresses=["10.0.0.21/24"])[0]
    assert steps == []


def test_drift_down_and_address_lost():
    steps = plan(world(root=(LO, BRIDGE, changed(VETH_ADAM, flags=["BROADCAST"]), VETH_EVE),
                       adam=(LO, changed(NS_ADAM, flags=["BROADCAST"], addr_info=[]))))[0]
    assert steps == [(None, ["link", "set", "dev", "veth_adam", "up"]),
                     ("netns_adam", ["link", "set", "dev", "veth_ns_adam", "up"]),
                     ("netns_adam", ["address", "add", "10.0.0.11/24", "dev", "veth_ns_adam"])]


def test_half_done_tutorial_moves_the_peer():
    # `ip link add dev veth_adam type veth peer name veth_ns_adam` ran, nothing else.
    root_end = {"ifindex": 5, "link": "veth_ns_adam", "ifname": "veth_adam", "flags": ["BROADCAST"],
                "linkinfo": {"info_kind": "veth"}, "addr_info": []}
    peer_end = {"ifindex": 4, "link": "veth_adam", "ifname": "veth_ns_adam", "flags": ["BROADCAST"],
                "linkinfo": {"info_kind": "veth"}, "addr_info": []}
    steps = plan(world(root=(LO, BRIDGE, peer_end, root_end), adam=(LO,)))[0]
    assert steps == [(None, ["link", "set", "dev", "veth_ns_adam", "netns", "netns_adam"]),
                     (None, ["link", "set", "dev", "veth_adam", "master", "bridge_eden"]),
                     (None, ["link", "set", "dev", "veth_adam", "up"]),
                     ("netns_adam", ["link", "set", "dev", "veth_ns_adam", "up"]),
                     ("netns_adam", ["address", "add", "10.0.0.11/24", "dev", "veth_ns_adam"])]


def test_peer_in_another_namespace_is_moved():
    other = [{"name": "netns_old", "id": 0}, {"name": "netns_adam", "id": 5}]
    the_world = world(netns_list=other, adam=(LO,))
    the_world["links"]["netns_old"] = [LO, NS_ADAM]
    steps = plan(the_world)[0]
    assert steps[0] == ("netns_old", ["link", "set", "dev", "veth_ns_adam", "netns", "netns_adam"])
    assert ("netns_adam", ["address", "add", "10.0.0.11/24", "dev", "veth_ns_adam"]) in steps


def test_hairpin_on_and_off():
    assert plan(world(), hairpin=True)[0] == [
        (None, ["link", "set", "dev", "veth_adam", "type", "bridge_slave", "hairpin", "on"])]
    hairpinned = changed(VETH_ADAM, linkinfo={"info_kind": "veth", "info_slave_kind": "bridge",
                                              "info_slave_data": {"hairpin": True}})
    assert plan(world(root=(LO, BRIDGE, hairpinned)))[0] == [
        (None, ["link", "set", "dev", "veth_adam", "type", "bridge_slave", "hairpin", "off"])]


def test_extra_peer_address_removed_and_omitted_addresses_left_alone():
    extra = changed(NS_ADAM, addr_info=NS_ADAM["addr_info"] + [
        {"family": "inet", "local": "10.0.0.99", "prefixlen": 24, "scope": "global"}])
    assert plan(world(adam=(LO, extra)))[0] == [
        ("netns_adam", ["address", "del", "10.0.0.99/24", "dev", "veth_ns_adam"])]
    assert plan(world(adam=(LO, extra)), peer_addresses=None)[0] == []


def test_no_bridge_no_netns_pair_in_root():
    steps = plan(world(root=(LO,)), bridge=None, netns=None, peer_addresses=None)[0]
    assert steps == [(None, ["link", "add", "dev", "veth_adam", "type", "veth", "peer", "name", "veth_ns_adam"]),
                     (None, ["link", "set", "dev", "veth_adam", "up"]),
                     (None, ["link", "set", "dev", "veth_ns_adam", "up"])]


def test_absent():
    assert plan(world(), state="absent")[0] == [(None, ["link", "del", "dev", "veth_adam"])]
    # Only the pod end is left (the host end was moved away): delete it from there.
    assert plan(world(root=(LO, BRIDGE)), state="absent")[0] == [("netns_adam", ["link", "del", "dev", "veth_ns_adam"])]
    assert plan(world(root=(LO, BRIDGE), adam=(LO,)), state="absent")[0] == []
    assert plan(world(root=(LO, BRIDGE), netns_list=[]), state="absent")[0] == []


def test_check_mode_warns_about_missing_prerequisites():
    steps, _before, _after, warnings = plan(world(root=(LO,), netns_list=[]), check_mode=True)
    assert steps[0][1][:3] == ["link", "add", "dev"]
    assert len(warnings) == 2 and "namespace netns_adam does not exist" in warnings[0]
    assert "bridge bridge_eden does not exist" in warnings[1]


@pytest.mark.parametrize("the_world, kwargs, message", [
    (world(netns_list=[]), {}, "namespace netns_adam does not exist"),
    (world(root=(LO,)), {}, "bridge bridge_eden does not exist"),
    (world(root=(LO, changed(BRIDGE, linkinfo={"info_kind": "dummy"}))), {}, "is a dummy, not a bridge"),
    (world(root=(LO, BRIDGE, changed(VETH_ADAM, linkinfo={"info_kind": "bridge"}))), {}, "is a bridge, not a veth"),
    (world(root=(LO, BRIDGE, {"ifindex": 3, "ifname": "veth_adam", "flags": [], "addr_info": []})), {},
     "is a plain device, not a veth"),
    (world(), {"peer": "veth_ns_eve"}, "its other end is veth_ns_adam in namespace netns_adam, not veth_ns_eve"),
    (world(root=(LO, BRIDGE)), {}, "a link named veth_ns_adam already exists in namespace netns_adam"),
    (world(), {"peer_addresses": ["10.0.1.11/24"]}, "not in the subnet of bridge bridge_eden"),
    (world(), {"peer_addresses": ["10.0.0.1/24"]}, "is the address of bridge bridge_eden itself"),
    (world(root=(LO, changed(BRIDGE, addr_info=[]), VETH_ADAM)), {}, "bridge bridge_eden has no addresses"),
    (world(root=(LO,), adam=(LO,)), {"bridge": None, "hairpin": True}, "hairpin needs veth_adam to be a bridge port"),
    (world(), {"netns": None}, "moving it back to the root namespace is not supported"),
    (world(netns_list=[{"name": "netns_adam", "id": 9}]), {}, "namespace without a name"),
    (world(root=(LO, BRIDGE, VETH_ADAM, VETH_EVE)), {"state": "absent", "peer": "veth_x"}, "not veth_x"),
])
def test_refused_states(the_world, kwargs, message):
    with pytest.raises(ValidationError, match=message):
        plan(the_world, **kwargs)


def test_hairpin_on_a_port_without_naming_its_bridge():
    assert plan(world(root=(LO, VETH_ADAM)), bridge=None, hairpin=True)[0] == [
        (None, ["link", "set", "dev", "veth_adam", "type", "bridge_slave", "hairpin", "on"])]


def test_check_subnet_false_allows_foreign_address():
    steps = plan(world(), peer_addresses=["192.0.2.11/24"], check_subnet=False)[0]
    assert ("netns_adam", ["address", "add", "192.0.2.11/24", "dev", "veth_ns_adam"]) in steps


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "veth_adam_is_too_long"}, "veth name 'veth_adam_is_too_long' is 21 characters"),
    ({"peer": "veth ns"}, "veth peer name 'veth ns' has illegal characters"),
    ({"bridge": "a/b"}, "bridge name 'a/b' has illegal characters"),
    ({"bridge": "veth_adam"}, "cannot be an end of the veth pair"),
    ({"netns": "../x"}, "not a legal namespace name"),
    ({"netns": None, "peer": "veth_adam"}, "need different names"),
    ({"peer_addresses": ["10.0.0.11"]}, "needs a prefix length"),
    ({"peer_addresses": ["10.0.0.311/24"]}, "not a valid address"),
])
def test_bad_input(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        veth.validate(params(**kwargs))


# the module end to end against a fake `ip` ------------------------------------------

ROOT_READ = ("-json", "-details", "address", "show")
ADAM_READ = ("-n", "netns_adam", "-json", "-details", "address", "show")
LIST = ("-json", "netns", "list")


def test_module_builds_pod_adam(monkeypatch, capsys):
    fake = FakeIp(monkeypatch, capsys, {LIST: NETNS_LIST,
                                        ROOT_READ: Then([[LO, BRIDGE], [LO, BRIDGE, VETH_ADAM]]),
                                        ADAM_READ: Then([[LO], [LO, NS_ADAM]])})
    result = fake.run(veth.main, params(), diff=True)
    assert result["changed"] is True
    assert fake.changes[0] == ["link", "add", "dev", "veth_adam", "type", "veth", "peer", "name", "veth_ns_adam",
                               "netns", "netns_adam"]
    assert fake.changes[-1] == ["-n", "netns_adam", "address", "add", "10.0.0.11/24", "dev", "veth_ns_adam"]
    assert result["commands"] == [ip(*args) for args in fake.changes]
    assert result["veth"]["peer_addresses"] == ["10.0.0.11/24"] and result["veth"]["netns"] == "netns_adam"
    assert result["diff"]["before"]["exists"] is False and result["diff"]["after"]["exists"] is True


def test_module_idempotent(monkeypatch, capsys):
    fake = FakeIp(monkeypatch, capsys, {LIST: NETNS_LIST, ROOT_READ: [LO, BRIDGE, VETH_ADAM], ADAM_READ: [LO, NS_ADAM]})
    result = fake.run(veth.main, params())
    assert (result["changed"], result["commands"], fake.changes) == (False, [], [])


def test_module_check_mode(monkeypatch, capsys):
    fake = FakeIp(monkeypatch, capsys, {LIST: NETNS_LIST, ROOT_READ: [LO, BRIDGE, VETH_ADAM],
                                        ADAM_READ: [LO, changed(NS_ADAM, addr_info=[])]})
    result = fake.run(veth.main, params(), check=True)
    assert result["changed"] is True and fake.changes == []
    assert result["commands"] == [ip("-n", "netns_adam", "address", "add", "10.0.0.11/24", "dev", "veth_ns_adam")]


def test_module_refusal_changes_nothing(monkeypatch, capsys):
    fake = FakeIp(monkeypatch, capsys, {LIST: NETNS_LIST, ROOT_READ: [LO, BRIDGE, VETH_ADAM], ADAM_READ: [LO, NS_ADAM]})
    result = fake.run(veth.main, params(peer="veth_other"))
    assert result["failed"] is True and "not veth_other" in result["msg"] and fake.changes == []
