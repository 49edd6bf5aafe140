# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Properties of the kube-proxy layout over random Services and EndpointSlices (issue 23 item 4).

iptables, for ClusterIP Services with one TCP port and ready endpoints:
- every endpoint is reached from the Service chain with probability 1/n (the product of the
  statistic probabilities along the chain);
- every KUBE-SVC-/KUBE-SEP- chain is jumped to by some rule;
- chain names are kube-proxy's hashed names (service_model's helpers).

nftables (the table proxy_sync writes, through proxier.render), for ClusterIP, NodePort and
LoadBalancer Services (an ingress IP, some with source ranges), some with ClientIP affinity, some
without endpoints:
- the service-ips element of a Service with n endpoints goes to its chain, whose
  ``numgen random mod n vmap`` has the keys 0..n-1, one per endpoint chain (probability 1/n each),
  and each endpoint chain DNATs to its endpoint;
- every chain but the base (hooked) chains and kube-proxy's two helper chains is jumped to or gone
  to, and every set, map and named counter is used by some rule; the helpers are used exactly when
  some Service has no endpoints (reject-chain) or some has endpoints (mark-for-masquerade).
"""

from __future__ import annotations

import re
from fractions import Fraction

from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import kube_proxy_iptables as kpi
from ansible_collections.k8slab.kube_proxy.plugins.module_utils import kube_proxy_nftables as kpn
from ansible_collections.k8slab.kube_proxy.plugins.module_utils import proxier
from ansible_collections.k8slab.kube_proxy.plugins.module_utils import service_model as model
from ansible_collections.k8slab.kube_proxy.tests.unit.plugins.module_utils.kube_proxy_cases import endpoint_slice, service

settings.register_profile("k8slab", max_examples=60, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("k8slab")

NAMES = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=6)
ENDPOINTS = st.lists(st.integers(1, 250), min_size=1, max_size=6, unique=True)


@st.composite
def services_and_slices(draw, variety=False):
    """(Services, EndpointSlices, {port name: ["address:port", ...]}); with ``variety`` some Services
    are NodePorts or LoadBalancers (one ingress IP, maybe source ranges), some have ClientIP affinity and
    some have no endpoints."""
    names = draw(st.lists(NAMES, min_size=1, max_size=4, unique=True))
    services, slices, expected = [], [], {}
    for i, name in enumerate(names):
        port = draw(st.integers(1, 65535))
        addresses = ["10.180.%d.%d" % (i, host) for host in draw(ENDPOINTS)]
        target = draw(st.integers(1, 65535))
        spec = {}
        status = None
        if variety:
            service_type = draw(st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer"]))
            if service_type != "ClusterIP":
                spec.update(type=service_type, node_port=30000 + i)
            if service_type == "LoadBalancer":
                status = {"loadBalancer": {"ingress": [{"ip": "198.51.100.%d" % (i + 1)}]}}
                if draw(st.booleans()):
                    spec["loadBalancerSourceRanges"] = ["203.0.113.0/25"]
            if draw(st.booleans()):
                spec["sessionAffinity"] = "ClientIP"
            if draw(st.booleans()):
                addresses = []
        services.append(service("ns1", name, "172.30.0.%d" % (i + 1), port=port, **spec))
        if status:
            services[-1]["status"] = status
        if addresses:
            slices.append(endpoint_slice("ns1", name, addresses, port=target))
        expected[model.service_port_name("ns1", name, "p80")] = ["%s:%d" % (a, target) for a in addresses]
    return services, slices, expected


def _chains(services, slices):
    return dict((c["name"], c["rules"]) for c in kpi.render(model.service_ports(services, slices))["nat"]["chains"])


def _reach(rules):
    """{target chain: probability} of a chain's rules taken in order with their statistic probabilities."""
    left, reach = Fraction(1), {}
    for rule in rules:
        jump = re.search(r"-j (\S+)", rule).group(1)
        found = re.search(r"--probability (\S+)", rule)
        p = Fraction(found.group(1)) if found else Fraction(1)
        reach[jump] = reach.get(jump, 0) + left * p
        left -= left * p
    return reach


@given(services_and_slices())
def test_each_ready_endpoint_is_reached_with_probability_one_over_n(data):
    services, slices, expected = data
    chains = _chains(services, slices)
    for port_name, endpoints in expected.items():
        svc = model.service_chain_names(port_name, "TCP")["svc"]
        reach = _reach([r for r in chains[svc] if "KUBE-SEP-" in r])
        want = {model.endpoint_chain_name(port_name, "TCP", e): Fraction(1, len(endpoints)) for e in endpoints}
        assert set(reach) == set(want)
        for chain, p in reach.items():
            # iptables prints 11 decimals: 1/n within rounding
            assert abs(p - want[chain]) < Fraction(1, 10 ** 9), (chain, float(p), len(endpoints))


