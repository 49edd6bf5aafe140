# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""kube-proxy's iptables layout: single rules, one per feature, and the renderer's own guarantees.

The whole-ruleset comparisons against kube-proxy's own tests (TestOverallIPTablesRules and the
others), with the one DIFFERENCES list, are in test_kube_proxy_cases.py over
tests/data/kube_proxy_cases. The Services here are those of its TestOverallRules case. kube-proxy's cases with
internalTrafficPolicy Local, and those with externalTrafficPolicy Local and an endpoint on this
node, hold packet flows only, no ruleset, so the rules for them are held here against the text
proxier.go writes.
"""

from __future__ import annotations

import re

import pytest

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import kube_proxy_iptables as kpi
from ansible_collections.k8slab.kube_proxy.plugins.module_utils import service_model as model
from ansible_collections.k8slab.kube_proxy.tests.unit.plugins.module_utils import kube_proxy_cases as kc
from ansible_collections.k8slab.kube_proxy.tests.unit.plugins.module_utils.kube_proxy_cases import endpoint_slice, service

OVERALL_SERVICES, OVERALL_SLICES = model.split_manifests(kc.adapt("TestOverallRules", kc.OVERALL["manifests"]))


def render_overall(**kwargs):
    records = model.service_ports(OVERALL_SERVICES, OVERALL_SLICES, [])
    options = dict(cluster_cidr="10.0.0.0/8", random_fully=False, localhost_nodeports=True)
    options.update(kwargs)
    return kpi.render(records, **options)


def rendered_text(result):
    return "".join(kpi.restore_text(name, result[name]) for name in ("filter", "nat"))


CASES = [
    # ClusterIP: the portal, the masquerade of traffic from outside the cluster CIDR, the pick.
    '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O',
    # Hairpin: an endpoint reaching itself through its Service is masqueraded.
    "-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ",
    # Several endpoints: 1/2, then the rest.
    '-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.4:80" '
    "-m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-UKSFD7AGPMPPLUHC",
    # NodePort.
    "-A KUBE-NODEPORTS -m comment --comment ns3/svc3:p80 -m tcp -p tcp --dport 3003 -j KUBE-EXT-X27LE4BHSL4DOUIK",
    # Session affinity.
    '-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" '
    "-m recent --name KUBE-SEP-I77PXRDZVX7PMWMN --rcheck --seconds 10800 --reap -j KUBE-SEP-I77PXRDZVX7PMWMN",
    # No endpoints: rejected at once.
    '-A KUBE-SERVICES -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.46 --dport 80 -j REJECT',
]


@pytest.mark.parametrize("line", CASES)
def test_each_kube_proxy_case_is_rendered(line):
    """One line per case, so a failure names the feature that broke."""
    assert line in rendered_text(render_overall()).splitlines()


def test_the_differences_leave_kube_proxys_expected_ruleset_whole():
    """TestOverallRules' expectation is compared as kube-proxy wrote it: no DIFFERENCES entry drops or rewrites a line of it."""
    expected = kc.OVERALL["expected"]["iptables"].splitlines()
    assert kc.apply_differences(expected, "iptables", "expected", "TestOverallRules") == expected


def test_lab_defaults_masquerade_randomly_and_keep_nodeports_off_localhost():
    result = render_overall(random_fully=True, localhost_nodeports=False)
    nat = kpi.restore_text("nat", result["nat"])
    assert '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully' in nat
    assert ('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain"'
            " -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS") in nat
    assert nat.splitlines()[-2].endswith("-j KUBE-SEP-SXIVWICOYRO3J4NJ") or "KUBE-NODEPORTS" in nat


def test_nodeports_jump_is_the_last_rule_of_kube_services():
    chains = dict((c["name"], c["rules"]) for c in render_overall()["nat"]["chains"])
    assert chains["KUBE-SERVICES"][-1].endswith("-j KUBE-NODEPORTS")
    assert "must be the last rule" in chains["KUBE-SERVICES"][-1]


