#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: packet_trace
short_description: Follow connections through the Service rules with the kernel's own trace
version_added: 0.2.0
description:
  - Answers the learner's question "where did my packet go?" with the kernel's trace of nf_tables (the
    framework behind both iptables-nft and nftables), that is every table, chain and rule a packet met, in order,
    with its verdict, the DNAT chosen, the masquerade and the reply's way back.
  - Marks exactly one flow for tracing and nothing else, from O(source) to O(destination) from the source ports
    O(source_ports), which it reserves. C(iptables) backend, a C(-j TRACE) rule in C(raw) PREROUTING (a pod as the
    source) or C(raw) OUTPUT (the node) for the way out, and one in C(mangle) PREROUTING matching conntrack's
    original tuple for the replies (a masquerade may have changed their destination port); read with
    C(xtables-monitor --trace). C(nftables) backend, the same two marks as C(meta nftrace set 1) in a table of its
    own, C(ip k8slab-trace); read with C(nft monitor trace).
  - Then opens O(connections) TCP connections from O(source) (an HTTP GET each; the client closes first), reads
    the events, removes everything it added (also the C(raw) and C(mangle) tables iptables-nft makes on first use,
    when they were not there before) and compares the whole ruleset with the one before, counters aside. A
    difference fails the module.
  - With O(watch=true) it opens nothing; it marks the flow, waits up to O(timeout) seconds for O(connections)
    connections that someone else opens (a client outside the node, such as the segment of a cluster, or the
    module on another node), and reads, removes and compares as above. Start it with C(async) and C(poll=0),
    wait for O(ready_file), open the connections from the ports O(source_ports), then collect it with
    C(async_status). The filter P(k8slab.kube_proxy.trace_paths#filter) joins the connections traced on several
    nodes into one path each.
  - Takes the node lock of M(k8slab.kube_proxy.node_lock) for the time of the trace, so a trace never runs beside
    a converge.
  - The node's configuration is the same before and after, so the module reports C(changed=false).
author:
  - k8slab maintainers (@k8slab)
options:
  source:
    description:
      - Where the connections start, V(node) or the network namespace of a pod (such as V(netns_adam)).
      - With O(watch=true) also an IPv4 address that is not the node's own (a client outside the node, as its packets
        arrive here; a masquerade on another node shows that node's address), or V(any), any address, the
        connections told apart by their source ports O(source_ports) alone.
    type: str
    required: true
  destination:
    description:
      - V(ADDRESS:PORT) to connect to, TCP. A Service's cluster IP and port, a node address and NodePort, or a pod
        address and port.
      - A cluster IP must have a DNAT in the ruleset for that port (else it is no Service); any other address must
        be the node's own, a pod's, or one the node has a route of its own to (not only its default route), another
        node of the cluster, or a pod there.
      - With O(watch=true) also V(any), any destination (as the packets arrive here, after a DNAT on another node).
    type: str
    required: true
  connections:
    description:
      - How many connections to open and trace, one source port each.
      - With O(watch=true), how many to wait for; the watch ends when that many were traced (each with its first
        reply), or when O(timeout) ran out (RV(problems) then says how many came).
    type: int
    default: 3
  source_ports:
    description:
      - The source ports reserved for the traced connections, V(LOW-HIGH); the trace marks only these. Pick a range
        nothing else on the node uses; it must hold at least O(connections) ports.
    type: str
    default: 40100-40109
  backend:
    description:
      - Which monitor and which marks to use. V(auto) takes V(nftables) when the table C(ip O(nft_table)) exists,
        else V(iptables).
    type: str
    choices: [auto, iptables, nftables]
    default: auto
  nft_table:
    description: The Service table of the nftables backend, for V(auto).
    type: str
    default: kube-proxy
  timeout:
    description:
      - Seconds to wait for one connection and its answer, at most 60.
      - With O(watch=true), seconds to wait for all O(connections), at most 600.
    type: float
    default: 3.0
  watch:
    description:
      - Open no connection; trace those someone else opens from O(source) to O(destination) from the ports
        O(source_ports), see the description.
    type: bool
    default: false
  ready_file:
    description:
      - With O(watch=true), a file the module writes (its process id) once the flow is marked and the monitor reads,
        and removes when the watch ends; open the connections after it appeared (C(ansible.builtin.wait_for)).
    type: path
  graph:
    description:
      - Also return the Service's chain graph from the live ruleset with the first traced connection in red, as
        Graphviz DOT or Mermaid (see RV(graph)). Only for a Service destination.
    type: str
    choices: [none, dot, mermaid]
    default: none
  packets:
    description:
      - V(first) traces each connection's first packet (SYN) and first reply (SYN-ACK), the only packets the nat
        chains see; V(all) every packet of the connections, many more events, which the monitor may not keep up
        with (it then says so in RV(problems)).
    type: str
    choices: [first, all]
    default: first
  keep_events:
    description: Return the monitor's raw text in RV(events).
    type: bool
    default: false
  lock:
    description: The node lock file (the one M(k8slab.kube_proxy.node_lock) holds during a converge).
    type: path
    default: /run/lock/kube-proxy-lab.converge.lock
  lock_timeout:
    description: Seconds to wait for a converge to release the node lock before failing.
    type: int
    default: 60
requirements:
  - iptables-nft (C(xtables-monitor)) for the C(iptables) backend; the legacy iptables has no trace events to read.
  - nftables (C(nft)) for the C(nftables) backend and for the snapshot of the ruleset.
  - iproute2 (C(ip)); Python 3 on the node (the connections are opened by it, inside the pod's namespace).
  - Root privileges (C(become=true)).
notes:
  - Only the connections' first packets meet the nat chains; later packets follow conntrack's decision. The
    path shown is the first packet's; with O(packets=all), C(packets) of each of RV(connections) counts the rest.
  - Trace ids are not used to tell packets apart (the kernel reuses them, and NAT changes them); packets are told
    apart by their IP id, length and flags.
  - Connections go only where O(destination) says; point it at addresses of your own lab.
  - Across nodes, a connection is traced on each node by the source ports O(source_ports); kube-proxy masquerades
    with C(--random-fully), so a masqueraded connection leaves with another source port, out of the next node's
    marks.
  - O(source=any) with O(destination=any) marks every new connection from the reserved ports; reserve ports that
    nothing else on the nodes uses (below the ephemeral range, such as V(20100-20109)).
extends_documentation_fragment:
  - k8slab.kube_proxy.attributes.read_only
attributes:
  check_mode:
    description: Validates the input, finds the client address and the backend, and returns the commands that
      would mark the flow; adds nothing and opens no connection.
"""

EXAMPLES = r"""
# test: needs tutorial-node - the tutorial's pods answering behind the Service 10.96.0.1:8080

- name: Follow three connections from pod adam to the tutorial's Service
  k8slab.kube_proxy.packet_trace:
    source: netns_adam
    destination: 10.96.0.1:8080
  register: trace

- name: Show them as a learner reads them
  ansible.builtin.debug:
    msg: "{{ trace.text }}"

- name: From the node, through OUTPUT, with the Service's graph as Graphviz DOT
  k8slab.kube_proxy.packet_trace:
    source: node
    destination: 10.96.0.1:8080
    connections: 1
    graph: dot
  register: from_node

- name: The chains the first connection met, in order
  ansible.builtin.assert:
    that:
      - from_node.connections[0].chains is contains('EDEN-SVC-HTTP')
      - from_node.connections[0].dnat in ['10.0.0.11:8080', '10.0.0.21:8080']

# A cluster: node 2 watches for the connections node 1 opens from pod adam to pod eve on node 2
# test: skip - needs a cluster of two nodes (molecule cluster's verify runs the same trace, adam on node 1 to eve on node 2)
- name: Watch on node 2
  k8slab.kube_proxy.packet_trace:
    source: 10.0.1.11
    destination: 10.0.2.11:8080
    connections: 2
    watch: true
    timeout: 30
    source_ports: 20100-20109
    ready_file: /run/k8slab-trace-watch.ready
  async: 60
  poll: 0
  register: watch_job
  when: inventory_hostname == 'node-2'

# test: skip - needs a cluster of two nodes (molecule cluster's verify runs the same trace, adam on node 1 to eve on node 2)
- name: Wait until node 2 marked the flow
  ansible.builtin.wait_for:
    path: /run/k8slab-trace-watch.ready
  when: inventory_hostname == 'node-2'

# test: skip - needs a cluster of two nodes (molecule cluster's verify runs the same trace, adam on node 1 to eve on node 2)
- name: Open the connections on node 1
  k8slab.kube_proxy.packet_trace:
    source: netns_adam
    destination: 10.0.2.11:8080
    connections: 2
    source_ports: 20100-20109
  register: opened
  when: inventory_hostname == 'node-1'

# test: skip - needs a cluster of two nodes (molecule cluster's verify runs the same trace, adam on node 1 to eve on node 2)
- name: Collect node 2's watch
  ansible.builtin.async_status:
    jid: "{{ watch_job.ansible_job_id }}"
  register: watched
  until: watched.finished
  retries: 60
  delay: 1
  when: inventory_hostname == 'node-2'

# test: skip - needs a cluster of two nodes (molecule cluster's verify runs the same trace, adam on node 1 to eve on node 2)
- name: One path per connection, over both nodes
  ansible.builtin.debug:
    msg: "{{ [['node-1', hostvars['node-1'].opened.connections], ['node-2', hostvars['node-2'].watched.connections]]
             | k8slab.kube_proxy.trace_paths | map(attribute='text') | flatten }}"
  run_once: true
