# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""kube-proxy's nftables mode as text for the nft_table module; pure, no commands.

Two layouts, both the body of ``table ip kube-proxy``:

* :func:`render_tutorial`: the smallest ruleset that does what the tutorial's
  nat chains do, from the service_chains plan (same chain names: EDEN-SVC-HTTP
  picks ADAM-HTTP or EVE-HTTP): a ``service-ips`` verdict map keyed by
  ``ipv4_addr . inet_proto . inet_service`` consulted from the nat prerouting
  and output hooks, one chain per Service port with ``numgen random mod N
  vmap``, one chain per endpoint doing the DNAT.
* :func:`render_kube_proxy`: what kube-proxy's ``syncProxyRules``
  (pkg/proxy/nftables/proxier.go) writes, from the Service port records of
  service_model.service_ports: its base chains, hooks and priorities, sets and
  maps, ``mark-for-masquerade``/``masquerading``, ``service-nodeports``, the
  no-endpoint reject map, per-endpoint affinity sets with timeouts, and its
  names (``service-<hash>-ns/name/proto/port``, hash = base32(sha256)[:8]).

Optionally every endpoint chain counts its packets in a named counter of the
same name, which is what playbooks/verify_services.yml reads (``nft -j list
counters``). Left out from kube-proxy on purpose: IPv6. LoadBalancer Services
are kube-proxy's: each ingress IP is a ``service-ips`` element leading to
``external-...``; with ``loadBalancerSourceRanges`` a ``firewall-ips`` element
sends new connections to it, before DNAT, to ``firewall-<hash>-...``, which drops
every source outside the ranges. ``internalTrafficPolicy: Local`` is kube-proxy's: the
cluster IP goes to ``local-<hash>-...`` (this node's endpoints), or is dropped
in ``no-endpoint-services`` when this node has none. So is
``externalTrafficPolicy: Local``: ``external-<hash>-...`` short-circuits pod and
node traffic to ``service-...`` (the node's masqueraded) and sends the rest,
unmasqueraded, to ``local-...``; without an endpoint on this node the external
destinations are dropped in ``no-endpoint-services``/``no-endpoint-nodeports``.
Like kube-proxy's nftables mode, no rule for the health check node port (the
filter chains' policy is accept).
"""

from __future__ import annotations

import base64
import hashlib

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import service_model

MASQUERADE_MARK = "0x4000"
CHAIN_NAME_BASE_MAX = 240


def hash_and_truncate(name):
    """kube-proxy's hashAndTruncate: base32(sha256(name))[:8] + "-" + name, at most 240 characters."""
    encoded = base64.b32encode(hashlib.sha256(name.encode("utf-8")).digest()).decode("ascii")
    name = encoded[:8] + "-" + name
    if len(name) > CHAIN_NAME_BASE_MAX:
        name = name[:CHAIN_NAME_BASE_MAX - 3] + "..."
    return name


def service_chain_base(namespace, name, protocol, port_name):
    """servicePortChainNameBase: ``ULMVA6XW-ns1/svc1/tcp/p80``."""
    return hash_and_truncate("%s/%s/%s/%s" % (namespace, name, protocol.lower(), port_name))


def endpoint_chain_base(namespace, name, protocol, port_name, address, port):
    """servicePortEndpointChainNameBase: ``5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80``."""
    return hash_and_truncate("%s/%s/%s/%s__%s/%s" % (namespace, name, protocol.lower(), port_name, address, port))


def _block(lines, head, body):
    lines.append("%s {" % head)
    lines.extend("\t" + line for line in body)
    lines.append("}")


def _vmap_pick(targets):
    """``numgen random mod N vmap { 0 : goto a, 1 : goto b }``: one endpoint, uniformly at random."""
    return "numgen random mod %d vmap { %s }" % (
        len(targets), ", ".join("%d : goto %s" % (index, target) for index, target in enumerate(targets)))


def _elements(items):
    return ["elements = { %s }" % ", ".join(items)] if items else []


# ---------------------------------------------------------------- tutorial layout

def render_tutorial(services, counters=True):
    """The body of the table from the service_chains plan's ``services`` records.

    Each record: key, cluster_ip, port, protocol, chain (None without endpoints)
    and endpoints (address, port, chain), in the order the iptables layout picks them.
    Returns (content, counters): counters maps endpoint chain -> Service key, for verify.
    """
    lines, elements, chains, counter_names = [], [], [], {}
    for record in services:
        if not record.get("chain") or not record.get("endpoints"):
            continue
        proto = record["protocol"].lower()
        elements.append("%s . %s . %d : goto %s" % (record["cluster_ip"], proto, record["port"], record["chain"]))
        chains.append((record["chain"], [_vmap_pick([endpoint["chain"] for endpoint in record["endpoints"]])]))
        for endpoint in record["endpoints"]:
            rule = "meta l4proto %s dnat to %s:%d" % (proto, endpoint["address"], endpoint["port"])
            if counters:
                counter_names[endpoint["chain"]] = record["key"]
                rule = "counter name %s %s" % (endpoint["chain"], rule)
            chains.append((endpoint["chain"], [rule]))
    for name in sorted(counter_names):
        _block(lines, "counter %s" % name, [])
    _block(lines, "map service-ips", ["type ipv4_addr . inet_proto . inet_service : verdict"] + _elements(elements))
    lookup = "ip daddr . meta l4proto . th dport vmap @service-ips"
    _block(lines, "chain nat-prerouting", ["type nat hook prerouting priority dstnat; policy accept;", lookup])
    _block(lines, "chain nat-output", ["type nat hook output priority -100; policy accept;", lookup])
    for name, rules in chains:
        _block(lines, "chain %s" % name, rules)
    return "\n".join(lines) + "\n", counter_names


# ---------------------------------------------------------------- kube-proxy layout

def render_kube_proxy(service_ports, cluster_cidr, service_cidr, nodeport_addresses=(), counters=False,
                      masquerade_all=False, node_ip=None):
    """The body of ``table ip kube-proxy`` as kube-proxy's nftables proxier writes it.

    ``service_ports`` are service_model.service_ports records. ``cluster_cidr`` (the pod CIDR, kube-proxy's
    --cluster-cidr) tells local traffic: cluster IP traffic from outside it is masqueraded, and pod traffic to
    an externalTrafficPolicy Local Service's external destinations is short-circuited to every endpoint.
    Without it (None) neither rule is written, as kube-proxy does without a local traffic detector.
    ``masquerade_all`` (--masquerade-all) masquerades all cluster IP traffic instead. node_ip: the node's IP;
    when a Service's loadBalancerSourceRanges hold it, its load balancer IPs are allowed sources too
    (kube-proxy's allowFromNode). Returns (content, counters).
    """
    sets = {"cluster-ips": [], "nodeport-ips": list(nodeport_addresses)}
    maps = {"firewall-ips": [], "no-endpoint-nodeports": [], "no-endpoint-services": [], "service-ips": [],
            "service-nodeports": []}
    service_chains, affinity_sets, counter_names = [], [], {}
    for record in service_ports:
        proto = record["protocol"].lower()
        namespace, name, port_name = record["namespace"], record["name"], record["port_name"]
        key = record["key"]
        base = service_chain_base(namespace, name, proto, port_name)
        service_chain = "service-" + base
        local_chain = "local-" + base
        external_chain = "external-" + base
        firewall_chain = "firewall-" + base
        policy = service_model.traffic_policy_endpoints(record)
        # Cluster IP traffic: local-... (this node's endpoints) with internalTrafficPolicy Local.
        internal_chain = local_chain if policy["internal_local"] else service_chain
        external = policy["externally"]
        lb_ips = record.get("load_balancer_ips") or []
        source_ranges = record.get("load_balancer_source_ranges") or []
        sets["cluster-ips"].append(record["cluster_ip"])
        verdict = "goto reject-chain"
        if policy["internal"]:
            maps["service-ips"].append("%s . %s . %d : goto %s" % (record["cluster_ip"], proto, record["port"], internal_chain))
        else:
            # No endpoint anywhere: rejected; internalTrafficPolicy Local without one on this node: dropped.
            maps["no-endpoint-services"].append('%s . %s . %d comment "%s" : %s' % (
                record["cluster_ip"], proto, record["port"], key, "drop" if policy["any"] else verdict))
        if not policy["external"]:
            # External traffic without an endpoint for it: rejected without any, dropped (externalTrafficPolicy Local)
            # when only this node has none; pod and node traffic is short-circuited before (external-... chain).
            external_verdict = "drop" if policy["any"] else verdict
            for address in (record.get("external_ips") or []) + lb_ips:
                maps["no-endpoint-services"].append('%s . %s . %d comment "%s" : %s'
                                                    % (address, proto, record["port"], key, external_verdict))
            if record.get("node_port"):
                maps["no-endpoint-nodeports"].append('%s . %d comment "%s" : %s'
                                                     % (proto, record["node_port"], key, external_verdict))
        if lb_ips and source_ranges:
            # Unlike the iptables mode, written with or without endpoints: the check runs before DNAT, in filter.
            sources = list(source_ranges)
            if service_model.allows_node(source_ranges, node_ip):
                sources.extend(lb_ips)
            service_chains.append((firewall_chain, ["ip saddr != { %s } drop" % ", ".join(sources)]))
            maps["firewall-ips"].extend("%s . %s . %d : goto %s" % (address, proto, record["port"], firewall_chain)
                                        for address in lb_ips)
        if not policy["any"]:
            continue
        for address in (record.get("external_ips") or []) + lb_ips:
            maps["service-ips"].append("%s . %s . %d : goto %s" % (address, proto, record["port"], external_chain))
        if record.get("node_port"):
            maps["service-nodeports"].append("%s . %d : goto %s" % (proto, record["node_port"], external_chain))
        affinity = record.get("session_affinity") == "ClientIP"
        endpoint_chains = []
        chain_of, affinity_of = {}, {}
        for endpoint in policy["reachable"]:
            ep_base = endpoint_chain_base(namespace, name, proto, port_name, endpoint["address"], endpoint["port"])
            ep_chain = chain_of[endpoint["endpoint"]] = "endpoint-" + ep_base
            ep_rules = ["ip saddr %s jump mark-for-masquerade" % endpoint["address"]]
            if affinity:
                affinity_set = affinity_of[endpoint["endpoint"]] = "affinity-" + ep_base
                affinity_sets.append((affinity_set, record["affinity_timeout"]))
                ep_rules.append("update @%s { ip saddr }" % affinity_set)
            dnat = "meta l4proto %s dnat to %s:%d" % (proto, endpoint["address"], endpoint["port"])
            if counters:
                counter_names[ep_chain] = key
                dnat = "counter name %s %s" % (ep_chain, dnat)
            ep_rules.append(dnat)
            endpoint_chains.append((ep_chain, ep_rules))
        # The policy chains: the one cluster IP traffic takes first masquerades what comes from outside the
        # cluster (all of it with masquerade_all, none without a cluster CIDR); each then picks one of its endpoints.
        for chain, used, chosen in ((service_chain, policy["uses_cluster"], policy["cluster"]),
                                    (local_chain, policy["uses_local"], policy["local"])):
            if not used:
                continue
            rules = []
            if chain == internal_chain and masquerade_all:
                # With the port match every proxier.go we can read writes here (kube-proxy dropped it from the
                # cluster CIDR rule only, which the map lookup before already implies).
                rules.append("ip daddr %s %s dport %d jump mark-for-masquerade" % (record["cluster_ip"], proto, record["port"]))
            elif chain == internal_chain and cluster_cidr:
                rules.append("ip daddr %s ip saddr != %s jump mark-for-masquerade" % (record["cluster_ip"], cluster_cidr))
            if affinity:
                rules.extend("ip saddr @%s goto %s" % (affinity_of[e["endpoint"]], chain_of[e["endpoint"]]) for e in chosen)
            rules.append(_vmap_pick([chain_of[e["endpoint"]] for e in chosen]))
            service_chains.append((chain, rules))
        if external and not policy["external_local"]:
            service_chains.append((external_chain, ["jump mark-for-masquerade", "goto %s" % service_chain]))
        elif external:
            # Local: the client's address is kept; pods (told by the cluster CIDR) and the node itself take the
            # cluster policy (the node masqueraded).
            pods_first = ['ip saddr %s goto %s comment "short-circuit pod traffic"' % (cluster_cidr, service_chain)]
            service_chains.append((external_chain, (pods_first if cluster_cidr else []) + [
                'fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"',
                'fib saddr type local goto %s comment "short-circuit local traffic"' % service_chain,
            ] + (["goto %s" % local_chain] if policy["external"] else [])))
        service_chains.extend(endpoint_chains)

    lines = []
    for name in sorted(counter_names):
        _block(lines, "counter %s" % name, [])
    comments = {"cluster-ips": "Active ClusterIPs", "nodeport-ips": "IPs that accept NodePort traffic",
                "firewall-ips": "destinations that are subject to LoadBalancerSourceRanges",
                "no-endpoint-nodeports": "vmap to drop or reject packets to service nodeports with no endpoints",
                "no-endpoint-services": "vmap to drop or reject packets to services with no endpoints",
                "service-ips": "ClusterIP, ExternalIP and LoadBalancer IP traffic",
                "service-nodeports": "NodePort traffic"}
    for name in ("cluster-ips", "nodeport-ips"):
        _block(lines, "set %s" % name, ["type ipv4_addr", 'comment "%s"' % comments[name]]
               + _elements(sorted(set(sets[name]))))
    for name, timeout in sorted(set(affinity_sets)):
        _block(lines, "set %s" % name, ["type ipv4_addr", "flags dynamic,timeout", "timeout %ds" % timeout])
    for name in ("firewall-ips", "no-endpoint-nodeports", "no-endpoint-services", "service-ips", "service-nodeports"):
        key_type = "inet_proto . inet_service" if name.endswith("nodeports") else "ipv4_addr . inet_proto . inet_service"
        _block(lines, "map %s" % name, ["type %s : verdict" % key_type, 'comment "%s"' % comments[name]]
               + _elements(maps[name]))
    base = [
        ("cluster-ips-check", ['ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"',
                               'ip daddr { %s } drop comment "Drop traffic to unallocated ClusterIPs"' % service_cidr]),
        ("filter-prerouting-pre-dnat", ["type filter hook prerouting priority -110; policy accept;",
                                        "ct state new jump firewall-check"]),
        ("filter-output-pre-dnat", ["type filter hook output priority -110; policy accept;",
                                    "ct state new jump firewall-check"]),
        ("filter-forward", ["type filter hook forward priority filter; policy accept;",
                            "ct state new jump service-endpoints-check", "ct state new jump cluster-ips-check"]),
        ("filter-input", ["type filter hook input priority filter; policy accept;",
                          "ct state new jump nodeport-endpoints-check", "ct state new jump service-endpoints-check"]),
        ("filter-output", ["type filter hook output priority filter; policy accept;",
                           "ct state new jump service-endpoints-check", "ct state new jump cluster-ips-check"]),
        ("firewall-check", ["ip daddr . meta l4proto . th dport vmap @firewall-ips"]),
        ("mark-for-masquerade", ["mark set mark or %s" % MASQUERADE_MARK]),
        ("masquerading", ["mark and %s == 0 return" % MASQUERADE_MARK, "mark set mark xor %s" % MASQUERADE_MARK,
                          "masquerade fully-random"]),
        ("nat-output", ["type nat hook output priority -100; policy accept;", "jump services"]),
        ("nat-postrouting", ["type nat hook postrouting priority srcnat; policy accept;", "jump masquerading"]),
        ("nat-prerouting", ["type nat hook prerouting priority dstnat; policy accept;", "jump services"]),
        ("nodeport-endpoints-check",
         ["ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports"]),
        ("reject-chain", ['comment "helper for @no-endpoint-services / @no-endpoint-nodeports"', "reject"]),
        ("services", ["ip daddr . meta l4proto . th dport vmap @service-ips",
                      "ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports"]),
        ("service-endpoints-check", ["ip daddr . meta l4proto . th dport vmap @no-endpoint-services"]),
    ]
    for name, rules in base + service_chains:
        _block(lines, "chain %s" % name, rules)
    return 'comment "rules for kube-proxy"\n' + "\n".join(lines) + "\n", counter_names
