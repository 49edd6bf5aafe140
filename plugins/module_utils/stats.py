# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure statistics for judging how a Service spread its connections: chi-square test and spread table.

No scipy on a node: the p-value comes from the regularized upper incomplete gamma function,
computed by its series (x < a + 1) or its continued fraction (otherwise), as in Numerical Recipes.
"""

from __future__ import annotations

import math

_EPS = 1e-15
_TINY = 1e-300
_MAX_ITER = 10000


def _lower_series(a, x):
    """Regularized lower incomplete gamma P(a, x) by its power series (converges fast for x < a + 1)."""
    term = 1.0 / a
    total = term
    n = a
    for _dummy in range(_MAX_ITER):
        n += 1.0
        term *= x / n
        total += term
        if abs(term) < abs(total) * _EPS:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _upper_fraction(a, x):
    """Regularized upper incomplete gamma Q(a, x) by its continued fraction (modified Lentz), for x >= a + 1."""
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITER):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _TINY:
            d = _TINY
        c = b + an / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def gamma_q(a, x):
    """Regularized upper incomplete gamma function Q(a, x) = Gamma(a, x) / Gamma(a)."""
    if a <= 0:
        raise ValueError("a must be positive, got %r" % (a,))
    if x < 0:
        raise ValueError("x must not be negative, got %r" % (x,))
    if x == 0:
        return 1.0
    if x < a + 1.0:
        return max(0.0, 1.0 - _lower_series(a, x))
    return min(1.0, _upper_fraction(a, x))


def chi2_sf(statistic, df):
    """P(X >= statistic) for X chi-square distributed with df degrees of freedom."""
    if df < 1:
        raise ValueError("degrees of freedom must be at least 1, got %r" % (df,))
    return gamma_q(df / 2.0, max(0.0, statistic) / 2.0)


def chi_square(observed, shares):
    """Pearson's goodness-of-fit test of `observed` counts against expected `shares` (summing to 1).

    Returns (statistic, degrees of freedom, p-value). With fewer than two categories or no
    observations there is nothing to test: (0.0, 0, 1.0).
    """
    if len(observed) != len(shares):
        raise ValueError("observed and shares differ in length")
    total = sum(observed)
    if len(observed) < 2 or total == 0:
        return 0.0, 0, 1.0
    share_sum = float(sum(shares))
    if share_sum <= 0 or any(share <= 0 for share in shares):
        raise ValueError("every expected share must be positive")
    statistic = 0.0
    for count, share in zip(observed, shares):
        expected = total * share / share_sum
        statistic += (count - expected) ** 2 / expected
    df = len(observed) - 1
    return statistic, df, chi2_sf(statistic, df)


def share_bar(share, width=40):
    """A bar of '#' as long as `share` of `width` (rounded; at least one '#' for any hit)."""
    if share <= 0:
        return ""
    return "#" * max(1, int(round(share * width)))


def analyse_spread(hits, shares, unmatched=None, failures=None, min_p_value=0.001):
    """Judge one probe run.

    hits: endpoint -> responses that came from it; shares: endpoint -> expected share (the
    endpoints a Service should spread over); unmatched: response text -> count of responses
    from no expected endpoint; failures: reason -> count of failed requests.
    Returns a dict: rows (endpoint, hits, share, expected, bar), chi_square, df, p_value and
    problems (readable sentences, empty when the spread is as expected).
    """
    unmatched = unmatched or {}
    failures = failures or {}
    endpoints = list(shares)
    observed = [int(hits.get(endpoint, 0)) for endpoint in endpoints]
    expected = [float(shares[endpoint]) for endpoint in endpoints]
    answered = sum(observed)
    statistic, df, p_value = chi_square(observed, expected) if endpoints else (0.0, 0, 1.0)
    share_sum = sum(expected) or 1.0
    rows = []
    for endpoint, count, share in zip(endpoints, observed, expected):
        got = float(count) / answered if answered else 0.0
        rows.append({"endpoint": endpoint, "hits": count, "share": got, "expected": share / share_sum, "bar": share_bar(got)})
    problems = []
    failed = sum(failures.values())
    if failed:
        reasons = ", ".join("%s (%d)" % (reason, count) for reason, count in sorted(failures.items(), key=lambda kv: -kv[1]))
        problems.append("%d request(s) failed: %s" % (failed, reasons))
    if unmatched:
        texts = ", ".join("%r (%d)" % (text, count) for text, count in sorted(unmatched.items(), key=lambda kv: -kv[1]))
        problems.append("%d response(s) came from no expected endpoint: %s" % (sum(unmatched.values()), texts))
    missed = [endpoint for endpoint, count in zip(endpoints, observed) if count == 0]
    if missed and answered:
        problems.append("endpoint(s) never hit: %s" % ", ".join(missed))
    if df and p_value <= min_p_value:
        problems.append("the split is unlikely under the expected shares: chi-square %.2f with %d degree(s) of freedom, "
                        "p = %.2g <= %g" % (statistic, df, p_value, min_p_value))
    return {"rows": rows, "chi_square": statistic, "df": df, "p_value": p_value, "problems": problems}


def render_spread_table(rows, width=40):
    """Lines of a small table: endpoint, hits, share, expected share and a bar."""
    name_width = max([len("endpoint")] + [len(str(row["endpoint"])) for row in rows])
    lines = ["%-*s %6s %7s %9s  %s" % (name_width, "endpoint", "hits", "share", "expected", "")]
    for row in rows:
        lines.append("%-*s %6d %6.1f%% %8.1f%%  %s" % (
            name_width, row["endpoint"], row["hits"], 100.0 * row["share"], 100.0 * row["expected"],
            share_bar(row["share"], width)))
    return [line.rstrip() for line in lines]
