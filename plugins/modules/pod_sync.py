#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pod_sync
short_description: Converge a node's whole pod network in one run, adding new pods and removing those no longer listed
version_added: 0.2.0
author: k8slab maintainers (@k8slab)
description:
  - The pod network's counterpart of the proxier's sync, shaped like the CNI bridge plugin's ADD, run for every pod of
    the node at once and followed by the DEL of every pod no longer listed. It is handed the whole pod list and makes
    the node match it.
  - 'One object at a time, each converged on its own and safe to repeat: the bridge (name, address, fixed MAC, up),
    C(/etc/netns) (with a marker when this module created it), then for each pod its namespace (C(lo) up) and
    C(/etc/netns/NETNS/resolv.conf), its veth pair (host end a port of the bridge, with hairpin; the other end in the
    namespace with the pod''s address) and its default route, then the routes to the other nodes'' pod subnets.'
  - A pod whose veth pair this run made or re-addressed may take an address the node still knows under an old MAC
    (the same pod re-created, or a new pod on a removed pod's address). Where the CNI bridge plugin sends a
    gratuitous ARP, this module flushes the node's stale neighbour entry for that address on O(bridge), and the
    other pods' entries on their veth (never a permanent one), so they ask for the new MAC instead of sending to
    the old one.
  - With O(prune) (the default) the same run then removes what this owner created and no longer declares - the
    namespace (and with it the veth pair) and C(/etc/netns/NETNS) of each pod no longer listed, the routes to subnets
    no longer listed, and a bridge that is no longer O(bridge) (a renamed bridge goes after its pods moved to the new
    one). Kubernetes removes a pod after its endpoints left every Service and its app stopped; a playbook that
    does those steps after this one runs it with O(prune=false) first and once more with O(prune=true) at the end.
  - Ownership lives in records, never in names or route metrics - the namespaces in the M(k8slab.kube_proxy.netns)
    module's records (so both modules agree on them), the bridges and routes in one record per O(owner) under
    O(state_dir). An existing namespace or route this owner did not create is an error, checked for every pod before
    anything changes; it is never taken over.
  - A node last converged by version 0.1 of the pod_network role has no record of its bridge and routes. Its
    declared bridge is then taken as this owner's, and with O(adopt_route_metric) so are the routes with that metric
    (0.1 marked its routes with metric 1013); those no longer listed are removed like any other.
  - With O(state=absent) everything this owner recorded is removed - routes, every recorded pod, the bridges, and
    C(/etc/netns) when this module created it and it is empty.
  - With O(iptables) the same run also writes the rules the pod network needs in the node's iptables, once the pods
    are converged (with O(state=absent) it removes them first), as the CNI bridge plugin writes its masquerade in its
    ADD. The pod_network role puts the tutorial's FORWARD accepts of the bridge and the MASQUERADE of the pod CIDR there.
  - With O(sysctls) the same run first sets the kernel parameters the pod network needs, such as
    C(net.ipv4.ip_forward), as the CNI bridge plugin turns forwarding on in its ADD; with O(state=absent) it puts
    back the values they had before the first change, after everything else is gone.
options:
  bridge:
    description:
      - The bridge the pods hang off, such as C(bridge_eden). At most 15 characters.
    type: str
    required: true
  bridge_address:
    description:
      - The bridge's address with prefix length, such as C(10.0.0.1/24); the pods' default gateway. Its subnet is the
        pod subnet every pod's address must lie in.
      - Required with O(state=present).
    type: str
  bridge_mac:
    description:
      - A fixed unicast MAC for the bridge, such as C(02:4b:38:00:00:01), so that it does not follow the lowest MAC of
        its ports when pods come and go. When omitted, the MAC is left to the kernel (the tutorial).
    type: str
  hairpin:
    description: Hairpin mode on every pod's bridge port, so a pod reaches itself through a Service.
    type: bool
    default: false
  pods:
    description:
      - Every pod of this node, in order. Required with O(state=present); an empty list is refused (remove the
        pod network with O(state=absent) instead).
    type: list
    elements: dict
    suboptions:
      name:
        description: The pod's name, used in messages and in RV(pods). Defaults to O(pods[].netns).
        type: str
      netns:
        description: The pod's network namespace, such as C(netns_adam).
        type: str
        required: true
      host_veth:
        description: The veth end on the bridge, such as C(veth_adam).
        type: str
        required: true
      pod_veth:
        description: The veth end in the namespace, such as C(veth_ns_adam).
        type: str
        required: true
      cidr:
        description: The pod's address with the bridge's prefix length, such as C(10.0.0.11/24).
        type: str
        required: true
      gateway:
        description: The pod's default gateway. Defaults to the address of O(bridge_address).
        type: str
      nameservers:
        description:
          - The lines of C(/etc/netns/NETNS/resolv.conf), one C(nameserver) each. When omitted, the file is left alone.
        type: list
        elements: str
  routes:
    description:
      - The routes to the other nodes' pod subnets, in the node's main table (flannel's host-gw, kubenet). Empty for
        one node.
    type: list
    elements: dict
    default: []
    suboptions:
      destination:
        description: The other node's pod subnet, such as C(10.0.2.0/24).
        type: str
        required: true
      gateway:
        description: That node's address, such as C(192.0.2.12).
        type: str
        required: true
  prune:
    description:
      - Remove what this owner created and no longer declares (pods, routes, an old bridge) in the same run.
      - V(false) only adds and converges; run again with V(true) once the pods leaving have left every Service and
        their apps stopped.
    type: bool
    default: true
  force:
    description:
      - When a namespace to remove still has processes, stop them (C(SIGTERM), then C(SIGKILL)) instead of failing.
        Without it, such a namespace is an error found before anything changes.
    type: bool
    default: false
  state:
    description: V(present) converges the pod network to O(pods); V(absent) removes everything this owner recorded.
    type: str
    choices: [present, absent]
    default: present
  owner:
    description: The owner the records are kept under, such as C(pod_network).
    type: str
    default: pod_network
  state_dir:
    description: Where the record of this owner's bridges and routes lives.
    type: path
    default: /var/lib/k8slab/pod_sync
  netns_state_dir:
    description: Where the namespace records live, shared with M(k8slab.kube_proxy.netns).
    type: path
    default: /var/lib/k8slab/netns
  adopt_route_metric:
    description:
      - Only for a node without a record yet (last converged by version 0.1), the routes in the main table with this
        metric and a gateway are taken as this owner's. The pod_network role passes 1013, the metric 0.1 used.
    type: int
  sysctls:
    description:
      - Kernel parameters of the node's network namespace, each set now and in a file under C(/etc/sysctl.d/), as
        M(k8slab.kube_proxy.sysctl) sets one with O(k8slab.kube_proxy.sysctl#module:state=present); the value found
        before the first change is recorded under O(sysctls[].state_dir) first.
      - With O(state=absent), each recorded value is put back and the parameter's line, file and record are removed,
        as M(k8slab.kube_proxy.sysctl) does with O(k8slab.kube_proxy.sysctl#module:state=absent); a parameter with
        no record is left alone. O(sysctls[].value) is not used then (the recorded value comes back).
      - The records and files are the sysctl module's own, so either module undoes what the other set (the lab's
        teardown puts C(net.ipv4.ip_forward) back with the ip_forward role).
      - Every name, value and record is checked with the pods, before anything changes.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The parameter, as O(k8slab.kube_proxy.sysctl#module:name) takes it, such as C(net.ipv4.ip_forward).
        type: str
        required: true
      value:
        description: The value to hold. Required with O(state=present).
        type: str
      sysctl_file:
        description: The file that persists the value, as O(k8slab.kube_proxy.sysctl#module:sysctl_file).
        type: path
        default: /etc/sysctl.d/99-k8slab.conf
      state_dir:
        description: Where the original value is recorded, as O(k8slab.kube_proxy.sysctl#module:state_dir).
        type: path
        default: /var/lib/k8slab/sysctl
  iptables:
    description:
      - Rules in built-in chains (such as C(FORWARD) and C(POSTROUTING)) that the pod network needs, converged by the
        engine, ownership records and no-change path of M(k8slab.kube_proxy.iptables_chains) in one
        C(iptables-restore --noflush) for every table. Rules written here can be removed by that module with the
        same owner and O(iptables.state_dir), and the other way round.
      - Checked with the pods, before anything changes.
    type: dict
    suboptions:
      owner:
        description: The owner the rules are recorded under, as in M(k8slab.kube_proxy.iptables_chains).
        type: str
        required: true
      tables:
        description:
          - Each table's rules, as the items of M(k8slab.kube_proxy.iptables_chains)'s O(k8slab.kube_proxy.iptables_chains#module:tables)
            take them (built-in rules only). A table listed with no rules loses this owner's rules in it.
          - With O(state=absent), the tables this owner's rules are removed from.
        type: list
        elements: dict
        required: true
        suboptions:
          table:
            description: The table these rules go in.
            type: str
            required: true
            choices: [filter, nat, mangle, raw]
          builtin_rules:
            description: This table's rules, as O(k8slab.kube_proxy.iptables_chains#module:builtin_rules) takes them.
            type: list
            elements: dict
            default: []
            suboptions:
              chain:
                description: The chain, such as C(FORWARD).
                type: str
                required: true
              rule:
                description: The rule, as C(iptables-save) prints it after the chain name.
                type: str
                required: true
              comment:
                description: Optional comment, written as C(-m comment).
                type: str
              position:
                description: C(first) or C(last) in the chain.
                type: str
                choices: [first, last]
                default: first
      state_dir:
        description: Where the ownership records live, shared with M(k8slab.kube_proxy.iptables_chains).
        type: path
        default: /var/lib/k8slab/iptables_chains
      wait:
        description: Seconds C(iptables-restore) waits for the xtables lock.
        type: int
        default: 30
      backend:
        description: The iptables backend, as in M(k8slab.kube_proxy.iptables_chains).
        type: str
        choices: [auto, nft, legacy]
        default: auto
extends_documentation_fragment:
  - k8slab.kube_proxy.iproute
  - k8slab.kube_proxy.attributes
attributes:
  diff_mode:
    description:
      - Shows the bridge, each pod's namespace, veth pair and default route, and the node routes, before and after;
        with O(sysctls), each parameter's running value, file and record; with O(iptables), its owner's rules too.
notes:
  - Deleting a namespace also destroys the veth ends inside it, and with them their peers on the bridge.
  - O(iptables) writes IPv4 rules only, as the pod network is IPv4.
seealso:
  - module: k8slab.kube_proxy.bridge
  - module: k8slab.kube_proxy.netns
  - module: k8slab.kube_proxy.veth
  - module: k8slab.kube_proxy.route
  - module: k8slab.kube_proxy.sysctl
  - name: The CNI bridge plugin
    description: C(plugins/main/bridge/bridge.go), whose ADD this module runs for every pod.
    link: https://github.com/containernetworking/plugins/blob/main/plugins/main/bridge/bridge.go
"""

EXAMPLES = r"""
- name: The tutorial's pod network with IPv4 forwarding, its FORWARD accepts and the MASQUERADE of the pod CIDR, in one run
  k8slab.kube_proxy.pod_sync:
    bridge: bridge_eden
    bridge_address: 10.0.0.1/24
    sysctls:
      - {name: net.ipv4.ip_forward, value: "1", sysctl_file: /etc/sysctl.d/99-k8slab-ip_forward.conf}
    pods:
      - {netns: netns_adam, host_veth: veth_adam, pod_veth: veth_ns_adam, cidr: 10.0.0.11/24, nameservers: [8.8.8.8]}
      - {netns: netns_eve, host_veth: veth_eve, pod_veth: veth_ns_eve, cidr: 10.0.0.21/24, nameservers: [8.8.8.8]}
    iptables:
      owner: pod_network
      tables:
        - table: filter
          builtin_rules:
            - {chain: FORWARD, rule: "-i bridge_eden -j ACCEPT"}
            - {chain: FORWARD, rule: "-o bridge_eden -j ACCEPT"}
        - table: nat
          builtin_rules:
            - {chain: POSTROUTING, rule: "-s 10.0.0.0/24 -j MASQUERADE"}

# test: needs uplink - the gateway 192.0.2.12 is on the node's uplink network
- name: A node of a cluster; pods no longer listed stay until the prune run below
  k8slab.kube_proxy.pod_sync:
    bridge: bridge_eden
    bridge_address: 10.0.1.1/24
    bridge_mac: "02:4b:38:00:00:01"
    hairpin: true
    pods:
      - {netns: netns_adam, host_veth: veth_adam, pod_veth: veth_ns_adam, cidr: 10.0.1.11/24}
    routes:
      - {destination: 10.0.2.0/24, gateway: 192.0.2.12}
    prune: false

- name: Remove the pods no longer listed, once their endpoints left the Services and their apps stopped
  k8slab.kube_proxy.pod_sync:
    bridge: bridge_eden
    bridge_address: 10.0.1.1/24
    bridge_mac: "02:4b:38:00:00:01"
    hairpin: true
    pods:
      - {netns: netns_adam, host_veth: veth_adam, pod_veth: veth_ns_adam, cidr: 10.0.1.11/24}
    routes:
      - {destination: 10.0.2.0/24, gateway: 192.0.2.12}
    force: true

- name: Remove the whole pod network this owner created, its rules first, then put ip_forward back
  k8slab.kube_proxy.pod_sync:
    bridge: bridge_eden
    state: absent
    force: true
    sysctls:
      - {name: net.ipv4.ip_forward, sysctl_file: /etc/sysctl.d/99-k8slab-ip_forward.conf}
    iptables:
      owner: pod_network
      tables: [{table: filter}, {table: nat}]
"""

RETURN = r"""
bridge:
  description: The bridge after the run (predicted in check mode), as M(k8slab.kube_proxy.bridge) returns it.
  returned: when O(state=present)
  type: dict
  sample: {name: bridge_eden, exists: true, addresses: ["10.0.0.1/24"], up: true}
pods:
  description: Each pod after the run, in order.
  returned: when O(state=present)
  type: list
  elements: dict
  contains:
    name:
      description: The pod's name.
      type: str
    netns:
      description: The namespace as M(k8slab.kube_proxy.netns) returns it.
      type: dict
    veth:
      description: The veth pair as M(k8slab.kube_proxy.veth) returns it.
      type: dict
    route:
      description: The default route as M(k8slab.kube_proxy.route) returns it.
      type: dict
  sample:
    - name: adam
      netns: {name: netns_adam, exists: true, lo_up: true, nameservers: ["8.8.8.8"], resolv_conf: /etc/netns/netns_adam/resolv.conf}
      veth: {name: veth_adam, peer: veth_ns_adam, exists: true, netns: netns_adam, bridge: bridge_eden, hairpin: true,
             up: true, peer_up: true, peer_addresses: ["10.0.0.11/24"]}
      route: {netns: netns_adam, destination: default, gateway: 10.0.0.1, device: veth_ns_adam, metric: 0, exists: true}
routes:
  description: The routes to the other nodes' pod subnets after the run, as M(k8slab.kube_proxy.route) returns them.
  returned: when O(state=present)
  type: list
  elements: dict
  sample: [{netns: null, destination: 10.0.2.0/24, gateway: 192.0.2.12, device: eth0, metric: 0, exists: true}]
removed:
  description: What this run removed (or, in check mode, would remove), by kind.
  returned: always
  type: dict
  contains:
    netns:
      description: The namespaces of the pods removed.
      type: list
      elements: str
    routes:
      description: The node routes removed, as C(DESTINATION via GATEWAY).
      type: list
      elements: str
    bridges:
      description: The bridges removed.
      type: list
      elements: str
  sample: {netns: [netns_eve], routes: ["10.0.3.0/24 via 192.0.2.13"], bridges: [bridge_old]}
kept:
  description:
    - With O(prune=false), what this owner created, no longer declares and left in place for a later run.
  returned: always
  type: dict
  sample: {netns: [netns_eve], routes: [], bridges: []}
neighbours_flushed:
  description:
    - The pod addresses whose entry in the node's neighbour table on O(bridge) still named an old MAC (a pod
      re-created with the same address) and was flushed, so the next packet asks for the new one. Every run
      checks every listed pod, so an entry left by an interrupted run is flushed by the next. The other pods'
      entries for that address are flushed as well; they are in RV(commands).
  returned: when O(state=present)
  type: list
  elements: str
  sample: ["10.0.0.11"]
record:
  description: The path of this owner's record of bridges and routes.
  returned: always
  type: str
  sample: /var/lib/k8slab/pod_sync/pod_network.json
killed_pids:
  description: Processes stopped because O(force=true) (or, in check mode, that would be).
  returned: always
  type: list
  elements: int
  sample: []
sysctls:
  description:
    - With O(sysctls), each parameter after the run (predicted in check mode), in order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The parameter in dotted form.
      type: str
    value:
      description: The running value after the run.
      type: str
    previous:
      description: The running value before the run.
      type: str
    original:
      description: The recorded value from before the first change (with O(state=absent), the value put back), or V(null).
      type: str
    recorded:
      description: Whether a record of the original value exists after the run.
      type: bool
    changed:
      description: Whether the run changed the running value, the file or the record.
      type: bool
  sample: [{name: net.ipv4.ip_forward, value: "1", previous: "0", original: "0", recorded: true, changed: true}]
iptables:
  description:
    - With O(iptables), what the rules' part of the run did - C(changed),
      RV(k8slab.kube_proxy.iptables_chains#module:applied), RV(k8slab.kube_proxy.iptables_chains#module:backend),
      RV(k8slab.kube_proxy.iptables_chains#module:digest_hit) and RV(k8slab.kube_proxy.iptables_chains#module:tables) -
      as M(k8slab.kube_proxy.iptables_chains) returns them with O(k8slab.kube_proxy.iptables_chains#module:tables).
  returned: with O(iptables)
  type: dict
  sample:
    changed: false
    applied: ""
    backend: nft
    digest_hit: true
    tables: {filter: {chains: [], created: [], deleted: []}, nat: {chains: [], created: [], deleted: []}}
commands:
  description: The C(ip) commands run (or, in check mode, that would run), each an argument list.
  returned: always
  type: list
  elements: list
  sample: [["/usr/sbin/ip", "link", "add", "dev", "bridge_eden", "type", "bridge"]]
diff:
  description:
    - The bridge, each pod and the node routes before and after, with C(--diff); with O(sysctls), each parameter's
      running value, file and record (key C(sysctls)); with O(iptables), its owner's rules too (key C(iptables), as
      C(iptables-save) lines).
  returned: when diff mode is on
  type: dict
"""

import ipaddress
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import iproute
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.iproute import (
    Ip, ValidationError, link_by_name, link_kind, netns_names, parse_cidr, parse_destination, parse_ip, route_destination,
    validate_ifname, validate_netns_name)
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.netlink_objects import (
    OWNER_RE, Namespace, converge_bridge, converge_route, converge_veth, plan_veth, read_veth_world, recorded_namespaces,
    validate_bridge, validate_route, validate_veth)
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.iptables import ValidationError as RulesError
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.iptables_owner import (
    BACKENDS, BUILTIN_RULES_SPEC, TABLES, TablesSync, per_table, requested_tables)
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.runner import Runner
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.state_dir import RecordStore
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.sysctl import (
    DEFAULT_FILE as SYSCTL_FILE, DEFAULT_STATE_DIR as SYSCTL_STATE_DIR, Sysctl, normalize_name, parse_value)

RECORD_VERSION = 1


# ---------------------------------------------------------------- validation (before anything is read)

def validate(params):
    """Check the whole input; return the model: bridge params and address, pods and routes, normalized."""
    if not OWNER_RE.match(params["owner"] or ""):
        raise ValidationError("owner %r must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"
                              % (params["owner"],))
    validate_ifname(params["bridge"], "bridge name")
    sysctls = validate_sysctls(params.get("sysctls"), params["state"])
    if params["state"] == "absent":
        return {"bridge": params["bridge"], "pods": [], "routes": [], "sysctls": sysctls}
    if params["bridge_address"] is None:
        raise ValidationError("bridge_address is required with state=present")
    if not params["pods"]:
        raise ValidationError("pods is empty: a pod network needs at least one pod; to remove the whole pod network "
                              "use state=absent (the lab's teardown.yml)")
    bridge = {"name": params["bridge"], "state": "present", "addresses": [params["bridge_address"]],
              "mac": params["bridge_mac"] or None, "up": True}
    addresses = validate_bridge(bridge)
    bridge_if = parse_cidr(addresses[0], "bridge_address")
    pods = []
    seen = {}
    for index, pod in enumerate(params["pods"]):
        name = pod.get("name") or pod["netns"]
        where = "pod %s" % name
        try:
            validate_netns_name(pod["netns"])
            cidr = parse_cidr(pod["cidr"], "address")
            if cidr.network != bridge_if.network:
                raise ValidationError("address %s is not in the bridge's subnet %s" % (cidr, bridge_if.network))
            if cidr.ip == bridge_if.ip:
                raise ValidationError("address %s is the bridge's own address" % cidr)
            gateway = str(parse_ip(pod["gateway"], "gateway")) if pod.get("gateway") else str(bridge_if.ip)
            veth = {"name": pod["host_veth"], "peer": pod["pod_veth"], "netns": pod["netns"],
                    "peer_addresses": [str(cidr)], "bridge": params["bridge"], "hairpin": params["hairpin"],
                    "check_subnet": True, "state": "present"}
            validate_veth(veth)
            route = {"netns": pod["netns"], "destination": "default", "gateway": gateway, "device": None,
                     "metric": None, "state": "present"}
            netns = {"name": pod["netns"], "nameservers": pod.get("nameservers"), "owner": params["owner"],
                     "state_dir": params["netns_state_dir"], "state": "present", "force": False}
            nameservers = None if netns["nameservers"] is None else [
                str(parse_ip(server, "nameserver")) for server in netns["nameservers"]]
        except ValidationError as exc:
            raise ValidationError("%s (pods[%d]): %s" % (where, index, exc))
        for what, key in (("namespace", pod["netns"]), ("interface", pod["host_veth"]),
                          ("address", str(cidr.ip)), ("name", name)):
            if (what, key) in seen:
                raise ValidationError("%s: %s %s is also %s's" % (where, what, key, seen[(what, key)]))
            seen[(what, key)] = name
        pods.append({"name": name, "netns": netns, "nameservers": nameservers, "veth": veth,
                     "addresses": [str(cidr)], "route": route, "route_checked": validate_route(route)})
    routes = []
    for index, route in enumerate(params["routes"] or []):
        destination = parse_destination(route["destination"])
        if destination == "default":
            raise ValidationError("routes[%d]: destination must be another node's pod subnet, not default" % index)
        if (destination,) in seen:
            raise ValidationError("routes[%d]: destination %s is listed twice" % (index, destination))
        seen[(destination,)] = index
        if ipaddress.ip_network(destination).overlaps(bridge_if.network):
            raise ValidationError("routes[%d]: destination %s overlaps this node's pod subnet %s"
                                  % (index, destination, bridge_if.network))
        one = {"netns": None, "destination": destination, "gateway": route["gateway"], "device": None,
               "metric": None, "state": "present"}
        routes.append({"params": one, "checked": validate_route(one)})
    return {"bridge": bridge, "addresses": addresses, "pods": pods, "routes": routes, "sysctls": sysctls}


def validate_sysctls(items, state):
    """O(sysctls) normalized: [{name, value (None with state=absent), sysctl_file, state_dir}]."""
    result, seen = [], set()
    for index, item in enumerate(items or []):
        try:
            name = normalize_name(item["name"])
            if state == "present":
                if item["value"] is None:
                    raise ValueError("value is required with state=present")
                value = parse_value(item["value"])
            else:
                value = None
        except ValueError as exc:
            raise ValidationError("sysctls[%d]: %s" % (index, exc))
        if name in seen:
            raise ValidationError("sysctls[%d]: %s is listed twice" % (index, name))
        seen.add(name)
        result.append({"name": name, "value": value, "sysctl_file": item["sysctl_file"], "state_dir": item["state_dir"]})
    return result


# ---------------------------------------------------------------- planning (pure)

def route_key(route):
    return "%s via %s" % (route["destination"], route["gateway"])


def adopted_routes(table, metric):
    """A node without a record: the routes the 0.1 role marked with ``metric`` (unicast, with a gateway)."""
    if metric is None:
        return []
    return [{"destination": route_destination(route), "gateway": route["gateway"]} for route in table
            if route.get("metric", 0) == metric and route.get("gateway") and route.get("type", "unicast") == "unicast"]


def plan_ownership(record, declared_bridge, desired_routes, table, recorded_netns, desired_netns, adopt_metric):
    """What this owner has, keeps and leaves behind.

    ``record`` is this owner's record (None on a node not converged by this module yet), ``table`` the node's
    `ip -json route` output. Returns ``(owned, leftovers, clashes)``: the bridges and routes this owner holds after
    the run (record first, so a killed run leaves nothing unrecorded), what it no longer declares (``netns``,
    ``routes``, ``bridges``), and the messages of declared routes that someone else's route already occupies.
    """
    if record is None:
        bridges = [declared_bridge] if declared_bridge else []
        routes = adopted_routes(table, adopt_metric)
    else:
        bridges = list(record.get("bridges", []))
        routes = list(record.get("routes", []))
    owned_destinations = set(route["destination"] for route in routes)
    clashes = []
    for route in desired_routes:
        if route["destination"] in owned_destinations:
            continue
        present = [entry for entry in table if route_destination(entry) == route["destination"]]
        if present:
            clashes.append("a route to %s exists (%s) and was not created by this owner; k8slab never takes over a "
                           "route it did not create" % (route["destination"], ", ".join(
                               "via %s" % entry["gateway"] if entry.get("gateway") else "dev %s" % entry.get("dev")
                               for entry in present)))
    desired_keys = set(route_key(route) for route in desired_routes)
    leftovers = {
        "netns": [name for name in recorded_netns if name not in desired_netns],
        "routes": [route for route in routes if route_key(route) not in desired_keys],
        "bridges": [name for name in bridges if name != declared_bridge],
    }
    owned = {
        "bridges": ([declared_bridge] if declared_bridge else []) + leftovers["bridges"],
        "routes": [dict(route) for route in desired_routes] + leftovers["routes"],
    }
    return owned, leftovers, clashes


# ---------------------------------------------------------------- the run

def stale_neighbours(neighbours, addresses, mac):
    """The addresses among ``addresses`` (with prefix lengths) whose entry in ``neighbours`` (``ip -json neigh``)
    names a MAC other than ``mac``; PERMANENT and NOARP entries are never stale."""
    wanted = set(str(ipaddress.ip_interface(address).ip) for address in addresses)
    stale = set()
    for entry in neighbours:
        states = entry.get("state") or []
        if entry.get("dst") not in wanted or not entry.get("lladdr") or "PERMANENT" in states or "NOARP" in states:
            continue
        if mac is None or entry["lladdr"].lower() != mac.lower():
            stale.add(entry["dst"])
    return sorted(stale)


class PodSync:
    """One run: read, check ownership for everything, then converge object by object, then remove leftovers."""

    def __init__(self, module, model, runner, rules=None):
        self.module = module
        self.rules = rules
        self.params = module.params
        self.model = model
        self.ip = Ip(module, cache=True)
        self.owner = self.params["owner"]
        self.store = RecordStore(self.params["state_dir"])
        self.record_path = self.store.path(self.owner)
        self.marker = os.path.join(iproute.ETC_NETNS, ".k8slab-%s" % self.owner)
        self.result = {"removed": {"netns": [], "routes": [], "bridges": []}, "killed_pids": [],
                       "kept": {"netns": [], "routes": [], "bridges": []}, "record": self.record_path, "sysctls": []}
        self.before = {}
        self.after = {}
        # Each parameter's running value, file and record, read now: a bad one stops the run before any change.
        self.sysctls = [(item, Sysctl(module, item["name"], item["sysctl_file"], item["state_dir"], runner=runner))
                        for item in model["sysctls"]]

    def fail(self, msg):
        self.module.fail_json(msg=msg, commands=self.ip.commands)

    def read_record(self):
        try:
            record = self.store.read(self.owner)
        except ValueError as exc:
            self.fail("cannot read the record %s (%s); nothing was changed. Delete it to start again from the "
                      "node's state (the namespaces keep their own records)" % (self.record_path, exc))
        if record is not None and (record.get("version") != RECORD_VERSION or record.get("owner") != self.owner):
            self.fail("the record %s is not a version %d record of owner %s; nothing was changed"
                      % (self.record_path, RECORD_VERSION, self.owner))
        return record

    def write_record(self, owned):
        if self.module.check_mode:
            return
        record = {"version": RECORD_VERSION, "owner": self.owner, "bridges": owned["bridges"],
                  "routes": [{"destination": route["destination"], "gateway": route["gateway"]}
                             for route in owned["routes"]]}
        self.store.write(self.owner, record)

    def namespace(self, name, state, nameservers=None):
        params = {"name": name, "nameservers": nameservers, "owner": self.owner, "state": state,
                  "state_dir": self.params["netns_state_dir"], "force": self.params["force"]}
        return Namespace(self.module, params, self.ip)

    # ------------------------------------------------------------ before the first change
    def preflight(self, leftovers, clashes):
        """Every refusal this run can meet, found before anything changes."""
        problems = list(clashes)
        existing = netns_names(self.ip.netns_list())
        for pod in self.model["pods"]:
            namespace = self.namespace(pod["netns"]["name"], "present")
            exists = namespace.name in existing
            problem = namespace.refusal(exists, namespace.owned())
            if problem:
                problems.append("pod %s: %s" % (pod["name"], problem))
                continue
            try:
                # The subnet was checked against bridge_address; the bridge may still have its old address.
                veth = dict(pod["veth"], check_subnet=False)
                plan_veth(veth, pod["addresses"], read_veth_world(self.ip, veth), True)
            except ValidationError as exc:
                problems.append("pod %s: %s" % (pod["name"], exc))
        link = link_by_name(self.ip.links(), self.params["bridge"])
        if self.params["state"] == "present" and link is not None and link_kind(link) != "bridge":
            problems.append("link %s exists but is a %s, not a bridge; refusing to touch it"
                            % (self.params["bridge"], link_kind(link) or "plain device"))
        if not self.params["force"]:
            for name in leftovers["netns"]:
                if name in existing:
                    pids = self.namespace(name, "absent").pids()
                    if pids:
                        problems.append("namespace %s, to be removed, still has processes %s; stop them or set "
                                        "force=true" % (name, pids))
        if problems:
            self.fail("nothing was changed: " + "; ".join(problems))

    # ------------------------------------------------------------ converge
    def ensure_etc_netns(self):
        """/etc/netns exists; when this module makes it, a marker says so (absent removes it only then)."""
        if os.path.isdir(iproute.ETC_NETNS):
            return False
        self.ip.act("create %s" % iproute.ETC_NETNS, os.makedirs, iproute.ETC_NETNS, 0o755)
        self.ip.act("write %s" % self.marker, write_marker, self.marker)
        return True

    def present(self):
        record = self.read_record()
        # Every existing pod namespace's links and routes, one ip process each (the checks and the converge
        # below read them from the cache until the first change).
        existing = set(netns_names(self.ip.netns_list()))
        self.ip.prefetch([pod["netns"]["name"] for pod in self.model["pods"] if pod["netns"]["name"] in existing])
        table = self.ip.routes(4)
        desired = [route["params"] for route in self.model["routes"]]
        owned, leftovers, clashes = plan_ownership(
            record, self.params["bridge"], desired, table, recorded_namespaces(self.params["netns_state_dir"], self.owner),
            [pod["netns"]["name"] for pod in self.model["pods"]], self.params["adopt_route_metric"])
        self.preflight(leftovers, clashes)
        self.write_record(owned)  # before creating anything: a run killed in between leaves nothing unrecorded
        changed = self.converge_sysctls()
        changed |= self.ensure_etc_netns()

        done, after, before = converge_bridge(self.module, self.ip, self.model["bridge"], self.model["addresses"])
        changed |= done
        self.result["bridge"] = after
        self.before["bridge"], self.after["bridge"] = before, after

        pods, added, self.before["pods"], self.after["pods"] = [], [], {}, {}
        for pod in self.model["pods"]:
            name = pod["netns"]["name"]
            ns = self.namespace(name, "present", pod["netns"]["nameservers"]).run(pod["nameservers"])
            veth = converge_veth(self.module, self.ip, pod["veth"], pod["addresses"], quiet=True)
            route = converge_route(self.module, self.ip, pod["route"], pod["route_checked"], quiet=True)
            changed |= ns["changed"] or veth[0] or route[0]
            if veth[0]:
                added.append(pod)
            pods.append({"name": pod["name"], "netns": ns["netns"], "veth": veth[1], "route": route[1]})
            if self.module._diff:
                self.before["pods"][name] = {"netns": ns["diff"]["before"], "veth": veth[2], "route": route[2]}
                self.after["pods"][name] = {"netns": ns["diff"]["after"], "veth": veth[1], "route": route[3]}
        self.result["pods"] = pods
        changed |= self.flush_neighbours(added)

        routes, self.before["routes"], self.after["routes"] = [], [], []
        for route in self.model["routes"]:
            done, value, before, after = converge_route(self.module, self.ip, route["params"], route["checked"])
            changed |= done
            routes.append(value)
            self.before["routes"].append(before)
            self.after["routes"].append(after)
        self.result["routes"] = routes

        if self.params["prune"]:
            changed |= self.remove(leftovers)
            owned["bridges"] = [self.params["bridge"]]
            owned["routes"] = desired
            self.write_record(owned)
        else:
            self.result["kept"] = dict(leftovers, routes=[route_key(route) for route in leftovers["routes"]])
        return changed

    def flush_neighbours(self, added):
        """Forget the neighbour entries that still give a pod's address an old MAC.

        A pod that leaves and comes back with the same address (or a new pod that takes a removed pod's address)
        gets a new veth with a new MAC, while the node may still hold the old MAC for that address - even as
        REACHABLE, for as long as traffic keeps confirming it - and send the pod's packets to a MAC nobody has.
        The CNI bridge plugin answers this with a gratuitous ARP on ADD; here the stale entries are flushed
        (permanent entries, which somebody set on purpose, are left alone).

        Every run compares the node's entries with every pod's MAC, not only the pods whose veth it made: a run
        killed between making a veth and this flush leaves the stale entry to the next run, whose veth has
        nothing left to change. The node's entries come from one read and the pods' MACs from the reads the
        run already made. Where the node's entry is stale, or the veth was made in this run, the other pods'
        entries are checked too; theirs are flushed before the node's, so a run killed between the two still
        leaves the node's stale entry to point the next run at them.
        """
        self.result["neighbours_flushed"] = []
        made = set(pod["name"] for pod in added)
        # in check mode a pod whose veth the run would make has no new MAC yet (nor, maybe, a namespace)
        pods = [pod for pod in self.model["pods"] if not (self.module.check_mode and pod["name"] in made)]
        if not pods:
            return False
        macs = {}
        for pod in pods:
            peer = link_by_name(self.ip.links(pod["veth"]["netns"]), pod["veth"]["peer"])
            macs[pod["name"]] = peer.get("address") if peer else None
        bridge = self.params["bridge"]
        neighbours = self.ip.read_json(["neigh", "show", "dev", bridge])
        suspects = [(pod, stale_neighbours(neighbours, pod["addresses"], macs[pod["name"]])) for pod in pods]
        suspects = [(pod, stale) for pod, stale in suspects if stale or pod["name"] in made]
        if suspects and len(pods) > 1:
            # the suspects' addresses are looked up in every other pod: all their tables, read side by side
            self.ip.read_json_together([(["neigh", "show", "dev", pod["veth"]["peer"]], pod["veth"]["netns"])
                                        for pod in pods])
        flushes = []  # (netns, device, address), the node's last
        for pod, stale in suspects:
            # The other pods on the bridge may cache the old MAC as well: pod-to-pod traffic to this pod would go
            # to a MAC nobody has until their entry fails (about 8 s).
            for other in pods:
                if other is pod:
                    continue
                device, netns = other["veth"]["peer"], other["veth"]["netns"]
                entries = self.ip.read_json(["neigh", "show", "dev", device], netns)
                flushes += [(netns, device, address)
                            for address in stale_neighbours(entries, pod["addresses"], macs[pod["name"]])]
            flushes += [(None, bridge, address) for address in stale]
        for netns, device, address in sorted(flushes, key=lambda flush: flush[0] is None):
            self.ip.change(["neigh", "flush", "to", address, "dev", device], netns)
            if netns is None:
                self.result["neighbours_flushed"].append(address)
        return bool(flushes)

    # ------------------------------------------------------------ remove
    def remove(self, leftovers):
        """Remove the routes, pods and bridges in ``leftovers``, in that order (DEL); True when anything went."""
        changed = False
        for route in leftovers["routes"]:
            params = {"netns": None, "destination": route["destination"], "gateway": route["gateway"], "device": None,
                      "metric": None, "state": "absent"}
            done = converge_route(self.module, self.ip, params, validate_route(params))[0]
            changed |= done
            if done:
                self.result["removed"]["routes"].append(route_key(route))
        for name in leftovers["netns"]:
            result = self.namespace(name, "absent").run(None)
            changed |= result["changed"]
            self.result["killed_pids"] += result.get("killed_pids", [])
            if result["changed"]:
                self.result["removed"]["netns"].append(name)
        for name in leftovers["bridges"]:
            link = link_by_name(self.ip.links(), name)
            if link is None or link_kind(link) != "bridge":
                continue
            done = converge_bridge(self.module, self.ip, {"name": name, "state": "absent", "mac": None}, None)[0]
            changed |= done
            if done:
                self.result["removed"]["bridges"].append(name)
        return changed

    def absent(self):
        record = self.read_record()
        table = self.ip.routes(4)
        recorded = recorded_namespaces(self.params["netns_state_dir"], self.owner)
        dummy, leftovers, dummy = plan_ownership(record, None, [], table, recorded, [], self.params["adopt_route_metric"])
        if record is None:
            leftovers["bridges"] = [self.params["bridge"]]
        self.preflight(leftovers, [])
        changed = self.remove(leftovers)
        if os.path.exists(self.marker) and os.listdir(iproute.ETC_NETNS) == [os.path.basename(self.marker)]:
            self.ip.act("remove %s" % iproute.ETC_NETNS, remove_etc_netns, self.marker)
            changed = True
        if record is not None:
            changed = True
            if not self.module.check_mode:
                self.store.remove(self.owner)
        return self.converge_sysctls() or changed

    def converge_sysctls(self):
        """O(sysctls): set (state=present, first thing) or put back (state=absent, last thing)."""
        changed = False
        for item, sysctl in self.sysctls:
            if self.params["state"] == "present":
                out = sysctl.state_present(item["value"])
            else:
                out = sysctl.state_absent()
            changed |= out["changed"]
            self.result["sysctls"].append(dict((key, out[key]) for key in (
                "name", "value", "previous", "original", "recorded", "changed")))
            if self.module._diff:
                self.before.setdefault("sysctls", {})[out["name"]] = sysctl.diff["before"]
                self.after.setdefault("sysctls", {})[out["name"]] = sysctl.diff["after"]
        return changed

    def apply_rules(self):
        """The O(iptables) rules: after the pods with state=present, before them with state=absent."""
        output = self.rules.apply()  # checked and planned before the first change: nothing left to refuse
        self.result["iptables"] = dict((key, output[key]) for key in ("changed", "applied", "backend", "digest_hit"))
        self.result["iptables"]["tables"] = per_table(output, self.rules.tables)
        if "diff" in output:
            self.before["iptables"], self.after["iptables"] = output["diff"]["before"], output["diff"]["after"]
        return output["changed"]

    def run(self):
        if self.params["state"] == "present":
            changed = self.present()
            if self.rules:
                changed = self.apply_rules() or changed
        else:
            changed = self.apply_rules() if self.rules else False
            changed = self.absent() or changed
        self.result.update(changed=changed, commands=self.ip.commands)
        if self.module._diff:
            self.result["diff"] = {"before": self.before, "after": self.after}
        return self.result


def write_marker(path):
    with open(path, "w") as handle:
        handle.write("# Created by k8slab.kube_proxy.pod_sync; its state=absent removes this directory when empty.\n")


def remove_etc_netns(marker):
    os.unlink(marker)
    os.rmdir(os.path.dirname(marker))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            bridge=dict(type="str", required=True),
            bridge_address=dict(type="str"),
            bridge_mac=dict(type="str"),
            hairpin=dict(type="bool", default=False),
            pods=dict(type="list", elements="dict", options=dict(
                name=dict(type="str"),
                netns=dict(type="str", required=True),
                host_veth=dict(type="str", required=True),
                pod_veth=dict(type="str", required=True),
                cidr=dict(type="str", required=True),
                gateway=dict(type="str"),
                nameservers=dict(type="list", elements="str"),
            )),
            routes=dict(type="list", elements="dict", default=[], options=dict(
                destination=dict(type="str", required=True),
                gateway=dict(type="str", required=True),
            )),
            prune=dict(type="bool", default=True),
            force=dict(type="bool", default=False),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            owner=dict(type="str", default="pod_network"),
            state_dir=dict(type="path", default="/var/lib/k8slab/pod_sync"),
            netns_state_dir=dict(type="path", default="/var/lib/k8slab/netns"),
            adopt_route_metric=dict(type="int"),
            sysctls=dict(type="list", elements="dict", default=[], options=dict(
                name=dict(type="str", required=True),
                value=dict(type="str"),
                sysctl_file=dict(type="path", default=SYSCTL_FILE),
                state_dir=dict(type="path", default=SYSCTL_STATE_DIR),
            )),
            iptables=dict(type="dict", options=dict(
                owner=dict(type="str", required=True),
                tables=dict(type="list", elements="dict", required=True, options=dict(
                    table=dict(type="str", required=True, choices=TABLES),
                    builtin_rules=BUILTIN_RULES_SPEC,
                )),
                state_dir=dict(type="path", default="/var/lib/k8slab/iptables_chains"),
                wait=dict(type="int", default=30),
                backend=dict(type="str", default="auto", choices=BACKENDS),
            )),
        ),
        supports_check_mode=True,
    )
    runner = Runner(module)  # renews the run's node lock lease before anything else, once for the whole run
    params = module.params
    try:
        model = validate(params)
    except ValidationError as exc:
        module.fail_json(msg=str(exc), commands=[])
    rules = None
    if params["iptables"]:
        spec = params["iptables"]
        try:
            rules = TablesSync(module, runner, spec["owner"], requested_tables(spec["tables"]), "ipv4",
                               params["state"], (), spec["state_dir"], spec["wait"], spec["backend"])
        except RulesError as exc:
            module.fail_json(msg="iptables: %s" % exc, commands=[])
    module.exit_json(**PodSync(module, model, runner, rules).run())


if __name__ == "__main__":
    main()
