# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The network an interface address belongs to, with netaddr and without ansible.utils."""

from __future__ import annotations

DOCUMENTATION = r"""
name: network
short_description: The network (CIDR) an interface address with prefix length belongs to
version_added: 0.1.0
description:
  - Turns an interface address such as the bridge's C(10.0.0.1/24) into its network C(10.0.0.0/24),
    the pod CIDR the tutorial masquerades (C(iptables -t nat -A POSTROUTING -s 10.0.0.0/24 -j MASQUERADE)).
  - Works for IPv4 and IPv6. Needs the C(netaddr) Python library on the controller (the one
    C(ansible.utils.ipaddr) uses), and no other collection.
  - Fails with a clear message on anything that is not an address with a prefix length.
options:
  _input:
    description: An interface address with prefix length, such as C(10.0.0.1/24) or C(fd00::1/64).
    type: str
    required: true
requirements:
  - netaddr (on the controller)
"""

EXAMPLES = r"""
- name: The pod CIDR of the tutorial's bridge
  ansible.builtin.debug:
    msg: "{{ '10.0.0.1/24' | k8slab.kube_proxy.network }}"
  # "10.0.0.0/24"
"""

RETURN = r"""
_value:
  description: The network in CIDR notation, host bits zero, such as C(10.0.0.0/24).
  type: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.k8slab.kube_proxy.plugins.plugin_utils.addresses import MISSING_NETADDR

try:
    import netaddr
except ImportError:  # reported when the filter is used, not when Ansible loads it
    netaddr = None


def interface_network(address):
    """Return the network of an interface address with prefix length; raise ValueError otherwise."""
    if not isinstance(address, str) or "/" not in address:
        raise ValueError("%r is not an address with a prefix length (such as 10.0.0.1/24)" % (address,))
    if netaddr is None:
        raise ValueError(MISSING_NETADDR)
    try:
        return str(netaddr.IPNetwork(address.strip()).cidr)
    except (netaddr.AddrFormatError, ValueError, TypeError) as exc:
        raise ValueError("%r is not an address with a prefix length: %s" % (address, exc))


def network_filter(address):
    try:
        return interface_network(address)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {"network": network_filter}
