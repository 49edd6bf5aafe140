# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""service_graph against the rulesets of real runs (fixtures/trace/*.rules) and kube-proxy's own expected rules."""

from __future__ import annotations

import json
import os
import re

import pytest
import yaml

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import packet_trace, service_graph

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
KUBE_PROXY_CASES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "data", "kube_proxy_cases")
TRACES = os.path.join(FIXTURES, "trace")
CASES = sorted(name[:-len(".rules")] for name in os.listdir(TRACES) if name.endswith(".rules"))
NAMES = {"10.0.0.11": "adam", "10.0.0.21": "eve"}
# (layout, backend) -> entry chains, dispatch chain, Service chain, endpoint chains by pod
CHAINS = {
    ("tutorial", "iptables"): (["nat PREROUTING", "nat OUTPUT"], "nat APP-SERVICE", "nat EDEN-SVC-HTTP",
                               {"adam": "nat ADAM-HTTP", "eve": "nat EVE-HTTP"}),
    ("tutorial", "nftables"): (["kube-proxy nat-prerouting", "kube-proxy nat-output"], None,
                               "kube-proxy EDEN-SVC-HTTP", {"adam": "kube-proxy ADAM-HTTP", "eve": "kube-proxy EVE-HTTP"}),
    ("kube-proxy", "iptables"): (["nat PREROUTING", "nat OUTPUT"], "nat KUBE-SERVICES", "nat KUBE-SVC-HVXLY56DFZMBQN5Y",
                                 {"adam": "nat KUBE-SEP-Y6RXPI7VCORRZNBW", "eve": "nat KUBE-SEP-65DFG7ZGVZ6ECG2K"}),
    ("kube-proxy", "nftables"): (["kube-proxy nat-prerouting", "kube-proxy nat-output"], "kube-proxy services",
                                 "kube-proxy service-2XSH7CJ3-default/app-service/tcp/",
                                 {"adam": "kube-proxy endpoint-KVDFPHBY-default/app-service/tcp/__10.0.0.11/8080",
                                  "eve": "kube-proxy endpoint-7QPTWD6I-default/app-service/tcp/__10.0.0.21/8080"}),
}


def load(case):
    with open(os.path.join(TRACES, case + ".rules")) as handle:
        rules = handle.read()
    with open(os.path.join(TRACES, case + ".json")) as handle:
        meta = json.load(handle)
    return rules, meta


def edges(graph):
    return dict(((edge["from"], edge["to"]), edge) for edge in graph["edges"])


@pytest.mark.parametrize("case", CASES)
def test_the_graph_runs_entry_dispatch_service_endpoints_dnat_with_the_counters(case):
    rules, meta = load(case)
    graph = service_graph.service_graph(rules, "10.96.0.1", 8080, names=NAMES)
    assert graph["service"] == "10.96.0.1:8080/tcp" and graph["backend"] == meta["backend"]
    entries, dispatch, service, endpoints = CHAINS[(meta["layout"], meta["backend"])]
    by_kind = {}
    for node in graph["nodes"]:
        by_kind.setdefault(node["kind"], []).append(node["id"])
    assert sorted(by_kind["entry"]) == sorted(entries)
    assert sorted(by_kind["target"]) == ["dnat 10.0.0.11:8080", "dnat 10.0.0.21:8080"]
    assert sorted(by_kind["chain"]) == sorted([c for c in (dispatch, service) if c] + list(endpoints.values()))
    roles = dict((node["id"], node["role"]) for node in graph["nodes"])
    assert roles[service] == "service" and all(roles[c] == "endpoint" for c in endpoints.values())
    if dispatch:
        assert roles[dispatch] == "dispatch"
    found = edges(graph)
    for entry in entries:
        assert (entry, dispatch or service) in found
    if dispatch:
        assert (dispatch, service) in found
    counted = {}
    for pod, chain in endpoints.items():
        address = [a for a, name in NAMES.items() if name == pod][0]
        into, dnat = found[(service, chain)], found[(chain, "dnat %s:8080" % address)]
        assert dnat["kind"] == "dnat" and "pod %s" % pod in [n for n in graph["nodes"] if n["id"] == dnat["to"]][0]["label"]
        # the nat table counts connections: each pod's DNAT counted the connections it answered
        assert dnat["packets"] == list(meta["answered"].values()).count(pod)
        assert into["packets"] == dnat["packets"]
        counted[pod] = dnat["packets"]
    assert sum(counted.values()) == len(meta["answered"])
    # the random pick: one in two
    picks = sorted("%s %s" % (found[(service, chain)]["probability"], found[(service, chain)]["otherwise"])
                   for chain in endpoints.values())
    assert picks in (["0.5 False", "0.5 False"], ["0.5 False", "None True"])