@given(services_and_slices())
def test_no_service_or_endpoint_chain_is_left_unreferenced(data):
    services, slices = data[:2]
    chains = _chains(services, slices)
    targets = {m for rules in chains.values() for r in rules for m in re.findall(r"-j (\S+)", r)}
    unreferenced = [c for c in chains if c.startswith(("KUBE-SVC-", "KUBE-SEP-")) and c not in targets]
    assert not unreferenced


@given(services_and_slices())
def test_chain_names_are_kube_proxys_hashed_names(data):
    services, slices, expected = data
    chains = _chains(services, slices)
    hashed = set()
    for port_name, endpoints in expected.items():
        hashed.add(model.service_chain_names(port_name, "TCP")["svc"])
        hashed.update(model.endpoint_chain_name(port_name, "TCP", e) for e in endpoints)
    assert {c for c in chains if c.startswith(("KUBE-SVC-", "KUBE-SEP-"))} == hashed


# ---------------------------------------------------------------- nftables

NFT_OPTIONS = {"cluster_cidr": "10.0.0.0/8", "service_cidr": "172.30.0.0/16", "nodeport_addresses": ["192.168.8.1"]}


# kube-proxy writes these in every sync; only no-endpoint elements (reject-chain) or a Service's
# chains (mark-for-masquerade) go to them, so a table without such Services leaves them alone.
HELPER_CHAINS = ("reject-chain", "mark-for-masquerade")


def _nft_table(services, slices):
    """The nftables kube-proxy table of proxy_sync, as {(kind, name): inner lines} in order."""
    options = proxier.check_options("kube-proxy", "nftables", NFT_OPTIONS)
    body = proxier.render("kube-proxy", "nftables", services, slices, [], options)["nft"]
    blocks, current = {}, None
    for line in body.splitlines():
        if line.endswith(" {") and not line.startswith("\t"):
            current = blocks.setdefault(tuple(line[:-2].split(" ", 1)), [])
        elif line == "}":
            current = None
        elif current is not None:
            current.append(line.strip())
    return blocks


def _numgen(rule):
    """``numgen random mod N vmap { 0 : goto a, ... }`` -> (N, {key: target})."""
    found = re.fullmatch(r"numgen random mod (\d+) vmap \{ (.*) \}", rule)
    slots = dict(re.fullmatch(r"(\d+) : goto (\S+)", item).groups() for item in found.group(2).split(", "))
    return int(found.group(1)), {int(key): target for key, target in slots.items()}


@given(services_and_slices(variety=True))
def test_nft_each_endpoint_gets_one_numgen_slot_of_n(data):
    services, slices, expected = data
    blocks = _nft_table(services, slices)
    elements = " ".join(blocks[("map", "service-ips")])
    for index, (port_name, endpoints) in enumerate(expected.items()):
        namespace, rest = port_name.split("/", 1)
        name = rest.split(":", 1)[0]
        chain = "service-" + kpn.service_chain_base(namespace, name, "tcp", "p80")
        if not endpoints:
            assert ("chain", chain) not in blocks and chain not in elements
            continue
        assert re.search(r"172\.30\.0\.%d \. tcp \. \d+ : goto %s\b" % (index + 1, re.escape(chain)), elements)
        picks = [rule for rule in blocks[("chain", chain)] if rule.startswith("numgen ")]
        assert len(picks) == 1, picks
        modulus, slots = _numgen(picks[0])
        assert modulus == len(endpoints) and sorted(slots) == list(range(modulus))
        want = {}
        for endpoint in endpoints:
            address, port = endpoint.split(":")
            want["endpoint-" + kpn.endpoint_chain_base(namespace, name, "tcp", "p80", address, port)] = endpoint
        # one slot each of n: probability 1/n
        assert sorted(slots.values()) == sorted(want)
        for target, endpoint in want.items():
            assert blocks[("chain", target)][-1].endswith("dnat to %s" % endpoint)


@given(services_and_slices(variety=True))
def test_nft_no_chain_set_map_or_counter_is_left_unreferenced(data):
    blocks = _nft_table(*data[:2])
    text = "\n".join(line for lines in blocks.values() for line in lines)
    targets = set(re.findall(r"\b(?:jump|goto) ([^\s,}]+)", text))
    used = set(re.findall(r"@([^\s,}]+)", text))
    counted = set(re.findall(r"\bcounter name (\S+)", text))
    unreferenced = []
    for (kind, name), lines in blocks.items():
        if kind == "chain":
            hooked = any(line.startswith("type ") for line in lines)
            if not hooked and name not in HELPER_CHAINS and name not in targets:
                unreferenced.append(name)
        elif kind in ("set", "map") and name not in used or kind == "counter" and name not in counted:
            unreferenced.append(name)
    assert not unreferenced
    endpoint_counts = [len(endpoints) for endpoints in data[2].values()]
    assert ("reject-chain" in targets) == (0 in endpoint_counts)
    assert ("mark-for-masquerade" in targets) == any(endpoint_counts)
