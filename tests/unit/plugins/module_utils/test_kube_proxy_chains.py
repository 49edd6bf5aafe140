# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""kube-proxy's iptables layout (plan_kube_proxy_chains): the tutorial's Service in kube-proxy's layout."""

from __future__ import annotations

import pytest

from ansible_collections.k8slab.kube_proxy.plugins.module_utils.kube_proxy_iptables import plan_kube_proxy_chains
from ansible_collections.k8slab.kube_proxy.plugins.filter.pods import complete_pods

PODS = complete_pods([{"name": "adam", "address": "10.0.0.11", "labels": {"component": "app"}},
                      {"name": "eve", "address": "10.0.0.21", "labels": {"component": "app"}}], "10.0.0.1/24")
APP = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "app-service"},
       "spec": {"clusterIP": "10.96.0.1", "selector": {"component": "app"},
                "ports": [{"protocol": "TCP", "port": 8080, "targetPort": 8080}]}}

# The tutorial's Service as kube-proxy writes it (the nat chains this role owns).
TUTORIAL_NAT = {
    "KUBE-SERVICES": [
        '-m comment --comment "default/app-service cluster IP" -m tcp -p tcp -d 10.96.0.1 --dport 8080 -j KUBE-SVC-HVXLY56DFZMBQN5Y',
        '-m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain"'
        " -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS",
    ],
    "KUBE-NODEPORTS": [],
    "KUBE-POSTROUTING": [
        "-m mark ! --mark 0x4000/0x4000 -j RETURN",
        "-j MARK --xor-mark 0x4000",
        '-m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
    ],
    "KUBE-MARK-MASQ": ["-j MARK --or-mark 0x4000"],
    "KUBE-SVC-HVXLY56DFZMBQN5Y": [
        '-m comment --comment "default/app-service cluster IP" -m tcp -p tcp -d 10.96.0.1 --dport 8080 ! -s 10.0.0.0/24 -j KUBE-MARK-MASQ',
        '-m comment --comment "default/app-service -> 10.0.0.11:8080" -m statistic --mode random --probability 0.5000000000'
        " -j KUBE-SEP-Y6RXPI7VCORRZNBW",
        '-m comment --comment "default/app-service -> 10.0.0.21:8080" -j KUBE-SEP-65DFG7ZGVZ6ECG2K',
    ],
    "KUBE-SEP-Y6RXPI7VCORRZNBW": [
        "-m comment --comment default/app-service -s 10.0.0.11 -j KUBE-MARK-MASQ",
        "-m comment --comment default/app-service -m tcp -p tcp -j DNAT --to-destination 10.0.0.11:8080",
    ],
    "KUBE-SEP-65DFG7ZGVZ6ECG2K": [
        "-m comment --comment default/app-service -s 10.0.0.21 -j KUBE-MARK-MASQ",
        "-m comment --comment default/app-service -m tcp -p tcp -j DNAT --to-destination 10.0.0.21:8080",
    ],
}


def test_tutorial_service_in_kube_proxys_layout():
    plan = plan_kube_proxy_chains([APP], PODS, cluster_cidr="10.0.0.0/24")
    assert dict((c["name"], c["rules"]) for c in plan["nat"]["chains"]) == TUTORIAL_NAT
    [record] = plan["services"]
    assert record["chain"] == "KUBE-SVC-HVXLY56DFZMBQN5Y"
    assert [(e["pod"], e["netns"], e["probability"], e["share"]) for e in record["endpoints"]] == [
        ("adam", "netns_adam", "0.5000000000", 0.5), ("eve", "netns_eve", None, 0.5)]
    assert plan["endpoints"] == {"default/app-service": ["adam", "eve"]}
    assert plan["warnings"] == []


def test_a_service_without_endpoints_is_rejected_and_warned_about():
    lonely = {"metadata": {"name": "lonely"},
              "spec": {"clusterIP": "10.96.0.9", "selector": {"component": "none"}, "ports": [{"port": 80}]}}
    plan = plan_kube_proxy_chains([APP, lonely], PODS, cluster_cidr="10.0.0.0/24")
    filter_chains = dict((c["name"], c["rules"]) for c in plan["filter"]["chains"])
    assert filter_chains["KUBE-SERVICES"] == [
        '-m comment --comment "default/lonely has no endpoints" -m tcp -p tcp -d 10.96.0.9 --dport 80 -j REJECT']
    assert len(plan["warnings"]) == 1 and "default/lonely" in plan["warnings"][0]


def test_endpoint_slices_come_in_a_separate_list():
    headless_app = dict(APP, spec=dict(APP["spec"], selector=None))
    endpoint_slice = {"kind": "EndpointSlice", "addressType": "IPv4",
                      "metadata": {"name": "app-1", "labels": {"kubernetes.io/service-name": "app-service"}},
                      "endpoints": [{"addresses": ["10.0.0.21"]}], "ports": [{"name": "", "port": 8080}]}
    plan = plan_kube_proxy_chains([headless_app], PODS, endpoint_slices=[endpoint_slice])
    assert plan["endpoints"] == {"default/app-service": ["eve"]}


@pytest.mark.parametrize("kwargs, message", [
    ({"cluster_cidr": "10.0.0/33"}, "not a CIDR"),
    ({"pods": [{"name": "adam"}]}, "complete pod record"),
])
def test_bad_input_is_refused(kwargs, message):
    pods = kwargs.pop("pods", PODS)
    with pytest.raises(ValueError, match=message):
        plan_kube_proxy_chains([APP], pods, **kwargs)
