# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Validate the whole lab (bridge, pods, Services) before any role changes the node."""

from __future__ import annotations

DOCUMENTATION = r"""
name: lab_model
short_description: Check the bridge, the pods and the Services of the lab together, before anything changes
version_added: 0.1.0
description:
  - Runs, on the controller, every rule the roles and modules apply to the lab's input, so that a bad
    value is rejected before the first change of the first role (the roles call it in their first task,
    C(site.yml) before any role).
  - The pods go through the P(k8slab.kube_proxy.pods#filter) filter's checks, the Services through the parsing
    and naming of the renderer the P(k8slab.kube_proxy.proxy_sync#module) module uses for O(layout), with the same
    chain names it would write, but without rendering a rule; the EndpointSlices through kube-proxy's (named
    target ports are allowed where EndpointSlices resolve them);
    then the checks across them - a cluster IP must not be a pod's address, the bridge's, or inside the pod
    CIDR or a reserved network.
  - Every message names the field and the value.
positional: bridge_address
options:
  _input:
    description: The pods (short records, as C(k8slab_pods)).
    type: list
    elements: dict
    required: true
  bridge_address:
    description: The bridge's address with its prefix length, such as C(10.0.0.1/24).
    type: str
    required: true
  bridge_name:
    description: The bridge's interface name; checked when given.
    type: str
  services:
    description: Service manifests; checked when given.
    type: list
    elements: dict
  extra_services:
    description: More Service manifests (such as those loaded from files), checked together with O(services).
    type: list
    elements: dict
  reserved_networks:
    description:
      - Networks (CIDR) no cluster IP may lie in, such as the node's own (the roles pass C(k8slab_node_networks));
        the pod CIDR is always one.
    type: list
    elements: str
    default: []
  endpoint_slices:
    description:
      - EndpointSlice manifests (discovery.k8s.io/v1); checked when given, in either layout.
      - In the kube-proxy layout a Service named by a slice takes its endpoints from it, so its named
        C(targetPort) is resolved there instead of being refused.
    type: list
    elements: dict
  layout:
    description: The service_proxy layout whose rules the Services are checked with.
    type: str
    choices: [tutorial, kube-proxy]
    default: tutorial
  nodes:
    description:
      - A cluster's nodes (the C(nodes) of the P(k8slab.kube_proxy.cluster#filter) filter's result); pods are then
        checked against their own node's subnet, and no cluster IP may lie in any node's pod subnet.
    type: list
    elements: dict
    version_added: 0.2.0
"""

EXAMPLES = r"""
- name: Check the lab before changing the node
  ansible.builtin.assert:
    that: k8slab_pods | k8slab.kube_proxy.lab_model('10.0.0.1/24', services=k8slab_services, bridge_name='bridge_eden')
    quiet: true
"""

RETURN = r"""
_value:
  description: C(true); a bad model fails the task instead, with a message naming the field and the value.
  type: bool
"""

import re

from ansible.errors import AnsibleFilterError
from ansible_collections.k8slab.kube_proxy.plugins.filter.pods import IFNAME_RE, complete_pods, kind, parse_bridge_address
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.service_chains import check_service_chains
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.service_model import normalise_service, service_ports, split_manifests
from ansible_collections.k8slab.kube_proxy.plugins.plugin_utils import addresses

LAYOUTS = ("tutorial", "kube-proxy")

_BRIDGE_RE = re.compile(IFNAME_RE.pattern)


