# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""kube-proxy's own test cases (tests/data/kube_proxy_cases), and how we hold our renderers against them.

The cases are data: inputs and expectations read from kube-proxy's proxier_test.go files. This
module loads them, adapts their inputs where our model refuses a feature (each adaptation is a
named DIFFERENCES entry), renders them with our renderers, and brings both sides to one
normalised form: kube-proxy's own for iptables (its sortIPTablesRules), and for nftables one line
per declaration, rule (in chain order) and element (as a set), as its transaction comparison reads
them. Shared by the unit tests and the integration (real kernel) tests.
"""

from __future__ import annotations

import copy
import glob
import ipaddress
import os
import re

import yaml

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import kube_proxy_iptables as kpi
from ansible_collections.k8slab.kube_proxy.plugins.module_utils import kube_proxy_nftables as kpn
from ansible_collections.k8slab.kube_proxy.plugins.module_utils import service_model as model

HERE = os.path.dirname(os.path.abspath(__file__))
CASES_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "..", "data", "kube_proxy_cases"))
SPECIAL_OUTPUTS = ("", "DROP", "REJECT", "ACCEPT")
# A test's user_properties entry whose line tests/conftest.py prints at the end of the run (user_properties,
# not the config's stash: pytest-xdist sends them back from its workers).
SUMMARY = "kube_proxy_cases_summary"


def _load(name):
    with open(os.path.join(CASES_DIR, name)) as handle:
        return yaml.safe_load(handle)


INDEX = _load("index.yml")
DIFFERENCES = _load("differences.yml")


def load_cases():
    """Every case file, sorted by name (index.yml and differences.yml are not cases)."""
    cases = []
    for path in sorted(glob.glob(os.path.join(CASES_DIR, "*.yml"))):
        if os.path.basename(path) in ("index.yml", "differences.yml"):
            continue
        with open(path) as handle:
            case = yaml.safe_load(handle)
        case["_file"] = os.path.basename(path)
        cases.append(case)
    return cases


CASES = load_cases()
OVERALL = next(case for case in CASES if case["name"] == "TestOverallRules")


def options(case, backend):
    """The proxier's flags for a case: index.yml defaults, then the case's own."""
    result = dict(INDEX["defaults"][backend])
    result.update(case.get("options") or {})
    return result


def steps(case):
    """(name, manifests, flows, expected) for the case itself, then for each of its later steps."""
    yield "initial", case.get("manifests") or [], case.get("flows") or [], case.get("expected") or {}
    for step in case.get("steps") or []:
        yield step["name"], step.get("manifests") or [], step.get("flows") or [], step.get("expected") or {}


def step_label(case, step):
    """What a DIFFERENCES ``cases`` expression is matched against: the case name, and " @ step" after the first."""
    return case["name"] if step == "initial" else "%s @ %s" % (case["name"], step)


def flow_output(flow, backend):
    """A flow's expected output for a backend: a list of "ip:port", or one of SPECIAL_OUTPUTS."""
    output = flow["output"]
    if isinstance(output, dict):
        output = output[backend]
    if isinstance(output, str) and output not in SPECIAL_OUTPUTS:
        output = [part.strip() for part in output.split(",")]
    return output


def flow_backends(flow):
    return flow.get("backends") or ["iptables", "nftables"]


# -- input adaptations (each one named by a DIFFERENCES entry) --------------------------------------

# name -> function(service manifest) that adapts it in place and returns whether it changed it. None is
# needed today: the model takes every case's Services as they are.
ADAPTERS = {}


def _applies(entry, case_name):
    return not entry.get("cases") or re.search(entry["cases"], case_name)


def adapt(case_name, manifests, used=None):
    """The manifests our model takes: a deep copy with every DIFFERENCES input adapter applied.

    used, a set, collects the ids of the entries that changed something.
    """
    manifests = copy.deepcopy(manifests)
    for entry in DIFFERENCES:
        if not entry.get("input") or not _applies(entry, case_name):
            continue
        adapter = ADAPTERS[entry["input"]]
        for manifest in manifests:
            if manifest.get("kind", "Service") == "Service" and adapter(manifest):
                if used is not None:
                    used.add(entry["id"])
    return manifests


