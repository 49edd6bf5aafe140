# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Services + EndpointSlices + pods -> service ports with endpoints and kube-proxy's names."""

from __future__ import annotations

import pytest

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import service_chains
from ansible_collections.k8slab.kube_proxy.plugins.module_utils import service_model as model

# The tutorial's pods as the pods filter completes them. Written out, not computed: module_utils
# tests run where only module_utils can be imported (ansible-test units, the CI workflow's unit job).
PODS = [{"name": name, "netns": "netns_" + name, "host_veth": "veth_" + name, "pod_veth": "veth_ns_" + name,
         "address": address, "cidr": address + "/24", "gateway": "10.0.0.1", "labels": {"component": "app"},
         "nameservers": ["8.8.8.8"]}
        for name, address in (("adam", "10.0.0.11"), ("eve", "10.0.0.21"))]
APP = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "app-service"},
       "spec": {"clusterIP": "10.96.0.1", "selector": {"component": "app"},
                "ports": [{"protocol": "TCP", "port": 8080, "targetPort": 8080}]}}


def slice_for(service, endpoints, name="s1", namespace="default", port_name="", port=8080):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": name, "namespace": namespace, "labels": {"kubernetes.io/service-name": service}},
            "endpoints": endpoints, "ports": [{"name": port_name, "port": port, "protocol": "TCP"}]}


@pytest.mark.parametrize("port_name, protocol, chain", [
    # Names seen on every cluster: the API server's Service and kube-dns.
    ("default/kubernetes:https", "TCP", "KUBE-SVC-NPX46M4PTMTKRN6Y"),
    ("kube-system/kube-dns:dns", "UDP", "KUBE-SVC-TCOU7JCQXEZGVUNU"),
    ("kube-system/kube-dns:dns-tcp", "TCP", "KUBE-SVC-ERIFXISQEP7F7OF4"),
    ("ns1/svc1:p80", "TCP", "KUBE-SVC-XPGD46QRK7WJZT7O"),
])
def test_service_chain_names_are_kube_proxys(port_name, protocol, chain):
    assert model.service_chain_names(port_name, protocol)["svc"] == chain


def test_endpoint_chain_name_is_kube_proxys():
    assert model.endpoint_chain_name("ns1/svc1:p80", "TCP", "10.180.0.1:80") == "KUBE-SEP-SXIVWICOYRO3J4NJ"


def test_tutorial_service_by_selector():
    [record] = model.service_ports([APP], [], PODS)
    assert record["key"] == "default/app-service"
    assert record["chains"]["svc"] == "KUBE-SVC-HVXLY56DFZMBQN5Y"
    assert record["source"] == "selector"
    assert [(e["endpoint"], e["pod"], e["netns"]) for e in record["endpoints"]] == [
        ("10.0.0.11:8080", "adam", "netns_adam"), ("10.0.0.21:8080", "eve", "netns_eve")]


def test_endpoint_slices_win_over_the_selector_and_not_ready_is_left_out():
    slices = [slice_for("app-service", [
        {"addresses": ["10.0.0.21"], "conditions": {"ready": True}},
        {"addresses": ["10.0.0.11"], "conditions": {"ready": False}},
    ])]
    [record] = model.service_ports([APP], slices, PODS)
    assert record["source"] == "endpointslices"
    assert [e["pod"] for e in record["endpoints"]] == ["eve"]
    assert [e["pod"] for e in record["not_ready"]] == ["adam"]


def test_terminating_but_serving_endpoints_are_used_only_when_none_is_ready():
    slices = [slice_for("app-service", [
        {"addresses": ["10.0.0.21"], "conditions": {"ready": False, "serving": True, "terminating": True}},
        {"addresses": ["10.0.0.11"], "conditions": {"ready": False, "serving": False, "terminating": True}},
    ])]
    [record] = model.service_ports([APP], slices, PODS)
    assert [e["pod"] for e in record["endpoints"]] == ["eve"]


