# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The crash harness's figures (molecule/reliability/files/crash.py report) and their block in the guide."""

from __future__ import annotations

import importlib.util
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load(name, *path):
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, *path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render = load("render_crash", "scripts", "render_crash.py")


def row(number, how="module/free", point="random moment (sysctl)", killed=True, ok=True, failed=0, gap=0.05,
        takeover=1.2):
    return {"number": number, "how": how, "point": point, "at": "0.40" if killed else "ended", "rc": "-",
            "killed": killed, "ok": ok, "failed": failed, "gap": gap, "takeover": takeover if killed else None,
            "took_over": killed and how.endswith("lapse"), "change": "+cain tutorial/iptables"}


def result(rows, lock=3.9, failed=0, problems=()):
    killed = [item for item in rows if item["killed"]]
    return {"seed": 42, "commit": "abc1234", "date": "2026-12-06 21:00 UTC",
            "summary": {"rounds": len(rows), "seconds": 400.0, "kills": len(killed), "kills_wanted": 30,
                        "survived": sum(1 for item in killed if item["ok"]), "lock_held_again_max": lock,
                        "takeovers": sum(1 for item in killed if item["took_over"]), "failed_connections": failed,
                        "longest_gap": max(item["gap"] for item in rows), "problems": list(problems)},
            "rows": rows}


def thirty():
    rows = [row(1, how="-", point="none", killed=False), row(2, how="controller", point="app stop")]
    rows += [row(number, how="module/lapse" if number % 2 else "module/free",
                 point="pod_sync, veth pairs half made (pod_sync)" if number % 3 else "random moment (proxy_sync)")
             for number in range(3, 32)]
    return rows


def test_a_run_that_met_every_target_says_so_dated_with_its_commit():
    text = render.block(result(thirty()))
    assert "2026-12-06 21:00 UTC, commit abc1234; seed 42: 31 rounds in 400 s" in text
    assert "30 of 30 (target all of at least 30)" in text
    assert "3.9 (target 30 at most)" in text and "0 (target 0)" in text
    assert "missed" not in text and "FAILED" not in text
    assert "1 controller" in text and "29 replayed module" in text


def test_the_report_names_who_was_killed_and_the_moments_no_kill_landed_on():
    report = result(thirty())
    report["summary"]["kills_by_kind"] = {"controller": 3, "module in a full converge": 0, "replayed module": 27}
    report["summary"]["no_kill"] = {"full converge": ["app stop"], "replayed": []}
    text = render.block(report)
    assert "    - 27 replayed module, 3 controller, 0 module in a full converge\n" in text
    assert "  * - moments the run could aim at that no kill landed on\n    - full converge: app stop; replayed: none\n" in text


def test_a_report_from_before_the_kinds_and_the_moments_without_a_kill_still_renders():
    text = render.block(result(thirty()))  # the report the guide's figures came from: neither key in its summary
    assert "    - 29 replayed module, 1 controller\n" in text and "no kill landed on" not in text


def test_a_failed_kill_a_slow_lock_and_failed_connections_are_marked_missed():
    rows = thirty()
    rows[5]["ok"], rows[5]["failed"] = False, 7
    text = render.block(result(rows, lock=45.0, failed=7, problems=["round 6: verify failed"]))
    assert "**29 of 30** (target all of at least 30: missed)" in text
    assert "**45.0** (target 30 at most: missed)" in text
    assert "**7** (target 0: missed)" in text
    assert "FAILED" in text and "-  round 6: verify failed" in text


def test_fewer_kills_than_wanted_is_missed_even_when_all_survived():
    text = render.block(result(thirty()[:20]))
    assert "**19 of 19** (target all of at least 30: missed)" in text


def test_kills_are_grouped_by_the_moment_aimed_at_not_the_step_they_landed_in():
    rows = [row(1, point="random moment (sysctl)"), row(2, point="random moment (pod_sync)", ok=False, failed=2, gap=0.9),
            row(3, point="app stop"), row(4, point="random moment", killed=False)]
    assert render.by_moment(rows) == [("random moment", 2, 1, 2, 0.9), ("app stop", 1, 1, 0, 0.05)]


def test_write_replaces_only_the_block_between_the_markers(tmp_path, monkeypatch):
    guide = tmp_path / "guide.rst"
    guide.write_text("before\n\n%s\n\nold figures\n\n%s\n\nafter\n" % (render.BEGIN, render.END))
    report = tmp_path / "crash.json"
    report.write_text(json.dumps(result(thirty())))
    monkeypatch.setattr(render, "GUIDE", str(guide))
    monkeypatch.setattr(sys, "argv", ["render_crash.py", str(report), "--write"])
    render.main()
    text = guide.read_text()
    assert text.startswith("before\n\n" + render.BEGIN) and text.endswith(render.END + "\n\nafter\n")
    assert "old figures" not in text and "30 of 30" in text


def test_the_guide_has_the_markers():
    with open(render.GUIDE, encoding="utf-8") as handle:
        text = handle.read()
    assert text.count(render.BEGIN) == 1 and text.count(render.END) == 1
