# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kube-proxy's nftables layout held against kube-proxy's own test expectations, and the tutorial layout.

fixtures/kube_proxy_overall_nftables_rules.txt holds the expected transaction of
TestOverallNFTablesRules (kubernetes/kubernetes pkg/proxy/nftables/proxier_test.go)
for the Services this lab models. kube-proxy writes `add ...` commands; we write
the table's body in block form. Both are brought to one shape: per chain its
hook and priority (named priorities as numbers) and its rules in order, per set
and map its declaration and its elements.
"""

from __future__ import annotations

import os
import re

import pytest

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import kube_proxy_nftables as kpn
from ansible_collections.k8slab.kube_proxy.plugins.module_utils import service_model as model
from ansible_collections.k8slab.kube_proxy.tests.unit.plugins.module_utils.kube_proxy_cases import OVERALL_SERVICES, OVERALL_SLICES


PRIORITIES = {"dstnat": -100, "srcnat": 100, "filter": 0}

with open(os.path.join(os.path.dirname(__file__), "fixtures", "kube_proxy_overall_nftables_rules.txt")) as handle:
    KUBE_PROXY_EXPECTED = [line.rstrip("\n") for line in handle if line.strip() and not line.startswith("#")]


def _rule(text):
    return text.replace(" , ", ", ").strip()


def _hook(declaration):
    match = re.match(r"type (\w+) hook (\w+) priority ([-\w ]+?)\s*;", declaration)
    if not match:
        return None
    priority = match.group(3).strip()
    return match.group(1), match.group(2), PRIORITIES.get(priority, None if priority in PRIORITIES else int(priority))


def from_commands(lines):
    """kube-proxy's `add ...` transaction -> (chains, containers, table comment)."""
    chains, containers, comment = {}, {}, None
    for line in lines:
        words = line.split(" ")
        kind, name, rest = words[1], words[4] if len(words) > 4 else None, " ".join(words[5:])
        if kind == "table":
            comment = re.search(r'comment "([^"]*)"', line).group(1)
        elif kind == "chain":
            body = rest.strip("{} ")
            chains[name] = {"hook": _hook(body + ";") if body else None, "rules": [],
                            "comment": (re.search(r'comment "([^"]*)"', body) or [None, None])[1]}
        elif kind == "rule":
            chains[name]["rules"].append(_rule(rest))
        elif kind in ("set", "map"):
            parts = sorted(part.strip() for part in rest.strip("{} ").split(";") if part.strip())
            containers[name] = {"kind": kind, "declaration": parts, "elements": set()}
        elif kind == "element":
            containers[name]["elements"].add(rest.strip()[2:-2])
    return chains, containers, comment


def from_body(text):
    """Our table body -> the same shape."""
    chains, containers, comment, current = {}, {}, None, None
    for line in text.splitlines():
        if line.startswith("comment "):
            comment = line.split('"')[1]
        elif line.endswith(" {") and not line.startswith("\t"):
            kind, name = line[:-2].split(" ", 1)
            if kind == "chain":
                current = chains.setdefault(name, {"hook": None, "rules": [], "comment": None})
            else:
                current = containers.setdefault(name, {"kind": kind, "declaration": [], "elements": set()})
        elif line == "}":
            current = None
        elif line.startswith("\t") and "rules" in current:
            body = line.strip()
            if body.startswith("type "):
                current["hook"] = _hook(body)
            elif body.startswith('comment "'):
                current["comment"] = body.split('"')[1]
            else:
                current["rules"].append(_rule(body))
        elif line.startswith("\t"):
            body = line.strip()
            if body.startswith("elements = {"):
                current["elements"] = set(body[len("elements = { "):-2].split(", "))
            else:
                current["declaration"].append(body)
                current["declaration"].sort()
        else:
            raise AssertionError("unexpected line %r" % line)
    return chains, containers, comment


def overall_records():
    return model.service_ports(OVERALL_SERVICES, OVERALL_SLICES, [])


def test_kube_proxy_layout_is_kube_proxys_own():
    body, counters = kpn.render_kube_proxy(overall_records(), "10.0.0.0/8", "172.30.0.0/16", ["192.168.0.2"])
    assert counters == {}
    want_chains, want_containers, want_comment = from_commands(KUBE_PROXY_EXPECTED)
    chains, containers, comment = from_body(body)
    assert comment == want_comment
    assert sorted(chains) == sorted(want_chains)
    for name in want_chains:
        assert chains[name] == want_chains[name], name
    assert containers == want_containers


