# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""packet_trace against real trace events (fixtures/trace, made by scripts/capture_trace_fixtures.py)."""

from __future__ import annotations

import json
import os
import re

import pytest

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import packet_trace

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "trace")
PODS = {"adam": "10.0.0.11", "eve": "10.0.0.21"}
ENDPOINT_CHAIN = {  # per layout and backend: the chain that DNATs to each pod
    ("tutorial", "iptables"): {"adam": "ADAM-HTTP", "eve": "EVE-HTTP"},
    ("tutorial", "nftables"): {"adam": "ADAM-HTTP", "eve": "EVE-HTTP"},
    ("kube-proxy", "iptables"): {"adam": "KUBE-SEP-Y6RXPI7VCORRZNBW", "eve": "KUBE-SEP-65DFG7ZGVZ6ECG2K"},
    ("kube-proxy", "nftables"): {"adam": "endpoint-KVDFPHBY-default/app-service/tcp/__10.0.0.11/8080",
                                 "eve": "endpoint-7QPTWD6I-default/app-service/tcp/__10.0.0.21/8080"},
}
# The chains the first packet must meet, in this order, before the endpoint chain.
SERVICE_PATH = {
    ("tutorial", "iptables", "pod"): ["PREROUTING", "APP-SERVICE", "EDEN-SVC-HTTP"],
    ("tutorial", "iptables", "node"): ["OUTPUT", "APP-SERVICE", "EDEN-SVC-HTTP"],
    ("tutorial", "nftables", "pod"): ["nat-prerouting", "EDEN-SVC-HTTP"],
    ("tutorial", "nftables", "node"): ["nat-output", "EDEN-SVC-HTTP"],
    ("kube-proxy", "iptables", "pod"): ["PREROUTING", "KUBE-SERVICES", "KUBE-SVC-HVXLY56DFZMBQN5Y"],
    ("kube-proxy", "iptables", "node"): ["OUTPUT", "KUBE-SERVICES", "KUBE-SVC-HVXLY56DFZMBQN5Y"],
    ("kube-proxy", "nftables", "pod"): ["nat-prerouting", "services", "service-2XSH7CJ3-default/app-service/tcp/"],
    ("kube-proxy", "nftables", "node"): ["nat-output", "services", "service-2XSH7CJ3-default/app-service/tcp/"],
}
CASES = sorted(name[:-len(".trace")] for name in os.listdir(FIXTURES) if name.endswith(".trace"))


def load(case):
    with open(os.path.join(FIXTURES, case + ".trace")) as handle:
        text = handle.read()
    with open(os.path.join(FIXTURES, case + ".json")) as handle:
        meta = json.load(handle)
    chains = packet_trace.base_chains_from_nft(meta["ruleset"]) if "ruleset" in meta else None
    return text, meta, chains


def trace(text, meta, chains):
    return packet_trace.connections(text, client=meta["client"], service=meta["destination"], base_chains=chains)


def test_in_order():
    assert packet_trace.in_order(["PREROUTING", "APP-SERVICE", "EDEN-SVC-HTTP", "EVE-HTTP"], ["APP-SERVICE", "EVE-HTTP"])
    assert not packet_trace.in_order(["PREROUTING", "EVE-HTTP", "APP-SERVICE"], ["APP-SERVICE", "EVE-HTTP"])
    assert not packet_trace.in_order(["APP-SERVICE"], ["APP-SERVICE", "APP-SERVICE"])


def test_every_case_was_captured():
    assert CASES == sorted("%s-%s-%s" % key for key in SERVICE_PATH)


