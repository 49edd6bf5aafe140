# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Services and their endpoints, the way kube-proxy sees them; pure, no commands.

Shared by every service proxy backend (iptables in kube-proxy's layout, nftables, ...):

* :func:`split_manifests`: a list of manifests (``kind: List`` exports of
  ``kubectl get svc,endpointslices -o yaml`` included) -> Services and EndpointSlices;
* :func:`normalise_service` / :func:`normalise_endpoint_slice`: one manifest -> a
  plain, validated record (ValueError with a message naming the object otherwise);
* :func:`service_ports`: Services + EndpointSlices + pod records -> one record per
  Service port with its usable endpoints, in kube-proxy's order and with
  kube-proxy's chain names;
* the names kube-proxy derives: :func:`service_port_name` (``ns/name:port``),
  :func:`port_proto_hash`, :func:`service_chain_names`, :func:`endpoint_chain_name`.

Where the endpoints come from: a Service named by at least one EndpointSlice (label
``kubernetes.io/service-name``) takes its endpoints from its slices only, as
kube-proxy does; any other Service gets the pods its selector matches, as the
EndpointSlice controller would give it. kube-proxy uses the ready endpoints and,
only when none is ready, the serving and terminating ones; ``ready: false``
endpoints are otherwise left out. With ``internalTrafficPolicy: Local`` the cluster IP,
with ``externalTrafficPolicy: Local`` the external destinations (node ports, external
IPs, load balancer IPs) lead only to this node's endpoints (``local_endpoints``); the
renderers decide what that means for the rules.

A LoadBalancer Service is read as kube-proxy reads it: its
``status.loadBalancer.ingress[].ip`` (IPv4, ``ipMode`` VIP or unset; a Proxy
load balancer's IP and hostname-only entries get no rules), its
``spec.loadBalancerSourceRanges`` (IPv4 CIDRs, spaces trimmed; a ``/0`` among them
means no restriction) and its ``allocateLoadBalancerNodePorts`` (a bool; a port
without ``nodePort`` gets no node port rules, whatever it says, as this lab
allocates none). On other Service types these fields are checked and ignored.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re

PROTOCOLS = ("TCP", "UDP", "SCTP")
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")
INGRESS_IP_MODES = ("VIP", "Proxy")
TRAFFIC_POLICIES = ("Cluster", "Local")
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
DEFAULT_AFFINITY_TIMEOUT = 10800  # v1.DefaultClientIPServiceAffinitySeconds
MAX_AFFINITY_TIMEOUT = 86400
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_PORT_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


def yaml_kind(value):
    """The YAML kind of a value, for messages (Ansible hands plugins its own str, dict and list subclasses)."""
    for name, types in (("bool", bool), ("str", str), ("int", int), ("float", float), ("dict", dict), ("list", list)):
        if isinstance(value, types):
            return name
    return type(value).__name__


def _text(value):
    return value if isinstance(value, str) else str(value)


# -- names, exactly as kube-proxy makes them -------------------------------------------------------

def service_port_name(namespace, name, port_name=""):
    """kube-proxy's ServicePortName.String(): ``ns/name:port``, or ``ns/name`` for an unnamed port."""
    return "%s/%s%s" % (namespace, name, (":" + port_name) if port_name else "")


def _hash16(text):
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii")[:16]


def port_proto_hash(port_name, protocol):
    """The 16 characters kube-proxy puts after KUBE-SVC-, KUBE-EXT-, ...: base32(sha256(name + protocol))."""
    return _hash16(port_name + protocol.lower())


def service_chain_names(port_name, protocol):
    """The per Service port chains: svc (KUBE-SVC-), local (KUBE-SVL-), external (KUBE-EXT-), firewall (KUBE-FW-)."""
    tag = port_proto_hash(port_name, protocol)
    return {"svc": "KUBE-SVC-" + tag, "local": "KUBE-SVL-" + tag, "external": "KUBE-EXT-" + tag,
            "firewall": "KUBE-FW-" + tag}


def endpoint_chain_name(port_name, protocol, endpoint):
    """KUBE-SEP-<16>: base32(sha256(service port name + protocol + "ip:port"))."""
    return "KUBE-SEP-" + _hash16(port_name + protocol.lower() + endpoint)


# -- manifests -------------------------------------------------------------------------------------

def split_manifests(manifests):
    """(services, endpoint_slices) from a list of manifests; ``kind: List`` items are expanded, None skipped."""
    if not isinstance(manifests, list):
        raise ValueError("manifests must be a list, got %s" % yaml_kind(manifests))
    services, slices = [], []
    pending = list(manifests)
    while pending:
        item = pending.pop(0)
        if item is None:
            continue
        if not isinstance(item, dict):
            raise ValueError("a manifest is not a mapping: %r" % (item,))
        kind = item.get("kind", "Service")
        if kind == "List" or (kind.endswith("List") and isinstance(item.get("items"), list)):
            pending[0:0] = item.get("items") or []
        elif kind == "Service":
            services.append(item)
        elif kind == "EndpointSlice":
            slices.append(item)
        else:
            raise ValueError("manifest kind %r is not a Service or an EndpointSlice (metadata %r)"
                             % (kind, item.get("metadata")))
    return services, slices


def _fail(what, message):
    raise ValueError("%s: %s" % (what, message))


def _port_number(value, what, where, allow_name=False):
    if isinstance(value, bool):
        _fail(where, "%s %r is not a port number" % (what, value))
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, str):
        if allow_name and _PORT_NAME.match(value):
            return value
        _fail(where, "%s %r is a named port; only numbers are supported here, give the number" % (what, value))
    if not isinstance(value, int) or not 1 <= value <= 65535:
        _fail(where, "%s %r is not a port number (1-65535)" % (what, value))
    return value


def _metadata(manifest, index, kind, name_re=_DNS_LABEL):
    where = "%s #%d" % (kind, index)
    if not isinstance(manifest, dict):
        raise ValueError("%s is not a mapping: %r" % (where, manifest))
    metadata = manifest.get("metadata") or {}
    if not isinstance(metadata, dict):
        _fail(where, "metadata must be a mapping")
    name = metadata.get("name")
    if not isinstance(name, str) or not name_re.match(name):
        _fail(where, "metadata.name %r must be a DNS %s (lower-case letters, digits and -)"
              % (name, "label" if name_re is _DNS_LABEL else "subdomain name"))
    namespace = metadata.get("namespace") or "default"
    if not isinstance(namespace, str) or not _DNS_LABEL.match(namespace):
        _fail("%s %s" % (kind, name), "metadata.namespace %r must be a DNS label" % (namespace,))
    return namespace, name, metadata


def _ipv4_ingress_ips(status, where):
    """status.loadBalancer.ingress -> the IPv4 VIPs kube-proxy writes rules for (checked, in order, once each)."""
    if status in (None, ""):
        return []
    if not isinstance(status, dict):
        _fail(where, "status must be a mapping")
    load_balancer = status.get("loadBalancer") or {}
    if not isinstance(load_balancer, dict):
        _fail(where, "status.loadBalancer must be a mapping")
    ingress = load_balancer.get("ingress") or []
    if not isinstance(ingress, list):
        _fail(where, "status.loadBalancer.ingress must be a list")
    result = []
    for index, item in enumerate(ingress):
        what = "status.loadBalancer.ingress[%d]" % index
        if not isinstance(item, dict):
            _fail(where, "%s is not a mapping" % what)
        mode = item.get("ipMode") or "VIP"
        if mode not in INGRESS_IP_MODES:
            _fail(where, "%s.ipMode %r must be VIP or Proxy" % (what, mode))
        if item.get("ip") in (None, ""):
            continue  # a hostname-only load balancer: kube-proxy writes nothing for it
        try:
            address = ipaddress.ip_address(_text(item["ip"]).strip())
        except ValueError:
            _fail(where, "%s.ip %r is not an IP address" % (what, item["ip"]))
        # kube-proxy: a Proxy-mode load balancer sends its traffic to the node itself, so it gets no VIP rules;
        # an IPv4 proxier ignores IPv6 VIPs.
        if mode == "VIP" and address.version == 4 and str(address) not in result:
            result.append(str(address))
    return result


def _ipv4_source_ranges(ranges, where):
    """spec.loadBalancerSourceRanges -> IPv4 networks as kube-proxy keeps them ([] when one is /0: no restriction)."""
    if ranges in (None, ""):
        return []
    if not isinstance(ranges, list):
        _fail(where, "spec.loadBalancerSourceRanges must be a list of CIDRs")
    result = []
    for value in ranges:
        text = _text(value).strip()  # the API lets spaces through; kube-proxy trims them
        if "/" not in text:
            _fail(where, "spec.loadBalancerSourceRanges entry %r is not a CIDR (give a prefix length, e.g. /32)" % (value,))
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            _fail(where, "spec.loadBalancerSourceRanges entry %r is not a CIDR" % (value,))
        if network.version == 4:
            result.append(network)
    if any(network.prefixlen == 0 for network in result):
        return []
    return [str(network) for network in result]


def normalise_service(manifest, index=0):
    """One Service manifest -> a record; ValueError on anything this lab cannot proxy.

    Record: namespace, name, type, cluster_ip (None for a headless Service, which
    kube-proxy ignores), internal_traffic_policy and external_traffic_policy (Cluster or
    Local), health_check_node_port (0 when none), selector,
    session_affinity (None or ClientIP),
    affinity_timeout, external_ips, load_balancer_ips and load_balancer_source_ranges
    (LoadBalancer only, else empty), allocate_load_balancer_node_ports, ports (port_name,
    protocol, port, target_port (a number, or a name), node_port (0 when none)).
    """
    namespace, name, _metadata_ = _metadata(manifest, index, "Service")
    where = "Service %s/%s" % (namespace, name)
    spec = manifest.get("spec") or {}
    if not isinstance(spec, dict):
        _fail(where, "spec must be a mapping")
    service_type = spec.get("type") or "ClusterIP"
    if service_type not in SERVICE_TYPES:
        _fail(where, "spec.type %r is not supported; this lab models %s Services" % (service_type, " and ".join(SERVICE_TYPES)))
    cluster_ip = spec.get("clusterIP")
    if cluster_ip in (None, ""):
        _fail(where, "spec.clusterIP is required (this lab allocates none)")
    if _text(cluster_ip) == "None":
        cluster_ip = None
    else:
        try:
            address = ipaddress.ip_address(_text(cluster_ip))
        except ValueError:
            _fail(where, "spec.clusterIP %r is not an IP address" % (cluster_ip,))
        if address.version != 4:
            _fail(where, "spec.clusterIP %s: only IPv4 cluster IPs are supported" % address)
        cluster_ip = str(address)
    selector = spec.get("selector") or {}
    if not isinstance(selector, dict):
        _fail(where, "spec.selector must be a mapping of label to value")
    selector = dict((_text(k), _text(v)) for k, v in selector.items())
    internal_policy = spec.get("internalTrafficPolicy") or "Cluster"
    if internal_policy not in TRAFFIC_POLICIES:
        _fail(where, "spec.internalTrafficPolicy %r must be Cluster or Local" % (internal_policy,))
    external_policy = spec.get("externalTrafficPolicy") or "Cluster"
    if external_policy not in TRAFFIC_POLICIES:
        _fail(where, "spec.externalTrafficPolicy %r must be Cluster or Local" % (external_policy,))
    health_check_node_port = spec.get("healthCheckNodePort") or 0
    if health_check_node_port:
        health_check_node_port = _port_number(health_check_node_port, "spec.healthCheckNodePort", where)
        if external_policy != "Local" or service_type != "LoadBalancer":
            # kube-proxy reads it only on a LoadBalancer with externalTrafficPolicy Local (NeedsHealthCheck).
            health_check_node_port = 0
    load_balancer_ips = _ipv4_ingress_ips(manifest.get("status"), where)
    source_ranges = _ipv4_source_ranges(spec.get("loadBalancerSourceRanges"), where)
    allocate_node_ports = spec.get("allocateLoadBalancerNodePorts")
    if allocate_node_ports is not None and not isinstance(allocate_node_ports, bool):
        _fail(where, "spec.allocateLoadBalancerNodePorts %r must be true or false" % (allocate_node_ports,))
    if service_type != "LoadBalancer":
        load_balancer_ips, source_ranges = [], []  # a load balancer's fields mean nothing on another type
    affinity = spec.get("sessionAffinity") or "None"
    if affinity not in ("None", "ClientIP"):
        _fail(where, "spec.sessionAffinity %r must be None or ClientIP" % (affinity,))
    timeout = DEFAULT_AFFINITY_TIMEOUT
    config = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {})
    if affinity == "ClientIP" and config.get("timeoutSeconds") not in (None, ""):
        timeout = config.get("timeoutSeconds")
        if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= MAX_AFFINITY_TIMEOUT:
            _fail(where, "sessionAffinityConfig.clientIP.timeoutSeconds %r must be 1-%d" % (timeout, MAX_AFFINITY_TIMEOUT))
    external_ips = []
    for value in spec.get("externalIPs") or []:
        try:
            external = ipaddress.ip_address(_text(value).strip())
        except ValueError:
            _fail(where, "spec.externalIPs entry %r is not an IP address" % (value,))
        if external.version == 4:
            external_ips.append(str(external))
    ports = spec.get("ports")
    if not isinstance(ports, list) or not ports:
        _fail(where, "spec.ports must be a non-empty list")
    result = []
    seen = set()
    for port_index, port in enumerate(ports):
        what = "spec.ports[%d]" % port_index
        if not isinstance(port, dict):
            _fail(where, "%s is not a mapping" % what)
        port_name = _text(port.get("name") or "")
        if len(ports) > 1 and not port_name:
            _fail(where, "%s has no name; every port of a Service with several ports needs one" % what)
        if port_name and not _PORT_NAME.match(port_name):
            _fail(where, "port name %r must be 1-63 letters, digits, -, _ or ., starting and ending with a letter or digit" % port_name)
        protocol = _text(port.get("protocol") or "TCP").upper()
        if protocol not in PROTOCOLS:
            _fail(where, "%s.protocol %r must be one of %s" % (what, port.get("protocol"), ", ".join(PROTOCOLS)))
        if port_name in seen:
            _fail(where, "port name %r is used twice" % port_name)
        number = _port_number(port.get("port"), what + ".port", where)
        target = port.get("targetPort")
        target = number if target in (None, "") else _port_number(target, what + ".targetPort", where, allow_name=True)
        node_port = port.get("nodePort") or 0
        if node_port:
            node_port = _port_number(node_port, what + ".nodePort", where)
            if service_type == "ClusterIP":
                node_port = 0  # a ClusterIP Service's nodePort means nothing (kube-proxy reads it for NodePort and LoadBalancer)
        seen.add(port_name)
        result.append({"port_name": port_name, "protocol": protocol, "port": number, "target_port": target,
                       "node_port": node_port})
    return {"namespace": namespace, "name": name, "type": service_type, "cluster_ip": cluster_ip,
            "internal_traffic_policy": internal_policy, "external_traffic_policy": external_policy,
            "health_check_node_port": health_check_node_port, "selector": selector,
            "session_affinity": "ClientIP" if affinity == "ClientIP" else None,
            "affinity_timeout": timeout, "external_ips": external_ips, "load_balancer_ips": load_balancer_ips,
            "load_balancer_source_ranges": source_ranges,
            "allocate_load_balancer_node_ports": allocate_node_ports is not False, "ports": result}


