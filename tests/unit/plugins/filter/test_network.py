# SPDX-License-Identifier: GPL-3.0-or-later
"""The network filter: the pod CIDR the tutorial masquerades, derived from the bridge's address."""
import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.k8slab.kube_proxy.plugins.filter.network import FilterModule, interface_network


@pytest.mark.parametrize("address, network", [
    ("10.0.0.1/24", "10.0.0.0/24"),      # the tutorial's bridge_eden
    ("10.0.0.0/24", "10.0.0.0/24"),      # already a network
    ("172.16.5.1/16", "172.16.0.0/16"),
    ("192.168.7.9/32", "192.168.7.9/32"),
    (" 10.1.2.3/8 ", "10.0.0.0/8"),
    ("fd00:10::1/64", "fd00:10::/64"),
])
def test_network_of_an_interface_address(address, network):
    assert interface_network(address) == network


@pytest.mark.parametrize("address", ["10.0.0.1", "10.0.0.1/33", "bridge_eden/24", "", None, 24, ["10.0.0.1/24"]])
def test_rejects_what_is_not_an_address_with_prefix(address):
    with pytest.raises(ValueError, match="not an address with a prefix length"):
        interface_network(address)


def test_filter_is_registered_and_raises_filter_errors():
    network = FilterModule().filters()["network"]
    assert network("10.0.0.1/24") == "10.0.0.0/24"
    with pytest.raises(AnsibleFilterError, match="'10.0.0.1' is not an address with a prefix length"):
        network("10.0.0.1")


def test_says_what_to_install_without_netaddr(monkeypatch):
    from ansible_collections.k8slab.kube_proxy.plugins.filter import network
    monkeypatch.setattr(network, "netaddr", None)
    with pytest.raises(AnsibleFilterError, match=r"need the netaddr Python library .*pip install netaddr"):
        FilterModule().filters()["network"]("10.0.0.1/24")
