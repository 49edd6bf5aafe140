# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The converge side of the data-path curve: proxy_sync's apply and re-apply against the bare tools, 1,000 to 10,000 Services.

For each backend and Service count, inside a throwaway network namespace (see
iptables_chains.py, whose model, runner and reset it uses): the first apply
of N Services x M endpoints in kube-proxy's layout by the proxy_sync module
(run as AnsiballZ runs it, without ansible-playbook), against a bare
`iptables-restore --noflush` / `nft -f` of the very text the module applied,
into the same empty tables; then the re-apply with one endpoint of one Service
moved (kube-proxy's sync after one EndpointSlice changed; KEP-3453's partial
sync), against the bare tool given the text the module applied that time on
the same starting state. Medians of --rounds.

    .venv/bin/python benchmarks/apply_curve.py [--services 1000 5000 10000] [--backends iptables nftables] [--plot DIR]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import iptables_chains as bench
import plots
from targets import Targets, finish, median, spread, stamp

BARE = {"iptables": ["iptables-restore", "--noflush", "-w", "30"], "nftables": ["nft", "-f", "-"]}
BARE_NAME = {"iptables": "iptables-restore --noflush", "nftables": "nft -f"}


def clear():
    """Empty tables of both backends and no records."""
    bench.reset_nat()
    subprocess.run(["nft", "flush", "ruleset"], capture_output=True, check=False)
    shutil.rmtree(os.path.dirname(bench.SYNC_STATE_DIR), ignore_errors=True)


def sync_args(backend, services, endpoints, moved=False):
    args = bench.model_args(bench.service_model(services, endpoints, moved=moved))
    args.update(backend=backend, conntrack_cleanup=False)
    return args


def measure(runner, backend, services, endpoints, rounds):
    """{'apply': [...], 'bare apply': [...], 'change': [...], 'bare change': [...]} in seconds."""
    first, moved = sync_args(backend, services, endpoints), sync_args(backend, services, endpoints, moved=True)
    got = dict((key, []) for key in ("apply", "bare apply", "change", "bare change"))
    for dummy in range(rounds):
        clear()
        seconds, result = runner.module_only(first)
        assert result["changed"] is True
        got["apply"].append(seconds)
        full = result["applied"]
        seconds, result = runner.module_only(moved)
        assert result["changed"] is True
        got["change"].append(seconds)
        partial = result["applied"]
        clear()
        got["bare apply"].append(bench.timed(BARE[backend], data=full)[0])
        got["bare change"].append(bench.timed(BARE[backend], data=partial)[0])
    return got, len(full), len(partial)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--services", type=int, nargs="+", default=[1000, 5000, 10000])
    parser.add_argument("--endpoints", type=int, default=2)
    parser.add_argument("--backends", nargs="+", choices=["iptables", "nftables"], default=["iptables", "nftables"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", help="write every measurement to this file")
    parser.add_argument("--plot", help="write the apply-time plot (PNG) into this folder")
    parser.add_argument("--markdown", action="store_true", help="also print the table as markdown")
    options = parser.parse_args()
    bench.reexec_in_namespace()

    workdir = tempfile.mkdtemp(prefix="k8slab-bench-apply-")
    runner = bench.Runner(workdir)
    title = "Apply, proxy_sync vs the bare tools, kube-proxy layout, %d endpoints per Service, %s" % (
        options.endpoints, stamp(bench.REPO))
    table = Targets(title)
    points = []
    try:
        print("apply benchmark: %d CPUs, load average %.2f, in a throwaway network namespace"
              % (os.cpu_count(), os.getloadavg()[0]), flush=True)
        for backend in options.backends:
            for count in options.services:
                got, full, partial = measure(runner, backend, count, options.endpoints, options.rounds)
                points.append({"backend": backend, "services": count, "seconds": got,
                               "full_bytes": full, "change_bytes": partial})
                print("  %s, %5d Services: apply %.2f s vs bare %.2f s (%d kB); one endpoint moved %.2f s vs bare %.2f s"
                      " (%d kB)" % (backend, count, median(got["apply"]), median(got["bare apply"]), full // 1024,
                                    median(got["change"]), median(got["bare change"]), partial // 1024), flush=True)
                table.add("%s, %d Services: apply, proxy_sync vs bare %s" % (backend, count, BARE_NAME[backend]),
                          median(got["apply"]) / median(got["bare apply"]),
                          "%s vs %s" % (spread(got["apply"]), spread(got["bare apply"])),
                          1.5 if backend == "nftables" and count == max(options.services) else None)
                table.add("  one endpoint moved, proxy_sync vs bare %s of what it applied" % BARE_NAME[backend],
                          median(got["change"]) / median(got["bare change"]),
                          "%s vs %s" % (spread(got["change"]), spread(got["bare change"])))
                table.add("  one endpoint moved vs the first apply, proxy_sync",
                          median(got["change"]) / median(got["apply"]),
                          "%s vs %s" % (spread(got["change"]), spread(got["apply"])))
        finish(table, options, title, points, lambda folder: plots.apply_curve(points, title, folder))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
