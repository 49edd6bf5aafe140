# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""UDP Services: the rules of both layouts and backends, and kube-proxy's conntrack clean-up decision (module_utils.conntrack)."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.k8slab.kube_proxy.plugins.filter.pods import complete_pods
from ansible_collections.k8slab.kube_proxy.plugins.module_utils import conntrack, proxier

UDP_SERVICE = {
    "apiVersion": "v1", "kind": "Service", "metadata": {"name": "app-dns"},
    "spec": {"clusterIP": "10.96.0.10", "selector": {"component": "app"}, "type": "NodePort",
             "ports": [{"name": "dns", "protocol": "UDP", "port": 53, "targetPort": 8080, "nodePort": 30053}]},
}
PODS = [{"name": "adam", "address": "10.0.0.11", "labels": {"component": "app"}},
        {"name": "eve", "address": "10.0.0.21", "labels": {"component": "app"}}]


def pods(records=None):
    return complete_pods(copy.deepcopy(records if records is not None else PODS), "10.0.0.1/24")


def rendered_text(layout, backend, pod_records=None):
    options = proxier.check_options(layout, backend, {"cluster_cidr": "10.0.0.0/24"})
    result = proxier.render(layout, backend, [UDP_SERVICE], [], pods(pod_records), options)
    if backend == "nftables":
        return result["nft"], result
    lines = []
    for table in proxier.IPTABLES_TABLES:
        chains, builtin = result["iptables"][table]
        lines += [rule["rule"] for rule in builtin] + [rule for chain in chains for rule in chain["rules"]]
    return "\n".join(lines), result


# rendering ----------------------------------------------------------------------------

@pytest.mark.parametrize("layout", proxier.LAYOUTS)
@pytest.mark.parametrize("backend", proxier.BACKENDS)
def test_udp_service_matches_udp_and_dnats_to_the_target_port(layout, backend):
    text, result = rendered_text(layout, backend)
    assert "tcp" not in text.replace("--tcp-", "")  # no rule of a UDP Service matches TCP
    assert "udp" in text
    assert "10.0.0.11:8080" in text and "10.0.0.21:8080" in text
    assert [record["protocol"] for record in result["plan"]["services"]] == ["UDP"]


@pytest.mark.parametrize("backend", proxier.BACKENDS)
def test_kube_proxy_layout_udp_nodeport_and_reject_without_endpoints(backend):
    text, dummy = rendered_text("kube-proxy", backend)
    assert "30053" in text
    text, result = rendered_text("kube-proxy", backend, pod_records=[])
    assert result["warnings"]
    assert "reject" in text.lower()  # no endpoints: ICMP port unreachable, as kube-proxy answers UDP then


# the frontends a plan serves ----------------------------------------------------------

def test_udp_frontends_of_a_plan():
    dummy, result = rendered_text("kube-proxy", "iptables")
    assert conntrack.udp_frontends(result["plan"]["services"]) == [{
        "key": result["plan"]["services"][0]["key"], "destinations": ["10.96.0.10"], "port": 53, "node_port": 30053,
        "endpoints": ["10.0.0.11", "10.0.0.21"]}]


def test_external_and_load_balancer_ips_are_destinations_too():
    record = {"key": "default/dns:dns", "protocol": "UDP", "cluster_ip": "10.96.0.10", "port": 53,
              "external_ips": ["192.0.2.7"], "load_balancer_ips": ["203.0.113.5"], "endpoints": [{"address": "10.0.0.11"}]}
    assert conntrack.udp_frontends([record])[0]["destinations"] == ["10.96.0.10", "192.0.2.7", "203.0.113.5"]


def test_tcp_services_have_no_frontends():
    record = {"key": "default/app", "protocol": "TCP", "cluster_ip": "10.96.0.1", "port": 8080, "endpoints": []}
    assert conntrack.udp_frontends([record]) == []


# the decision -------------------------------------------------------------------------

def frontend(endpoints, node_port=None, key="default/app-dns:dns"):
    return {"key": key, "destinations": ["10.96.0.10"], "port": 53, "node_port": node_port, "endpoints": endpoints}


def test_nothing_changed_deletes_nothing():
    assert conntrack.stale_filters([frontend(["10.0.0.11"])], [frontend(["10.0.0.11"])]) == []


def test_an_endpoint_that_left_gets_its_entries_deleted():
    filters = conntrack.stale_filters([frontend(["10.0.0.11", "10.0.0.21"])], [frontend(["10.0.0.11"])])
    assert filters == [{"key": "default/app-dns:dns", "why": "endpoint left", "destination": "10.96.0.10", "port": 53,
                        "endpoint": "10.0.0.21"}]


def test_a_nodeport_gets_its_own_filter():
    filters = conntrack.stale_filters([frontend(["10.0.0.21"], 30053)], [frontend([], 30053)])
    assert [(f["destination"], f["port"], f["endpoint"]) for f in filters] == [
        ("10.96.0.10", 53, "10.0.0.21"), (None, 30053, "10.0.0.21")]


def test_first_endpoint_clears_the_whole_frontend():
    filters = conntrack.stale_filters([frontend([])], [frontend(["10.0.0.11"])])
    assert filters == [{"key": "default/app-dns:dns", "why": "first endpoint", "destination": "10.96.0.10", "port": 53,
                        "endpoint": None}]


def test_a_removed_service_leaves_its_endpoints_stale():
    filters = conntrack.stale_filters([frontend(["10.0.0.11"])], [])
    assert [(f["why"], f["endpoint"]) for f in filters] == [("endpoint left", "10.0.0.11")]


def test_no_record_counts_as_first_endpoint_and_empty_services_as_none():
    assert [f["why"] for f in conntrack.stale_filters(None, [frontend(["10.0.0.11"])])] == ["first endpoint"]
    assert conntrack.stale_filters(None, [frontend([])]) == []


# the tool -----------------------------------------------------------------------------

def test_filter_argv():
    item = {"destination": "10.96.0.10", "port": 53, "endpoint": "10.0.0.21"}
    assert conntrack.filter_argv("conntrack", "-D", item) == [
        "conntrack", "-D", "-f", "ipv4", "-p", "udp", "--orig-dst", "10.96.0.10", "--orig-port-dst", "53",
        "--dst-nat", "10.0.0.21"]
    assert conntrack.filter_argv("conntrack", "-L", {"destination": None, "port": 30053, "endpoint": None}) == [
        "conntrack", "-L", "-f", "ipv4", "-p", "udp", "--orig-port-dst", "30053"]


@pytest.mark.parametrize("rc, stderr, count", [
    (0, "conntrack v1.4.7 (conntrack-tools): 2 flow entries have been deleted.\n", 2),
    (1, "conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n", 0),
    (0, "conntrack v1.4.7 (conntrack-tools): 3 flow entries have been shown.\n", 3),
    (1, "conntrack v1.4.7 (conntrack-tools): Operation not permitted\n", None),
])
def test_parse_count(rc, stderr, count):
    assert conntrack.parse_count(rc, stderr) == count
