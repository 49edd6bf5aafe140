# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters that turn the short pod list of the inventory into the full pod records the roles use."""

from __future__ import annotations

DOCUMENTATION = r"""
name: pods
short_description: Complete a list of pods with the names the tutorial derives from each pod's name
version_added: 0.1.0
description:
  - Takes the short pod records of C(k8slab_pods) and fills in every derived field, so that
    the pod_network, web_app and service_proxy roles agree on names and addresses.
  - For a pod C(adam) the defaults are the tutorial's own names, namespace C(netns_adam),
    host-side veth C(veth_adam) and pod-side veth C(veth_ns_adam).
  - Fails with a clear message naming the pod, the field and the value on a duplicate name,
    namespace, veth name or address, an address outside the bridge's subnet, the bridge's own
    address, a name that is not a DNS label (no C(/), C(..), spaces or shell characters), an
    interface name longer than 15 characters, labels that are not a mapping, nameservers that
    are not a list of addresses, or a bridge address without its prefix length.
  - The same rules run up front for the whole lab in the P(k8slab.kube_proxy.lab_model#filter) filter.
positional: bridge_address
options:
  _input:
    description: The pods, each a dict with at least C(name) and C(address).
    type: list
    elements: dict
    required: true
  bridge_address:
    description: The bridge's address with prefix length, such as C(10.0.0.1/24). Pod addresses get its prefix length.
    type: str
    required: true
  nodes:
    description:
      - A cluster's nodes (the C(nodes) of the P(k8slab.kube_proxy.cluster#filter) filter's result, dicts with C(name)
        and C(bridge_address)). Each pod must then name one of them in C(node), and gets that node's subnet and
        gateway instead of O(bridge_address)'s; its record keeps C(node).
      - Names and addresses are unique across the cluster; namespaces and interface names on each node.
    type: list
    elements: dict
    version_added: 0.2.0
"""

EXAMPLES = r"""
- name: Show the complete pod records
  ansible.builtin.debug:
    msg: "{{ [{'name': 'adam', 'address': '10.0.0.11', 'labels': {'component': 'app'}}] | k8slab.kube_proxy.pods('10.0.0.1/24') }}"
  # [{"name": "adam", "netns": "netns_adam", "host_veth": "veth_adam", "pod_veth": "veth_ns_adam",
  #   "address": "10.0.0.11", "cidr": "10.0.0.11/24", "gateway": "10.0.0.1", "labels": {"component": "app"},
  #   "nameservers": ["8.8.8.8"]}]
"""

RETURN = r"""
_value:
  description: The pods with C(netns), C(host_veth), C(pod_veth), C(cidr), C(gateway), C(labels) and C(nameservers) filled in.
  type: list
  elements: dict
"""

import re

from ansible.errors import AnsibleFilterError
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.service_model import yaml_kind as kind
from ansible_collections.k8slab.kube_proxy.plugins.plugin_utils import addresses

# A pod's name becomes part of namespace, interface, unit and chain names: a
# Kubernetes DNS label (lower-case letters, digits, '-'), so no '/', '..', spaces or shell characters.
POD_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# Interface names: at most 15 bytes; characters that need no quoting anywhere, not starting with '-' or '.'.
IFNAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,14}\Z")
# Namespace names are file names under /run/netns and /etc/netns and systemd instance names (no '+', '=', '@').
NETNS_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}\Z")
# Kubernetes label keys (optional DNS prefix) and values.
LABEL_NAME_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
LABEL_PREFIX_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
DEFAULT_NAMESERVERS = ["8.8.8.8"]  # the tutorial's /etc/netns/*/resolv.conf


def parse_bridge_address(bridge_address):
    """The bridge's address as a netaddr IPNetwork (.ip and .cidr); it must carry its prefix length (never /32)."""
    addresses.require_netaddr()
    text = bridge_address if isinstance(bridge_address, str) else None
    if text is None or "/" not in text:
        raise ValueError("bridge address %r must be an IPv4 address with a prefix length, such as 10.0.0.1/24"
                         % (bridge_address,))
    try:
        bridge = addresses.ip_interface(text)
    except ValueError as exc:
        raise ValueError("bridge address %r is not an address with a prefix length: %s" % (bridge_address, exc))
    if bridge.version != 4:
        raise ValueError("bridge address %r: only IPv4 is supported (the chains are iptables, not ip6tables)"
                         % (bridge_address,))
    if bridge.prefixlen > 30:
        raise ValueError("bridge address %r: a /%d network has no room for pods; use /30 or shorter"
                         % (bridge_address, bridge.prefixlen))
    if not addresses.is_host_address(bridge.ip, bridge.cidr):
        raise ValueError("bridge address %r is not a host address of %s" % (bridge_address, bridge.cidr))
    return bridge


def check_labels(name, labels):
    """A pod's labels: a mapping of Kubernetes label names to text values."""
    if labels is None:
        return {}
    if not isinstance(labels, dict):
        raise ValueError("pod %s: labels must be a mapping such as {component: app}, got %s %r"
                         % (name, kind(labels), labels))
    result = {}
    for key, value in labels.items():
        key_text = str(key) if isinstance(key, (str, int)) and not isinstance(key, bool) else None
        prefix, dummy, label = (key_text or "").rpartition("/")
        if key_text is None or not LABEL_NAME_RE.match(label) or (prefix and not LABEL_PREFIX_RE.match(prefix)):
            raise ValueError("pod %s: label name %r is not a Kubernetes label name" % (name, key))
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError("pod %s: label %s has value %r; label values are text" % (name, key_text, value))
        text = str(value)
        if text and not LABEL_NAME_RE.match(text):
            raise ValueError("pod %s: label %s=%r is not a valid label value (at most 63 letters, digits, -, _ or .)"
                             % (name, key_text, value))
        result[key_text] = text
    return result


