# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Data-path benchmark: new connections/s and latency via a ClusterIP vs the pod IP, with 1 to 5,000 Services.

Everything runs in a throwaway network + mount namespace (it re-executes
itself under `unshare --net --mount`, with a private /run), never in the
host's own: a bridge with the pod gateway 10.0.0.1/24, one pod (a named
namespace in the private /run/netns, veth on the bridge, 10.0.0.11) running
the lab's own Gin app, and N Services written by k8slab.kube_proxy.iptables_chains
in kube-proxy's layout (KUBE-SERVICES -> KUBE-SVC-* -> KUBE-SEP-* DNAT), every one
sending to that pod. The measured Service is the last rule of KUBE-SERVICES,
so a new connection to it walks all N rules first (the worst case of the
iptables layout; kube-proxy's nftables layout looks it up in one map).

The load generator runs in the bench namespace (the "node") and opens one
fresh TCP connection per HTTP request (`Connection: close`): wrk, else ab,
installed on demand from Debian's packages with apt-get (the only thing done
outside the namespace, besides building the app). Latency is taken apart,
one request at a time on a fresh connection with the connect included (wrk
leaves the connect out, and the NAT's work is done on the SYN; ab rounds to
whole milliseconds). Each round measures the pod
IP and the ClusterIP back to back; the figures are medians over rounds.

The server is the lab's Gin app (roles/web_app/files/main.go), compiled
once with Go and Gin from the node image in a throwaway container
(`docker run --network none`) and cached in .cache/bench/: it is what the
lab's pods run, and, unlike python's http.server (a few hundred connections/s)
or busybox httpd (a fork per connection), it serves thousands of new
connections per second, so the NAT's cost is not hidden behind the server's.

    K8SLAB_NODE_IMAGE=k8slab/node:<tag> .venv/bin/python benchmarks/datapath.py [--services 1 1000 5000] [--backends iptables nftables] [--rounds 3]
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import iptables_chains as bench
from targets import Targets, median, spread, stamp

REPO = bench.REPO
POD_NS = "bench-pod"
POD_IP = "10.0.0.11"
PORT = 8080
CACHE = os.path.join(os.environ.get("K8SLAB_CACHE", os.path.join(REPO, ".cache")), "bench")


# ------------------------------------------------------------------ outside the namespace: tools

def load_generator():
    """wrk, else ab; installed with apt-get when missing (apt-cache policy says which exists)."""
    for tool, package in (("wrk", "wrk"), ("ab", "apache2-utils")):
        if shutil.which(tool):
            return tool
    for tool, package in (("wrk", "wrk"), ("ab", "apache2-utils")):
        policy = subprocess.run(["apt-cache", "policy", package], capture_output=True, text=True, check=False).stdout
        if re.search(r"Candidate: (?!\(none\))", policy):
            print("installing %s with apt-get" % package)
            subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", package], check=True,
                           stdout=subprocess.DEVNULL, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
            return tool
    sys.exit("neither wrk nor ab is installed or installable (apt-cache policy wrk apache2-utils)")


def web_app():
    """The lab's Gin app, built in a throwaway node container, cached by source and image."""
    source = os.path.join(REPO, "roles", "web_app", "files", "main.go")
    image = os.environ.get("K8SLAB_NODE_IMAGE", "k8slab/node:latest")
    with open(source, "rb") as handle:
        key = hashlib.sha256(handle.read() + image.encode()).hexdigest()[:16]
    binary = os.path.join(CACHE, "web-app-" + key)
    if os.path.exists(binary):
        return binary
    os.makedirs(CACHE, exist_ok=True)
    print("building the Gin app in a %s container (once)" % image)
    name = os.environ.get("K8SLAB_CONTAINER_PREFIX", "") + "k8slab-bench-build"
    subprocess.run(["docker", "run", "--rm", "--name", name, "--network", "none",
                    "--volume", "%s:/src/main.go:ro" % source, "--volume", "%s:/out" % CACHE,
                    "--env", "GO111MODULE=off", "--env", "GOPATH=/usr/share/gocode", "--env", "CGO_ENABLED=0",
                    "--env", "GOCACHE=/tmp/gocache", "--env", "HOME=/tmp", "--entrypoint", "go",
                    image, "build", "-o", "/out/" + os.path.basename(binary), "/src/main.go"], check=True)
    return binary


# ------------------------------------------------------------------ inside the namespace

