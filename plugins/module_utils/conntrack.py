# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which UDP conntrack entries a sync makes stale, and the ``conntrack`` commands that delete them.

UDP has no connection to close: an entry that DNATs a client's datagrams to a pod lives on while
the client keeps sending (each datagram refreshes it), even after the pod left and the rules changed,
so the client keeps sending into the void. kube-proxy (pkg/proxy/conntrack) deletes, after each
sync that wrote the new rules:

* for each endpoint that left a UDP Service port: the entries whose original destination is the
  Service's cluster IP (and external IPs) and port and that were DNATed to the endpoint's address,
  and those to the NodePort DNATed to it;
* for each UDP Service port that gets its first endpoint: every entry to its cluster IP and port
  (and NodePort), which were hitting the REJECT or black hole of a Service without endpoints.

TCP needs none of that (a RST ends the connection); SCTP is left out here as the model's pods serve
none. Pure functions: :func:`udp_frontends` (what a plan serves), :func:`stale_filters` (the
decision), :func:`filter_argv` and :func:`parse_count` (the tool's command and answer).
"""

from __future__ import annotations

PROTOCOL = "udp"


def udp_frontends(plan_services):
    """The UDP Service ports of a renderer's plan, as JSON-able records for the sync record.

    Each: key, destinations (cluster IP, then external IPs, then load balancer IPs: every address
    kube-proxy clears stale entries for), port, node_port (or None), endpoints (sorted endpoint
    addresses).
    """
    result = []
    for record in plan_services:
        if str(record.get("protocol", "TCP")).lower() != PROTOCOL:
            continue
        destinations = [str(record["cluster_ip"])] + [str(ip) for ip in (record.get("external_ips") or [])
                                                      + (record.get("load_balancer_ips") or [])]
        result.append({
            "key": record["key"], "destinations": destinations, "port": int(record["port"]),
            "node_port": int(record["node_port"]) if record.get("node_port") else None,
            "endpoints": sorted(set(str(endpoint["address"]) for endpoint in record.get("endpoints") or [])),
        })
    return sorted(result, key=lambda item: item["key"])


def stale_filters(previous, current):
    """The conntrack filters to delete after moving from ``previous`` to ``current`` UDP frontends.

    ``previous`` is None when no earlier sync was recorded: every Service port with endpoints then
    counts as getting its first one (entries from before this owner's first sync are unknown).
    Returns a sorted list of filters: dict with key, why (``endpoint left`` or ``first endpoint``),
    destination (or None for a NodePort filter), port, and endpoint (the DNAT address, or None).
    """
    before = dict((item["key"], item) for item in previous or [])
    after = dict((item["key"], item) for item in current or [])
    filters = []

    def add(key, why, item, endpoint):
        for destination in item["destinations"]:
            filters.append({"key": key, "why": why, "destination": destination, "port": item["port"],
                            "endpoint": endpoint})
        if item.get("node_port"):
            filters.append({"key": key, "why": why, "destination": None, "port": item["node_port"],
                            "endpoint": endpoint})

    for key, old in before.items():
        new = after.get(key)
        kept = set(new["endpoints"]) if new else set()
        for endpoint in old["endpoints"]:
            if endpoint not in kept:
                # The old frontends: a Service that moved to another cluster IP or port left its endpoints there.
                add(key, "endpoint left", old, endpoint)
    for key, new in after.items():
        old = before.get(key)
        if new["endpoints"] and (previous is None or not old or not old["endpoints"]):
            add(key, "first endpoint", new, None)
    unique = dict((tuple(sorted((k, str(v)) for k, v in item.items())), item) for item in filters)
    return sorted(unique.values(), key=lambda item: (item["key"], item["why"], str(item["destination"]),
                                                     item["port"], str(item["endpoint"])))


def filter_argv(conntrack, operation, item):
    """The ``conntrack`` argv for one filter; ``operation`` is ``-D`` (delete) or ``-L`` (list, check mode)."""
    argv = [conntrack, operation, "-f", "ipv4", "-p", PROTOCOL]
    if item["destination"]:
        argv += ["--orig-dst", item["destination"]]
    argv += ["--orig-port-dst", str(item["port"])]
    if item["endpoint"]:
        argv += ["--dst-nat", item["endpoint"]]
    return argv


def parse_count(rc, stderr):
    """How many entries ``conntrack -D``/``-L`` deleted or showed, from its summary line; None when the tool failed.

    The tool exits 1 when no entry matched ("0 flow entries have been deleted"): not a failure.
    """
    for line in (stderr or "").splitlines():
        words = line.split()
        for index, word in enumerate(words[:-3]):
            if word.isdigit() and words[index + 1] == "flow" and words[index + 2] == "entries":
                return int(word)
    return 0 if rc == 0 else None
