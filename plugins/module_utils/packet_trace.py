# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Follow one connection through the rules: the kernel's trace events, parsed; pure, no commands.

The kernel reports every rule a marked packet meets (nf_tables' trace): ``xtables-monitor
--trace`` prints it for iptables-nft, ``nft monitor trace`` for nftables. Both print, per
packet and per base chain (one hook of one table), a line with the packet's headers and
then one line per rule that matched, with its verdict. This module

* renders the rules that mark exactly one flow (:func:`trace_rules`);
* parses either monitor's text into blocks, one per packet per base chain
  (:func:`parse_events`);
* puts the blocks of one packet together (the trace id cannot be trusted for that: the
  kernel reuses it for later packets and changes it when NAT rewrites the packet), in
  hook order, and flags what does not fit: events out of order, a block cut short
  (:func:`group_packets`);
* groups the packets into connections, with the path of the first packet, the DNAT
  chosen, the masquerade and the reply's way back (:func:`connections`);
* prints that as a learner reads it (:func:`format_connections`).
"""

from __future__ import annotations

import re

TRACE_COMMENT = "k8slab packet_trace"
TRACE_TABLE = "k8slab-trace"
# A watch's client or service that is not known where it is traced (see connections).
ANY = "any"

# The hooks in the order a packet meets them (a forwarded packet: prerouting, forward,
# postrouting; one for the node: prerouting, input; one from the node: output, postrouting).
HOOK_RANK = {"prerouting": 0, "output": 0, "input": 1, "forward": 1, "postrouting": 2}
# iptables-nft's tables and their priorities (the same numbers as the legacy tables').
IPTABLES_PRIORITY = {"raw": -300, "mangle": -150, "filter": 0, "security": 50}
IPTABLES_NAT_PRIORITY = {"prerouting": -100, "output": -100, "input": 100, "postrouting": 100}
# The chains of the trace's own table (see trace_rules): hook and priority.
OWN_CHAINS = {
    "trace-prerouting": ("prerouting", -310),
    "trace-output": ("output", -310),
    "trace-reply": ("prerouting", -160),
}
TERMINAL = ("accept", "drop", "reject", "queue", "stolen", "repeat", "stop")
# nf_tables' verdict codes, as xtables-monitor prints the ones it has no name for.
_VERDICT_CODES = {0xfffffffb: "return", 0xfffffffc: "goto", 0xfffffffd: "jump", 0xfffffffe: "break",
                  0xffffffff: "continue", 0: "drop", 1: "accept", 2: "stolen", 3: "queue", 4: "repeat", 5: "stop"}
_TCP_FLAGS = (("syn", 0x02), ("ack", 0x10), ("psh", 0x08), ("fin", 0x01), ("rst", 0x04), ("urg", 0x20))
_FLAG_ORDER = [name for name, bit in _TCP_FLAGS]


class TraceError(ValueError):
    """The events cannot be read as a trace."""


# ---------------------------------------------------------------- marking one flow

def trace_rules(backend, source_hook, client, destination, port, ports, protocol="tcp", tables=(), packets="first"):
    """The commands that mark exactly one flow for tracing, and the ones that remove them again.

    backend: iptables or nftables. source_hook: prerouting (the client is a pod: its packets
    arrive at the node) or output (the client is the node). The flow: client (an address)
    to destination:port from the source ports ``ports`` (low, high), which the caller
    reserves. The way out is marked where it enters (iptables: ``-j TRACE`` in raw; nftables:
    ``meta nftrace set 1`` in a chain of the table ip k8slab-trace, before raw); the replies,
    whose destination a masquerade may have changed, by conntrack's original tuple in
    prerouting after conntrack (iptables: mangle). packets: ``first`` marks only each
    connection's first packet and first reply (SYN and SYN-ACK: the only ones the nat chains
    see), ``all`` every packet (many more events: the monitor may lose some). tables: the ip
    tables that exist before (``nft list tables ip``); iptables-nft makes raw and mangle on
    first use, so those it made go again. client, or destination and port, may be None: any
    address (any destination), the flow then told apart by its source ports alone (a watch
    for connections that others open, whose addresses a NAT on another node may have
    changed). Returns {"add": [command], "delete": [command]}, a command being
    {"argv": [...], "input": text or None}, in the order to run them.
    """
    if backend not in ("iptables", "nftables"):
        raise TraceError("backend must be iptables or nftables, got %r" % (backend,))
    if source_hook not in ("prerouting", "output"):
        raise TraceError("source_hook must be prerouting or output, got %r" % (source_hook,))
    if packets not in ("first", "all"):
        raise TraceError("packets must be first or all, got %r" % (packets,))
    low, high = ports
    if not 1 <= low <= high <= 65535:
        raise TraceError("ports must be a range low-high within 1-65535, got %r" % (ports,))
    first = packets == "first" and protocol == "tcp"
    if backend == "iptables":
        out = ["-t", "raw", "{op}", source_hook.upper()] + (["-s", client] if client else [])
        out += (["-d", destination] if destination else []) + ["-p", protocol, "-m", protocol,
                                                               "--sport", "%d:%d" % (low, high)]
        out += ["--dport", str(port)] if destination else []
        out += ["--tcp-flags", "SYN,ACK", "SYN"] if first else []
        out += ["-m", "comment", "--comment", TRACE_COMMENT, "-j", "TRACE"]
        back = ["-t", "mangle", "{op}", "PREROUTING", "-p", protocol]
        back += ["-m", "tcp", "--tcp-flags", "SYN,ACK", "SYN,ACK"] if first else []
        back += ["-m", "conntrack", "--ctdir", "REPLY"] + (["--ctorigsrc", client] if client else [])
        back += ["--ctorigdst", destination] if destination else []
        back += ["--ctorigsrcport", "%d:%d" % (low, high)]
        back += ["--ctorigdstport", str(port)] if destination else []
        back += ["-m", "comment", "--comment", TRACE_COMMENT, "-j", "TRACE"]

        def command(words, op):
            return {"argv": ["iptables"] + [op if word == "{op}" else word for word in words], "input": None}

        add = [command(out, "-I"), command(back, "-I")]
        delete = [command(out, "-D"), command(back, "-D")]
        delete += [{"argv": ["nft", "delete", "table", "ip", name], "input": None}
                   for name in ("raw", "mangle") if name not in tables]
        return {"add": add, "delete": delete}
    chain = "trace-" + source_hook
    text = "\n".join([
        "table ip %s {" % TRACE_TABLE,
        '\tcomment "%s"' % TRACE_COMMENT,
        "\tchain %s {" % chain,
        "\t\ttype filter hook %s priority %d; policy accept;" % OWN_CHAINS[chain],
        "\t\t%s%s%s sport %d-%d %s%smeta nftrace set 1"
        % ("ip saddr %s " % client if client else "", "ip daddr %s " % destination if destination else "",
           protocol, low, high, "%s dport %d " % (protocol, port) if destination else "",
           "tcp flags & (syn | ack) == syn " if first else ""),
        "\t}",
        "\tchain trace-reply {",
        "\t\ttype filter hook %s priority %d; policy accept;" % OWN_CHAINS["trace-reply"],
        "\t\t%sct direction reply %s%sct original protocol %s ct original proto-src %d-%d %smeta nftrace set 1"
        % ("tcp flags & (syn | ack) == syn | ack " if first else "",
           "ct original ip saddr %s " % client if client else "",
           "ct original ip daddr %s " % destination if destination else "", protocol, low, high,
           "ct original proto-dst %d " % port if destination else ""),
        "\t}",
        "}",
    ]) + "\n"
    return {"add": [{"argv": ["nft", "-f", "-"], "input": text}],
            "delete": [{"argv": ["nft", "delete", "table", "ip", TRACE_TABLE], "input": None}]}


# ---------------------------------------------------------------- reading the events

def detect_backend(text):
    for line in text.splitlines():
        if line.startswith("PACKET:") or line.startswith(" TRACE:"):
            return "iptables"
        if line.startswith("trace id "):
            return "nftables"
    return None


def _flags_from_names(words):
    """TCP flags as a tuple in one order (SYN, ACK, PSH, FIN, RST, URG), whatever order they were printed in."""
    names = set(word.lower() for word in words)
    return tuple(name for name in _FLAG_ORDER if name in names)


def _flags_from_number(number):
    return tuple(name for name, bit in _TCP_FLAGS if number & bit)


def _packet_iptables(rest):
    """``IN=bridge_eden ... SRC=10.0.0.11 DST=10.96.0.1 LEN=60 ... ID=1 DF SPORT=40100 DPORT=8080 SYN``."""
    fields, words = {}, []
    for token in rest.split():
        if "=" in token:
            key, dummy, value = token.partition("=")
            fields[key] = value
        else:
            words.append(token)
    flags = _flags_from_names(word for word in words if word in ("SYN", "ACK", "FIN", "RST", "PSH", "URG"))
    return _packet(fields.get("SRC"), fields.get("SPORT"), fields.get("DST"), fields.get("DPORT"),
                   fields.get("ID"), fields.get("LEN"), flags, fields.get("IN"), fields.get("OUT"), fields.get("MARK"))


_NFT_FIELDS = {
    "iif": re.compile(r'\biif "?([^" ]+)"?'),
    "oif": re.compile(r'\boif "?([^" ]+)"?'),
    "src": re.compile(r"\bip saddr (\S+)"),
    "dst": re.compile(r"\bip daddr (\S+)"),
    "ipid": re.compile(r"\bip id (\d+)"),
    "length": re.compile(r"\bip length (\d+)"),
    "sport": re.compile(r"\b(?:tcp|udp|sctp) sport (\d+)"),
    "dport": re.compile(r"\b(?:tcp|udp|sctp) dport (\d+)"),
    "flags": re.compile(r"\btcp flags == (\S+(?: \| \S+)*)"),
    "mark": re.compile(r"\bmeta mark (0x[0-9a-f]+)"),
}


def _packet_nft(rest):
    """``iif "bridge_eden" ... ip saddr 10.0.0.11 ip daddr 10.0.0.1 ... tcp flags == 0x12 ...``."""
    found = {}
    for key, pattern in _NFT_FIELDS.items():
        match = pattern.search(rest)
        found[key] = match.group(1) if match else None
    flags = ()
    if found["flags"]:
        text = found["flags"]
        flags = _flags_from_number(int(text, 16)) if text.startswith("0x") else \
            _flags_from_names(word for word in text.split(" | "))
    return _packet(found["src"], found["sport"], found["dst"], found["dport"], found["ipid"], found["length"],
                   flags, found["iif"], found["oif"], found["mark"])


def _packet(src, sport, dst, dport, ipid, length, flags, iif, oif, mark):
    def number(value):
        return int(value) if value is not None and value.isdigit() else None
    return {"src": src, "sport": number(sport), "dst": dst, "dport": number(dport), "ipid": number(ipid),
            "length": number(length), "flags": flags, "iif": iif, "oif": oif, "mark": mark}


def _verdict_iptables(text):
    """``CONTINUE``, ``ACCEPT``, ``JUMP:KUBE-SERVICES``, ``0xfffffffb`` -> ``continue``, ``jump KUBE-SERVICES``, ``return``."""
    word, dummy, target = text.partition(":")
    if word.startswith("0x"):
        word = _VERDICT_CODES.get(int(word, 16), word)
    word = word.lower()
    return "%s %s" % (word, target) if target else word


def _hop(table, chain, kind, rule, verdict, handle=None):
    own = table == TRACE_TABLE or (rule is not None and TRACE_COMMENT in rule)
    return {"table": table, "chain": chain, "kind": kind, "rule": rule, "verdict": verdict, "handle": handle,
            "own": own}


_IPT_PACKET = re.compile(r"^PACKET: (\d+) ([0-9a-f]+) (.*)$")
_IPT_TRACE = re.compile(r"^ TRACE: (\d+) ([0-9a-f]+) ([^: ]+):([^: ]+):(rule|policy|return)(?::(\S*))?(?:\s+(.*))?$")
_NFT_LINE = re.compile(r"^trace id ([0-9a-f]+) (\S+) (\S+) (\S+) (.*)$")
_NFT_RULE = re.compile(r"^rule (.*) \(verdict ([^)]*)\)\s*(.*)$")
_NFT_UNKNOWN = re.compile(r"^unknown rule handle (\d+) \(verdict ([^)]*)\)\s*(.*)$")
_NFT_POLICY = re.compile(r"^policy (\S+)\s*(.*)$")
_NFT_VERDICT = re.compile(r"^verdict (\S+(?: \S+)?)\s*(.*)$")


def _iptables_rule_text(text):
    """``-4 -t nat -A KUBE-SERVICES ...`` -> ``-A KUBE-SERVICES ...`` (as iptables-save writes it)."""
    return re.sub(r"^-4 (?:-t \S+ )?", "", text.strip())


def parse_events(text, backend=None):
    """The monitor's text -> (blocks, problems).

    A block is one packet's pass through one base chain: id (the trace id), family, table,
    chain (the base chain), packet (src, sport, dst, dport, ipid, length, flags, iif, oif,
    mark as the packet was when it entered the chain), hops (table, chain, kind ``rule`` /
    ``policy`` / ``return``, rule as iptables-save or nft writes it (None when the monitor
    could not name it), verdict such as ``jump KUBE-SERVICES``, ``accept``, handle, own:
    the trace's own rule), line (where it starts) and problems. Lines starting with ``#``
    and empty lines are skipped; any other line that is not an event is a problem.
    """
    backend = backend or detect_backend(text)
    if backend not in ("iptables", "nftables"):
        raise TraceError("no trace events found (expected xtables-monitor --trace or nft monitor trace output)")
    blocks, problems, open_blocks = [], [], {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        if backend == "iptables":
            event = _iptables_event(line)
        else:
            event = _nft_event(line)
        if event is None:
            if "No buffer space available" in line:
                problems.append("line %d: the monitor lost events (the kernel's buffer for it ran over): trace fewer "
                                "connections, or only their first packets" % number)
            else:
                problems.append("line %d is not a trace event: %s" % (number, line.strip()[:120]))
            continue
        trace_id, family, table, chain, packet, hop = event
        if packet is not None:
            block = {"id": trace_id, "backend": backend, "family": family, "table": table, "chain": chain,
                     "packet": packet,
                     "hops": [], "line": number, "problems": []}
            blocks.append(block)
            open_blocks[trace_id] = block
            continue
        block = open_blocks.get(trace_id)
        if block is not None and block["table"] is None:  # iptables: the first event names table and chain
            block["table"], block["chain"] = table, chain
        if block is None or block["table"] != table:
            problems.append("line %d: an event of trace %s without its packet line before it (cut or out of order)"
                            % (number, trace_id))
            continue
        block["hops"].append(hop)
    for block in blocks:
        block["problems"].extend(_walk_problems(block))
    return blocks, problems


def _iptables_event(line):
    match = _IPT_PACKET.match(line)
    if match:
        return match.group(2), match.group(1), None, None, _packet_iptables(match.group(3)), None
    match = _IPT_TRACE.match(line)
    if not match:
        return None
    family, trace_id, table, chain, kind, rest, rule = match.groups()
    if kind == "rule":
        handle, dummy, verdict = (rest or "").partition(":")
        hop = _hop(table, chain, "rule", _iptables_rule_text(rule) if rule else None, _verdict_iptables(verdict),
                   handle=handle)
    elif kind == "policy":
        hop = _hop(table, chain, "policy", None, _verdict_iptables(rest or ""))
    else:
        hop = _hop(table, chain, "return", None, "return")
    return trace_id, family, table, chain, None, hop


def _nft_event(line):
    match = _NFT_LINE.match(line)
    if not match:
        return None
    trace_id, family, table, chain, rest = match.groups()
    if rest.startswith("packet: "):
        return trace_id, family, table, chain, _packet_nft(rest[len("packet: "):]), None
    rule = _NFT_RULE.match(rest)
    if rule:
        return trace_id, family, table, chain, None, _hop(table, chain, "rule", rule.group(1).strip(), rule.group(2))
    unknown = _NFT_UNKNOWN.match(rest)
    if unknown:
        return trace_id, family, table, chain, None, _hop(table, chain, "rule", None, unknown.group(2),
                                                          handle=unknown.group(1))
    policy = _NFT_POLICY.match(rest)
    if policy:
        return trace_id, family, table, chain, None, _hop(table, chain, "policy", None, policy.group(1))
    verdict = _NFT_VERDICT.match(rest)
    if verdict:
        kind = "return" if verdict.group(1) == "return" else "rule"
        return trace_id, family, table, chain, None, _hop(table, chain, kind, None, verdict.group(1))
    return None


def _walk_problems(block):
    """Check that the events of one block form one walk through the chains.

    The first event is in the base chain; after ``jump X`` or ``goto X`` the next is in X
    or, when X matched nothing and returned, in a chain still on the call stack; nothing
    follows a final verdict; and the last event is a final verdict (else the block was
    cut short). A shuffled stream breaks one of these.
    """
    problems = []
    hops = block["hops"]
    if block["backend"] == "iptables" and (block["chain"] or "").lower() not in HOOK_RANK:
        # iptables names the base chain only through its events: the hook's name, wherever it is
        hooks = [hop["chain"] for hop in hops if hop["chain"].lower() in HOOK_RANK]
        block["chain"] = hooks[0] if hooks else block["chain"]
    stack = [block["chain"]]
    target = None
    for index, hop in enumerate(hops):
        where = "%s %s event %d (%s)" % (block["table"], block["chain"], index + 1, hop["chain"])
        if index and _final(hops[index - 1]):
            problems.append("%s comes after the final verdict %r" % (where, hops[index - 1]["verdict"]))
            break
        if hop["chain"] == target:
            stack.append(hop["chain"])
        elif hop["chain"] in stack:
            del stack[stack.index(hop["chain"]) + 1:]
        else:
            problems.append("%s: no jump leads to chain %s (events out of order)" % (where, hop["chain"]))
            break
        if hop["kind"] == "policy" and len(stack) != 1:
            problems.append("%s: a policy verdict outside the base chain" % where)
        verb, dummy, name = hop["verdict"].partition(" ")
        target = None
        if verb == "jump":
            target = name
        elif verb == "goto":
            target = name
            stack.pop()  # goto does not come back here
        elif verb == "return" and len(stack) > 1:
            stack.pop()
    if not hops:
        problems.append("%s %s: a packet line without any event (cut short)" % (block["table"], block["chain"]))
    elif not _final(hops[-1]):
        problems.append("%s %s: the last event %r is not a final verdict (cut short)"
                        % (block["table"], block["chain"], hops[-1]["verdict"]))
    return problems


def _final(hop):
    return hop["verdict"].split(" ")[0] in TERMINAL


# ---------------------------------------------------------------- packets

def base_chains_from_nft(nft_json):
    """{(table, chain): (hook, priority)} of every base chain in ``nft -j list ruleset`` output."""
    chains = {}
    for item in nft_json.get("nftables", []):
        chain = item.get("chain")
        if chain and chain.get("hook"):
            chains[(chain["table"], chain["name"])] = (chain["hook"], int(chain.get("prio", 0)))
    return chains


def hook_of(block, base_chains=None):
    """(hook, priority) of the block's base chain, or None when unknown."""
    table, chain = block["table"], block["chain"]
    if table == TRACE_TABLE and chain in OWN_CHAINS:
        return OWN_CHAINS[chain]
    if base_chains and (table, chain) in base_chains:
        return base_chains[(table, chain)]
    hook = (chain or "").lower()
    if hook in HOOK_RANK:  # iptables-nft's tables name their base chains after the hooks
        if table == "nat":
            return hook, IPTABLES_NAT_PRIORITY.get(hook, 0)
        return hook, IPTABLES_PRIORITY.get(table, 0)
    return None


def _rank(position):
    return None if position is None else (HOOK_RANK[position[0]], position[1])


def _same_packet(last, block):
    a, b = last["packet"], block["packet"]
    if (a["ipid"], a["length"], a["flags"]) != (b["ipid"], b["length"], b["flags"]):
        return False
    # NAT rewrites one end at a time: the other end must still match.
    return (a["src"], a["sport"]) == (b["src"], b["sport"]) or (a["dst"], a["dport"]) == (b["dst"], b["dport"])


def group_packets(blocks, base_chains=None, window=16):
    """Put the blocks of each packet together, in hook order; returns packets.

    A packet: blocks (in the order it met them), problems. A block belongs to the most
    recent packet (among the last ``window``) with the same IP id, length and TCP flags,
    one end unchanged, and whose last block lies at an earlier (or the same) hook and
    priority, that has not passed this base chain yet. A block
    that fits no such packet starts a new one; one that fits only a packet whose last
    block lies at the same or a later position is out of order, and said so.
    """
    packets = []
    for block in blocks:
        position = _rank(hook_of(block, base_chains))
        block["position"] = position
        chosen = None
        for packet in reversed(packets[-window:]):
            last = packet["blocks"][-1]
            # Two base chains may share a hook and priority (iptables-nft's filter FORWARD and
            # kube-proxy's filter-forward): then either may come first, but each only once.
            seen = [(b["table"], b["chain"]) for b in packet["blocks"]]
            if _same_packet(last, block) and (block["table"], block["chain"]) not in seen and (
                    position is None or last["position"] is None or last["position"] <= position):
                chosen = packet
                break
        if chosen is None and position is not None:
            # A block that belongs before blocks already seen: the same packet, unchanged
            # (both ends equal), at a position it has not been yet.
            for packet in reversed(packets[-window:]):
                if any(b["position"] == position for b in packet["blocks"]):
                    continue
                if any(_ends_of(b) == _ends_of(block) and _same_packet(b, block) for b in packet["blocks"]):
                    packet["problems"].append("%s %s (line %d) came after a later hook of the same packet "
                                              "(out of order; put back in hook order)"
                                              % (block["table"], block["chain"], block["line"]))
                    packet["blocks"].append(block)
                    packet["blocks"].sort(key=lambda b: b["position"] or (9, 0))
                    chosen = packet
                    break
            if chosen is not None:
                continue
        if chosen is None:
            chosen = {"blocks": [], "problems": []}
            packets.append(chosen)
        chosen["blocks"].append(block)
    for packet in packets:
        for block in packet["blocks"]:
            packet["problems"].extend(block["problems"])
    return packets


# ---------------------------------------------------------------- connections

def _ends_of(block):
    packet = block["packet"]
    return packet["src"], packet["sport"], packet["dst"], packet["dport"]


def _ends(packet):
    return [(b["packet"]["src"], b["packet"]["sport"], b["packet"]["dst"], b["packet"]["dport"]) for b in packet["blocks"]]


def connections(text, backend=None, client=None, service=None, base_chains=None, ports=None):
    """The trace's connections: one dict per client address and port, in the order they began.

    client: the traced source address; service: ``address:port`` the client asked for.
    Both default to what the first packet shows; either may be :data:`ANY` (a watch for
    connections opened elsewhere, whose addresses are not known here), then ports, the
    reserved source ports (low, high), tell the connections' first packets from others.
    A connection: client (``addr:port``),
    service, packets (original and reply, in order), path (the hops of its first packet,
    block by block, the trace's own rules left out), chains (the chains its first packet
    met, in order, once each), steps (every jump, goto and the DNAT it took, as pairs of
    ``table chain`` / ``dnat addr:port``: the edges of service_graph's graph), dnat
    (``addr:port`` or None) and dnat_rule, masquerade
    (the rule, or None) and masqueraded_as (``addr:port`` the reply came back to, when the
    trace shows it), marked_for_masquerade, reply_path (the first reply's blocks),
    entered and left (the first packet as it came to this node and as it went on, see
    :func:`_wire`), problems.
    Raises TraceError when the text holds no event.
    """
    blocks, problems = parse_events(text, backend)
    packets = group_packets(blocks, base_chains)
    if not packets:
        raise TraceError("the trace holds no packet")
    first = packets[0]["blocks"][0]["packet"]
    client = client or first["src"]
    if service is None:
        service = "%s:%s" % (first["dst"], first["dport"])
    service_addr, dummy, service_port = service.rpartition(":")
    by_key, order, stray = {}, [], []
    for packet in packets:
        ends = _ends(packet)
        start = ends[0]
        key, direction = None, None
        if ((client == ANY or start[0] == client)
                and (service == ANY or (start[2] == service_addr and str(start[3]) == service_port))
                and (ports is None or (start[1] is not None and ports[0] <= start[1] <= ports[1]))
                and (client != ANY or ports is not None or start[0] == first["src"])):
            key, direction = (start[0], start[1]), "original"
        else:
            for src, sport, dst, dport in ends:
                if (dst, dport) in by_key:
                    key, direction = (dst, dport), "reply"
        if key is None:
            stray.append(packet)
            continue
        packet["direction"] = direction
        if key not in by_key:
            by_key[key] = []
            order.append(key)
        by_key[key].append(packet)
    result = []
    for key in order:
        original = [p for p in by_key[key] if p["direction"] == "original"]
        asked = service if service != ANY else "%s:%s" % _ends(original[0])[0][2:]
        result.append(_connection(key[0], key[1], asked, by_key[key]))
    if stray:
        problems.append("%d traced packets belong to no connection of %s to %s" % (len(stray), client, service))
    for connection in result:
        connection["problems"] = list(problems) + connection["problems"]
    return result


def _wire(connection):
    """The first packet as it came to this node (entered) and as it went on from it (left).

    Each ``{"src": addr:port, "dst": addr:port, "interface": name}``; the packet headers of
    the trace show the DNAT, and the reply shows the masquerade (masqueraded_as). left's src
    is None when a masquerade rewrote the source and no reply was traced to tell how; the
    interface is the one the packet left by (None when the trace does not name it).
    """
    original = [p for p in connection["packets"] if p["direction"] == "original"]
    blocks = original[0]["blocks"]
    head = blocks[0]["packet"]
    entered = {"src": "%s:%s" % (head["src"], head["sport"]), "dst": "%s:%s" % (head["dst"], head["dport"]),
               "interface": head["iif"]}
    src = connection["client"]
    if connection["masqueraded_as"]:
        src = connection["masqueraded_as"]
    elif connection["masquerade"] is not None:
        src = None
    left = {"src": src, "dst": connection["dnat"] or connection["service"],
            "interface": blocks[-1]["packet"]["oif"]}
    return entered, left


def _dnat_in(rule):
    match = re.search(r"(?:--to-destination|dnat to) (\S+)", rule or "")
    return match.group(1) if match else None


def _connection(client, port, service, packets):
    original = [p for p in packets if p["direction"] == "original"]
    replies = [p for p in packets if p["direction"] == "reply"]
    first = original[0]
    path, chains, steps, dnat, dnat_rule, masquerade, marked = [], [], [], None, None, None, False
    for block in first["blocks"]:
        hops = [hop for hop in block["hops"] if not hop["own"]]
        if block["table"] == TRACE_TABLE:
            continue
        path.append(dict(block, hops=hops))
        for hop in hops:
            if hop["kind"] == "rule" and hop["chain"] not in chains:
                chains.append(hop["chain"])
            rule = hop["rule"] or ""
            if _dnat_in(rule) and hop["verdict"] == "accept":
                dnat, dnat_rule = _dnat_in(rule), hop
            if re.search(r"-j MASQUERADE|\bmasquerade\b", rule) and hop["verdict"] == "accept":
                masquerade = hop
            if "KUBE-MARK-MASQ" in rule or "mark-for-masquerade" in rule:
                marked = True
            verb, dummy, target = hop["verdict"].partition(" ")
            here = "%s %s" % (hop["table"], hop["chain"])
            if verb in ("jump", "goto"):
                steps.append([here, "%s %s" % (hop["table"], target)])
            elif _dnat_in(rule) and verb == "accept":
                steps.append([here, "dnat " + _dnat_in(rule)])
    # Where the rules do not say it (an unknown rule), the packet itself shows the DNAT.
    ends = _ends(first)
    if dnat is None and ends and (ends[-1][2], ends[-1][3]) != (ends[0][2], ends[0][3]):
        dnat = "%s:%s" % (ends[-1][2], ends[-1][3])
    masqueraded_as = None
    reply_path = []
    if replies:
        reply_ends = _ends(replies[0])
        arrived = "%s:%s" % (reply_ends[0][2], reply_ends[0][3])
        if arrived != "%s:%s" % (client, port):
            masqueraded_as = arrived
        reply_path = [dict(block, hops=[hop for hop in block["hops"] if not hop["own"]])
                      for block in replies[0]["blocks"] if block["table"] != TRACE_TABLE]
    problems = []
    for packet in packets:
        problems.extend(packet["problems"])
    connection = {"client": "%s:%s" % (client, port), "service": service, "packets": packets, "path": path,
                  "chains": chains, "steps": steps, "dnat": dnat, "dnat_rule": dnat_rule, "masquerade": masquerade,
                  "masqueraded_as": masqueraded_as, "marked_for_masquerade": marked, "reply_path": reply_path,
                  "problems": problems}
    connection["entered"], connection["left"] = _wire(connection)
    return connection


def in_order(sequence, wanted):
    """True when the items of ``wanted`` appear in ``sequence`` in that order (others may lie between).

    For checks such as "APP-SERVICE, then EDEN-SVC-HTTP, then EVE-HTTP" on a connection's ``chains``.
    """
    position = 0
    for item in sequence:
        if position < len(wanted) and item == wanted[position]:
            position += 1
    return position == len(wanted)


# ---------------------------------------------------------------- across nodes

def _continues(before, after):
    """True when connection ``after`` (traced on one node) is ``before`` (traced on another) gone on.

    The packet that left the first node is the one that came to the next: its source (after
    the first node's masquerade, as the reply showed it) and its destination (after the first
    node's DNAT) must both be the same, addresses and ports, the exact 4-tuple. When the first
    node masqueraded the connection and no reply told the new source, nothing joins it: the
    source port is no stand-in (kube-proxy masquerades with --random-fully, a new port).
    """
    left, entered = before.get("left"), after.get("entered")
    if not left or not entered or None in (left.get("src"), left.get("dst"), entered.get("src")):
        return False
    return left["src"] == entered["src"] and left["dst"] == entered["dst"]


def join_nodes(traces):
    """The connections traced on several nodes, each shown as one path from node to node.

    traces: [(node, connections)], connections as packet_trace returns them (each with
    client, service, chains, dnat, masqueraded_as, entered, left, problems), in the order
    the nodes should be read. A connection goes on from one node to another where
    :func:`_continues` says so. Returns paths in the order their first legs began: client
    and service (of the first leg), nodes, legs (the connections, each with its node), dnat
    (the last leg's), answered (the last leg's DNAT or destination: who answered), problems.
    """
    legs = []
    for node, found in traces:
        for connection in found or []:
            legs.append(dict(connection, node=node))
    after, taken = {}, set()

    def leads_to(start, end):
        while start in after:
            start = after[start]
            if start == end:
                return True
        return False

    for i, before in enumerate(legs):
        # Without NAT a packet leaves one node as it came to the next, and that leg "goes on" as the
        # first one too: the node read first keeps its place (no cycle).
        candidates = [j for j, leg in enumerate(legs) if leg["node"] != before["node"] and j not in taken
                      and _continues(before, leg) and not leads_to(j, i) and j != i]
        if candidates:
            after[i] = candidates[0]
            taken.add(candidates[0])
            if len(candidates) > 1:
                before.setdefault("join_problems", []).append(
                    "%s on %s: %d connections on other nodes could go on from it (%s); took the one on %s"
                    % (before["client"], before["node"], len(candidates),
                       ", ".join(legs[j]["node"] for j in candidates), legs[candidates[0]]["node"]))
    paths = []
    for i, leg in enumerate(legs):
        if i in taken:
            continue
        chain, seen = [i], set([i])
        while chain[-1] in after and after[chain[-1]] not in seen:
            chain.append(after[chain[-1]])
            seen.add(chain[-1])
        path_legs = [legs[j] for j in chain]
        problems = []
        for each in path_legs:
            problems.extend("%s: %s" % (each["node"], problem)
                            for problem in each.get("problems", []) + each.pop("join_problems", []))
        last = path_legs[-1]
        paths.append({"client": leg["client"], "service": leg["service"],
                      "nodes": [each["node"] for each in path_legs], "legs": path_legs,
                      "dnat": next((each["dnat"] for each in reversed(path_legs) if each.get("dnat")), None),
                      "answered": last.get("dnat") or last["service"], "problems": problems})
    return paths


def format_paths(paths, start=1, total=None):
    """The paths of :func:`join_nodes` as a learner reads them: one block per connection, a few lines per node.

    start and total number them (connection START of TOTAL), for a part of the paths."""
    lines = []
    for index, path in enumerate(paths, start):
        lines.append("connection %d of %d: %s -> %s, through %s" % (index, total or len(paths), path["client"],
                                                                    path["service"], " then ".join(path["nodes"])))
        for leg in path["legs"]:
            entered, left = leg.get("entered") or {}, leg.get("left") or {}
            came_by = " by %s" % entered["interface"] if entered.get("interface") else ""
            lines.append("  on %s: came as %s -> %s%s" % (leg["node"], entered.get("src"), entered.get("dst"), came_by))
            lines.append("    chains: %s" % " -> ".join(leg["chains"]))
            if leg.get("dnat"):
                lines.append("    DNAT to %s" % leg["dnat"])
            if leg.get("masqueraded_as"):
                lines.append("    masqueraded as %s" % leg["masqueraded_as"])
            elif leg.get("masquerade"):
                lines.append("    masqueraded (the reply was not traced: to which address is not known)")
            lines.append("    went on as %s -> %s%s" % (left.get("src") or "?", left.get("dst"),
                                                        " by %s" % left["interface"] if left.get("interface") else ""))
        for problem in path["problems"]:
            lines.append("  problem: %s" % problem)
    return lines


# ---------------------------------------------------------------- for the learner

def _flag_text(flags):
    return " ".join(flag.upper() for flag in flags) or "no flags"


def _path_lines(blocks, base_chains, notes=None):
    """The blocks as lines, hook by hook; blocks where no rule matched are named together at the end."""
    lines, quiet = [], []
    for block in blocks:
        if all(hop["kind"] == "policy" for hop in block["hops"]):
            quiet.append("%s %s" % (block["table"], block["chain"]))
            continue
        position = hook_of(block, base_chains)
        hook = position[0].upper() if position else "?"
        for hop in block["hops"]:
            if hop["kind"] == "policy":
                text = "(no rule matched: the chain's policy)"
            elif hop["rule"] is None:
                text = "(rule handle %s, unknown to the monitor)" % hop["handle"]
            else:
                text = hop["rule"]
            lines.append("  %-11s %s %s: %s  => %s" % (hook, hop["table"], hop["chain"], text, hop["verdict"]))
            hook = ""
            for note in (notes or {}).get(id(hop), []):
                lines.append("  %-11s    %s" % ("", note))
    if quiet:
        lines.append("  passed without a matching rule: %s" % ", ".join(quiet))
    return lines


def format_connection(connection, index=1, total=None, base_chains=None):
    """One connection as text: its way out hook by hook, the DNAT, the masquerade, the way back."""
    of = " of %d" % total if total else ""
    head = "connection %d%s: %s -> %s" % (index, of, connection["client"], connection["service"])
    if connection["dnat"]:
        head += ", DNAT to %s" % connection["dnat"]
    if connection["masqueraded_as"]:
        head += ", masqueraded as %s" % connection["masqueraded_as"]
    elif connection["masquerade"]:
        head += ", masqueraded"
    lines = [head]
    original = [p for p in connection["packets"] if p["direction"] == "original"]
    replies = [p for p in connection["packets"] if p["direction"] == "reply"]
    notes = {}
    if connection["dnat_rule"] is not None:
        notes[id(connection["dnat_rule"])] = ["-> DNAT: the destination %s becomes %s"
                                              % (connection["service"], connection["dnat"])]
    if connection["masquerade"] is not None:
        notes[id(connection["masquerade"])] = ["-> masquerade: the source %s becomes the node's address on the way out%s"
                                               % (connection["client"],
                                                  " (%s, as the reply shows)" % connection["masqueraded_as"]
                                                  if connection["masqueraded_as"] else "")]
    lines.append(" way out, the first packet (%s):" % _flag_text(original[0]["blocks"][0]["packet"]["flags"]))
    lines.extend(_path_lines(connection["path"], base_chains, notes))
    if connection["marked_for_masquerade"]:
        lines.append("  (kube-proxy marked it for masquerade, mark 0x4000; POSTROUTING acts on the mark)")
    if replies:
        reply = replies[0]["blocks"][0]["packet"]
        lines.append(" way back, the reply (%s) %s:%s -> %s:%s%s:" % (
            _flag_text(reply["flags"]), reply["src"], reply["sport"], reply["dst"], reply["dport"],
            ", which conntrack turns back into %s" % connection["client"] if connection["masqueraded_as"] else ""))
        lines.extend(_path_lines(connection["reply_path"], base_chains))
        lines.append("  (no nat chain on the way back: conntrack undoes both translations by itself)")
    else:
        lines.append(" no reply traced")
    if len(original) > 1 or len(replies) > 1:
        lines.append(" then %d more packets out and %d back, none through a nat chain (conntrack remembers the choice)"
                     % (len(original) - 1, max(len(replies) - 1, 0)))
    for problem in connection["problems"]:
        lines.append(" problem: %s" % problem)
    return "\n".join(lines)


def format_connections(found, base_chains=None):
    """Every connection, as :func:`format_connection` writes it, one after the other."""
    return "\n\n".join(format_connection(connection, index, len(found), base_chains)
                       for index, connection in enumerate(found, 1)) + "\n"
