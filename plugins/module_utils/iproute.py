# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared code of the netns, bridge, veth and route modules.

Three layers, kept apart so the middle one can be unit tested with canned
``ip -json`` output and no root:

* validation helpers (interface and namespace names, IPs, CIDRs, route destinations);
* pure readers and planners: they take parsed ``ip -json`` data and return
  *steps*, ``(netns, args)`` tuples meaning ``ip [-n netns] args...``;
* :class:`Ip`, the collection's :class:`Runner` for ``ip``: always an argv
  list, reads even in check mode, changes only outside check mode, and every
  change it runs (or would run) recorded for the module's ``commands`` return
  value; :func:`apply_and_replan` applies steps and plans once more.
"""

from __future__ import annotations

import ipaddress
import json

from ansible_collections.k8slab.kube_proxy.plugins.module_utils.names import ifname_problem, netns_problem
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.runner import Runner

ETC_NETNS = "/etc/netns"


class ValidationError(ValueError):
    """Bad input or a state the module refuses to touch; raised before any change."""


# ---------------------------------------------------------------- validation

def _named(what, name, problem):
    if problem is None:
        return name
    if problem.startswith("must"):
        raise ValidationError("%s %s" % (what, problem))
    raise ValidationError("%s %r %s" % (what, name, problem))


def validate_ifname(name, what="interface name"):
    """Return ``name`` if it is a legal interface name, else raise ValidationError."""
    return _named(what, name, ifname_problem(name))


def validate_netns_name(name, what="namespace name"):
    """Return ``name`` if it can be an `ip netns` name (a file under /run/netns)."""
    return _named(what, name, netns_problem(name))


def parse_ip(value, what="IP address"):
    """Return an ipaddress.ip_address for ``value`` (no prefix length allowed)."""
    try:
        if "/" in str(value):
            raise ValueError("has a prefix length")
        return ipaddress.ip_address(str(value))
    except ValueError as exc:
        raise ValidationError("%s %r is not a valid IPv4 or IPv6 address (%s)" % (what, value, exc))


def parse_cidr(value, what="address"):
    """Return an ipaddress.ip_interface for an address with prefix length like ``10.0.0.1/24``."""
    text = str(value)
    if "/" not in text:
        raise ValidationError("%s %r needs a prefix length, e.g. 10.0.0.11/24" % (what, value))
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError as exc:
        raise ValidationError("%s %r is not a valid address with prefix length (%s)" % (what, value, exc))
    return iface


def normalize_cidrs(values, what="address"):
    """Validate a list of CIDR addresses; return them normalized, deduplicated, in order."""
    result = []
    seen_ips = {}
    for value in values or []:
        iface = parse_cidr(value, what)
        text = str(iface)
        if str(iface.ip) in seen_ips and seen_ips[str(iface.ip)] != text:
            raise ValidationError("%s %s is given twice with different prefix lengths (%s and %s)"
                                  % (what, iface.ip, seen_ips[str(iface.ip)], text))
        if text not in result:
            result.append(text)
            seen_ips[str(iface.ip)] = text
    return result


def parse_destination(value):
    """Return ``'default'`` or a normalized network string for a route destination."""
    if value is None or str(value) == "default":
        return "default"
    text = str(value)
    if "/" not in text:
        raise ValidationError("route destination %r must be 'default' or a network with prefix length, e.g. 10.96.0.0/12"
                              % (value,))
    try:
        return str(ipaddress.ip_network(text, strict=True))
    except ValueError as exc:
        raise ValidationError("route destination %r is not a valid network (%s); host bits must be zero" % (value, exc))


# ---------------------------------------------------------------- readers

def parse_json(text):
    """Parse `ip -json` output; old iproute2 prints nothing for an empty list."""
    text = (text or "").strip()
    if not text:
        return []
    return json.loads(text)


def split_json_texts(text):
    """The JSON documents of ``ip -json -batch``'s output (one per command, one after the other), each as text;
    [] when the output is not such a sequence."""
    decoder, texts, at = json.JSONDecoder(), [], 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            return texts
        try:
            dummy, end = decoder.raw_decode(text, at)
        except ValueError:
            return []
        texts.append(text[at:end])
        at = end


def link_by_name(links, name):
    """The link called exactly ``name`` (never a prefix or substring match), or None."""
    for link in links or []:
        if link.get("ifname") == name:
            return link
    return None


def link_by_index(links, ifindex):
    for link in links or []:
        if ifindex is not None and link.get("ifindex") == ifindex:
            return link
    return None


def link_kind(link):
    """The link type (``bridge``, ``veth``, ...) from `ip -details`, None for plain devices."""
    return (link.get("linkinfo") or {}).get("info_kind")


def is_up(link):
    """Administrative state: the UP flag that `ip link set up` sets (not the carrier)."""
    return "UP" in (link.get("flags") or [])


def global_addresses(link):
    """The link's scope-global IPv4/IPv6 addresses as normalized CIDR strings, in kernel order."""
    result = []
    for info in (link or {}).get("addr_info") or []:
        if info.get("family") not in ("inet", "inet6") or info.get("scope") != "global":
            continue
        if "local" not in info or "prefixlen" not in info:
            continue
        result.append(str(ipaddress.ip_interface("%s/%s" % (info["local"], info["prefixlen"]))))
    return result