def check_nameservers(name, nameservers):
    """A pod's nameservers: a list of IP addresses (a bare string would be split into characters)."""
    if nameservers is None:
        return list(DEFAULT_NAMESERVERS)
    if not isinstance(nameservers, list) or not nameservers:
        raise ValueError("pod %s: nameservers must be a non-empty list of IP addresses, got %r"
                         % (name, nameservers))
    result = []
    for server in nameservers:
        try:
            result.append(str(addresses.ip_address(server)))
        except ValueError:
            raise ValueError("pod %s: nameserver %r is not an IP address" % (name, server))
    return result


def node_bridges(nodes):
    """The bridge (a netaddr IPNetwork, see parse_bridge_address) of each node of a cluster, by node name."""
    result = {}
    for node in nodes or []:
        try:
            result[node["name"]] = parse_bridge_address(node["bridge_address"])
        except ValueError as exc:
            raise ValueError("node %s: %s" % (node.get("name"), exc))
    return result


def complete_pods(pods, bridge_address, nodes=None):
    """Return full pod records; raise ValueError with a readable message on bad input.

    nodes: a cluster's nodes (dicts with name and bridge_address); a pod whose node is one of them
    gets that node's subnet and gateway, and keeps its node. Names and addresses are unique across
    the cluster, namespaces and interface names on each node.
    """
    local_bridge = parse_bridge_address(bridge_address)
    bridges = node_bridges(nodes)
    if not isinstance(pods, list):
        raise ValueError("pods must be a list, got %s %r" % (kind(pods), pods))
    result = []
    seen = {}
    for index, pod in enumerate(pods):
        if not isinstance(pod, dict) or not pod.get("name") or not pod.get("address"):
            raise ValueError("pod #%d needs at least a name and an address: %r" % (index, pod))
        name = pod["name"]
        if not isinstance(name, str) or not POD_NAME_RE.match(name):
            raise ValueError("pod #%d: name %r must be a DNS label: 1-63 lower-case letters, digits and '-', "
                             "starting and ending with a letter or digit" % (index, name))
        node = pod.get("node") if bridges else None
        if bridges and node not in bridges:
            raise ValueError("pod %s: node %r is not one of the cluster's nodes (%s)"
                             % (name, node, ", ".join(sorted(bridges))))
        bridge = bridges[node] if node else local_bridge
        raw_address = pod["address"]
        try:
            if not isinstance(raw_address, str):
                raise ValueError("not text")
            text, dummy, prefix = raw_address.strip().partition("/")
            address = addresses.ip_address(text)
            if prefix and prefix != str(bridge.prefixlen):
                raise ValueError("prefix")
        except ValueError:
            raise ValueError("pod %s: address %r is not an IPv4 address in the bridge's subnet %s"
                             % (name, raw_address, bridge.cidr))
        if address not in bridge.cidr:
            raise ValueError("pod %s: address %s is outside the bridge's subnet %s" % (name, address, bridge.cidr))
        if address == bridge.ip:
            raise ValueError("pod %s: address %s is the bridge's own address" % (name, address))
        if not addresses.is_host_address(address, bridge.cidr):
            raise ValueError("pod %s: address %s is not a host address of %s" % (name, address, bridge.cidr))
        full = {
            "name": name,
            "netns": pod.get("netns") or "netns_%s" % name,
            "host_veth": pod.get("host_veth") or "veth_%s" % name,
            "pod_veth": pod.get("pod_veth") or "veth_ns_%s" % name,
            "address": str(address),
            "cidr": "%s/%d" % (address, bridge.cidr.prefixlen),
            "gateway": str(bridge.ip),
            "labels": check_labels(name, pod.get("labels")),
            "nameservers": check_nameservers(name, pod.get("nameservers")),
        }
        if node:
            full["node"] = node
        if not isinstance(full["netns"], str) or full["netns"] in (".", "..") or not NETNS_RE.match(full["netns"]):
            raise ValueError("pod %s: netns %r must be 1 to 64 letters, digits or _.- (not starting with . or -)"
                             % (name, full["netns"]))
        for field in ("host_veth", "pod_veth"):
            if not isinstance(full[field], str) or not IFNAME_RE.match(full[field]):
                raise ValueError(
                    "pod %s: interface name %r must be 1 to 15 letters, digits or _.- "
                    "(set %s for this pod)" % (name, full[field], field))
        for field in ("name", "netns", "host_veth", "pod_veth", "address"):
            key = (field if field != "pod_veth" else "host_veth", full[field],
                   node if field in ("netns", "host_veth", "pod_veth") else None)
            if key in seen:
                raise ValueError("pods %s and %s share the %s %r" % (seen[key], name, field, full[field]))
            seen[key] = name
        result.append(full)
    return result


def pods_filter(pods, bridge_address, nodes=None):
    try:
        return complete_pods(pods, bridge_address, nodes)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {"pods": pods_filter}
