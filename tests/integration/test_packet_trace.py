# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Done when: packet_trace follows real connections through the tutorial's chains and leaves the node as it found it.

The tutorial's node is built by hand in the sandbox (its own commands, the pod network's
rules, a web app in each pod answering with its name, an uplink with a default route for
the node); the Service is the tutorial's iptables chains or its nftables table.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time

import pytest

from conftest import REPO
from test_http_probe import SERVER  # answers {"message": "hello world from netns_adam namespace"}
from test_iptables_chains_tutorial import TUTORIAL as TUTORIAL_IPTABLES
from test_netlink_tutorial import run_tutorial

sys.path.insert(0, os.path.join(REPO, ".collections"))
from ansible_collections.k8slab.kube_proxy.plugins.module_utils import (  # noqa: E402 pylint: disable=wrong-import-position
    kube_proxy_nftables, packet_trace, service_chains)

PODS = {"adam": "10.0.0.11", "eve": "10.0.0.21"}
ENDPOINT_CHAINS = {"ADAM-HTTP": "adam", "EVE-HTTP": "eve"}


def build_node(sandbox, backend):
    run_tutorial(sandbox)
    for command in (
            # a pod that reaches itself through the Service gets its packets back through its own port
            "ip link set dev veth_adam type bridge_slave hairpin on",
            "ip link set dev veth_eve type bridge_slave hairpin on",
            "sysctl -q -w net.ipv4.ip_forward=1",
            # the node's uplink, so that it has a default route (its peer answers nothing; no packet goes there)
            "ip link add dev uplink0 type veth peer name uplink1",
            "ip address add 192.168.50.2/24 dev uplink0",
            "ip link set dev uplink0 up", "ip link set dev uplink1 up",
            "ip route add default via 192.168.50.1"):
        sandbox.run(command.split())
    if backend == "iptables":
        sandbox.run(["sh", "-c", TUTORIAL_IPTABLES])
    else:
        sandbox.run(["sh", "-c", "\n".join(line for line in TUTORIAL_IPTABLES.splitlines()
                                           if "FORWARD" in line or "POSTROUTING" in line or line == "set -e")])
        pods = [{"name": name, "address": address, "netns": "netns_" + name, "labels": {"component": "app"}}
                for name, address in sorted(PODS.items())]
        service = {"metadata": {"name": "app-service"},
                   "spec": {"clusterIP": "10.96.0.1", "selector": {"component": "app"},
                            "ports": [{"protocol": "TCP", "port": 8080, "targetPort": 8080}]}}
        plan = service_chains.plan_service_chains([service], pods)
        body, dummy = kube_proxy_nftables.render_tutorial(plan["services"])
        sandbox.run(["nft", "-f", "-"], input="table ip kube-proxy {\n%s}\n" % body)


