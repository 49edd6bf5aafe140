# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The packet counters of the rules on one Service's path, from `iptables-save -c`."""

from __future__ import annotations

DOCUMENTATION = r"""
name: rule_counters
short_description: The packet counters of the rules on a Service's path, from iptables-save -c
version_added: 0.1.0
description:
  - Takes the output of C(iptables-save -c) (one table) and the chains a packet to one Service passes, and returns
    one line per rule on that path with its packet count, chain by chain in the order of O(chains), such as
    C(      97  -A KUBE-SVC-HVXLY56DFZMBQN5Y ... --probability 0.50000000000 -j KUBE-SEP-Y6RXPI7VCORRZNBW).
  - In the O(shared) chains (a dispatch chain such as C(KUBE-SERVICES) holds every Service's rules) only the rules
    that jump to a chain on the path are shown.
  - Read after sending requests, the counters show the probability rules at work.
positional: chains
options:
  _input:
    description: The output of C(iptables-save -c -t TABLE).
    type: str
    required: true
  chains:
    description: The chains on the Service's path.
    type: list
    elements: str
    required: true
  shared:
    description: Chains that hold other Services' rules too; only their rules that jump into O(chains) are shown.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Show how many packets took each rule of app-service's path
  ansible.builtin.debug:
    msg: "{{ nat_save.stdout | k8slab.kube_proxy.rule_counters(['KUBE-SERVICES', 'KUBE-SVC-HVXLY56DFZMBQN5Y'], shared=['KUBE-SERVICES']) }}"
"""

RETURN = r"""
_value:
  description: One line per rule on the path, its packet count right-aligned, then the rule.
  type: list
  elements: str
"""

import re

from ansible.errors import AnsibleFilterError

_LINE = re.compile(r"^\[(\d+):(\d+)\] -A (\S+)(.*)$")
_TARGET = re.compile(r"(?:^| )-[jg] (\S+)")


def rule_counters(save_text, chains, shared=None):
    """[(packets, line)] for every rule of `chains` in `save_text`; shared chains only where they jump into `chains`."""
    wanted = set(chains)
    shared = set(shared or [])
    rows = []
    for line in save_text.splitlines():
        match = _LINE.match(line.strip())
        if not match or match.group(3) not in wanted:
            continue
        rule = match.group(4)
        if match.group(3) in shared:
            target = _TARGET.search(rule)
            if not target or target.group(1) not in wanted:
                continue
        rows.append((int(match.group(1)), "-A %s%s" % (match.group(3), rule)))
    # In the order of the path; within a chain, in the chain's order.
    order = dict((chain, index) for index, chain in reversed(list(enumerate(chains))))
    return sorted(rows, key=lambda row: order[row[1].split(" ", 2)[1]])


def rule_counters_filter(save_text, chains, shared=None):
    if not isinstance(save_text, str) or not isinstance(chains, list):
        raise AnsibleFilterError("rule_counters takes iptables-save -c text and a list of chains")
    return ["%8d  %s" % row for row in rule_counters(save_text, chains, shared)]


class FilterModule(object):
    def filters(self):
        return {"rule_counters": rule_counters_filter}
