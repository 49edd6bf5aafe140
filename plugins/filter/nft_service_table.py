# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The body of table ip kube-proxy (kube-proxy's nftables mode) from a Service plan."""

from __future__ import annotations

DOCUMENTATION = r"""
name: nft_service_table
short_description: The nftables table kube-proxy's nftables mode writes, from a Service plan
version_added: 0.1.0
description:
  - Takes the plan of the P(k8slab.kube_proxy.service_chains#filter) filter (tutorial layout) or of the
    P(k8slab.kube_proxy.kube_proxy_chains#filter) filter (kube-proxy layout) and returns the body of
    C(table ip kube-proxy) for the P(k8slab.kube_proxy.nft_table#module) module.
  - "C(tutorial): the smallest ruleset doing what the tutorial's nat chains do: the C(service-ips) verdict map
    keyed by C(ipv4_addr . inet_proto . inet_service), consulted from nat prerouting and output; the tutorial's
    Service chain (C(EDEN-SVC-HTTP)) picking an endpoint chain (C(ADAM-HTTP), C(EVE-HTTP)) with
    C(numgen random mod N vmap); the DNAT in the endpoint chain."
  - "C(kube-proxy): what kube-proxy's nftables proxier writes: its base chains with their hooks and priorities,
    C(cluster-ips), C(nodeport-ips), C(service-ips), C(service-nodeports), C(no-endpoint-services) (reject),
    C(mark-for-masquerade) and C(masquerading), C(service-<hash>-ns/name/proto/port) and
    C(endpoint-<hash>-...) chains, per-endpoint C(affinity-<hash>-...) sets with timeouts for ClientIP affinity."
options:
  _input:
    description: The plan (C(service_proxy_plan)); its C(services) records are used.
    type: dict
    required: true
  layout:
    description: C(tutorial) or C(kube-proxy); must match the filter that made the plan.
    type: str
    default: tutorial
  counters:
    description: Count every endpoint's packets in a named counter called like its chain (what verify reads).
    type: bool
    default: true
  cluster_cidr:
    description: kube-proxy layout, the pod CIDR; traffic to a cluster IP from outside it is masqueraded.
    type: str
  service_cidr:
    description: kube-proxy layout, the Service CIDR; traffic to an unallocated cluster IP in it is dropped.
    type: str
    default: 10.96.0.0/12
  nodeport_addresses:
    description: kube-proxy layout, the node addresses that accept NodePort traffic (C(nodeport-ips)).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Write the tutorial's Service as kube-proxy's nftables mode would
  k8slab.kube_proxy.nft_table:
    name: kube-proxy
    content: "{{ (service_proxy_plan | k8slab.kube_proxy.nft_service_table).content }}"
"""

RETURN = r"""
_value:
  description: The table.
  type: dict
  contains:
    content:
      description: The body of C(table ip kube-proxy), for nft_table's C(content).
      type: str
    counters:
      description: Named counter -> Service port key, one per endpoint (empty without O(counters)).
      type: dict
"""

import ipaddress

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import kube_proxy_nftables


def _cidr(value, what):
    try:
        return str(ipaddress.ip_network(to_text(value), strict=False))
    except ValueError:
        raise AnsibleFilterError("%s %r is not a CIDR" % (what, value))


def nft_service_table(plan, layout="tutorial", counters=True, cluster_cidr=None, service_cidr="10.96.0.0/12",
                      nodeport_addresses=None):
    if not isinstance(plan, dict) or not isinstance(plan.get("services"), list):
        raise AnsibleFilterError("nft_service_table takes a plan of service_chains or kube_proxy_chains (with services)")
    if layout == "tutorial":
        content, names = kube_proxy_nftables.render_tutorial(plan["services"], counters=bool(counters))
    elif layout == "kube-proxy":
        if not cluster_cidr:
            raise AnsibleFilterError("the kube-proxy layout needs cluster_cidr (the pod CIDR)")
        addresses = []
        for address in nodeport_addresses or []:
            try:
                addresses.append(str(ipaddress.IPv4Address(to_text(address))))
            except ValueError:
                raise AnsibleFilterError("nodeport address %r is not an IPv4 address" % (address,))
        try:
            content, names = kube_proxy_nftables.render_kube_proxy(
                plan["services"], _cidr(cluster_cidr, "cluster_cidr"), _cidr(service_cidr, "service_cidr"),
                addresses, counters=bool(counters))
        except KeyError as exc:
            raise AnsibleFilterError("the plan's services lack %s; make the plan with kube_proxy_chains for the "
                                     "kube-proxy layout" % exc)
    else:
        raise AnsibleFilterError("layout must be tutorial or kube-proxy, got %r" % (layout,))
    return {"content": content, "counters": names}


class FilterModule(object):
    def filters(self):
        return {"nft_service_table": nft_service_table}
