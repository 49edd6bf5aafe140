# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The UDP conntrack experiment's figures (molecule/kube-proxy/files/udp_stream.py summary) and their block."""

from __future__ import annotations

import importlib.util
import json
import os

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
