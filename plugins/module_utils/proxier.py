# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The proxier's pure half: the model in, the rules of either backend and the plan out; no commands.

What kube-proxy's ``syncProxyRules`` decides before it writes anything, for the
proxy_sync module (on the node) and its action plugin (on the controller):

* :data:`LAYOUT_OPTIONS`: every layout and backend option with its default, the
  one place they are spelled out;
* :func:`model_digest`: the digest of everything that decides the rules, which
  the action plugin sends instead of the model when the node has it already;
* :func:`drained_pods`: drain is a different endpoint set, not a second path - the
  listed pods that already run on this node (their namespace exists) and served
  in the last sync, plus other nodes' pods;
* :func:`render`: Services, EndpointSlices and pods -> the iptables tables (nat
  and filter) or the nftables table, with the renderers of
  :mod:`service_chains`, :mod:`kube_proxy_iptables` and :mod:`kube_proxy_nftables`;
* :func:`plan_summary`: each Service port's cluster IP, port, protocol,
  endpoints and chains, what verify and the counters view need.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json

# The renderers (service_model, service_chains, kube_proxy_iptables, kube_proxy_nftables) are imported where
# they are used: a no-change run of proxy_sync (the digest path) renders nothing, and not importing them spares
# it their compile time (AnsiballZ runs module_utils from a zip, compiled anew on every run).

LAYOUTS = ("tutorial", "kube-proxy")
BACKENDS = ("iptables", "nftables")
IPTABLES_TABLES = ("filter", "nat")  # the order kube-proxy restores them in
RECORD_VERSION = 1

# The layout options, each with its default (which reproduces the tutorial) and the
# layouts/backends that read it. The module's argument spec and docs are built on these.
LAYOUT_OPTIONS = {
    # tutorial layout
    "dispatch_chain": ("APP-SERVICE", "tutorial"),
    "chain_prefix": ("EDEN", "tutorial"),
    "unnamed_port_name": ("HTTP", "tutorial"),
    "rule_comments": (False, "tutorial"),
    "jump_position": ("last", "tutorial"),
    # kube-proxy layout
    "cluster_cidr": (None, "kube-proxy"),
    "node_ip": (None, "kube-proxy"),
    "masquerade_all": (False, "kube-proxy"),
    "masquerade_random_fully": (True, "kube-proxy"),
    "nodeport_addresses": ([], "kube-proxy"),
    # nftables backend
    "nft_table": ("kube-proxy", "nftables"),
    "nft_counters": (True, "nftables"),
    "service_cidr": ("10.96.0.0/12", "nftables"),
}

# Arguments that travel only with the model; the digest stands for them.
MODEL_KEYS = ("services", "endpoint_slices", "pods")
# Arguments that do not decide the rules (or are the digest's own machinery).
NOT_DIGESTED = ("drain", "return_plan", "model_digest", "local_netns", "state")


class ModelError(ValueError):
    """The model cannot be proxied; raised before any change."""


def canonical_json(value):
    """JSON with sorted keys and no spaces: the same data gives the same text on every controller."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def model_digest(args, code=""):
    """The digest of every argument that decides the rules, and of the code that renders them."""
    data = dict((key, value) for key, value in args.items() if key not in NOT_DIGESTED)
    return hashlib.sha256(canonical_json([RECORD_VERSION, code, data]).encode("utf-8")).hexdigest()


def local_pods(pods, node=None):
    """The pods that run on this node: those without a node (one-node lab) or naming ``node``."""
    from ansible_collections.k8slab.kube_proxy.plugins.module_utils import service_model
    return [pod for pod in pods if isinstance(pod, dict) and service_model.pod_is_local(pod, node)]


def local_netns(pods, node=None):
    """The namespace names of this node's pods, sorted."""
    return sorted(set(str(pod.get("netns")) for pod in local_pods(pods, node) if pod.get("netns")))


def drained_pods(pods, node, running_netns, serving=None):
    """(pods that keep their endpoints, names of this node's pods that do not serve yet).

    A pod of this node keeps its endpoints when its namespace exists and, given ``serving`` (the namespaces
    the last sync wrote endpoints for), it served already: a drain only takes endpoints away, never adds
    one. A pod whose namespace a killed converge made, but whose app it never started, waits for the
    sync after the app answers, as a new pod does. Other nodes' pods stay: whether they run is their
    node's business.
    """
    from ansible_collections.k8slab.kube_proxy.plugins.module_utils import service_model
    running = set(running_netns)
    served = None if serving is None else set(serving)
    kept, waiting = [], []
    for pod in pods:
        if service_model.pod_is_local(pod, node) and (pod.get("netns") not in running
                                                      or (served is not None and pod.get("netns") not in served)):
            waiting.append(pod.get("name"))
        else:
            kept.append(pod)
    return kept, waiting


