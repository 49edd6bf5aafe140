# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The bridge module: planning against canned `ip -json` output, and the module end to end with a fake `ip`."""

from __future__ import annotations

import pytest

from ansible_collections.k8slab.kube_proxy.plugins.module_utils.iproute import ValidationError
from ansible_collections.k8slab.kube_proxy.plugins.module_utils import netlink_objects
from ansible_collections.k8slab.kube_proxy.plugins.modules import bridge
from ansible_collections.k8slab.kube_proxy.tests.unit.plugins.modules.fake_ip import FakeIp, Then, ip

LO = {"ifindex": 1, "ifname": "lo", "flags": ["LOOPBACK", "UP", "LOWER_UP"], "addr_info": []}


def bridge_link(flags=("BROADCAST", "MULTICAST", "UP", "LOWER_UP"), addresses=("10.0.0.1/24",), name="bridge_eden"):
    addr_info = [{"family": "inet6" if ":" in a else "inet", "local": a.partition("/")[0], "prefixlen": int(a.partition("/")[2]),
                  "scope": "global"} for a in addresses]
    addr_info.append({"family": "inet6", "local": "fe80::1", "prefixlen": 64, "scope": "link"})
    return {"ifindex": 2, "ifname": name, "flags": list(flags), "linkinfo": {"info_kind": "bridge"}, "addr_info": addr_info}


def params(**kwargs):
    result = {"name": "bridge_eden", "state": "present", "addresses": ["10.0.0.1/24"], "up": True}
    result.update(kwargs)
    return result


def plan(links, **kwargs):
    p = params(**kwargs)
    return netlink_objects.plan_bridge(p, bridge.validate(p), links)


# planning ----------------------------------------------------------------------------

def test_tutorial_steps_from_nothing():
    steps, after = plan([LO])
    assert steps == [(None, ["link", "add", "dev", "bridge_eden", "type", "bridge"]),
                     (None, ["address", "add", "10.0.0.1/24", "dev", "bridge_eden"]),
                     (None, ["link", "set", "dev", "bridge_eden", "up"])]
    assert after == {"name": "bridge_eden", "exists": True, "addresses": ["10.0.0.1/24"], "up": True}


def test_converged_bridge_needs_nothing():
    assert plan([LO, bridge_link()])[0] == []


def test_link_local_addresses_are_not_touched():
    assert plan([LO, bridge_link(addresses=())], addresses=[])[0] == []


def test_drift_down_and_wrong_address():
    steps, _after = plan([LO, bridge_link(flags=("BROADCAST",), addresses=("10.0.0.2/24", "10.0.0.1/16"))])
    assert steps == [(None, ["address", "del", "10.0.0.2/24", "dev", "bridge_eden"]),
                     (None, ["address", "del", "10.0.0.1/16", "dev", "bridge_eden"]),
                     (None, ["address", "add", "10.0.0.1/24", "dev", "bridge_eden"]),
                     (None, ["link", "set", "dev", "bridge_eden", "up"])]


def test_addresses_omitted_are_left_alone():
    assert plan([LO, bridge_link(addresses=("192.0.2.1/24",))], addresses=None)[0] == []


def test_up_false_sets_down():
    assert plan([LO, bridge_link()], up=False)[0] == [(None, ["link", "set", "dev", "bridge_eden", "down"])]


def test_absent():
    assert plan([LO, bridge_link()], state="absent")[0] == [(None, ["link", "del", "dev", "bridge_eden"])]
    assert plan([LO], state="absent")[0] == []


def test_exact_name_match():
    assert plan([LO, bridge_link(name="bridge_eden0")], state="absent")[0] == []