def normalise_endpoint_slice(manifest, index=0):
    """One EndpointSlice (discovery.k8s.io/v1) -> namespace, name, service, address_type, ports, endpoints.

    ports: name ('' when unnamed), port, protocol. endpoints: addresses, ready, serving,
    terminating, pod (targetRef name of a Pod, or None), node. Conditions default as the
    API says: ready and serving unset mean true, terminating unset means false.
    """
    namespace, name, metadata = _metadata(manifest, index, "EndpointSlice", _DNS_SUBDOMAIN)
    where = "EndpointSlice %s/%s" % (namespace, name)
    labels = metadata.get("labels") or {}
    service = labels.get(SERVICE_NAME_LABEL) if isinstance(labels, dict) else None
    if not isinstance(service, str) or not _DNS_LABEL.match(service):
        _fail(where, "metadata.labels[%s] must name its Service, got %r" % (SERVICE_NAME_LABEL, service))
    address_type = manifest.get("addressType") or "IPv4"
    if address_type not in ("IPv4", "IPv6", "FQDN"):
        _fail(where, "addressType %r must be IPv4, IPv6 or FQDN" % (address_type,))
    ports = []
    for port_index, port in enumerate(manifest.get("ports") or []):
        what = "ports[%d]" % port_index
        if not isinstance(port, dict):
            _fail(where, "%s is not a mapping" % what)
        protocol = _text(port.get("protocol") or "TCP").upper()
        if protocol not in PROTOCOLS:
            _fail(where, "%s.protocol %r must be one of %s" % (what, port.get("protocol"), ", ".join(PROTOCOLS)))
        number = port.get("port")
        # kube-proxy skips a port without a number; so do we.
        if number in (None, 0):
            continue
        ports.append({"name": _text(port.get("name") or ""), "protocol": protocol,
                      "port": _port_number(number, what + ".port", where)})
    endpoints = []
    for endpoint_index, endpoint in enumerate(manifest.get("endpoints") or []):
        what = "endpoints[%d]" % endpoint_index
        if not isinstance(endpoint, dict):
            _fail(where, "%s is not a mapping" % what)
        addresses = endpoint.get("addresses") or []
        if not isinstance(addresses, list) or not addresses:
            _fail(where, "%s.addresses must be a non-empty list" % what)
        if address_type != "FQDN":
            for address in addresses:
                try:
                    ipaddress.ip_address(_text(address))
                except ValueError:
                    _fail(where, "%s address %r is not an IP address" % (what, address))
        conditions = endpoint.get("conditions") or {}
        target = endpoint.get("targetRef") or {}
        endpoints.append({
            "addresses": [_text(a) for a in addresses],
            "ready": conditions.get("ready") is not False,
            "serving": conditions.get("serving") is not False,
            "terminating": conditions.get("terminating") is True,
            "pod": target.get("name") if target.get("kind", "Pod") == "Pod" and target.get("name") else None,
            "node": endpoint.get("nodeName"),
        })
    return {"namespace": namespace, "name": name, "service": service, "address_type": address_type,
            "ports": ports, "endpoints": endpoints}