def hairpin(link):
    """Hairpin mode of a bridge port, False when the link is not a bridge port."""
    data = (link.get("linkinfo") or {}).get("info_slave_data") or {}
    value = data.get("hairpin", False)
    if isinstance(value, str):
        return value.lower() in ("on", "true", "1")
    return bool(value)


def netns_names(netns_list):
    """Names from `ip -json netns list`, exact strings."""
    return [entry.get("name") for entry in netns_list or [] if entry.get("name")]


def netns_by_id(netns_list, nsid):
    """Name of the namespace `ip netns list` shows with id ``nsid`` (as seen from where we read it)."""
    for entry in netns_list or []:
        if nsid is not None and entry.get("id") == nsid:
            return entry.get("name")
    return None


def route_destination(route):
    """Normalize the `dst` of an `ip -json route` entry (host routes come without /32)."""
    dst = route.get("dst", "default")
    if dst == "default":
        return dst
    if "/" not in dst:
        dst = "%s/%d" % (dst, ipaddress.ip_address(dst).max_prefixlen)
    return str(ipaddress.ip_network(dst, strict=False))


# ---------------------------------------------------------------- planners

def plan_addresses(current, desired, dev, netns=None):
    """Steps that make the global addresses of ``dev`` exactly ``desired``.

    Removes first, then adds: deleting an IPv4 primary also drops its
    secondaries, which the modules repair by planning again after applying.
    """
    steps = []
    for cidr in current:
        if cidr not in desired:
            steps.append((netns, ["address", "del", cidr, "dev", dev]))
    for cidr in desired:
        if cidr not in current:
            steps.append((netns, ["address", "add", cidr, "dev", dev]))
    return steps


def check_in_subnets(addresses, subnet_addresses, what, where):
    """Every address must lie in the subnet of one of ``subnet_addresses`` and not be one of them."""
    if not subnet_addresses:
        raise ValidationError("%s has no addresses, so %s cannot be checked against its subnet "
                              "(give it addresses first, or set check_subnet=false)" % (where, what))
    nets = [ipaddress.ip_interface(cidr) for cidr in subnet_addresses]
    for cidr in addresses:
        iface = ipaddress.ip_interface(cidr)
        if any(iface.ip == net.ip for net in nets):
            raise ValidationError("%s %s is the address of %s itself" % (what, cidr, where))
        if not any(iface.version == net.version and iface.ip in net.network
                   for net in nets):
            raise ValidationError("%s %s is not in the subnet of %s (%s); set check_subnet=false to allow it"
                                  % (what, cidr, where, ", ".join(str(net.network) for net in nets)))


# ---------------------------------------------------------------- running ip

