# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Properties of the kube-proxy iptables layout over random Services and EndpointSlices (issue 23 item 4).

For ClusterIP Services with one TCP port and ready endpoints:
- every endpoint is reached from the Service chain with probability 1/n (the product of the
  statistic probabilities along the chain);
- every KUBE-SVC-/KUBE-SEP- chain is jumped to by some rule;
- chain names are kube-proxy's hashed names (service_model's helpers).
"""

from __future__ import annotations

import re
from fractions import Fraction

from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import kube_proxy_iptables as kpi
from ansible_collections.k8slab.kube_proxy.plugins.module_utils import service_model as model
from ansible_collections.k8slab.kube_proxy.tests.unit.plugins.module_utils.kube_proxy_cases import endpoint_slice, service

settings.register_profile("k8slab", max_examples=60, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("k8slab")

NAMES = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=6)
ENDPOINTS = st.lists(st.integers(1, 250), min_size=1, max_size=6, unique=True)


@st.composite
def services_and_slices(draw):
    names = draw(st.lists(NAMES, min_size=1, max_size=4, unique=True))
    services, slices, expected = [], [], {}
    for i, name in enumerate(names):
        port = draw(st.integers(1, 65535))
        addresses = ["10.180.%d.%d" % (i, host) for host in draw(ENDPOINTS)]
        target = draw(st.integers(1, 65535))
        services.append(service("ns1", name, "172.30.0.%d" % (i + 1), port=port))
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