def records(case, manifests, used=None):
    """The model's Service port records for a case, on the case's node."""
    services, slices = model.split_manifests(adapt(case["name"], manifests, used))
    return model.service_ports(services, slices, [], node=case["node"]["name"])


# -- rendering ------------------------------------------------------------------------------------

def node_ip(case):
    """kube-proxy's node IP for a case: the fake proxier's first node address (its testNodeIP)."""
    return case["node"]["ips"][0]


def cluster_cidr(case, backend):
    """The local traffic detector's CIDR for a case: the case's own option (null: no detector), else its pod CIDR."""
    opts = options(case, backend)
    return opts["cluster_cidr"] if "cluster_cidr" in opts else case["cluster_cidr"]


def render_iptables_tables(case, manifests, used=None):
    """kube_proxy_iptables.render for a case, with the case's flags."""
    opts = options(case, "iptables")
    return kpi.render(records(case, manifests, used), cluster_cidr=cluster_cidr(case, "iptables"),
                      random_fully=opts["random_fully"], masquerade_all=opts["masquerade_all"],
                      localhost_nodeports=opts["localhost_nodeports"],
                      conntrack_tcp_liberal=opts.get("conntrack_tcp_liberal", False), node_ip=node_ip(case),
                      nodeport_addresses=nodeport_ips(case, "iptables"),
                      nfacct_counters=kpi.NFACCT_COUNTERS if opts.get("nfacct") else ())


def render_iptables(case, manifests, used=None):
    """Our iptables-restore text for a case (filter then nat), with the case's flags."""
    result = render_iptables_tables(case, manifests, used)
    return "".join(kpi.restore_text(name, result[name]) for name in ("filter", "nat"))


# The fake proxier's loopback address (its fake network's "lo"), which a --nodeport-addresses CIDR may select too.
LOOPBACK = "127.0.0.1"


def nodeport_ips(case, backend):
    """The node's addresses that --nodeport-addresses selects, as kube-proxy's GetNodeIPs finds them on the fake's
    interfaces (the node IPs and lo's 127.0.0.1); [] when it selects every address (no IPv4 CIDR given).

    The nftables proxier leaves loopback out (it has no localhost NodePorts); the iptables renderer decides, as
    kube-proxy's iptables proxier does, by localhost_nodeports.
    """
    networks = [ipaddress.ip_network(cidr, strict=False) for cidr in options(case, backend).get("nodeport_addresses") or []]
    networks = [net for net in networks if net.version == 4]
    if not networks:
        return []
    found = [ip for ip in list(case["node"]["ips"]) + [LOOPBACK] if any(ipaddress.ip_address(ip) in net for net in networks)]
    if backend == "nftables":
        found = [ip for ip in found if not ipaddress.ip_address(ip).is_loopback]
    return found


def render_nftables(case, manifests, used=None):
    """Our body of ``table ip kube-proxy`` for a case, with the case's flags."""
    body, dummy = kpn.render_kube_proxy(records(case, manifests, used), cluster_cidr(case, "nftables"),
                                        case["service_cidr"], nodeport_ips(case, "nftables") or case["node"]["ips"],
                                        masquerade_all=options(case, "nftables").get("masquerade_all", False),
                                        node_ip=node_ip(case))
    return body


# -- iptables normalisation: kube-proxy's sortIPTablesRules ----------------------------------------

def _comment_service(rule):
    match = re.search(r'--comment (?:"([^"]*)"|(\S+))', rule)
    if not match:
        return None
    name = match.group(1) if match.group(1) is not None else match.group(2)
    return re.split(r"[ :]", name, maxsplit=1)[0]


