# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pod_sync: validation of the whole model, and who owns what (records, the 0.1 upgrade), table-driven."""

from __future__ import annotations

import pytest

from ansible_collections.k8slab.kube_proxy.plugins.module_utils.iproute import ValidationError
from ansible_collections.k8slab.kube_proxy.plugins.modules import pod_sync


def pod(name, address, **extra):
    return dict({"name": name, "netns": "netns_" + name, "host_veth": "veth_" + name, "pod_veth": "veth_ns_" + name,
                 "cidr": address, "gateway": None, "nameservers": ["8.8.8.8"]}, **extra)


def params(**kwargs):
    result = {"bridge": "bridge_eden", "bridge_address": "10.0.0.1/24", "bridge_mac": None, "hairpin": True,
              "pods": [pod("adam", "10.0.0.11/24"), pod("eve", "10.0.0.21/24")], "routes": [], "prune": True,
              "force": False, "state": "present", "owner": "pod_network", "state_dir": "/x", "netns_state_dir": "/y",
              "adopt_route_metric": None}
    result.update(kwargs)
    return result


# validation ----------------------------------------------------------------------

def test_the_tutorial_model():
    model = pod_sync.validate(params())
    assert model["addresses"] == ["10.0.0.1/24"]
    adam = model["pods"][0]
    assert adam["veth"] == {"name": "veth_adam", "peer": "veth_ns_adam", "netns": "netns_adam",
                            "peer_addresses": ["10.0.0.11/24"], "bridge": "bridge_eden", "hairpin": True,
                            "check_subnet": True, "state": "present"}
    assert adam["route"]["gateway"] == "10.0.0.1" and adam["route_checked"] == ("default", "10.0.0.1", 4)
    assert adam["netns"]["owner"] == "pod_network" and adam["nameservers"] == ["8.8.8.8"]


@pytest.mark.parametrize("change, message", [
    ({"pods": []}, "pods is empty: a pod network needs at least one pod; to remove the whole pod network use "
                   "state=absent"),
    ({"pods": None}, "pods is empty"),
    ({"bridge_address": None}, "bridge_address is required with state=present"),
    ({"bridge": "a-name-far-too-long"}, "bridge name"),
    ({"owner": "bad owner"}, "owner 'bad owner'"),
    ({"bridge_mac": "01:00:5e:00:00:01"}, "unicast MAC"),
    ({"pods": [pod("adam", "10.0.1.11/24")]}, r"pod adam \(pods\[0\]\): address 10.0.1.11/24 is not in the bridge's subnet"),
    ({"pods": [pod("adam", "10.0.0.1/24")]}, "is the bridge's own address"),
    ({"pods": [pod("adam", "10.0.0.11")]}, "needs a prefix length"),
    ({"pods": [pod("adam", "10.0.0.11/24", netns="bad/name")]}, r"pod adam \(pods\[0\]\): namespace name"),
    ({"pods": [pod("adam", "10.0.0.11/24", nameservers=["nope"])]}, "nameserver 'nope'"),
    ({"pods": [pod("adam", "10.0.0.11/24"), pod("eve", "10.0.0.11/24")]}, "pod eve: address 10.0.0.11 is also adam's"),
    ({"pods": [pod("adam", "10.0.0.11/24"), pod("eve", "10.0.0.21/24", netns="netns_adam")]},
     "pod eve: namespace netns_adam is also adam's"),
    ({"pods": [pod("adam", "10.0.0.11/24"), pod("eve", "10.0.0.21/24", host_veth="veth_adam")]},
     "pod eve: interface veth_adam is also adam's"),
    ({"pods": [pod("adam", "10.0.0.11/24", host_veth="bridge_eden")]}, "bridge bridge_eden cannot be an end of the veth pair itself"),
    ({"routes": [{"destination": "default", "gateway": "192.0.2.12"}]}, "not default"),
    ({"routes": [{"destination": "10.0.2.1/24", "gateway": "192.0.2.12"}]}, "host bits must be zero"),
    ({"routes": [{"destination": "10.0.0.0/16", "gateway": "192.0.2.12"}]}, "overlaps this node's pod subnet"),
    ({"routes": [{"destination": "10.0.2.0/24", "gateway": "192.0.2.12"}] * 2}, "10.0.2.0/24 is listed twice"),
    ({"routes": [{"destination": "10.0.2.0/24", "gateway": "nope"}]}, "gateway 'nope'"),
])
def test_bad_input_is_refused_before_anything_is_read(change, message):
    with pytest.raises(ValidationError, match=message):
        pod_sync.validate(params(**change))


def test_absent_needs_no_pods():
    assert pod_sync.validate(params(state="absent", pods=None, bridge_address=None))["pods"] == []


# ownership -----------------------------------------------------------------------

TABLE = [
    {"dst": "default", "gateway": "192.0.2.1", "dev": "eth0"},
    {"dst": "192.0.2.0/24", "dev": "eth0", "protocol": "kernel", "scope": "link"},
    {"dst": "10.0.2.0/24", "gateway": "192.0.2.12", "dev": "eth0", "metric": 1013},
    {"dst": "10.0.3.0/24", "gateway": "192.0.2.13", "dev": "eth0", "metric": 1013},
    {"dst": "10.0.9.0/24", "gateway": "192.0.2.99", "dev": "eth0"},
]
R2 = {"destination": "10.0.2.0/24", "gateway": "192.0.2.12"}
R3 = {"destination": "10.0.3.0/24", "gateway": "192.0.2.13"}
R9 = {"destination": "10.0.9.0/24", "gateway": "192.0.2.19"}
RECORD = {"version": 1, "owner": "pod_network", "bridges": ["bridge_eden"], "routes": [R2, R3]}