"""

RETURN = r"""
backend:
  description: The backend whose events were read.
  returned: always
  type: str
  sample: iptables
client:
  description:
    - The source address of the connections (the pod's address, or the node's for the destination; with
      O(watch=true) the address O(source) gives, or V(any)).
  returned: always
  type: str
  sample: 10.0.0.11
watch:
  description: Whether the module watched for connections that others open (O(watch)).
  returned: always
  type: bool
  sample: false
destination_kind:
  description:
    - What O(destination) is, V(service), V(node) (a NodePort on a node address), V(pod) (a pod on this node),
      V(remote) (another node or a pod there, reached by a route of the node's own) or V(any).
  returned: always
  type: str
  sample: service
commands:
  description: The commands that mark the flow (C(add)) and that remove the marks again (C(delete)).
  returned: always
  type: dict
  sample: {"add": [["iptables", "-t", "raw", "-I", "PREROUTING", "-s", "10.0.0.11", "..."]], "delete": []}
commands_run:
  description: The commands that ran to mark the flow and to remove the marks, in order.
  returned: unless in check mode
  type: list
  elements: list
  sample: [["iptables", "-t", "raw", "-I", "PREROUTING", "..."], ["iptables", "-t", "raw", "-D", "PREROUTING", "..."]]
answers:
  description: What each connection got, by source port; an error text for one that failed. Empty for a watch.
  returned: unless in check mode
  type: dict
  sample: {"40100": "{\"message\": \"hello world from netns_eve namespace\"}"}
connections:
  description:
    - One entry per traced connection, in the order they began. C(client) and C(service) (V(ADDRESS:PORT));
      C(chains), the chains its first packet met, in order, once each; C(steps), each jump, goto and the DNAT it
      took (C(table chain) pairs); C(dnat), the address and port the DNAT chose; C(masquerade), the masquerading rule;
      C(masqueraded_as), the address and port the reply came back to; C(marked_for_masquerade), kube-proxy's mark;
      C(path) and C(reply_path), the first packet's and the first reply's blocks (C(hook), C(table), C(chain),
      C(hops) with C(table), C(chain), C(rule), C(verdict)); C(packets), how many packets out and back;
      C(entered) and C(left), the first packet as it came to the node and as it went on (C(src) and C(dst) as
      V(ADDRESS:PORT), after the DNAT and the masquerade for C(left), whose C(src) is null when a masquerade rewrote
      it and no reply was traced; C(interface)), by which P(k8slab.kube_proxy.trace_paths#filter) joins nodes;
      C(problems).
  returned: unless in check mode
  type: list
  elements: dict
  sample:
    - client: 10.0.0.11:40100
      service: 10.96.0.1:8080
      chains: [PREROUTING, APP-SERVICE, EDEN-SVC-HTTP, EVE-HTTP, FORWARD, POSTROUTING]
      dnat: 10.0.0.21:8080
      masqueraded_as: 10.0.0.1:40100
      entered: {src: 10.0.0.11:40100, dst: 10.96.0.1:8080, interface: bridge_eden}
      left: {src: 10.0.0.1:40100, dst: 10.0.0.21:8080, interface: bridge_eden}
text:
  description: The connections as a learner reads them, one line per list element.
  returned: unless in check mode
  type: list
  elements: str
  sample: ["connection 1 of 3: 10.0.0.11:40100 -> 10.96.0.1:8080, DNAT to 10.0.0.21:8080, masqueraded as 10.0.0.1:40100"]
problems:
  description: What did not fit (events out of order, a stream cut short, packets of no connection, failed connections).
  returned: unless in check mode
  type: list
  elements: str
  sample: []
graph:
  description: The Service's chain graph with the first connection in red, in the O(graph) format.
  returned: when O(graph) is not V(none) and the destination is a Service
  type: str
  sample: "digraph service { ... }"
events:
  description: The monitor's raw text.
  returned: when O(keep_events=true)
  type: str
"""

import fcntl
import ipaddress
import json
import os
import re
import sys
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import packet_trace, service_graph
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.names import netns_problem
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.runner import Runner

MAX_CONNECTIONS = 100
MAX_WATCH = 600
# Runs in a child python, in the pod's namespace when asked: parameters as JSON on stdin, one result per
# connection as JSON on stdout. Self-contained: it is passed with `python -c`.
CLIENT_CODE = r'''
import json, socket, sys, time
p = json.load(sys.stdin)
results, port = {}, p["low"]
def answer(s):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            return data
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = [line.split(b":", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
    while length and len(body) < int(length[0]):
        chunk = s.recv(4096)
        if not chunk:
            break
        body += chunk
    return body
for i in range(p["count"]):
    if i:
        time.sleep(p["pause"])  # the monitor reads while the kernel waits for no one
    while port <= p["high"]:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((p["source"], port))
            break
        except OSError:
            s.close()
            port += 1
    else:
        results["none"] = "no free source port left in %d-%d" % (p["low"], p["high"])
        break
    s.settimeout(p["timeout"])
    try:
        s.connect((p["host"], p["port"]))
        s.sendall(("GET / HTTP/1.1\r\nHost: %s\r\nUser-Agent: k8slab-packet-trace\r\n\r\n" % p["host"]).encode())
        results[str(port)] = answer(s).decode("utf-8", "replace").strip()[:200]
    except Exception as exc:
        results[str(port)] = "error: %s: %s" % (type(exc).__name__, exc)
    finally:
        s.close()  # the client closes first: the TIME_WAIT stays here, not on the pod
    port += 1
print(json.dumps(results))
'''


def parse_destination(text):
    """``ADDRESS:PORT`` -> (address, port); ValueError naming the field."""
    address, sep, port = to_text(text).rpartition(":")
    try:
        address = str(ipaddress.IPv4Address(address))
    except ValueError:
        raise ValueError("destination %r: expected IPv4-ADDRESS:PORT, such as 10.96.0.1:8080" % (text,))
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("destination %r: the port must be a number from 1 to 65535" % (text,))
    return address, int(port)


def parse_ports(text, connections):
    match = re.match(r"^(\d+)-(\d+)$", to_text(text).strip())
    if not match:
        raise ValueError("source_ports %r: expected LOW-HIGH, such as 40100-40109" % (text,))
    low, high = int(match.group(1)), int(match.group(2))
    if not 1024 <= low <= high <= 65535:
        raise ValueError("source_ports %r: the range must lie within 1024-65535, low first" % (text,))
    if high - low + 1 < connections:
        raise ValueError("source_ports %r holds %d ports, fewer than connections (%d)"
                         % (text, high - low + 1, connections))
    return low, high


def is_address(text):
    try:
        ipaddress.IPv4Address(to_text(text))
        return True
    except ValueError:
        return False


def count_answered(text, backend, client, service, ports, base_chains):
    """How many connections in the monitor's text so far have their first packet and a reply traced."""
    try:
        found = packet_trace.connections(text, backend=backend, client=client, service=service,
                                         base_chains=base_chains, ports=ports)
    except packet_trace.TraceError:
        return 0
    return len([c for c in found if any(p["direction"] == "reply" for p in c["packets"])])


def without_counters(text):
    """``nft list ruleset`` text without its counter values, for the before/after comparison."""
    text = re.sub(r"counter packets \d+ bytes \d+", "counter", text)
    return re.sub(r"(\n\s*packets) \d+ bytes \d+", r"\1", text)


def ruleset_difference(before, after):
    old, new = before.splitlines(), after.splitlines()
    gone = [line for line in old if line not in new]
    added = [line for line in new if line not in old]
    return ["- " + line for line in gone[:20]] + ["+ " + line for line in added[:20]]


def summary(connection, chains):
    """A connection without the parser's internals, for the module's result."""
    def blocks(path):
        out = []
        for block in path:
            position = packet_trace.hook_of(block, chains)
            out.append({"hook": position[0] if position else None, "table": block["table"], "chain": block["chain"],
                        "hops": [dict((key, hop[key]) for key in ("table", "chain", "kind", "rule", "verdict"))
                                 for hop in block["hops"]]})
        return out
    directions = [packet["direction"] for packet in connection["packets"]]
    return {
        "client": connection["client"], "service": connection["service"], "chains": connection["chains"],
        "steps": connection["steps"], "dnat": connection["dnat"],
        "masquerade": connection["masquerade"]["rule"] if connection["masquerade"] else None,
        "masqueraded_as": connection["masqueraded_as"], "marked_for_masquerade": connection["marked_for_masquerade"],
        "path": blocks(connection["path"]), "reply_path": blocks(connection["reply_path"]),
        "packets": {"out": directions.count("original"), "back": directions.count("reply")},
        "entered": connection["entered"], "left": connection["left"],
        "problems": connection["problems"],
    }


class NodeLock(object):
    """The converge lock, held by this process for the time of the trace."""

    def __init__(self, module, path, timeout):
        self.module, self.path, self.timeout, self.fd = module, path, timeout, None

    def __enter__(self):
        directory = os.path.dirname(self.path)
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.time() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except OSError:
                if time.time() > deadline:
                    os.close(self.fd)
                    self.module.fail_json(msg="node busy: a converge holds %s; waited %d s (lock_timeout). Trace again "
                                              "when it is done." % (self.path, self.timeout))
                time.sleep(0.2)

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        return False


class Trace(object):
    def __init__(self, module):
        self.module = module
        self.runner = Runner(module)
        self.params = module.params

    def fail(self, msg, **extra):
        self.module.fail_json(msg=msg, **extra)

    def validate(self):
        params = self.params
        watch = params["watch"]
        if not 1 <= params["connections"] <= MAX_CONNECTIONS:
            self.fail("connections must be between 1 and %d, got %d" % (MAX_CONNECTIONS, params["connections"]))
        longest = MAX_WATCH if watch else 60
        if not 0 < params["timeout"] <= longest:
            self.fail("timeout must be more than 0 and at most %d seconds%s, got %s"
                      % (longest, " (watch=true)" if watch else "", params["timeout"]))
        if params["lock_timeout"] < 0:
            self.fail("lock_timeout must be 0 or more seconds")
        if params["ready_file"] and not watch:
            self.fail("ready_file is for watch=true only (the module opens its connections itself otherwise)")
        try:
            if params["destination"] == packet_trace.ANY:
                if not watch:
                    raise ValueError("destination any: only a watch (watch=true) traces connections to any address; "
                                     "give ADDRESS:PORT")
                self.address, self.port = None, None
            else:
                self.address, self.port = parse_destination(params["destination"])
            self.ports = parse_ports(params["source_ports"], params["connections"])
        except ValueError as error:
            self.fail(to_text(error))
        source = params["source"]
        self.outside = source == packet_trace.ANY or is_address(source)
        if self.outside:
            if not watch:
                self.fail("source %r: the module opens connections only from node or a pod's namespace; to trace "
                          "connections that a client elsewhere opens from %s, set watch=true and open them from the "
                          "source ports %s" % (source, source, params["source_ports"]))
            if source != packet_trace.ANY and source in self.own_addresses():
                self.fail("source %s is an address of this node: its connections go through OUTPUT, not PREROUTING; "
                          "give source=node" % source)
        elif source != "node":
            problem = netns_problem(source)
            if problem:
                self.fail("source %r %s; give node or the network namespace of a pod" % (source, problem))
            if not os.path.exists(os.path.join("/run/netns", source)):
                self.fail("source %r: no such network namespace (ip netns list); give node or a pod's namespace"
                          % source)

    def own_addresses(self):
        dummy, out, dummy = self.runner.read([self.runner.bin("ip"), "-json", "address", "show"])
        return [info.get("local") for link in json.loads(out or "[]") for info in link.get("addr_info", [])]

    def client_address(self):
        """The connections' source address, or None for any (a watch from any address, or to any destination)."""
        source = self.params["source"]
        if self.outside:
            return None if source == packet_trace.ANY else str(ipaddress.IPv4Address(source))
        if self.address is None:
            if source == "node":
                return None
            rc, out, err = self.runner.read([self.runner.bin("ip"), "-n", source, "-json", "-4", "address", "show"])
            found = [info["local"] for link in json.loads(out or "[]") for info in link.get("addr_info", [])
                     if info.get("scope") == "global"]
            if not found:
                self.fail("source %s has no IPv4 address to watch connections from" % source)
            return found[0]
        argv = [self.runner.bin("ip")] + (["-n", source] if source != "node" else []) + [
            "-json", "route", "get", self.address]
        rc, out, err = self.runner.read(argv)
        if rc != 0:
            self.fail("source %s has no route to destination %s: %s" % (source, self.address, (err or out).strip()))
        return json.loads(out)[0]["prefsrc"]

    def ruleset(self):
        return to_text(self.runner.read([self.runner.bin("nft"), "list", "ruleset"], what="nft list ruleset")[1])

    def service_rules(self, backend):
        """The rules service_graph reads: iptables-save -c for iptables (nft prints its rules as compat expressions)."""
        if backend == "iptables":
            argv = [self.runner.bin("iptables-save"), "-c", "-t", "nat"]
            return to_text(self.runner.read(argv, what="iptables-save")[1])
        return self.ruleset()

    def choose_backend(self, tables):
        backend = self.params["backend"]
        if backend == "auto":
            backend = "nftables" if self.params["nft_table"] in tables else "iptables"
        if backend == "iptables":
            version = to_text(self.runner.read([self.runner.bin("iptables"), "-V"], what="iptables -V")[1])
            if "nf_tables" not in version:
                self.fail("backend iptables: %s is not iptables-nft; the legacy iptables sends no trace events "
                          "(use iptables-nft, as Debian 12 does by default)" % version.strip())
            self.monitor = [self.runner.bin("xtables-monitor"), "--trace"]
        else:
            self.monitor = [self.runner.bin("nft"), "monitor", "trace"]
        return backend

    def destination_kind(self, ruleset):
        if self.address is None:
            return "any"
        try:
            service_graph.service_graph(ruleset, self.address, self.port)
            return "service"
        except service_graph.GraphError:
            pass
        rc, out, dummy = self.runner.read([self.runner.bin("ip"), "-json", "address", "show"])
        if any(info.get("local") == self.address for link in json.loads(out or "[]")
               for info in link.get("addr_info", [])):
            return "node"
        for name in sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else []:
            rc, out, dummy = self.runner.read([self.runner.bin("ip"), "-n", name, "-json", "address", "show"])
            if rc == 0 and any(info.get("local") == self.address for link in json.loads(out or "[]")
                               for info in link.get("addr_info", [])):
                return "pod"
        # Another node's address, or a pod's there: the node has a route of its own to it, not only the default.
        rc, out, dummy = self.runner.read([self.runner.bin("ip"), "-json", "route", "show", "match", self.address])
        if rc == 0 and any(route.get("dst") not in (None, "default", "0.0.0.0/0") for route in json.loads(out or "[]")):
            return "remote"
        self.fail("destination %s:%d is neither a Service (no DNAT for it in the ruleset), nor a node address, "
                  "nor a pod's address (here, or on another node the node has a route to)" % (self.address, self.port))

    def connect(self, client):
        source = self.params["source"]
        argv = [sys.executable, "-c", CLIENT_CODE]
        if source != "node":
            argv = [self.runner.bin("ip"), "netns", "exec", source] + argv
        request = json.dumps({"source": client, "low": self.ports[0], "high": self.ports[1],
                              "count": self.params["connections"], "host": self.address, "port": self.port,
                              "timeout": self.params["timeout"], "pause": 0.2})
        rc, out, err = self.runner.read(argv, data=request)
        if rc != 0:
            return {"none": "the client failed: %s" % (err or out).strip()[:500]}
        return json.loads(out)

    def run(self):
        self.validate()
        client = self.client_address()
        tables = to_text(self.runner.read([self.runner.bin("nft"), "list", "tables", "ip"],
                                          what="nft list tables")[1]).split()
        if packet_trace.TRACE_TABLE in tables:
            self.fail("table ip %s exists already: another trace runs, or one was cut off; if none runs, remove it "
                      "with: nft delete table ip %s" % (packet_trace.TRACE_TABLE, packet_trace.TRACE_TABLE))
        backend = self.monitor_backend = self.choose_backend(tables)
        kind = self.destination_kind(self.service_rules(backend))
        hook = "output" if self.params["source"] == "node" else "prerouting"
        rules = packet_trace.trace_rules(backend, hook, client, self.address, self.port, self.ports, tables=tables,
                                         packets=self.params["packets"])
        result = {"changed": False, "backend": backend, "client": client or packet_trace.ANY,
                  "destination_kind": kind, "watch": self.params["watch"],
                  "commands": {"add": [c["argv"] for c in rules["add"]], "delete": [c["argv"] for c in rules["delete"]]}}
        if self.module.check_mode:
            self.module.exit_json(**result)
        with NodeLock(self.module, self.params["lock"], self.params["lock_timeout"]):
            events, answers, problems = self.trace(rules, client)
        result["commands_run"] = self.runner.commands
        return self.report(result, self.service_rules(backend), events, answers, problems, client or packet_trace.ANY)

    def trace(self, rules, client):
        before = without_counters(self.ruleset())
        chains_json = self.runner.read([self.runner.bin("nft"), "-j", "list", "ruleset"], what="nft -j list ruleset")[1]
        self.base_chains = packet_trace.base_chains_from_nft(json.loads(chains_json))
        output = tempfile.TemporaryFile()
        monitor, answers, problems = None, {}, []
        try:
            for command in rules["add"]:
                self.runner.change(command["argv"], data=command["input"], what="marking the flow (%s)"
                                   % " ".join(command["argv"][:4]))
            # The marks first, then the monitor: nft monitor names only the rules it knew when it started.
            stdbuf = self.runner.bin("stdbuf", required=False)
            monitor = self.runner.background(([stdbuf, "-oL"] if stdbuf else []) + self.monitor, output)
            time.sleep(0.5)
            if self.params["watch"]:
                problems.extend(self.watch(output, client or packet_trace.ANY))
            else:
                answers = self.connect(client)
                time.sleep(0.5)  # the last packets' events
        finally:
            if self.params["ready_file"] and os.path.exists(self.params["ready_file"]):
                os.remove(self.params["ready_file"])
            if monitor is not None:
                monitor.stop()
            failed = []
            for command in rules["delete"]:
                rc, out, err = self.runner.change(command["argv"])
                if rc != 0:
                    failed.append("%s: %s" % (" ".join(command["argv"]), (err or out).strip()))
            after = without_counters(self.ruleset())
            if failed or after != before:
                self.fail("the trace could not restore the ruleset: %s" % "; ".join(failed or ["it differs"]),
                          difference=ruleset_difference(before, after))
        output.seek(0)
        return to_text(output.read()), answers, problems

    def watch(self, output, client):
        """Wait until ``connections`` connections that others open were traced (the first packet out and its
        reply), or ``timeout`` ran out; says so in the problems then."""
        wanted, ready = self.params["connections"], self.params["ready_file"]
        if ready:
            with open(ready, "w") as handle:
                handle.write("%d\n" % os.getpid())
        deadline, seen = time.time() + self.params["timeout"], 0
        while time.time() < deadline:
            time.sleep(0.25)
            # pread: the monitor writes through the same open file; its offset must stay where it is
            text = to_text(os.pread(output.fileno(), os.fstat(output.fileno()).st_size, 0), errors="replace")
            seen = count_answered(text, self.monitor_backend, client, self.service(), self.ports, self.base_chains)
            if seen >= wanted:
                time.sleep(0.3)  # the last events of the replies
                return []
        return ["the watch ended after %s s (timeout) with %d of %d connections traced from %s to %s"
                % (self.params["timeout"], seen, wanted, client, self.service())]

    def service(self):
        return packet_trace.ANY if self.address is None else "%s:%d" % (self.address, self.port)

    def report(self, result, ruleset, events, answers, problems, client):
        result["answers"] = answers
        problems += ["connection from port %s: %s" % item for item in sorted(answers.items())
                     if item[1].startswith("error:") or item[0] == "none"]
        connections = []
        try:
            found = packet_trace.connections(events, backend=result["backend"], client=client,
                                             service=self.service(), base_chains=self.base_chains,
                                             ports=self.ports)
        except packet_trace.TraceError as error:
            found = []
            problems.append("no trace events were read: %s" % error)
        connections = [summary(connection, self.base_chains) for connection in found]
        for connection in found:
            problems.extend("%s: %s" % (connection["client"], problem) for problem in connection["problems"])
        result["connections"] = connections
        result["text"] = packet_trace.format_connections(found, self.base_chains).splitlines() if found else []
        result["problems"] = problems
        if self.params["graph"] != "none" and result["destination_kind"] == "service":
            graph = service_graph.service_graph(ruleset, self.address, self.port)
            write = service_graph.to_dot if self.params["graph"] == "dot" else service_graph.to_mermaid
            result["graph"] = write(graph, highlight=found[0] if found else None)
        if self.params["keep_events"]:
            result["events"] = events
        return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            source=dict(type="str", required=True),
            destination=dict(type="str", required=True),
            connections=dict(type="int", default=3),
            source_ports=dict(type="str", default="40100-40109"),
            backend=dict(type="str", default="auto", choices=["auto", "iptables", "nftables"]),
            nft_table=dict(type="str", default="kube-proxy"),
            timeout=dict(type="float", default=3.0),
            graph=dict(type="str", default="none", choices=["none", "dot", "mermaid"]),
            packets=dict(type="str", default="first", choices=["first", "all"]),
            keep_events=dict(type="bool", default=False),
            lock=dict(type="path", default="/run/lock/kube-proxy-lab.converge.lock"),
            lock_timeout=dict(type="int", default=60),
            watch=dict(type="bool", default=False),
            ready_file=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    module.exit_json(**Trace(module).run())


if __name__ == "__main__":
    main()
