# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The filters' address arithmetic with netaddr: it accepts and rejects what ipaddress (the modules') does."""

import ipaddress

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.k8slab.kube_proxy.plugins.filter.cluster import FilterModule as Cluster
from ansible_collections.k8slab.kube_proxy.plugins.filter.lab_model import FilterModule as LabModel
from ansible_collections.k8slab.kube_proxy.plugins.filter.pods import FilterModule as Pods
from ansible_collections.k8slab.kube_proxy.plugins.plugin_utils import addresses

TEXTS = ["10.0.0.1", " 10.0.0.1 ", "10.1", "010.0.0.1", "10.0.0.256", "1.2.3.4.5", "::1", "fd00:10::1", "10.0.0.1/24",
         "", " ", "eve", "0x0a000001"]


def stdlib(parse, text):
    try:
        return str(parse(text.strip()))
    except ValueError:
        return None


def ours(parse, text, **args):
    try:
        return str(parse(text, **args))
    except ValueError:
        return None


@pytest.mark.parametrize("text", TEXTS)
def test_addresses_as_the_modules_read_them(text):
    assert ours(addresses.ip_address, text) == stdlib(ipaddress.ip_address, text)


@pytest.mark.parametrize("text", TEXTS + ["10.0.0.0/24", "10.0.0.1/16", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x",
                                          "fd00::/64", "fd00::1/64", "10.0.0.0/08"])
def test_networks_as_the_modules_read_them(text):
    assert ours(addresses.ip_network, text) == stdlib(ipaddress.ip_network, text)
    assert ours(addresses.ip_network, text, strict=False) == stdlib(
        lambda value: ipaddress.ip_network(value, strict=False), text)


def test_interfaces_keep_their_address_and_network():
    bridge = addresses.ip_interface("10.0.1.1/24")
    assert (str(bridge), str(bridge.ip), str(bridge.cidr)) == ("10.0.1.1/24", "10.0.1.1", "10.0.1.0/24")
    assert addresses.is_host_address(bridge.ip, bridge.cidr)
    assert not addresses.is_host_address(addresses.ip_address("10.0.1.255"), bridge.cidr)
    assert not addresses.is_host_address(addresses.ip_address("10.0.2.1"), bridge.cidr)


@pytest.mark.parametrize("first, second, expected", [
    ("10.0.0.0/24", "10.0.0.128/25", True), ("10.0.0.0/24", "10.0.1.0/24", False),
    ("10.0.0.0/16", "10.0.255.0/24", True), ("10.0.0.0/24", "::/0", False)])
def test_overlaps(first, second, expected):
    one, other = addresses.ip_network(first), addresses.ip_network(second)
    assert addresses.overlaps(one, other) is addresses.overlaps(other, one) is expected


@pytest.mark.parametrize("call", [
    lambda: Pods().filters()["pods"]([{"name": "adam", "address": "10.0.0.11"}], "10.0.0.1/24"),
    lambda: Cluster().filters()["cluster"]([], "node1", [{"name": "node1", "bridge_address": "10.0.1.1/24",
                                                          "address": "192.0.2.11"}], cluster_cidr="10.0.0.0/16"),
    lambda: LabModel().filters()["lab_model"]([{"name": "adam", "address": "10.0.0.11"}], "10.0.0.1/24"),
], ids=["pods", "cluster", "lab_model"])
def test_every_filter_says_what_to_install_without_netaddr(monkeypatch, call):
    call()  # fine with netaddr
    monkeypatch.setattr(addresses, "netaddr", None)
    with pytest.raises(AnsibleFilterError, match=r"need the netaddr Python library on the controller \(pip install netaddr\)"):
        call()


REPO = __file__.rsplit("/tests/unit/", 1)[0]


def imports(path):
    import ast
    with open(path) as handle:
        tree = ast.parse(handle.read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def test_netaddr_on_the_controller_only_and_declared_there():
    import glob
    controller = glob.glob(REPO + "/plugins/filter/*.py") + glob.glob(REPO + "/plugins/plugin_utils/*.py")
    node = glob.glob(REPO + "/plugins/modules/*.py") + glob.glob(REPO + "/plugins/module_utils/*.py")
    assert controller and node
    assert [path for path in controller if "ipaddress" in imports(path)] == [], "filters use netaddr, not ipaddress"
    assert [path for path in node if "netaddr" in imports(path)] == [], "nodes need no extra package: keep ipaddress"
    for declared in ("requirements.txt", "constraints.txt", "tests/unit/requirements.txt"):
        with open("%s/%s" % (REPO, declared)) as handle:
            assert any(line.split("#")[0].strip().startswith("netaddr") for line in handle), declared
