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


def case_lines(name, step="initial"):
    """Our normalised nft lines for a kube-proxy case's step."""
    case = next(c for c in kc.CASES if c["name"] == name)
    manifests = dict((label, m) for label, m, dummy, dummy2 in kc.steps(case))[step]
    return kc.nft_from_body(kc.render_nftables(case, manifests))


def test_internal_local_policy_sends_the_cluster_ip_to_the_local_chain():
    """kube-proxy's nftables proxier: service-ips leads to local-..., which masquerades; the NodePort to service-..."""
    lines = case_lines("TestInternalExternalMasquerade/base")
    local, cluster = "local-4AT6LBPK-ns3/svc3/tcp/p80", "service-4AT6LBPK-ns3/svc3/tcp/p80"
    here = "endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80"
    there = "endpoint-R4LU7R2F-ns3/svc3/tcp/p80__10.180.1.3/80"
    assert "element service-ips 172.30.0.43 . tcp . 80 : goto %s" % local in lines
    assert [line for line in lines if line.startswith("rule %s " % local)] == [
        "rule %s ip daddr 172.30.0.43 ip saddr != 10.0.0.0/8 jump mark-for-masquerade" % local,
        "rule %s numgen random mod 1 vmap { 0 : goto %s }" % (local, here)]
    assert [line for line in lines if line.startswith("rule %s " % cluster)] == [
        "rule %s numgen random mod 2 vmap { 0 : goto %s, 1 : goto %s }" % (cluster, here, there)]
    assert "rule external-4AT6LBPK-ns3/svc3/tcp/p80 goto %s" % cluster in lines


def test_internal_local_policy_without_a_local_endpoint_drops():
    name = "TestInternalTrafficPolicy/internalTrafficPolicy is local and there are no local endpoints"
    lines = case_lines(name)
    assert 'element no-endpoint-services 172.30.1.1 . tcp . 80 comment "ns1/svc1" : drop' in lines
    assert not [line for line in lines if line.startswith("chain ") and "ns1/svc1" in line]
    assert 'element no-endpoint-services 172.30.1.1 . tcp . 80 comment "ns1/svc1" : goto reject-chain' in \
        case_lines(name, "endpoints deleted")


def test_external_local_policy_sends_outside_traffic_to_the_local_chain():
    """kube-proxy's nftables proxier: external-... short-circuits pods and the node to service-..., the rest to local-..."""
    lines = case_lines("TestExternalTrafficPolicyLocal")
    external, cluster = "external-ULMVA6XW-ns1/svc1/tcp/p80", "service-ULMVA6XW-ns1/svc1/tcp/p80"
    local = "local-ULMVA6XW-ns1/svc1/tcp/p80"
    assert [line for line in lines if line.startswith("rule %s " % external)] == [
        'rule %s ip saddr 10.0.0.0/8 goto %s comment "short-circuit pod traffic"' % (external, cluster),
        'rule %s fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"' % external,
        'rule %s fib saddr type local goto %s comment "short-circuit local traffic"' % (external, cluster),
        "rule %s goto %s" % (external, local)]
    assert [line for line in lines if line.startswith("rule %s " % local)] == [
        "rule %s numgen random mod 1 vmap { 0 : goto endpoint-MLKSHPWN-ns1/svc1/tcp/p80__10.180.2.1/80 }" % local]
    assert "element service-nodeports tcp . 3001 : goto %s" % external in lines
    assert not [line for line in lines if line.startswith("element no-endpoint-")]


def test_external_local_policy_without_a_local_endpoint_drops():
    """TestOverallNFTablesRules' svc2: the short-circuits stay, nothing goes to local-..., the rest is dropped."""
    lines = kc.nft_from_body(kpn.render_kube_proxy(overall_records(), "10.0.0.0/8", "172.30.0.0/16", ["192.168.0.2"])[0])
    external = "external-42NFTM6N-ns2/svc2/tcp/p80"
    assert [line for line in lines if line.startswith("rule %s " % external)][-1] == (
        'rule %s fib saddr type local goto service-42NFTM6N-ns2/svc2/tcp/p80 comment "short-circuit local traffic"' % external)
    assert 'element no-endpoint-nodeports tcp . 3001 comment "ns2/svc2:p80" : drop' in lines
    assert 'element no-endpoint-services 192.168.99.22 . tcp . 80 comment "ns2/svc2:p80" : drop' in lines
    assert not [line for line in lines if "local-42NFTM6N" in line]


