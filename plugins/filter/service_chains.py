# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compute the nat chains kube-proxy (iptables mode) would write for a set of Services and pods."""

from __future__ import annotations

DOCUMENTATION = r"""
name: service_chains
short_description: The nat chains that make each Service's cluster IP spread connections over its pods
version_added: 0.1.0
description:
  - Takes Services in the shape of Kubernetes Service manifests and the complete pod records of the
    P(k8slab.kube_proxy.pods#filter) filter, finds each Service's endpoints (the pods whose labels match
    its selector, as the endpoints controller would) and returns the nat chains and jumps that
    kube-proxy in iptables mode would write, ready for the P(k8slab.kube_proxy.iptables_chains#module) module.
  - "The layout is the tutorial's: a dispatch chain (C(APP-SERVICE)) jumped to from C(PREROUTING) and C(OUTPUT);
    in it one rule per Service port, C(-d CLUSTER_IP/32 -p tcp -m tcp --dport PORT -j <PREFIX>-SVC-<PORT NAME>);
    in the Service chain one rule per endpoint, C(-m statistic --mode random --probability P -j <POD>-<PORT NAME>),
    the last one without a probability; in each endpoint chain C(-p tcp -m tcp -j DNAT --to-destination POD:TARGET_PORT)."
  - For N endpoints the rules pick each with probability 1/N, 1/(N-1), ..., 1/2, the last unconditionally, so every
    endpoint gets the same share. The probability is written as kube-proxy writes it (C(%0.10f) of 1/n) and then
    as C(iptables-save) shows it back (11 decimals of the kernel's 31-bit fixed point value), so that the rules
    compare equal to what is read back, for example C(0.50000000000) and C(0.33333333349).
  - Endpoints are ordered newest pod first, that is in the reverse order of the pod list, as the tutorial's
    C(--insert EDEN-SVC-HTTP 1) puts the later pod (eve) in front of the earlier one (adam).
  - "Naming: a Service chain is C(<PREFIX>-SVC-<PORT>) and an endpoint chain C(<POD>-<PORT>), where C(<PORT>) is the
    port's name (or O(unnamed_port_name) for a Service's only, unnamed, port), upper-cased, with every character
    other than C(A-Z), C(0-9) and C(-) turned into C(-). When two Service ports would get the same C(<PORT>), those
    ports use C(<SERVICE>-<PORT>), and if that is still ambiguous C(<NAMESPACE>-<SERVICE>-<PORT>). A name that would
    still clash with another chain, a built-in chain or a target, or that is longer than 28 characters, is cut and
    gets a stable 6 character hash of the Service port (and pod) it stands for."
  - A Service port whose selector matches no pod gets no chain and no rule at all (never a half-written chain);
    it is listed in RV(_value.warnings) and shown as a warning.
  - Only IPv4 cluster IPs, Services of type ClusterIP or NodePort, and numeric target ports are supported; anything
    else is refused with a message naming the Service. The tutorial's layout serves a NodePort Service's cluster IP
    only and ignores session affinity; P(k8slab.kube_proxy.kube_proxy_chains#filter) writes both as kube-proxy does.
positional: pods
options:
  _input:
    description:
      - The Services, each a Kubernetes Service manifest (C(metadata.name), optional C(metadata.namespace),
        C(spec.clusterIP), C(spec.selector), C(spec.ports) with C(name), C(protocol), C(port), C(targetPort)).
    type: list
    elements: dict
    required: true
  pods:
    description: The complete pod records, as the P(k8slab.kube_proxy.pods#filter) filter returns them.
    type: list
    elements: dict
    required: true
  dispatch_chain:
    description: The chain jumped to from C(PREROUTING) and C(OUTPUT) that holds one rule per Service port.
    type: str
    default: APP-SERVICE
  chain_prefix:
    description: The first word of every Service chain name (C(<PREFIX>-SVC-...)).
    type: str
    default: EDEN
  unnamed_port_name:
    description: The name used in chain names for a Service's only port when it has no name.
    type: str
    default: HTTP
  comments:
    description:
      - Give every rule a comment naming the Service port and endpoint it serves, such as
        C(default/app-service:8080 -> adam) (the port's name, or its number when it has none).
      - Off by default, so that the tutorial's rules are reproduced exactly.
    type: bool
    default: false
  jump_position:
    description: Where the jumps from C(PREROUTING) and C(OUTPUT) go; C(last) is the tutorial's C(--append).
    type: str
    choices: [first, last]
    default: last
  warn:
    description: Show a warning for every Service port without endpoints.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Plan the tutorial's chains
  ansible.builtin.set_fact:
    plan: >-
      {{ services | k8slab.kube_proxy.service_chains(
           [{'name': 'adam', 'address': '10.0.0.11', 'labels': {'component': 'app'}},
            {'name': 'eve', 'address': '10.0.0.21', 'labels': {'component': 'app'}}]
           | k8slab.kube_proxy.pods('10.0.0.1/24')) }}
  vars:
    services:
      - apiVersion: v1
        kind: Service
        metadata: {name: app-service}
        spec:
          clusterIP: 10.96.0.1
          selector: {component: app}
          ports: [{protocol: TCP, port: 8080, targetPort: 8080}]

- name: Write them
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
      description: What to pass to the iptables_chains module for table C(nat).
      type: dict
      contains:
        chains:
          description: The dispatch chain, then for every Service port its Service chain and endpoint chains.
          type: list
          elements: dict
          sample:
            - {name: APP-SERVICE, rules: ["-d 10.96.0.1/32 -p tcp -m tcp --dport 8080 -j EDEN-SVC-HTTP"]}
            - {name: EDEN-SVC-HTTP, rules: ["-m statistic --mode random --probability 0.50000000000 -j EVE-HTTP", "-j ADAM-HTTP"]}
            - {name: EVE-HTTP, rules: ["-p tcp -m tcp -j DNAT --to-destination 10.0.0.21:8080"]}
            - {name: ADAM-HTTP, rules: ["-p tcp -m tcp -j DNAT --to-destination 10.0.0.11:8080"]}
        builtin_rules:
          description: The jumps to the dispatch chain.
          type: list
          elements: dict
          sample:
            - {chain: PREROUTING, rule: "-j APP-SERVICE", position: last}
            - {chain: OUTPUT, rule: "-j APP-SERVICE", position: last}
    services:
      description: One record per Service port, in the order declared.
      type: list
      elements: dict
      sample:
        - key: default/app-service:8080
          namespace: default
          name: app-service
          port_name: ""
          cluster_ip: 10.96.0.1
          port: 8080
          protocol: TCP
          target_port: 8080
          chain: EDEN-SVC-HTTP
          endpoints:
            - {pod: eve, netns: netns_eve, address: 10.0.0.21, port: 8080, chain: EVE-HTTP,
               probability: "0.50000000000", share: 0.5}
            - {pod: adam, netns: netns_adam, address: 10.0.0.11, port: 8080, chain: ADAM-HTTP,
               probability: null, share: 0.5}
    endpoints:
      description: For every Service port key, the names of its endpoint pods in rule order.
      type: dict
      sample: {"default/app-service:8080": [eve, adam]}
    warnings:
      description: One message per Service port that has no endpoints (and so no chains).
      type: list
      elements: str
      sample: ["Service default/web port http (10.96.0.2:80/TCP): selector {'component': 'web'} matches no pod; no chains written for it"]
"""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

# The renderer lives in module_utils, shared with the iptables_chains module (option service_model).
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.service_chains import plan_service_chains


def service_chains_filter(services, pods, dispatch_chain="APP-SERVICE", chain_prefix="EDEN",
                          unnamed_port_name="HTTP", comments=False, jump_position="last", warn=True):
    try:
        plan = plan_service_chains(services, pods, dispatch_chain=dispatch_chain, chain_prefix=chain_prefix,
                                   unnamed_port_name=unnamed_port_name, comments=comments, jump_position=jump_position)
    except ValueError as exc:
        raise AnsibleFilterError(to_text(exc))
    if warn and plan["warnings"]:
        from ansible.utils.display import Display
        for message in plan["warnings"]:
            Display().warning(message)
    return plan


class FilterModule(object):
    def filters(self):
        return {"service_chains": service_chains_filter}