def check_cluster_ips(services, bridge, pods, reserved):
    """A cluster IP is virtual: never a pod's address, the bridge's, or inside a network packets really reach."""
    pod_ips = dict((pod["address"], pod["name"]) for pod in pods)
    networks = [("the pod CIDR", bridge.cidr)]
    for text in reserved or []:
        try:
            networks.append(("reserved network", addresses.ip_network(str(text), strict=False)))
        except ValueError:
            raise ValueError("reserved network (k8slab_node_networks) %r is not a network in CIDR notation" % (text,))
    for index, manifest in enumerate(services):
        service = normalise_service(manifest, index)
        namespace, name, cluster_ip = service["namespace"], service["name"], service["cluster_ip"]
        if cluster_ip is None:
            continue  # headless: kube-proxy leaves it out, and so does the kube-proxy layout
        address = addresses.ip_address(cluster_ip)
        where = "Service %s/%s: spec.clusterIP %s" % (namespace, name, cluster_ip)
        if cluster_ip in pod_ips:
            raise ValueError("%s is the address of pod %s" % (where, pod_ips[cluster_ip]))
        if address == bridge.ip:
            raise ValueError("%s is the bridge's own address" % where)
        for label, network in networks:
            if address in network:
                raise ValueError("%s lies inside %s %s; choose an address outside it (the tutorial uses 10.96.0.1)"
                                 % (where, label, network))
        if address.is_loopback() or address.is_multicast() or int(address) == 0 or address.is_link_local() \
                or str(address) == "255.255.255.255":
            raise ValueError("%s is not a unicast address a Service can use" % where)


def validate_lab(pods, bridge_address, bridge_name=None, services=None, reserved_networks=None, extra_services=None,
                 endpoint_slices=None, layout="tutorial", nodes=None):
    """Raise ValueError with a message naming the field and the value; return True for a good model."""
    if layout not in LAYOUTS:
        raise ValueError("layout %r must be one of %s" % (layout, ", ".join(LAYOUTS)))
    if reserved_networks is not None and not isinstance(reserved_networks, list):
        raise ValueError("reserved networks (k8slab_node_networks) must be a list of CIDRs, got %s %r"
                         % (kind(reserved_networks), reserved_networks))
    if endpoint_slices is not None and not isinstance(endpoint_slices, list):
        raise ValueError("endpoint_slices must be a list of EndpointSlice manifests, got %s %r"
                         % (kind(endpoint_slices), endpoint_slices))
    if bridge_name is not None and (not isinstance(bridge_name, str) or not _BRIDGE_RE.match(bridge_name)):
        raise ValueError("bridge name %r must be 1 to 15 letters, digits or _.- (not starting with . or -)"
                         % (bridge_name,))
    bridge = parse_bridge_address(bridge_address)
    records = complete_pods(pods, bridge_address, nodes)
    if bridge_name is not None:
        for pod in records:
            if bridge_name in (pod["host_veth"], pod["pod_veth"]):
                raise ValueError("pod %s: interface name %r is the bridge's name" % (pod["name"], bridge_name))
    if services is not None:
        if not isinstance(services, list):
            raise ValueError("services must be a list of Service manifests, got %s %r"
                             % (kind(services), services))
        if extra_services:
            services = list(services) + list(extra_services)
        # Every per-Service rule and the chain names of the layout the role writes, without rendering
        # a rule: the renderers' own parsing and naming (the module renders on the node).
        if layout == "tutorial":
            check_service_chains(services, records)
            if endpoint_slices:
                service_ports(services, endpoint_slices, records)  # the slices, which this layout does not use
        else:
            service_manifests, slice_manifests = split_manifests(list(services) + list(endpoint_slices or []))
            service_ports(service_manifests, slice_manifests, records)
        reserved = list(reserved_networks or []) + [node["bridge_address"] for node in nodes or []]
        check_cluster_ips(services, bridge, records, reserved)
    elif endpoint_slices:
        service_ports([], endpoint_slices, records)
    return True


def lab_model_filter(pods, bridge_address, bridge_name=None, services=None, reserved_networks=None, extra_services=None,
                     endpoint_slices=None, layout="tutorial", nodes=None):
    try:
        return validate_lab(pods, bridge_address, bridge_name, services, reserved_networks, extra_services,
                            endpoint_slices, layout, nodes)
    except ValueError as exc:
        raise AnsibleFilterError("k8slab lab model rejected before any change: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"lab_model": lab_model_filter}