def test_foreign_link_is_refused():
    veth = {"ifindex": 5, "ifname": "bridge_eden", "flags": [], "linkinfo": {"info_kind": "veth"}, "addr_info": []}
    for state in ("present", "absent"):
        with pytest.raises(ValidationError, match="is a veth, not a bridge"):
            plan([LO, veth], state=state)


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "bridge_eden_too_long"}, "at most 15"),
    ({"name": "bridge eden"}, "illegal characters"),
    ({"addresses": ["10.0.0.1"]}, "needs a prefix length"),
    ({"addresses": ["10.0.0.1/24", "10.0.0.1/25"]}, "different prefix lengths"),
    ({"addresses": ["bridge"]}, "needs a prefix length"),
])
def test_bad_input(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        bridge.validate(params(**kwargs))


# the module end to end against a fake `ip` ------------------------------------------

READ = ("-json", "-details", "address", "show")


def test_module_creates_and_reports(monkeypatch, capsys):
    fake = FakeIp(monkeypatch, capsys, {READ: Then([[LO], [LO, bridge_link()]])})
    result = fake.run(bridge.main, params(), diff=True)
    assert result["changed"] is True
    assert fake.changes == [["link", "add", "dev", "bridge_eden", "type", "bridge"],
                            ["address", "add", "10.0.0.1/24", "dev", "bridge_eden"],
                            ["link", "set", "dev", "bridge_eden", "up"]]
    assert result["commands"] == [ip(*args) for args in fake.changes]
    assert result["bridge"] == {"name": "bridge_eden", "exists": True, "addresses": ["10.0.0.1/24"], "up": True}
    assert result["diff"]["before"] == {"name": "bridge_eden", "exists": False, "addresses": [], "up": False}


def test_module_check_mode_changes_nothing(monkeypatch, capsys):
    fake = FakeIp(monkeypatch, capsys, {READ: [LO, bridge_link(flags=("BROADCAST",))]})
    result = fake.run(bridge.main, params(), check=True)
    assert result["changed"] is True
    assert result["commands"] == [ip("link", "set", "dev", "bridge_eden", "up")]
    assert fake.changes == []


def test_module_idempotent(monkeypatch, capsys):
    fake = FakeIp(monkeypatch, capsys, {READ: [LO, bridge_link()]})
    result = fake.run(bridge.main, params())
    assert (result["changed"], result["commands"], fake.changes) == (False, [], [])


def test_module_repairs_dropped_secondary(monkeypatch, capsys):
    # Deleting the primary 10.0.0.9/24 takes the wanted secondary 10.0.0.1/24 with it: the module plans again.
    fake = FakeIp(monkeypatch, capsys, {READ: Then([[LO, bridge_link(addresses=("10.0.0.9/24", "10.0.0.1/24"))],
                                                    [LO, bridge_link(addresses=())],
                                                    [LO, bridge_link()]])})
    result = fake.run(bridge.main, params())
    assert fake.changes == [["address", "del", "10.0.0.9/24", "dev", "bridge_eden"],
                            ["address", "add", "10.0.0.1/24", "dev", "bridge_eden"]]
    assert result["bridge"]["addresses"] == ["10.0.0.1/24"]


def test_module_bad_input_fails_before_reading(monkeypatch, capsys):
    fake = FakeIp(monkeypatch, capsys, {})
    result = fake.run(bridge.main, params(addresses=["10.0.0.1/33"]))
    assert result["failed"] is True and "not a valid address" in result["msg"]
    assert fake.changes == []


def test_fixed_mac_is_set_once_and_never_follows_the_ports():
    from ansible_collections.k8slab.kube_proxy.plugins.modules import bridge as bridge_module
    params = {"name": "bridge_eden", "state": "present", "up": True, "mac": "02:B5:0F:63:2A:DA"}
    steps, dummy = netlink_objects.plan_bridge(params, None, [])
    assert (None, ["link", "set", "dev", "bridge_eden", "address", "02:b5:0f:63:2a:da"]) in steps
    link = {"ifname": "bridge_eden", "address": "02:b5:0f:63:2a:da", "flags": ["UP"],
            "linkinfo": {"info_kind": "bridge"}, "addr_info": []}
    assert netlink_objects.plan_bridge(params, None, [link])[0] == []
    with pytest.raises(bridge_module.ValidationError, match="unicast MAC"):
        bridge_module.validate(dict(params, mac="01:00:5e:00:00:01", addresses=None))