def test_three_endpoints_get_one_third_then_one_half():
    services = [service("ns1", "svc1", "172.30.0.41")]
    slices = [endpoint_slice("ns1", "svc1", ["10.180.0.3", "10.180.0.1", "10.180.0.2"])]
    chains = dict((c["name"], c["rules"]) for c in kpi.render(model.service_ports(services, slices))["nat"]["chains"])
    picks = chains["KUBE-SVC-XPGD46QRK7WJZT7O"]
    assert [re.search(r"--probability (\S+)", r).group(1) if "--probability" in r else None for r in picks] == \
        ["0.3333333333", "0.5000000000", None]
    # Sorted by ip:port, as kube-proxy sorts a service port's endpoints.
    assert [re.search(r'-> ([0-9.:]+)"', r).group(1) for r in picks] == ["10.180.0.1:80", "10.180.0.2:80", "10.180.0.3:80"]


def test_no_cluster_cidr_no_masquerade_rule():
    chains = dict((c["name"], c["rules"]) for c in render_overall(cluster_cidr=None)["nat"]["chains"])
    assert not any("KUBE-MARK-MASQ" in r for r in chains["KUBE-SVC-XPGD46QRK7WJZT7O"])


def test_adding_a_service_renames_nothing():
    before = render_overall()
    records = model.service_ports(OVERALL_SERVICES + [service("ns0", "svc0", "172.30.0.40")],
                                  OVERALL_SLICES + [endpoint_slice("ns0", "svc0", ["10.180.0.9"])])
    after = kpi.render(records, cluster_cidr="10.0.0.0/8", random_fully=False, localhost_nodeports=True)
    names_before = set(c["name"] for c in before["nat"]["chains"])
    names_after = set(c["name"] for c in after["nat"]["chains"])
    assert names_before < names_after
    rules_before = dict((c["name"], c["rules"]) for c in before["nat"]["chains"])
    rules_after = dict((c["name"], c["rules"]) for c in after["nat"]["chains"])
    for name in names_before - {"KUBE-SERVICES"}:
        assert rules_before[name] == rules_after[name]


def test_jumps_sit_first_in_the_builtin_chains():
    result = render_overall()
    assert result["nat"]["builtin_rules"][0] == {
        "chain": "PREROUTING", "rule": '-m comment --comment "kubernetes service portals" -j KUBE-SERVICES', "position": "first"}
    assert all(r["position"] == "first" for r in result["filter"]["builtin_rules"])
    assert {r["chain"] for r in result["filter"]["builtin_rules"]} == {"INPUT", "FORWARD", "OUTPUT"}


def test_paths_list_the_chains_a_packet_passes():
    paths = render_overall()["paths"]
    assert paths["ns3/svc3:p80"] == ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-EXT-X27LE4BHSL4DOUIK",
                                     "KUBE-SVC-X27LE4BHSL4DOUIK", "KUBE-SEP-OYPFS5VJICHGATKP"]
    assert paths["ns6/svc6:p80"] == []


def case_chains(name, step="initial"):
    """{table/chain: rules} of our rendering of a kube-proxy case's step."""
    case = next(c for c in kc.CASES if c["name"] == name)
    manifests = dict((label, m) for label, m, dummy, dummy2 in kc.steps(case))[step]
    result = kpi.render(kc.records(case, manifests), cluster_cidr=case["cluster_cidr"], random_fully=False)
    return dict(("%s/%s" % (table, c["name"]), c["rules"]) for table in ("nat", "filter") for c in result[table]["chains"])