def pod_is_local(pod, node):
    """Whether a pod runs on this node: it names this node, or no node at all (the one-node lab)."""
    return not pod.get("node") or pod.get("node") == node


def selects(selector, pod):
    """True when every label of a non-empty selector is on the pod with the same value."""
    labels = pod.get("labels") or {}
    return bool(selector) and all(key in labels and _text(labels[key]) == value for key, value in selector.items())


def _endpoint_sort_key(endpoint):
    # kube-proxy sorts a service port's endpoints by their "ip:port" string.
    return endpoint["endpoint"]


def _usable(endpoints):
    """kube-proxy's choice: the ready endpoints; only when none is ready, those still serving while terminating."""
    ready = [e for e in endpoints if e["ready"]]
    return ready or [e for e in endpoints if e["serving"] and e["terminating"]]


def service_ports(services, endpoint_slices=(), pods=(), node=None):
    """One record per Service port (in the order declared), with its usable endpoints.

    services and endpoint_slices are manifests (see :func:`split_manifests`); pods are
    complete pod records (name, address, netns, labels), as the pods filter makes them.
    node is this node's name (kube-proxy's hostname): an EndpointSlice endpoint is local
    when its nodeName is this node, a pod matched by selector when it names this node or
    no node at all (the one-node lab). Headless Services are left out, as kube-proxy
    leaves them out.

    Record: key (kube-proxy's service port name, ``ns/name:port``), namespace, name,
    port_name, protocol, cluster_ip, port, node_port, target_port, type, external_ips,
    load_balancer_ips, load_balancer_source_ranges, internal_traffic_policy, external_traffic_policy, health_check_node_port,
    session_affinity, affinity_timeout, selector, source
    (``endpointslices``, ``selector`` or ``none``), chains (see
    :func:`service_chain_names`), endpoints (kube-proxy's cluster endpoints, on any
    node), local_endpoints (its Local policy's: this node's ready endpoints, or only
    when none is ready its serving and terminating ones) and not_ready. An endpoint:
    endpoint (``ip:port``), address, port, pod and netns (the pod record with that
    address, else None), ready, serving, terminating, local, chain (KUBE-SEP-...).
    Endpoints are sorted by their ``ip:port`` text, as kube-proxy sorts them.
    """
    pods = list(pods or [])
    by_address = dict((pod.get("address"), pod) for pod in pods)
    normalised = [normalise_service(manifest, index) for index, manifest in enumerate(services)]
    seen = {}
    frontends = {}
    for service in normalised:
        key = (service["namespace"], service["name"])
        if key in seen:
            raise ValueError("Service %s/%s is declared twice" % key)
        seen[key] = service
        if service["cluster_ip"] is None:
            continue
        for port in service["ports"]:
            frontend = (service["cluster_ip"], port["port"], port["protocol"])
            if frontend in frontends:
                raise ValueError("Services %s and %s/%s both claim %s:%d/%s"
                                 % ((frontends[frontend],) + key + frontend))
            frontends[frontend] = "%s/%s" % key
            if port["node_port"]:
                node_port = ("nodePort", port["node_port"], port["protocol"])
                if node_port in frontends:
                    raise ValueError("Services %s and %s/%s both claim nodePort %d/%s"
                                     % ((frontends[node_port],) + key + (port["node_port"], port["protocol"])))
                frontends[node_port] = "%s/%s" % key
    slices_by_service = {}
    seen_slices = set()
    for index, manifest in enumerate(endpoint_slices or []):
        endpoint_slice = normalise_endpoint_slice(manifest, index)
        slice_key = (endpoint_slice["namespace"], endpoint_slice["name"])
        if slice_key in seen_slices:
            raise ValueError("EndpointSlice %s/%s is declared twice" % slice_key)
        seen_slices.add(slice_key)
        slices_by_service.setdefault((endpoint_slice["namespace"], endpoint_slice["service"]), []).append(endpoint_slice)

    records = []
    for service in normalised:
        if service["cluster_ip"] is None:
            continue
        slices = slices_by_service.get((service["namespace"], service["name"]))
        for port in service["ports"]:
            name = service_port_name(service["namespace"], service["name"], port["port_name"])
            candidates = {}
            if slices is not None:
                source = "endpointslices"
                for endpoint_slice in slices:
                    if endpoint_slice["address_type"] != "IPv4":
                        continue  # an IPv4 proxier ignores IPv6 and FQDN slices
                    for slice_port in endpoint_slice["ports"]:
                        if slice_port["name"] != port["port_name"] or slice_port["protocol"] != port["protocol"]:
                            continue
                        for endpoint in endpoint_slice["endpoints"]:
                            address = endpoint["addresses"][0]  # kube-proxy uses the first address only
                            text = "%s:%d" % (address, slice_port["port"])
                            # One IP:port seen in two slices counts once; a ready copy wins.
                            if text not in candidates or endpoint["ready"]:
                                # kube-proxy: local when the endpoint names this node (an endpoint without nodeName is not).
                                local = endpoint["node"] is not None and endpoint["node"] == node
                                candidates[text] = dict(endpoint, address=address, port=slice_port["port"],
                                                        pod_name=endpoint["pod"], local=local)
            elif service["selector"]:
                source = "selector"
                matched = [pod for pod in pods if selects(service["selector"], pod)]
                if matched and not isinstance(port["target_port"], int):
                    _fail("Service %s/%s" % (service["namespace"], service["name"]),
                          "targetPort %r is a named port; pods here declare no ports, so give the number "
                          "(or give EndpointSlices)" % port["target_port"])
                for pod in matched:
                    text = "%s:%d" % (pod["address"], port["target_port"])
                    candidates[text] = {"address": pod["address"], "port": port["target_port"], "ready": True,
                                        "serving": True, "terminating": False, "pod_name": pod.get("name"),
                                        "node": pod.get("node"), "local": pod_is_local(pod, node)}
            else:
                source = "none"
            endpoints = []
            for text, candidate in candidates.items():
                pod = by_address.get(candidate["address"])
                endpoints.append({
                    "endpoint": text, "address": candidate["address"], "port": candidate["port"],
                    "pod": pod.get("name") if pod else candidate.get("pod_name"),
                    "netns": pod.get("netns") if pod else None,
                    "ready": candidate["ready"], "serving": candidate["serving"],
                    "terminating": candidate["terminating"], "local": candidate["local"],
                    "chain": endpoint_chain_name(name, port["protocol"], text),
                })
            endpoints.sort(key=_endpoint_sort_key)
            usable = _usable(endpoints)
            # The Local policy falls back to terminating endpoints on its own: among this node's only.
            local = _usable([e for e in endpoints if e["local"]])
            records.append({
                "key": name, "namespace": service["namespace"], "name": service["name"],
                "port_name": port["port_name"], "protocol": port["protocol"],
                "cluster_ip": service["cluster_ip"], "port": port["port"], "node_port": port["node_port"],
                "target_port": port["target_port"], "type": service["type"],
                "external_ips": list(service["external_ips"]),
                "load_balancer_ips": list(service["load_balancer_ips"]),
                "load_balancer_source_ranges": list(service["load_balancer_source_ranges"]),
                "internal_traffic_policy": service["internal_traffic_policy"],
                "external_traffic_policy": service["external_traffic_policy"],
                "health_check_node_port": service["health_check_node_port"],
                "session_affinity": service["session_affinity"], "affinity_timeout": service["affinity_timeout"],
                "selector": dict(service["selector"]), "source": source,
                "chains": service_chain_names(name, port["protocol"]),
                "endpoints": usable,
                "local_endpoints": local,
                "not_ready": [e for e in endpoints if e not in usable and e not in local],
            })
    return records