@pytest.mark.parametrize("case, record, bridge, desired, netns, adopt, owned, leftovers, clashes", [
    ("converged", RECORD, "bridge_eden", [R2, R3], ["netns_adam"], None,
     {"bridges": ["bridge_eden"], "routes": [R2, R3]}, {"netns": [], "routes": [], "bridges": []}, []),
    ("a node left", RECORD, "bridge_eden", [R2], ["netns_adam"], None,
     {"bridges": ["bridge_eden"], "routes": [R2, R3]}, {"netns": [], "routes": [R3], "bridges": []}, []),
    ("a pod left", RECORD, "bridge_eden", [R2, R3], [], None,
     {"bridges": ["bridge_eden"], "routes": [R2, R3]}, {"netns": ["netns_adam"], "routes": [], "bridges": []}, []),
    ("bridge renamed", RECORD, "bridge_new", [R2, R3], ["netns_adam"], None,
     {"bridges": ["bridge_new", "bridge_eden"], "routes": [R2, R3]},
     {"netns": [], "routes": [], "bridges": ["bridge_eden"]}, []),
    ("gateway changed", RECORD, "bridge_eden", [dict(R2, gateway="192.0.2.22"), R3], ["netns_adam"], None,
     {"bridges": ["bridge_eden"], "routes": [dict(R2, gateway="192.0.2.22"), R3, R2]},
     {"netns": [], "routes": [R2], "bridges": []}, []),
    ("upgrade from 0.1", None, "bridge_eden", [R2], ["netns_adam"], 1013,
     {"bridges": ["bridge_eden"], "routes": [R2, R3]}, {"netns": [], "routes": [R3], "bridges": []}, []),
    ("upgrade, metric not adopted", None, "bridge_eden", [R2], ["netns_adam"], None,
     {"bridges": ["bridge_eden"], "routes": [R2]}, {"netns": [], "routes": [], "bridges": []},
     ["a route to 10.0.2.0/24 exists (via 192.0.2.12) and was not created by this owner"]),
    ("someone else's route", RECORD, "bridge_eden", [R2, R3, R9], ["netns_adam"], None,
     {"bridges": ["bridge_eden"], "routes": [R2, R3, R9]}, {"netns": [], "routes": [], "bridges": []},
     ["a route to 10.0.9.0/24 exists (via 192.0.2.99) and was not created by this owner"]),
    ("absent", RECORD, None, [], [], None,
     {"bridges": ["bridge_eden"], "routes": [R2, R3]},
     {"netns": ["netns_adam"], "routes": [R2, R3], "bridges": ["bridge_eden"]}, []),
])
def test_plan_ownership(case, record, bridge, desired, netns, adopt, owned, leftovers, clashes):
    got_owned, got_leftovers, got_clashes = pod_sync.plan_ownership(
        record, bridge, desired, TABLE, ["netns_adam"], netns, adopt)
    if bridge is not None:
        assert got_owned == owned, case
    assert got_leftovers == leftovers, case
    assert len(got_clashes) == len(clashes) and all(want in got for want, got in zip(clashes, got_clashes)), case


def test_adopted_routes_are_unicast_routes_with_a_gateway_and_the_metric():
    table = TABLE + [{"dst": "10.0.4.0/24", "dev": "eth0", "metric": 1013},
                     {"dst": "10.0.5.0/24", "type": "blackhole", "metric": 1013, "gateway": "192.0.2.15"}]
    assert pod_sync.adopted_routes(table, 1013) == [R2, R3]
    assert pod_sync.adopted_routes(table, None) == []


# the node's neighbour entries for an added pod -------------------------------------

OLD, NEW = "2e:db:db:11:41:96", "da:8c:2e:ad:88:31"


@pytest.mark.parametrize("case, entries, mac, stale", [
    ("the old MAC, even while REACHABLE", [{"dst": "10.0.0.21", "lladdr": OLD, "state": ["REACHABLE"]}], NEW,
     ["10.0.0.21"]),
    ("the old MAC, STALE", [{"dst": "10.0.0.21", "lladdr": OLD, "state": ["STALE"]}], NEW, ["10.0.0.21"]),
    ("the pod's own MAC, in any case", [{"dst": "10.0.0.21", "lladdr": NEW.upper(), "state": ["REACHABLE"]}], NEW, []),
    ("another address", [{"dst": "10.0.0.11", "lladdr": OLD, "state": ["STALE"]}], NEW, []),
    ("no MAC learnt yet", [{"dst": "10.0.0.21", "state": ["INCOMPLETE"]}], NEW, []),
    ("somebody's permanent entry", [{"dst": "10.0.0.21", "lladdr": OLD, "state": ["PERMANENT"]}], NEW, []),
    ("the pod's MAC unknown", [{"dst": "10.0.0.21", "lladdr": OLD, "state": ["STALE"]}], None, ["10.0.0.21"]),
])
def test_stale_neighbours(case, entries, mac, stale):
    assert pod_sync.stale_neighbours(entries, ["10.0.0.21/24"], mac) == stale, case
