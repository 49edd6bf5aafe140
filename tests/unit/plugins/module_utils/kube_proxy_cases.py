# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Services and EndpointSlices of kube-proxy's overall-rules tests, shared by both backends' tests.

TestOverallIPTablesRules (pkg/proxy/iptables/proxier_test.go) and TestOverallNFTablesRules
(pkg/proxy/nftables/proxier_test.go) in kubernetes/kubernetes use the same Services.
"""

from __future__ import annotations


def service(namespace, name, cluster_ip, port=80, port_name="p80", **spec):
    ports = [{"name": port_name, "port": port, "protocol": "TCP"}]
    if "node_port" in spec:
        ports[0]["nodePort"] = spec.pop("node_port")
    body = {"clusterIP": cluster_ip, "ports": ports}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": namespace, "name": name}, "spec": body}


def endpoint_slice(namespace, service_name, addresses, port=80, port_name="p80", conditions=None):
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
        "metadata": {"namespace": namespace, "name": "%s-1" % service_name,
                     "labels": {"kubernetes.io/service-name": service_name}},
        "endpoints": [dict({"addresses": [a]}, **({"conditions": conditions[i]} if conditions else {}))
                      for i, a in enumerate(addresses)],
        "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
    }


# The Services of kube-proxy's overall-rules tests that this lab models. svc5 is a LoadBalancer
# there; here it is the ClusterIP part of it, with the same session affinity.
OVERALL_SERVICES = [
    service("ns1", "svc1", "172.30.0.41"),
    service("ns3", "svc3", "172.30.0.43", type="NodePort", node_port=3003),
    service("ns4", "svc4", "172.30.0.44", type="NodePort", externalIPs=["192.168.99.33"]),
    service("ns5", "svc5", "172.30.0.45", sessionAffinity="ClientIP",
            sessionAffinityConfig={"clientIP": {"timeoutSeconds": 10800}}),
    service("ns6", "svc6", "172.30.0.46"),
]
OVERALL_SLICES = [
    endpoint_slice("ns1", "svc1", ["10.180.0.1"]),
    endpoint_slice("ns3", "svc3", ["10.180.0.3"]),
    endpoint_slice("ns4", "svc4", ["10.180.0.4", "10.180.0.5"]),
    endpoint_slice("ns5", "svc5", ["10.180.0.3"]),
]
