# SPDX-License-Identifier: GPL-3.0-or-later
"""http_probe against tiny HTTP servers in network namespaces inside the sandbox (see conftest.py).

The sandbox gets a bridge br-probe 10.9.0.1/24 and two "pods", netns_a (10.9.0.2) and
netns_b (10.9.0.3), each running a server that answers like the tutorial's app:
{"message": "hello world from NETNS namespace"}. All traffic stays inside the sandbox.
"""
import json
import subprocess
import sys
import time

import pytest

SERVER = r'''
import http.server, json, subprocess
ns = subprocess.run(["ip", "netns", "identify"], capture_output=True, text=True).stdout.strip() or "root"
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"message": "hello world from %s namespace" % ns}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
def udp():  # the app's UDP listener: every datagram answered with the message
    import socket
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", 8080))
    while True:
        dummy, peer = sock.recvfrom(2048)
        sock.sendto(("hello world from %s namespace\n" % ns).encode(), peer)
import threading
threading.Thread(target=udp, daemon=True).start()
http.server.ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
'''
PODS = {"netns_a": "10.9.0.2", "netns_b": "10.9.0.3"}
ENDPOINTS = {"a": "netns_a", "b": "netns_b"}


@pytest.fixture
def pods(sandbox):
    sandbox.run(["ip", "link", "add", "br-probe", "type", "bridge"])
    sandbox.run(["ip", "address", "add", "10.9.0.1/24", "dev", "br-probe"])
    sandbox.run(["ip", "link", "set", "br-probe", "up"])
    servers = []
    for index, (netns, address) in enumerate(sorted(PODS.items())):
        host_end, pod_end = "vp%d" % index, "vp%dns" % index
        sandbox.run(["ip", "netns", "add", netns])
        sandbox.run(["ip", "-n", netns, "link", "set", "lo", "up"])
        sandbox.run(["ip", "link", "add", host_end, "type", "veth", "peer", "name", pod_end, "netns", netns])
        sandbox.run(["ip", "link", "set", host_end, "master", "br-probe", "up"])
        sandbox.run(["ip", "-n", netns, "address", "add", address + "/24", "dev", pod_end])
        sandbox.run(["ip", "-n", netns, "link", "set", pod_end, "up"])
        sandbox.run(["ip", "-n", netns, "route", "add", "default", "via", "10.9.0.1"])
        servers.append(subprocess.Popen(sandbox.argv(["ip", "netns", "exec", netns, sys.executable, "-c", SERVER]),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for netns, address in PODS.items():
        for _attempt in range(50):
            if sandbox.run(["ip", "netns", "exec", netns, "ss", "-ltnH", "sport", "= :8080"]).stdout.strip():
                break
            time.sleep(0.1)
    try:
        yield sandbox
    finally:
        for server in servers:
            server.kill()
            server.wait()


def probe(sandbox, check=False, **args):
    task = "- name: probe\n  k8slab.kube_proxy.http_probe: %s\n  register: out\n" % json.dumps(args)
    return sandbox.playbook(task, check=check)[0]


def test_counts_answers_of_one_pod_from_the_host(pods):
    result = probe(pods, url="http://10.9.0.2:8080/", count=20, endpoints=ENDPOINTS)
    assert result["_status"] == "ok" and result["changed"] is False
    assert result["responses"] == {"hello world from netns_a namespace": 20}
    assert result["hits"] == {"a": 20, "b": 0}
    # Asked to spread over a and b, all answers from a is a problem the module names (it does not fail).
    assert "endpoint(s) never hit: b" in result["problems"]


def test_counts_udp_answers_and_losses(pods):
    result = probe(pods, url="udp://10.9.0.3:8080", count=10, timeout=0.5, endpoints=ENDPOINTS, netns="netns_a")
    assert result["responses"] == {"hello world from netns_b namespace": 10} and result["hits"] == {"a": 0, "b": 10}
    result = probe(pods, url="udp://10.9.0.3:8081", count=3, timeout=0.2)
    assert result["succeeded"] == 0 and result["failed_requests"] == 3, result["failures"]


def test_probes_from_inside_a_namespace_and_in_check_mode(pods):
    result = probe(pods, check=True, url="http://10.9.0.2:8080/", count=5, netns="netns_b")
    assert result["_status"] == "ok"
    assert result["succeeded"] == 5 and result["failures"] == {}


def test_counts_failures_with_reasons(pods):
    result = probe(pods, url="http://10.9.0.3:9999/", count=4, netns="netns_a", endpoints=ENDPOINTS)
    assert result["failures"] == {"connection refused": 4}
    assert result["problems"] == ["4 request(s) failed: connection refused (4)"]
    result = probe(pods, url="http://10.200.0.1:8080/", count=2, netns="netns_a", timeout=0.5)
    assert result["failed_requests"] == 2


def test_network_unreachable_is_named(pods):
    # The sandbox itself has no default route: what a node without an uplink sees.
    result = probe(pods, url="http://10.96.0.1:8080/", count=3)
    assert result["failures"] == {"network unreachable (no route to 10.96.0.1)": 3}


def test_spread_through_a_cluster_ip(pods):
    # The tutorial's Service in miniature: 10.96.0.1:8080 -> a or b, 1/2 each, from the host (OUTPUT).
    pods.run(["ip", "route", "add", "10.96.0.0/12", "dev", "br-probe"])
    pods.run(["iptables", "-t", "nat", "-N", "SVC"])
    pods.run(["iptables", "-t", "nat", "-A", "OUTPUT", "-d", "10.96.0.1", "-p", "tcp", "--dport", "8080", "-j", "SVC"])
    pods.run(["iptables", "-t", "nat", "-A", "SVC", "-m", "statistic", "--mode", "random", "--probability", "0.5",
              "-p", "tcp", "-j", "DNAT", "--to-destination", "10.9.0.3:8080"])
    pods.run(["iptables", "-t", "nat", "-A", "SVC", "-p", "tcp", "-j", "DNAT", "--to-destination", "10.9.0.2:8080"])
    result = probe(pods, url="http://10.96.0.1:8080/", count=200, endpoints=ENDPOINTS)
    assert result["failed_requests"] == 0
    assert result["hits"]["a"] + result["hits"]["b"] == 200
    assert result["problems"] == [], result["problems"]
    assert len(result["table"]) == 3


def test_missing_namespace_fails_clearly(pods):
    task = "- name: probe\n  k8slab.kube_proxy.http_probe:\n    url: http://10.9.0.2:8080/\n    netns: netns_nope\n"
    result = pods.playbook(task, expect_failure=True)[0]
    assert result["_status"] == "failed"
    assert "inside netns netns_nope" in result["msg"]
