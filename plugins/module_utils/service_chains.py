# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The tutorial's iptables layout, rendered from Services and pods; pure, no commands.

:func:`plan_service_chains` is the one renderer of the tutorial layout: the
proxy_sync module runs it on the node (through :mod:`proxier`), the lab_model
filter runs its first half, :func:`check_service_chains`, on the controller to
validate without rendering. Services are parsed by
:mod:`service_model` (the one parser of Service manifests), plus what this
layout cannot express: headless Services, named target ports, two ports of
one Service on the same port number and protocol, and ``internalTrafficPolicy:
Local`` (the kube-proxy layout's). Node ports, external IPs, session affinity,
``externalTrafficPolicy``, ``healthCheckNodePort`` and a LoadBalancer's ingress
IPs, ``loadBalancerSourceRanges`` and ``allocateLoadBalancerNodePorts`` are read
(and checked) and ignored: this layout writes cluster IP rules only, which they
do not change.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import service_model


def _text(value):
    return value if isinstance(value, str) else str(value)


MAX_CHAIN_LEN = 28  # XT_EXTENSION_MAXNAMELEN (29) minus the terminating NUL
HASH_LEN = 6
RESERVED = frozenset((
    "PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING",
    "ACCEPT", "DROP", "REJECT", "RETURN", "QUEUE", "NFQUEUE", "LOG", "MARK", "CONNMARK",
    "DNAT", "SNAT", "MASQUERADE", "REDIRECT", "NETMAP", "CT", "TRACE", "AUDIT", "TPROXY",
))
_ILLEGAL = re.compile(r"[^A-Z0-9-]")


def chain_word(text):
    """Upper-case `text` and turn every character that is not A-Z, 0-9 or - into -."""
    return _ILLEGAL.sub("-", _text(text).upper())


def short_hash(identity):
    """A stable 6 character tag (base32 of sha256) for the thing a chain stands for."""
    digest = hashlib.sha256(_text(identity).encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii")[:HASH_LEN]


def hashed_name(name, identity):
    """`name` cut so that `-HASH` fits into 28 characters."""
    head = name[:MAX_CHAIN_LEN - HASH_LEN - 1].rstrip("-")
    return "%s-%s" % (head, short_hash(identity))


def probability(remaining):
    """The --probability text for picking one of `remaining` endpoints, as iptables-save shows it.

    kube-proxy writes fmt.Sprintf("%0.10f", 1/n); xt_statistic stores lround(2^31 * p) and
    iptables-save prints it back with %.11f.
    """
    written = float("%0.10f" % (1.0 / remaining))
    fixed = int(math.floor(written * 0x80000000 + 0.5))
    return "%.11f" % (fixed / float(0x80000000))


def _fail(where, message):
    raise ValueError("%s: %s" % (where, message))


def normalise_service(manifest, index):
    """Validate one Service manifest for this layout; return (namespace, name, cluster_ip, selector, ports)."""
    if isinstance(manifest, dict) and manifest.get("kind", "Service") != "Service":
        _fail("Service #%d" % index, "kind is %r, expected Service" % manifest.get("kind"))
    service = service_model.normalise_service(manifest, index)
    where = "Service %s/%s" % (service["namespace"], service["name"])
    if service["cluster_ip"] is None:
        _fail(where, "headless Services (clusterIP: None) have no cluster IP to proxy")
    if service["internal_traffic_policy"] != "Cluster":
        # The tutorial's node knows no other node, so "this node's endpoints" would mean every one: refused, not ignored.
        _fail(where, "spec.internalTrafficPolicy Local is modelled by the kube-proxy layout only "
                     "(layout: kube-proxy); the tutorial layout sends cluster IP traffic to every endpoint")
    seen = set()
    ports = []
    for index_, port in enumerate(service["ports"]):
        if not isinstance(port["target_port"], int):
            _fail(where, "spec.ports[%d].targetPort %r is a named port; only numbers are supported here, give the number"
                  % (index_, port["target_port"]))
        if (port["port"], port["protocol"]) in seen:
            _fail(where, "port %d/%s is declared twice" % (port["port"], port["protocol"]))
        seen.add((port["port"], port["protocol"]))
        ports.append(dict((key, port[key]) for key in ("port_name", "protocol", "port", "target_port")))
    return service["namespace"], service["name"], service["cluster_ip"], service["selector"], ports


def _name_ports(service_ports, unnamed_port_name):
    """Give every Service port its <PORT> word: the short form where unique, longer where not."""
    unnamed = chain_word(unnamed_port_name)
    forms = []
    for sp in service_ports:
        port = chain_word(sp["port_name"]) if sp["port_name"] else unnamed
        forms.append([port,
                      "%s-%s" % (chain_word(sp["name"]), port),
                      "%s-%s-%s" % (chain_word(sp["namespace"]), chain_word(sp["name"]), port)])
    level = [0] * len(service_ports)
    for current in (0, 1):
        counts = {}
        for i, form in enumerate(forms):
            if level[i] == current:
                counts[form[current]] = counts.get(form[current], 0) + 1
        for i, form in enumerate(forms):
            if level[i] == current and counts[form[current]] > 1:
                level[i] = current + 1
    return [forms[i][level[i]] for i in range(len(forms))]


def _make_unique(wanted, fixed):
    """Map (identity -> wanted name) to final names: fixed names, reserved words and clashes get a hash."""
    counts = {}
    for name in wanted.values():
        counts[name] = counts.get(name, 0) + 1
    final = {}
    for identity, name in wanted.items():
        if counts[name] > 1 or name in fixed or name in RESERVED or len(name) > MAX_CHAIN_LEN:
            name = hashed_name(name, identity)
        final[identity] = name
    if len(set(final.values())) != len(final) or fixed & set(final.values()):
        raise ValueError("could not give every chain a unique name: %r" % sorted(final.values()))
    return final


def check_service_chains(services, pods, dispatch_chain="APP-SERVICE", chain_prefix="EDEN",
                         unnamed_port_name="HTTP", jump_position="last"):
    """Validate the input and name every chain, without writing a rule.

    Returns (service_ports, endpoint_pods, names, warnings); raises ValueError with a readable
    message on bad input. What the lab_model filter runs, and the first half of
    :func:`plan_service_chains`.
    """
    if not isinstance(services, list):
        raise ValueError("services must be a list of Service manifests, got %s" % service_model.yaml_kind(services))
    if not isinstance(pods, list):
        raise ValueError("pods must be a list of pod records, got %s" % service_model.yaml_kind(pods))
    if jump_position not in ("first", "last"):
        raise ValueError("jump_position must be first or last, got %r" % (jump_position,))
    dispatch_chain = _text(dispatch_chain)
    if not dispatch_chain or chain_word(dispatch_chain) != dispatch_chain or len(dispatch_chain) > MAX_CHAIN_LEN \
            or dispatch_chain in RESERVED:
        raise ValueError("dispatch_chain %r must be 1-28 characters of A-Z, 0-9 and -, and not a built-in name" % (dispatch_chain,))
    if not _text(chain_prefix) or not _text(unnamed_port_name):
        raise ValueError("chain_prefix and unnamed_port_name must not be empty")
    for index, pod in enumerate(pods):
        if not isinstance(pod, dict) or not all(pod.get(k) for k in ("name", "address", "netns")):
            raise ValueError("pod #%d is not a complete pod record (use the k8slab.kube_proxy.pods filter): %r" % (index, pod))

    service_ports = []
    seen_services = set()
    seen_frontends = {}
    for index, manifest in enumerate(services):
        namespace, name, cluster_ip, selector, ports = normalise_service(manifest, index)
        if (namespace, name) in seen_services:
            raise ValueError("Service %s/%s is declared twice" % (namespace, name))
        seen_services.add((namespace, name))
        for port in ports:
            frontend = (cluster_ip, port["port"], port["protocol"])
            if frontend in seen_frontends:
                raise ValueError("Services %s and %s/%s both claim %s:%d/%s"
                                 % (seen_frontends[frontend], namespace, name, cluster_ip, port["port"], port["protocol"]))
            seen_frontends[frontend] = "%s/%s" % (namespace, name)
            record = dict(port, namespace=namespace, name=name, cluster_ip=cluster_ip, selector=selector)
            record["key"] = "%s/%s:%s" % (namespace, name, port["port_name"] or port["port"])
            service_ports.append(record)

    # Newest pod first: the tutorial inserts eve's rule in front of adam's.
    endpoint_pods = [[pod for pod in reversed(pods) if service_model.selects(sp["selector"], pod)] for sp in service_ports]
    warnings = []
    for sp, chosen in zip(service_ports, endpoint_pods):
        if not chosen:
            why = "has no selector" if not sp["selector"] else "selector %r matches no pod" % (sp["selector"],)
            warnings.append("Service %s/%s port %s (%s:%d/%s): %s; no chains written for it"
                            % (sp["namespace"], sp["name"], sp["port_name"] or sp["port"], sp["cluster_ip"],
                               sp["port"], sp["protocol"], why))
    # Only Service ports that get chains take part in naming, so a Service without
    # endpoints never renames the chains of another.
    served = [(sp, chosen) for sp, chosen in zip(service_ports, endpoint_pods) if chosen]
    port_words = _name_ports([sp for sp, _chosen in served], unnamed_port_name)
    prefix = chain_word(chain_prefix)
    wanted = {}
    for (sp, chosen), word in zip(served, port_words):
        wanted[sp["key"]] = "%s-SVC-%s" % (prefix, word)
        for pod in chosen:
            wanted["%s -> %s" % (sp["key"], pod["name"])] = "%s-%s" % (chain_word(pod["name"]), word)
    names = _make_unique(wanted, frozenset([dispatch_chain]))
    return service_ports, endpoint_pods, names, warnings


def plan_service_chains(services, pods, dispatch_chain="APP-SERVICE", chain_prefix="EDEN",
                        unnamed_port_name="HTTP", comments=False, jump_position="last"):
    """Return the plan (see RETURN); raise ValueError with a readable message on bad input."""
    service_ports, endpoint_pods, names, warnings = check_service_chains(
        services, pods, dispatch_chain, chain_prefix, unnamed_port_name, jump_position)
    dispatch_chain = _text(dispatch_chain)

    def rule(text, comment):
        return {"rule": text, "comment": comment} if comments else text

    dispatch_rules = []
    chains = []
    records = []
    for sp, chosen in zip(service_ports, endpoint_pods):
        proto = sp["protocol"].lower()
        record = dict((k, sp[k]) for k in ("key", "namespace", "name", "port_name", "cluster_ip", "port",
                                           "protocol", "target_port"))
        record["selector"] = dict(sp["selector"])
        record["chain"] = names.get(sp["key"])
        record["endpoints"] = []
        records.append(record)
        if not chosen:
            continue
        svc_chain = names[sp["key"]]
        dispatch_rules.append(rule("-d %s/32 -p %s -m %s --dport %d -j %s" % (sp["cluster_ip"], proto, proto, sp["port"], svc_chain),
                                   "%s cluster IP" % sp["key"]))
        svc_rules = []
        endpoint_chains = []
        for position, pod in enumerate(chosen):
            identity = "%s -> %s" % (sp["key"], pod["name"])
            ep_chain = names[identity]
            remaining = len(chosen) - position
            chance = probability(remaining) if remaining > 1 else None
            if chance:
                svc_rules.append(rule("-m statistic --mode random --probability %s -j %s" % (chance, ep_chain), identity))
            else:
                svc_rules.append(rule("-j %s" % ep_chain, identity))
            endpoint_chains.append({"name": ep_chain, "rules": [
                rule("-p %s -m %s -j DNAT --to-destination %s:%d" % (proto, proto, pod["address"], sp["target_port"]), identity)]})
            record["endpoints"].append({"pod": pod["name"], "netns": pod["netns"], "address": pod["address"],
                                        "port": sp["target_port"], "chain": ep_chain, "probability": chance,
                                        "share": 1.0 / len(chosen)})
        chains.append({"name": svc_chain, "rules": svc_rules})
        chains.extend(endpoint_chains)

    jumps = []
    for builtin in ("PREROUTING", "OUTPUT"):
        jump = {"chain": builtin, "rule": "-j %s" % dispatch_chain, "position": jump_position}
        if comments:
            jump["comment"] = "kube-proxy lab service portals"
        jumps.append(jump)
    return {
        "nat": {"chains": [{"name": dispatch_chain, "rules": dispatch_rules}] + chains, "builtin_rules": jumps},
        "services": records,
        "endpoints": dict((r["key"], [e["pod"] for e in r["endpoints"]]) for r in records),
        "warnings": warnings,
    }
