# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Connections traced on several nodes by packet_trace, joined into one path each."""

from __future__ import annotations

DOCUMENTATION = r"""
name: trace_paths
short_description: Join the connections packet_trace traced on several nodes into one path each
version_added: 0.2.0
description:
  - Takes the RV(k8slab.kube_proxy.packet_trace#module:connections) of M(k8slab.kube_proxy.packet_trace) from
    several nodes (one run that opened the connections, the others watching with O(k8slab.kube_proxy.packet_trace#module:watch=true))
    and returns each connection once, as the path it took from node to node.
  - A connection traced on one node goes on as one traced on another when the packet that left the first (its
    C(left), the source after the masquerade, as the reply showed it, and the destination after the DNAT) is the
    one that came to the second (its C(entered)), addresses and ports, the exact 4-tuple. A connection the first
    node masqueraded without a traced reply (the new source unknown) joins nothing; kube-proxy masquerades with
    C(--random-fully), so the source port does not tell it either.
positional: ""
options:
  _input:
    description:
      - The nodes' connections, in the order to read the nodes, as a list of V([NODE, CONNECTIONS]) pairs or a
        dict of V(NODE) to V(CONNECTIONS).
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: One path per connection, node 1 (which opened them) then node 2 (which watched)
  ansible.builtin.debug:
    msg: "{{ [['node-1', opened.connections], ['node-2', watched.connections]] | k8slab.kube_proxy.trace_paths
             | map(attribute='text') | flatten }}"
"""

RETURN = r"""
_value:
  description:
    - One path per connection, in the order their first legs began. C(client) and C(service) (V(ADDRESS:PORT),
      as the first node saw them); C(nodes), the nodes it went through, in order; C(legs), its connection on each
      node (as packet_trace returns it, with C(node)); C(dnat), the last DNAT; C(answered), where it ended (the last
      leg's DNAT or destination); C(problems); C(text), the path as a learner reads it, one line per element.
  type: list
  elements: dict
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import packet_trace


def trace_paths(traces):
    """[(node, connections)] or {node: connections} -> paths (packet_trace.join_nodes), each with its text."""
    if isinstance(traces, Mapping):
        traces = list(traces.items())
    try:
        pairs = [(node, list(found or [])) for node, found in traces]
    except (TypeError, ValueError):
        raise AnsibleFilterError("trace_paths: expected [[NODE, CONNECTIONS], ...] or {NODE: CONNECTIONS}, got %r"
                                 % (traces,))
    for node, found in pairs:
        for connection in found:
            if not isinstance(connection, Mapping) or "entered" not in connection or "left" not in connection:
                raise AnsibleFilterError("trace_paths: a connection of %s has no entered and left (it is not "
                                         "packet_trace's, or from a packet_trace older than 0.2.0)" % node)
    paths = packet_trace.join_nodes(pairs)
    for index, path in enumerate(paths, 1):
        path["text"] = packet_trace.format_paths([path], start=index, total=len(paths))
    return paths


class FilterModule(object):
    def filters(self):
        return {"trace_paths": trace_paths}
