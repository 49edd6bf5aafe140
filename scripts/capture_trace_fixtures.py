#!/usr/bin/env python
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Capture the kernel's trace of real connections to the tutorial's ClusterIP, as unit-test fixtures.

Usage (root): scripts/capture_trace_fixtures.py [--out DIR] [--connections N] [CASE ...]

A case is LAYOUT-BACKEND-SOURCE: layout tutorial or kube-proxy, backend iptables or
nftables, source pod (netns_adam) or node. Without CASE every one of the eight runs.
Each case runs in its own throwaway network and mount namespace (unshare): the
tutorial's pod network is built by hand (bridge_eden, netns_adam and netns_eve answering
on 8080 with a tiny Python HTTP server, the pod network's FORWARD accepts and MASQUERADE),
the Service's rules come from the collection's own renderers (the tutorial's iptables
commands, kube_proxy_iptables.render, kube_proxy_nftables.render_tutorial /
render_kube_proxy), and the node has an uplink with a default route (so the node talks
to the ClusterIP from an address outside the pod CIDR, as a real node does).
Then exactly one flow is marked for tracing (source, destination and the reserved source
ports 40100-40109), N connections are opened, and the monitor's output is saved:

* iptables: ``-j TRACE`` in raw PREROUTING (pod) or raw OUTPUT (node) for the way out, and
  in mangle PREROUTING, matched by conntrack's original tuple, for the replies (whose
  destination port the masquerade may have changed); read with ``xtables-monitor --trace``.
* nftables: a table of its own (ip k8slab-trace) with ``meta nftrace set 1`` in the same
  two places; read with ``nft monitor trace``.
The rules come from packet_trace.trace_rules, the module's own.

Written per case into DIR (default tests/unit/plugins/module_utils/fixtures/trace):
CASE.trace (the monitor's text, after a few ``#`` header lines), CASE.rules (the ruleset
with counters after the connections: ``iptables-save -c`` or ``nft list ruleset``),
CASE.json (the nft backend's ``nft -j list ruleset``; for both, the flow, which pod
answered each port, and the versions). The trace rules are removed before the ruleset
is saved, and the script fails if the ruleset differs from the one before the trace.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO, "tests", "unit", "plugins", "module_utils", "fixtures", "trace")
LAYOUTS = ("tutorial", "kube-proxy")
BACKENDS = ("iptables", "nftables")
SOURCES = ("pod", "node")
CASES = ["%s-%s-%s" % (layout, backend, source) for layout in LAYOUTS for backend in BACKENDS for source in SOURCES]

CLUSTER_IP, SERVICE_PORT = "10.96.0.1", 8080
PORTS = (40100, 40109)  # the source ports reserved for the traced flow
NODE_UPLINK, NODE_ADDRESS, NODE_GATEWAY = "eth0", "192.168.50.2/24", "192.168.50.1"
PODS = [
    {"name": "adam", "address": "10.0.0.11", "netns": "netns_adam", "host_veth": "veth_adam",
     "pod_veth": "veth_ns_adam", "labels": {"component": "app"}},
    {"name": "eve", "address": "10.0.0.21", "netns": "netns_eve", "host_veth": "veth_eve",
     "pod_veth": "veth_ns_eve", "labels": {"component": "app"}},
]
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "app-service"},
           "spec": {"clusterIP": CLUSTER_IP, "selector": {"component": "app"},
                    "ports": [{"protocol": "TCP", "port": SERVICE_PORT, "targetPort": 8080}]}}
TRACE_TABLE = "k8slab-trace"
TRACE_COMMENT = "k8slab packet_trace"

# The tutorial's own iptables commands for its Service (see tests/integration/test_iptables_chains_tutorial.py).
TUTORIAL_RULES = [
    "-t nat -N APP-SERVICE",
    "-t nat -A PREROUTING -j APP-SERVICE",
    "-t nat -A OUTPUT -j APP-SERVICE",
    "-t nat -N EDEN-SVC-HTTP",
    "-t nat -A APP-SERVICE -d 10.96.0.1 -p tcp -m tcp --dport 8080 -j EDEN-SVC-HTTP",
    "-t nat -N ADAM-HTTP",
    "-t nat -A ADAM-HTTP -p tcp -m tcp -j DNAT --to-destination 10.0.0.11:8080",
    "-t nat -A EDEN-SVC-HTTP -j ADAM-HTTP",
    "-t nat -N EVE-HTTP",
    "-t nat -A EVE-HTTP -p tcp -m tcp -j DNAT --to-destination 10.0.0.21:8080",
    "-t nat -I EDEN-SVC-HTTP 1 -m statistic --mode random --probability 0.5 -j EVE-HTTP",
]