def _cidr(value, what):
    try:
        return str(ipaddress.ip_network(str(value), strict=False))
    except ValueError:
        raise ModelError("%s %r is not a CIDR" % (what, value))


def check_options(layout, backend, options):
    """The layout and backend options, checked; returns them normalised."""
    if layout not in LAYOUTS:
        raise ModelError("layout %r must be one of %s" % (layout, ", ".join(LAYOUTS)))
    if backend not in BACKENDS:
        raise ModelError("backend %r must be one of %s" % (backend, ", ".join(BACKENDS)))
    result = dict((key, default) for key, (default, dummy) in LAYOUT_OPTIONS.items())
    result.update((key, value) for key, value in options.items() if key in LAYOUT_OPTIONS and value is not None)
    if result["jump_position"] not in ("first", "last"):
        raise ModelError("jump_position must be first or last, got %r" % (result["jump_position"],))
    if layout == "kube-proxy":
        if not result["cluster_cidr"]:
            raise ModelError("the kube-proxy layout needs cluster_cidr (the pod CIDR, kube-proxy's --cluster-cidr)")
        result["cluster_cidr"] = _cidr(result["cluster_cidr"], "cluster_cidr")
        if result["node_ip"]:
            try:
                result["node_ip"] = str(ipaddress.IPv4Address(str(result["node_ip"])))
            except ValueError:
                raise ModelError("node_ip %r is not an IPv4 address" % (result["node_ip"],))
    result["nodeport_addresses"] = _nodeport_addresses(result["nodeport_addresses"])
    if backend == "nftables":
        result["service_cidr"] = _cidr(result["service_cidr"], "service_cidr")
    return result


def _nodeport_addresses(values):
    """The NodePort addresses, checked: IPv4, not loopback (neither backend here serves localhost NodePorts)."""
    addresses = []
    for value in values or []:
        try:
            address = ipaddress.IPv4Address(str(value))
        except ValueError:
            raise ModelError("nodeport address %r is not an IPv4 address" % (value,))
        if address.is_loopback:
            raise ModelError("nodeport address %s is a loopback address; localhost NodePorts are not supported" % address)
        addresses.append(str(address))
    return addresses


def check_pods(pods):
    from ansible_collections.k8slab.kube_proxy.plugins.module_utils import service_model
    if not isinstance(pods, list):
        raise ModelError("pods must be a list of pod records, got %s" % service_model.yaml_kind(pods))
    for index, pod in enumerate(pods):
        if not isinstance(pod, dict) or not all(pod.get(k) for k in ("name", "address", "netns")):
            raise ModelError("pod #%d is not a complete pod record (use the k8slab.kube_proxy.pods filter): %r" % (index, pod))
    return pods


def plan_layout(layout, services, endpoint_slices, pods, options, node=None, nfacct_counters=()):
    """The renderer's plan of ``layout``: nat (and filter) chains, services records, warnings.

    node (this node's name) tells the kube-proxy layout which endpoints are local
    (internalTrafficPolicy Local); nfacct_counters, the nfacct counters that exist on the node.
    """
    from ansible_collections.k8slab.kube_proxy.plugins.module_utils import service_model
    from ansible_collections.k8slab.kube_proxy.plugins.module_utils.kube_proxy_iptables import plan_kube_proxy_chains
    from ansible_collections.k8slab.kube_proxy.plugins.module_utils.service_chains import plan_service_chains
    try:
        if layout == "tutorial":
            # The tutorial layout matches selectors only; EndpointSlices are still checked.
            if endpoint_slices:
                service_model.service_ports(services, endpoint_slices, pods)
            plan = plan_service_chains(services, pods, dispatch_chain=options["dispatch_chain"],
                                       chain_prefix=options["chain_prefix"],
                                       unnamed_port_name=options["unnamed_port_name"],
                                       comments=bool(options["rule_comments"]), jump_position=options["jump_position"])
            plan["filter"] = {"chains": [], "builtin_rules": []}
            plan["dispatch_chain"] = options["dispatch_chain"]
            plan["paths"] = dict((record["key"], [options["dispatch_chain"], record["chain"]]
                                  + [endpoint["chain"] for endpoint in record["endpoints"]])
                                 for record in plan["services"] if record["chain"])
        else:
            plan = plan_kube_proxy_chains(services, pods, endpoint_slices=endpoint_slices,
                                          cluster_cidr=options["cluster_cidr"], masquerade_all=bool(options["masquerade_all"]),
                                          random_fully=bool(options["masquerade_random_fully"]), node=node,
                                          node_ip=options["node_ip"], nodeport_addresses=options["nodeport_addresses"],
                                          nfacct_counters=nfacct_counters)
            plan["dispatch_chain"] = "KUBE-SERVICES"
    except ValueError as exc:
        raise ModelError(str(exc))
    return plan


