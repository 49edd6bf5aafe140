# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The cluster model: which pods run on which node, each node's pod subnet, the routes between them."""

from __future__ import annotations

DOCUMENTATION = r"""
name: cluster
short_description: One node's view of a cluster of lab nodes - its pods, every endpoint, the routes to the other nodes
version_added: 0.2.0
description:
  - Takes the cluster-wide pod list (C(k8slab_pods), each pod naming its node in C(node)) and returns what one
    node needs, as kubelet, kube-proxy and a host-gw network plugin (flannel's C(host-gw), kubenet) see it.
  - Each node of O(nodes) brings its pod subnet (the network of its C(k8slab_bridge_address), set per host) and
    its address (C(k8slab_node_address), the address the other nodes route its pod subnet through).
    Every pod subnet must lie inside O(cluster_cidr) and no two may overlap.
  - A pod whose C(node) is not one of O(nodes) is left out everywhere, so removing a node from the inventory
    removes its pods' endpoints from every other node on the next converge, as when Kubernetes deletes a node.
  - With O(cluster_cidr) empty (a single node, the tutorial) every pod is local and no route is added;
    C(node) is then ignored.
  - Fails with a message naming the node or pod, the field and the value.
positional: node
options:
  _input:
    description: The cluster's pods (short records as C(k8slab_pods)); each needs C(node) when O(cluster_cidr) is set.
    type: list
    elements: dict
    required: true
  node:
    description: The node whose view to return (its inventory name, such as C(inventory_hostname)).
    type: str
    required: true
  nodes:
    description:
      - The cluster's nodes, in order. Either a list of dicts with C(name), C(bridge_address) and C(address), or a
        list of inventory names together with O(hostvars), from which each node's C(k8slab_bridge_address) and
        C(k8slab_node_address) are read.
    type: list
    elements: raw
    default: []
  hostvars:
    description: Ansible's C(hostvars), to read the nodes' variables when O(nodes) lists names.
    type: raw
  cluster_cidr:
    description: The cluster CIDR holding every node's pod subnet (kube-proxy's C(--cluster-cidr)). Empty for one node.
    type: str
    default: ''
"""

EXAMPLES = r"""
- name: What this node runs and routes
  ansible.builtin.debug:
    msg: >-
      {{ k8slab_pods | k8slab.kube_proxy.cluster(inventory_hostname, cluster_cidr='10.0.0.0/16',
           nodes=query('ansible.builtin.inventory_hostnames', 'nodes'), hostvars=hostvars) }}
  # {"local_pods": [...], "pods": [...], "nodes": [...], "routes": [{"destination": "10.0.2.0/24",
  #  "gateway": "192.0.2.12", "node": "node2"}], "pod_cidr": "10.0.1.0/24", "cluster_cidr": "10.0.0.0/16"}
"""