def setup_lab():
    """The node's bridge and one pod, as pod_network builds them, inside the bench namespace."""
    commands = [
        ["ip", "link", "add", "bench_br", "type", "bridge"],
        ["ip", "address", "add", "10.0.0.1/24", "dev", "bench_br"],
        ["ip", "link", "set", "bench_br", "up"],
        ["ip", "netns", "add", POD_NS],
        ["ip", "-n", POD_NS, "link", "set", "lo", "up"],
        ["ip", "link", "add", "bench_veth", "type", "veth", "peer", "name", "eth0", "netns", POD_NS],
        ["ip", "link", "set", "bench_veth", "master", "bench_br", "up"],
        ["ip", "-n", POD_NS, "address", "add", POD_IP + "/24", "dev", "eth0"],
        ["ip", "-n", POD_NS, "link", "set", "eth0", "up"],
        ["ip", "-n", POD_NS, "route", "add", "default", "via", "10.0.0.1"],
        # The two paths leave from different node addresses: the pod's TIME_WAIT sockets of one
        # path must not meet the other's SYNs (TCP timestamps differ per address pair: PAWS drops them).
        ["ip", "address", "add", "10.0.0.2/24", "dev", "bench_br"],
        ["ip", "address", "add", "10.0.0.3/24", "dev", "bench_br"],
        ["ip", "route", "add", POD_IP + "/32", "dev", "bench_br", "src", "10.0.0.2"],
        # ClusterIPs need a route out of the node before OUTPUT's DNAT rewrites them.
        ["ip", "route", "add", "10.96.0.0/12", "dev", "bench_br", "src", "10.0.0.3"],
    ]
    for argv in commands:
        bench.run(argv)
    # Millions of closed connections must not pile up in conntrack (these sysctls are this namespace's own).
    for name, value in (("nf_conntrack_tcp_timeout_time_wait", "5"), ("nf_conntrack_tcp_timeout_close", "5")):
        path = "/proc/sys/net/netfilter/" + name
        if os.path.exists(path):
            with open(path, "w", encoding="ascii") as handle:
                handle.write(value)


def start_server(binary):
    server = subprocess.Popen(["ip", "netns", "exec", POD_NS, binary, "-listen", ":%d" % PORT],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for dummy in range(100):
        try:
            socket.create_connection((POD_IP, PORT), timeout=1).close()
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the Gin app in %s does not answer on %s:%d" % (POD_NS, POD_IP, PORT))


def cluster_ip(index):
    return "10.96.%d.%d" % (index // 250, index % 250 + 1)


def services_layout(count):
    """count Services in kube-proxy's layout, one endpoint each (the pod); the measured one last."""
    dispatch, chains = [], []
    for index in range(count):
        svc, sep = "KUBE-SVC-%06d" % index, "KUBE-SEP-%06d" % index
        dispatch.append({"rule": "-d %s/32 -p tcp -m tcp --dport %d -j %s" % (cluster_ip(index), PORT, svc),
                         "comment": "default/svc-%d:http cluster IP" % index})
        chains.append({"name": svc, "rules": ["-j " + sep]})
        chains.append({"name": sep, "rules": ["-p tcp -m tcp -j DNAT --to-destination %s:%d" % (POD_IP, PORT)]})
    chains.insert(0, {"name": "KUBE-SERVICES", "rules": dispatch})
    jumps = [{"chain": "PREROUTING", "rule": "-j KUBE-SERVICES"}, {"chain": "OUTPUT", "rule": "-j KUBE-SERVICES"}]
    return {"table": "nat", "owner": "bench", "state_dir": bench.STATE_DIR, "chains": chains, "builtin_rules": jumps}


def connection_rate(tool, address, seconds, connections):
    """New connections (= requests, one per connection) per second, with `connections` in flight."""
    url = "http://%s:%d/" % (address, PORT)
    if tool == "wrk":
        out = bench.run(["wrk", "-t1", "-c%d" % connections, "-d%ds" % seconds, "-H", "Connection: close", url])
        return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    out = bench.run(["ab", "-q", "-t", str(seconds), "-n", "10000000", "-c", str(connections), url])
    return float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1))


