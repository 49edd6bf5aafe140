# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compute the nat and filter chains kube-proxy's iptables mode writes, in its own layout."""

from __future__ import annotations

DOCUMENTATION = r"""
name: kube_proxy_chains
short_description: The chains kube-proxy (iptables mode) writes for a set of Services, in kube-proxy's own layout
version_added: 0.1.0
description:
  - Takes Services and EndpointSlices as Kubernetes manifests (a C(kind=List) export of
    C(kubectl get svc,endpointslices -o yaml) included) and the complete pod records of the
    P(k8slab.kube_proxy.pods#filter) filter, and returns what kube-proxy's C(syncProxyRules) would write,
    ready for the P(k8slab.kube_proxy.iptables_chains#module) module, one call per table.
  - "nat: C(KUBE-SERVICES) (jumped to first from C(PREROUTING) and C(OUTPUT)) with one rule per cluster IP and
    external IP, and the C(addrtype --dst-type LOCAL) jump to C(KUBE-NODEPORTS) as its last rule;
    C(KUBE-SVC-<hash>) per Service port (masquerade of traffic from outside O(cluster_cidr), session affinity with
    C(-m recent), then one C(statistic) rule per endpoint with probability 1/n, 1/(n-1), ...);
    C(KUBE-SEP-<hash>) per endpoint (hairpin masquerade, DNAT); C(KUBE-EXT-<hash>) per NodePort or external IP Service;
    C(KUBE-MARK-MASQ) and C(KUBE-POSTROUTING) (mark C(0x4000), MASQUERADE, C(--random-fully) if O(random_fully))."
  - "filter: C(KUBE-SERVICES) and C(KUBE-EXTERNAL-SERVICES) C(REJECT) every Service port that has no endpoints,
    so a connection is refused at once instead of timing out; C(KUBE-FORWARD), C(KUBE-FIREWALL),
    C(KUBE-NODEPORTS) and C(KUBE-PROXY-FIREWALL), jumped to from C(INPUT), C(FORWARD) and C(OUTPUT) as on a node."
  - Chain names are kube-proxy's, the first 16 characters of base32(sha256) of the service port name and protocol
    (and the endpoint), so a Service's chains never change when other Services come and go.
  - Endpoints come from EndpointSlices for a Service that has any (C(ready=false) endpoints are left out, as
    kube-proxy does), else from the pods its selector matches. See docs/role-service_proxy.md for where this
    layout differs from kube-proxy on purpose.
positional: pods
options:
  _input:
    description: Service manifests (and, if mixed in, EndpointSlice manifests or C(kind=List) objects holding them).
    type: list
    elements: dict
    required: true
  pods:
    description: The complete pod records, as the P(k8slab.kube_proxy.pods#filter) filter returns them.
    type: list
    elements: dict
    required: true
  endpoint_slices:
    description: EndpointSlice manifests (C(discovery.k8s.io/v1)), or C(kind=List) objects holding them.
    type: list
    elements: dict
    default: []
  cluster_cidr:
    description: The pod CIDR (kube-proxy's C(--cluster-cidr)); traffic to a cluster IP from outside it is masqueraded.
    type: str
  random_fully:
    description: Add C(--random-fully) to the MASQUERADE rule (iptables 1.6.2 or later supports it).
    type: bool
    default: true
  localhost_nodeports:
    description:
      - Let NodePorts answer on 127.0.0.1 (kube-proxy's default, which needs C(route_localnet=1)).
      - Off here by default, so the node's sysctls stay as they are; the jump to C(KUBE-NODEPORTS) then carries
        C(! -d 127.0.0.0/8), as kube-proxy writes it with C(--iptables-localhost-nodeports=false).
    type: bool
    default: false
  warn:
    description: Show a warning for every Service port without endpoints.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Plan kube-proxy's chains for the tutorial's Service
  ansible.builtin.set_fact:
    plan: >-
      {{ services | k8slab.kube_proxy.kube_proxy_chains(pod_records, cluster_cidr='10.0.0.0/24') }}

- name: Write the nat table
  k8slab.kube_proxy.iptables_chains:
    table: nat
    owner: service_proxy
    chains: "{{ plan.nat.chains }}"
    builtin_rules: "{{ plan.nat.builtin_rules }}"
"""

RETURN = r"""
_value:
  description: The plan.
  type: dict
  contains:
    nat:
      description: C(chains) and C(builtin_rules) for the iptables_chains module, table C(nat).
      type: dict
    filter:
      description: C(chains) and C(builtin_rules) for the iptables_chains module, table C(filter).
      type: dict
    services:
      description:
        - One record per Service port, with kube-proxy's service port name as C(key) (C(default/app-service),
          C(ns/name:port) for a named port) and C(chain), the C(KUBE-SVC-...) chain.
        - Each endpoint has C(endpoint) (C(ip:port)), C(address), C(port), C(pod) and C(netns) (of the pod with
          that address), C(chain) (C(KUBE-SEP-...)), C(probability) (as written, or null for the last) and C(share).
      type: list
      elements: dict
    paths:
      description: For every Service port key, the chains a packet to it passes, in order.
      type: dict
    endpoints:
      description: For every Service port key, its endpoints' pod names (or addresses) in rule order.
      type: dict
    warnings:
      description: One message per Service port that has no endpoints (rejected in filter C(KUBE-SERVICES)).
      type: list
      elements: str
"""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

# The renderer lives in module_utils, shared with the iptables_chains module (option service_model).
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.kube_proxy_iptables import plan_kube_proxy_chains


def kube_proxy_chains_filter(services, pods, endpoint_slices=None, cluster_cidr=None, random_fully=True,
                             localhost_nodeports=False, warn=True):
    try:
        plan = plan_kube_proxy_chains(services, pods, endpoint_slices=endpoint_slices, cluster_cidr=cluster_cidr,
                                      random_fully=random_fully, localhost_nodeports=localhost_nodeports)
    except ValueError as exc:
        raise AnsibleFilterError(to_text(exc))
    if warn and plan["warnings"]:
        from ansible.utils.display import Display
        for message in plan["warnings"]:
            Display().warning(message)
    return plan


class FilterModule(object):
    def filters(self):
        return {"kube_proxy_chains": kube_proxy_chains_filter}
