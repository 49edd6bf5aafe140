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

import base64
import hashlib
import ipaddress
import math
import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

MAX_CHAIN_LEN = 28  # XT_EXTENSION_MAXNAMELEN (29) minus the terminating NUL
HASH_LEN = 6
PROTOCOLS = ("TCP", "UDP", "SCTP")
RESERVED = frozenset((
    "PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING",
    "ACCEPT", "DROP", "REJECT", "RETURN", "QUEUE", "NFQUEUE", "LOG", "MARK", "CONNMARK",
    "DNAT", "SNAT", "MASQUERADE", "REDIRECT", "NETMAP", "CT", "TRACE", "AUDIT", "TPROXY",
))
_ILLEGAL = re.compile(r"[^A-Z0-9-]")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# Kubernetes wants DNS labels; any word that chain_word() can turn into a chain name is accepted here.
_PORT_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


def chain_word(text):
    """Upper-case `text` and turn every character that is not A-Z, 0-9 or - into -."""
    return _ILLEGAL.sub("-", to_text(text).upper())


def short_hash(identity):
    """A stable 6 character tag (base32 of sha256) for the thing a chain stands for."""
    digest = hashlib.sha256(to_text(identity).encode("utf-8")).digest()
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


def _fail(service, message):
    raise ValueError("Service %s: %s" % (service, message))


def _port_number(value, service, what):
    if isinstance(value, bool):
        _fail(service, "%s %r is not a port number" % (what, value))
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, str):
        _fail(service, "%s %r is a named port; only numbers are supported here, give the number" % (what, value))
    if not isinstance(value, int) or not 1 <= value <= 65535:
        _fail(service, "%s %r is not a port number (1-65535)" % (what, value))
    return value


def normalise_service(manifest, index):
    """Validate one Service manifest; return (namespace, name, cluster_ip, selector, ports)."""
    where = "#%d" % index
    if not isinstance(manifest, dict):
        raise ValueError("Service #%d is not a mapping: %r" % (index, manifest))
    kind = manifest.get("kind", "Service")
    if kind != "Service":
        _fail(where, "kind is %r, expected Service" % kind)
    metadata = manifest.get("metadata") or {}
    spec = manifest.get("spec") or {}
    if not isinstance(metadata, dict) or not isinstance(spec, dict):
        _fail(where, "metadata and spec must be mappings")
    name = metadata.get("name")
    if not isinstance(name, str) or not _DNS_LABEL.match(name):
        _fail(where, "metadata.name %r must be a DNS label (lower-case letters, digits and -)" % (name,))
    namespace = metadata.get("namespace") or "default"
    if not isinstance(namespace, str) or not _DNS_LABEL.match(namespace):
        _fail(name, "metadata.namespace %r must be a DNS label" % (namespace,))
    where = "%s/%s" % (namespace, name)
    service_type = spec.get("type", "ClusterIP")
    if service_type not in ("ClusterIP", "NodePort"):
        _fail(where, "spec.type %r is not supported; this lab models ClusterIP and NodePort Services" % service_type)
    cluster_ip = spec.get("clusterIP")
    if cluster_ip in (None, ""):
        _fail(where, "spec.clusterIP is required (this lab allocates none)")
    if to_text(cluster_ip) == "None":
        _fail(where, "headless Services (clusterIP: None) have no cluster IP to proxy")
    try:
        address = ipaddress.ip_address(to_text(cluster_ip))
    except ValueError:
        _fail(where, "spec.clusterIP %r is not an IP address" % (cluster_ip,))
    if address.version != 4:
        _fail(where, "spec.clusterIP %s: only IPv4 cluster IPs are supported" % address)
    selector = spec.get("selector") or {}
    if not isinstance(selector, dict):
        _fail(where, "spec.selector must be a mapping of label to value")
    selector = dict((to_text(k), to_text(v)) for k, v in selector.items())
    ports = spec.get("ports")
    if not isinstance(ports, list) or not ports:
        _fail(where, "spec.ports must be a non-empty list")
    result = []
    seen_names = set()
    seen_ports = set()
    for port_index, port in enumerate(ports):
        if not isinstance(port, dict):
            _fail(where, "spec.ports[%d] is not a mapping" % port_index)
        port_name = to_text(port.get("name") or "")
        if len(ports) > 1 and not port_name:
            _fail(where, "spec.ports[%d] has no name; every port of a Service with several ports needs one" % port_index)
        if port_name and not _PORT_NAME.match(port_name):
            _fail(where, "port name %r must be 1-63 letters, digits, -, _ or ., starting and ending with a letter or digit" % port_name)
        if port_name in seen_names:
            _fail(where, "port name %r is used twice" % port_name)
        seen_names.add(port_name)
        protocol = to_text(port.get("protocol") or "TCP").upper()
        if protocol not in PROTOCOLS:
            _fail(where, "spec.ports[%d].protocol %r must be one of %s" % (port_index, port.get("protocol"), ", ".join(PROTOCOLS)))
        number = _port_number(port.get("port"), where, "spec.ports[%d].port" % port_index)
        target = port.get("targetPort")
        target = number if target in (None, "") else _port_number(target, where, "spec.ports[%d].targetPort" % port_index)
        if (number, protocol) in seen_ports:
            _fail(where, "port %d/%s is declared twice" % (number, protocol))
        seen_ports.add((number, protocol))
        result.append({"port_name": port_name, "protocol": protocol, "port": number, "target_port": target})
    return namespace, name, str(address), selector, result


def selects(selector, pod):
    """True when every label of a non-empty selector is on the pod with the same value."""
    labels = pod.get("labels") or {}
    return bool(selector) and all(key in labels and to_text(labels[key]) == value for key, value in selector.items())


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


def plan_service_chains(services, pods, dispatch_chain="APP-SERVICE", chain_prefix="EDEN",
                        unnamed_port_name="HTTP", comments=False, jump_position="last"):
    """Return the plan (see RETURN); raise ValueError with a readable message on bad input."""
    if not isinstance(services, list):
        raise ValueError("services must be a list of Service manifests, got %s" % type(services).__name__)
    if not isinstance(pods, list):
        raise ValueError("pods must be a list of pod records, got %s" % type(pods).__name__)
    if jump_position not in ("first", "last"):
        raise ValueError("jump_position must be first or last, got %r" % (jump_position,))
    dispatch_chain = to_text(dispatch_chain)
    if not dispatch_chain or chain_word(dispatch_chain) != dispatch_chain or len(dispatch_chain) > MAX_CHAIN_LEN \
            or dispatch_chain in RESERVED:
        raise ValueError("dispatch_chain %r must be 1-28 characters of A-Z, 0-9 and -, and not a built-in name" % (dispatch_chain,))
    if not to_text(chain_prefix) or not to_text(unnamed_port_name):
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
    endpoint_pods = [[pod for pod in reversed(pods) if selects(sp["selector"], pod)] for sp in service_ports]
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