def latencies(address, requests):
    """p50 and p99 in ms of one request on a fresh connection, connect included, one at a time.

    wrk's and ab's latency figures leave out the connect (where the NAT's cost is) or round to whole ms.
    """
    request = b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
    samples = []
    for dummy in range(requests):
        start = time.perf_counter()
        with socket.create_connection((address, PORT), timeout=5) as conn:
            conn.sendall(request)
            while conn.recv(65536):
                pass
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return samples[len(samples) // 2], samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def nftables_layout(count):
    """The same Services in kube-proxy's nftables layout: one verdict map lookup, whatever the count."""
    elements = ",\n    ".join("%s . tcp . %d : goto service-%06d" % (cluster_ip(index), PORT, index) for index in range(count))
    chains = "".join("chain service-%06d {\n  goto endpoint-%06d\n}\nchain endpoint-%06d {\n  meta l4proto tcp dnat to %s:%d\n}\n"
                     % (index, index, index, POD_IP, PORT) for index in range(count))
    content = ("map service-ips {\n  type ipv4_addr . inet_proto . inet_service : verdict\n  elements = {\n    %s\n  }\n}\n"
               "chain services {\n  ip daddr . meta l4proto . th dport vmap @service-ips\n}\n"
               "chain nat-prerouting {\n  type nat hook prerouting priority dstnat; policy accept;\n  jump services\n}\n"
               "chain nat-output {\n  type nat hook output priority -100; policy accept;\n  jump services\n}\n%s"
               % (elements, chains))
    return {"family": "ip", "name": "kube-proxy", "content": content, "state_dir": "/run/k8slab-bench/nft_table"}


def apply(runner, module, args):
    """Run one of the collection's modules directly (as AnsiballZ would), inside the namespace."""
    path = runner.write("module_args.json", {"ANSIBLE_MODULE_ARGS": args})
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, ".collections"))
    seconds, out = bench.timed([sys.executable, "-m", "ansible_collections.k8slab.kube_proxy.plugins.modules." + module, path], env=env)
    result = json.loads(out)
    if result.get("failed"):
        raise SystemExit("%s failed: %s" % (module, result.get("msg")))
    return seconds


def backends(wanted):
    found = []
    for backend in wanted:
        if backend == "nftables" and not (shutil.which("nft") and os.path.exists(
                os.path.join(REPO, "plugins", "modules", "nft_table.py"))):
            print("  nftables backend: not measured (no nft command or no nft_table module here)")
            continue
        found.append(backend)
    return found


def measure(tool, address, options):
    p50, p99 = latencies(address, options.requests)
    return connection_rate(tool, address, options.seconds, options.connections), p50, p99


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--services", type=int, nargs="+", default=[1, 1000, 5000])
    parser.add_argument("--backends", nargs="+", choices=["iptables", "nftables"], default=["iptables", "nftables"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=3, help="length of one measurement")
    parser.add_argument("--connections", type=int, default=4, help="concurrent connections of the load generator")
    parser.add_argument("--requests", type=int, default=1000, help="sequential requests for the latency figures")
    parser.add_argument("--markdown", action="store_true", help="also print the table as markdown")
    options = parser.parse_args()
    if not os.environ.get(bench.MARK):
        if os.geteuid() != 0:
            sys.exit("needs root: it creates a throwaway network namespace")
        os.environ["K8SLAB_BENCH_TOOL"] = load_generator()
        os.environ["K8SLAB_BENCH_APP"] = web_app()
    bench.reexec_in_namespace()
    tool, binary = os.environ["K8SLAB_BENCH_TOOL"], os.environ["K8SLAB_BENCH_APP"]

    workdir = tempfile.mkdtemp(prefix="k8slab-bench-datapath-")
    runner = bench.Runner(workdir)
    table = Targets("Data path, %s, %d s x %d rounds per figure, %s" % (tool, options.seconds, options.rounds, stamp(REPO)))
    server = None
    try:
        print("data-path benchmark: %s, %d concurrent, one new connection per request, %d CPUs, load %.2f"
              % (tool, options.connections, os.cpu_count(), os.getloadavg()[0]))
        setup_lab()
        server = start_server(binary)
        for backend in backends(options.backends):
            for count in options.services:
                if backend == "iptables":
                    seconds = apply(runner, "iptables_chains", services_layout(count))
                else:
                    seconds = apply(runner, "nft_table", nftables_layout(count))
                service_ip = cluster_ip(count - 1)
                direct, via = [], []
                for dummy in range(options.rounds):
                    direct.append(measure(tool, POD_IP, options))
                    via.append(measure(tool, service_ip, options))
                print("  %s, %5d Services (applied in %.1f s): pod IP %s conn/s, ClusterIP %s conn/s"
                      % (backend, count, seconds, [round(r[0]) for r in direct], [round(r[0]) for r in via]))
                rates = ([r[0] for r in direct], [r[0] for r in via])
                label = "%s, %d Service%s: new connections/s via the ClusterIP vs the pod IP" % (
                    backend, count, "" if count == 1 else "s")
                measured = "%s vs %s" % (spread(rates[1], "/s"), spread(rates[0], "/s"))
                target = 0.9 if count == 1 and backend == "iptables" else None
                table.add(label, median(rates[1]) / median(rates[0]), measured, target, at_most=False)
                for index, name in ((1, "p50"), (2, "p99")):
                    table.add("  %s latency (fresh connection, connect included) via the ClusterIP vs the pod IP" % name,
                              median([r[index] for r in via]) / median([r[index] for r in direct]),
                              "%.3f ms vs %.3f ms" % (median([r[index] for r in via]), median([r[index] for r in direct])))
            if backend == "iptables":
                bench.reset_nat()  # the next backend alone does the NAT
        table.print_table()
        if options.markdown:
            print("\n" + table.markdown())
    finally:
        if server:
            server.kill()
            server.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
