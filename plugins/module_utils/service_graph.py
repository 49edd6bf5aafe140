# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A Service's chain graph from the live ruleset, as Graphviz DOT or Mermaid; pure, no commands.

From ``iptables-save -c`` text or ``nft list ruleset`` / ``nft list table`` text (both with
their counters) and one Service (cluster IP, port, protocol), :func:`service_graph` builds the
graph a packet to that Service can walk in the nat table: the entry chains (nat PREROUTING
for pods, OUTPUT for the node), the dispatch chain (APP-SERVICE, KUBE-SERVICES, services),
the Service chain, the endpoint chains and the DNAT targets, plus the chains that only mark
for masquerade (KUBE-MARK-MASQ, mark-for-masquerade), drawn apart. Each edge carries the
counter of the rule that takes it: in the nat table only a connection's first packet passes,
so the counters count connections. nftables rules without a counter of their own get the
counter of the endpoint's DNAT rule on the edge into the endpoint chain (the lab's tables
count there, in named counters).

:func:`to_dot` and :func:`to_mermaid` write it out; both can draw one traced path (see
packet_trace.connections: its ``chains`` and ``dnat``) in colour.
"""

from __future__ import annotations

import ipaddress
import re
import shlex

MARK_CHAINS = ("KUBE-MARK-MASQ", "mark-for-masquerade")
ENTRY_HOOKS = ("prerouting", "output")
WHO = {"prerouting": "from pods", "output": "from the node"}


class GraphError(ValueError):
    """The ruleset cannot be read, or the Service is not in it."""


# ---------------------------------------------------------------- reading rulesets

def detect_backend(text):
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("*") or stripped.startswith(":") or stripped.startswith("-A ") or \
                re.match(r"^\[\d+:\d+\] -A ", stripped):
            return "iptables"
        if stripped.startswith("table "):
            return "nftables"
    return None


def parse_iptables_save(text):
    """``iptables-save [-c]`` text -> {table: {chain: [rule]}}, a rule being {packets, text, words}."""
    tables, table = {}, None
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#") or line == "COMMIT":
            continue
        if line.startswith("*"):
            table = tables.setdefault(line[1:], {})
            continue
        if table is None:
            raise GraphError("line %d: %r comes before any *table line (is this iptables-save output?)" % (number, line))
        if line.startswith(":"):
            table.setdefault(line[1:].split()[0], [])
            continue
        packets = None
        match = re.match(r"^\[(\d+):(\d+)\] (.*)$", line)
        if match:
            packets, line = int(match.group(1)), match.group(3)
        try:
            words = shlex.split(line)
        except ValueError as error:
            raise GraphError("line %d: %s: %r" % (number, error, line))
        if len(words) < 2 or words[0] != "-A":
            raise GraphError("line %d: not a rule: %r" % (number, line))
        table.setdefault(words[1], []).append({"packets": packets, "text": line, "words": words[2:]})
    return tables


_BLOCK = re.compile(r"^(table|chain|map|set|counter|flowtable|ct helper|ct timeout|ct expectation|quota|limit|"
                    r"secmark|synproxy)\s+(.*?)\s*\{$")


def parse_nft(text):
    """``nft list ruleset`` / ``nft list table`` text -> {table name: {chains, maps, counters}}.

    chains: {name: {hook, type, rules: [{text, packets}]}}; maps: {name: [element text]};
    counters: {name: packets}.
    """
    tables, stack, table = {}, [], None
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        index += 1
        if not line or line.startswith("#"):
            continue
        block = _BLOCK.match(line)
        if block:
            kind, name = block.group(1), block.group(2).strip('"')
            if kind == "table":
                name = name.split()[-1]
                table = tables.setdefault(name, {"chains": {}, "maps": {}, "counters": {}})
            elif table is None:
                raise GraphError("nft line %d: %s outside a table" % (index, kind))
            elif kind == "chain":
                table["chains"][name] = {"hook": None, "type": None, "rules": []}
            elif kind == "map":
                table["maps"][name] = []
            elif kind == "counter":
                table["counters"][name] = 0
            stack.append((kind, name))
            continue
        if line == "}":
            if not stack:
                raise GraphError("nft line %d: a } without a block" % index)
            stack.pop()
            continue
        if not stack:
            raise GraphError("nft line %d: %r outside a table (is this nft list output?)" % (index, line))
        kind, name = stack[-1]
        if kind == "chain":
            chain = table["chains"][name]
            base = re.match(r"^type (\w+) hook (\w+) ", line)
            if base:
                chain["type"], chain["hook"] = base.group(1), base.group(2)
            elif not line.startswith("comment ") and not line.startswith("policy "):
                counter = re.search(r"\bcounter packets (\d+) bytes \d+", line)
                chain["rules"].append({"text": line, "packets": int(counter.group(1)) if counter else None})
        elif kind == "map" and line.startswith("elements = {"):
            body = line[len("elements = {"):]
            while not body.rstrip().endswith("}") and index < len(lines):
                body += " " + lines[index].strip()
                index += 1
            table["maps"][name] = [item.strip() for item in body.rstrip().rstrip("}").split(",") if item.strip()]
        elif kind == "counter":
            counter = re.match(r"^packets (\d+) bytes \d+", line)
            if counter:
                table["counters"][name] = int(counter.group(1))
    if stack:
        raise GraphError("nft text ends inside %s %s (cut short?)" % stack[-1])
    return tables


# ---------------------------------------------------------------- the graph

class _Graph(object):
    def __init__(self, service):
        self.service = service
        self.nodes, self.edges = {}, []

    def node(self, node_id, label, kind):
        self.nodes.setdefault(node_id, {"id": node_id, "label": label, "kind": kind})
        return node_id

    def edge(self, source, target, kind, rule, packets=None, probability=None, condition=None):
        self.edges.append({"from": source, "to": target, "kind": kind, "rule": rule, "packets": packets,
                           "probability": probability, "condition": condition})

    def result(self, backend, names):
        # Keep only what leads to one of the Service's DNAT targets (and the marks on the way).
        leads = set(n for n, node in self.nodes.items() if node["kind"] == "target")
        changed = True
        while changed:
            changed = False
            for edge in self.edges:
                if edge["to"] in leads and edge["from"] not in leads:
                    leads.add(edge["from"])
                    changed = True
        edges = [e for e in self.edges if e["to"] in leads or (e["kind"] == "mark" and e["from"] in leads)]
        used = set([e["from"] for e in edges] + [e["to"] for e in edges])
        nodes = [node for node_id, node in self.nodes.items() if node_id in used]
        if not any(node["kind"] == "target" for node in nodes):
            raise GraphError("no DNAT for the Service %s in this ruleset" % self.service)
        _roles(nodes, edges)
        for node in nodes:
            if node["kind"] == "target" and names:
                address = node["id"].split(" ", 1)[1].rsplit(":", 1)[0]
                if address in names:
                    node["label"] += "\npod %s" % names[address]
        return {"service": self.service, "backend": backend, "nodes": nodes, "edges": edges}


ROLES = {"dispatch": "dispatch: every Service", "service": "the Service's chain", "endpoint": "endpoint chain",
         "mark": "marks for masquerade"}


def _roles(nodes, edges):
    """Name what each chain does for the Service (the tutorial's words), and the random pick's last branch.

    An endpoint chain DNATs, a Service chain picks an endpoint chain, the chains between
    the entry and the Service chain dispatch by destination. In iptables the last rule of
    a Service chain has no probability: it takes what the rules before it left.
    """
    kinds = dict((node["id"], node["kind"]) for node in nodes)
    endpoint = set(e["from"] for e in edges if e["kind"] == "dnat")
    service = set(e["from"] for e in edges if e["to"] in endpoint and e["kind"] != "mark")
    for node in nodes:
        role = None
        if node["kind"] == "chain":
            role = "endpoint" if node["id"] in endpoint else "service" if node["id"] in service else "dispatch"
        elif node["kind"] == "mark":
            role = "mark"
        node["role"] = role
        if role:
            node["label"] += "\n(%s)" % ROLES[role]
    for edge in edges:
        siblings = [e for e in edges if e["from"] == edge["from"] and e["kind"] != "mark"]
        edge["otherwise"] = bool(edge["kind"] != "mark" and edge["probability"] is None
                                 and any(e["probability"] for e in siblings))
    return kinds


def _ip_in(value, address):
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False


def _iptables_about(words, address, port, protocol):
    """False when the rule's own matches exclude the Service's packets (destination, port, protocol, local)."""
    for index, word in enumerate(words):
        negated = index > 0 and words[index - 1] == "!"
        value = words[index + 1] if index + 1 < len(words) else ""
        if word in ("-d", "--destination") and _ip_in(value, address) == negated:
            return False
        if word == "--dport" and (value == str(port)) == negated:
            return False
        if word in ("-p", "--protocol") and (value == protocol) == negated:
            return False
        if word == "--dst-type" and value == "LOCAL" and not negated:
            return False  # a cluster IP is no local address
    return True


def _iptables_condition(words):
    """The source match of a masquerade-mark rule, shortened: ``! -s 10.0.0.0/24``."""
    for index, word in enumerate(words):
        if word in ("-s", "--source"):
            negated = index > 0 and words[index - 1] == "!"
            return "%s-s %s" % ("! " if negated else "", words[index + 1])
    return None


def _iptables_graph(tables, address, port, protocol, graph):
    nat = tables.get("nat")
    if not nat:
        raise GraphError("the ruleset has no nat table")
    todo = []
    for hook in ENTRY_HOOKS:
        if hook.upper() in nat:
            todo.append(graph.node("nat " + hook.upper(), "nat %s\n(%s)" % (hook.upper(), WHO[hook]), "entry"))
    if not todo:
        # Only the collection's own chains (iptables-restore input, kube-proxy's expected rules):
        # start where no rule jumps to.
        called = set(rule["words"][rule["words"].index("-j") + 1] for rules in nat.values() for rule in rules
                     if "-j" in rule["words"][:-1])
        todo = [graph.node("nat " + name, "nat " + name, "entry") for name in nat if name not in called]
    for node_id, rule in _walk(todo, lambda chain: nat.get(chain, [])):
        words = rule["words"]
        if "-j" not in words or not _iptables_about(words, address, port, protocol):
            continue
        target = words[words.index("-j") + 1]
        probability = words[words.index("--probability") + 1] if "--probability" in words else None
        if target == "DNAT" and "--to-destination" in words:
            to = words[words.index("--to-destination") + 1]
            graph.edge(node_id, graph.node("dnat " + to, "DNAT %s" % to, "target"), "dnat", rule["text"],
                       rule["packets"])
        elif target in nat:
            kind = "mark" if target in MARK_CHAINS else "jump"
            child = graph.node("nat " + target, target, "mark" if kind == "mark" else "chain")
            graph.edge(node_id, child, kind, rule["text"], rule["packets"],
                       "%g" % float(probability) if probability else None,
                       _iptables_condition(words) if kind == "mark" else None)
            if kind == "jump":
                todo.append(child)


def _walk(todo, rules_of):
    """Breadth first from the chains in ``todo`` (node ids), which the caller extends: (node id, rule)."""
    seen = set()
    while todo:
        node_id = todo.pop(0)
        if node_id in seen:
            continue
        seen.add(node_id)
        for rule in rules_of(node_id.split(" ", 1)[1]):
            yield node_id, rule


_NFT_VERDICT = re.compile(r"\b(jump|goto) (\S+)$")


def _nft_about(rule, address, port, protocol):
    for match in re.finditer(r"\bip daddr (!= )?(\S+)", rule):
        value = match.group(2)
        if value.startswith("@") or value == ".":
            continue
        if _ip_in(value, address) == bool(match.group(1)):
            return False
    for match in re.finditer(r"\b(?:tcp|udp|sctp|th) dport (!= )?(\d+)\b", rule):
        if (match.group(2) == str(port)) == bool(match.group(1)):
            return False
    if re.search(r"\bip daddr @nodeport-ips\b", rule):
        return False  # NodePort dispatch: a cluster IP is no node address
    return True


def _nft_graph(tables, address, port, protocol, graph):
    for table_name, table in sorted(tables.items()):
        counters = table["counters"]
        todo = []
        for name, chain in sorted(table["chains"].items()):
            if chain["type"] == "nat" and chain["hook"] in ENTRY_HOOKS:
                todo.append(graph.node("%s %s" % (table_name, name), "%s %s\n(%s)" % (
                    table_name, name, WHO[chain["hook"]]), "entry"))
        chains = table["chains"]

        def rules_of(chain, chains=chains):
            return chains[chain]["rules"] if chain in chains else []

        for node_id, rule in _walk(todo, rules_of):
            text = rule["text"]
            if not _nft_about(text, address, port, protocol):
                continue
            packets = rule["packets"]
            named = re.search(r'\bcounter name "?([^" ]+)"?', text)
            if named and packets is None:
                packets = counters.get(named.group(1))
            dnat = re.search(r"\bdnat (?:ip )?to (\S+)", text)
            targets = []  # (verdict, chain, probability)
            mapped = re.search(r"\bvmap @(\S+)", text)
            inline = re.search(r"(?:numgen random mod (\d+) )?vmap \{ (.*) \}", text)
            if dnat:
                to = dnat.group(1)
                graph.edge(node_id, graph.node("dnat " + to, "DNAT %s" % to, "target"), "dnat", text, packets)
                continue
            if mapped:
                key = "%s . %s . %d" % (address, protocol, port)
                for element in table["maps"].get(mapped.group(1), []):
                    head, dummy, verdict = element.partition(" : ")
                    if head.split(" comment ")[0].strip() == key:
                        targets.append((verdict.split()[0], verdict.split()[-1], None))
            elif inline:
                share = "%g" % (1.0 / int(inline.group(1))) if inline.group(1) else None
                for element in inline.group(2).split(","):
                    verdict = element.split(" : ", 1)[-1].split()
                    targets.append((verdict[0], verdict[-1], share))
            else:
                verdict = _NFT_VERDICT.search(text)
                if verdict:
                    targets.append((verdict.group(1), verdict.group(2), None))
            for verb, target, probability in targets:
                if target not in table["chains"]:
                    continue
                kind = "mark" if target in MARK_CHAINS else "jump"
                child = graph.node("%s %s" % (table_name, target), target, "mark" if kind == "mark" else "chain")
                condition = re.sub(r"\s*jump \S+$", "", text) if kind == "mark" else None
                graph.edge(node_id, child, kind if kind == "mark" else verb, text, packets, probability,
                           condition or None)
                if kind != "mark":
                    todo.append(child)
    # Edges into an endpoint chain without a counter of their own: the endpoint's DNAT counter.
    dnat_count = dict((e["from"], e["packets"]) for e in graph.edges if e["kind"] == "dnat")
    for edge in graph.edges:
        if edge["packets"] is None and edge["kind"] != "mark" and edge["to"] in dnat_count:
            edge["packets"] = dnat_count[edge["to"]]


def service_graph(ruleset, cluster_ip, port, protocol="tcp", backend=None, names=None):
    """The graph of one Service in ``ruleset`` (iptables-save -c or nft list text).

    Returns {service, backend, nodes, edges}. A node: id, label, kind (``entry``, ``chain``,
    ``mark``, ``target``). An edge: from, to, kind (``jump``, ``goto``, ``dnat``, ``mark``),
    rule (its text), packets (the rule's counter, None without one), probability (of the
    random pick, as text), condition (of a mark). names: {pod address: pod name}, shown on
    the DNAT targets. Raises GraphError naming what is wrong.
    """
    try:
        address = str(ipaddress.ip_address(str(cluster_ip)))
    except ValueError:
        raise GraphError("cluster_ip %r is not an IPv4 address" % (cluster_ip,))
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise GraphError("port %r is not a port number (1-65535)" % (port,))
    protocol = str(protocol).lower()
    backend = backend or detect_backend(ruleset)
    graph = _Graph("%s:%d/%s" % (address, port, protocol))
    if backend == "iptables":
        _iptables_graph(parse_iptables_save(ruleset), address, port, protocol, graph)
    elif backend == "nftables":
        _nft_graph(parse_nft(ruleset), address, port, protocol, graph)
    else:
        raise GraphError("the ruleset is neither iptables-save nor nft list output")
    return graph.result(backend, names or {})


# ---------------------------------------------------------------- writing it out

def _on_path(graph, highlight):
    """The node ids and edge indexes of a traced path: its steps, (from, to) node ids.

    packet_trace.connections gives each connection its ``steps``: every jump, goto and the
    DNAT its first packet took, as ``table chain`` pairs, which are this graph's node ids.
    """
    if not highlight:
        return set(), set()
    steps = set(tuple(step) for step in highlight.get("steps") or [])
    edges = set(index for index, edge in enumerate(graph["edges"]) if (edge["from"], edge["to"]) in steps)
    nodes = set()
    for index in edges:
        nodes.update((graph["edges"][index]["from"], graph["edges"][index]["to"]))
    return nodes, edges


def edge_label(edge):
    parts = []
    if edge["probability"]:
        parts.append("p=%s" % edge["probability"])
    elif edge.get("otherwise"):
        parts.append("otherwise")
    if edge["condition"]:
        parts.append(edge["condition"])
    if edge["packets"] is not None:
        parts.append("%d conn." % edge["packets"])
    return "\n".join(parts)


_DOT_STYLE = {
    "entry": 'shape=box, style="rounded,filled", fillcolor="#e8e8e8"',
    "chain": 'shape=box, style="filled", fillcolor="#dbe9f6"',
    "mark": 'shape=box, style="dashed", color="#888888", fontcolor="#555555"',
    "target": 'shape=ellipse, style="filled", fillcolor="#d9f2d0"',
}


def _dot_quote(text):
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def to_dot(graph, highlight=None, title=None):
    """Graphviz DOT, left to right; a traced path (highlight) in red."""
    nodes, edges = _on_path(graph, highlight)
    ids = dict((node["id"], "n%d" % index) for index, node in enumerate(graph["nodes"]))
    caption = title or "Service %s (%s)" % (graph["service"], graph["backend"])
    if highlight and "red:" not in caption:
        caption += "\nred: the traced connection"
    caption += "\nedges: the rule's counter (connections; the nat table sees each one's first packet)"
    lines = ["digraph service {",
             "  rankdir=LR;",
             '  graph [fontname="Helvetica", fontsize=12, labelloc=t, label=%s];' % _dot_quote(caption),
             '  node [fontname="Helvetica", fontsize=11];',
             '  edge [fontname="Helvetica", fontsize=10];']
    for node in graph["nodes"]:
        style = _DOT_STYLE[node["kind"]]
        if node["id"] in nodes:
            style += ', color="#c0392b", penwidth=2.5'
        lines.append("  %s [label=%s, %s];" % (ids[node["id"]], _dot_quote(node["label"]), style))
    for index, edge in enumerate(graph["edges"]):
        attrs = ["label=%s" % _dot_quote(edge_label(edge))]
        if edge["kind"] == "mark":
            attrs.append('style=dashed, color="#888888", fontcolor="#555555"')
        if index in edges:
            attrs.append('color="#c0392b", fontcolor="#c0392b", penwidth=2.5')
        lines.append("  %s -> %s [%s];" % (ids[edge["from"]], ids[edge["to"]], ", ".join(attrs)))
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text):
    return text.replace('"', "#quot;").replace("\n", "<br/>")


def to_mermaid(graph, highlight=None, title=None):
    """A Mermaid flowchart (for where Graphviz is missing); a traced path (highlight) in red."""
    nodes, edges = _on_path(graph, highlight)
    ids = dict((node["id"], "n%d" % index) for index, node in enumerate(graph["nodes"]))
    shapes = {"entry": ('(["', '"])'), "chain": ('["', '"]'), "mark": ('["', '"]'), "target": ('(("', '"))')}
    lines = ["---", "title: %s" % (title or "Service %s (%s)" % (graph["service"], graph["backend"])), "---",
             "flowchart LR"]
    for node in graph["nodes"]:
        left, right = shapes[node["kind"]]
        lines.append("  %s%s%s%s" % (ids[node["id"]], left, _mermaid_text(node["label"]), right))
    for edge in graph["edges"]:
        arrow = "-.->" if edge["kind"] == "mark" else "-->"
        label = edge_label(edge)
        lines.append("  %s %s%s %s" % (ids[edge["from"]], arrow, '|"%s"|' % _mermaid_text(label) if label else "",
                                       ids[edge["to"]]))
    for node in graph["nodes"]:
        if node["kind"] == "mark":
            lines.append("  style %s stroke-dasharray: 5 5" % ids[node["id"]])
        if node["id"] in nodes:
            lines.append("  style %s stroke:#c0392b,stroke-width:3px" % ids[node["id"]])
    for index in sorted(edges):
        lines.append("  linkStyle %d stroke:#c0392b,stroke-width:3px" % index)
    return "\n".join(lines) + "\n"