@pytest.mark.parametrize("case", CASES)
def test_each_connection_takes_the_services_path_to_the_pod_that_answered(case):
    text, meta, chains = load(case)
    key = (meta["layout"], meta["backend"], "pod" if meta["source"] != "node" else "node")
    found = trace(text, meta, chains)
    assert [c["client"] for c in found] == ["%s:%s" % (meta["client"], port) for port in sorted(meta["answered"])]
    for connection in found:
        pod = meta["answered"][connection["client"].rsplit(":", 1)[1]]
        assert connection["problems"] == []
        assert connection["dnat"] == "%s:8080" % PODS[pod], connection["client"]
        assert packet_trace.in_order(connection["chains"], SERVICE_PATH[key] + [ENDPOINT_CHAIN[key[:2]][pod]]), connection["chains"]
        assert connection["dnat_rule"]["chain"] == ENDPOINT_CHAIN[key[:2]][pod]
        # the other pod's endpoint chain is not on the path
        other = [name for name in PODS if name != pod][0]
        assert ENDPOINT_CHAIN[key[:2]][other] not in connection["chains"]
        # the trace's own rules are left out of the path
        assert not any(hop["own"] for block in connection["path"] for hop in block["hops"])
        assert packet_trace.TRACE_TABLE not in [block["table"] for block in connection["path"]]
        # the path runs hook by hook; the way out enters where the source is
        hooks = [packet_trace.hook_of(block, chains)[0] for block in connection["path"]]
        assert hooks[0] == ("output" if key[2] == "node" else "prerouting")
        ranks = [packet_trace.HOOK_RANK[hook] for hook in hooks]
        assert ranks == sorted(ranks)
        assert connection["reply_path"] is not None
        replies = [p for p in connection["packets"] if p["direction"] == "reply"]
        assert replies and replies[0]["blocks"][0]["packet"]["src"] == PODS[pod]


# Masquerade: (layout, backend, source) -> what the first packet shows.
#  tutorial, pod: the pod network's MASQUERADE of 10.0.0.0/24 (port kept);
#  tutorial, node: nothing (the node's address lies outside the pod CIDR);
#  kube-proxy, node: KUBE-MARK-MASQ (source outside the cluster CIDR), MASQUERADE --random-fully;
#  kube-proxy, pod: kube-proxy marks the hairpin (a pod reaching itself), the pod network the rest.
@pytest.mark.parametrize("case", CASES)
def test_masquerade(case):
    text, meta, chains = load(case)
    for connection in trace(text, meta, chains):
        port = connection["client"].rsplit(":", 1)[1]
        hairpin = meta["answered"][port] == "adam" and meta["source"] == "netns_adam"
        rule = connection["masquerade"]["rule"] if connection["masquerade"] else None
        if meta["layout"] == "tutorial" and meta["source"] == "node":
            assert rule is None and connection["masqueraded_as"] is None
            assert not connection["marked_for_masquerade"]
            continue
        assert rule is not None, connection["client"]
        assert connection["masqueraded_as"].startswith("10.0.0.1:")
        kube_proxy_marks = meta["layout"] == "kube-proxy" and (meta["source"] == "node" or hairpin)
        assert connection["marked_for_masquerade"] is kube_proxy_marks
        if kube_proxy_marks:
            assert "random-fully" in rule or "fully-random" in rule
        else:
            assert re.search(r"-s 10.0.0.0/24 -j MASQUERADE|ip saddr 10.0.0.0/24 .*masquerade$", rule), rule
            assert connection["masqueraded_as"] == "10.0.0.1:%s" % port  # the port is kept


def test_the_fixtures_hold_a_masqueraded_random_port():
    text, meta, chains = load("kube-proxy-iptables-node")
    ports = [c["masqueraded_as"].rsplit(":", 1)[1] for c in trace(text, meta, chains)]
    assert set(ports) - set(meta["answered"])


@pytest.mark.parametrize("case", CASES)
def test_every_traced_packet_is_accounted_for(case):
    text, meta, chains = load(case)
    blocks, problems = packet_trace.parse_events(text)
    assert problems == []
    assert all(block["problems"] == [] for block in blocks)
    found = trace(text, meta, chains)
    packets = packet_trace.group_packets(packet_trace.parse_events(text)[0], chains)
    assert sum(len(c["packets"]) for c in found) == len(packets)
    for connection in found:
        flags = [p["blocks"][0]["packet"]["flags"] for p in connection["packets"]]
        assert flags[0] == ("syn",) and flags[1] == ("syn", "ack")