def test_internal_local_policy_sends_the_cluster_ip_to_this_nodes_endpoints():
    """kube-proxy: the cluster IP jumps to KUBE-SVL-..., which masquerades; NodePort traffic still takes KUBE-SVC-..."""
    chains = case_chains("TestInternalExternalMasquerade/base")
    svl, svc = "KUBE-SVL-X27LE4BHSL4DOUIK", "KUBE-SVC-X27LE4BHSL4DOUIK"
    assert ('-m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 -j ' + svl
            in chains["nat/KUBE-SERVICES"])
    assert chains["nat/" + svl] == [
        '-m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ',
        '-m comment --comment "ns3/svc3:p80 -> 10.180.0.3:80" -j KUBE-SEP-OYPFS5VJICHGATKP']
    assert chains["nat/" + svc] == [
        '-m comment --comment "ns3/svc3:p80 -> 10.180.0.3:80" -m statistic --mode random --probability 0.5000000000 '
        "-j KUBE-SEP-OYPFS5VJICHGATKP",
        '-m comment --comment "ns3/svc3:p80 -> 10.180.1.3:80" -j KUBE-SEP-3PCRBPAMK2XLAIHQ']
    assert chains["nat/KUBE-EXT-X27LE4BHSL4DOUIK"][-1] == "-j " + svc


def test_internal_local_policy_without_a_local_endpoint_drops():
    """kube-proxy: no KUBE-SVL-... and no KUBE-SVC-... (nothing external); filter KUBE-SERVICES drops, as it says."""
    chains = case_chains("TestInternalTrafficPolicy/internalTrafficPolicy is local and there are no local endpoints")
    assert chains["filter/KUBE-SERVICES"] == [
        '-m comment --comment "ns1/svc1 has no local endpoints" -m tcp -p tcp -d 172.30.1.1 --dport 80 -j DROP']
    assert not [name for name in chains if name.startswith("nat/KUBE-S") and name != "nat/KUBE-SERVICES"]
    chains = case_chains("TestInternalTrafficPolicy/internalTrafficPolicy is local and there are no local endpoints",
                         "endpoints deleted")
    assert chains["filter/KUBE-SERVICES"] == [
        '-m comment --comment "ns1/svc1 has no endpoints" -m tcp -p tcp -d 172.30.1.1 --dport 80 -j REJECT']


def test_internal_local_policy_alone_writes_no_cluster_chain():
    chains = case_chains("TestInternalTrafficPolicy/internalTrafficPolicy is local and there are multiple local endpoints")
    assert [name for name in chains if "KUBE-SV" in name] == ["nat/KUBE-SVL-AQI2S6QIMU7PVVRP"]
    assert len([name for name in chains if name.startswith("nat/KUBE-SEP-")]) == 2


EXT_LOCAL = "KUBE-EXT-XPGD46QRK7WJZT7O"


def test_external_local_policy_sends_outside_traffic_to_this_nodes_endpoints():
    """kube-proxy: KUBE-EXT-... short-circuits pods and the node (masqueraded) to KUBE-SVC-..., the rest to KUBE-SVL-..."""
    chains = case_chains("TestExternalTrafficPolicyLocal")
    svc, svl = "KUBE-SVC-XPGD46QRK7WJZT7O", "KUBE-SVL-XPGD46QRK7WJZT7O"
    assert chains["nat/" + EXT_LOCAL] == [
        '-m comment --comment "pod traffic for ns1/svc1:p80 external destinations" -s 10.0.0.0/8 -j ' + svc,
        '-m comment --comment "masquerade LOCAL traffic for ns1/svc1:p80 external destinations" -m addrtype --src-type LOCAL '
        "-j KUBE-MARK-MASQ",
        '-m comment --comment "route LOCAL traffic for ns1/svc1:p80 external destinations" -m addrtype --src-type LOCAL -j ' + svc,
        "-j " + svl]
    assert chains["nat/" + svl] == ['-m comment --comment "ns1/svc1:p80 -> 10.180.2.1:80" -j KUBE-SEP-ZX7GRIZKSNUQ3LAJ']
    assert len(chains["nat/" + svc]) == 3  # the cluster IP's masquerade, then both endpoints
    assert chains["filter/KUBE-EXTERNAL-SERVICES"] == []
    assert "-m comment --comment ns1/svc1:p80 -m tcp -p tcp --dport 3001 -j " + EXT_LOCAL in chains["nat/KUBE-NODEPORTS"]