class Ip(Runner):
    """The runner for `ip`: reads always, changes only outside check mode, every change in ``commands``."""

    def __init__(self, module, cache=False):
        super(Ip, self).__init__(module)
        self.ip_bin = self.bin("ip")
        # With cache, a read is answered from the last identical read until the next change: the list forms
        # of the modules converge many objects in one run and would otherwise read the same state per object.
        self.cache = {} if cache else None

    def argv(self, args, netns=None):
        prefix = [self.ip_bin]
        if netns:
            prefix += ["-n", netns]
        return prefix + [str(arg) for arg in args]

    def _run(self, argv):
        rc, out, err = self.run(argv)
        return self._checked(argv, rc, out, err)

    def _checked(self, argv, rc, out, err):
        if rc != 0:
            self.module.fail_json(msg="%s failed: %s" % (" ".join(argv), (err or out).strip()),
                                  rc=rc, cmd=argv, stdout=out, stderr=err, commands=self.commands)
        return out

    def read(self, args, netns=None):
        """Run a read-only `ip` command (also in check mode) and return its stdout."""
        argv = self.argv(args, netns)
        if self.cache is None:
            return self._run(argv)
        key = tuple(argv)
        if key not in self.cache:
            self.cache[key] = self._run(argv)
        return self.cache[key]

    def read_now(self, args, netns=None):
        """:meth:`read`, never from the cache: for state that changes without this runner (processes)."""
        return self._run(self.argv(args, netns))

    def read_json(self, args, netns=None):
        """:meth:`read` of ``ip -json``, parsed. With the cache, parsed once until the next change: the list forms
        read the root namespace's links once per object, and parsing them again each time (a hundred pods' veth
        ends) cost more than the rest of a run with nothing to change. What it returns is shared, so callers
        never change it (the planners build their own dicts)."""
        args = ["-json"] + list(args)
        if self.cache is None:
            return parse_json(self.read(args, netns))
        key = ("parsed",) + tuple(self.argv(args, netns))
        if key not in self.cache:
            self.cache[key] = parse_json(self.read(args, netns))
        return self.cache[key]

    def read_json_together(self, reads):
        """:meth:`read_json` of each ``(args, netns)`` in ``reads``, in order; with the cache, the reads not cached
        yet run side by side (:meth:`Runner.read_together`) first: one read per pod namespace adds up to a
        hundred ``ip`` processes on a node with a hundred pods."""
        if self.cache is not None:
            missing = list(dict.fromkeys(tuple(self.argv(["-json"] + list(args), netns)) for args, netns in reads))
            missing = [key for key in missing if key not in self.cache]
            for key, (rc, out, err) in zip(missing, self.read_together([(list(key), None) for key in missing])):
                self.cache[key] = self._checked(list(key), rc, out, err)
        return [self.read_json(args, netns) for args, netns in reads]

    def change(self, args, netns=None):
        """Record a changing `ip` command; run it unless in check mode."""
        argv = self.argv(args, netns)
        self.commands.append(argv)
        self.changes.append(argv)
        if self.cache:
            self.cache.clear()
        if not self.module.check_mode:
            self._run(argv)

    def apply(self, steps):
        for netns, args in steps:
            self.change(args, netns)

    def prefetch(self, netns_names):
        """Fill the cache with :meth:`links` and :meth:`routes` (IPv4) of each namespace in ``netns_names``, one
        ``ip -batch`` per namespace instead of two reads: a list form over a hundred pods would otherwise start
        two hundred ``ip`` processes just to find nothing to change. Both commands of a batch share the global
        ``-json -details``; without a family ``ip route show`` lists IPv4 only (as ``-4`` does), and ``-details``
        only adds the route's type, protocol and scope, which no planner reads beyond ``type`` (unicast by
        default). The namespaces' batches run side by side (:meth:`Runner.read_together`). A namespace whose batch
        fails (gone meanwhile) is left to the ordinary reads. Without the cache it does nothing."""
        if self.cache is None:
            return
        wanted = {}  # namespace -> the cache keys its batch fills
        for name in netns_names:
            keys = [tuple(self.argv(["-json", "-details", "address", "show"], name)),
                    tuple(self.argv(["-json", "-4", "route", "show", "table", "main"], name))]
            if not all(key in self.cache for key in keys):
                wanted[name] = keys
        # Side by side: each read is mostly the start of an ip process.
        batches = [(self.argv(["-json", "-details", "-batch", "-"], name), "address show\nroute show table main\n")
                   for name in wanted]
        for keys, (rc, out, dummy) in zip(wanted.values(), self.read_together(batches)):
            texts = split_json_texts(out) if rc == 0 else []
            if len(texts) == len(keys):
                self.cache.update(zip(keys, texts))

    # The reads every module needs.
    def netns_list(self):
        return self.read_json(["netns", "list"])

    def links(self, netns=None):
        """Links with details and addresses, root namespace or ``netns``."""
        return self.read_json(["-details", "address", "show"], netns)

    def routes(self, family, netns=None):
        return self.read_json(["-%d" % family, "route", "show", "table", "main"], netns)


