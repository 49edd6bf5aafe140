#!/usr/bin/env python
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Draw the tutorial's Service graph from the rulesets of real runs, with one traced connection in red.

Usage: scripts/render_service_graphs.py [--out DIR] [--fixtures DIR] [CASE ...]

For each CASE (default: all) of the trace fixtures (scripts/capture_trace_fixtures.py makes
them: CASE.rules, CASE.trace, CASE.json) writes DIR/CASE.dot and DIR/CASE.mmd (Mermaid) and,
where Graphviz's dot is installed (Debian: apt-get install graphviz), DIR/CASE.svg and
DIR/CASE.png. Each picture's caption names the case and the date of the run it comes from.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "tests", "unit", "plugins", "module_utils", "fixtures", "trace")
NAMES = {"10.0.0.11": "adam", "10.0.0.21": "eve"}


def modules():
    root = tempfile.mkdtemp(prefix="k8slab-graphs-")
    os.makedirs(os.path.join(root, "ansible_collections", "k8slab"))
    os.symlink(REPO, os.path.join(root, "ansible_collections", "k8slab", "kube_proxy"))
    sys.path.insert(0, root)
    from ansible_collections.k8slab.kube_proxy.plugins.module_utils import (  # noqa: E402 pylint: disable=import-error
        packet_trace, service_graph)
    return packet_trace, service_graph


def render(case, fixtures, out, packet_trace, service_graph):
    with open(os.path.join(fixtures, case + ".json")) as handle:
        meta = json.load(handle)
    with open(os.path.join(fixtures, case + ".rules")) as handle:
        rules = handle.read()
    with open(os.path.join(fixtures, case + ".trace")) as handle:
        trace = handle.read()
    chains = packet_trace.base_chains_from_nft(meta["ruleset"]) if "ruleset" in meta else None
    first = packet_trace.connections(trace, client=meta["client"], service=meta["destination"], base_chains=chains)[0]
    address, port = meta["destination"].rsplit(":", 1)
    graph = service_graph.service_graph(rules, address, int(port), names=NAMES)
    title = "Service %s/tcp: %s layout, %s backend (run of %s)\nred: connection %s -> %s, traced, DNAT to %s" % (
        meta["destination"], meta["layout"], meta["backend"], meta["captured"], first["client"],
        meta["destination"], first["dnat"])
    written = []
    for suffix, text in ((".dot", service_graph.to_dot(graph, highlight=first, title=title)),
                         (".mmd", service_graph.to_mermaid(graph, highlight=first, title=title.replace("\n", "; ")))):
        with open(os.path.join(out, case + suffix), "w") as handle:
            handle.write(text)
        written.append(case + suffix)
    if shutil.which("dot"):
        for fmt, extra in (("svg", []), ("png", ["-Gdpi=110"])):
            subprocess.run(["dot", "-T" + fmt] + extra + [os.path.join(out, case + ".dot"),
                                                          "-o", os.path.join(out, "%s.%s" % (case, fmt))], check=True)
            written.append("%s.%s" % (case, fmt))
    print("%s: %s" % (case, ", ".join(written)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--out", default=".")
    parser.add_argument("--fixtures", default=FIXTURES)
    parser.add_argument("cases", nargs="*", metavar="CASE")
    args = parser.parse_args()
    available = sorted(name[:-len(".rules")] for name in os.listdir(args.fixtures) if name.endswith(".rules"))
    unknown = [case for case in args.cases if case not in available]
    if unknown:
        parser.error("unknown case %s; the cases are %s" % (", ".join(unknown), ", ".join(available)))
    if not shutil.which("dot"):
        print("Graphviz's dot is missing: writing DOT and Mermaid only", file=sys.stderr)
    os.makedirs(args.out, exist_ok=True)
    packet_trace, service_graph = modules()
    for case in args.cases or available:
        render(case, args.fixtures, args.out, packet_trace, service_graph)
    return 0


if __name__ == "__main__":
    sys.exit(main())