def test_external_local_policy_without_a_cluster_cidr_short_circuits_no_pods():
    case = next(c for c in kc.CASES if c["name"] == "TestExternalTrafficPolicyLocal")
    result = kpi.render(kc.records(case, case["manifests"]), cluster_cidr=None)
    [ext] = [c["rules"] for c in result["nat"]["chains"] if c["name"] == EXT_LOCAL]
    assert [rule for rule in ext if "pod traffic" in rule] == [] and len(ext) == 3


def test_external_local_policy_without_a_local_endpoint_drops():
    """kube-proxy (TestOverallIPTablesRules' svc2): the EXT chain keeps its short-circuits, no KUBE-SVL-..., filter drops."""
    chains = dict((c["name"], c["rules"]) for c in render_overall()["filter"]["chains"])
    assert chains["KUBE-EXTERNAL-SERVICES"] == [
        '-m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j DROP',
        '-m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP',
        '-m comment --comment "ns2/svc2:p80 has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j DROP']
    nat = dict((c["name"], c["rules"]) for c in render_overall()["nat"]["chains"])
    assert "KUBE-SVL-GNZBNJ2PO5MGZ6GT" not in nat
    route_local = ('-m comment --comment "route LOCAL traffic for ns2/svc2:p80 external destinations" '
                   "-m addrtype --src-type LOCAL -j KUBE-SVC-GNZBNJ2PO5MGZ6GT")
    assert nat["KUBE-EXT-GNZBNJ2PO5MGZ6GT"][-1] == route_local


def test_health_check_node_port_is_accepted_with_or_without_endpoints():
    """kube-proxy: filter KUBE-NODEPORTS accepts it whatever the endpoints; it goes with its Service."""
    accept = '-m comment --comment "ns1/svc1:p80 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT'
    assert case_chains("TestHealthCheckNodePort")["filter/KUBE-NODEPORTS"] == [accept]  # no endpoints at all
    assert case_chains("TestExternalTrafficPolicyLocal")["filter/KUBE-NODEPORTS"] == [accept]
    assert case_chains("TestHealthCheckNodePort", "service deleted")["filter/KUBE-NODEPORTS"] == []


def test_the_plan_warns_of_external_local_policy_without_a_local_endpoint():
    services = [service("ns", "web", "10.96.0.5", type="NodePort", node_port=30080, externalTrafficPolicy="Local")]
    slices = [endpoint_slice("ns", "web", ["10.0.0.11"])]
    plan = kpi.plan_kube_proxy_chains(services, [], slices, cluster_cidr="10.0.0.0/16", node="node1")
    assert [w for w in plan["warnings"] if "externalTrafficPolicy Local" in w and "node node1" in w]


LB_CASE = next(c for c in kc.CASES if c["name"] == "TestLoadBalancer")
LB_EXT = "KUBE-EXT-XPGD46QRK7WJZT7O"
LB_FW = "KUBE-FW-XPGD46QRK7WJZT7O"


def lb_chains(node_ip):
    records = kc.records(LB_CASE, LB_CASE["manifests"])
    result = kpi.render(records, cluster_cidr="10.0.0.0/8", node_ip=node_ip)
    return dict((c["name"], c["rules"]) for c in result["nat"]["chains"]), \
        dict((c["name"], c["rules"]) for c in result["filter"]["chains"])