def apply_and_replan(ip, steps, replan, not_converged=None):
    """Apply ``steps``; outside check mode, plan again against what the kernel now says.

    ``replan()`` reads the state again and returns ``(steps, after, now)``: the
    steps still needed, the state they lead to, and the state just read. One
    change can undo another (deleting a primary IPv4 address drops its
    secondaries), so what is still needed is applied once more and the state
    read back; with ``not_converged`` (``now`` -> message) the module fails
    instead. Returns the state after, or None when nothing ran (no steps, or check mode).
    """
    ip.apply(steps)
    if not steps or ip.module.check_mode:
        return None
    try:
        again, after, now = replan()
        if again:
            if not_converged is not None:
                ip.module.fail_json(msg=not_converged(now), commands=ip.commands)
            ip.apply(again)
            after = replan()[2]
    except ValidationError as exc:
        ip.module.fail_json(msg="after changing: %s" % exc, commands=ip.commands)
    return after


# ---------------------------------------------------------------- list forms

class ListForm:
    """The one contract of the list forms: netns ``namespaces``, veth ``pairs``, route ``routes``.

    ``item_keys`` are the options an item carries. Of those, the ones in ``defaults`` may also be given at
    the top level, where they are the default of every item that leaves them out; every other item key is
    refused beside the list (it describes one object, the list many). Every top-level option that is not
    an item key (state, owner, bridge, ...) applies to every item. ``identity(item)`` returns the
    ``(what, key)`` pairs that must be unique across the items (an object listed twice is an error).
    """

    def __init__(self, key, item_keys, defaults=(), identity=None):
        self.key = key
        self.item_keys = tuple(item_keys)
        self.defaults = tuple(defaults)
        self.identity = identity

    def refused(self):
        return [key for key in self.item_keys if key not in self.defaults]

    def items(self, params):
        """The parameters of each item, merged with the top-level ones; ValidationError before any change."""
        given = [key for key in self.refused() if params.get(key) is not None]
        if given:
            raise ValidationError("%s cannot be given beside %s; set %s on each item instead"
                                  % (", ".join(given), self.key, "it" if len(given) == 1 else "them"))
        shared = dict((key, value) for key, value in params.items() if key != self.key)
        result = []
        seen = set()
        for item in params[self.key]:
            merged = dict(shared)
            for key in self.item_keys:
                if key not in self.defaults or item.get(key) is not None:
                    merged[key] = item.get(key)
            for what, key in (self.identity(merged) if self.identity else []):
                if key in seen:
                    raise ValidationError("%s is listed twice" % what)
                seen.add(key)
            result.append(merged)
        return result

    def run(self, module, validate, converge):
        """Check every item, then converge them in order with one cached :class:`Ip`.

        ``validate(item)`` returns what ``converge(module, ip, item, checked)`` needs, which returns
        ``(changed, value, diff before, diff after)``. Returns the module result (``changed``, ``commands``,
        the values under the list's key, ``diff``) and the converge results, for extra return values.
        """
        try:
            items = self.items(module.params)
            checked = [validate(item) for item in items]
        except ValidationError as exc:
            module.fail_json(msg=str(exc), commands=[])
        ip = Ip(module, cache=True)
        done = [converge(module, ip, item, one) for item, one in zip(items, checked)]
        result = {"changed": any(one[0] for one in done), "commands": ip.commands, self.key: [one[1] for one in done]}
        if module._diff:
            result["diff"] = {"before": {self.key: [one[2] for one in done]},
                              "after": {self.key: [one[3] for one in done]}}
        return result, done
