# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Address and CIDR arithmetic for the filters, on the controller, with netaddr (as ansible.utils' ipaddr filters).

The modules and module_utils run on the node and keep the standard library's ipaddress, so a node needs no
extra Python package. Every function here raises ValueError with a readable message, also when netaddr is
missing, so the filters turn it into one AnsibleFilterError.
"""

from __future__ import annotations

try:
    import netaddr
except ImportError:  # reported when a filter is used, not when Ansible loads it
    netaddr = None

MISSING_NETADDR = "the k8slab.kube_proxy filters need the netaddr Python library on the controller (pip install netaddr)"

# netaddr 1.x parses with inet_pton: no '10.1' or '010.0.0.1' shorthand, as ipaddress.
_ERRORS = (ValueError, TypeError) if netaddr is None else (netaddr.AddrFormatError, ValueError, TypeError)


def require_netaddr():
    """Raise ValueError saying what to install when netaddr is missing; filters call it before anything else."""
    _netaddr()


def _netaddr():
    if netaddr is None:
        raise ValueError(MISSING_NETADDR)
    return netaddr


def _width(address):
    return 32 if address.version == 4 else 128


def ip_address(text):
    """An IPAddress from an address without a prefix length."""
    lib = _netaddr()
    if not isinstance(text, str) or "/" in text or not text.strip():
        raise ValueError("%r does not appear to be an IP address" % (text,))
    try:
        return lib.IPAddress(text.strip())
    except _ERRORS:
        raise ValueError("%r does not appear to be an IP address" % (text,))


def ip_interface(text):
    """An IPNetwork that keeps its address (.ip) and its network (.cidr), from an address with a prefix length."""
    lib = _netaddr()
    if not isinstance(text, str) or "/" not in text:
        raise ValueError("%r is not an address with a prefix length" % (text,))
    address, dummy, prefix = text.strip().partition("/")
    if not prefix.isdigit():
        raise ValueError("%r has no valid prefix length" % (text,))
    parsed = ip_address(address)
    if int(prefix) > _width(parsed):
        raise ValueError("%r has a prefix length longer than the address" % (text,))
    try:
        return lib.IPNetwork("%s/%s" % (parsed, int(prefix)))
    except _ERRORS as exc:
        raise ValueError("%r is not an address with a prefix length: %s" % (text, exc))


def ip_network(text, strict=True):
    """An IPNetwork (its .cidr) from a network in CIDR notation; strict: host bits must be zero.

    A bare address is a /32 (or /128) network, as ipaddress.ip_network has it.
    """
    if not isinstance(text, str):
        raise ValueError("%r is not a network in CIDR notation" % (text,))
    text = text.strip()
    network = ip_interface(text if "/" in text else "%s/%d" % (text, _width(ip_address(text))))
    if strict and network.ip != network.network:
        raise ValueError("%s has host bits set" % text)
    return network.cidr


def overlaps(first, second):
    """Whether two IPNetworks share an address."""
    return first.version == second.version and first.first <= second.last and second.first <= first.last


def is_host_address(address, network):
    """Whether address lies in network and is neither its network nor its broadcast address (IPv4)."""
    return address in network and address not in (network.network, network.broadcast)
