# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""kube-proxy's nftables layout (names, counters) and the tutorial layout.

The whole-ruleset comparison against kube-proxy's TestOverallNFTablesRules, with the one
DIFFERENCES list, is in test_kube_proxy_cases.py over tests/data/kube_proxy_cases.
"""

from __future__ import annotations

import pytest

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import kube_proxy_nftables as kpn
from ansible_collections.k8slab.kube_proxy.plugins.module_utils import service_model as model
from ansible_collections.k8slab.kube_proxy.tests.unit.plugins.module_utils import kube_proxy_cases as kc


def overall_records():
    services, slices = model.split_manifests(kc.adapt("TestOverallRules", kc.OVERALL["manifests"]))
    return model.service_ports(services, slices, [])


def test_names_are_kube_proxys():
    assert kpn.service_chain_base("ns1", "svc1", "TCP", "p80") == "ULMVA6XW-ns1/svc1/tcp/p80"
    assert kpn.endpoint_chain_base("ns1", "svc1", "tcp", "p80", "10.180.0.1", 80) == \
        "5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"
    long_name = kpn.hash_and_truncate("x" * 300)
    assert len(long_name) == 240 and long_name.endswith("...")


def test_kube_proxy_layout_counters_name_every_endpoint():
    body, counters = kpn.render_kube_proxy(overall_records(), "10.0.0.0/8", "172.30.0.0/16", counters=True)
    assert counters["endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"] == "ns1/svc1:p80"
    assert len(counters) == 6  # svc1, svc2, svc3, svc4 (two), svc5
    assert ("\tcounter name endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 meta l4proto tcp dnat to 10.180.0.1:80"
            in body.splitlines())
    assert "counter endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 {" in body.splitlines()


# The tutorial layout from the service_chains plan of the tutorial's Service (eve first, as the tutorial inserts her).
TUTORIAL_SERVICES = [{
    "key": "default/app-service:8080", "cluster_ip": "10.96.0.1", "port": 8080, "protocol": "TCP",
    "chain": "EDEN-SVC-HTTP",
    "endpoints": [{"pod": "eve", "address": "10.0.0.21", "port": 8080, "chain": "EVE-HTTP"},
                  {"pod": "adam", "address": "10.0.0.11", "port": 8080, "chain": "ADAM-HTTP"}],
}, {
    "key": "default/lonely:80", "cluster_ip": "10.96.0.9", "port": 80, "protocol": "TCP", "chain": None,
    "endpoints": [],
}]

TUTORIAL_EXPECTED = """\
map service-ips {
\ttype ipv4_addr . inet_proto . inet_service : verdict
\telements = { 10.96.0.1 . tcp . 8080 : goto EDEN-SVC-HTTP }
}
chain nat-prerouting {
\ttype nat hook prerouting priority dstnat; policy accept;
\tip daddr . meta l4proto . th dport vmap @service-ips
}
chain nat-output {
\ttype nat hook output priority -100; policy accept;
\tip daddr . meta l4proto . th dport vmap @service-ips
}
chain EDEN-SVC-HTTP {
\tnumgen random mod 2 vmap { 0 : goto EVE-HTTP, 1 : goto ADAM-HTTP }
}
chain EVE-HTTP {
\tmeta l4proto tcp dnat to 10.0.0.21:8080
}
chain ADAM-HTTP {
\tmeta l4proto tcp dnat to 10.0.0.11:8080
}
"""


def test_tutorial_layout_is_the_tutorials_chains_as_a_map_and_numgen():
    body, counters = kpn.render_tutorial(TUTORIAL_SERVICES, counters=False)
    assert body == TUTORIAL_EXPECTED
    assert counters == {}


def test_tutorial_layout_with_counters():
    body, counters = kpn.render_tutorial(TUTORIAL_SERVICES)
    assert counters == {"EVE-HTTP": "default/app-service:8080", "ADAM-HTTP": "default/app-service:8080"}
    lines = body.splitlines()
    assert lines[:4] == ["counter ADAM-HTTP {", "}", "counter EVE-HTTP {", "}"]
    assert "\tcounter name EVE-HTTP meta l4proto tcp dnat to 10.0.0.21:8080" in lines


def test_tutorial_layout_without_services_is_an_empty_map():
    body, dummy = kpn.render_tutorial([], counters=False)
    assert body.startswith("map service-ips {\n\ttype ipv4_addr . inet_proto . inet_service : verdict\n}\n")


@pytest.mark.parametrize("count", [1, 3, 5])
def test_numgen_has_one_slot_per_endpoint(count):
    targets = ["ep%d" % index for index in range(count)]
    text = kpn._vmap_pick(targets)  # pylint: disable=protected-access
    assert text.startswith("numgen random mod %d vmap {" % count)
    assert text.count("goto") == count
