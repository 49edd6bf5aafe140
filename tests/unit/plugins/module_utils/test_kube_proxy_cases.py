# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""kube-proxy's own test cases as our acceptance, at the unit layer: the rulesets.

For every case (tests/data/kube_proxy_cases) with an expected ruleset, our renderer's output is
held against it after kube-proxy's own normalisation; what differs must be named in
differences.yml with its reason, and an entry there that excuses nothing fails. Packet flows are
checked for shape here and run on a real kernel by tests/integration/test_kube_proxy_cases.py.
"""

from __future__ import annotations

import ipaddress
import re

import pytest

from ansible_collections.k8slab.kube_proxy.tests.unit.plugins.module_utils import kube_proxy_cases as kc

RESULTS = {"iptables": {}, "nftables": {}}
USED = set()


def _ruleset_checks():
    for case in kc.CASES:
        for step, manifests, dummy, expected in kc.steps(case):
            for key in expected:
                backend = "iptables" if key.startswith("iptables") else "nftables"
                yield pytest.param(case, step, manifests, key, expected[key], id="%s:%s:%s" % (case["name"], step, key)), backend


RULESET_CHECKS = list(_ruleset_checks())


def _compare_iptables(case, manifests, key, expected, label):
    got = kc.sort_iptables_rules(kc.render_iptables(case, manifests, USED))
    if key == "iptables":
        want = kc.sort_iptables_rules(expected)
        return (kc.apply_differences(got, "iptables", "rendered", label, USED),
                kc.apply_differences(want, "iptables", "expected", label, USED))
    # iptables_chains: {"table/CHAIN": "-A CHAIN ...\n..."}: only those chains are compared.
    got_lines, want_lines = [], []
    for where, text in sorted(expected.items()):
        table, chain = where.split("/")
        got_lines += kc.apply_differences(kc.iptables_chain(got, table, chain), "iptables", "rendered", label, USED)
        want_lines += kc.apply_differences([line for line in text.splitlines() if line.strip()], "iptables", "expected",
                                           label, USED)
    return got_lines, want_lines


@pytest.mark.parametrize("case, step, manifests, key, expected", [check for check, dummy in RULESET_CHECKS])
def test_ruleset_equals_kube_proxys(case, step, manifests, key, expected):
    """Our rendering of the case, normalised as kube-proxy normalises, equals its expectation but for named DIFFERENCES."""
    backend = "iptables" if key.startswith("iptables") else "nftables"
    RESULTS[backend][(case["name"], step, key)] = False
    label = kc.step_label(case, step)
    if backend == "iptables":
        got, want = _compare_iptables(case, manifests, key, expected, label)
    else:
        got = kc.apply_differences(kc.nft_from_body(kc.render_nftables(case, manifests, USED)), "nftables", "rendered",
                                   label, USED)
        want = kc.apply_differences(kc.nft_from_commands(expected), "nftables", "expected", label, USED)
    assert got == want
    RESULTS[backend][(case["name"], step, key)] = True


def test_every_difference_excuses_something():
    """Runs after the ruleset checks (file order): a DIFFERENCES entry that matched nothing is stale."""
    for case in kc.CASES:  # the input adapters also count when a case has flows only
        for dummy, manifests, flows, dummy2 in kc.steps(case):
            if flows:
                kc.adapt(case["name"], manifests, USED)
    # An entry that only changes packet flows is held by the integration layer; here its selector must take a flow.
    for case in kc.CASES:
        for dummy, manifests, flows, dummy2 in kc.steps(case):
            for flow in flows:
                for backend in kc.flow_backends(flow):
                    USED.update(kc.flow_differences(case, manifests, flow, backend))
    stale = [entry["id"] for entry in kc.DIFFERENCES if entry["id"] not in USED]
    assert not stale, "DIFFERENCES entries that excuse nothing (remove them): %s" % stale


def test_differences_have_reasons_and_unique_ids():
    ids = [entry["id"] for entry in kc.DIFFERENCES]
    assert len(ids) == len(set(ids))
    for entry in kc.DIFFERENCES:
        assert len(entry.get("reason", "")) > 40, entry["id"]
        assert entry.get("input") in (None,) + tuple(kc.ADAPTERS), entry["id"]
        assert entry.get("flows") in (None,) + tuple(kc.FLOW_SELECTORS), entry["id"]


@pytest.mark.parametrize("case", kc.CASES, ids=[case["name"] for case in kc.CASES])
def test_case_is_well_formed(case):
    """Each case names its source at a pinned version, and every flow reads as a packet and an outcome."""
    assert case["source"]["repository"] == "kubernetes/kubernetes"
    for source in case["source"]["files"]:
        assert source["version"] in kc.INDEX["versions"]
    assert case.get("expected") or case.get("flows") or any(step.get("flows") for step in case.get("steps") or [])
    for dummy, manifests, flows, dummy2 in kc.steps(case):
        kc.records(case, manifests)  # our model takes every case once adapted
        for flow in flows:
            ipaddress.ip_address(flow["source"])
            address, port = flow["destination"].rsplit(":", 1)
            ipaddress.ip_address(address)
            assert 0 < int(port) < 65536
            assert flow["protocol"] in ("TCP", "UDP", "SCTP")
            assert isinstance(flow["masq"], bool)
            for backend in kc.flow_backends(flow):
                output = kc.flow_output(flow, backend)
                if isinstance(output, list):
                    for endpoint in output:
                        assert re.match(r"^\d+\.\d+\.\d+\.\d+:\d+$", endpoint), endpoint
                else:
                    assert output in kc.SPECIAL_OUTPUTS


def test_left_out_cases_have_reasons():
    for item in kc.INDEX["left_out"]:
        assert item["file"] in ("iptables", "nftables") and len(item["reason"]) > 15, item


def test_summary_line(request):
    """kube-proxy cases: N ported, M left out; rulesets per backend; packet flows (run by the integration layer)."""
    flows = sum(len(flows) for case in kc.CASES for dummy, dummy2, flows, dummy3 in kc.steps(case))
    line = ("kube-proxy cases: %d ported, %d left out; rulesets: iptables %d/%d passing, nftables %d/%d passing; "
            "packet flows: %d ported (run on a real kernel by the integration layer)"
            % (len(kc.CASES), len(kc.INDEX["left_out"]),
               sum(RESULTS["iptables"].values()), sum(1 for dummy, b in RULESET_CHECKS if b == "iptables"),
               sum(RESULTS["nftables"].values()), sum(1 for dummy, b in RULESET_CHECKS if b == "nftables"),
               flows))
    request.node.user_properties.append((kc.SUMMARY, line))
