#!/usr/bin/env python
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Put the UDP conntrack experiment's figures, dated with the commit, into the reliability guide.

Usage: scripts/render_udp_conntrack.py RESULT.json [--write] [--png FILE]

RESULT.json is what molecule/kube-proxy/udp_conntrack.yml wrote on the controller (set
K8SLAB_UDP_CONNTRACK_RESULT=RESULT.json for `scripts/test molecule` or `molecule test -s kube-proxy`;
else it is udp_conntrack.json in the scenario's ephemeral folder). Prints the block; with --write it
replaces the block between ``.. udp-conntrack:begin`` and ``.. udp-conntrack:end`` of
docs/docsite/rst/guide_reliability.rst and draws the block's figure,
docs/docsite/rst/guide_reliability_udp.png (matplotlib, a test-only dependency, as benchmarks/plots.py):
every datagram from the converge's start by who answered it, clean-up off above, on below.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUIDE = os.path.join(REPO, "docs", "docsite", "rst", "guide_reliability.rst")
BEGIN, END = ".. udp-conntrack:begin", ".. udp-conntrack:end"


PNG = os.path.join(REPO, "docs", "docsite", "rst", "guide_reliability_udp.png")
# The lanes of the plot, top to bottom, and the timeline's character for each.
LANES = (("listed", "a listed pod answered", "#27ae60", "L"),
         ("removed", "the removed pod answered", "#e67e22", "R"),
         ("lost", "lost (no answer in 40 ms)", "#c0392b", "."))
MODES = (("off", "clean-up off (service_proxy_conntrack_cleanup: false)"), ("on", "clean-up on (the default)"))


def datagrams(summary, log):
    """(seconds from the converge's start, lane) of every datagram sent from the converge's start on."""
    start, removed = summary["converge_start"], summary["removed"]
    return [(round(sent - start, 3), "removed" if answer == removed else "listed" if answer else "lost")
            for sent, answer, dummy in log["sent"] if sent >= start]


def marks(summary, log):
    """What the plot marks, in seconds from the converge's start: its end, the client's quiet time, the entry's expiry.

    quiet is (from the last datagram before it, to the first after it), None when the client never went quiet;
    expired is when the entry was seen gone, None when it was not waited for.
    """
    start, quiet = summary["converge_start"], log.get("quiet")
    found = {"converge_end": summary["converge_seconds"], "quiet": None, "expired": None}
    if quiet:
        before = [sent for sent, dummy, dummy2 in log["sent"] if sent < quiet[0]]
        last = before[-1] if before else quiet[0]
        found["quiet"] = (round(last - start, 3), round((quiet[1] or quiet[0]) - start, 3))
        if summary.get("expired_after") is not None:
            found["expired"] = round(last + summary["expired_after"] - start, 3)
    return found


def timeline(summary, log):
    """One character per datagram from the converge's start (L listed pod, R removed pod, . lost, | quiet), split at its end."""
    found, chars = marks(summary, log), {lane: char for lane, dummy, dummy2, char in LANES}
    during, after = [], []
    for when, lane in datagrams(summary, log):
        text = during if when < found["converge_end"] else after
        if found["quiet"] and when >= found["quiet"][1] and "|" not in during + after:
            text.append("|")
        text.append(chars[lane])
    return "".join(during), "".join(after)


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot
    return pyplot


def title(result):
    return "A one-port UDP client to a ClusterIP while a converge removes the pod it reaches\n%s, commit %s" % (
        result["date"], result["commit"])


def heading(name, summary):
    """A mode's two lines above its lanes: the pod removed, what came after the converge, the expiry."""
    after = summary["after"]
    first = "%s, %s removed" % (name, summary["removed"])
    if summary.get("expired_after") is not None:
        first += "; its entry was gone %.1f s after the client went quiet" % summary["expired_after"]
    return "%s\nin the %.1f s after the converge: %d answered by a listed pod, %d by the removed pod, %d lost" % (
        first, summary["after_seconds"], after["answered_by_listed"], after["answered_by_removed"], after["lost"])


def plot(result, path):
    """Both modes, one above the other, on the same time axis: a tick per datagram in its lane; the converge shaded."""
    pyplot = _pyplot()
    fig, axes = pyplot.subplots(2, 1, figsize=(10, 6.4), sharex=True)
    for axis, (mode, name) in zip(axes, MODES):
        summary, log = result[mode]["summary"], result[mode]["log"]
        points, found = datagrams(summary, log), marks(summary, log)
        for row, (lane, label, color, dummy) in enumerate(LANES):
            times = [when for when, kind in points if kind == lane]
            axis.vlines(times, row - 0.38, row + 0.38, color=color, linewidth=1.2)
        axis.axvspan(0, found["converge_end"], color="#aed6f1", alpha=0.35, linewidth=0,
                     label="the converge that removed the pod")
        axis.axvline(found["converge_end"], color="#1f3a93", linestyle="--", linewidth=1.2, label="the converge's end")
        if found["quiet"]:
            axis.axvspan(*found["quiet"], facecolor="none", edgecolor="#7f7f7f", hatch="//", linewidth=0,
                         label="the client quiet (sends nothing)")
        if found["expired"] is not None:
            axis.axvline(found["expired"], color="#000000", linestyle=":", linewidth=1.5,
                         label="the client's conntrack entry gone")
        axis.set_title(heading(name, summary), loc="left", fontsize=9)
        axis.set_yticks(range(len(LANES)))
        axis.set_yticklabels([label for dummy, label, dummy2, dummy3 in LANES], fontsize=8)
        axis.set_ylim(len(LANES) - 0.5, -0.5)  # the first lane on top
        axis.grid(True, axis="x", alpha=0.3)
    axes[-1].set_xlabel("seconds from the converge's start (a datagram every %g s, one tick each)"
                        % result.get("interval", 0.05))
    axes[-1].set_xlim(left=0)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    fig.suptitle(title(result), fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=90, metadata={"Title": title(result).replace("\n", ", ")})
    pyplot.close(fig)
    return path


def alt(result):
    """The figure's figures in words, for a reader who cannot see it."""
    words = []
    for mode, dummy in MODES:
        summary = result[mode]["summary"]
        words.append("clean-up %s, in the %.0f s after the converge: %d datagrams answered by a listed pod, "
                     "%d by the removed pod, %d lost" % (mode, summary["after_seconds"], summary["after"]["answered_by_listed"],
                                                         summary["after"]["answered_by_removed"], summary["after"]["lost"]))
    return "UDP datagrams over time while a converge removes the pod that answers them; " + "; ".join(words)


def block(result):
    off, on = result["off"]["summary"], result["on"]["summary"]
    timeouts = result["off"].get("timeouts") or [30, 120]
    lines = [
        "Generated by ``scripts/render_udp_conntrack.py`` from ``molecule/kube-proxy/udp_conntrack.yml`` "
        "(%s, commit %s; the experiment took %.0f s)." % (result["date"], result["commit"], result["seconds"]),
        "",
        ".. list-table::",
        "  :header-rows: 1",
        "",
        "  * - figure",
        "    - clean-up off",
        "    - clean-up on (default)",
        "  * - the converge that removed the pod (s)",
        "    - %.1f" % off["converge_seconds"],
        "    - %.1f" % on["converge_seconds"],
        "  * - datagrams during it: answered by a listed pod / by the removed pod / lost",
        "    - %(answered_by_listed)d / %(answered_by_removed)d / %(lost)d" % off["during"],
        "    - %(answered_by_listed)d / %(answered_by_removed)d / %(lost)d" % on["during"],
        "  * - datagrams in the %.0f s after it: answered by a listed pod / **by the removed pod** / lost"
        % max(off["after_seconds"], on["after_seconds"]),
        "    - %(answered_by_listed)d / **%(answered_by_removed)d** / %(lost)d" % off["after"],
        "    - %(answered_by_listed)d / **%(answered_by_removed)d** / %(lost)d" % on["after"],
        "  * - seconds the client was served badly (lost, or answered by the removed pod after the converge)",
        "    - %.1f%s" % (off["bad_seconds"], ", until it stopped sending" if off["bad_until_end"] else ""),
        "    - %.1f" % on["bad_seconds"],
        "  * - the client's entry expired after it went quiet (s)",
        "    - %s (time-out lowered to %s s for the run; %d s by default)"
        % (off.get("expired_after"), result.get("expiry_timeout", "a few"), timeouts[1]),
        "    - (deleted by the converge)",
        "  * - first answer after that, same source port",
        "    - %s" % off.get("first_after_resume"),
        "    - \\",
        "",
        ".. figure:: %s" % os.path.basename(PNG),
        "  :alt: %s" % alt(result),
        "",
        "  Every datagram from the converge's start, a tick in the lane of who answered it (%s, commit %s). "
        "Shaded: the converge that removed the pod; hatched: the client quiet until its conntrack entry was gone "
        "(dotted line), clean-up off only." % (result["date"], result["commit"]),
        "",
        "Every datagram from the converge's start, one character each (``L`` a listed pod answered, "
        "``R`` the removed pod, ``.`` lost, ``|`` the client's quiet time; ``/`` the converge's end)::",
        "",
    ]
    for mode, summary in (("off", off), ("on", on)):
        during, after = timeline(summary, result[mode]["log"])
        text = during + "/" + after
        lines.append("  %-3s %s" % (mode, "\n      ".join(text[i:i + 72] for i in range(0, len(text), 72))))
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("result", help="the JSON file molecule/kube-proxy/udp_conntrack.yml wrote")
    parser.add_argument("--write", action="store_true",
                        help="replace the block in %s and draw %s" % (os.path.relpath(GUIDE, REPO), os.path.relpath(PNG, REPO)))
    parser.add_argument("--png", metavar="FILE", help="draw the figure into FILE (instead of the guide's, with --write)")
    options = parser.parse_args()
    with open(options.result, encoding="utf-8") as handle:
        result = json.load(handle)
    text = block(result)
    print(text)
    if options.png or options.write:
        print("\nwrote %s" % plot(result, options.png or PNG))
    if options.write:
        write_block(GUIDE, BEGIN, END, text)


def write_block(path, begin, end, text):
    """Replace what lies between the lines ``begin`` and ``end`` of ``path`` with ``text`` (render_crash.py too)."""
    with open(path, encoding="utf-8") as handle:
        guide = handle.read()
    if begin not in guide or end not in guide:
        sys.exit("%s has no %s ... %s markers" % (path, begin, end))
    head, rest = guide.split(begin, 1)
    tail = rest.split(end, 1)[1]
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(head + begin + "\n\n" + text + "\n\n" + end + tail)
    print("\nwrote %s" % path)


if __name__ == "__main__":
    main()