def sort_iptables_rules(text):
    """A port of proxier_test.go's sortIPTablesRules: the same order for the same rules.

    Tables by name; chains KUBE-NODEPORTS, KUBE-SERVICES, then other KUBE-* and the rest by name;
    rules keep their order within a chain, except KUBE-NODEPORTS and KUBE-SERVICES, whose rules
    are sorted (stably) by the Service name in their comment, the nat table's "must be the last
    rule" jump kept last.
    """
    tables = {}
    current = None
    for line in text.strip().splitlines():
        if line.startswith("*"):
            current = tables.setdefault(line[1:], {"chains": [], "rules": {}})
        elif line.startswith(":"):
            name = line[1:].split()[0]
            current["chains"].append(name)
            current["rules"].setdefault(name, [])
        elif line.startswith("-A "):
            chain, rule = line[3:].split(" ", 1)
            current["rules"].setdefault(chain, []).append(rule)
    out = []
    for table_name in sorted(tables):
        table = tables[table_name]

        def chain_key(name):
            if name == "KUBE-NODEPORTS":
                return (0, name)
            if name == "KUBE-SERVICES":
                return (1, name)
            return (2 if name.startswith("KUBE-") else 3, name)
        chains = sorted(table["chains"], key=chain_key)
        for chain in ("KUBE-NODEPORTS", "KUBE-SERVICES"):
            rules = table["rules"].get(chain, [])
            last = [r for r in rules if "must be the last rule" in r] if table_name == "nat" else []
            rest = [r for r in rules if r not in last]
            if all(_comment_service(r) for r in rest):
                rest.sort(key=_comment_service)
            table["rules"][chain] = rest + last
        out.append("*" + table_name)
        out.extend(":%s - [0:0]" % chain for chain in chains)
        for chain in chains:
            out.extend("-A %s %s" % (chain, rule) for rule in table["rules"].get(chain, []))
        out.append("COMMIT")
    return out


def iptables_chain(lines, table, chain):
    """The rule lines of one chain of one table, from sorted lines."""
    current, rules = None, []
    for line in lines:
        if line.startswith("*"):
            current = line[1:]
        elif current == table and line.startswith("-A %s " % chain):
            rules.append(line)
    return rules


# -- nftables normalisation -------------------------------------------------------------------------

PRIORITIES = {"dstnat": "-100", "srcnat": "100", "filter": "0"}


def _hook(text):
    match = re.match(r"type (\w+) hook (\w+) priority ([-\w]+)", text.strip())
    if not match:
        return None
    return "type %s hook %s priority %s" % (match.group(1), match.group(2), PRIORITIES.get(match.group(3), match.group(3)))


def _declaration(parts):
    return " ; ".join(sorted(part.strip() for part in parts if part.strip()))


def _rule(text):
    return re.sub(r"\s+", " ", text.replace(" , ", ", ")).strip()


def nft_from_commands(text):
    """kube-proxy's expected transaction (``add ...`` lines) -> normalised lines."""
    chains, decls, elements = {}, [], []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split(" ")
        kind = words[1]
        if kind == "table":
            decls.append("table comment %s" % re.search(r'comment ("[^"]*")', line).group(1))
            continue
        name, rest = words[4], " ".join(words[5:])
        if kind == "chain":
            body = rest.strip().strip("{}").strip()
            parts = [p for p in body.split(";") if p.strip()]
            hook = [_hook(p) for p in parts if _hook(p)]
            others = [p.strip() for p in parts if not _hook(p)]
            decls.append(("chain %s %s" % (name, _declaration(hook + others))).rstrip())
            chains.setdefault(name, [])
        elif kind == "rule":
            chains.setdefault(name, []).append(_rule(rest))
        elif kind in ("set", "map"):
            decls.append("%s %s %s" % (kind, name, _declaration(rest.strip().strip("{}").split(";"))))
        elif kind == "element":
            elements.append("element %s %s" % (name, _rule(rest.strip()[1:-1])))
    return _nft_lines(chains, decls, elements)


def nft_from_body(text):
    """Our table body (block form) -> the same normalised lines."""
    chains, decls, elements = {}, [], []
    kind = name = None
    parts = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("comment "):
            decls.append("table comment %s" % line[len("comment "):].strip())
        elif not line.startswith("\t") and line.endswith("{"):
            kind, name = line[:-1].strip().split(" ", 1)
            parts = []
            if kind == "chain":
                chains.setdefault(name, [])
        elif line == "}":
            if kind == "chain":
                decls.append(("chain %s %s" % (name, _declaration(parts))).rstrip())
            elif kind in ("set", "map"):
                decls.append("%s %s %s" % (kind, name, _declaration(parts)))
            kind = name = None
        else:
            body = line.strip()
            if kind == "chain":
                if body.startswith("type "):
                    parts.append(_hook(body))
                elif body.startswith('comment "'):
                    parts.append(body)
                else:
                    chains[name].append(_rule(body))
            elif body.startswith("elements = {"):
                inner = body[len("elements = {"):].rstrip("}").strip()
                elements.extend("element %s %s" % (name, _rule(item)) for item in _split_elements(inner))
            else:
                parts.append(body)
    return _nft_lines(chains, decls, elements)


