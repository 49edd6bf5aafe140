#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: proxy_sync
short_description: Turn the Services, EndpointSlices and pods into the node's Service rules in one sync, as kube-proxy does
version_added: 0.2.0
description:
  - The proxier of the collection, after kube-proxy's C(syncProxyRules). It is handed the whole model (the Services,
    the EndpointSlices, the pods with their nodes, the layout, the backend and the layout options), checks all of
    it, renders the rules on the node and writes them in one atomic step.
  - With O(backend=iptables) the nat and the filter table are written in B(one) C(iptables-restore --noflush), through
    the same engine as M(k8slab.kube_proxy.iptables_chains) (ownership records per owner and table, foreign chains
    refused, exact read-back through a scratch network namespace, only changed chains rewritten). With
    O(backend=nftables) the table O(nft_table) is written in one C(nft -f) transaction, as
    M(k8slab.kube_proxy.nft_table) does (only the chains, sets and maps that changed); a first write, with no
    table on the node yet, loads the rendered table directly, without the scratch namespace.
  - After the new rules are in place the other backend's rules of this owner are removed (first to DNAT a packet
    wins, so a switch never leaves a moment without a working Service).
  - O(drain=true) is the first step of removing pods, as Kubernetes does it - the endpoints are only the listed
    pods whose namespace already exists on this node and that the last sync served (a drain takes endpoints
    away, it never adds one; a namespace a killed converge made before the app answered waits for the next
    full sync), plus the pods of other nodes. It is the same render with
    another endpoint set, not a second path. The B(full) model is still checked, against the live tables too, so
    a chain name the model derives that another owner already has (a pod C(kube) with a port named C(services)
    derives C(KUBE-SERVICES)) fails this run, before pods change. On a node where this owner wrote nothing yet a
    drain run only checks.
  - "Validated before any change: every Service, EndpointSlice and pod, the options, the chain names against the
    live tables and the ownership records, O(fail_on_no_endpoints)."
  - A no-change run is cheap. The action plugin computes a digest of the model on the controller; when the node
    recorded the same digest at its last sync, the ownership records are as it wrote them and the rules it
    owns still read back exactly as it wrote them (one C(iptables-save) or C(nft -s list table), nothing parsed
    beyond that), only the digest travels and nothing is rendered. Anything else (a rule deleted by hand, a
    changed model, a corrupt record) takes the full path, which repairs it.
  - Returns the plan with O(return_plan) (the role sets it in check mode, which is how
    C(playbooks/verify_services.yml) learns what to expect and whether the node is in sync).
  - As the last module of a C(site.yml) converge it ends the run's node lock (M(k8slab.kube_proxy.node_lock)) - with
    C(K8SLAB_LOCK_RELEASE) set to the run's C(K8SLAB_LOCK_TOKEN) in its environment, a run whose answer is final (not
    the digest probe that asks for the model) has the lock's holder give it up when the module exits, and returns
    RV(lock_released). The converge then needs no module run of its own to release the lock.
author:
  - k8slab maintainers (@k8slab)