def test_a_kubectl_list_export_replays():
    exported = [{"apiVersion": "v1", "kind": "List", "items": [
        dict(APP, spec=dict(APP["spec"], selector=None, type="ClusterIP", sessionAffinity="None",
                            clusterIPs=["10.96.0.1"], internalTrafficPolicy="Cluster")),
        slice_for("app-service", [{"addresses": ["10.0.0.11"]}, {"addresses": ["10.0.0.21"]}]),
    ]}]
    services, slices = model.split_manifests(exported)
    [record] = model.service_ports(services, slices, PODS)
    assert [e["pod"] for e in record["endpoints"]] == ["adam", "eve"]


def test_slice_ports_match_by_name_and_protocol():
    service = {"metadata": {"name": "web"}, "spec": {"clusterIP": "10.96.0.5", "ports": [
        {"name": "http", "port": 80, "targetPort": "web"}, {"name": "metrics", "port": 9090}]}}
    slices = [slice_for("web", [{"addresses": ["10.0.0.11"]}], port_name="http", port=8080)]
    http, metrics = model.service_ports([service], slices, PODS)
    assert [e["endpoint"] for e in http["endpoints"]] == ["10.0.0.11:8080"]
    assert http["key"] == "default/web:http"
    assert metrics["endpoints"] == []


def test_named_target_port_needs_endpoint_slices():
    service = {"metadata": {"name": "web"},
               "spec": {"clusterIP": "10.96.0.5", "selector": {"component": "app"}, "ports": [{"port": 80, "targetPort": "web"}]}}
    with pytest.raises(ValueError, match="named port"):
        model.service_ports([service], [], PODS)


def test_headless_services_are_left_out():
    headless = {"metadata": {"name": "db"}, "spec": {"clusterIP": "None", "ports": [{"port": 5432}]}}
    assert model.service_ports([headless], [], PODS) == []


def test_nodeport_and_affinity_are_read():
    service = {"metadata": {"name": "web"}, "spec": {
        "type": "NodePort", "clusterIP": "10.96.0.5", "selector": {"component": "app"},
        "sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
        "ports": [{"port": 80, "targetPort": 8080, "nodePort": 30080}]}}
    [record] = model.service_ports([service], [], PODS)
    assert (record["node_port"], record["session_affinity"], record["affinity_timeout"]) == (30080, "ClientIP", 60)


@pytest.mark.parametrize("spec, message", [
    ({"type": "ExternalName", "clusterIP": "10.96.0.5", "ports": [{"port": 80}]}, "not supported"),
    ({"clusterIP": "10.96.0.5", "externalTrafficPolicy": "Nearby", "ports": [{"port": 80}]},
     "externalTrafficPolicy 'Nearby' must be Cluster or Local"),
    ({"type": "NodePort", "clusterIP": "10.96.0.5", "externalTrafficPolicy": "Local", "healthCheckNodePort": 70000,
      "ports": [{"port": 80}]}, r"healthCheckNodePort 70000 is not a port number \(1-65535\)"),
    ({"type": "NodePort", "clusterIP": "10.96.0.5", "externalTrafficPolicy": "Local", "healthCheckNodePort": "health",
      "ports": [{"port": 80}]}, "healthCheckNodePort 'health' is a named port"),
    ({"clusterIP": "10.96.0.5", "internalTrafficPolicy": "Nearby", "ports": [{"port": 80}]}, "Cluster or Local"),
    ({"clusterIP": "10.96.0.5", "sessionAffinity": "Cookie", "ports": [{"port": 80}]}, "None or ClientIP"),
    ({"clusterIP": "fd00::1", "ports": [{"port": 80}]}, "IPv4"),
])
def test_bad_services_are_refused_with_a_reason(spec, message):
    with pytest.raises(ValueError, match=message):
        model.service_ports([{"metadata": {"name": "web"}, "spec": spec}], [], PODS)