@pytest.fixture(params=["iptables", "nftables"])
def node(request, sandbox):
    build_node(sandbox, request.param)
    servers = [subprocess.Popen(sandbox.argv(["ip", "netns", "exec", "netns_" + name, sys.executable, "-c", SERVER]),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for name in sorted(PODS)]
    try:
        for name, address in sorted(PODS.items()):
            sandbox.run(["ip", "netns", "exec", "netns_" + name, sys.executable, "-c",
                         "import socket, time\nfor i in range(50):\n try:\n  socket.create_connection((%r, 8080), 1)"
                         ".close()\n  break\n except OSError:\n  time.sleep(0.1)" % address])
        yield request.param
    finally:
        for server in servers:
            server.kill()
            server.wait()


def state(sandbox):
    """The node's rules, counters aside, and its tables."""
    ruleset = sandbox.run(["nft", "list", "ruleset"]).stdout
    ruleset = re.sub(r"counter packets \d+ bytes \d+", "counter", ruleset)
    ruleset = re.sub(r"(\n\s*packets) \d+ bytes \d+", r"\1", ruleset)
    saved = [line for line in sandbox.run(["iptables-save"]).stdout.splitlines() if not line.startswith("#")]
    return ruleset, saved, sandbox.run(["nft", "list", "tables"]).stdout


def trace(sandbox, check=False, expect_failure=False, **args):
    task = "- k8slab.kube_proxy.packet_trace: %s\n" % repr(args).replace("'", '"')
    return sandbox.playbook(task, check=check, expect_failure=expect_failure)[0]


def test_a_trace_from_a_pod_follows_the_tutorials_chains(sandbox, node):
    before = state(sandbox)
    result = trace(sandbox, source="netns_adam", destination="10.96.0.1:8080", connections=3, graph="dot")
    assert state(sandbox) == before
    assert result["changed"] is False and result["backend"] == node and result["client"] == "10.0.0.11"
    assert result["destination_kind"] == "service" and result["problems"] == [], result["problems"]
    assert sorted(result["answers"]) == ["40100", "40101", "40102"]
    assert [c["client"] for c in result["connections"]] == ["10.0.0.11:40100", "10.0.0.11:40101", "10.0.0.11:40102"]
    entry = "PREROUTING" if node == "iptables" else "nat-prerouting"
    for connection in result["connections"]:
        endpoint = [chain for chain in connection["chains"] if chain in ENDPOINT_CHAINS]
        assert len(endpoint) == 1, connection["chains"]
        pod = ENDPOINT_CHAINS[endpoint[0]]
        wanted = [entry, "APP-SERVICE", "EDEN-SVC-HTTP"] if node == "iptables" else [entry, "EDEN-SVC-HTTP"]
        assert packet_trace.in_order(connection["chains"], wanted + endpoint), connection["chains"]
        assert connection["dnat"] == PODS[pod] + ":8080"
        assert "netns_%s" % pod in result["answers"][connection["client"].rsplit(":", 1)[1]]
        # the pod network masquerades the pod CIDR: the reply comes back to the bridge's address
        assert connection["masqueraded_as"] == "10.0.0.1:" + connection["client"].rsplit(":", 1)[1]
        assert connection["path"][0]["hook"] == "prerouting" and connection["packets"]["back"] >= 1
        if node == "nftables":  # the Service map's lookup
            hops = [hop for block in connection["path"] for hop in block["hops"]]
            assert any("vmap @service-ips" in (hop["rule"] or "") for hop in hops)
    assert result["text"][0].startswith("connection 1 of 3: 10.0.0.11:40100 -> 10.96.0.1:8080, DNAT to 10.0.0.")
    assert result["graph"].startswith("digraph service {") and "#c0392b" in result["graph"]


def test_a_trace_from_the_node_goes_through_output(sandbox, node):
    before = state(sandbox)
    result = trace(sandbox, source="node", destination="10.96.0.1:8080", connections=1, keep_events=True)
    assert state(sandbox) == before
    assert result["client"] == "192.168.50.2" and result["problems"] == [], result["problems"]
    connection = result["connections"][0]
    assert connection["path"][0]["hook"] == "output"
    assert connection["chains"][0] == ("OUTPUT" if node == "iptables" else "nat-output")
    assert connection["masqueraded_as"] is None  # the node's address lies outside the pod CIDR
    assert ("TRACE:" if node == "iptables" else "trace id ") in result["events"]


def test_check_mode_marks_nothing_and_says_what_it_would(sandbox, node):
    before = state(sandbox)
    result = trace(sandbox, check=True, source="netns_adam", destination="10.96.0.1:8080")
    assert state(sandbox) == before
    assert result["changed"] is False and "connections" not in result
    add = result["commands"]["add"]
    if node == "iptables":
        assert add[0][:5] == ["iptables", "-t", "raw", "-I", "PREROUTING"] and "TRACE" in add[0]
        assert ["nft", "delete", "table", "ip", "raw"] in result["commands"]["delete"]
    else:
        assert add == [["nft", "-f", "-"]]


BAD_INPUT = [
    ({"source": "netns_adam", "destination": "10.96.0.9:8080"}, "destination 10.96.0.9:8080 is neither a Service"),
    ({"source": "netns_adam", "destination": "10.96.0.1:80"}, "destination 10.96.0.1:80 is neither a Service"),
    ({"source": "netns_adam", "destination": "10.96.0.1:70000"}, "destination '10.96.0.1:70000': the port"),
    ({"source": "netns_adam", "destination": "service:8080"}, "destination 'service:8080': expected IPv4"),
    ({"source": "netns_nobody", "destination": "10.96.0.1:8080"}, "source 'netns_nobody': no such network namespace"),
    ({"source": "netns/../x", "destination": "10.96.0.1:8080"}, "source 'netns/../x' is not a legal"),
    ({"source": "node", "destination": "10.96.0.1:8080", "source_ports": "40109-40100"}, "source_ports '40109-40100'"),
    ({"source": "node", "destination": "10.96.0.1:8080", "connections": 20}, "fewer than connections (20)"),
    ({"source": "node", "destination": "10.96.0.1:8080", "connections": 0}, "connections must be between 1"),
]


def test_bad_input_names_the_field_and_leaves_nothing(sandbox):
    build_node(sandbox, "iptables")
    before = state(sandbox)
    for args, message in BAD_INPUT + WATCH_BAD_INPUT:  # WATCH_BAD_INPUT: below, with the watch's tests
        result = trace(sandbox, expect_failure=True, **args)
        assert message in result["msg"], (args, result["msg"])
        assert state(sandbox) == before, args


def test_a_trace_table_left_behind_stops_the_next_trace(sandbox):
    build_node(sandbox, "iptables")
    sandbox.run(["nft", "add", "table", "ip", "k8slab-trace"])
    result = trace(sandbox, expect_failure=True, source="node", destination="10.96.0.1:8080")
    assert "table ip k8slab-trace exists already" in result["msg"]


def outside_client(sandbox):
    """A host outside the node on its uplink (the netns `outside` holds the uplink's far end, 192.168.50.1),
    routing the Service range to the node, as the segment does for a NodePort in the cluster scenario."""
    for command in ("ip netns add outside", "ip link set dev uplink1 netns outside",
                    "ip -n outside address add 192.168.50.1/24 dev uplink1", "ip -n outside link set dev uplink1 up",
                    "ip -n outside link set dev lo up", "ip -n outside route add 10.96.0.0/24 via 192.168.50.2"):
        sandbox.run(command.split())


def watch(sandbox, ready, **args):
    """packet_trace with watch=true in a thread; returns the thread and the list its result lands in."""
    out = []
    thread = threading.Thread(target=lambda: out.append(trace(sandbox, watch=True, ready_file=ready, **args)))
    thread.start()
    for dummy in range(100):
        if os.path.exists(ready):
            return thread, out
        time.sleep(0.1)
    thread.join()
    raise AssertionError("the watch never said it was ready: %s" % out)


def test_a_watch_traces_connections_a_client_outside_the_node_opens(sandbox, node):
    outside_client(sandbox)
    before = state(sandbox)
    ready = os.path.join(sandbox.tmpdir, "ready")
    thread, out = watch(sandbox, ready, source="192.168.50.1", destination="10.96.0.1:8080", connections=2,
                        timeout=20)
    for port in ("40100", "40101"):  # one port each: a port used again would be the same connection's
        sandbox.run(["ip", "netns", "exec", "outside", "curl", "-s", "-m", "3", "--local-port", port,
                     "http://10.96.0.1:8080/"])
    thread.join()
    result = out[0]
    assert not os.path.exists(ready) and state(sandbox) == before
    assert result["watch"] is True and result["client"] == "192.168.50.1" and result["problems"] == [], result
    assert len(result["connections"]) == 2 and result["answers"] == {}
    for connection in result["connections"]:
        assert connection["client"].startswith("192.168.50.1:401")
        assert connection["entered"]["src"] == connection["client"] and connection["entered"]["interface"] == "uplink0"
        entry = "PREROUTING" if node == "iptables" else "nat-prerouting"
        assert packet_trace.in_order(connection["chains"], [entry, "EDEN-SVC-HTTP"]), connection["chains"]
        assert connection["dnat"] in ("10.0.0.11:8080", "10.0.0.21:8080")
        # no masquerade for an address outside the pod CIDR: it went on as it came, to the pod
        assert connection["left"] == {"src": connection["client"], "dst": connection["dnat"],
                                      "interface": "bridge_eden"}


def test_a_watch_from_any_address_to_any_destination_waits_its_timeout_and_says_what_it_missed(sandbox):
    build_node(sandbox, "nftables")
    before = state(sandbox)
    started = time.time()
    result = trace(sandbox, watch=True, source="any", destination="any", connections=1, timeout=1.5)
    assert state(sandbox) == before and time.time() - started >= 1.5
    assert result["client"] == "any" and result["destination_kind"] == "any" and result["connections"] == []
    assert "the watch ended after 1.5 s (timeout) with 0 of 1 connections traced from any to any" in result["problems"]


WATCH_BAD_INPUT = [
    ({"source": "192.168.50.9", "destination": "10.96.0.1:8080"}, "source '192.168.50.9': the module opens"),
    ({"source": "node", "destination": "any"}, "destination any: only a watch"),
    ({"source": "node", "destination": "10.96.0.1:8080", "ready_file": "/tmp/x"}, "ready_file is for watch=true"),
    ({"source": "192.168.50.2", "destination": "10.96.0.1:8080", "watch": True}, "source 192.168.50.2 is an address of"),
    ({"source": "any", "destination": "10.96.0.1:8080", "watch": True, "timeout": 601}, "at most 600 seconds (watch"),
    ({"source": "node", "destination": "10.96.0.1:8080", "timeout": 61}, "at most 60 seconds, got"),
]


def test_check_mode_of_a_watch_marks_any_address_by_the_source_ports(sandbox, node):
    before = state(sandbox)
    result = trace(sandbox, check=True, watch=True, source="any", destination="any")
    assert state(sandbox) == before and "connections" not in result
    add = result["commands"]["add"]
    if node == "iptables":
        assert add[0] == ["iptables", "-t", "raw", "-I", "PREROUTING", "-p", "tcp", "-m", "tcp", "--sport",
                          "40100:40109", "--tcp-flags", "SYN,ACK", "SYN", "-m", "comment", "--comment",
                          "k8slab packet_trace", "-j", "TRACE"]
    else:
        assert add == [["nft", "-f", "-"]]