def _split_elements(text):
    """Split ``a, b, c`` at top-level commas (an element's vmap or comment holds none)."""
    items, depth, current = [], 0, ""
    for char in text:
        if char in "{":
            depth += 1
        elif char in "}":
            depth -= 1
        if char == "," and depth == 0:
            items.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        items.append(current.strip())
    return items


def _nft_lines(chains, decls, elements):
    lines = sorted(decls)
    for name in sorted(chains):
        lines.extend("rule %s %s" % (name, rule) for rule in chains[name])
    lines.extend(sorted(set(elements)))
    return lines


# -- DIFFERENCES over lines ------------------------------------------------------------------------

def apply_differences(lines, backend, side, case_name, used=None):
    """Drop or rewrite the lines DIFFERENCES names for this backend and side; record used entries."""
    out = []
    for line in lines:
        for entry in DIFFERENCES:
            if line is None:
                break
            for rule in (entry.get("lines") or {}).get(backend, []):
                if rule["side"] not in (side, "both") or not _applies(rule, case_name) or not _applies(entry, case_name):
                    continue
                if re.search(rule["pattern"], line):
                    if used is not None:
                        used.add(entry["id"])
                    if "replace" in rule:
                        line = re.sub(rule["pattern"], rule["replace"], line)
                    else:
                        line = None
                        break
        if line is not None:
            out.append(line)
    return out


# -- small manifests for hand-written unit tests -----------------------------------------------------

def service(namespace, name, cluster_ip, port=80, port_name="p80", **spec):
    """A one-port TCP Service manifest (node_port=... sets the port's nodePort)."""
    ports = [{"name": port_name, "port": port, "protocol": "TCP"}]
    if "node_port" in spec:
        ports[0]["nodePort"] = spec.pop("node_port")
    body = {"clusterIP": cluster_ip, "ports": ports}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": namespace, "name": name}, "spec": body}


def endpoint_slice(namespace, service_name, addresses, port=80, port_name="p80", conditions=None):
    """An IPv4 EndpointSlice of one TCP port for the given addresses (conditions: one dict per address)."""
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
        "metadata": {"namespace": namespace, "name": "%s-1" % service_name,
                     "labels": {"kubernetes.io/service-name": service_name}},
        "endpoints": [dict({"addresses": [a]}, **({"conditions": conditions[i]} if conditions else {}))
                      for i, a in enumerate(addresses)],
        "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
    }


# -- packet flows a DIFFERENCES entry changes ----------------------------------------------------------

def _services(manifests):
    return [m for m in manifests if m.get("kind", "Service") == "Service"]


def destination(flow):
    address, port = flow["destination"].rsplit(":", 1)
    return address, int(port)


def load_balancer_ips(manifests):
    """The ingress IPs of the LoadBalancer Services among a step's manifests."""
    return [item.get("ip") for service in _services(manifests) if (service.get("spec") or {}).get("type") == "LoadBalancer"
            for item in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or [] if item.get("ip")]


# name -> function(case, manifests, flow) that says whether a DIFFERENCES entry's flows take this flow. None is
# needed today: every flow runs as kube-proxy expects.
FLOW_SELECTORS = {}


def flow_differences(case, manifests, flow, backend):
    """The ids of the DIFFERENCES entries whose flow selector takes this flow on this backend."""
    return [entry["id"] for entry in DIFFERENCES
            if entry.get("flows") and backend in entry.get("backends", ("iptables", "nftables"))
            and _applies(entry, case["name"]) and FLOW_SELECTORS[entry["flows"]](case, manifests, flow)]