def test_two_services_on_one_node_port_are_refused():
    def node_port_service(name, ip):
        return {"metadata": {"name": name},
                "spec": {"type": "NodePort", "clusterIP": ip, "ports": [{"port": 80, "nodePort": 30080}]}}
    with pytest.raises(ValueError, match="nodePort 30080"):
        model.service_ports([node_port_service("a", "10.96.0.5"), node_port_service("b", "10.96.0.6")], [], PODS)


def test_a_slice_must_name_its_service():
    bad = slice_for("web", [])
    del bad["metadata"]["labels"]
    with pytest.raises(ValueError, match="kubernetes.io/service-name"):
        model.service_ports([APP], [bad], PODS)


class _TaggedStr(str):
    """Stands for the str subclass Ansible hands plugins (_AnsibleTaggedStr)."""


@pytest.mark.parametrize("call", [
    model.split_manifests,
    lambda bad: service_chains.plan_service_chains(bad, []),
    lambda bad: service_chains.plan_service_chains([], bad),
])
def test_messages_name_the_yaml_kind_not_ansibles_str_subclass(call):
    with pytest.raises(ValueError) as error:
        call(_TaggedStr("app-service"))
    assert "got str" in str(error.value) and "_TaggedStr" not in str(error.value)


def local_policy_app():
    return dict(APP, spec=dict(APP["spec"], internalTrafficPolicy="Local"))


def test_local_endpoints_are_this_nodes_by_node_name():
    """kube-proxy's IsLocal: the endpoint's nodeName is this node; one without nodeName is no node's."""
    slices = [slice_for("app-service", [{"addresses": ["10.0.0.11"], "nodeName": "node1"},
                                        {"addresses": ["10.0.0.21"], "nodeName": "node2"},
                                        {"addresses": ["10.0.0.31"]}])]
    [record] = model.service_ports([local_policy_app()], slices, PODS, node="node1")
    assert record["internal_traffic_policy"] == "Local"
    assert [e["endpoint"] for e in record["endpoints"]] == ["10.0.0.11:8080", "10.0.0.21:8080", "10.0.0.31:8080"]
    assert [e["endpoint"] for e in record["local_endpoints"]] == ["10.0.0.11:8080"]
    [record] = model.service_ports([local_policy_app()], slices, PODS)
    assert record["local_endpoints"] == []


def test_selected_pods_are_local_on_their_node_or_without_one():
    pods = [dict(PODS[0], node="node1"), dict(PODS[1], node="node2")]
    [record] = model.service_ports([local_policy_app()], [], pods, node="node2")
    assert [e["pod"] for e in record["local_endpoints"]] == ["eve"]
    [record] = model.service_ports([local_policy_app()], [], PODS, node="node2")  # the one-node lab: no node named
    assert [e["pod"] for e in record["local_endpoints"]] == ["adam", "eve"]


def test_local_policy_falls_back_to_this_nodes_terminating_endpoints():
    """kube-proxy's CategorizeEndpoints: a ready endpoint elsewhere does not stop the local fallback."""
    terminating = {"ready": False, "serving": True, "terminating": True}
    slices = [slice_for("app-service", [{"addresses": ["10.0.0.11"], "nodeName": "node1", "conditions": terminating},
                                        {"addresses": ["10.0.0.21"], "nodeName": "node2"}])]
    [record] = model.service_ports([local_policy_app()], slices, PODS, node="node1")
    assert [e["endpoint"] for e in record["endpoints"]] == ["10.0.0.21:8080"]
    assert [e["endpoint"] for e in record["local_endpoints"]] == ["10.0.0.11:8080"]
    assert record["not_ready"] == []
    policy = model.traffic_policy_endpoints(record)
    assert (policy["internal"], policy["uses_cluster"], policy["uses_local"]) == (True, False, True)
    assert [e["endpoint"] for e in policy["reachable"]] == ["10.0.0.11:8080"]


