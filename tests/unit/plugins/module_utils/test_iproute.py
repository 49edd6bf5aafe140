# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The shared iproute helpers: validation, `ip -json` readers, planners, the command runner."""

from __future__ import annotations

import pytest

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import iproute
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.iproute import ValidationError
from ansible_collections.k8slab.kube_proxy.tests.unit.plugins.module_utils.fake_module import FakeModule

# `ip -json -details address show` in the root namespace after the tutorial's steps (trimmed).
ROOT = [
    {"ifindex": 1, "ifname": "lo", "flags": ["LOOPBACK", "UP", "LOWER_UP"],
     "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8, "scope": "host"}]},
    {"ifindex": 2, "ifname": "bridge_eden", "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
     "linkinfo": {"info_kind": "bridge"},
     "addr_info": [{"family": "inet", "local": "10.0.0.1", "prefixlen": 24, "scope": "global"},
                   {"family": "inet6", "local": "fe80::c0eb:a1ff:fe4d:fe67", "prefixlen": 64, "scope": "link"}]},
    {"ifindex": 3, "link_index": 2, "ifname": "veth_adam", "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
     "master": "bridge_eden", "link_netnsid": 0,
     "linkinfo": {"info_kind": "veth", "info_slave_kind": "bridge", "info_slave_data": {"hairpin": True}},
     "addr_info": []},
    {"ifindex": 30, "ifname": "veth_adam1", "flags": ["BROADCAST"], "addr_info": []},
]


# validation --------------------------------------------------------------------

@pytest.mark.parametrize("name", ["veth_adam", "bridge_eden", "a", "x" * 15, "eth0.100", "veth@1", "br-lab"])
def test_ifname_ok(name):
    assert iproute.validate_ifname(name) == name


@pytest.mark.parametrize("name, message", [
    ("", "non-empty"),
    (None, "non-empty"),
    ("x" * 16, "at most 15"),
    ("veth adam", "illegal characters"),
    ("veth/adam", "illegal characters"),
    ("veth:1", "illegal characters"),
    ("-veth", "illegal characters"),
    (".", "illegal characters"),
    ("..", "illegal characters"),
    ("vеth", "illegal characters"),  # Cyrillic e
    ("a;reboot", "illegal characters"),
])
def test_ifname_bad(name, message):
    with pytest.raises(ValidationError, match=message):
        iproute.validate_ifname(name)


@pytest.mark.parametrize("name", ["netns_adam", "ns1", "pod-a.b", "x" * 64])
def test_netns_name_ok(name):
    assert iproute.validate_netns_name(name) == name


@pytest.mark.parametrize("name", ["", "a/b", "..", ".", "-n", "x" * 65, "with space", "../etc"])
def test_netns_name_bad(name):
    with pytest.raises(ValidationError):
        iproute.validate_netns_name(name)


def test_parse_ip():
    assert str(iproute.parse_ip("10.0.0.1")) == "10.0.0.1"
    assert str(iproute.parse_ip("FD00::0001")) == "fd00::1"
    for bad in ("10.0.0.256", "10.0.0.1/24", "example.com", ""):
        with pytest.raises(ValidationError, match="not a valid"):
            iproute.parse_ip(bad)


def test_normalize_cidrs():
    assert iproute.normalize_cidrs(["10.0.0.1/24", "FD00::1/64", "10.0.0.1/24"]) == ["10.0.0.1/24", "fd00::1/64"]
    assert iproute.normalize_cidrs([]) == []
    assert iproute.normalize_cidrs(None) == []


@pytest.mark.parametrize("values, message", [
    (["10.0.0.1"], "needs a prefix length"),
    (["10.0.0.1/33"], "not a valid"),
    (["10.0.0.300/24"], "not a valid"),
    (["fd00::1/129"], "not a valid"),
    (["10.0.0.1/24", "10.0.0.1/16"], "twice with different prefix lengths"),
])
def test_normalize_cidrs_bad(values, message):
    with pytest.raises(ValidationError, match=message):
        iproute.normalize_cidrs(values)


@pytest.mark.parametrize("given, expected", [
    ("default", "default"), (None, "default"), ("10.96.0.0/12", "10.96.0.0/12"), ("fd00:0::/64", "fd00::/64"),
])
def test_parse_destination(given, expected):
    assert iproute.parse_destination(given) == expected


@pytest.mark.parametrize("bad", ["10.96.0.1/12", "10.96.0.1", "anywhere", "10.0.0.0/40"])
def test_parse_destination_bad(bad):
    with pytest.raises(ValidationError, match="destination"):
        iproute.parse_destination(bad)


# readers -----------------------------------------------------------------------

def test_parse_json_empty_output_is_empty_list():
    assert iproute.parse_json("") == []
    assert iproute.parse_json("\n") == []
    assert iproute.parse_json('[{"name":"a"}]') == [{"name": "a"}]


def test_link_by_name_is_exact():
    assert iproute.link_by_name(ROOT, "veth_adam")["ifindex"] == 3
    assert iproute.link_by_name(ROOT, "veth_ada") is None
    assert iproute.link_by_name(ROOT, "veth_adam1")["ifindex"] == 30
    assert iproute.link_by_name(None, "lo") is None


def test_link_by_index():
    assert iproute.link_by_index(ROOT, 2)["ifname"] == "bridge_eden"
    assert iproute.link_by_index(ROOT, None) is None


def test_kind_up_hairpin():
    bridge, veth, plain = ROOT[1], ROOT[2], ROOT[3]
    assert (iproute.link_kind(bridge), iproute.link_kind(veth), iproute.link_kind(plain)) == ("bridge", "veth", None)
    assert iproute.is_up(bridge) and not iproute.is_up(plain)
    assert iproute.hairpin(veth) is True
    assert iproute.hairpin(bridge) is False
    assert iproute.hairpin({"linkinfo": {"info_slave_data": {"hairpin": "on"}}}) is True


def test_global_addresses_skip_link_and_host_scope():
    assert iproute.global_addresses(ROOT[1]) == ["10.0.0.1/24"]
    assert iproute.global_addresses(ROOT[0]) == []
    assert iproute.global_addresses(None) == []
    assert iproute.global_addresses({"addr_info": [
        {"family": "inet6", "local": "fd00:0::1", "prefixlen": 64, "scope": "global"}]}) == ["fd00::1/64"]


def test_netns_lookups():
    listing = [{"name": "netns_eve", "id": 1}, {"name": "netns_adam", "id": 0}, {"name": "netns_adam0"}]
    assert iproute.netns_names(listing) == ["netns_eve", "netns_adam", "netns_adam0"]
    assert iproute.netns_by_id(listing, 0) == "netns_adam"
    assert iproute.netns_by_id(listing, 7) is None
    assert iproute.netns_by_id(listing, None) is None


@pytest.mark.parametrize("route, expected", [
    ({"dst": "default"}, "default"), ({}, "default"), ({"dst": "10.97.0.1"}, "10.97.0.1/32"),
    ({"dst": "fd00::1"}, "fd00::1/128"), ({"dst": "10.0.0.0/24"}, "10.0.0.0/24"),
])
def test_route_destination(route, expected):
    assert iproute.route_destination(route) == expected


# planners ----------------------------------------------------------------------

def test_plan_addresses_removes_then_adds():
    steps = iproute.plan_addresses(["10.0.0.1/24", "10.0.0.9/24"], ["10.0.0.1/24", "fd00::1/64"], "br", "ns")
    assert steps == [("ns", ["address", "del", "10.0.0.9/24", "dev", "br"]),
                     ("ns", ["address", "add", "fd00::1/64", "dev", "br"])]
    assert iproute.plan_addresses(["10.0.0.1/24"], ["10.0.0.1/24"], "br") == []


def test_check_in_subnets():
    iproute.check_in_subnets(["10.0.0.11/24"], ["10.0.0.1/24"], "peer address", "bridge b")
    iproute.check_in_subnets(["fd00::11/64"], ["10.0.0.1/24", "fd00::1/64"], "peer address", "bridge b")
    with pytest.raises(ValidationError, match="not in the subnet of bridge b .10.0.0.0/24"):
        iproute.check_in_subnets(["10.0.1.11/24"], ["10.0.0.1/24"], "peer address", "bridge b")
    with pytest.raises(ValidationError, match="is the address of bridge b itself"):
        iproute.check_in_subnets(["10.0.0.1/24"], ["10.0.0.1/24"], "peer address", "bridge b")
    with pytest.raises(ValidationError, match="has no addresses"):
        iproute.check_in_subnets(["10.0.0.11/24"], [], "peer address", "bridge b")


# the runner ----------------------------------------------------------------------

def test_ip_runs_in_the_c_locale():
    module = FakeModule()
    iproute.Ip(module).netns_list()
    assert module.calls[0][3] == {"LC_ALL": "C"}


def test_ip_argv_and_netns():
    ip = iproute.Ip(FakeModule())
    assert ip.argv(["link", "show"]) == ["/sbin/ip", "link", "show"]
    assert ip.argv(["link", "set", "dev", "lo", "up"], "ns") == ["/sbin/ip", "-n", "ns", "link", "set", "dev", "lo", "up"]


def test_ip_check_mode_records_but_does_not_run_changes():
    module = FakeModule(check_mode=True)
    ip = iproute.Ip(module)
    assert ip.netns_list() == [{"name": "a"}]  # reads run even in check mode
    ip.apply([(None, ["link", "add", "dev", "b", "type", "bridge"])])
    assert ip.commands == [["/sbin/ip", "link", "add", "dev", "b", "type", "bridge"]]
    assert module.ran == [["/sbin/ip", "-json", "netns", "list"]]


def test_ip_runs_changes_outside_check_mode():
    module = FakeModule()
    ip = iproute.Ip(module)
    ip.change(["link", "del", "dev", "b"], "ns")
    assert module.ran == [["/sbin/ip", "-n", "ns", "link", "del", "dev", "b"]] == ip.commands


def test_ip_failure_reports_command_and_stderr():
    ip = iproute.Ip(FakeModule(rc=2))
    with pytest.raises(RuntimeError) as info:
        ip.change(["link", "del", "dev", "b"])
    failure = info.value.args[0]
    assert failure["rc"] == 2 and "Error: boom" in failure["msg"] and failure["cmd"][-1] == "b"
    assert failure["commands"] == [["/sbin/ip", "link", "del", "dev", "b"]]


def test_split_json_texts():
    assert iproute.split_json_texts('[{"a":1}]\n[]\n') == ['[{"a":1}]', "[]"]
    assert iproute.split_json_texts("") == []
    assert iproute.split_json_texts('[{"a":1}]\nCommand failed -:2\n') == []


def test_prefetch_reads_links_and_routes_of_a_namespace_in_one_batch():
    links, routes = '[{"ifname":"lo"}]', '[{"type":"unicast","dst":"default","gateway":"10.0.0.1","dev":"eth0"}]'
    module = FakeModule(out=links + "\n" + routes + "\n")
    ip = iproute.Ip(module, cache=True)
    ip.prefetch(["ns1"])
    assert module.calls == [(["/sbin/ip", "-n", "ns1", "-json", "-details", "-batch", "-"],
                             "address show\nroute show table main\n", True, {"LC_ALL": "C"})]
    # the two reads a pod needs come from the cache: no more commands
    assert ip.links("ns1") == [{"ifname": "lo"}] and ip.routes(4, "ns1")[0]["gateway"] == "10.0.0.1"
    ip.prefetch(["ns1"])
    assert len(module.ran) == 1
    # an IPv6 read, or another namespace, still runs its own command
    module.out = "[]"
    ip.routes(6, "ns1")
    assert module.ran[-1] == ["/sbin/ip", "-n", "ns1", "-json", "-6", "route", "show", "table", "main"]


def test_prefetch_leaves_a_failed_batch_to_the_ordinary_reads():
    module = FakeModule(out='[{"ifname":"lo"}]\n')  # one document for two commands: not used
    ip = iproute.Ip(module, cache=True)
    ip.prefetch(["ns1"])
    ip.links("ns1")
    assert module.ran[-1] == ["/sbin/ip", "-n", "ns1", "-json", "-details", "address", "show"]
    uncached = FakeModule()
    iproute.Ip(uncached).prefetch(["ns1"])
    assert uncached.ran == []


def test_a_cached_read_is_parsed_once_until_the_next_change(monkeypatch):
    # A hundred pods read the root namespace's links once each: parsing them every time made a run with
    # nothing to change grow with the square of the pods.
    parsed = []
    real = iproute.parse_json
    monkeypatch.setattr(iproute, "parse_json", lambda text: parsed.append(text) or real(text))
    module = FakeModule(out='[{"ifname":"lo"}]')
    ip = iproute.Ip(module, cache=True)
    assert ip.links() is ip.links() and len(parsed) == 1 and len(module.ran) == 1
    ip.change(["link", "set", "dev", "lo", "up"])
    assert ip.links() == [{"ifname": "lo"}] and len(parsed) == 2
    # without the cache every read runs and parses
    plain = iproute.Ip(FakeModule(out="[]"))
    plain.links()
    plain.links()
    assert len(parsed) == 4


def test_read_json_together_runs_each_uncached_read_once():
    module = FakeModule(out='[{"dst":"10.0.0.21"}]')
    ip = iproute.Ip(module, cache=True)
    ip.read_json(["neigh", "show", "dev", "a"], "ns1")
    reads = [(["neigh", "show", "dev", "a"], "ns1"), (["neigh", "show", "dev", "b"], "ns2"),
             (["neigh", "show", "dev", "b"], "ns2")]
    assert ip.read_json_together(reads) == [[{"dst": "10.0.0.21"}]] * 3
    # ns1's was cached, ns2's asked for twice: one command more (a single one runs through the module)
    assert module.ran == [["/sbin/ip", "-n", "ns1", "-json", "neigh", "show", "dev", "a"],
                          ["/sbin/ip", "-n", "ns2", "-json", "neigh", "show", "dev", "b"]]
    module.rc = 1
    with pytest.raises(RuntimeError) as info:
        ip.read_json_together([(["neigh", "show", "dev", "c"], "ns3")])
    assert info.value.args[0]["cmd"][-1] == "c" and "Error: boom" in info.value.args[0]["msg"]
