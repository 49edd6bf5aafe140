# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""packet_trace's watch (connections others open), against real trace events.

fixtures/trace: one node (scripts/capture_trace_fixtures.py). The join across nodes:
test_packet_trace_cluster_join.py.
"""

from __future__ import annotations

import json
import os

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.k8slab.kube_proxy.plugins.filter.trace_paths import trace_paths
from ansible_collections.k8slab.kube_proxy.plugins.module_utils import packet_trace

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
SINGLE = os.path.join(HERE, "trace")


def single(case):
    with open(os.path.join(SINGLE, case + ".trace")) as handle:
        text = handle.read()
    with open(os.path.join(SINGLE, case + ".json")) as handle:
        return text, json.load(handle)


def summary(connection):
    """What the module returns of a connection, as far as trace_paths reads it."""
    keys = ("client", "service", "chains", "dnat", "masqueraded_as", "marked_for_masquerade", "entered", "left",
            "problems")
    out = dict((key, connection[key]) for key in keys)
    out["masquerade"] = connection["masquerade"]["rule"] if connection["masquerade"] else None
    return out


# ---------------------------------------------------------------- marking a watched flow

def test_a_watch_from_any_address_to_any_destination_marks_by_the_source_ports_alone():
    rules = packet_trace.trace_rules("iptables", "prerouting", None, None, None, (20100, 20109), tables=["filter"])
    out, back = [command["argv"] for command in rules["add"]]
    assert out == ["iptables", "-t", "raw", "-I", "PREROUTING", "-p", "tcp", "-m", "tcp", "--sport", "20100:20109",
                   "--tcp-flags", "SYN,ACK", "SYN", "-m", "comment", "--comment", "k8slab packet_trace", "-j", "TRACE"]
    assert back == ["iptables", "-t", "mangle", "-I", "PREROUTING", "-p", "tcp", "-m", "tcp", "--tcp-flags",
                    "SYN,ACK", "SYN,ACK", "-m", "conntrack", "--ctdir", "REPLY", "--ctorigsrcport", "20100:20109",
                    "-m", "comment", "--comment", "k8slab packet_trace", "-j", "TRACE"]
    nft = packet_trace.trace_rules("nftables", "prerouting", "192.0.2.1", None, None, (20100, 20109))
    text = nft["add"][0]["input"]
    assert "\t\tip saddr 192.0.2.1 tcp sport 20100-20109 tcp flags & (syn | ack) == syn meta nftrace set 1\n" in text
    assert ("\t\ttcp flags & (syn | ack) == syn | ack ct direction reply ct original ip saddr 192.0.2.1 "
            "ct original protocol tcp ct original proto-src 20100-20109 meta nftrace set 1\n") in text
    assert "daddr" not in text and "dport" not in text and "proto-dst" not in text


@pytest.mark.parametrize("case", ["kube-proxy-iptables-pod", "tutorial-nftables-pod", "kube-proxy-nftables-node"])
def test_a_watch_for_any_client_and_service_finds_the_same_connections(case):
    text, meta = single(case)
    known = packet_trace.connections(text, client=meta["client"], service=meta["destination"])
    watched = packet_trace.connections(text, client=packet_trace.ANY, service=packet_trace.ANY,
                                       ports=tuple(meta["ports"]))
    assert [summary(c) for c in watched] == [summary(c) for c in known]
    assert [c["service"] for c in watched] == [meta["destination"]] * len(known)
    # ports that are not the reserved ones: nothing is the watch's
    assert packet_trace.connections(text, client=packet_trace.ANY, service=packet_trace.ANY, ports=(1024, 1030)) == []


def test_entered_and_left_show_the_dnat_and_the_masquerade():
    text, meta = single("kube-proxy-iptables-pod")
    for connection in packet_trace.connections(text, client=meta["client"], service=meta["destination"]):
        port = connection["client"].rsplit(":", 1)[1]
        assert connection["entered"] == {"src": connection["client"], "dst": "10.96.0.1:8080",
                                         "interface": "bridge_eden"}
        # the pod network masquerades the pod CIDR: the reply showed to which address and port
        assert connection["left"]["src"] == connection["masqueraded_as"] and connection["masqueraded_as"] is not None
        assert connection["left"]["dst"] == connection["dnat"] and connection["left"]["interface"] == "bridge_eden"
        assert port.isdigit()


# ---------------------------------------------------------------- the filter

def test_the_filter_says_what_it_cannot_join():
    with pytest.raises(AnsibleFilterError, match="has no entered and left"):
        trace_paths([["node", [{"client": "10.0.1.11:20100"}]]])
    with pytest.raises(AnsibleFilterError, match="expected"):
        trace_paths(["node"])
    assert trace_paths({}) == []
