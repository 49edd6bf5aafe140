# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The UDP conntrack experiment's figures (molecule/kube-proxy/files/udp_stream.py summary) and their block."""

from __future__ import annotations

import importlib.util
import json
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load(name, *path):
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, *path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


stream = load("udp_stream", "molecule", "kube-proxy", "files", "udp_stream.py")
render = load("render_udp_conntrack", "scripts", "render_udp_conntrack.py")


def run(tmp_path, answers, quiet=None):
    """A client log: one datagram each 50 ms from t=100, answered as answers(t) says."""
    sent = []
    for index in range(200):
        when = round(100 + index * 0.05, 3)
        if quiet and quiet[0] <= when < quiet[1]:
            continue
        answer = answers(when)
        sent.append([when, answer, None if answer else "timeout"])
    path = tmp_path / "log.json"
    path.write_text(json.dumps({"source_port": 40000, "quiet": quiet, "sent": sent}))
    return str(path)


def test_clean_up_off_counts_what_the_stale_entry_did(tmp_path):
    # The pod answers until it stops at 103.5 (converge 101-104); lost until the quiet time; then abel.
    path = run(tmp_path, lambda t: "netns_cain" if t < 103.5 else "netns_abel" if t >= 108 else None, [107.5, 108.0])
    figures = stream.summary(path, "netns_cain", 101.0, 104.0, 110.5)
    assert figures["during"] == {"sent": 60, "answered_by_removed": 50, "answered_by_listed": 0, "lost": 10}
    assert figures["after"] == {"sent": 70, "answered_by_removed": 0, "answered_by_listed": 0, "lost": 70}
    assert figures["bad_first"] == 2.5 and figures["bad_until_end"]
    assert figures["expired_after"] == 3.05 and figures["first_after_resume"] == "netns_abel"


def test_clean_up_on_no_answer_from_the_removed_pod_after_the_converge(tmp_path):
    path = run(tmp_path, lambda t: "netns_cain" if t < 103 else "netns_abel" if t >= 103.1 else None)
    figures = stream.summary(path, "netns_cain", 101.0, 104.0)
    assert figures["after"]["answered_by_removed"] == 0 and figures["after"]["lost"] == 0
    assert figures["during"]["lost"] == 2 and figures["bad_seconds"] == 0.1
    assert not figures["bad_until_end"] and "expired_after" not in figures


def test_the_block_shows_both_figures(tmp_path):
    result = {"commit": "abc1234", "date": "2026-12-05 23:00 UTC", "seconds": 99.0, "interval": 0.05,
              "expiry_timeout": 3}
    off = run(tmp_path, lambda t: "netns_cain" if t < 103.5 else None)
    result["off"] = {"summary": stream.summary(off, "netns_cain", 101.0, 104.0), "timeouts": [30, 120],
                     "log": json.loads(open(off).read())}
    on = run(tmp_path, lambda t: "netns_cain" if t < 103 else "netns_abel")
    result["on"] = {"summary": stream.summary(on, "netns_cain", 101.0, 104.0), "log": json.loads(open(on).read())}
    text = render.block(result)
    assert "commit abc1234" in text
    assert "    - 0 / **0** / 120" in text  # off: every datagram after the converge lost
    assert "    - 120 / **0** / 0" in text  # on: every one answered by a listed pod
    assert "  off RRRR" in text and "  on  RRRR" in text


def experiment(tmp_path):
    """A whole RESULT as udp_conntrack.yml writes it, both modes with the converge 101-104 removing netns_cain.

    off: the pod answers until it stops at 103.5, then every datagram is lost; the client is quiet 107.5-108.5
    (its last datagram before that at 107.45), the entry gone at 110.0, then abel answers. on: the entry is
    deleted at 102, and abel answers from then on.
    """
    result = {"commit": "abc1234", "date": "2026-12-05 23:00 UTC", "seconds": 99.0, "interval": 0.05, "expiry_timeout": 3}
    off = run(tmp_path, lambda t: "netns_cain" if t < 103.5 else "netns_abel" if t >= 108.5 else None, [107.5, 108.5])
    result["off"] = {"summary": stream.summary(off, "netns_cain", 101.0, 104.0, 110.0), "timeouts": [30, 120],
                     "log": json.loads(open(off).read())}
    on = run(tmp_path, lambda t: "netns_cain" if t < 102 else "netns_abel")
    result["on"] = {"summary": stream.summary(on, "netns_cain", 101.0, 104.0), "log": json.loads(open(on).read())}
    return result


def lanes(points):
    """The datagrams' lanes as runs: [(lane, how many in a row, first time)]."""
    found = []
    for when, lane in points:
        if found and found[-1][0] == lane:
            found[-1][1] += 1
        else:
            found.append([lane, 1, when])
    return [tuple(item) for item in found]


def test_the_plot_s_datagrams_start_with_the_converge_and_take_the_lane_of_who_answered(tmp_path):
    result = experiment(tmp_path)
    off, on = result["off"], result["on"]
    assert lanes(render.datagrams(off["summary"], off["log"])) == [
        ("removed", 50, 0.0), ("lost", 80, 2.5), ("listed", 30, 7.5)]  # nothing sent 107.5-108.5
    assert lanes(render.datagrams(on["summary"], on["log"])) == [("removed", 20, 0.0), ("listed", 160, 1.0)]


def test_the_plot_marks_the_converge_s_end_the_quiet_time_and_the_expiry(tmp_path):
    result = experiment(tmp_path)
    off, on = result["off"], result["on"]
    # Quiet from the last datagram before it (107.45) to the first after it; gone 2.55 s after that last one.
    assert render.marks(off["summary"], off["log"]) == {"converge_end": 3.0, "quiet": (6.45, 7.5), "expired": 9.0}
    assert render.marks(on["summary"], on["log"]) == {"converge_end": 3.0, "quiet": None, "expired": None}


def test_the_timeline_splits_at_the_converge_s_end_by_time(tmp_path):
    result = experiment(tmp_path)
    during, after = render.timeline(result["off"]["summary"], result["off"]["log"])
    assert during == "R" * 50 + "." * 10
    assert after == "." * 70 + "|" + "L" * 30
    assert render.timeline(result["on"]["summary"], result["on"]["log"]) == ("R" * 20 + "L" * 40, "L" * 120)


def test_the_headings_and_the_alt_text_give_the_figures_after_the_converge(tmp_path):
    result = experiment(tmp_path)
    off = render.heading("clean-up off", result["off"]["summary"])
    assert off.startswith("clean-up off, netns_cain removed; its entry was gone 2.5 s after the client went quiet\n")
    assert off.endswith("0 answered by a listed pod, 0 by the removed pod, 70 lost")
    assert render.heading("clean-up on", result["on"]["summary"]).endswith(
        "120 answered by a listed pod, 0 by the removed pod, 0 lost")
    text = render.block(result)
    assert ".. figure:: guide_reliability_udp.png\n  :alt: UDP datagrams" in text
    assert "clean-up off, in the 3 s after the converge: 0 datagrams answered by a listed pod, 0 by the removed pod, " \
           "70 lost; clean-up on" in text


def test_the_png_is_drawn_and_names_the_run(tmp_path):
    pytest.importorskip("matplotlib")
    path = render.plot(experiment(tmp_path), str(tmp_path / "udp.png"))
    with open(path, "rb") as handle:
        data = handle.read()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10000
    assert b"2026-12-05 23:00 UTC, commit abc1234" in data  # the title, also the PNG's Title text