def test_source_ranges_that_hold_the_node_ip_let_the_load_balancer_ips_in_as_sources():
    """kube-proxy's KUBE-FW-... (TestLoadBalancer's Service; its test holds flows only): each range, then with
    allowFromNode each load balancer IP, on to KUBE-EXT-...; the rest falls through to KUBE-PROXY-FIREWALL."""
    comment = '-m comment --comment "ns1/svc1:p80 loadbalancer IP" -s %s -j ' + LB_EXT
    other = '-m comment --comment "other traffic to ns1/svc1:p80 will be dropped by KUBE-PROXY-FIREWALL"'
    nat, filt = lb_chains("192.168.0.2")
    assert nat[LB_FW] == [comment % cidr for cidr in ("192.168.0.0/24", "203.0.113.0/25", "1.2.3.4", "5.6.7.8")] + [other]
    assert filt["KUBE-PROXY-FIREWALL"] == [
        '-m comment --comment "ns1/svc1:p80 traffic not accepted by %s" -m tcp -p tcp -d %s --dport 80 -j DROP' % (LB_FW, ip)
        for ip in ("1.2.3.4", "5.6.7.8")]
    assert [r for r in nat["KUBE-SERVICES"] if "loadbalancer IP" in r] == [
        '-m comment --comment "ns1/svc1:p80 loadbalancer IP" -m tcp -p tcp -d %s --dport 80 -j %s' % (ip, LB_FW)
        for ip in ("1.2.3.4", "5.6.7.8")]
    for node_ip in (None, "192.168.1.2"):  # no node IP, or one outside the ranges: no allowFromNode
        nat, dummy = lb_chains(node_ip)
        assert nat[LB_FW] == [comment % cidr for cidr in ("192.168.0.0/24", "203.0.113.0/25")] + [other], node_ip


def test_a_load_balancer_without_endpoints_has_no_firewall_chain_and_is_rejected():
    """kube-proxy's iptables mode: usesFWChain needs endpoints; without any, KUBE-EXTERNAL-SERVICES rejects the IP."""
    lb = service("ns", "web", "10.96.0.5", type="LoadBalancer", node_port=30080, loadBalancerSourceRanges=["203.0.113.0/25"])
    lb["status"] = {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}
    result = kpi.render(model.service_ports([lb], [], []), cluster_cidr="10.0.0.0/8", node_ip="192.0.2.2")
    nat = dict((c["name"], c["rules"]) for c in result["nat"]["chains"])
    filt = dict((c["name"], c["rules"]) for c in result["filter"]["chains"])
    assert not [name for name in nat if name.startswith("KUBE-FW-")] and filt["KUBE-PROXY-FIREWALL"] == []
    assert '-m comment --comment "ns/web:p80 has no endpoints" -m tcp -p tcp -d 192.0.2.10 --dport 80 -j REJECT' \
        in filt["KUBE-EXTERNAL-SERVICES"]


NODEPORTS_JUMP = '-m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" %s -j KUBE-NODEPORTS'


def last_rules(**kwargs):
    """KUBE-SERVICES' jumps to KUBE-NODEPORTS (its last rules) for TestOverallRules' Services."""
    rules = dict((c["name"], c["rules"]) for c in render_overall(**kwargs)["nat"]["chains"])["KUBE-SERVICES"]
    jumps = [rule for rule in rules if rule.endswith("-j KUBE-NODEPORTS")]
    assert rules[-len(jumps):] == jumps
    return jumps


@pytest.mark.parametrize("kwargs, destinations", [
    # Without --nodeport-addresses: every local address, localhost only with localhost NodePorts.
    ({}, ["-m addrtype --dst-type LOCAL"]),
    ({"localhost_nodeports": False}, ["-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8"]),
    # With it: one jump per address, in the order given; no addrtype jump.
    ({"nodeport_addresses": ["192.168.0.2", "192.168.1.2"]}, ["-d 192.168.0.2", "-d 192.168.1.2"]),
    # A loopback address needs localhost NodePorts (route_localnet); without them kube-proxy leaves it out.
    ({"nodeport_addresses": ["192.168.0.2", "127.0.0.1"], "localhost_nodeports": False}, ["-d 192.168.0.2"]),
    ({"nodeport_addresses": ["192.168.0.2", "127.0.0.1"]}, ["-d 192.168.0.2", "-d 127.0.0.1"]),
])
def test_nodeport_addresses_choose_the_jumps_to_kube_nodeports(kwargs, destinations):
    """kube-proxy's last rules of KUBE-SERVICES: the addrtype jump when nodePortAddresses match all, else one per IP."""
    assert last_rules(**kwargs) == [NODEPORTS_JUMP % destination for destination in destinations]


