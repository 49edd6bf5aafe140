# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The proxier's nftables table: the tutorial's plan to the body of table ip kube-proxy, and the option checks."""

from __future__ import annotations

import pytest


from ansible_collections.k8slab.kube_proxy.plugins.module_utils import proxier
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.service_chains import plan_service_chains
from ansible_collections.k8slab.kube_proxy.plugins.filter.pods import FilterModule as Pods

SERVICES = [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "app-service"},
             "spec": {"clusterIP": "10.96.0.1", "selector": {"component": "app"},
                      "ports": [{"protocol": "TCP", "port": 8080, "targetPort": 8080}]}}]
PODS = [{"name": "adam", "address": "10.0.0.11", "labels": {"component": "app"}},
        {"name": "eve", "address": "10.0.0.21", "labels": {"component": "app"}}]


def records():
    return Pods().filters()["pods"](PODS, "10.0.0.1/24")


def test_tutorial_plan_gives_the_tutorials_chain_names():
    plan = plan_service_chains(SERVICES, records())
    content, counters = proxier.render_nft("tutorial", plan, proxier.check_options("tutorial", "nftables", {}))
    table = {"content": content, "counters": counters}
    assert "elements = { 10.96.0.1 . tcp . 8080 : goto EDEN-SVC-HTTP }" in table["content"]
    assert "numgen random mod 2 vmap { 0 : goto EVE-HTTP, 1 : goto ADAM-HTTP }" in table["content"]
    assert table["counters"] == {"EVE-HTTP": "default/app-service:8080", "ADAM-HTTP": "default/app-service:8080"}


@pytest.mark.parametrize("kwargs, message", [
    ({"layout": "ipvs"}, "layout"),
    ({"layout": "kube-proxy"}, "cluster_cidr"),
    ({"layout": "kube-proxy", "cluster_cidr": "10.0.0.0/24", "nodeport_addresses": ["nope"]}, "nodeport address"),
    ({"layout": "kube-proxy", "backend": "iptables", "cluster_cidr": "10.0.0.0/24", "nodeport_addresses": ["10.0.0.0/24"]},
     "nodeport address '10.0.0.0/24' is not an IPv4 address"),
    ({"layout": "kube-proxy", "backend": "iptables", "cluster_cidr": "10.0.0.0/24", "nodeport_addresses": ["127.0.0.1"]},
     "127.0.0.1 is a loopback address"),
    ({"layout": "kube-proxy", "cluster_cidr": "bad"}, "not a CIDR"),
    ({"layout": "kube-proxy", "cluster_cidr": "10.0.0.0/24", "service_cidr": "bad"}, "service_cidr 'bad' is not a CIDR"),
    ({"layout": "kube-proxy", "cluster_cidr": "10.0.0.0/24", "node_ip": "192.0.2"}, "node_ip '192.0.2' is not an IPv4 address"),
    ({"layout": "kube-proxy", "cluster_cidr": "10.0.0.0/24", "node_ip": "fd00::2"}, "node_ip 'fd00::2' is not an IPv4"),
    ({"backend": "ipvs"}, "backend"),
    ({"jump_position": "middle"}, "jump_position"),
])
def test_bad_arguments(kwargs, message):
    layout, backend = kwargs.pop("layout", "tutorial"), kwargs.pop("backend", "nftables")
    with pytest.raises(proxier.ModelError, match=message):
        proxier.check_options(layout, backend, kwargs)


@pytest.mark.parametrize("backend, rule", [
    ("nftables", "\tip daddr 10.96.0.1 tcp dport 8080 jump mark-for-masquerade"),
    ("iptables", '-m comment --comment "default/app-service cluster IP" -m tcp -p tcp -d 10.96.0.1 --dport 8080 '
                 "-j KUBE-MARK-MASQ"),
])
def test_masquerade_all_is_one_option_for_both_backends(backend, rule):
    """The kube-proxy layout's masquerade_all reaches either renderer: all cluster IP traffic is marked."""
    def rules(**options):
        rendered = proxier.render("kube-proxy", backend, SERVICES, [], records(),
                                  proxier.check_options("kube-proxy", backend, dict(cluster_cidr="10.0.0.0/24", **options)))
        if backend == "nftables":
            return rendered["nft"].splitlines()
        return [r for chain in rendered["iptables"]["nat"][0] for r in chain["rules"]]
    assert rule in rules(masquerade_all=True)
    assert rule not in rules() and rule not in rules(masquerade_all=False)
