# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The benchmarks' pictures (matplotlib, a test-only dependency): what the performance guide shows.

datapath(): connection setup latency (p50, p99) and new connections/s via the
ClusterIP against the number of Services, per backend and layout, with the
pod IP, the hand-written split and loopback (at the fewest Services) as reference lines.
apply_curve(): proxy_sync's apply and re-apply against the bare tools.
Each PNG names its run (date, commit) in its title.
"""
import os

from targets import median

STYLE = {"iptables": "#c0392b", "nftables": "#2471a3"}
MARKER = {"tutorial": "o", "kube-proxy": "s"}
# The PNG each plotting benchmark writes into the docs site's rst folder (benchmarks/report.py shows them).
FILES = {"datapath.py": "guide_performance_datapath.png", "apply_curve.py": "guide_performance_apply.png"}
REFERENCES = (("pod IP", "#7f7f7f", ":"), ("floor-split", "#27ae60", "--"), ("loopback", "#000000", "-."))


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot
    return pyplot


def _axis(axis, points, xlabel, ylabel):
    """Ticks at the Service counts measured, from zero up, a light grid."""
    axis.set_xticks(sorted(set(p["services"] for p in points)))
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.set_ylim(bottom=0)
    axis.grid(True, alpha=0.3)


def _save(pyplot, fig, title, folder, script):
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = os.path.join(folder, FILES[script])
    fig.savefig(path, dpi=90)
    pyplot.close(fig)
    return path


def series(points, backend, layout, path, figure):
    """(Service counts, medians) of one path's figure ('p50', 'p99', 'rate') for one backend and layout."""
    chosen = sorted((p for p in points if p["backend"] == backend and p["layout"] == layout), key=lambda p: p["services"])
    return [p["services"] for p in chosen], [median(p["paths"][path][figure]) for p in chosen]


def reference(points, path, figure):
    """The median of one reference path over the points with the fewest Services.

    With iptables every connection the node opens walks the dispatch chain in OUTPUT (to the pod IP and
    to loopback too), so these paths are flat only where there is (almost) nothing to walk.
    """
    fewest = min(p["services"] for p in points)
    values = [median(p["paths"][path][figure]) for p in points if p["services"] == fewest]
    return (median(values), fewest) if values else (None, fewest)


def datapath(points, title, folder):
    pyplot = _pyplot()
    figures = (("p50", "p50 of a fresh connection (ms)"), ("p99", "p99 of a fresh connection (ms)"),
               ("rate", "new connections/s (saturating)"))
    fig, axes = pyplot.subplots(1, 3, figsize=(15, 5.2))
    combos = sorted(set((p["backend"], p["layout"]) for p in points))
    for axis, (figure, label) in zip(axes, figures):
        for backend, layout in combos:
            xs, ys = series(points, backend, layout, "clusterip", figure)
            axis.plot(xs, ys, color=STYLE[backend], marker=MARKER[layout], linewidth=2,
                      label="ClusterIP, %s, %s layout" % (backend, layout))
        for path, color, dash in REFERENCES:
            value, fewest = reference(points, path, figure)
            if value is not None:
                axis.axhline(value, color=color, linestyle=dash, linewidth=1.2,
                             label="%s, %d Service%s (median)" % (path, fewest, "" if fewest == 1 else "s"))
        _axis(axis, points, "Services (the measured one last)", label)
    axes[0].legend(fontsize=8, loc="upper left")
    return _save(pyplot, fig, "Connection setup via a ClusterIP vs number of Services\n" + title, folder, "datapath.py")


def apply_curve(points, title, folder):
    pyplot = _pyplot()
    fig, axes = pyplot.subplots(1, 2, figsize=(12, 5))
    for axis, (first, bare, label) in zip(axes, (("apply", "bare apply", "first apply"),
                                                 ("change", "bare change", "re-apply, one endpoint moved"))):
        for backend in sorted(set(p["backend"] for p in points)):
            chosen = sorted((p for p in points if p["backend"] == backend), key=lambda p: p["services"])
            xs = [p["services"] for p in chosen]
            axis.plot(xs, [median(p["seconds"][first]) for p in chosen], color=STYLE[backend], marker="o",
                      linewidth=2, label="proxy_sync, %s" % backend)
            axis.plot(xs, [median(p["seconds"][bare]) for p in chosen], color=STYLE[backend], marker="x",
                      linestyle="--", label="bare %s, same text" % ("iptables-restore" if backend == "iptables" else "nft -f"))
        axis.set_title(label)
        _axis(axis, points, "Services (kube-proxy layout)", "seconds")
        axis.legend(fontsize=8, loc="upper left")
    return _save(pyplot, fig, "Applying the rules vs number of Services\n" + title, folder, "apply_curve.py")