@pytest.mark.parametrize("case", ["kube-proxy-iptables-node", "kube-proxy-nftables-pod"])
def test_kube_proxys_masquerade_marks_are_drawn_apart(case):
    rules, meta = load(case)
    graph = service_graph.service_graph(rules, "10.96.0.1", 8080)
    marks = [edge for edge in graph["edges"] if edge["kind"] == "mark"]
    mark_chain = "nat KUBE-MARK-MASQ" if meta["backend"] == "iptables" else "kube-proxy mark-for-masquerade"
    assert set(edge["to"] for edge in marks) == {mark_chain}
    conditions = sorted(edge["condition"] for edge in marks)
    if meta["backend"] == "iptables":
        assert conditions == ["! -s 10.0.0.0/24", "-s 10.0.0.11/32", "-s 10.0.0.21/32"]
    else:
        assert conditions == ["ip daddr 10.96.0.1 ip saddr != 10.0.0.0/24", "ip saddr 10.0.0.11", "ip saddr 10.0.0.21"]
    dot = service_graph.to_dot(graph)
    assert dot.count("style=dashed") == len(marks)


@pytest.mark.parametrize("case", CASES)
def test_the_traced_connection_is_drawn_in_red(case):
    rules, meta = load(case)
    with open(os.path.join(TRACES, case + ".trace")) as handle:
        text = handle.read()
    chains = packet_trace.base_chains_from_nft(meta["ruleset"]) if "ruleset" in meta else None
    connection = packet_trace.connections(text, client=meta["client"], service=meta["destination"],
                                          base_chains=chains)[0]
    graph = service_graph.service_graph(rules, "10.96.0.1", 8080)
    found = edges(graph)
    entry = "%s %s" % (("nat", "PREROUTING") if meta["backend"] == "iptables" else ("kube-proxy", "nat-prerouting"))
    if meta["source"] == "node":
        entry = entry.replace("PREROUTING", "OUTPUT").replace("prerouting", "output")
    on_graph = [tuple(step) for step in connection["steps"] if tuple(step) in found]
    assert on_graph[0][0] == entry
    assert on_graph[-1][1] == "dnat " + connection["dnat"]
    dot = service_graph.to_dot(graph, highlight=connection)
    red_edges = [line for line in dot.splitlines() if " -> " in line and "#c0392b" in line]
    assert len(red_edges) == len(on_graph)
    # the path is connected: each step starts where the one before ended (marks aside)
    path = [step for step in on_graph if found[step]["kind"] != "mark"]
    assert all(a[1] == b[0] for a, b in zip(path, path[1:]))
    mermaid = service_graph.to_mermaid(graph, highlight=connection)
    assert mermaid.count("linkStyle") == len(on_graph)
    assert service_graph.to_dot(graph).count("#c0392b") == 0


