# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""kube-proxy's packet-flow expectations, run with real packets through our rules on a real kernel.

For each case of tests/data/kube_proxy_cases with packet flows, and each backend whose kube-proxy
test file holds the case, a throwaway sandbox (conftest.py) becomes the node:
- the node's addresses on a link that also carries the default route into an empty namespace (so
  a packet no rule touches and no address takes goes nowhere);
- one namespace per endpoint IP, answering on its ports with its own "ip:port" and the source it
  saw (TCP and UDP), on a veth of its own (/32 address, routed by the node, as Calico wires pods:
  every packet between pods crosses the node's netfilter, no bridge short-cut);
- one namespace per client source: cluster-CIDR sources as pods, other sources behind the node on a
  veth each; node addresses and 127.0.0.1 as sources are the node itself (OUTPUT);
- every load balancer (ingress) IP of the case's LoadBalancer Services as a local address of the
  node, as a VIP-style load balancer leaves it on a real node (GCE routes it there as a local
  address; kube-proxy's allowFromNode is written for that): clients route every packet through the
  node, so a packet to the IP meets the node's rules with the IP still its destination, as it does
  behind a real load balancer; the node itself can use the IP as a source (the "same node to LB,
  SNATted to LB" flows); and a packet that no rule takes reaches the node's own listener, so a
  missing DROP or REJECT shows instead of passing as a timeout;
- our rules for the case, rendered by kube_proxy_iptables / kube_proxy_nftables and loaded with
  iptables-restore / nft -f.
Each flow is then sent for real and its outcome compared with kube-proxy's: the endpoints reached
(all of them, none other), masquerade (the endpoint saw another source than the client's), or
refused (REJECT), timed out (DROP), answered by the node itself (ACCEPT, or no rule for a node
address). A flow whose outcome differs must be taken by a DIFFERENCES entry's flow selector, else
the test fails; an entry whose selector takes a differing flow nowhere fails the last test.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys
import textwrap

import pytest

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import nftables as nft_utils
from ansible_collections.k8slab.kube_proxy.plugins.module_utils import service_model as model
from ansible_collections.k8slab.kube_proxy.tests.unit.plugins.module_utils import kube_proxy_cases as kc

# The last test sums up what the others found (RESULTS, DIFFERING_USED): under pytest-xdist every test of
# this file runs in one worker, in order (scripts/test: --dist loadfile).
ATTEMPTS = 24  # per flow with endpoints: a miss of one of three endpoints has odds 3 * (2/3)^24 < 1/20000
ATTEMPTS_REFUSED = 2
TIMEOUT = 0.6
RESULTS = {}  # backend -> {"pass": n, "named": {id: n}, "not run": {reason: n}}
DIFFERING_USED = set()

SERVER = textwrap.dedent("""\
    import socket, sys, threading
    def answer(ip, port, peer):  # the node's own listeners say "host"; an endpoint says who it is and whom it saw
        return ("host\\n" if ip == "0.0.0.0" else "%s:%d %s\\n" % (ip, port, peer[0])).encode()
    def tcp(ip, port):
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((ip, port)); s.listen(64)
        while True:
            c, peer = s.accept(); c.sendall(answer(ip, port, peer)); c.close()
    def udp(ip, port):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((ip, port))
        while True:
            data, peer = s.recvfrom(100); s.sendto(answer(ip, port, peer), peer)
    for spec in sys.argv[1:]:
        proto, ip, port = spec.split(":")
        threading.Thread(target=tcp if proto == "TCP" else udp, args=(ip, int(port)), daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()
""")

CLIENT = textwrap.dedent("""\
    import errno, json, socket, sys
    source, proto, address, port, attempts, timeout = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
    out = []
    for _ in range(attempts):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "TCP" else socket.SOCK_DGRAM)
        s.settimeout(timeout)
        try:
            s.bind((source, 0))
            s.connect((address, port))
            if proto == "UDP":
                s.send(b"x")
            out.append(s.recv(100).decode().strip())
        except socket.timeout:
            out.append("timeout")
        except OSError as e:
            out.append({errno.ECONNREFUSED: "refused", errno.EHOSTUNREACH: "unreachable",
                        errno.ENETUNREACH: "unreachable"}.get(e.errno, "error %s" % e.errno))
        finally:
            s.close()
        if len(out) == 2 and " " not in out[0] and " " not in out[1]:
            break  # no endpoint answers: refused or dropped twice says what this flow does, timeouts are slow
    print(json.dumps(out))
""")


def _flow_runs():
    for case in kc.CASES:
        backends = []
        for source in case["source"]["files"]:
            backends.append("iptables" if "iptables" in source["file"] else "nftables")
        for backend in backends:
            if any(backend in kc.flow_backends(flow) for dummy, dummy2, flows, dummy3 in kc.steps(case) for flow in flows):
                yield pytest.param(case, backend, id="%s:%s" % (backend, case["name"]))


class Node(object):
    """The sandbox as kube-proxy's test node, with pods and clients around it."""

    def __init__(self, box, case):
        self.box = box
        self.case = case
        self.netns = {}  # IP -> namespace name ("" for the node itself)
        self.count = 0
        self.servers = []
        for path, text in (("server.py", SERVER), ("client.py", CLIENT)):
            with open(os.path.join(box.tmpdir, path), "w") as handle:
                handle.write(text)
        run = box.run
        run(["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"])
        # No dummy links here: node0 is a veth whose peer sits up in an empty namespace, where whatever
        # the default route sends is dropped.
        run(["ip", "netns", "add", "void"])
        run(["ip", "link", "add", "node0", "type", "veth", "peer", "name", "void0"])
        run(["ip", "link", "set", "void0", "netns", "void"])
        run(["ip", "netns", "exec", "void", "ip", "link", "set", "void0", "up"])
        run(["ip", "link", "set", "node0", "up"])
        for address in case["node"]["ips"]:
            run(["ip", "addr", "add", address + "/24", "dev", "node0"])
            self.netns[address] = ""
        for address in sorted(set(ip for dummy, manifests, dummy2, dummy3 in kc.steps(case)
                                  for ip in kc.load_balancer_ips(manifests))):
            run(["ip", "addr", "add", address + "/32", "dev", "node0"])
            self.netns[address] = ""
        self.netns["127.0.0.1"] = ""
        run(["ip", "route", "replace", "default", "dev", "node0"])

    def attach(self, address):
        """A namespace with `address`, routed by the node over a veth of its own; returns its name."""
        if address in self.netns:
            return self.netns[address]
        self.count += 1
        name, host, peer = "n%d" % self.count, "v%d" % self.count, "e%d" % self.count
        run = self.box.run
        run(["ip", "netns", "add", name])
        run(["ip", "link", "add", host, "type", "veth", "peer", "name", peer])
        run(["ip", "link", "set", peer, "netns", name])
        run(["ip", "link", "set", host, "up"])
        # The node answers ARP for the pod's gateway (169.254.1.1) and everything it routes, at once.
        run(["sysctl", "-qw", "net.ipv4.conf.%s.proxy_arp=1" % host, "net.ipv4.neigh.%s.proxy_delay=0" % host])
        # The pod's gateway address on the node's end, as Calico does: what MASQUERADE picks for a packet
        # leaving through this link (with no address here it may pick the node address the client used).
        run(["ip", "addr", "add", "169.254.1.1/32", "dev", host])
        run(["ip", "route", "add", address + "/32", "dev", host])
        inside = ["ip", "netns", "exec", name]
        run(inside + ["ip", "link", "set", "lo", "up"])
        run(inside + ["ip", "link", "set", peer, "name", "eth0"])
        run(inside + ["ip", "addr", "add", address + "/32", "dev", "eth0"])
        run(inside + ["ip", "link", "set", "eth0", "up"])
        run(inside + ["ip", "route", "add", "169.254.1.1", "dev", "eth0"])
        run(inside + ["ip", "route", "add", "default", "via", "169.254.1.1", "dev", "eth0"])
        self.netns[address] = name
        return name

    def serve(self, address, specs):
        name = self.attach(address)
        argv = ["ip", "netns", "exec", name] if name else []
        proc = self.box.popen(argv + [sys.executable, os.path.join(self.box.tmpdir, "server.py")] + specs)
        self.servers.append(proc)

    def send(self, flow, attempts):
        address, port = kc.destination(flow)
        name = self.netns.get(flow["source"])
        if name is None:
            name = self.attach(flow["source"])
        argv = ["ip", "netns", "exec", name] if name else []
        result = self.box.run(argv + [sys.executable, os.path.join(self.box.tmpdir, "client.py"), flow["source"],
                                      flow["protocol"], address, str(port), str(attempts), str(TIMEOUT)])
        return json.loads(result.stdout)


def _popen(box, argv):
    import subprocess
    proc = subprocess.Popen(box.argv(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    if line != "ready":
        raise AssertionError("server did not start: %s" % proc.stderr.read())
    return proc


# Makes the nfacct counter objects in the sandbox, as kube-proxy makes them at a full sync (its fake has them).
NFACCT = ("import sys; sys.path.insert(0, sys.argv[1]); "
          "from ansible_collections.k8slab.kube_proxy.plugins.module_utils import nfacct; "
          "present, dummy = nfacct.ensure(sys.argv[2:]); assert present == sorted(sys.argv[2:]), present")
COLLECTIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".collections")


def load_rules(box, case, manifests, backend):
    if backend == "iptables":
        opts = kc.options(case, "iptables")
        result = kc.render_iptables_tables(case, manifests)
        if opts.get("nfacct"):
            box.run([sys.executable, "-c", NFACCT, COLLECTIONS] + list(kc.kpi.NFACCT_COUNTERS))
        text = ""
        for table in ("filter", "nat"):
            lines = ["*" + table] + [":%s - [0:0]" % c["name"] for c in result[table]["chains"]]
            lines += ["-A %s %s" % (c["name"], rule) for c in result[table]["chains"] for rule in c["rules"]]
            lines += ["-A %s %s" % (jump["chain"], jump["rule"]) for jump in result[table]["builtin_rules"]]
            text += "\n".join(lines + ["COMMIT"]) + "\n"
        box.run(["iptables-restore"], input=text)
        if opts["localhost_nodeports"]:
            box.run(["sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1"])  # as kube-proxy sets it
    else:
        box.run(["nft", "-f", "-"], input=nft_utils.scratch_input("ip", "kube-proxy", kc.render_nftables(case, manifests)))


def clear_rules(box, backend):
    if backend == "iptables":
        for table in ("filter", "nat"):
            box.run(["iptables", "-t", table, "-F"])
            box.run(["iptables", "-t", table, "-X"])
    else:
        box.run(["nft", "delete", "table", "ip", "kube-proxy"])
    box.run(["conntrack", "-F"], check=False)


def outcome_matches(flow, backend, replies, node):
    """(True/False, what happened) for kube-proxy's expected output and masq."""
    expected = kc.flow_output(flow, backend)
    address, dummy = kc.destination(flow)
    reached = set()
    masq = set()
    kinds = set()
    for reply in replies:
        if " " in reply:
            endpoint, seen = reply.split(" ")
            reached.add(endpoint)
            masq.add(seen != flow["source"])
            kinds.add("endpoint")
        elif reply == "host":
            kinds.add("host")
        else:
            kinds.add(reply)
    what = "reached %s masq %s; other outcomes %s" % (sorted(reached), sorted(masq), sorted(kinds - {"endpoint"}))
    if isinstance(expected, list):
        return kinds == {"endpoint"} and reached == set(expected) and masq == {flow["masq"]}, what
    if expected == "REJECT":
        return kinds == {"refused"}, what
    if expected == "DROP":
        return kinds == {"timeout"}, what
    if expected == "ACCEPT" or (expected == "" and node.netns.get(address) == ""):
        return kinds == {"host"}, what
    return kinds <= {"timeout", "unreachable"}, what  # "": no rule; the node routes it nowhere


@pytest.fixture
def node_for(sandbox):
    sandbox.popen = lambda argv: _popen(sandbox, argv)
    nodes = []

    def make(case):
        nodes.append(Node(sandbox, case))
        return nodes[-1]
    yield make
    for node in nodes:
        for proc in node.servers:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("case, backend", list(_flow_runs()))
def test_packet_flows_on_a_real_kernel(node_for, case, backend):
    box_node = node_for(case)
    box = box_node.box
    counts = RESULTS.setdefault(backend, {"pass": 0, "named": {}, "not run": {}})
    # Every endpoint of every step answers on its ports; node addresses answer as "host" on flow ports.
    serving = {}
    host_ports = set()
    for dummy, manifests, flows, dummy2 in kc.steps(case):
        services, slices = model.split_manifests(manifests)
        for endpoint_slice in slices:
            for endpoint in endpoint_slice.get("endpoints") or []:
                for port in endpoint_slice.get("ports") or []:
                    serving.setdefault(endpoint["addresses"][0], set()).add(
                        "%s:%s:%d" % (port.get("protocol", "TCP"), endpoint["addresses"][0], port["port"]))
        for flow in flows:
            address, port = kc.destination(flow)
            if box_node.netns.get(address) == "":
                host_ports.add((flow["protocol"], port))
    for address, specs in sorted(serving.items()):
        assert not ipaddress.ip_address(address).is_loopback
        box_node.serve(address, sorted(specs))
    if host_ports:
        box_node.serve("127.0.0.1", ["%s:0.0.0.0:%d" % hp for hp in sorted(host_ports) if hp[0] != "SCTP"])
    failures = []
    for step, manifests, flows, dummy in kc.steps(case):
        load_rules(box, case, manifests, backend)
        for flow in flows:
            if backend not in kc.flow_backends(flow):
                continue
            if flow["protocol"] == "SCTP":
                counts["not run"]["SCTP: this kernel has no SCTP sockets"] = counts["not run"].get(
                    "SCTP: this kernel has no SCTP sockets", 0) + 1
                continue
            expected = kc.flow_output(flow, backend)
            replies = box_node.send(flow, ATTEMPTS if isinstance(expected, list) else ATTEMPTS_REFUSED)
            ok, what = outcome_matches(flow, backend, replies, box_node)
            if ok:
                counts["pass"] += 1
                continue
            named = kc.flow_differences(case, manifests, flow, backend)
            if named:
                DIFFERING_USED.update(named)
                counts["named"][named[0]] = counts["named"].get(named[0], 0) + 1
                continue
            failures.append("%s / %s: %s %s -> %s expected %r masq %s; got %s"
                            % (step, flow["name"], flow["protocol"], flow["source"], flow["destination"],
                               expected, flow["masq"], what))
        clear_rules(box, backend)
    assert not failures, "\n".join(failures)


def test_summary_and_no_stale_flow_differences(request):
    if not RESULTS:
        pytest.skip("no packet flow ran (the integration tests need root)")
    for backend, counts in sorted(RESULTS.items()):
        line = ("kube-proxy packet flows on a real kernel (%s): %d passing, %d differ as DIFFERENCES name (%s), %d not run (%s)"
                % (backend, counts["pass"], sum(counts["named"].values()),
                   ", ".join("%s %d" % item for item in sorted(counts["named"].items())) or "none",
                   sum(counts["not run"].values()), "; ".join(sorted(counts["not run"])) or "none"))
        request.node.user_properties.append((kc.SUMMARY, line))
    flow_entries = [entry["id"] for entry in kc.DIFFERENCES if entry.get("flows")]
    stale = [entry for entry in flow_entries if entry not in DIFFERING_USED]
    assert not stale, "flow DIFFERENCES no kernel result needed (remove them): %s" % stale