def test_the_learners_view_of_one_connection():
    text, meta, chains = load("tutorial-iptables-pod")
    first = trace(text, meta, chains)[0]
    pod = meta["answered"]["40100"]
    shown = packet_trace.format_connection(first, 1, 3)
    lines = shown.splitlines()
    assert lines[0] == ("connection 1 of 3: 10.0.0.11:40100 -> 10.96.0.1:8080, DNAT to %s:8080, "
                        "masqueraded as 10.0.0.1:40100" % PODS[pod])
    assert lines[1] == " way out, the first packet (SYN):"
    rules = [line.split(": ", 1)[1] for line in lines if " => " in line]
    assert rules[:3] == [
        "-A PREROUTING -j APP-SERVICE  => jump APP-SERVICE",
        "-A APP-SERVICE -d 10.96.0.1/32 -p tcp -m tcp --dport 8080 -j EDEN-SVC-HTTP  => jump EDEN-SVC-HTTP",
        ("-A EDEN-SVC-HTTP -m statistic --mode random --probability 0.50000000000 -j EVE-HTTP  => jump EVE-HTTP"
         if pod == "eve" else "-A EDEN-SVC-HTTP -j ADAM-HTTP  => jump ADAM-HTTP"),
    ]
    assert "-> DNAT: the destination 10.96.0.1:8080 becomes %s:8080" % PODS[pod] in shown
    assert "k8slab packet_trace" not in shown
    assert " way back, the reply (SYN ACK) %s:8080 -> 10.0.0.1:40100, which conntrack turns back into " \
           "10.0.0.11:40100:" % PODS[pod] in lines
    assert lines.index(" way back, the reply (SYN ACK) %s:8080 -> 10.0.0.1:40100, which conntrack turns back "
                       "into 10.0.0.11:40100:" % PODS[pod]) > lines.index("  passed without a matching rule: "
                                                                          "raw PREROUTING, mangle PREROUTING")
    whole = packet_trace.format_connections(trace(text, meta, chains))
    assert whole.count("connection ") == 3 and "problem" not in whole


# ---------------------------------------------------------------- broken streams

