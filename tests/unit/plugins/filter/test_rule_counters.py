# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""rule_counters: the counters of the rules on one Service's path."""

from __future__ import annotations

from ansible_collections.k8slab.kube_proxy.plugins.filter.rule_counters import rule_counters, rule_counters_filter

SAVE = """\
*nat
:PREROUTING ACCEPT [0:0]
[200:12000] -A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
[200:12000] -A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m tcp --dport 8080 -j KUBE-SVC-A
[7:420] -A KUBE-SERVICES -d 10.96.0.2/32 -p tcp -m tcp --dport 8080 -j KUBE-SVC-B
[0:0] -A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
[97:5820] -A KUBE-SVC-A -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-1
[103:6180] -A KUBE-SVC-A -j KUBE-SEP-2
[7:420] -A KUBE-SVC-B -j KUBE-SEP-3
[97:5820] -A KUBE-SEP-1 -p tcp -m tcp -j DNAT --to-destination 10.0.0.11:8080
[103:6180] -A KUBE-SEP-2 -p tcp -m tcp -j DNAT --to-destination 10.0.0.21:8080
COMMIT
"""


def test_only_the_path_and_the_shared_rules_into_it():
    rows = rule_counters(SAVE, ["KUBE-SERVICES", "KUBE-SVC-A", "KUBE-SEP-1", "KUBE-SEP-2"], shared=["KUBE-SERVICES"])
    assert [count for count, _line in rows] == [200, 97, 103, 97, 103]
    assert rows[0][1] == "-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m tcp --dport 8080 -j KUBE-SVC-A"


def test_rows_follow_the_path():
    rows = rule_counters(SAVE, ["KUBE-SVC-A", "KUBE-SEP-2", "KUBE-SEP-1"])
    assert [line.split()[1] for _count, line in rows] == ["KUBE-SVC-A", "KUBE-SVC-A", "KUBE-SEP-2", "KUBE-SEP-1"]


def test_lines_are_aligned():
    assert rule_counters_filter(SAVE, ["KUBE-SEP-3"]) == []
    assert rule_counters_filter(SAVE, ["KUBE-SVC-B"]) == ["       7  -A KUBE-SVC-B -j KUBE-SEP-3"]