def test_nodeport_addresses_leave_the_filter_rules_on_every_local_address():
    """kube-proxy writes filter KUBE-EXTERNAL-SERVICES (NodePort without local endpoints) and KUBE-NODEPORTS (health
    check node ports) without the node port addresses; so do we."""
    def filter_chains(**kwargs):
        return dict((c["name"], c["rules"]) for c in render_overall(**kwargs)["filter"]["chains"])
    assert filter_chains(nodeport_addresses=["192.168.0.2"]) == filter_chains()
    assert ('-m comment --comment "ns2/svc2:p80 has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp '
            "--dport 3001 -j DROP") in filter_chains(nodeport_addresses=["192.168.0.2"])["KUBE-EXTERNAL-SERVICES"]


def test_the_proxier_hands_nodeport_addresses_to_the_iptables_renderer():
    """One option for both backends: proxy_sync's options reach the iptables renderer's last rules."""
    from ansible_collections.k8slab.kube_proxy.plugins.module_utils import proxier
    services, slices = kc.OVERALL["manifests"], []
    options = proxier.check_options("kube-proxy", "iptables", {"cluster_cidr": "10.0.0.0/8",
                                                               "nodeport_addresses": ["192.0.2.2"]})
    nat = proxier.render("kube-proxy", "iptables", services, slices, [], options)["iptables"]["nat"][0]
    rules = dict((chain["name"], chain["rules"]) for chain in nat)["KUBE-SERVICES"]
    assert rules[-1] == NODEPORTS_JUMP % "-d 192.0.2.2"
    assert not [rule for rule in rules if "addrtype" in rule]


INVALID_DROP = "-m conntrack --ctstate INVALID%s -j DROP"
LOCALHOST_COUNTED = ("-m comment --comment ns3/svc3:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 3003 "
                     "-m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-X27LE4BHSL4DOUIK")


@pytest.mark.parametrize("kwargs, invalid, localhost", [
    # No counter object on the node: the rules kube-proxy writes without nfacct.
    ({}, "", False),
    ({"nfacct_counters": kpi.NFACCT_COUNTERS},
     " -m nfacct --nfacct-name ct_state_invalid_dropped_pkts", True),
    # Each counter only where its object exists; the localhost one only with localhost NodePorts.
    ({"nfacct_counters": ["ct_state_invalid_dropped_pkts"]}, " -m nfacct --nfacct-name ct_state_invalid_dropped_pkts", False),
    ({"nfacct_counters": ["localhost_nps_accepted_pkts"]}, "", True),
    ({"nfacct_counters": kpi.NFACCT_COUNTERS, "localhost_nodeports": False},
     " -m nfacct --nfacct-name ct_state_invalid_dropped_pkts", False),
])
def test_nfacct_counters_are_written_when_their_objects_exist(kwargs, invalid, localhost):
    """kube-proxy: the INVALID drop counts into ct_state_invalid_dropped_pkts, and each NodePort's localhost
    connections into localhost_nps_accepted_pkts (just before the NodePort's own rule), when the counter exists."""
    result = render_overall(**kwargs)
    filt = dict((c["name"], c["rules"]) for c in result["filter"]["chains"])
    nat = dict((c["name"], c["rules"]) for c in result["nat"]["chains"])
    assert filt["KUBE-FORWARD"][0] == INVALID_DROP % invalid
    assert (LOCALHOST_COUNTED in nat["KUBE-NODEPORTS"]) is localhost
    if localhost:
        at = nat["KUBE-NODEPORTS"].index(LOCALHOST_COUNTED)
        assert nat["KUBE-NODEPORTS"][at + 1] == LOCALHOST_COUNTED.replace(" -d 127.0.0.0/8", "").replace(
            " -m nfacct --nfacct-name localhost_nps_accepted_pkts", "")