def test_a_load_balancer_without_endpoints_keeps_its_firewall():
    """kube-proxy's nftables mode writes the firewall chain and firewall-ips elements with or without endpoints
    (unlike its iptables mode); the load balancer IP itself is rejected in no-endpoint-services."""
    lb = kc.service("ns", "web", "10.96.0.5", type="LoadBalancer", loadBalancerSourceRanges=["203.0.113.0/25", "192.0.2.0/28"])
    lb["status"] = {"loadBalancer": {"ingress": [{"ip": "198.51.100.10"}]}}
    records = model.service_ports([lb], [], [])
    base = kpn.service_chain_base("ns", "web", "tcp", "p80")
    for node_ip, sources in ((None, "203.0.113.0/25, 192.0.2.0/28"), ("192.0.2.2", "203.0.113.0/25, 192.0.2.0/28, 198.51.100.10")):
        lines = kc.nft_from_body(kpn.render_kube_proxy(records, "10.0.0.0/8", "10.96.0.0/16", node_ip=node_ip)[0])
        assert "rule firewall-%s ip saddr != { %s } drop" % (base, sources) in lines, node_ip
        assert "element firewall-ips 198.51.100.10 . tcp . 80 : goto firewall-%s" % base in lines
        assert 'element no-endpoint-services 198.51.100.10 . tcp . 80 comment "ns/web:p80" : goto reject-chain' in lines
        assert not [line for line in lines if line.startswith("element service-ips 198.51.100.10 ")]


def rules_of(lines, chain):
    return [line[len("rule %s " % chain):] for line in lines if line.startswith("rule %s " % chain)]


def test_masquerade_all_masquerades_every_cluster_ip_connection():
    """kube-proxy's --masquerade-all: the chain cluster IP traffic takes first marks all of it, pods' too."""
    for name in ("TestInternalExternalMasquerade/masqueradeAll",
                 "TestInternalExternalMasquerade/masqueradeAll, no LocalTrafficDetector"):
        lines = case_lines(name)
        assert rules_of(lines, "service-ULMVA6XW-ns1/svc1/tcp/p80")[0] == "ip daddr 172.30.0.41 tcp dport 80 jump mark-for-masquerade"
        # internalTrafficPolicy Local: the cluster IP's chain is local-..., the rule goes there, not to service-...
        assert rules_of(lines, "local-4AT6LBPK-ns3/svc3/tcp/p80")[0] == "ip daddr 172.30.0.43 tcp dport 80 jump mark-for-masquerade"
        assert not [rule for rule in rules_of(lines, "service-4AT6LBPK-ns3/svc3/tcp/p80") if "mark-for-masquerade" in rule]
        assert not [line for line in lines if "ip saddr != " in line]


def test_without_a_cluster_cidr_no_rule_tells_local_traffic():
    """kube-proxy without a local traffic detector: no masquerade for outside clients of a cluster IP, and pods
    reaching an externalTrafficPolicy Local Service's node port are not short-circuited to every endpoint."""
    lines = case_lines("TestInternalExternalMasquerade/no LocalTrafficDetector")
    assert not [line for line in lines if "10.0.0.0/8" in line]
    assert [rule.split(" vmap ")[0] for rule in rules_of(lines, "service-ULMVA6XW-ns1/svc1/tcp/p80")] == [
        "numgen random mod 2"]
    assert rules_of(lines, "external-42NFTM6N-ns2/svc2/tcp/p80") == [
        'fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"',
        'fib saddr type local goto service-42NFTM6N-ns2/svc2/tcp/p80 comment "short-circuit local traffic"',
        "goto local-42NFTM6N-ns2/svc2/tcp/p80"]
    # The same Services with the detector keep both rules (the base sub-test).
    base = case_lines("TestInternalExternalMasquerade/base")
    assert rules_of(base, "service-ULMVA6XW-ns1/svc1/tcp/p80")[0] == \
        "ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade"
    assert rules_of(base, "external-42NFTM6N-ns2/svc2/tcp/p80")[0] == \
        'ip saddr 10.0.0.0/8 goto service-42NFTM6N-ns2/svc2/tcp/p80 comment "short-circuit pod traffic"'