RETURN = r"""
_value:
  description: One node's view of the cluster.
  type: dict
  contains:
    local_pods:
      description: The pods that run on O(node) (short records; what pod_network and web_app build).
      type: list
      elements: dict
    pods:
      description: The pods on every node of the cluster (short records, each with C(node)); the Services' endpoints.
      type: list
      elements: dict
    nodes:
      description: The nodes, each with C(name), C(bridge_address), C(pod_cidr) and C(address).
      type: list
      elements: dict
    routes:
      description: A route per other node, C(destination) its pod subnet, C(gateway) its address.
      type: list
      elements: dict
    pod_cidr:
      description: The pod subnet of O(node).
      type: str
    cluster_cidr:
      description: The cluster CIDR; empty for a single node.
      type: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.k8slab.kube_proxy.plugins.filter.pods import kind, parse_bridge_address
from ansible_collections.k8slab.kube_proxy.plugins.plugin_utils import addresses


def _hostvar(hostvars, name, key):
    try:
        host = hostvars[name]
    except (KeyError, TypeError):
        return None
    try:
        return host.get(key) if hasattr(host, "get") else host[key]
    except (KeyError, TypeError):
        return None


def node_records(nodes, hostvars=None):
    """The nodes as dicts with name, bridge_address and address."""
    if not isinstance(nodes, list):
        raise ValueError("nodes must be a list, got %s %r" % (kind(nodes), nodes))
    result = []
    for entry in nodes:
        if isinstance(entry, str):
            if hostvars is None:
                raise ValueError("node %s: nodes lists names, so hostvars is needed to read their variables" % entry)
            entry = {"name": entry, "bridge_address": _hostvar(hostvars, entry, "k8slab_bridge_address"),
                     "address": _hostvar(hostvars, entry, "k8slab_node_address")}
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
            raise ValueError("a node must be an inventory name or a dict with a name, got %r" % (entry,))
        result.append({"name": entry["name"], "bridge_address": entry.get("bridge_address"),
                       "address": entry.get("address")})
    return result


def check_nodes(nodes, cluster_cidr):
    """Each node's pod subnet inside the cluster CIDR, no overlaps, an address outside the cluster CIDR."""
    addresses.require_netaddr()
    try:
        cluster = addresses.ip_network(str(cluster_cidr).strip())
    except ValueError:
        raise ValueError("cluster CIDR %r is not a network in CIDR notation with host bits zero, such as 10.0.0.0/16"
                         % (cluster_cidr,))
    if cluster.version != 4:
        raise ValueError("cluster CIDR %s: only IPv4 is supported" % cluster)
    result, seen = [], {}
    for node in nodes:
        name = node["name"]
        if name in seen:
            raise ValueError("node %s is listed twice" % name)
        if not node["bridge_address"]:
            raise ValueError("node %s: set k8slab_bridge_address (its pod subnet's gateway, such as 10.0.1.1/24) "
                             "for it in the inventory" % name)
        try:
            bridge = parse_bridge_address(node["bridge_address"])
        except ValueError as exc:
            raise ValueError("node %s: %s" % (name, exc))
        if bridge.cidr not in cluster:
            raise ValueError("node %s: pod subnet %s (k8slab_bridge_address %s) is outside the cluster CIDR %s"
                             % (name, bridge.cidr, node["bridge_address"], cluster))
        for other in result:
            if addresses.overlaps(bridge.cidr, addresses.ip_network(other["pod_cidr"])):
                raise ValueError("nodes %s and %s have overlapping pod subnets %s and %s"
                                 % (other["name"], name, other["pod_cidr"], bridge.cidr))
        address = node["address"]
        try:
            parsed = addresses.ip_address(address)
        except ValueError:
            raise ValueError("node %s: k8slab_node_address %r must be the IPv4 address the other nodes reach it at"
                             % (name, address))
        if parsed in cluster:
            raise ValueError("node %s: k8slab_node_address %s lies inside the cluster CIDR %s" % (name, parsed, cluster))
        for other in result:
            if other["address"] == str(parsed):
                raise ValueError("nodes %s and %s share the address %s" % (other["name"], name, parsed))
        seen[name] = True
        result.append({"name": name, "bridge_address": str(bridge), "pod_cidr": str(bridge.cidr),
                       "address": str(parsed)})
    return str(cluster), result


def cluster_view(pods, node, nodes=None, hostvars=None, cluster_cidr=""):
    """One node's view; raise ValueError with a readable message on bad input."""
    if not isinstance(pods, list):
        raise ValueError("pods must be a list, got %s %r" % (kind(pods), pods))
    if not cluster_cidr:
        return {"local_pods": list(pods), "pods": list(pods), "nodes": [], "routes": [], "pod_cidr": "",
                "cluster_cidr": ""}
    cluster, records = check_nodes(node_records(nodes or [], hostvars), cluster_cidr)
    by_name = dict((record["name"], record) for record in records)
    if node not in by_name:
        raise ValueError("node %s is not one of the cluster's nodes (%s)" % (node, ", ".join(by_name) or "none"))
    on_nodes = []
    for index, pod in enumerate(pods):
        where = pod.get("name") if isinstance(pod, dict) else None
        if not isinstance(pod, dict) or not isinstance(pod.get("node"), str) or not pod["node"]:
            raise ValueError("pod %s: with a cluster CIDR every pod names the node it runs on (node: <inventory name>)"
                             % (where or "#%d" % index))
        if pod["node"] in by_name:
            on_nodes.append(pod)
    mine = by_name[node]
    return {
        "local_pods": [pod for pod in on_nodes if pod["node"] == node],
        "pods": on_nodes,
        "nodes": records,
        "routes": [{"destination": record["pod_cidr"], "gateway": record["address"], "node": record["name"]}
                   for record in records if record["name"] != node],
        "pod_cidr": mine["pod_cidr"],
        "cluster_cidr": cluster,
    }


def cluster_filter(pods, node, nodes=None, hostvars=None, cluster_cidr=""):
    try:
        return cluster_view(pods, node, nodes, hostvars, cluster_cidr)
    except ValueError as exc:
        raise AnsibleFilterError("k8slab cluster model: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"cluster": cluster_filter}
