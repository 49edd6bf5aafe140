# SPDX-License-Identifier: GPL-3.0-or-later
"""The cluster filter: one node's pods, every endpoint, the routes to the other nodes; single node unchanged."""
import pytest

from ansible_collections.k8slab.kube_proxy.plugins.filter.cluster import cluster_view
from ansible_collections.k8slab.kube_proxy.plugins.filter.lab_model import validate_lab
from ansible_collections.k8slab.kube_proxy.plugins.filter.pods import complete_pods

TUTORIAL = [
    {"name": "adam", "address": "10.0.0.11", "labels": {"component": "app"}},
    {"name": "eve", "address": "10.0.0.21", "labels": {"component": "app"}},
]
HOSTVARS = {
    "n1": {"k8slab_bridge_address": "10.0.1.1/24", "k8slab_node_address": "192.0.2.11"},
    "n2": {"k8slab_bridge_address": "10.0.2.1/24", "k8slab_node_address": "192.0.2.12"},
    "n3": {"k8slab_bridge_address": "10.0.3.1/24", "k8slab_node_address": "192.0.2.13"},
}
PODS = [
    {"name": "adam", "address": "10.0.1.11", "node": "n1", "labels": {"component": "app"}},
    {"name": "eve", "address": "10.0.2.11", "node": "n2", "labels": {"component": "app"}},
    {"name": "cain", "address": "10.0.3.11", "node": "n3", "labels": {"component": "app"}},
]


def view(node="n1", nodes=("n1", "n2", "n3"), pods=None, hostvars=None, cidr="10.0.0.0/16"):
    return cluster_view(PODS if pods is None else pods, node, list(nodes), HOSTVARS if hostvars is None else hostvars, cidr)


def test_single_node_is_the_tutorial():
    result = cluster_view(TUTORIAL, "k8slab-node")
    assert result == {"local_pods": TUTORIAL, "pods": TUTORIAL, "nodes": [], "routes": [], "pod_cidr": "",
                      "cluster_cidr": ""}


def test_node_view():
    result = view("n2")
    assert [pod["name"] for pod in result["local_pods"]] == ["eve"]
    assert [pod["name"] for pod in result["pods"]] == ["adam", "eve", "cain"]
    assert result["pod_cidr"] == "10.0.2.0/24"
    assert result["cluster_cidr"] == "10.0.0.0/16"
    assert result["routes"] == [
        {"destination": "10.0.1.0/24", "gateway": "192.0.2.11", "node": "n1"},
        {"destination": "10.0.3.0/24", "gateway": "192.0.2.13", "node": "n3"},
    ]


def test_removed_node_takes_its_pods_and_route_along():
    result = view("n1", nodes=("n1", "n2"))
    assert [pod["name"] for pod in result["pods"]] == ["adam", "eve"]
    assert [route["node"] for route in result["routes"]] == ["n2"]


def test_nodes_as_dicts():
    nodes = [{"name": name, "bridge_address": HOSTVARS[name]["k8slab_bridge_address"],
              "address": HOSTVARS[name]["k8slab_node_address"]} for name in ("n1", "n2")]
    assert cluster_view(PODS, "n1", nodes, None, "10.0.0.0/16")["routes"][0]["gateway"] == "192.0.2.12"


def test_every_endpoint_gets_its_own_nodes_subnet():
    result = view("n1")
    records = complete_pods(result["pods"], "10.0.1.1/24", result["nodes"])
    assert [(pod["node"], pod["cidr"], pod["gateway"]) for pod in records] == [
        ("n1", "10.0.1.11/24", "10.0.1.1"), ("n2", "10.0.2.11/24", "10.0.2.1"), ("n3", "10.0.3.11/24", "10.0.3.1")]
    assert validate_lab(result["pods"], "10.0.1.1/24", nodes=result["nodes"])


def test_same_netns_on_two_nodes_is_fine_but_not_the_same_name_or_address():
    nodes = view()["nodes"]
    pods = [{"name": "a", "address": "10.0.1.5", "node": "n1", "netns": "pod"},
            {"name": "b", "address": "10.0.2.5", "node": "n2", "netns": "pod"}]
    assert len(complete_pods(pods, "10.0.1.1/24", nodes)) == 2
    with pytest.raises(ValueError, match="share the name"):
        complete_pods([pods[0], dict(pods[1], name="a")], "10.0.1.1/24", nodes)
    with pytest.raises(ValueError, match="outside the bridge's subnet 10.0.2.0/24"):
        complete_pods([pods[0], dict(pods[1], address="10.0.1.6")], "10.0.1.1/24", nodes)


def test_cluster_ip_inside_another_nodes_subnet():
    result = view("n1")
    service = {"metadata": {"name": "s"}, "spec": {"clusterIP": "10.0.3.200", "selector": {"component": "app"},
                                                   "ports": [{"port": 80, "targetPort": 8080}]}}
    with pytest.raises(ValueError, match="lies inside reserved network 10.0.3.0/24"):
        validate_lab(result["pods"], "10.0.1.1/24", services=[service], nodes=result["nodes"])


@pytest.mark.parametrize("change, message", [
    ({"cidr": "10.0.0.0/33"}, "not a network in CIDR notation"),
    ({"cidr": "10.0.0.1/16"}, "not a network in CIDR notation"),
    ({"node": "n9"}, "node n9 is not one of the cluster's nodes"),
    ({"nodes": ("n1", "n1")}, "listed twice"),
    ({"hostvars": dict(HOSTVARS, n2={"k8slab_node_address": "192.0.2.12"})}, "n2: set k8slab_bridge_address"),
    ({"hostvars": dict(HOSTVARS, n2={"k8slab_bridge_address": "10.1.2.1/24", "k8slab_node_address": "192.0.2.12"})},
     "outside the cluster CIDR"),
    ({"hostvars": dict(HOSTVARS, n2={"k8slab_bridge_address": "10.0.1.129/25", "k8slab_node_address": "192.0.2.12"})},
     "overlapping pod subnets"),
    ({"hostvars": dict(HOSTVARS, n2={"k8slab_bridge_address": "10.0.2.1/24"})}, "k8slab_node_address None"),
    ({"hostvars": dict(HOSTVARS, n2={"k8slab_bridge_address": "10.0.2.1/24", "k8slab_node_address": "10.0.9.9"})},
     "inside the cluster CIDR"),
    ({"hostvars": dict(HOSTVARS, n2={"k8slab_bridge_address": "10.0.2.1/24", "k8slab_node_address": "192.0.2.11"})},
     "share the address"),
    ({"pods": [{"name": "adam", "address": "10.0.1.11"}]}, "every pod names the node"),
])
def test_bad_cluster(change, message):
    kwargs = dict(change)
    if "cidr" not in kwargs:
        kwargs["cidr"] = "10.0.0.0/16"
    with pytest.raises(ValueError, match=message):
        view(**kwargs)


def test_pod_on_unknown_node_with_nodes_is_an_error():
    with pytest.raises(ValueError, match="node 'n7' is not one of the cluster's nodes"):
        complete_pods([{"name": "a", "address": "10.0.1.5", "node": "n7"}], "10.0.1.1/24", view()["nodes"])
