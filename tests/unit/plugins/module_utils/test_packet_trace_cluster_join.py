# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""packet_trace.join_nodes and the trace_paths filter: connections traced on several nodes, one path each.

The connections are written by hand in the shape packet_trace returns (client, service, chains, dnat,
masqueraded_as, entered, left, problems), addresses of the molecule scenario `cluster`: pods adam
(10.0.1.11, node 1) and eve (10.0.2.11, node 2), node 1 at 192.0.2.11, the segment at 192.0.2.1.
"""

from __future__ import annotations

import copy

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.k8slab.kube_proxy.plugins.filter.trace_paths import trace_paths
from ansible_collections.k8slab.kube_proxy.plugins.module_utils import packet_trace

FORWARD = ["PREROUTING", "FORWARD", "POSTROUTING"]


def leg(src, dst, came_by, went_by, left_src=None, dnat=None, masqueraded_as=None, chains=None):
    """One node's connection: came as src -> dst by came_by, went on as left_src -> (dnat or dst) by went_by."""
    return {"client": src, "service": dst, "chains": list(chains or FORWARD), "dnat": dnat,
            "masqueraded_as": masqueraded_as, "marked_for_masquerade": masqueraded_as is not None,
            "entered": {"src": src, "dst": dst, "interface": came_by},
            "left": {"src": left_src if left_src is not None else src, "dst": dnat or dst, "interface": went_by},
            "problems": []}


def pod_to_pod(port):
    """adam on node 1 -> eve on node 2, no NAT: node 1's leg and node 2's."""
    client = "10.0.1.11:%d" % port
    return (leg(client, "10.0.2.11:8080", "bridge_adam", "eth0"),
            leg(client, "10.0.2.11:8080", "eth0", "bridge_eve"))


def test_a_pods_connection_to_a_pod_on_another_node_is_one_path_over_both():
    first = [pod_to_pod(20100)[0], pod_to_pod(20101)[0]]
    second = [pod_to_pod(20101)[1], pod_to_pod(20100)[1]]  # node 2 saw them in another order
    paths = packet_trace.join_nodes([("node-1", first), ("node-2", second)])
    assert [p["client"] for p in paths] == ["10.0.1.11:20100", "10.0.1.11:20101"]
    for path in paths:
        assert path["nodes"] == ["node-1", "node-2"] and path["problems"] == []
        assert path["legs"][0]["client"] == path["legs"][1]["client"] == path["client"]
        assert path["answered"] == "10.0.2.11:8080"


def test_the_join_takes_the_masqueraded_source_the_reply_showed():
    # NodePort on node 1 from the segment, DNAT to eve on node 2, masqueraded to node 1's address and a new port
    # (--random-fully): node 2 saw 192.0.2.11:41234, which the reply on node 1 showed.
    first = leg("192.0.2.1:20100", "192.0.2.11:30080", "eth0", "eth0", left_src="192.0.2.11:41234",
                dnat="10.0.2.11:8080", masqueraded_as="192.0.2.11:41234")
    second = leg("192.0.2.11:41234", "10.0.2.11:8080", "eth0", "bridge_eve")
    paths = packet_trace.join_nodes([("node-1", [first]), ("node-2", [second])])
    assert [p["nodes"] for p in paths] == [["node-1", "node-2"]]
    assert paths[0]["client"] == "192.0.2.1:20100" and paths[0]["answered"] == "10.0.2.11:8080"


def test_a_masquerade_without_the_reply_joins_nothing_not_even_by_the_source_port():
    # node 1 saw no reply: the new source is not known. The port is no stand-in; here node 2 saw a connection
    # from node 1's address with the client's port, yet another connection (the masquerade picked a new port).
    first = leg("192.0.2.1:20100", "192.0.2.11:30080", "eth0", "eth0", dnat="10.0.2.11:8080")
    first["left"]["src"] = None
    other = leg("192.0.2.11:20100", "10.0.2.11:8080", "eth0", "bridge_eve")
    paths = packet_trace.join_nodes([("node-1", [first]), ("node-2", [other])])
    assert [p["nodes"] for p in paths] == [["node-1"], ["node-2"]]


def test_only_the_exact_four_tuple_joins():
    first = pod_to_pod(20100)[0]
    assert [p["nodes"] for p in packet_trace.join_nodes([("node-1", [first]), ("node-2", [pod_to_pod(20100)[1]])])] \
        == [["node-1", "node-2"]]
    for src, dst in (("10.0.1.11:20101", "10.0.2.11:8080"), ("10.0.1.21:20100", "10.0.2.11:8080"),
                     ("10.0.1.11:20100", "10.0.2.11:8081"), ("10.0.1.11:20100", "10.0.2.21:8080")):
        other = leg(src, dst, "eth0", "bridge_eve")
        paths = packet_trace.join_nodes([("node-1", [first]), ("node-2", [other])])
        assert [p["nodes"] for p in paths] == [["node-1"], ["node-2"]], (src, dst)


def test_legs_on_the_same_node_never_join():
    first, second = pod_to_pod(20100)
    paths = packet_trace.join_nodes([("node-1", [first, second])])
    assert [p["nodes"] for p in paths] == [["node-1"], ["node-1"]]


def test_two_legs_that_could_go_on_from_one_are_a_problem():
    first, second = pod_to_pod(20100)
    paths = packet_trace.join_nodes([("node-1", [first]), ("node-2", [second]), ("node-3", [copy.deepcopy(second)])])
    assert paths[0]["nodes"][:2] == ["node-1", "node-2"]
    assert paths[0]["problems"][:1] == [
        "node-1: 10.0.1.11:20100 on node-1: 2 connections on other nodes could go on from it (node-2, node-3); "
        "took the one on node-2"]


def test_the_filter_joins_and_writes_each_path():
    first, second = pod_to_pod(20100)
    paths = trace_paths({"node-1": [first], "node-2": [second]})
    assert paths[0]["text"][:3] == [
        "connection 1 of 1: 10.0.1.11:20100 -> 10.0.2.11:8080, through node-1 then node-2",
        "  on node-1: came as 10.0.1.11:20100 -> 10.0.2.11:8080 by bridge_adam",
        "    chains: PREROUTING -> FORWARD -> POSTROUTING"]
    assert "  on node-2: came as 10.0.1.11:20100 -> 10.0.2.11:8080 by eth0" in paths[0]["text"]
    with pytest.raises(AnsibleFilterError, match="has no entered and left"):
        trace_paths([["node", [{"client": "10.0.1.11:20100"}]]])