def test_the_tutorial_layout_refuses_the_local_policy():
    with pytest.raises(ValueError, match="internalTrafficPolicy Local.*kube-proxy layout"):
        service_chains.plan_service_chains([local_policy_app()], PODS)


def test_external_local_policy_and_health_check_node_port_are_read():
    """kube-proxy reads healthCheckNodePort only on a LoadBalancer with externalTrafficPolicy Local (NeedsHealthCheck)."""
    spec = {"type": "LoadBalancer", "clusterIP": "10.96.0.5", "selector": {"component": "app"},
            "externalTrafficPolicy": "Local", "healthCheckNodePort": 30000,
            "ports": [{"port": 80, "targetPort": 8080, "nodePort": 30080}]}
    [record] = model.service_ports([{"metadata": {"name": "web"}, "spec": spec}], [], PODS)
    assert (record["external_traffic_policy"], record["health_check_node_port"]) == ("Local", 30000)
    for changed in ({"externalTrafficPolicy": "Cluster"}, {"type": "NodePort"}):
        [record] = model.service_ports([{"metadata": {"name": "web"}, "spec": dict(spec, **changed)}], [], PODS)
        assert record["health_check_node_port"] == 0, changed


def load_balancer(status=None, **spec):
    """A LoadBalancer Service of the app's pods, with a nodePort, one ingress IP unless status is given."""
    body = {"type": "LoadBalancer", "clusterIP": "10.96.0.5", "selector": {"component": "app"},
            "ports": [{"port": 80, "targetPort": 8080, "nodePort": 30080}]}
    body.update(spec)
    if status is None:
        status = {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}
    return {"metadata": {"name": "web"}, "spec": body, "status": status}


def test_load_balancer_ips_and_source_ranges_are_read_as_kube_proxy_reads_them():
    """Ingress IPs: IPv4 VIPs once each, not a Proxy-mode IP or a hostname; ranges trimmed, IPv4 only, host bits cleared."""
    status = {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}, {"ip": "2001:db8::1"}, {"hostname": "lb.example"},
                                           {"ip": "192.0.2.11", "ipMode": "Proxy"}, {"ip": "192.0.2.10", "ipMode": "VIP"},
                                           {"ip": "192.0.2.12"}]}}
    service = load_balancer(status, loadBalancerSourceRanges=[" 203.0.113.0/25", "2001:db8::/32", "198.51.100.7/24"])
    [record] = model.service_ports([service], [], PODS)
    assert record["type"] == "LoadBalancer" and record["node_port"] == 30080
    assert record["load_balancer_ips"] == ["192.0.2.10", "192.0.2.12"]
    assert record["load_balancer_source_ranges"] == ["203.0.113.0/25", "198.51.100.0/24"]
    assert model.traffic_policy_endpoints(record)["externally"]


def test_a_zero_source_range_lifts_the_restriction():
    """kube-proxy: a /0 among the ranges means any source, as no ranges do."""
    [record] = model.service_ports([load_balancer(loadBalancerSourceRanges=["10.0.0.0/8", "0.0.0.0/0"])], [], PODS)
    assert record["load_balancer_source_ranges"] == []


def test_without_node_ports_a_load_balancer_has_none():
    """allocateLoadBalancerNodePorts false: the ports have no nodePort, so no node port rule is written."""
    service = load_balancer(allocateLoadBalancerNodePorts=False,
                            ports=[{"port": 80, "targetPort": 8080}])
    [record] = model.service_ports([service], [], PODS)
    assert (record["node_port"], record["load_balancer_ips"]) == (0, ["192.0.2.10"])
    assert model.traffic_policy_endpoints(record)["externally"]


def test_load_balancer_fields_mean_nothing_on_other_types():
    for service_type in ("ClusterIP", "NodePort"):
        service = load_balancer(type=service_type, loadBalancerSourceRanges=["203.0.113.0/25"])
        [record] = model.service_ports([service], [], PODS)
        assert (record["load_balancer_ips"], record["load_balancer_source_ranges"]) == ([], []), service_type