def test_dot_and_mermaid_text():
    rules, meta = load("tutorial-iptables-node")
    graph = service_graph.service_graph(rules, "10.96.0.1", 8080, names=NAMES)
    dot = service_graph.to_dot(graph, title="The tutorial's Service")
    assert dot.startswith("digraph service {\n  rankdir=LR;\n")
    assert 'label="The tutorial\'s Service\\nedges: the rule\'s counter' in dot
    assert re.search(r'n\d+ \[label="EDEN-SVC-HTTP\\n\(the Service\'s chain\)", shape=box', dot)
    assert re.search(r'n\d+ \[label="DNAT 10.0.0.21:8080\\npod eve", shape=ellipse', dot)
    assert re.search(r'label="p=0.5\\n\d+ conn."', dot) and re.search(r'label="otherwise\\n\d+ conn."', dot)
    mermaid = service_graph.to_mermaid(graph).splitlines()
    assert mermaid[:4] == ["---", "title: Service 10.96.0.1:8080/tcp (iptables)", "---", "flowchart LR"]
    assert any(re.match(r'  n\d+\(\("DNAT 10.0.0.11:8080<br/>pod adam"\)\)$', line) for line in mermaid)
    assert any(re.match(r'  n\d+ -->\|"otherwise<br/>\d+ conn."\| n\d+$', line) for line in mermaid)


def test_kube_proxys_expected_rules_without_counters():
    # kube-proxy's own expected ruleset of TestOverallIPTablesRules, as ported to tests/data/kube_proxy_cases
    with open(os.path.join(KUBE_PROXY_CASES, "TestOverallRules.yml")) as handle:
        rules = yaml.safe_load(handle)["expected"]["iptables"]
    graph = service_graph.service_graph(rules, "172.30.0.44", 80)
    found = edges(graph)
    targets = sorted(n["id"] for n in graph["nodes"] if n["kind"] == "target")
    assert targets == ["dnat 10.180.0.4:80", "dnat 10.180.0.5:80"]
    assert ("nat KUBE-SERVICES", "nat KUBE-SVC-4SW47YFZTEDKD3PK") in found
    assert [n["id"] for n in graph["nodes"] if n["kind"] == "entry"] == ["nat KUBE-SERVICES"]
    # the external IP's chain (KUBE-EXT-...) is not on the cluster IP's way; nor is any other Service
    assert not [n for n in graph["nodes"] if "KUBE-EXT" in n["id"] or "KUBE-NODEPORTS" in n["id"]]
    assert all(edge["packets"] is None for edge in graph["edges"])
    assert "conn." not in service_graph.to_dot(graph)


@pytest.mark.parametrize("ruleset, cluster_ip, port, message", [
    ("tutorial-iptables-pod", "10.96.0.2", 8080, "no DNAT for the Service 10.96.0.2:8080/tcp"),
    ("kube-proxy-nftables-pod", "10.96.0.1", 8081, "no DNAT for the Service 10.96.0.1:8081/tcp"),
    ("tutorial-iptables-pod", "10.96.0.300", 8080, "cluster_ip '10.96.0.300' is not an IPv4 address"),
    ("tutorial-iptables-pod", "10.96.0.1", 0, "port 0 is not a port number"),
    ("tutorial-iptables-pod", "10.96.0.1", "8080", "port '8080' is not a port number"),
])
def test_bad_input_names_the_field(ruleset, cluster_ip, port, message):
    rules, dummy = load(ruleset)
    with pytest.raises(service_graph.GraphError, match=re.escape(message)):
        service_graph.service_graph(rules, cluster_ip, port)


@pytest.mark.parametrize("text, message", [
    ("hello\n", "neither iptables-save nor nft list output"),
    ("-A PREROUTING -j X\n", r"comes before any \*table line"),
    ("*nat\n-A PREROUTING -m comment --comment \"open\n", "No closing quotation"),
    ("table ip kube-proxy {\n\tchain services {\n", "ends inside chain services"),
])
def test_broken_rulesets(text, message):
    with pytest.raises(service_graph.GraphError, match=message):
        service_graph.service_graph(text, "10.96.0.1", 8080)