def allows_node(source_ranges, node_ip):
    """kube-proxy's allowFromNode: a source range holds the node's IP, so the node's own connections to a load
    balancer IP it holds as a local address (which they then take as their source) are let through too."""
    if not node_ip:
        return False
    address = ipaddress.ip_address(node_ip)
    return any(address in ipaddress.ip_network(cidr) for cidr in source_ranges)


def traffic_policy_endpoints(record):
    """What kube-proxy's proxiers derive from a Service port's traffic policies, for both renderers.

    Returns dict: any (some endpoint is usable on some node), cluster and local (the
    record's endpoints and local_endpoints), internal_local (internalTrafficPolicy
    Local), internal (cluster IP traffic has endpoints: else it is rejected without any
    endpoint, dropped without a local one), externally (a node port, an external IP or a
    load balancer IP),
    external_local (externalTrafficPolicy Local on such a Service), external (external
    traffic that is not short-circuited has endpoints: else rejected without any,
    dropped without a local one), uses_cluster and uses_local (whether the Cluster and
    the Local policy chain are written: the cluster one for Cluster internal traffic or
    any external destination, since pod and node traffic to an external destination
    short-circuits to it; the local one for either policy Local), reachable (the
    endpoints either chain leads to, each once, in ``ip:port`` order).
    """
    cluster, local = record["endpoints"], record.get("local_endpoints") or []
    internal_local = record.get("internal_traffic_policy") == "Local"
    externally = bool(record.get("node_port") or record.get("external_ips") or record.get("load_balancer_ips"))
    external_local = externally and record.get("external_traffic_policy") == "Local"
    uses_cluster = bool(cluster) and (not internal_local or externally)
    uses_local = bool(local) and (internal_local or external_local)
    reachable = dict((e["endpoint"], e) for e in (cluster if uses_cluster else []) + (local if uses_local else []))
    return {"any": bool(cluster), "cluster": cluster, "local": local, "internal_local": internal_local,
            "internal": bool(local) if internal_local else bool(cluster), "externally": externally,
            "external_local": external_local, "external": bool(local) if external_local else bool(cluster),
            "uses_cluster": uses_cluster, "uses_local": uses_local,
            "reachable": [reachable[text] for text in sorted(reachable)]}