def first_blocks(text):
    """The line ranges (start, end) of the blocks of the first packet, in the file's order."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("PACKET:") or " packet: " in line]
    ends = starts[1:] + [len(lines)]
    return lines, list(zip(starts, ends))


def test_a_block_delivered_late_is_put_back_in_hook_order_and_flagged():
    text, meta, chains = load("tutorial-iptables-pod")
    lines, blocks = first_blocks(text)
    # The first packet's blocks: raw PREROUTING, mangle PREROUTING, nat PREROUTING, filter FORWARD,
    # nat POSTROUTING. Move nat PREROUTING (the DNAT) after filter FORWARD.
    (a, b), (c, d) = blocks[2], blocks[3]
    assert lines[a + 1].startswith(" TRACE: 2 ") and ":nat:" not in lines[a + 1] and "nat:PREROUTING" in lines[a + 1]
    shuffled = lines[:a] + lines[c:d] + lines[a:b] + lines[d:]
    found = trace("\n".join(shuffled), meta, chains)
    first = found[0]
    assert [(block["table"], block["chain"]) for block in first["path"]] == [
        ("raw", "PREROUTING"), ("mangle", "PREROUTING"), ("nat", "PREROUTING"), ("filter", "FORWARD"),
        ("nat", "POSTROUTING")]
    assert any("out of order" in problem for problem in first["problems"]), first["problems"]
    assert first["dnat"] == trace(text, meta, chains)[0]["dnat"]
    # Unshuffled, nothing is flagged.
    assert trace(text, meta, chains)[0]["problems"] == []


def test_events_shuffled_inside_a_block_are_detected():
    text, meta, chains = load("kube-proxy-iptables-pod")
    lines, blocks = first_blocks(text)
    a, b = blocks[2]  # nat PREROUTING: KUBE-SERVICES, KUBE-SVC, KUBE-SEP...
    events = lines[a + 1:b]
    assert "KUBE-SERVICES" in events[0] and "KUBE-SVC-" in events[1]
    swapped = lines[:a + 1] + [events[1], events[0]] + events[2:] + lines[b:]
    first = trace("\n".join(swapped), meta, chains)[0]
    assert any("no jump leads to chain KUBE-SERVICES" in p for p in first["problems"]), first["problems"]
    # and the jump to the endpoint chain moved below the DNAT, which is a final verdict
    endpoint = re.search(r"JUMP:(KUBE-SEP-\S+)", events[2]).group(1)
    moved = lines[:a + 1] + events[:2] + events[3:] + [events[2]] + lines[b:]
    first = trace("\n".join(moved), meta, chains)[0]
    assert "no jump leads to chain %s (events out of order)" % endpoint in first["problems"][0]
    assert "is not a final verdict (cut short)" in first["problems"][1]
    # an event after a final verdict
    after = lines[:b] + [events[0]] + lines[b:]
    first = trace("\n".join(after), meta, chains)[0]
    assert any("comes after the final verdict 'accept'" in p for p in first["problems"]), first["problems"]


@pytest.mark.parametrize("case", ["tutorial-iptables-pod", "kube-proxy-nftables-node"])
def test_a_stream_cut_short_is_detected(case):
    text, meta, chains = load(case)
    lines = text.splitlines()
    # The monitor stopped in the middle of the first packet's DNAT decision.
    cut = next(i for i, line in enumerate(lines) if "dnat to" in line or "DNAT --to-destination" in line)
    found = trace("\n".join(lines[:cut]), meta, chains)
    assert any("cut short" in problem for problem in found[0]["problems"]), found[0]["problems"]
    # A stream that starts in the middle of a packet: its events have no packet line.
    start = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    blocks, problems = packet_trace.parse_events("\n".join(lines[start + 1:]))
    assert problems and "without its packet line" in problems[0]


def test_nft_unknown_rules_and_stray_lines():
    text = "\n".join([
        'trace id 1a2b ip kube-proxy nat-output packet: oif "eth0" ip saddr 192.168.50.2 ip daddr 10.96.0.1 '
        "ip id 7 ip length 60 tcp sport 40100 tcp dport 8080 tcp flags == syn",
        "trace id 1a2b ip kube-proxy nat-output unknown rule handle 9 (verdict jump services)",
        "trace id 1a2b ip kube-proxy services rule ip daddr . meta l4proto . th dport vmap @service-ips "
        "(verdict goto svc)",
        "trace id 1a2b ip kube-proxy svc rule meta l4proto tcp dnat to 10.0.0.21:8080 (verdict accept)",
        'trace id 1a2b ip kube-proxy nat-postrouting packet: oif "bridge_eden" ip saddr 192.168.50.2 '
        "ip daddr 10.0.0.21 ip id 7 ip length 60 tcp sport 40100 tcp dport 8080 tcp flags == syn",
        "trace id 1a2b ip kube-proxy nat-postrouting policy accept",
        "Error: this is not an event",
    ])
    chains = {("kube-proxy", "nat-output"): ("output", -100), ("kube-proxy", "nat-postrouting"): ("postrouting", 100)}
    found = packet_trace.connections(text, base_chains=chains)
    assert len(found) == 1
    connection = found[0]
    assert connection["client"] == "192.168.50.2:40100" and connection["service"] == "10.96.0.1:8080"
    assert connection["chains"] == ["nat-output", "services", "svc"]
    assert connection["path"][0]["hops"][0]["rule"] is None
    assert connection["dnat"] == "10.0.0.21:8080"
    assert connection["problems"] == ["line 7 is not a trace event: Error: this is not an event"]
    lost = packet_trace.connections(text.replace("Error: this is not an event", "cannot receive from nfnetlink "
                                                 "socket: No buffer space available"), base_chains=chains)
    assert "the monitor lost events" in lost[0]["problems"][0]
    assert "(rule handle 9, unknown to the monitor)  => jump services" in packet_trace.format_connection(connection)


def test_no_events_is_an_error():
    with pytest.raises(packet_trace.TraceError, match="no trace events"):
        packet_trace.connections("# nothing\n\n")


# ---------------------------------------------------------------- the marks

def test_trace_rules_iptables_mark_one_flow_and_remove_what_they_made():
    rules = packet_trace.trace_rules("iptables", "prerouting", "10.0.0.11", "10.96.0.1", 8080, (40100, 40109),
                                     tables=["filter", "nat", "mangle"])
    assert [c["argv"][:6] for c in rules["add"]] == [
        ["iptables", "-t", "raw", "-I", "PREROUTING", "-s"], ["iptables", "-t", "mangle", "-I", "PREROUTING", "-p"]]
    out = " ".join(rules["add"][0]["argv"])
    assert out.endswith("-s 10.0.0.11 -d 10.96.0.1 -p tcp -m tcp --sport 40100:40109 --dport 8080 "
                        '--tcp-flags SYN,ACK SYN -m comment --comment k8slab packet_trace -j TRACE')
    back = " ".join(rules["add"][1]["argv"])
    assert "-p tcp -m tcp --tcp-flags SYN,ACK SYN,ACK -m conntrack --ctdir REPLY --ctorigsrc 10.0.0.11 " \
           "--ctorigdst 10.96.0.1 --ctorigsrcport 40100:40109" in back
    every = packet_trace.trace_rules("iptables", "prerouting", "10.0.0.11", "10.96.0.1", 8080, (40100, 40109),
                                     packets="all")
    assert not any("--tcp-flags" in c["argv"] for c in every["add"])
    # every rule added is deleted with the same words; raw did not exist, so it goes too (mangle did)
    assert [c["argv"] for c in rules["delete"][:2]] == [
        [word if word != "-I" else "-D" for word in c["argv"]] for c in rules["add"]]
    assert rules["delete"][2:] == [{"argv": ["nft", "delete", "table", "ip", "raw"], "input": None}]
    node = packet_trace.trace_rules("iptables", "output", "192.168.50.2", "10.96.0.1", 8080, (40100, 40109),
                                    tables=["raw", "mangle"])
    assert node["add"][0]["argv"][3:5] == ["-I", "OUTPUT"] and len(node["delete"]) == 2


def test_trace_rules_nftables_are_one_table_of_their_own():
    rules = packet_trace.trace_rules("nftables", "output", "192.168.50.2", "10.96.0.1", 8080, (40100, 40109))
    assert [c["argv"] for c in rules["add"]] == [["nft", "-f", "-"]]
    text = rules["add"][0]["input"]
    assert text.startswith("table ip k8slab-trace {\n")
    assert "type filter hook output priority -310; policy accept;" in text
    assert "ip saddr 192.168.50.2 ip daddr 10.96.0.1 tcp sport 40100-40109 tcp dport 8080 " \
           "tcp flags & (syn | ack) == syn meta nftrace set 1" in text
    assert "tcp flags & (syn | ack) == syn | ack ct direction reply ct original ip saddr 192.168.50.2" in text
    every = packet_trace.trace_rules("nftables", "output", "192.168.50.2", "10.96.0.1", 8080, (1, 2), packets="all")
    assert "tcp flags" not in every["add"][0]["input"]
    assert rules["delete"] == [{"argv": ["nft", "delete", "table", "ip", "k8slab-trace"], "input": None}]


@pytest.mark.parametrize("args, message", [
    (("ebtables", "prerouting", "10.0.0.11", "10.96.0.1", 8080, (1, 2)), "backend"),
    (("iptables", "input", "10.0.0.11", "10.96.0.1", 8080, (1, 2)), "source_hook"),
    (("iptables", "prerouting", "10.0.0.11", "10.96.0.1", 8080, (2, 1)), "ports"),
    (("nftables", "prerouting", "10.0.0.11", "10.96.0.1", 8080, (0, 10)), "ports"),
    (("nftables", "prerouting", "10.0.0.11", "10.96.0.1", 8080, (1, 10), "tcp", (), "some"), "packets"),
])
def test_trace_rules_bad_input(args, message):
    with pytest.raises(packet_trace.TraceError, match=message):
        packet_trace.trace_rules(*args)