@pytest.mark.parametrize("status, spec, message", [
    ({"loadBalancer": {"ingress": [{"ip": "1.2.3"}]}}, {}, r"status.loadBalancer.ingress\[0\].ip '1.2.3' is not an IP address"),
    ({"loadBalancer": {"ingress": [{"ip": "192.0.2.10", "ipMode": "Direct"}]}}, {},
     r"ingress\[0\].ipMode 'Direct' must be VIP or Proxy"),
    ({"loadBalancer": {"ingress": "192.0.2.10"}}, {}, "ingress must be a list"),
    ({"loadBalancer": {"ingress": ["192.0.2.10"]}}, {}, r"ingress\[0\] is not a mapping"),
    ({"loadBalancer": ["192.0.2.10"]}, {}, "status.loadBalancer must be a mapping"),
    ("up", {}, "status must be a mapping"),
    (None, {"loadBalancerSourceRanges": ["203.0.113.0/33"]}, "loadBalancerSourceRanges entry '203.0.113.0/33' is not a CIDR"),
    (None, {"loadBalancerSourceRanges": ["203.0.113.7"]}, "is not a CIDR .give a prefix length"),
    (None, {"loadBalancerSourceRanges": "203.0.113.0/25"}, "loadBalancerSourceRanges must be a list"),
    (None, {"allocateLoadBalancerNodePorts": "no"}, "allocateLoadBalancerNodePorts 'no' must be true or false"),
    # Checked on any type, as a ClusterIP Service's nodePort is: a bad field is refused, not carried.
    ({"loadBalancer": {"ingress": [{"ip": "nowhere"}]}}, {"type": "ClusterIP"}, "'nowhere' is not an IP address"),
])
def test_bad_load_balancer_fields_are_refused_with_a_reason(status, spec, message):
    with pytest.raises(ValueError, match="Service default/web: .*" + message):
        model.service_ports([load_balancer(status, **spec)], [], PODS)


def test_the_tutorial_layout_ignores_load_balancer_fields():
    """The tutorial layout writes cluster IP rules only; a LoadBalancer's IPs and ranges change none of them."""
    service = dict(APP, spec=dict(APP["spec"], type="LoadBalancer", loadBalancerSourceRanges=["203.0.113.0/25"]),
                   status={"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}})
    assert service_chains.plan_service_chains([service], PODS) == service_chains.plan_service_chains([APP], PODS)


def test_external_local_policy_uses_both_chains_and_drops_without_a_local_endpoint():
    """kube-proxy's CategorizeEndpoints: external traffic takes this node's endpoints, pod traffic all of them."""
    app = dict(APP, spec=dict(APP["spec"], type="NodePort", externalTrafficPolicy="Local",
                              ports=[dict(APP["spec"]["ports"][0], nodePort=30080)]))
    slices = [slice_for("app-service", [{"addresses": ["10.0.0.11"], "nodeName": "node1"},
                                        {"addresses": ["10.0.0.21"], "nodeName": "node2"}])]
    [record] = model.service_ports([app], slices, PODS, node="node1")
    policy = model.traffic_policy_endpoints(record)
    assert (policy["external_local"], policy["external"], policy["uses_cluster"], policy["uses_local"]) == (True, True, True, True)
    [record] = model.service_ports([app], slices, PODS, node="node3")
    policy = model.traffic_policy_endpoints(record)
    assert (policy["internal"], policy["external"], policy["uses_local"]) == (True, False, False)


def test_the_tutorial_layout_ignores_the_external_policy():
    """The tutorial layout renders no node port or external IP, so the external policy changes nothing there."""
    app = dict(APP, spec=dict(APP["spec"], type="NodePort", externalTrafficPolicy="Local", healthCheckNodePort=30000,
                              ports=[dict(APP["spec"]["ports"][0], nodePort=30080)]))
    assert service_chains.plan_service_chains([app], PODS) == service_chains.plan_service_chains([APP], PODS)