options:
  state:
    description:
      - C(present) writes the rules of the model.
      - C(absent) removes every rule, chain and table this owner wrote, with either backend, and its records.
    type: str
    choices: [present, absent]
    default: present
  layout:
    description:
      - C(tutorial) writes the tutorial's chains (C(APP-SERVICE), C(EDEN-SVC-HTTP), C(ADAM-HTTP), C(EVE-HTTP)) and
        nothing in filter; C(kube-proxy) writes what kube-proxy's iptables mode writes (nat C(KUBE-SERVICES),
        C(KUBE-SVC-*), C(KUBE-SEP-*), ...; filter C(KUBE-FORWARD), C(KUBE-FIREWALL), ...).
      - With O(backend=nftables), the same two layouts of C(table ip kube-proxy).
    type: str
    choices: [tutorial, kube-proxy]
    default: tutorial
  backend:
    description: C(iptables) (nat and filter chains) or C(nftables) (one table, as kube-proxy's nftables mode).
    type: str
    choices: [iptables, nftables]
    default: iptables
  services:
    description:
      - Service manifests (metadata.name, optional metadata.namespace, spec.clusterIP, spec.selector, spec.ports).
        Items may also be EndpointSlices or C(kind=List) objects of both.
      - C(spec.internalTrafficPolicy) may be C(Local) with O(layout=kube-proxy) (see O(node)); the tutorial layout
        refuses it. C(spec.type) must be C(ClusterIP), C(NodePort) or C(LoadBalancer).
      - C(spec.externalTrafficPolicy) (C(Cluster) or C(Local)) and C(spec.healthCheckNodePort) (read only with
        C(Local) on a C(LoadBalancer) Service) are kube-proxy's with O(layout=kube-proxy) (see O(node)).
      - A C(LoadBalancer) Service's C(status.loadBalancer.ingress[].ip) (IPv4; not with C(ipMode=Proxy)),
        C(spec.loadBalancerSourceRanges) (IPv4 CIDRs; C(0.0.0.0/0) means any source) and
        C(spec.allocateLoadBalancerNodePorts) (true or false; a port without C(nodePort) gets no node port rule
        either way, as this lab allocates none) are kube-proxy's with O(layout=kube-proxy) - the ingress IPs lead
        to C(KUBE-EXT-*), or with source ranges through C(KUBE-FW-*) and filter C(KUBE-PROXY-FIREWALL)
        (nftables - C(firewall-ips) and C(firewall-*) chains). They are checked on any type and ignored on the
        others, as kube-proxy reads them only there (see O(node_ip)).
      - The tutorial layout renders no node port, external IP or load balancer IP, so it ignores these fields, as
        it ignores C(nodePort) and C(externalIPs).
      - Omitted only by the action plugin when it sends the digest instead of the model.
      - Mutually exclusive with a O(model_file) that holds C(services).
    type: list
    elements: raw
  endpoint_slices:
    description:
      - EndpointSlice manifests (discovery.k8s.io/v1); a Service named by one takes its endpoints from its slices.
        Used by the kube-proxy layout; checked in both.
      - Mutually exclusive with a O(model_file) that holds C(endpoint_slices).
    type: list
    elements: raw
  pods:
    description:
      - The pods as complete records of the P(k8slab.kube_proxy.pods#filter) filter (name, address, netns,
        labels, and C(node) in a cluster). Their labels are what the selectors match.
      - Mutually exclusive with a O(model_file) that holds C(pods).
    type: list
    elements: raw
  model_file:
    description:
      - A file on the controller holding the model instead of the task - a mapping with some of the keys
        C(services), C(endpoint_slices) and C(pods), each a list with the same content as the option of that name.
        Any other key fails the task; every other option stays in the task.
      - Each of O(services), O(endpoint_slices) and O(pods) comes either from the file or from the task, not both -
        a task that sets an option the file also holds fails before anything runs (the file may hold only the
        Services, and the task the pods, for example).
      - JSON, read with a plain JSON parser; a name ending in C(.yml) or C(.yaml) is read as one YAML document with
        PyYAML's safe loader. Neither is templated - the file's content is used as it is, C({{ }}) included.
      - This is the fast way to hand over a large model (a thousand Services). Passed as variables, the model goes
        through Ansible's variable loading and templating, which for a kube-proxy-sized model take many times
        longer than the sync itself; from O(model_file) it is read once, by the action plugin, and only when the
        node needs it.
      - The digest that decides whether the model travels covers the file's bytes, not its parsed content - a file
        rewritten with the same model but other formatting sends the model once (the rules stay unchanged).
      - A relative path is searched for as the C(src) of C(ansible.builtin.copy) is -
        in the C(files/) folder of the role and then of the play, and beside them.
      - Read by the action plugin on the controller; the module itself never sees it. Not read with
        O(state=absent).
    type: path
  node:
    description:
      - This node's name in a cluster (the inventory hostname); pods naming another node are that node's, and
        O(drain) keeps them. Pods without C(node) are this node's.
      - With O(layout=kube-proxy), a Service whose C(spec.internalTrafficPolicy) is C(Local) sends cluster IP traffic
        only to this node's endpoints - EndpointSlice endpoints whose C(nodeName) is this name, pods matched by
        selector that name it or no node - and drops it when there is none, as kube-proxy does.
      - Likewise C(spec.externalTrafficPolicy=Local) sends node port, external IP and load balancer IP traffic from
        outside only to this node's endpoints, unmasqueraded, and drops it when there is none (pods and the node
        itself still reach every endpoint); with the iptables backend its C(spec.healthCheckNodePort) is accepted in filter C(KUBE-NODEPORTS)
        (no health check server runs there; kube-proxy's answers whether this node has endpoints).
    type: str
  drain:
    description:
      - Take pods that do not run on this node yet (no namespace in C(/run/netns), or not served by the last
        sync) out of every Service, as the first step of a converge; pods that run and served keep their
        endpoints with their current labels.
      - The full model is checked all the same; nothing is written on a node where this owner wrote nothing yet.
    type: bool
    default: false
  fail_on_no_endpoints:
    description: Fail before any change when a Service port has no endpoints (false only warns, except in O(drain)).
    type: bool
    default: false
  owner:
    description:
      - The owner the iptables chains are recorded under (see M(k8slab.kube_proxy.iptables_chains)), and the name
        of this module's own record.
    type: str
    default: service_proxy
  adopt:
    description:
      - Existing iptables chains this owner may take over although it did not create them, such as its own chains
        after their ownership record was lost. Any other existing chain with a derived name fails the run.
    type: list
    elements: str
    default: []
  dispatch_chain:
    description: Tutorial layout, the nat chain PREROUTING and OUTPUT jump to; it holds one rule per Service port.
    type: str
    default: APP-SERVICE
  chain_prefix:
    description: Tutorial layout, the first word of every Service chain (C(<PREFIX>-SVC-<PORT>)).
    type: str
    default: EDEN
  unnamed_port_name:
    description: Tutorial layout, the word used in chain names for a Service's only port when it has no name.
    type: str
    default: HTTP
  rule_comments:
    description: Tutorial layout, a comment on every rule naming its Service port and endpoint.
    type: bool
    default: false
  jump_position:
    description: Tutorial layout, where the jumps to the dispatch chain go in PREROUTING and OUTPUT.
    type: str
    choices: [first, last]
    default: last
  cluster_cidr:
    description:
      - kube-proxy layout (required there), the pod CIDR (kube-proxy's C(--cluster-cidr)); traffic to a cluster IP
        from outside it is marked for masquerade.
    type: str
  node_ip:
    description:
      - kube-proxy layout, this node's IPv4 address (kube-proxy's node IP). When a C(LoadBalancer) Service's
        C(spec.loadBalancerSourceRanges) hold it, the Service's load balancer IPs are allowed sources too, for a
        node that holds those IPs as local addresses and so uses them as the source of its own connections to
        them (kube-proxy's allowFromNode). Without it no such source is allowed.
    type: str
  masquerade_all:
    description:
      - kube-proxy layout, kube-proxy's C(--masquerade-all) with either backend - every connection to a cluster IP is
        marked for masquerade, a pod's too, not only one from outside O(cluster_cidr).
    type: bool
    default: false
  masquerade_random_fully:
    description: kube-proxy layout with iptables, C(MASQUERADE --random-fully).
    type: bool
    default: true
  nft_table:
    description: nftables backend, the name of the table (family ip).
    type: str
    default: kube-proxy
  nft_counters:
    description: nftables backend, a named counter per endpoint, called like its chain.
    type: bool
    default: true
  service_cidr:
    description: nftables backend with the kube-proxy layout, the Service CIDR (unallocated cluster IPs are dropped).
    type: str
    default: 10.96.0.0/12
  nodeport_addresses:
    description:
      - kube-proxy layout, with either backend - the node's IPv4 addresses that accept NodePort traffic (the addresses
        kube-proxy's C(--nodeport-addresses) selects). A loopback address is refused (no localhost NodePorts here).
      - iptables backend - KUBE-SERVICES ends with one jump to KUBE-NODEPORTS per address (C(-d <address>)) instead
        of the jump for every local address (C(-m addrtype --dst-type LOCAL)); empty, NodePorts answer on every local
        address but the loopback ones, kube-proxy's default. As in kube-proxy, a NodePort without endpoints is still
        refused or dropped on every local address, and a health check node port is accepted on every local address.
      - nftables backend - the elements of the C(nodeport-ips) set; empty, NodePorts answer on no address.
    type: list
    elements: str
    default: []
  return_plan:
    description: Return the plan (RV(services), RV(paths), ...). Always sends the model, so it is rendered.
    type: bool
    default: false
  model_digest:
    description:
      - Set by the action plugin, not by hand - the digest of the model. Recorded after a sync; without
        O(services) the module only compares it with the record and the live rules (RV(model_needed)).
    type: str
  model_json:
    description:
      - Set by the action plugin, not by hand - O(services), O(endpoint_slices) and O(pods) as one JSON text
        (a mapping of those keys to their lists), which the module parses once with Python's JSON parser.
        Passed as lists, a kube-proxy-sized model would be validated and deep-copied item by item by
        Ansible's argument handling on the node, and encoded item by item on the controller.
      - Mutually exclusive with O(services), O(endpoint_slices) and O(pods).
    type: str
  local_netns:
    description: Set by the action plugin with O(model_digest) and O(drain) - the namespaces of this node's pods.
    type: list
    elements: str
  wait:
    description: Seconds to wait for the xtables lock.
    type: int
    default: 30
  state_dir:
    description:
      - Where the records live - C(iptables_chains/) (the ownership records of M(k8slab.kube_proxy.iptables_chains)),
        C(nft_table/) (those of M(k8slab.kube_proxy.nft_table)) and C(proxy_sync/) (the digest of the last sync).
    type: path
    default: /var/lib/k8slab
  conntrack_cleanup:
    description:
      - After writing the rules, delete the UDP conntrack entries the change made stale, as kube-proxy does - for
        each endpoint that left a UDP Service port, the entries to its cluster IP (and external IPs) and port, and
        to its NodePort, that were DNATed to that endpoint; for each UDP Service port that got its first endpoint,
        every entry to it. Without this a client that keeps sending from one source port keeps refreshing an
        entry to a pod that is gone, and loses every datagram until it stops for the entry's timeout.
      - Uses the C(conntrack) tool (Debian package C(conntrack)); without it the run warns and deletes nothing.
      - The UDP endpoints are recorded with each sync; after a sync that recorded none (the first), every UDP
        Service port with endpoints counts as getting its first one.
      - In check mode the entries that would be deleted are counted with C(conntrack -L).
    type: bool
    default: true
extends_documentation_fragment:
  - k8slab.kube_proxy.attributes
attributes:
  action:
    support: full
    description: An action plugin sends the digest instead of the model when the node has it already.
  check_mode:
    description: Renders, reads the tables and loads the scratch namespace; changes nothing, reports what it would do.
  diff_mode:
    description: Shows the owner's iptables chains and rules, or the nftables table, before and after.
  platform:
    description: Linux with iptables (or nft), C(unshare) (util-linux) and root.
notes:
  - The layout options are read only by the layout or backend they belong to.
  - The kube-proxy layout with iptables counts the INVALID packets KUBE-FORWARD drops into kube-proxy's nfacct counter
    C(ct_state_invalid_dropped_pkts), made over netfilter netlink when missing (not in check mode, after every check, just
    before the apply), as kube-proxy makes it; without nfacct in the kernel the rule is written without the counter, as
    kube-proxy writes it then. The sync record lists the counters this owner made; O(state=absent) deletes those (unless
    another rule still counts into one), never a counter it found.
  - iptables-restore commits one table at a time (filter, then nat), as kube-proxy's restore does.
seealso:
  - module: k8slab.kube_proxy.iptables_chains
  - module: k8slab.kube_proxy.nft_table
  - name: kube-proxy iptables proxier (syncProxyRules)
    description: The design this module follows.
    link: https://github.com/kubernetes/kubernetes/blob/master/pkg/proxy/iptables/proxier.go
"""

EXAMPLES = r"""
# test: needs lab-vars - the variables k8slab_pods, my_services and my_endpoint_slices

- name: The tutorial's Service, 10.96.0.1:8080 over adam and eve
  k8slab.kube_proxy.proxy_sync:
    services:
      - metadata: {name: app-service}
        spec: {clusterIP: 10.96.0.1, selector: {component: app}, ports: [{port: 8080, targetPort: 8080}]}
    pods: "{{ k8slab_pods | k8slab.kube_proxy.pods('10.0.0.1/24') }}"

# files/cluster-services.json holds {"services": [...], "endpoint_slices": [...]}
# test: needs model-file - that file, with the Service and EndpointSlice of my_services and my_endpoint_slices
- name: A thousand Services and their EndpointSlices from a JSON file in the play's files/ folder
  k8slab.kube_proxy.proxy_sync:
    layout: kube-proxy
    cluster_cidr: 10.0.0.0/24
    model_file: cluster-services.json
    pods: "{{ k8slab_pods | k8slab.kube_proxy.pods('10.0.0.1/24') }}"

- name: kube-proxy's layout in nftables, NodePorts on the uplink address
  k8slab.kube_proxy.proxy_sync:
    layout: kube-proxy
    backend: nftables
    cluster_cidr: 10.0.0.0/24
    nodeport_addresses: [192.0.2.2]
    services: "{{ my_services }}"
    endpoint_slices: "{{ my_endpoint_slices }}"
    pods: "{{ k8slab_pods | k8slab.kube_proxy.pods('10.0.0.1/24') }}"

- name: First step of a converge - pods that do not run yet leave every Service; the full model is checked
  k8slab.kube_proxy.proxy_sync:
    services: "{{ my_services }}"
    pods: "{{ k8slab_pods | k8slab.kube_proxy.pods('10.0.0.1/24') }}"
    drain: true

- name: What the node should have, and whether it has it (changes nothing)
  k8slab.kube_proxy.proxy_sync:
    services: "{{ my_services }}"
    pods: "{{ k8slab_pods | k8slab.kube_proxy.pods('10.0.0.1/24') }}"
    return_plan: true
  check_mode: true
  register: plan

- name: Remove every Service rule, with either backend
  k8slab.kube_proxy.proxy_sync:
    state: absent
"""

RETURN = r"""
changed:
  description: Whether the rules were (in check mode would be) changed.
  returned: always
  type: bool
  sample: false
in_sync:
  description: Whether the node already had exactly these rules (the opposite of RV(changed) for O(state=present)).
  returned: always
  type: bool
  sample: true
digest_hit:
  description: Whether the node recognised the model's digest and its live rules, so nothing was sent or rendered.
  returned: always
  type: bool
  sample: true
model_sent:
  description: Whether the model travelled to the node in this run (false when its digest sufficed).
  returned: always
  type: bool
  sample: false
model_needed:
  description:
    - Only between the module and its action plugin - the digest did not match, send the model. Never in a task's
      result.
  returned: when the module ran without O(services)
  type: bool
  sample: true
backend:
  description: The backend written.
  returned: always
  type: str
  sample: iptables
layout:
  description: The layout written.
  returned: always
  type: str
  sample: tutorial
applied:
  description: The C(iptables-restore --noflush) or C(nft -f) input that was (in check mode would be) applied.
  returned: always
  type: str
  sample: "*nat\n:EVE-HTTP - [0:0]\n-A EVE-HTTP -p tcp -m tcp -j DNAT --to-destination 10.0.0.21:8080\nCOMMIT\n"
removed_backend:
  description: The other backend's rules this run removed (C(iptables) or C(nftables)), or null.
  returned: always
  type: str
  sample: null
partial:
  description:
    - With O(backend=nftables), true when this run wrote the table as kube-proxy's partial sync does - the live table
      listed exactly as the last write of this owner left it, so only the chains, sets and maps whose text changed
      were flushed and declared again, from the record of that write, without loading the whole table into the
      scratch namespace. False when the table was read, compared and written in full (a first write, a table
      changed behind the module's back, a changed declaration, check or diff mode), and with O(backend=iptables).
  returned: always
  type: bool
  sample: true
complete:
  description:
    - Whether the node now holds the rules of the whole model, with its digest recorded - no pod is left out as
      RV(waiting). False in check mode, with O(state=absent), and for a drain on a node where this owner has written
      nothing yet (it only checks).
    - After a drain that returns true, a sync of the same model has nothing to do unless something else changed the
      built-in chains the rules jump from.
  returned: always
  type: bool
  sample: true
waiting:
  description: With O(drain), this node's pods that do not run (or did not serve) yet and have no endpoints until the next sync.
  returned: always
  type: list
  elements: str
  sample: [kube]
lock_released:
  description:
    - Whether the run's node lock goes as soon as this module has exited - C(K8SLAB_LOCK_RELEASE) named the run's
      token and this answer is final. False otherwise, and always without a run (no C(K8SLAB_LOCK_TOKEN)).
  returned: always
  type: bool
  sample: true
leaving_netns:
  description:
    - With O(drain), the namespaces of the pods leaving this node - those in C(/run/netns) that a sync of this owner
      was given as this node's pods, or with no sync record yet any in C(/run/netns), and that no listed pod of this
      node has now. Empty means no app has to stop before the pod network converges, so a converge can skip that
      step. Empty without O(drain).
  returned: always
  type: list
  elements: str
  sample: [netns_eve]
no_endpoints:
  description: One message per Service port without endpoints (also shown as a warning, except in O(drain)).
  returned: always
  type: list
  elements: str
  sample: []
conntrack_deleted:
  description:
    - With O(conntrack_cleanup), one item per conntrack filter this run ran (in check mode would run) - the Service
      port (C(key)), C(why) (C(endpoint left) or C(first endpoint)), C(destination) (null for a NodePort),
      C(port), C(endpoint) (the DNAT address, or null), C(deleted) (entries deleted; in check mode the entries
      that match now) and C(skipped) (true when the C(conntrack) tool is missing).
  returned: with O(state=present) and O(conntrack_cleanup) when the model was sent
  type: list
  elements: dict
  sample:
    - {key: default/app-dns, why: endpoint left, destination: 10.96.0.10, port: 53, endpoint: 10.0.0.21, deleted: 1,
       skipped: false}
dispatch_chain:
  description: The chain (iptables) that dispatches by cluster IP, C(APP-SERVICE) or C(KUBE-SERVICES).
  returned: with O(return_plan)
  type: str
  sample: APP-SERVICE
nft_table:
  description: The nftables table written.
  returned: with O(return_plan) and O(backend=nftables)
  type: str
  sample: kube-proxy
services:
  description: Each Service port with its cluster IP, port, protocol, chain and endpoints.
  returned: with O(return_plan)
  type: list
  elements: dict
  sample:
    - key: default/app-service
      cluster_ip: 10.96.0.1
      port: 8080
      protocol: TCP
      target_port: 8080
      chain: EDEN-SVC-HTTP
      endpoints:
        - {pod: eve, netns: netns_eve, address: 10.0.0.21, port: 8080, chain: EVE-HTTP, probability: "0.50000000000", share: 0.5}
        - {pod: adam, netns: netns_adam, address: 10.0.0.11, port: 8080, chain: ADAM-HTTP, probability: null, share: 0.5}
paths:
  description: Per Service port, the iptables chains a packet to it passes (what the packet counters view reads).
  returned: with O(return_plan)
  type: dict
  sample: {default/app-service: [APP-SERVICE, EDEN-SVC-HTTP, EVE-HTTP, ADAM-HTTP]}
pods:
  description: The pods of the model (name, netns, address, node).
  returned: with O(return_plan)
  type: list
  elements: dict
  sample: [{name: adam, netns: netns_adam, address: 10.0.0.11}]
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.k8slab.kube_proxy.plugins.module_utils import conntrack, nfacct, nftables, proxier
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.iptables import (
    ValidationError, normalize_builtin_rules, normalize_chains, record_name, validate_chain_name, validate_owner)
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.iptables_owner import IptablesOwner
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.nft_owner import NftTable
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.node_lease import LeaseLost, release_on_exit
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.runner import Runner
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.state_dir import RecordStore, file_digest, text_digest

NETNS_DIR = "/run/netns"
# kube-proxy's nfacct counter the kube-proxy layout's iptables rules count into (the other one counts localhost
# NodePorts, which are never written here).
NFACCT_COUNTERS = (nfacct.INVALID_DROPPED,)


def unpack_model(module):
    """Move the model keys out of O(model_json) into the parameters; fail on anything but a mapping of lists."""
    text = module.params.get("model_json")
    if text is None:
        return
    try:
        model = json.loads(text)
    except ValueError as exc:
        module.fail_json(msg="model_json is not valid JSON: %s" % exc)
    if not isinstance(model, dict) or any(key not in proxier.MODEL_KEYS or not isinstance(value, list)
                                          for key, value in model.items()):
        module.fail_json(msg="model_json must be a mapping of some of %s to lists" % ", ".join(proxier.MODEL_KEYS))
    for key, value in model.items():
        module.params[key] = value
    module.params["model_json"] = None


class ProxySync:
    """One sync: validate, render, write one backend, remove the other, record what was written."""

    def __init__(self, module):
        self.module = module
        self.params = params = module.params
        self.runner = Runner(module)
        self.owner = params["owner"]
        self.iptables_dir = os.path.join(params["state_dir"], "iptables_chains")
        self.nft_dir = os.path.join(params["state_dir"], "nft_table")
        self.sync_store = RecordStore(os.path.join(params["state_dir"], "proxy_sync"))
        self.nft_name = params["nft_table"]

    # ------------------------------------------------------------ records
    def record_paths(self):
        """This owner's ownership records: iptables (filter, nat), then nftables."""
        return [os.path.join(self.iptables_dir, record_name(self.owner, table, "ipv4")) for table in proxier.IPTABLES_TABLES] \
            + [os.path.join(self.nft_dir, "ip.%s.json" % self.nft_name)]

    def record_files(self, backend):
        """The ownership records whose bytes a no-change run compares itself (a missing one is None): both
        backends' of this owner, but for the iptables ones with the iptables backend, which the engine's
        :meth:`IptablesOwner.changed_since` compares (every owner's)."""
        paths = self.record_paths()
        return dict((path, file_digest(path)) for path in (paths[2:] if backend == "iptables" else paths))

    def iptables_owner(self):
        return IptablesOwner(self.module, self.runner, self.owner, proxier.IPTABLES_TABLES, "ipv4", self.iptables_dir,
                             self.params["wait"])

    def nft_table(self, state="present"):
        return NftTable(self.module, self.runner, "ip", self.nft_name, self.nft_dir, state)

    def has_iptables_records(self):
        return any(os.path.exists(path) for path in self.record_paths()[:2])

    def has_nft_record(self):
        return os.path.exists(self.record_paths()[2])

    def load_sync_record(self):
        try:
            record = self.sync_store.read(self.owner)
        except (OSError, ValueError):
            return None  # only a cache: a bad one means the full path
        return record if isinstance(record, dict) and record.get("version") == proxier.RECORD_VERSION else None

    # ------------------------------------------------------------ the digest path
    def fast(self):
        """Without the model: is the node exactly as the last sync of this digest left it?"""
        record = self.load_sync_record()
        why = self.out_of_sync(record)
        if why:
            return dict(changed=False, model_needed=True, reason=why)
        warnings = [] if self.params["drain"] else record.get("warnings") or []
        for warning in warnings:
            self.module.warn(warning)
        return dict(changed=False, in_sync=True, digest_hit=True, model_sent=False, backend=self.params["backend"],
                    layout=self.params["layout"], applied="", removed_backend=None, partial=False, waiting=[], no_endpoints=warnings,
                    complete=True, leaving_netns=self.leaving_netns(self.params["local_netns"], record))

    def running_netns(self):
        """The names in /run/netns (ip netns's folder), as a set."""
        return set(os.listdir(NETNS_DIR)) if os.path.isdir(NETNS_DIR) else set()

    @staticmethod
    def known_netns(record):
        """The namespaces sync record ``record`` lists as given to a sync as this node's pods (older records: those
        it served); None without a record."""
        if not record:
            return None
        known = record.get("listed") if isinstance(record.get("listed"), list) else record.get("serving")
        return set(known) if isinstance(known, list) else None

    def leaving_netns(self, local, record):
        """With O(drain), the namespaces in /run/netns that a sync of this owner was given as this node's pods (per
        its record ``record``; with none, any) and that none of ``local`` (the listed pods') is: the apps site.yml
        stops before the pod network converges. Empty without O(drain)."""
        if not self.params["drain"]:
            return []
        running, known = self.running_netns(), self.known_netns(record)
        return sorted((running if known is None else running & known) - set(local or []))

    def out_of_sync(self, record):
        """Why the node may differ from the model of this digest, the sync record ``record`` says (None when it
        does not)."""
        params = self.params
        if not record or not params["model_digest"] or record.get("digest") != params["model_digest"]:
            return "the node recorded another model"
        if record.get("records") != self.record_files(params["backend"]):
            return "an ownership record changed"
        if params["drain"]:
            if not set(params["local_netns"] or []) <= self.running_netns():
                return "a pod of this node does not run"
        if params["backend"] == "iptables":
            entry = record.get("iptables")
            # The engine's own check, with the iptables-save the sync recorded (no --version run).
            return self.iptables_owner().changed_since(entry) if isinstance(entry, dict) else "no iptables entry recorded"
        nft = self.runner.bin("nft", required=False)
        if not nft:
            return "no nft"
        rc, out, dummy = self.runner.read([nft, "-s", "list", "table", "ip", self.nft_name])
        live = text_digest(proxier.nft_stable_text(out)) if rc == 0 else None
        if live != record.get("live"):
            return "the live rules differ from what was written"
        return None

    # ------------------------------------------------------------ the full path
    def declared(self, rendered):
        """table -> (normalised chains, builtin rules) of a render, checked as iptables_chains checks them."""
        result = {}
        for table, (chains, builtin_rules) in rendered["iptables"].items():
            normalised = normalize_chains(chains, table)
            result[table] = (normalised, normalize_builtin_rules(builtin_rules, normalised))
        return result

    def nfacct_counters(self, layout, backend):
        """The nfacct counters the kube-proxy layout's iptables rules count into: kube-proxy's, when this kernel has
        nfacct (the counters can be listed). Nothing is made here: :meth:`make_counters` makes the missing ones just
        before the apply, after every check. Without nfacct, none: the rules are written without, as kube-proxy
        writes them then."""
        if layout != "kube-proxy" or backend != "iptables":
            return ()
        try:
            nfacct.counters()
        except (OSError, ValueError):
            return ()
        return NFACCT_COUNTERS

    def make_counters(self, counters, last):
        """Make the missing ``counters`` (not in check mode), as kube-proxy does at a full sync; returns the names this
        owner made, those its sync record ``last`` lists included - the only ones O(state=absent) deletes."""
        made = set((last or {}).get("nfacct") or [])
        if not counters or self.module.check_mode:
            return sorted(made)
        try:
            present, new = nfacct.ensure(counters)
        except (OSError, ValueError) as exc:
            self.module.fail_json(msg="cannot make kube-proxy's nfacct counters %s: %s; nothing was changed"
                                  % (", ".join(counters), exc))
        if set(present) != set(counters):
            self.module.fail_json(msg="the kernel refused to make the nfacct counters %s; nothing was changed"
                                  % ", ".join(sorted(set(counters) - set(present))))
        return sorted(made | set(new))

    def present(self):
        params = self.params
        layout, backend = params["layout"], params["backend"]
        # Read once: with nftables it holds the body of the last write (tens of thousands of entries).
        last = self.load_sync_record()
        try:
            options = proxier.check_options(layout, backend, dict((key, params[key]) for key in proxier.LAYOUT_OPTIONS))
            services, slices = proxier.split(params["services"] or [], params["endpoint_slices"] or [])
            pods = proxier.check_pods(params["pods"] or [])
            local = proxier.local_netns(pods, params["node"])
            counters = self.nfacct_counters(layout, backend)
            full = proxier.render(layout, backend, services, slices, pods, options, params["fail_on_no_endpoints"],
                                  params["node"], counters)
            waiting, kept = [], pods
            rendered = full
            if params["drain"]:
                running = self.running_netns()
                # Only pods the last sync served: a converge killed between pod_sync and the app start left a
                # namespace whose app never answered (a record without the list: any pod that runs).
                kept, waiting = proxier.drained_pods(pods, params["node"], running, (last or {}).get("serving"))
                if waiting:
                    rendered = proxier.render(layout, backend, services, slices, kept, options, node=params["node"],
                                              nfacct_counters=counters)
            declared_full = self.declared(full) if backend == "iptables" else None
            declared = self.declared(rendered) if rendered is not full and backend == "iptables" else declared_full
        except (proxier.ModelError, ValidationError) as exc:
            self.module.fail_json(msg="the model was rejected before any change: %s" % exc)
        # Nothing of this owner on the node yet: a drain run only checks (there is nothing to drain).
        only_check = params["drain"] and not (self.has_iptables_records() or self.has_nft_record() or last)
        # Both backends' records are read (a broken one stops the run) before the first change.
        iptables = self.iptables_owner() if backend == "iptables" or self.has_iptables_records() else None
        records = current = None
        if iptables:
            iptables.detect_backend("auto")
            records = iptables.load_records()
            current = iptables.read_tables()
        nft = self.nft_table() if backend == "nftables" or self.has_nft_record() else None
        if backend == "iptables":
            # The full model's chain names, against the live tables, before the drained one is written.
            iptables.check_clashes(declared_full, records, current, params["adopt"])
        output = dict(changed=False, in_sync=True, digest_hit=False, model_sent=True, backend=backend, layout=layout, applied="",
                      removed_backend=None, partial=False, waiting=waiting, complete=False,
                      no_endpoints=[] if params["drain"] else full["warnings"],
                      leaving_netns=self.leaving_netns(local, last))
        if not params["drain"]:
            for warning in full["warnings"]:
                self.module.warn(warning)
        if params["return_plan"]:
            output.update(proxier.plan_summary(rendered, layout, backend, pods, options, waiting))
        if only_check:
            if backend == "nftables":
                nft.check_owned()
            return output
        blocks = live = None  # the nftables body by object (nft_partial), and the listing's digest
        nfacct_made = self.make_counters(counters, last)  # none but with the kube-proxy layout on iptables
        if backend == "iptables":
            result, plans = iptables.converge("present", declared, params["adopt"], records, current)
            if self.module._diff:
                output["diff"] = iptables.diff(plans)
            if nft is not None:
                gone = nft.converge("absent", None, False)
                result["changed"] = result["changed"] or gone["changed"]
                output["removed_backend"] = "nftables" if gone["changed"] else None
        else:
            blocks = nftables.content_blocks(rendered["nft"])
            result = self.nft_partial(nft, blocks, last) if iptables is None else None
            output["partial"] = result is not None
            if result is None:
                result = nft.converge("present", rendered["nft"], False, trusted=True)
            if iptables is not None:
                gone, dummy = iptables.converge("absent", None, (), records, current)
                result["changed"] = result["changed"] or gone["changed"]
                output["removed_backend"] = "iptables" if gone["changed"] else None
            if not self.module.check_mode:
                # The listing the write left (the scratch load's, or read now) is what the next run compares.
                out = nft.text if nft.text is not None else nft.read_text()
                live = text_digest(proxier.nft_stable_text(out))
            if self.module._diff and "diff" in result:
                output["diff"] = result["diff"]
        output.update(changed=result["changed"], in_sync=not result["changed"], applied=result["applied"])
        # After the new rules are in, before the record: a failed clean-up is retried by the next run.
        udp = conntrack.udp_frontends(rendered["plan"]["services"])
        if params["conntrack_cleanup"]:
            output["conntrack_deleted"] = self.conntrack_cleanup(udp, last)
            if any(item["deleted"] for item in output["conntrack_deleted"]):
                output.update(changed=True, in_sync=False)
        if not self.module.check_mode:
            output["complete"] = not waiting
            self.sync_store.write(self.owner, {
                "udp": udp,
                "version": proxier.RECORD_VERSION, "owner": self.owner, "backend": backend, "layout": layout,
                # A drain that left pods out wrote another model than the digest's: no digest then.
                "digest": None if waiting else params["model_digest"],
                # This node's pods the written rules serve: the next drain keeps no other (drained_pods).
                "serving": proxier.local_netns(kept, params["node"]),
                # The namespaces given as this node's pods, while they exist: a later drain names those no longer
                # listed (leaving_netns), and no namespace this owner was never given.
                "listed": sorted((self.running_netns() & (self.known_netns(last) or set())) | set(local)),
                # What the next run's digest path compares: the engine's entry (iptables), the listing's digest (nft).
                "iptables": iptables.no_change_entry(plans) if backend == "iptables" else None,
                "live": live,
                "records": self.record_files(backend), "warnings": full["warnings"],
                # The body written, block by block: the next sync changes only the blocks that differ (nft_partial).
                "nft_body": blocks[0] if blocks else None,
                # The nfacct counters this owner made (absent deletes these, never one it found).
                "nfacct": nfacct_made})
        return output

    def nft_partial(self, nft, blocks, last):
        """kube-proxy's partial sync: when the table lists exactly as this owner's last write left it (``last``, the
        sync record), write only the blocks (nftables.content_blocks of the rendered body) that differ from that
        write's record. The nft_table converge output, or None when the full path must run (nothing is changed then)."""
        if self.module.check_mode or self.module._diff or not last or last.get("backend") != "nftables" \
                or not last.get("nft_body") or not self.has_nft_record():
            return None
        text = nft.read_text()
        if text_digest(proxier.nft_stable_text(text)) != last.get("live"):
            return None  # changed behind our back, or gone: read, compare and write in full
        plan = nftables.content_plan("ip", self.nft_name, last["nft_body"], blocks)
        if plan is None:
            return None
        if plan.payload and nft.load(plan.payload)[0] != 0:
            return None  # nft applied nothing: the full path loads the table in the scratch namespace and says why
        nft.text = None if plan.payload else text
        return dict(changed=plan.changed, family="ip", name=self.nft_name, created=False, deleted=False, adopted=False,
                    removed=plan.removed, replaced=[], applied=plan.payload)

    def conntrack_cleanup(self, udp, record):
        """Delete (check mode: count) the UDP conntrack entries this sync made stale, as kube-proxy does; ``record``
        is the last sync's record."""
        previous = record.get("udp") if record and isinstance(record.get("udp"), list) else None
        filters = conntrack.stale_filters(previous, udp)
        if not filters:
            return []
        tool = self.runner.bin("conntrack", required=False)
        if not tool:
            self.module.warn("conntrack is not installed: %d stale UDP conntrack filter(s) not cleaned up "
                             "(install the conntrack package)" % len(filters))
            return [dict(item, deleted=0, skipped=True) for item in filters]
        done = []
        for item in filters:
            if self.module.check_mode:
                rc, dummy, err = self.runner.read(conntrack.filter_argv(tool, "-L", item))
            else:
                rc, dummy, err = self.runner.change(conntrack.filter_argv(tool, "-D", item))
            count = conntrack.parse_count(rc, err)
            if count is None:
                self.module.fail_json(msg="conntrack failed (rc %d): %s" % (rc, (err or "").strip()),
                                      cmd=conntrack.filter_argv(tool, "-D", item))
            done.append(dict(item, deleted=count, skipped=False))
        return done

    def absent(self):
        changed, applied = False, ""
        made = (self.load_sync_record() or {}).get("nfacct") or []
        if self.has_iptables_records():
            iptables = self.iptables_owner()
            iptables.detect_backend("auto")
            result, dummy = iptables.converge("absent")
            changed, applied = result["changed"], result["applied"]
            if not self.module.check_mode:
                for name in made:  # those this owner made, unless another's rule still counts into one
                    try:
                        nfacct.remove(name)
                    except (OSError, ValueError):
                        pass
        if self.has_nft_record():
            result = self.nft_table("absent").converge("absent", None, False)
            changed, applied = changed or result["changed"], applied + result["applied"]
        if not self.module.check_mode:
            self.sync_store.remove(self.owner)
        return dict(changed=changed, in_sync=not changed, digest_hit=False, model_sent=False, backend=self.params["backend"],
                    layout=self.params["layout"], applied=applied, removed_backend=None, partial=False, waiting=[], no_endpoints=[],
                    complete=False, leaving_netns=[])

    def run(self):
        params = self.params
        try:
            validate_owner(self.owner)
            if params["wait"] < 0:
                raise ValidationError("wait must be 0 or more seconds")
            for name in params["adopt"]:
                for table in proxier.IPTABLES_TABLES:
                    validate_chain_name(name, table, "adopt: chain")
        except ValidationError as exc:
            self.module.fail_json(msg=str(exc))
        if params["model_file"] is not None:
            self.module.fail_json(msg="model_file is read on the controller by the action plugin of "
                                      "k8slab.kube_proxy.proxy_sync; the module cannot read it on the node")
        if params["state"] == "absent":
            return self.absent()
        if params["services"] is None:
            return self.fast()
        return self.present()


def main():
    options = dict((key, dict(type="bool" if isinstance(default, bool) else "list" if isinstance(default, list) else "str",
                              default=default))
                   for key, (default, dummy) in proxier.LAYOUT_OPTIONS.items())
    options["jump_position"]["choices"] = ["first", "last"]
    options["nodeport_addresses"]["elements"] = "str"
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", default="present", choices=["present", "absent"]),
            layout=dict(type="str", default="tutorial", choices=list(proxier.LAYOUTS)),
            backend=dict(type="str", default="iptables", choices=list(proxier.BACKENDS)),
            services=dict(type="list", elements="raw"),
            endpoint_slices=dict(type="list", elements="raw"),
            pods=dict(type="list", elements="raw"),
            model_file=dict(type="path"),
            node=dict(type="str"),
            drain=dict(type="bool", default=False),
            fail_on_no_endpoints=dict(type="bool", default=False),
            owner=dict(type="str", default="service_proxy"),
            adopt=dict(type="list", elements="str", default=[]),
            return_plan=dict(type="bool", default=False),
            model_digest=dict(type="str"),
            model_json=dict(type="str"),
            local_netns=dict(type="list", elements="str"),
            wait=dict(type="int", default=30),
            state_dir=dict(type="path", default="/var/lib/k8slab"),
            conntrack_cleanup=dict(type="bool", default=True),
            **options
        ),
        mutually_exclusive=[["model_json", key] for key in proxier.MODEL_KEYS],
        supports_check_mode=True,
    )
    unpack_model(module)
    output = ProxySync(module).run()
    # A final answer of the converge's last module: the node lock goes when this process exits.
    try:
        output["lock_released"] = not output.get("model_needed") and release_on_exit() is not None
    except LeaseLost as exc:
        module.fail_json(msg=str(exc))
    # Echoing a kube-proxy-sized model (a megabyte) back as the task's invocation costs more than the work.
    args = dict(module.params)
    for key in proxier.MODEL_KEYS:
        if isinstance(args.get(key), list):
            args[key] = "%d items (not echoed back)" % len(args[key])
    output["invocation"] = {"module_args": args}
    module.exit_json(**output)


if __name__ == "__main__":
    main()