# A pod's web app: answers every GET with the pod's name (the tutorial's Gin app answers with its hostname).
SERVER = r"""
import http.server, sys
name = sys.argv[1]
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ('{"pod": "%s"}\n' % name).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
"""

# One connection from a reserved source port; prints the answer's body.
CLIENT = r"""
import socket, sys
source, port, destination, dport = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((source, port))
s.settimeout(5)
s.connect((destination, dport))
s.sendall(b"GET / HTTP/1.0\r\nHost: service\r\n\r\n")
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
s.close()
print(data.split(b"\r\n\r\n", 1)[-1].decode().strip())
"""


def run(argv, input=None, check=True):
    result = subprocess.run(argv, input=input, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise SystemExit("%s failed (%d): %s%s" % (" ".join(argv), result.returncode, result.stdout, result.stderr))
    return result.stdout


def import_renderers():
    """The collection's renderers, importable from a plain checkout."""
    root = tempfile.mkdtemp(prefix="k8slab-capture-")
    os.makedirs(os.path.join(root, "ansible_collections", "k8slab"))
    os.symlink(REPO, os.path.join(root, "ansible_collections", "k8slab", "kube_proxy"))
    sys.path.insert(0, root)
    from ansible_collections.k8slab.kube_proxy.plugins.module_utils import (  # noqa: E402 pylint: disable=import-error
        kube_proxy_iptables, kube_proxy_nftables, packet_trace, service_chains, service_model)
    return kube_proxy_iptables, kube_proxy_nftables, packet_trace, service_chains, service_model


# ---------------------------------------------------------------- the node, by hand

def build_pod_network():
    """The tutorial's steps: bridge, pods, veths, addresses, routes; forwarding; the node's uplink."""
    run(["mount", "--make-rprivate", "/"])
    run(["mount", "-t", "tmpfs", "-o", "mode=755", "capture-run", "/run"])
    os.makedirs("/run/netns")
    os.makedirs("/run/lock")
    steps = [
        "link set lo up",
        # the node's uplink: a veth into a namespace standing for the segment, holding the gateway
        "netns add segment",
        "link add dev %s type veth peer name uplink" % NODE_UPLINK,
        "link set dev uplink netns segment",
        "-n segment address add %s/24 dev uplink" % NODE_GATEWAY,
        "-n segment link set dev uplink up",
        "address add %s dev %s" % (NODE_ADDRESS, NODE_UPLINK),
        "link set dev %s up" % NODE_UPLINK,
        "route add default via %s" % NODE_GATEWAY,
        "link add dev bridge_eden type bridge",
        "address add 10.0.0.1/24 dev bridge_eden",
        "link set bridge_eden up",
    ]
    for pod in PODS:
        steps += [
            "netns add %s" % pod["netns"],
            "-n %s link set dev lo up" % pod["netns"],
            "link add dev %s type veth peer name %s" % (pod["host_veth"], pod["pod_veth"]),
            "link set dev %s master bridge_eden" % pod["host_veth"],
            # a pod that reaches itself through the Service gets its packets back through its own port
            "link set dev %s type bridge_slave hairpin on" % pod["host_veth"],
            "link set dev %s up" % pod["host_veth"],
            "link set dev %s netns %s" % (pod["pod_veth"], pod["netns"]),
            "-n %s link set dev %s up" % (pod["netns"], pod["pod_veth"]),
            "-n %s address add %s/24 dev %s" % (pod["netns"], pod["address"], pod["pod_veth"]),
            "-n %s route add default via 10.0.0.1" % pod["netns"],
        ]
    for step in steps:
        run(["ip"] + step.split())
    with open("/proc/sys/net/ipv4/ip_forward", "w") as handle:
        handle.write("1\n")
    # The pod network's own rules (roles/pod_network): FORWARD accepts and the MASQUERADE of the pod CIDR.
    for rule in ("-A FORWARD -i bridge_eden -j ACCEPT", "-A FORWARD -o bridge_eden -j ACCEPT",
                 "-t nat -A POSTROUTING -s 10.0.0.0/24 -j MASQUERADE"):
        run(["iptables"] + rule.split())


def write_service(layout, backend, renderers):
    kube_proxy_iptables, kube_proxy_nftables, dummy, service_chains, service_model = renderers
    if layout == "tutorial" and backend == "iptables":
        for rule in TUTORIAL_RULES:
            run(["iptables"] + rule.split())
        return
    if layout == "tutorial":
        plan = service_chains.plan_service_chains([SERVICE], PODS)
        body, dummy = kube_proxy_nftables.render_tutorial(plan["services"], counters=True)
    else:
        records = service_model.service_ports([SERVICE], [], PODS)
        if backend == "iptables":
            rendered = kube_proxy_iptables.render(records, cluster_cidr="10.0.0.0/24")
            for table in ("nat", "filter"):
                run(["iptables-restore", "--noflush"], input=kube_proxy_iptables.restore_text(table, rendered[table]))
                # kube-proxy keeps its jumps at the top of the built-in chains, the first listed on top
                for jump in reversed(rendered[table]["builtin_rules"]):
                    run(["iptables", "-t", table, "-I", jump["chain"], "1"] + split_rule(jump["rule"]))
            return
        body, dummy = kube_proxy_nftables.render_kube_proxy(records, "10.0.0.0/24", "10.96.0.0/12", counters=True)
    run(["nft", "-f", "-"], input="table ip kube-proxy {\n%s}\n" % body)


def split_rule(rule):
    """An iptables rule text into argv words (double-quoted comments stay one word)."""
    return [word.strip('"') for word in re.findall(r'"[^"]*"|\S+', rule)]


def start_pods():
    servers = []
    for pod in PODS:
        servers.append(subprocess.Popen(["ip", "netns", "exec", pod["netns"], sys.executable, "-c", SERVER, pod["name"]]))
    for pod in PODS:  # wait until each answers on its own address (these ports are not traced)
        for dummy in range(50):
            probe = subprocess.run(["ip", "netns", "exec", pod["netns"], sys.executable, "-c",
                                    "import socket; socket.create_connection((%r, 8080), 1).close()" % pod["address"]],
                                   capture_output=True, check=False)
            if probe.returncode == 0:
                break
            time.sleep(0.1)
        else:
            raise SystemExit("the web app in %s does not answer" % pod["netns"])
    return servers


# ---------------------------------------------------------------- marking the flow

def apply(commands):
    for command in commands:
        run(command["argv"], input=command["input"])


def snapshot(backend, counters):
    """The ruleset as text; without counters for the before/after comparison."""
    if backend == "iptables":
        text = run(["iptables-save"] + (["-c"] if counters else []))
        return "".join(line + "\n" for line in text.splitlines() if not line.startswith("#"))
    text = run(["nft", "list", "ruleset"])
    if not counters:
        text = re.sub(r"counter packets \d+ bytes \d+", "counter", text)
        text = re.sub(r"(\n\s*packets) \d+ bytes \d+", r"\1", text)
    return text


def client_address(source):
    if source == "pod":
        return PODS[0]["address"]
    route = json.loads(run(["ip", "-json", "route", "get", CLUSTER_IP]))
    return route[0]["prefsrc"]


def capture(case, out, connections):
    layout, backend, source = case.rsplit("-", 2)
    renderers = import_renderers()
    build_pod_network()
    write_service(layout, backend, renderers)
    servers = start_pods()
    client = client_address(source)
    before = snapshot(backend, counters=False)
    packet_trace = renderers[2]
    rules = packet_trace.trace_rules(backend, "prerouting" if source == "pod" else "output", client, CLUSTER_IP,
                                     SERVICE_PORT, PORTS, tables=run(["nft", "list", "tables", "ip"]).split(),
                                     packets="all")
    monitor_argv = ["xtables-monitor", "--trace"] if backend == "iptables" else ["nft", "monitor", "trace"]
    raw = tempfile.TemporaryFile(mode="w+")
    answers = {}
    # The marks first, then the monitor: nft monitor names only the rules it saw when it started.
    apply(rules["add"])
    try:
        monitor = subprocess.Popen(["stdbuf", "-oL"] + monitor_argv, stdout=raw, stderr=subprocess.STDOUT)
        try:
            time.sleep(0.5)
            for port in range(PORTS[0], PORTS[0] + connections):
                prefix = ["ip", "netns", "exec", PODS[0]["netns"]] if source == "pod" else []
                body = run(prefix + [sys.executable, "-c", CLIENT, client, str(port), CLUSTER_IP, str(SERVICE_PORT)])
                answers[str(port)] = json.loads(body)["pod"]
            time.sleep(1.0)  # the last FIN/ACK and its events
        finally:
            monitor.send_signal(signal.SIGINT)
            monitor.wait(timeout=5)
    finally:
        apply(rules["delete"])
        for server in servers:
            server.kill()
            server.wait()
    after = snapshot(backend, counters=False)
    if after != before:
        raise SystemExit("%s: the ruleset after the trace differs from before:\n%s\n---\n%s" % (case, before, after))
    raw.seek(0)
    events = raw.read()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    versions = {"kernel": platform.release(), "iptables": run(["iptables", "-V"]).strip(),
                "nft": run(["nft", "-v"]).strip()}
    source_name = PODS[0]["netns"] if source == "pod" else "node"
    header = [
        "# %s: %s -> %s:%d, source ports %d-%d, %d connections; captured %s by scripts/capture_trace_fixtures.py"
        % (case, source_name, CLUSTER_IP, SERVICE_PORT, PORTS[0], PORTS[1], connections, stamp),
        "# %s" % "; ".join("%s %s" % item for item in sorted(versions.items())),
        "# answered: %s" % ", ".join("%s=%s" % item for item in sorted(answers.items())),
    ]
    with open(os.path.join(out, case + ".trace"), "w") as handle:
        handle.write("\n".join(header) + "\n" + events)
    with open(os.path.join(out, case + ".rules"), "w") as handle:
        handle.write(snapshot(backend, counters=True))
    meta = {"case": case, "layout": layout, "backend": backend, "source": source_name, "client": client,
            "destination": "%s:%d" % (CLUSTER_IP, SERVICE_PORT), "ports": list(PORTS), "answered": answers,
            "captured": stamp, "versions": versions,
            "trace_rules": rules["add"]}
    if backend == "nftables":
        meta["ruleset"] = json.loads(run(["nft", "-j", "list", "ruleset"]))
    with open(os.path.join(out, case + ".json"), "w") as handle:
        json.dump(meta, handle, indent=1, sort_keys=True)
        handle.write("\n")
    print("%s: %d event lines, answered %s" % (case, events.count("\n"), answers))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--connections", type=int, default=3)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("cases", nargs="*", metavar="CASE", help="one of: %s" % ", ".join(CASES))
    args = parser.parse_args()
    unknown = [case for case in args.cases if case not in CASES]
    if unknown:
        parser.error("unknown case %s; the cases are %s" % (", ".join(unknown), ", ".join(CASES)))
    if not 1 <= args.connections <= PORTS[1] - PORTS[0] + 1:
        parser.error("--connections must be between 1 and %d" % (PORTS[1] - PORTS[0] + 1))
    if args.inside:
        capture(args.cases[0], args.out, args.connections)
        return 0
    if os.geteuid() != 0:
        parser.error("needs root (each case runs in its own network namespace)")
    os.makedirs(args.out, exist_ok=True)
    rc = 0
    for case in args.cases or CASES:
        # A new network and mount namespace per case: nothing of it outlives the run.
        result = subprocess.run(["unshare", "--net", "--mount", "--", sys.executable, os.path.abspath(__file__),
                                 "--inside", "--out", os.path.abspath(args.out),
                                 "--connections", str(args.connections), case], check=False)
        rc = rc or result.returncode
    return rc


if __name__ == "__main__":
    sys.exit(main())
