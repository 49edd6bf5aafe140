# SPDX-License-Identifier: GPL-3.0-or-later
"""The pods filter: the tutorial's names by default, clear errors on bad pod lists."""
import pytest

from ansible_collections.k8slab.kube_proxy.plugins.filter.pods import complete_pods

TUTORIAL = [
    {"name": "adam", "address": "10.0.0.11", "labels": {"component": "app"}},
    {"name": "eve", "address": "10.0.0.21", "labels": {"component": "app"}},
]


def test_tutorial_names():
    adam, eve = complete_pods(TUTORIAL, "10.0.0.1/24")
    assert adam == {
        "name": "adam", "netns": "netns_adam", "host_veth": "veth_adam", "pod_veth": "veth_ns_adam",
        "address": "10.0.0.11", "cidr": "10.0.0.11/24", "gateway": "10.0.0.1",
        "labels": {"component": "app"}, "nameservers": ["8.8.8.8"],
    }
    assert (eve["netns"], eve["cidr"]) == ("netns_eve", "10.0.0.21/24")


def test_overrides_are_kept():
    pod = complete_pods([{"name": "a", "address": "10.1.0.5/16", "netns": "pod-a", "host_veth": "h-a",
                          "pod_veth": "eth0", "nameservers": ["192.0.2.53"]}], "10.1.0.1/16")[0]
    assert (pod["netns"], pod["host_veth"], pod["pod_veth"], pod["cidr"], pod["nameservers"]) == \
        ("pod-a", "h-a", "eth0", "10.1.0.5/16", ["192.0.2.53"])


@pytest.mark.parametrize("pods, bridge, message", [
    ([{"name": "a"}], "10.0.0.1/24", "needs at least a name and an address"),
    ([{"name": "a", "address": "nope"}], "10.0.0.1/24", "is not an IPv4 address"),
    ([{"name": "a", "address": "10.0.1.5"}], "10.0.0.1/24", "outside the bridge's subnet"),
    ([{"name": "a", "address": "10.0.0.1"}], "10.0.0.1/24", "the bridge's own address"),
    ([{"name": "a", "address": "10.0.0.255"}], "10.0.0.1/24", "not a host address"),
    ([{"name": "a", "address": "10.0.0.2"}, {"name": "a", "address": "10.0.0.3"}], "10.0.0.1/24", "share the name"),
    ([{"name": "a", "address": "10.0.0.2"}, {"name": "b", "address": "10.0.0.2"}], "10.0.0.1/24", "share the address"),
    ([{"name": "averyveryverylongname", "address": "10.0.0.2"}], "10.0.0.1/24", "1 to 15"),
    ([{"name": "a", "address": "10.0.0.2"}], "10.0.0.1", "must be an IPv4 address with a prefix length"),
    ("adam", "10.0.0.1/24", "must be a list"),
    ([], "garbage", "must be an IPv4 address with a prefix length"),
])
def test_bad_input(pods, bridge, message):
    with pytest.raises(ValueError, match=message):
        complete_pods(pods, bridge)
