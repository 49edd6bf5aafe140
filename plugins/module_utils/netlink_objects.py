# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One ensure function per object of a pod network: bridge, namespace, veth pair, route.

The CNI bridge plugin's shape (``ensureBridge``, ``setupVeth``, ``ensureAddr``): each
planner converges exactly one object and is safe to repeat. The bridge, netns, veth and
route modules each drive one of them; the pod_sync module drives all of them for every
pod of a node in one run. Planners are pure (parsed ``ip -json`` in, steps out); the
``converge_*`` functions and :class:`Namespace` read and change through an :class:`Ip`.
"""

from __future__ import annotations

import glob
import ipaddress
import json
import os
import re
import shutil
import signal
import time

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import iproute
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.iproute import (
    Ip, ValidationError, apply_and_replan, check_in_subnets, global_addresses, hairpin, is_up, link_by_index, link_by_name,
    link_kind, netns_by_id, netns_names, normalize_cidrs, parse_destination, parse_ip, plan_addresses, route_destination,
    validate_ifname, validate_netns_name)
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.state_dir import prune_empty_state_dir, write_atomic


# ---------------------------------------------------------------- bridge

MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def validate_bridge(params):
    """Check the arguments; return the normalized address list (None: leave addresses alone)."""
    validate_ifname(params["name"], "bridge name")
    mac = params.get("mac") or None
    if mac is not None and (not MAC_RE.match(mac.lower()) or int(mac[:2], 16) & 1 or mac.lower() == "00:00:00:00:00:00"):
        raise ValidationError("bridge mac %r must be a unicast MAC address such as 02:4b:38:00:00:01" % (mac,))
    if params["addresses"] is None:
        return None
    return normalize_cidrs(params["addresses"], "bridge address")


def bridge_state(name, link):
    if link is None:
        return {"name": name, "exists": False, "addresses": [], "up": False}
    return {"name": name, "exists": True, "addresses": global_addresses(link), "up": is_up(link)}


def plan_bridge(params, addresses, links):
    """Return (steps, predicted after-state) to converge the bridge; raise ValidationError on a foreign link."""
    name = params["name"]
    link = link_by_name(links, name)
    if link is not None and link_kind(link) != "bridge":
        raise ValidationError("link %s exists but is a %s, not a bridge; refusing to touch it"
                              % (name, link_kind(link) or "plain device"))
    before = bridge_state(name, link)
    if params["state"] == "absent":
        steps = [(None, ["link", "del", "dev", name])] if link is not None else []
        return steps, bridge_state(name, None)
    steps = []
    if link is None:
        steps.append((None, ["link", "add", "dev", name, "type", "bridge"]))
    after = dict(before, exists=True)
    mac = (params.get("mac") or "").lower()
    if mac and (link is None or link.get("address", "").lower() != mac):
        steps.append((None, ["link", "set", "dev", name, "address", mac]))
    if addresses is not None:
        steps += plan_addresses(before["addresses"], addresses, name)
        after["addresses"] = list(addresses)
    if params["up"] != before["up"]:
        steps.append((None, ["link", "set", "dev", name, "up" if params["up"] else "down"]))
    after["up"] = params["up"]
    return steps, after


def converge_bridge(module, ip, params, addresses):
    """Converge one bridge; return (changed, after, before). Fails the module on a foreign link."""
    name = params["name"]
    try:
        links = ip.links()
        before = bridge_state(name, link_by_name(links, name))
        steps, after = plan_bridge(params, addresses, links)
    except ValidationError as exc:
        module.fail_json(msg=str(exc), commands=ip.commands)

    def replan():
        # Converged? Removing a primary IPv4 address drops its secondaries: plan once more.
        links = ip.links()
        again, planned = plan_bridge(params, addresses, links)
        return again, planned, bridge_state(name, link_by_name(links, name))

    applied = apply_and_replan(ip, steps, replan)
    return bool(steps), (after if applied is None else applied), before


# ---------------------------------------------------------------- veth pair

UNNAMED = object()  # the peer lives in a namespace that `ip netns list` does not name


def validate_veth(params):
    """Check the arguments; return the normalized peer addresses (None: leave them alone)."""
    validate_ifname(params["name"], "veth name")
    validate_ifname(params["peer"], "veth peer name")
    if params["bridge"] is not None:
        validate_ifname(params["bridge"], "bridge name")
        if params["bridge"] in (params["name"], params["peer"]):
            raise ValidationError("bridge %s cannot be an end of the veth pair itself" % params["bridge"])
    if params["netns"] is not None:
        validate_netns_name(params["netns"])
    elif params["name"] == params["peer"]:
        raise ValidationError("name and peer are both %s; two links in the root namespace need different names"
                              % params["name"])
    if params["peer_addresses"] is None:
        return None
    return normalize_cidrs(params["peer_addresses"], "peer address")


def read_veth_world(ip, params):
    """Everything the planner needs: root links, named namespaces, links of the namespaces involved."""
    netns_list = ip.netns_list()
    world = {"root": ip.links(), "netns_list": netns_list, "links": {}}
    names = netns_names(netns_list)
    wanted = set()
    if params["netns"] in names:
        wanted.add(params["netns"])
    link = link_by_name(world["root"], params["name"])
    if link is not None and "link_netnsid" in link:
        other = netns_by_id(netns_list, link["link_netnsid"])
        if other is not None:
            wanted.add(other)
    for netns in sorted(wanted):
        world["links"][netns] = ip.links(netns)
    return world


def find_peer(link, world):
    """(namespace name, None for root or UNNAMED; peer link or None) of the veth end ``link`` in the root namespace."""
    if "link_netnsid" in link:
        netns = netns_by_id(world["netns_list"], link["link_netnsid"])
        if netns is None:
            return UNNAMED, None
        return netns, link_by_index(world["links"].get(netns), link.get("link_index"))
    peer = link_by_index(world["root"], link["link_index"]) if "link_index" in link else None
    if peer is None and link.get("link"):
        peer = link_by_name(world["root"], link["link"])
    return None, peer


def veth_state(params, link=None, netns=None, peer_link=None):
    if link is None:
        return {"name": params["name"], "peer": params["peer"], "exists": False, "netns": None, "bridge": None,
                "hairpin": False, "up": False, "peer_up": False, "peer_addresses": []}
    return {"name": params["name"], "peer": params["peer"], "exists": True, "netns": netns,
            "bridge": link.get("master"), "hairpin": hairpin(link), "up": is_up(link),
            "peer_up": bool(peer_link and is_up(peer_link)), "peer_addresses": global_addresses(peer_link)}


def resolve_existing(params, link, world):
    """Check that ``link`` is our veth and return (peer namespace, peer link)."""
    name, peer = params["name"], params["peer"]
    if link_kind(link) != "veth":
        raise ValidationError("link %s exists but is a %s, not a veth; refusing to touch it"
                              % (name, link_kind(link) or "plain device"))
    netns, peer_link = find_peer(link, world)
    if netns is UNNAMED:
        raise ValidationError("veth %s has its other end in a namespace without a name in `ip netns list` "
                              "(a container?); refusing to touch it" % name)
    if peer_link is None:
        raise ValidationError("cannot find the other end of veth %s" % name)
    if peer_link.get("ifname") != peer:
        raise ValidationError("veth %s exists but its other end is %s%s, not %s; refusing to touch it"
                              % (name, peer_link.get("ifname"), " in namespace %s" % netns if netns else "", peer))
    return netns, peer_link


def plan_veth_absent(params, world):
    name, peer, netns = params["name"], params["peer"], params["netns"]
    link = link_by_name(world["root"], name)
    if link is not None:
        resolve_existing(params, link, world)
        return [(None, ["link", "del", "dev", name])]
    if netns is not None and netns not in netns_names(world["netns_list"]):
        return []
    peer_link = link_by_name(world["root"] if netns is None else world["links"].get(netns), peer)
    if peer_link is None:
        return []
    if link_kind(peer_link) != "veth":
        raise ValidationError("link %s exists but is a %s, not a veth; refusing to delete it"
                              % (peer, link_kind(peer_link) or "plain device"))
    if netns is not None:
        # Its other end sits in the root namespace under another name: not our pair.
        other = link_by_index(world["root"], peer_link.get("link_index"))
        if other is not None and link_kind(other) == "veth" and other.get("link_index") == peer_link.get("ifindex"):
            raise ValidationError("veth %s in namespace %s belongs to %s, not %s; refusing to delete it"
                                  % (peer, netns, other.get("ifname"), name))
    return [(netns, ["link", "del", "dev", peer])]


def plan_veth_present(params, addresses, world, check_mode):
    """Return (steps, predicted after-state, warnings)."""
    name, peer, netns, bridge = params["name"], params["peer"], params["netns"], params["bridge"]
    warnings = []
    root = world["root"]
    target_links = root if netns is None else world["links"].get(netns, [])
    if netns is not None and netns not in netns_names(world["netns_list"]):
        message = "namespace %s does not exist; create it first (k8slab.kube_proxy.netns)" % netns
        if not check_mode:
            raise ValidationError(message)
        warnings.append(message + "; assuming an earlier task would have")
        target_links = []
    bridge_link = None
    if bridge is not None:
        bridge_link = link_by_name(root, bridge)
        if bridge_link is None:
            message = "bridge %s does not exist; create it first (k8slab.kube_proxy.bridge)" % bridge
            if not check_mode:
                raise ValidationError(message)
            warnings.append(message + "; assuming an earlier task would have")
        elif link_kind(bridge_link) != "bridge":
            raise ValidationError("link %s is a %s, not a bridge" % (bridge, link_kind(bridge_link) or "plain device"))
    if params["check_subnet"] and bridge_link is not None and addresses:
        check_in_subnets(addresses, global_addresses(bridge_link), "peer address", "bridge %s" % bridge)

    link = link_by_name(root, name)
    steps = []
    if link is None:
        if link_by_name(target_links, peer) is not None:
            raise ValidationError("%s does not exist but a link named %s already exists in %s; refusing to touch it"
                                  % (name, peer, "namespace %s" % netns if netns else "the root namespace"))
        args = ["link", "add", "dev", name, "type", "veth", "peer", "name", peer]
        if netns is not None:
            args += ["netns", netns]  # born inside the namespace: its name never clashes in the root namespace
        steps.append((None, args))
        current = veth_state(params)
        current["netns"] = netns
    else:
        current_ns, peer_link = resolve_existing(params, link, world)
        current = veth_state(params, link, current_ns, peer_link)
        if current_ns != netns:
            if netns is None:
                raise ValidationError("the peer %s is in namespace %s; moving it back to the root namespace is not "
                                      "supported: set netns, or delete the pair (state=absent)" % (peer, current_ns))
            if link_by_name(target_links, peer) is not None:
                raise ValidationError("namespace %s already has a link named %s" % (netns, peer))
            steps.append((current_ns, ["link", "set", "dev", peer, "netns", netns]))
            current.update(netns=netns, peer_up=False, peer_addresses=[])  # a move flushes both
    after = dict(current, exists=True)

    if bridge is not None and current["bridge"] != bridge:
        steps.append((None, ["link", "set", "dev", name, "master", bridge]))
        current["hairpin"] = False  # a new port starts with the bridge's defaults
        after["bridge"] = bridge
    if after["bridge"] is not None:
        if params["hairpin"] != current["hairpin"]:
            steps.append((None, ["link", "set", "dev", name, "type", "bridge_slave",
                                 "hairpin", "on" if params["hairpin"] else "off"]))
        after["hairpin"] = params["hairpin"]
    elif params["hairpin"]:
        raise ValidationError("hairpin needs %s to be a bridge port; give bridge" % name)
    if not current["up"]:
        steps.append((None, ["link", "set", "dev", name, "up"]))
    if not current["peer_up"]:
        steps.append((netns, ["link", "set", "dev", peer, "up"]))
    after.update(up=True, peer_up=True)
    if addresses is not None:
        steps += plan_addresses(current["peer_addresses"], addresses, peer, netns)
        after["peer_addresses"] = list(addresses)
    return steps, after, warnings


def plan_veth(params, addresses, world, check_mode=False):
    """Return (steps, before, after, warnings); raise ValidationError for input or state we refuse."""
    link = link_by_name(world["root"], params["name"])
    before = veth_state(params)
    if link is not None and link_kind(link) == "veth":
        netns, peer_link = find_peer(link, world)
        if netns is not UNNAMED and peer_link is not None and peer_link.get("ifname") == params["peer"]:
            before = veth_state(params, link, netns, peer_link)
    if params["state"] == "absent":
        return plan_veth_absent(params, world), before, veth_state(params), []
    steps, after, warnings = plan_veth_present(params, addresses, world, check_mode)
    return steps, before, after, warnings


def converge_veth(module, ip, params, addresses, quiet=False):
    """Converge one pair; return (changed, after, before).

    In check mode a missing namespace or bridge is assumed made by an earlier task, with a warning
    unless ``quiet`` (the caller makes them itself, in the same run).
    """
    try:
        steps, before, after, warnings = plan_veth(params, addresses, read_veth_world(ip, params), module.check_mode)
    except ValidationError as exc:
        module.fail_json(msg=str(exc), commands=ip.commands)
    for warning in [] if quiet else warnings:
        module.warn(warning)

    def replan():
        # Converged? Plan again against what the kernel now says; repeat once if needed.
        again, now, planned, dummy = plan_veth(params, addresses, read_veth_world(ip, params))
        return again, planned, now

    applied = apply_and_replan(ip, steps, replan)
    return bool(steps), (after if applied is None else applied), before


# ---------------------------------------------------------------- route

DEFAULT_METRIC = {4: 0, 6: 1024}


def validate_route(params):
    """Check the arguments; return (destination, gateway or None, family)."""
    if params["netns"] is not None:
        validate_netns_name(params["netns"])
    if params["device"] is not None:
        validate_ifname(params["device"], "device")
    if params["metric"] is not None and not 0 <= params["metric"] <= 4294967295:
        raise ValidationError("metric %s is out of range 0..4294967295" % params["metric"])
    destination = parse_destination(params["destination"])
    gateway = parse_ip(params["gateway"], "gateway") if params["gateway"] is not None else None
    family = 4
    if destination != "default":
        family = ipaddress.ip_network(destination).version
    elif gateway is not None:
        family = gateway.version
    if gateway is not None and gateway.version != family:
        raise ValidationError("gateway %s is IPv%d but destination %s is IPv%d" % (gateway, gateway.version, destination, family))
    if params["state"] == "present" and gateway is None and params["device"] is None:
        raise ValidationError("a route needs a gateway, a device or both")
    return destination, (str(gateway) if gateway is not None else None), family


def simple(route):
    """The parts of an `ip -json route` entry the module manages."""
    return {"gateway": route.get("gateway"), "device": route.get("dev"), "metric": route.get("metric", 0)}


def owned_routes(routes, destination, metric):
    """The unicast routes to ``destination`` (with ``metric`` when given) that this module manages."""
    result = []
    for route in routes:
        if route.get("type", "unicast") != "unicast" or route_destination(route) != destination:
            continue
        if metric is not None and route.get("metric", 0) != metric:
            continue
        result.append(route)
    return result


def matches(route, gateway, device, metric):
    if "nexthops" in route:
        return False
    if gateway is not None and route.get("gateway") != gateway:
        return False
    if device is not None and route.get("dev") != device:
        return False
    if metric is not None and route.get("metric", 0) != metric:
        return False
    return True


def delete_step(netns, family, destination, route):
    args = ["-%d" % family, "route", "del", destination]
    if route.get("gateway"):
        args += ["via", route["gateway"]]
    if route.get("dev"):
        args += ["dev", route["dev"]]
    args += ["metric", str(route.get("metric", 0))]
    return (netns, args)


def plan_route(params, destination, gateway, family, routes):
    """Return (steps, routes after) for the routes to ``destination``; ``routes`` is `ip -json route` output."""
    netns, device, metric = params["netns"], params["device"], params["metric"]
    owned = owned_routes(routes, destination, metric)
    if params["state"] == "absent":
        gone = [route for route in owned if matches(route, gateway, device, metric)]
        return ([delete_step(netns, family, destination, route) for route in gone],
                [route for route in owned if route not in gone])
    good = [route for route in owned if matches(route, gateway, device, metric)]
    if good:
        keep = good[0]
        return [delete_step(netns, family, destination, route) for route in owned if route is not keep], [keep]
    new_metric = metric if metric is not None else DEFAULT_METRIC[family]
    args = ["-%d" % family, "route", "replace", destination]
    if gateway is not None:
        args += ["via", gateway]
    if device is not None:
        args += ["dev", device]
    if metric is not None:
        args += ["metric", str(metric)]
    steps = [(netns, args)]
    # `replace` overwrites the route with the same metric; the others are deleted afterwards, so the
    # destination never goes without a route.
    steps += [delete_step(netns, family, destination, route) for route in owned
              if route.get("metric", 0) != new_metric]
    new = {"dst": destination, "metric": new_metric}
    if gateway is not None:
        new["gateway"] = gateway
    if device is not None:
        new["dev"] = device
    return steps, [new]


def describe_route(params, destination, gateway, routes_after):
    """The `route` return value: the route that now exists, or what was asked for when none does."""
    if routes_after and params["state"] == "present":
        return dict(simple(routes_after[0]), netns=params["netns"], destination=destination, exists=True)
    return {"netns": params["netns"], "destination": destination, "gateway": gateway, "device": params["device"],
            "metric": params["metric"], "exists": False}


def converge_route(module, ip, params, checked, quiet=False):
    """Converge one route; return (changed, route, diff before, diff after)."""
    netns = params["netns"]
    destination, gateway, family = checked
    try:
        missing = None
        if netns is not None and netns not in netns_names(ip.netns_list()):
            missing = "namespace %s does not exist; create it first (k8slab.kube_proxy.netns)" % netns
        elif params["state"] == "present" and params["device"] is not None \
                and link_by_name(ip.links(netns), params["device"]) is None:
            missing = "device %s does not exist%s" % (params["device"], " in namespace %s" % netns if netns else "")
        if missing and params["state"] == "present" and not module.check_mode:
            raise ValidationError(missing)
    except ValidationError as exc:
        module.fail_json(msg=str(exc), commands=ip.commands)
    if missing:
        if params["state"] == "present" and not quiet:
            module.warn(missing + "; assuming an earlier task would have")
        routes = []
    else:
        routes = ip.routes(family, netns)
    before = owned_routes(routes, destination, params["metric"])
    steps, after = plan_route(params, destination, gateway, family, routes)

    def replan():
        routes = ip.routes(family, netns)
        again, planned = plan_route(params, destination, gateway, family, routes)
        return again, planned, routes

    def not_converged(routes):
        return "the routes to %s did not converge: %s" % (destination, owned_routes(routes, destination, params["metric"]))

    applied = apply_and_replan(ip, steps, replan, not_converged)
    after = after if applied is None else applied
    return (bool(steps), describe_route(params, destination, gateway, after),
            {"netns": netns, "destination": destination, "routes": [simple(route) for route in before]},
            {"netns": netns, "destination": destination, "routes": [simple(route) for route in after]})


# ---------------------------------------------------------------- network namespace

RESOLV_MODE = 0o644
OWNER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
RECORD_VERSION = 1


def resolv_conf_text(nameservers):
    """The whole resolv.conf the module writes: one nameserver line per entry."""
    return "".join("nameserver %s\n" % server for server in nameservers)


def parse_resolv_conf(text):
    """Nameservers listed in a resolv.conf text, in order."""
    result = []
    for line in (text or "").splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            result.append(fields[1])
    return result


def validate_netns(params):
    """Check every argument before anything is read or changed; return normalized nameservers."""
    validate_netns_name(params["name"])
    if params.get("owner") is not None and not OWNER_RE.match(params["owner"]):
        raise ValidationError("owner %r must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"
                              % (params["owner"],))
    if params["nameservers"] is None:
        return None
    return [str(parse_ip(server, "nameserver")) for server in params["nameservers"]]


def plan_netns_present(name, exists, lo_link):
    """Steps that create the namespace and bring its loopback up."""
    steps = []
    if not exists:
        steps.append((None, ["netns", "add", name]))
    if not exists or lo_link is None or not is_up(lo_link):
        steps.append((name, ["link", "set", "dev", "lo", "up"]))
    return steps


def plan_netns_absent(name, exists):
    return [(None, ["netns", "delete", name])] if exists else []


def parse_pids(text):
    return [int(word) for word in (text or "").split() if word.isdigit()]


def recorded_namespaces(state_dir, owner):
    """The namespaces whose record says ``owner`` created them, sorted (the records of :class:`Namespace`)."""
    directory = os.path.join(state_dir, owner)
    if not os.path.isdir(directory):
        return []
    return sorted(name for name in os.listdir(directory)
                  if not name.startswith(".") and os.path.isfile(os.path.join(directory, name)))


class Namespace:
    """One namespace: ``params`` are the module's (or, in the list form, one item's merged with them)."""

    def __init__(self, module, params=None, ip=None):
        self.module = module
        self.params = params if params is not None else module.params
        self.name = self.params["name"]
        self.ip = ip if ip is not None else Ip(module)
        self.etc_dir = os.path.join(iproute.ETC_NETNS, self.name)
        self.resolv_path = os.path.join(self.etc_dir, "resolv.conf")
        self.owner = self.params.get("owner")
        self.state_dir = self.params.get("state_dir") or "/var/lib/k8slab/netns"
        self.record_path = os.path.join(self.state_dir, self.owner, self.name) if self.owner else None

    # ------------------------------------------------------------ ownership records
    def recorded_owners(self):
        """Every owner that recorded creating this namespace (normally none or one)."""
        pattern = os.path.join(glob.escape(self.state_dir), "*", glob.escape(self.name))
        return sorted(os.path.basename(os.path.dirname(path)) for path in glob.glob(pattern))

    def owned(self):
        if not os.path.exists(self.record_path):
            return False
        try:
            with open(self.record_path) as handle:
                data = json.load(handle)
            if data.get("version") != RECORD_VERSION or data.get("netns") != self.name or data.get("owner") != self.owner:
                raise ValueError("it is not a version %d record of namespace %s for owner %s"
                                 % (RECORD_VERSION, self.name, self.owner))
        except (OSError, ValueError) as exc:
            self.module.fail_json(
                msg="cannot read the ownership record %s: %s. Nothing was changed. If namespace %s was created by "
                    "k8slab, write the record again with: echo '%s' > %s; otherwise delete the file."
                    % (self.record_path, exc, self.name, self.record_text().strip(), self.record_path),
                commands=[])
        return True

    def record_text(self):
        return json.dumps({"version": RECORD_VERSION, "owner": self.owner, "netns": self.name}) + "\n"

    def write_record(self):
        write_atomic(self.record_path, self.record_text(), 0o644)

    def remove_record(self):
        if os.path.exists(self.record_path):
            os.unlink(self.record_path)
        prune_empty_state_dir(os.path.dirname(self.record_path))
        prune_empty_state_dir(self.state_dir)

    def read_resolv(self):
        """(text, mode) of the namespace's resolv.conf, (None, None) when missing."""
        try:
            with open(self.resolv_path) as handle:
                text = handle.read()
            return text, os.stat(self.resolv_path).st_mode & 0o7777
        except FileNotFoundError:
            return None, None

    def read_state(self):
        exists = self.name in netns_names(self.ip.netns_list())
        lo_link = link_by_name(self.ip.links(self.name), "lo") if exists else None
        text = self.read_resolv()[0]
        return {
            "name": self.name,
            "exists": exists,
            "lo_up": bool(lo_link and is_up(lo_link)),
            "nameservers": None if text is None else parse_resolv_conf(text),
        }, lo_link

    def pids(self):
        return parse_pids(self.ip.read_now(["netns", "pids", self.name]))

    def write_resolv(self, text):
        """Write resolv.conf atomically (creating /etc/netns/NAME); in check mode only record it."""
        self.ip.act("write %s" % self.resolv_path, write_atomic, self.resolv_path, text, RESOLV_MODE)

    def remove_etc_dir(self):
        """Remove /etc/netns/NAME (or whatever stands there); in check mode only record it."""
        if os.path.isdir(self.etc_dir) and not os.path.islink(self.etc_dir):
            self.ip.act("remove %s" % self.etc_dir, shutil.rmtree, self.etc_dir)
        else:
            self.ip.act("remove %s" % self.etc_dir, os.unlink, self.etc_dir)

    def stop_processes(self, pids):
        """SIGTERM, wait up to 5 s, then SIGKILL; fail if anything survives."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.time() + 5
            while time.time() < deadline:
                pids = self.pids()
                if not pids:
                    return
                time.sleep(0.1)
        self.module.fail_json(msg="processes %s in namespace %s survived SIGKILL" % (pids, self.name),
                              commands=self.ip.commands)

    def refusal(self, exists, owned):
        """Why this owner may not make the namespace present (someone else's), or None."""
        if not self.owner or self.params["state"] != "present":
            return None
        others = [owner for owner in self.recorded_owners() if owner != self.owner]
        if others:
            return ("namespace %s is recorded as created by owner %s, not by %s; two owners cannot share a namespace"
                    % (self.name, ", ".join(others), self.owner))
        if exists and not owned:
            return ("namespace %s already exists and was not created by owner %s (no record %s); k8slab never "
                    "takes over a namespace it did not create. Give the pod another netns, or remove the "
                    "namespace yourself if it is a leftover." % (self.name, self.owner, self.record_path))
        return None

    def run(self, nameservers):
        before, lo_link = self.read_state()
        after = dict(before)
        changed = False
        result = {}
        owned = self.owned() if self.owner else None
        if self.owner:
            result.update(owned=owned, record=self.record_path)
            refusal = self.refusal(before["exists"], owned)
            if refusal:
                self.module.fail_json(msg=refusal, commands=[], **result)
            if self.params["state"] == "absent" and not owned:
                if before["exists"]:
                    self.module.warn("namespace %s was not created by owner %s (no record %s); left alone"
                                     % (self.name, self.owner, self.record_path))
                result.update(changed=False, commands=[], netns=dict(before, resolv_conf=self.resolv_path))
                if self.module._diff:
                    result["diff"] = {"before": before, "after": before}
                return result
        if self.params["state"] == "present":
            if self.owner and not owned and not self.module.check_mode:
                self.write_record()  # before creating it: a run killed in between leaves nothing unrecorded
                result["owned"] = True
            steps = plan_netns_present(self.name, before["exists"], lo_link)
            self.ip.apply(steps)
            changed = bool(steps)
            after.update(exists=True, lo_up=True)
            if nameservers is not None:
                text, mode = self.read_resolv()
                wanted = resolv_conf_text(nameservers)
                if text != wanted or mode != RESOLV_MODE:
                    changed = True
                    self.write_resolv(wanted)
                after["nameservers"] = list(nameservers)
        else:
            killed = []
            if before["exists"]:
                pids = self.pids()
                if pids and not self.params["force"]:
                    self.module.fail_json(
                        msg="namespace %s still has processes %s; stop them or set force=true" % (self.name, pids),
                        pids=pids, commands=[])
                if pids:
                    killed = pids
                    if not self.module.check_mode:
                        self.stop_processes(pids)
            steps = plan_netns_absent(self.name, before["exists"])
            self.ip.apply(steps)
            changed = bool(steps)
            if os.path.lexists(self.etc_dir):
                changed = True
                self.remove_etc_dir()
            after.update(exists=False, lo_up=False, nameservers=None)
            result["killed_pids"] = killed
            if self.owner and not self.module.check_mode:
                self.remove_record()
                result["owned"] = False
        if changed and not self.module.check_mode:
            after = self.read_state()[0]
        result.update(changed=changed, commands=self.ip.commands,
                      netns=dict(after, resolv_conf=self.resolv_path))
        if self.module._diff:
            result["diff"] = {"before": before, "after": after}
        return result
