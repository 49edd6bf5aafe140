# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""kube-proxy's iptables layout, rendered from Service port records; pure, no commands.

:func:`render` takes the records of :func:`service_model.service_ports` and returns,
per table (nat and filter), the chains and the jumps from built-in chains in the
shape the iptables_chains module takes. Every rule is written the way
kube-proxy's ``syncProxyRules`` (pkg/proxy/iptables/proxier.go) writes it: the
same chains, the same match order, the same comments. :func:`restore_text` turns
a table back into ``iptables-restore`` input, which is what the unit tests hold
against the rules kube-proxy's own tests expect.

Deliberate differences from kube-proxy (each a knob or explained in the docs):
no KUBE-PROXY-CANARY chains (nothing monitors them here); KUBE-FIREWALL always
holds kubelet's anti-martian rule (kube-proxy only writes it with localhost
NodePorts; kubelet writes it always, so a real node always shows it).
The ``-m nfacct`` counters are kube-proxy's, written when the caller says the
counter objects exist (they live outside the table). NodePorts answer on every
local address, or, given the addresses kube-proxy's ``--nodeport-addresses``
selects, on those only: KUBE-SERVICES then ends with one
jump to KUBE-NODEPORTS per address instead of the ``addrtype`` one. As in
kube-proxy, filter KUBE-EXTERNAL-SERVICES still matches every local address for
a NodePort without endpoints, and the health check node port is accepted on all.
LoadBalancer Services are kube-proxy's: each ingress IP leads from
KUBE-SERVICES to KUBE-EXT-..., or with ``loadBalancerSourceRanges`` to
KUBE-FW-..., which sends the allowed sources on to KUBE-EXT-... and leaves the
rest to filter KUBE-PROXY-FIREWALL's DROP. ``internalTrafficPolicy: Local`` is kube-proxy's: the cluster IP
leads to KUBE-SVL-... (this node's endpoints), or is dropped in filter
KUBE-SERVICES when this node has none. So is ``externalTrafficPolicy: Local``:
KUBE-EXT-... sends pod and node traffic to KUBE-SVC-... (the node's
masqueraded), the rest, unmasqueraded, to KUBE-SVL-...; external destinations
are dropped in filter KUBE-EXTERNAL-SERVICES when this node has no endpoint,
and the health check node port is accepted in filter KUBE-NODEPORTS.
"""

from __future__ import annotations

import ipaddress

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import nfacct, service_model

MASQUERADE_BIT = 14
# kube-proxy's nfacct counters: it names one in a rule only when the counter object exists.
NFACCT_INVALID_DROPPED = nfacct.INVALID_DROPPED
NFACCT_LOCALHOST_NODEPORTS = nfacct.LOCALHOST_NODEPORTS
NFACCT_COUNTERS = (NFACCT_INVALID_DROPPED, NFACCT_LOCALHOST_NODEPORTS)
LOCALHOST_NODEPORTS_COMMENT = "kubernetes service nodeports; NOTE: this must be the last rule in this chain"

NAT_TOP_CHAINS = ("KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ")
FILTER_TOP_CHAINS = ("KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD", "KUBE-NODEPORTS",
                     "KUBE-PROXY-FIREWALL", "KUBE-FIREWALL")


def probability(remaining):
    """kube-proxy's computeProbability: fmt.Sprintf("%0.10f", 1/n)."""
    return "%0.10f" % (1.0 / remaining)


def _quoted(text):
    return '"%s"' % text


def _jumps(table):
    """The jumps kube-proxy (and kubelet, for KUBE-FIREWALL) keep at the top of the built-in chains.

    kube-proxy prepends each jump in its list order, so the last one ends up on top; listed
    here in the order a node shows them, kubelet's KUBE-FIREWALL (made before kube-proxy starts) last.
    """
    if table == "nat":
        return [
            ("PREROUTING", '-m comment --comment "kubernetes service portals" -j KUBE-SERVICES'),
            ("OUTPUT", '-m comment --comment "kubernetes service portals" -j KUBE-SERVICES'),
            ("POSTROUTING", '-m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING'),
        ]
    new = "-m conntrack --ctstate NEW "
    return [
        ("INPUT", new + '-m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL'),
        ("INPUT", '-m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS'),
        ("INPUT", new + '-m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES'),
        ("INPUT", "-j KUBE-FIREWALL"),
        ("FORWARD", new + '-m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL'),
        ("FORWARD", '-m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD'),
        ("FORWARD", new + '-m comment --comment "kubernetes service portals" -j KUBE-SERVICES'),
        ("FORWARD", new + '-m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES'),
        ("OUTPUT", new + '-m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL'),
        ("OUTPUT", new + '-m comment --comment "kubernetes service portals" -j KUBE-SERVICES'),
        ("OUTPUT", "-j KUBE-FIREWALL"),
    ]


class _Table(object):
    def __init__(self, top):
        self.order = list(top)
        self.rules = dict((name, []) for name in top)

    def chain(self, name):
        if name not in self.rules:
            self.order.append(name)
            self.rules[name] = []

    def add(self, chain, *parts):
        self.rules[chain].append(" ".join(part for part in parts if part))

    def declared(self):
        return [{"name": name, "rules": list(self.rules[name])} for name in self.order]


def render(records, cluster_cidr=None, random_fully=True, masquerade_all=False, localhost_nodeports=False,
           conntrack_tcp_liberal=False, masquerade_bit=MASQUERADE_BIT, node_ip=None, nodeport_addresses=(),
           nfacct_counters=()):
    """Return {"nat": {"chains", "builtin_rules"}, "filter": {...}, "paths": {key: [chains]}}.

    records: :func:`service_model.service_ports` output. cluster_cidr: the pod CIDR that
    counts as "local" (kube-proxy's --cluster-cidr); traffic to a cluster IP from outside
    it is marked for masquerade. Without it (and without masquerade_all) no such rule is
    written, as kube-proxy does without a local traffic detector. node_ip: the node's IP
    (kube-proxy's node IP); when a Service's loadBalancerSourceRanges hold it, the
    Service's load balancer IPs are allowed as sources too. nodeport_addresses: the node's
    addresses that --nodeport-addresses selects; NodePorts answer on those only (empty:
    on every local address). nfacct_counters: the names of the nfacct counter objects that
    exist on the node (:data:`NFACCT_COUNTERS`); a rule counts into one only when it exists,
    as kube-proxy writes it (an iptables rule naming a missing one is refused).
    """
    mark = "0x%x" % (1 << masquerade_bit)
    nat = _Table(NAT_TOP_CHAINS)
    filt = _Table(FILTER_TOP_CHAINS)
    paths = {}

    nat.add("KUBE-POSTROUTING", "-m mark ! --mark %s/%s -j RETURN" % (mark, mark))
    nat.add("KUBE-POSTROUTING", "-j MARK --xor-mark %s" % mark)
    nat.add("KUBE-POSTROUTING", '-m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE',
            "--random-fully" if random_fully else "")
    nat.add("KUBE-MARK-MASQ", "-j MARK --or-mark %s" % mark)
    # kubelet's copy of the anti-martian rule (kube-proxy adds its own only with localhost NodePorts).
    filt.add("KUBE-FIREWALL", '-m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 '
             "! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP")

    for record in records:
        proto = record["protocol"].lower()
        key = record["key"]
        policy = service_model.traffic_policy_endpoints(record)
        endpoints = policy["cluster"]
        has_endpoints = policy["any"]
        svc_chain = record["chains"]["svc"]
        ext_chain = record["chains"]["external"]
        # Cluster IP traffic: KUBE-SVL-... (this node's endpoints) with internalTrafficPolicy Local.
        internal_chain = record["chains"]["local"] if policy["internal_local"] else svc_chain
        externally = policy["externally"]
        match = "-m %s -p %s" % (proto, proto)
        portal = "-d %s --dport %d" % (record["cluster_ip"], record["port"])
        # External traffic without endpoints: rejected without any, dropped (externalTrafficPolicy Local) without a local one.
        if has_endpoints:
            external_filter = (_quoted(key + " has no local endpoints"), "-j DROP")
        else:
            external_filter = (_quoted(key + " has no endpoints"), "-j REJECT")
        path = []

        if policy["internal"]:
            nat.add("KUBE-SERVICES", "-m comment --comment", _quoted(key + " cluster IP"), match, portal, "-j", internal_chain)
            path.append("KUBE-SERVICES")
        elif has_endpoints:
            # internalTrafficPolicy Local without an endpoint on this node: dropped, not refused.
            filt.add("KUBE-SERVICES", "-m comment --comment", _quoted(key + " has no local endpoints"), match, portal,
                     "-j DROP")
        else:
            filt.add("KUBE-SERVICES", "-m comment --comment", _quoted(key + " has no endpoints"), match, portal, "-j REJECT")
        # External destinations lead to KUBE-EXT-... while any endpoint exists (its short-circuits need no local one);
        # what is left without an endpoint for it is filtered after.
        for external_ip in record.get("external_ips") or []:
            destination = "-d %s --dport %d" % (external_ip, record["port"])
            if has_endpoints:
                nat.add("KUBE-SERVICES", "-m comment --comment", _quoted(key + " external IP"), match, destination,
                        "-j", ext_chain)
            if not policy["external"]:
                filt.add("KUBE-EXTERNAL-SERVICES", "-m comment --comment", external_filter[0], match, destination,
                         external_filter[1])
        # Load balancer IPs: to KUBE-EXT-..., or through KUBE-FW-... when source ranges restrict them (filter
        # KUBE-PROXY-FIREWALL drops what KUBE-FW-... did not send on, as it is still addressed to the IP).
        lb_ips = record.get("load_balancer_ips") or []
        source_ranges = record.get("load_balancer_source_ranges") or []
        fw_chain = record["chains"]["firewall"]
        uses_firewall = has_endpoints and bool(lb_ips) and bool(source_ranges)
        for lb_ip in lb_ips:
            destination = "-d %s --dport %d" % (lb_ip, record["port"])
            if has_endpoints:
                nat.add("KUBE-SERVICES", "-m comment --comment", _quoted(key + " loadbalancer IP"), match, destination,
                        "-j", fw_chain if uses_firewall else ext_chain)
            if uses_firewall:
                filt.add("KUBE-PROXY-FIREWALL", "-m comment --comment",
                         _quoted("%s traffic not accepted by %s" % (key, fw_chain)), match, destination, "-j DROP")
        if not policy["external"]:
            for lb_ip in lb_ips:
                filt.add("KUBE-EXTERNAL-SERVICES", "-m comment --comment", external_filter[0], match,
                         "-d %s --dport %d" % (lb_ip, record["port"]), external_filter[1])
        if record.get("node_port"):
            if has_endpoints and localhost_nodeports and NFACCT_LOCALHOST_NODEPORTS in nfacct_counters:
                # Counts the localhost NodePort connections (route_localnet) before the rule that takes them all.
                nat.add("KUBE-NODEPORTS", "-m comment --comment", key, match, "-d 127.0.0.0/8 --dport %d" % record["node_port"],
                        "-m nfacct --nfacct-name", NFACCT_LOCALHOST_NODEPORTS, "-j", ext_chain)
            if has_endpoints:
                nat.add("KUBE-NODEPORTS", "-m comment --comment", key, match, "--dport %d" % record["node_port"],
                        "-j", ext_chain)
            if not policy["external"]:
                filt.add("KUBE-EXTERNAL-SERVICES", "-m comment --comment", external_filter[0],
                         "-m addrtype --dst-type LOCAL", match, "--dport %d" % record["node_port"], external_filter[1])
        if record.get("health_check_node_port"):
            # Accepted with or without local endpoints, as kube-proxy does: its health check server answers 503 without
            # one. No such server runs here; the rule only opens the port.
            filt.add("KUBE-NODEPORTS", "-m comment --comment", _quoted(key + " health check node port"),
                     "-m tcp -p tcp --dport %d -j ACCEPT" % record["health_check_node_port"])
        if not has_endpoints:
            paths[key] = path
            continue

        # The policy chains (KUBE-SVC-... for Cluster, KUBE-SVL-... for Local): the one cluster IP traffic takes
        # first masquerades what comes from outside the cluster; each then picks an endpoint.
        policy_chains = []
        if policy["uses_cluster"]:
            policy_chains.append((svc_chain, endpoints))
        if policy["uses_local"]:
            policy_chains.append((record["chains"]["local"], policy["local"]))
        for chain, dummy in policy_chains:
            nat.chain(chain)
        if policy["internal"]:
            if masquerade_all:
                nat.add(internal_chain, "-m comment --comment", _quoted(key + " cluster IP"), match, portal,
                        "-j KUBE-MARK-MASQ")
            elif cluster_cidr:
                nat.add(internal_chain, "-m comment --comment", _quoted(key + " cluster IP"), match, portal,
                        "! -s %s" % cluster_cidr, "-j KUBE-MARK-MASQ")
        if externally:
            nat.chain(ext_chain)
            if not policy["external_local"]:
                # The endpoint may be on another node: masqueraded, so that its answer comes back through this one.
                nat.add(ext_chain, "-m comment --comment", _quoted("masquerade traffic for %s external destinations" % key),
                        "-j KUBE-MARK-MASQ")
            else:
                # Local: the client's address is kept. Pods and the node itself take the cluster policy instead, as if
                # they had gone out to a load balancer and come back; the node's traffic is masqueraded.
                if cluster_cidr:
                    nat.add(ext_chain, "-m comment --comment", _quoted("pod traffic for %s external destinations" % key),
                            "-s", cluster_cidr, "-j", svc_chain)
                nat.add(ext_chain, "-m comment --comment",
                        _quoted("masquerade LOCAL traffic for %s external destinations" % key),
                        "-m addrtype --src-type LOCAL -j KUBE-MARK-MASQ")
                nat.add(ext_chain, "-m comment --comment", _quoted("route LOCAL traffic for %s external destinations" % key),
                        "-m addrtype --src-type LOCAL -j", svc_chain)
            if policy["external"]:
                nat.add(ext_chain, "-j", record["chains"]["local"] if policy["external_local"] else svc_chain)
            # After KUBE-SERVICES: its last rule leads to KUBE-NODEPORTS, an external IP rule to the EXT chain.
            path.extend(["KUBE-NODEPORTS", ext_chain] if record.get("node_port") else [ext_chain])
        if uses_firewall:
            nat.chain(fw_chain)
            comment = _quoted(key + " loadbalancer IP")
            for cidr in source_ranges:
                nat.add(fw_chain, "-m comment --comment", comment, "-s", cidr, "-j", ext_chain)
            if service_model.allows_node(source_ranges, node_ip):
                for lb_ip in lb_ips:
                    nat.add(fw_chain, "-m comment --comment", comment, "-s", lb_ip, "-j", ext_chain)
            nat.add(fw_chain, "-m comment --comment",
                    _quoted("other traffic to %s will be dropped by KUBE-PROXY-FIREWALL" % key))
        path.extend(chain for chain, dummy in policy_chains)
        affinity = record.get("session_affinity") == "ClientIP"
        for chain, chosen in policy_chains:
            if affinity:
                for endpoint in chosen:
                    nat.add(chain, "-m comment --comment", _quoted("%s -> %s" % (key, endpoint["endpoint"])),
                            "-m recent --name %s --rcheck --seconds %d --reap -j %s"
                            % (endpoint["chain"], record["affinity_timeout"], endpoint["chain"]))
            for index, endpoint in enumerate(chosen):
                remaining = len(chosen) - index
                nat.add(chain, "-m comment --comment", _quoted("%s -> %s" % (key, endpoint["endpoint"])),
                        "-m statistic --mode random --probability %s" % probability(remaining) if remaining > 1 else "",
                        "-j", endpoint["chain"])
        for endpoint in policy["reachable"]:
            chain = endpoint["chain"]
            nat.chain(chain)
            # Hairpin: a pod that reaches itself through the Service is masqueraded, so the answer comes back the same way.
            nat.add(chain, "-m comment --comment", key, "-s", endpoint["address"], "-j KUBE-MARK-MASQ")
            nat.add(chain, "-m comment --comment", key,
                    "-m recent --name %s --set" % chain if affinity else "",
                    match, "-j DNAT --to-destination", endpoint["endpoint"])
            path.append(chain)
        paths[key] = path

    for destination in _nodeport_destinations(nodeport_addresses, localhost_nodeports):
        nat.add("KUBE-SERVICES", "-m comment --comment", _quoted(LOCALHOST_NODEPORTS_COMMENT), destination, "-j KUBE-NODEPORTS")

    if not conntrack_tcp_liberal:
        filt.add("KUBE-FORWARD", "-m conntrack --ctstate INVALID",
                 "-m nfacct --nfacct-name %s" % NFACCT_INVALID_DROPPED if NFACCT_INVALID_DROPPED in nfacct_counters else "",
                 "-j DROP")
    filt.add("KUBE-FORWARD", '-m comment --comment "kubernetes forwarding rules"', "-m mark --mark %s/%s -j ACCEPT" % (mark, mark))
    filt.add("KUBE-FORWARD", '-m comment --comment "kubernetes forwarding conntrack rule"',
             "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")

    result = {"paths": paths}
    for name, table in (("nat", nat), ("filter", filt)):
        result[name] = {
            "chains": table.declared(),
            "builtin_rules": [{"chain": chain, "rule": rule, "position": "first"} for chain, rule in _jumps(name)],
        }
    return result


def _nodeport_destinations(nodeport_addresses, localhost_nodeports):
    """The destinations of KUBE-SERVICES' last rules, the jumps to KUBE-NODEPORTS: every local address, or one
    rule per selected address. A loopback address needs localhost NodePorts (route_localnet), else it is left out,
    as kube-proxy leaves it out (and logs it)."""
    if not nodeport_addresses:
        return ["-m addrtype --dst-type LOCAL" + ("" if localhost_nodeports else " ! -d 127.0.0.0/8")]
    return ["-d %s" % address for address in nodeport_addresses
            if localhost_nodeports or not ipaddress.ip_address(str(address)).is_loopback]


def restore_text(table_name, table):
    """A table of :func:`render` as ``iptables-restore`` input: chain lines, then every chain's rules."""
    lines = ["*" + table_name]
    lines.extend(":%s - [0:0]" % chain["name"] for chain in table["chains"])
    for chain in table["chains"]:
        lines.extend("-A %s %s" % (chain["name"], rule) for rule in chain["rules"])
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def _with_shares(endpoints):
    """Endpoints as the plan shows them: pod (or address), the rule's probability, the expected share."""
    count = len(endpoints)
    return [dict(endpoint, pod=endpoint["pod"] or endpoint["address"],
                 probability=probability(count - index) if count - index > 1 else None, share=1.0 / count)
            for index, endpoint in enumerate(endpoints)]


def plan_kube_proxy_chains(services, pods, endpoint_slices=None, cluster_cidr=None, random_fully=True,
                           localhost_nodeports=False, node=None, node_ip=None, masquerade_all=False,
                           nodeport_addresses=(), nfacct_counters=()):
    """Services, EndpointSlices and pods -> the plan: nat, filter, paths, services, endpoints, warnings.

    node: this node's name, which tells the local endpoints (internalTrafficPolicy Local).
    node_ip, nodeport_addresses, nfacct_counters: this node's IP, its NodePort addresses and the nfacct
    counters that exist on it (see :func:`render`).

    Raises ValueError with a readable message on bad input.
    """
    if not isinstance(pods, list):
        raise ValueError("pods must be a list of pod records, got %s" % service_model.yaml_kind(pods))
    for index, pod in enumerate(pods):
        if not isinstance(pod, dict) or not all(pod.get(k) for k in ("name", "address", "netns")):
            raise ValueError("pod #%d is not a complete pod record (use the k8slab.kube_proxy.pods filter): %r" % (index, pod))
    manifests = list(services or []) + list(endpoint_slices or [])
    service_manifests, slice_manifests = service_model.split_manifests(manifests)
    if cluster_cidr:
        try:
            cluster_cidr = str(ipaddress.ip_network(str(cluster_cidr), strict=False))
        except ValueError:
            raise ValueError("cluster_cidr %r is not a CIDR" % (cluster_cidr,))
    records = service_model.service_ports(service_manifests, slice_manifests, pods, node=node)
    rendered = render(records, cluster_cidr=cluster_cidr, random_fully=random_fully, masquerade_all=masquerade_all,
                      localhost_nodeports=localhost_nodeports, node_ip=node_ip, nodeport_addresses=nodeport_addresses,
                      nfacct_counters=nfacct_counters)
    warnings = []
    services_out = []
    this_node = "node %s" % node if node else "no node named"
    for record in records:
        policy = service_model.traffic_policy_endpoints(record)
        endpoints = _with_shares(record["endpoints"])
        # What the cluster IP reaches (verify probes it): this node's endpoints with internalTrafficPolicy Local.
        internal = _with_shares(policy["local"]) if policy["internal_local"] else endpoints
        chain = record["chains"]["local" if policy["internal_local"] else "svc"] if internal else None
        out = dict(record, endpoints=endpoints, internal_endpoints=internal, chain=chain)
        services_out.append(out)
        where = "Service port %s (%s:%d/%s)" % (record["key"], record["cluster_ip"], record["port"], record["protocol"])
        if not endpoints:
            why = {"endpointslices": "its EndpointSlices have no ready endpoint for this port",
                   "selector": "selector %r matches no pod" % (record["selector"],),
                   "none": "it has no selector and no EndpointSlice"}[record["source"]]
            warnings.append("%s: %s; connections are rejected" % (where, why))
        elif not internal:
            warnings.append("%s: internalTrafficPolicy Local and no endpoint on this node (%s); connections to the "
                            "cluster IP are dropped" % (where, this_node))
        if endpoints and not policy["external"]:
            warnings.append("%s: externalTrafficPolicy Local and no endpoint on this node (%s); connections from outside "
                            "to its node port, external IPs and load balancer IPs are dropped" % (where, this_node))
    return {
        "nat": rendered["nat"],
        "filter": rendered["filter"],
        "paths": rendered["paths"],
        "services": services_out,
        "endpoints": dict((r["key"], [e["pod"] for e in r["endpoints"]]) for r in services_out),
        "warnings": warnings,
    }