def test_names_are_kube_proxys():
    assert kpn.service_chain_base("ns1", "svc1", "TCP", "p80") == "ULMVA6XW-ns1/svc1/tcp/p80"
    assert kpn.endpoint_chain_base("ns1", "svc1", "tcp", "p80", "10.180.0.1", 80) == \
        "5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"
    long_name = kpn.hash_and_truncate("x" * 300)
    assert len(long_name) == 240 and long_name.endswith("...")


def test_kube_proxy_layout_counters_name_every_endpoint():
    body, counters = kpn.render_kube_proxy(overall_records(), "10.0.0.0/8", "172.30.0.0/16", counters=True)
    assert counters["endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"] == "ns1/svc1:p80"
    assert len(counters) == 5
    assert ("\tcounter name endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 meta l4proto tcp dnat to 10.180.0.1:80"
            in body.splitlines())
    assert "counter endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 {" in body.splitlines()


# The tutorial layout from the service_chains plan of the tutorial's Service (eve first, as the tutorial inserts her).
TUTORIAL_SERVICES = [{
    "key": "default/app-service:8080", "cluster_ip": "10.96.0.1", "port": 8080, "protocol": "TCP",
    "chain": "EDEN-SVC-HTTP",
    "endpoints": [{"pod": "eve", "address": "10.0.0.21", "port": 8080, "chain": "EVE-HTTP"},
                  {"pod": "adam", "address": "10.0.0.11", "port": 8080, "chain": "ADAM-HTTP"}],
}, {
    "key": "default/lonely:80", "cluster_ip": "10.96.0.9", "port": 80, "protocol": "TCP", "chain": None,
    "endpoints": [],
}]

TUTORIAL_EXPECTED = """\
map service-ips {
\ttype ipv4_addr . inet_proto . inet_service : verdict
\telements = { 10.96.0.1 . tcp . 8080 : goto EDEN-SVC-HTTP }
}
chain nat-prerouting {
\ttype nat hook prerouting priority dstnat; policy accept;
\tip daddr . meta l4proto . th dport vmap @service-ips
}
chain nat-output {
\ttype nat hook output priority -100; policy accept;
\tip daddr . meta l4proto . th dport vmap @service-ips
}
chain EDEN-SVC-HTTP {
\tnumgen random mod 2 vmap { 0 : goto EVE-HTTP, 1 : goto ADAM-HTTP }
}
chain EVE-HTTP {
\tmeta l4proto tcp dnat to 10.0.0.21:8080
}
chain ADAM-HTTP {
\tmeta l4proto tcp dnat to 10.0.0.11:8080
}
"""


def test_tutorial_layout_is_the_tutorials_chains_as_a_map_and_numgen():
    body, counters = kpn.render_tutorial(TUTORIAL_SERVICES, counters=False)
    assert body == TUTORIAL_EXPECTED
    assert counters == {}


def test_tutorial_layout_with_counters():
    body, counters = kpn.render_tutorial(TUTORIAL_SERVICES)
    assert counters == {"EVE-HTTP": "default/app-service:8080", "ADAM-HTTP": "default/app-service:8080"}
    lines = body.splitlines()
    assert lines[:4] == ["counter ADAM-HTTP {", "}", "counter EVE-HTTP {", "}"]
    assert "\tcounter name EVE-HTTP meta l4proto tcp dnat to 10.0.0.21:8080" in lines


def test_tutorial_layout_without_services_is_an_empty_map():
    body, dummy = kpn.render_tutorial([], counters=False)
    assert body.startswith("map service-ips {\n\ttype ipv4_addr . inet_proto . inet_service : verdict\n}\n")


@pytest.mark.parametrize("count", [1, 3, 5])
def test_numgen_has_one_slot_per_endpoint(count):
    targets = ["ep%d" % index for index in range(count)]
    text = kpn._vmap_pick(targets)  # pylint: disable=protected-access
    assert text.startswith("numgen random mod %d vmap {" % count)
    assert text.count("goto") == count