def render_nft(layout, plan, options):
    """The body of the nftables table for a plan: (content, counters)."""
    from ansible_collections.k8slab.kube_proxy.plugins.module_utils import kube_proxy_nftables
    if layout == "tutorial":
        return kube_proxy_nftables.render_tutorial(plan["services"], counters=bool(options["nft_counters"]))
    return kube_proxy_nftables.render_kube_proxy(plan["services"], options["cluster_cidr"], options["service_cidr"],
                                                 options["nodeport_addresses"], counters=bool(options["nft_counters"]),
                                                 masquerade_all=bool(options["masquerade_all"]), node_ip=options["node_ip"])


def split(services, endpoint_slices):
    """Services and EndpointSlices from the two lists (either may hold both kinds, or kind: List)."""
    from ansible_collections.k8slab.kube_proxy.plugins.module_utils import service_model
    if not isinstance(services, list) or not isinstance(endpoint_slices, list):
        raise ModelError("services and endpoint_slices must be lists of manifests")
    try:
        return service_model.split_manifests(list(services) + list(endpoint_slices))
    except ValueError as exc:
        raise ModelError(str(exc))


def render(layout, backend, services, endpoint_slices, pods, options, fail_on_no_endpoints=False, node=None,
           nfacct_counters=()):
    """Everything one sync writes: dict with plan (the renderer's), iptables (table -> (chains, builtin_rules))
    for the iptables backend, nft (content) for the nftables backend, and warnings. nfacct_counters: the names of
    the nfacct counters that exist on the node (the kube-proxy layout's iptables rules count into them).

    Raises ModelError before anything runs when the model cannot be proxied (or a Service port has no
    endpoints and ``fail_on_no_endpoints`` is set).
    """
    check_pods(pods)
    plan = plan_layout(layout, services, endpoint_slices, pods, options, node,
                       nfacct_counters if backend == "iptables" else ())
    if fail_on_no_endpoints and plan["warnings"]:
        raise ModelError("%s (fail_on_no_endpoints is true)" % "; ".join(plan["warnings"]))
    result = {"plan": plan, "warnings": plan["warnings"], "iptables": None, "nft": None}
    if backend == "iptables":
        result["iptables"] = dict((table, (plan[table]["chains"], plan[table]["builtin_rules"]))
                                  for table in IPTABLES_TABLES)
    else:
        result["nft"] = render_nft(layout, plan, options)[0]
    return result


_SUMMARY_KEYS = ("key", "namespace", "name", "port_name", "cluster_ip", "port", "protocol", "target_port", "node_port",
                 "type", "external_ips", "internal_traffic_policy", "session_affinity", "chain")
_ENDPOINT_KEYS = ("pod", "netns", "address", "port", "chain", "probability", "share")


def plan_summary(rendered, layout, backend, pods, options, waiting=()):
    """What verify needs: each Service port with its endpoints and chains, the paths, the pods."""
    plan = rendered["plan"]
    services = []
    for record in plan["services"]:
        item = dict((key, record[key]) for key in _SUMMARY_KEYS if key in record)
        # The endpoints the cluster IP reaches (internalTrafficPolicy Local: this node's), which verify probes.
        reached = record.get("internal_endpoints", record["endpoints"])
        item["endpoints"] = [dict((key, endpoint.get(key)) for key in _ENDPOINT_KEYS) for endpoint in reached]
        services.append(item)
    summary = {
        "layout": layout, "backend": backend, "dispatch_chain": plan["dispatch_chain"],
        "services": services, "paths": plan.get("paths") or {},
        "pods": [dict((key, pod[key]) for key in ("name", "netns", "address", "node") if key in pod) for pod in pods],
        "no_endpoints": list(rendered["warnings"]), "waiting": list(waiting),
    }
    if backend == "nftables":
        summary["nft_table"] = options["nft_table"]
    return summary


# ---------------------------------------------------------------- what a no-change run compares (nftables)

def nft_stable_text(text):
    """``nft -s list table`` text without the elements that rules add at run time (``flags dynamic`` sets,
    kube-proxy's session affinity), so that it changes only when someone changes the table."""
    lines, in_set, dynamic, skipping = [], False, False, False
    for line in (text or "").splitlines():
        stripped = line.strip()
        if skipping:
            if stripped.endswith("}"):
                skipping = False
            continue
        if stripped.startswith(("set ", "map ")) and stripped.endswith("{"):
            in_set, dynamic = True, False
        elif in_set and stripped.startswith("flags ") and "dynamic" in stripped:
            dynamic = True
        elif in_set and stripped == "}":
            in_set = False
        elif in_set and dynamic and stripped.startswith("elements = {"):
            skipping = not stripped.endswith("}")
            continue
        lines.append(line)
    return "\n".join(lines)
