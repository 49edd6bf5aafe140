# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
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
  - Fails with a clear message on a duplicate name, namespace, veth name or address, an
    address outside the bridge's subnet, the bridge's own address, or an interface name
    longer than 15 characters.
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

import ipaddress
import re

from ansible.errors import AnsibleFilterError

IFNAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,15}$")
DEFAULT_NAMESERVERS = ["8.8.8.8"]  # the tutorial's /etc/netns/*/resolv.conf


def complete_pods(pods, bridge_address):
    """Return full pod records; raise ValueError with a readable message on bad input."""
    try:
        bridge = ipaddress.ip_interface(str(bridge_address))
    except ValueError as exc:
        raise ValueError("bridge address %r is not an address with a prefix length: %s" % (bridge_address, exc))
    if not isinstance(pods, list):
        raise ValueError("pods must be a list, got %s" % type(pods).__name__)
    result = []
    seen = {}
    for index, pod in enumerate(pods):
        if not isinstance(pod, dict) or not pod.get("name") or not pod.get("address"):
            raise ValueError("pod #%d needs at least a name and an address: %r" % (index, pod))
        name = str(pod["name"])
        try:
            address = ipaddress.ip_address(str(pod["address"]).split("/", maxsplit=1)[0])
        except ValueError:
            raise ValueError("pod %s: %r is not an IP address" % (name, pod["address"]))
        if address not in bridge.network:
            raise ValueError("pod %s: address %s is outside the bridge's subnet %s" % (name, address, bridge.network))
        if address == bridge.ip:
            raise ValueError("pod %s: address %s is the bridge's own address" % (name, address))
        if address in (bridge.network.network_address, bridge.network.broadcast_address):
            raise ValueError("pod %s: address %s is not a host address of %s" % (name, address, bridge.network))
        full = {
            "name": name,
            "netns": str(pod.get("netns") or "netns_%s" % name),
            "host_veth": str(pod.get("host_veth") or "veth_%s" % name),
            "pod_veth": str(pod.get("pod_veth") or "veth_ns_%s" % name),
            "address": str(address),
            "cidr": "%s/%d" % (address, bridge.network.prefixlen),
            "gateway": str(bridge.ip),
            "labels": dict(pod.get("labels") or {}),
            "nameservers": list(pod.get("nameservers") or DEFAULT_NAMESERVERS),
        }
        for field in ("host_veth", "pod_veth"):
            if not IFNAME_RE.match(full[field]):
                raise ValueError(
                    "pod %s: interface name %r must be 1 to 15 letters, digits or _.- "
                    "(set %s for this pod)" % (name, full[field], field))
        for field in ("name", "netns", "host_veth", "pod_veth", "address"):
            key = (field if field != "pod_veth" else "host_veth", full[field])
            if key in seen:
                raise ValueError("pods %s and %s share the %s %r" % (seen[key], name, field, full[field]))
            seen[key] = name
        result.append(full)
    return result


def pods_filter(pods, bridge_address):
    try:
        return complete_pods(pods, bridge_address)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {"pods": pods_filter}
