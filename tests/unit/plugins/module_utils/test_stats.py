# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Chi-square test and spread table of module_utils/stats.py against known values."""

from __future__ import annotations

import math

import pytest

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import stats


# Reference values: the chi-square table (critical values at 5%, 1%, 0.1%) and closed forms.
@pytest.mark.parametrize("x, df, p", [
    (3.841458820694124, 1, 0.05),
    (6.634896601021213, 1, 0.01),
    (10.827566170662733, 1, 0.001),
    (5.991464547107979, 2, 0.05),
    (7.814727903251178, 3, 0.05),
    (11.070497693516351, 5, 0.05),
    (18.307038053275146, 10, 0.05),
    (67.50480611235576, 50, 0.05),
    (1.0, 1, math.erfc(math.sqrt(0.5))),      # df 1: sf(x) = erfc(sqrt(x/2))
    (30.0, 2, math.exp(-15.0)),                # df 2: sf(x) = exp(-x/2)
    (0.5, 2, math.exp(-0.25)),
    (4.0, 4, math.exp(-2.0) * 3.0),            # df 4: sf(x) = exp(-x/2) (1 + x/2)
])
def test_chi2_sf_known_values(x, df, p):
    assert stats.chi2_sf(x, df) == pytest.approx(p, rel=1e-6)


def test_chi2_sf_edges():
    assert stats.chi2_sf(0.0, 3) == 1.0
    assert stats.chi2_sf(1e6, 1) == 0.0
    with pytest.raises(ValueError):
        stats.chi2_sf(1.0, 0)
    with pytest.raises(ValueError):
        stats.gamma_q(0, 1.0)
    with pytest.raises(ValueError):
        stats.gamma_q(1.0, -1.0)


def test_gamma_q_both_branches_agree_with_closed_form():
    # Q(1, x) = exp(-x): x < a + 1 uses the series, x >= a + 1 the continued fraction.
    for x in (0.1, 1.0, 1.999, 2.0, 5.0, 40.0):
        assert stats.gamma_q(1.0, x) == pytest.approx(math.exp(-x), rel=1e-12)


def test_chi_square_of_a_fair_and_an_unfair_split():
    statistic, df, p = stats.chi_square([104, 96], [0.5, 0.5])
    assert (round(statistic, 6), df) == (0.32, 1)
    assert p == pytest.approx(0.5716076449533316, rel=1e-9)
    statistic, df, p = stats.chi_square([200, 0], [1, 1])
    assert statistic == 200.0 and p < 1e-40
    # Shares need not sum to one.
    assert stats.chi_square([10, 20], [1, 2])[0] == pytest.approx(0.0)


def test_chi_square_has_nothing_to_test_for_one_endpoint_or_no_hits():
    assert stats.chi_square([7], [1.0]) == (0.0, 0, 1.0)
    assert stats.chi_square([0, 0], [0.5, 0.5]) == (0.0, 0, 1.0)
    with pytest.raises(ValueError):
        stats.chi_square([1, 2], [0.5])
    with pytest.raises(ValueError):
        stats.chi_square([1, 2], [0.5, 0])


def test_share_bar():
    assert stats.share_bar(0.5, 40) == "#" * 20
    assert stats.share_bar(0.001, 40) == "#"
    assert stats.share_bar(0.0, 40) == ""


def test_analyse_a_good_spread_has_no_problems():
    verdict = stats.analyse_spread({"eve": 104, "adam": 96}, {"eve": 0.5, "adam": 0.5})
    assert verdict["problems"] == []
    assert verdict["df"] == 1
    assert verdict["rows"] == [
        {"endpoint": "eve", "hits": 104, "share": 0.52, "expected": 0.5, "bar": "#" * 21},
        {"endpoint": "adam", "hits": 96, "share": 0.48, "expected": 0.5, "bar": "#" * 19}]


def test_analyse_names_every_problem():
    verdict = stats.analyse_spread({"eve": 150}, {"eve": 0.5, "adam": 0.5}, unmatched={"hello from cain": 3},
                                   failures={"connection refused": 47})
    problems = verdict["problems"]
    assert problems[0] == "47 request(s) failed: connection refused (47)"
    assert problems[1] == "3 response(s) came from no expected endpoint: 'hello from cain' (3)"
    assert problems[2] == "endpoint(s) never hit: adam"
    assert problems[3].startswith("the split is unlikely under the expected shares: chi-square 150.00 with 1 degree(s)")
    assert len(problems) == 4


def test_analyse_threshold():
    # 120/80: chi-square 8.0, p = 0.0047: fine at 0.001, a problem at 0.01.
    assert stats.analyse_spread({"a": 120, "b": 80}, {"a": 1, "b": 1}, min_p_value=0.001)["problems"] == []
    assert len(stats.analyse_spread({"a": 120, "b": 80}, {"a": 1, "b": 1}, min_p_value=0.01)["problems"]) == 1


def test_all_failed_reports_failures_but_no_spread():
    verdict = stats.analyse_spread({}, {"a": 1, "b": 1}, failures={"timeout after 2s": 10})
    assert verdict["problems"] == ["10 request(s) failed: timeout after 2s (10)"]
    assert verdict["p_value"] == 1.0


def test_render_spread_table():
    rows = stats.analyse_spread({"eve": 104, "adam": 96, "abel": 0}, {"eve": 1, "adam": 1, "abel": 1})["rows"]
    assert stats.render_spread_table(rows, width=20) == [
        "endpoint   hits   share  expected",
        "eve         104   52.0%     33.3%  ##########",
        "adam         96   48.0%     33.3%  ##########",
        "abel          0    0.0%     33.3%",
    ]


def test_render_spread_table_widens_for_long_names():
    lines = stats.render_spread_table([{"endpoint": "a-very-long-pod-name", "hits": 1, "share": 1.0, "expected": 1.0}], width=4)
    assert lines[0] == "endpoint               hits   share  expected"
    assert lines[1] == "a-very-long-pod-name      1  100.0%    100.0%  ####"
