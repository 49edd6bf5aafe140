# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The crash harness's pure choices (molecule/reliability/files/crash.py): the summary it reports."""

from __future__ import annotations

import importlib.util
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
spec = importlib.util.spec_from_file_location("crash", os.path.join(REPO, "molecule", "reliability", "files", "crash.py"))
crash = importlib.util.module_from_spec(spec)
spec.loader.exec_module(crash)


def row(kind, phase, aim, ok=True, killed=True, takeover=1.5, took_over=False, failed=0, gap=0.05):
    return {"kind": kind, "phase": phase, "aim": aim, "ok": ok, "killed": killed, "takeover": takeover if killed else None,
            "took_over": took_over, "failed": failed, "gap": gap}


def test_the_summary_line_shows_the_reports_figures():
    rows = [row("controller", "full converge", "app stop", takeover=3.04),
            row("module in a full converge", "full converge", "random moment", killed=False),
            row("replayed module", "replayed", "app start", ok=False, took_over=True, failed=2, gap=0.75),
            row("replayed module", "replayed", "random moment", takeover=0.4)]
    summary = crash.summarize(rows, 30, 81.6, ["round 3: verify failed"],
                              {"full converge": ["random moment", "app stop"], "replayed": ["random moment", "app start", "app stop"]})
    assert summary["kills_by_kind"] == {"controller": 1, "module in a full converge": 0, "replayed module": 2}
    assert summary["no_kill"] == {"full converge": ["random moment"], "replayed": ["app stop"]}
    assert crash.summary_line(99, summary) == (
        "seed 99: 4 rounds in 82 s; 3 kills (1 controller, 0 module in a full converge, 2 replayed module), 2 survived; "
        "next converge held the lock after at most 3.0 s (1 takeovers of a lapsed lock); 2 failed new connections; "
        "longest gap 0.75 s")
