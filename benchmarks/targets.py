# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared by the benchmarks: every figure printed with its target and whether it is met.

A row is a figure (a ratio or an absolute value), the target it is held to
(at most / at least), and what was measured on both sides. `print_table`
writes the plain table every benchmark ends with; `markdown` the same rows as
Markdown, which benchmarks/report.py turns into the performance guide's table
(and the README's block, made from the guide).
"""
import json
import statistics
import subprocess
import time


def median(values):
    return statistics.median(values)


def spread(values, unit="s"):
    """'1.23 s (1.10-1.40, n=3)': the median and the range of the rounds."""
    if len(values) == 1:
        return "%.2f %s" % (values[0], unit)
    return "%.2f %s (%.2f-%.2f, n=%d)" % (median(values), unit, min(values), max(values), len(values))


class Targets:
    """Rows of figure / measured / target / met-or-missed."""

    def __init__(self, title):
        self.title = title
        self.rows = []

    def add(self, figure, value, measured, target=None, at_most=True, unit="x", explained=None):
        """value: the figure (a ratio when unit is 'x'); target None means 'reported as it is'.

        explained: (condition, why) for a target that also accepts a miss its measurement explains,
        e.g. a gap a floor measured in the same run shows as well; a miss with condition true reads
        "explained: why", never "met".
        """
        if target is None:
            verdict, target_text = "(report)", "-"
        else:
            met = value <= target if at_most else value >= target
            verdict = "met" if met else "MISSED"
            target_text = "%s %g%s" % ("<=" if at_most else ">=", target, unit if unit == "x" else " " + unit)
            if explained is not None:
                target_text += ", or explained"
                if not met and explained[0]:
                    verdict = "explained: %s" % explained[1]
        if unit == "x":
            value_text = "%.2fx" % value
        else:
            value_text = ("%d %s" if isinstance(value, int) else "%.2f %s") % (value, unit)
        self.rows.append((figure, measured, value_text, target_text, verdict))

    def print_table(self):
        print("\n%s" % self.title)
        widths = [max(len(str(row[i])) for row in self.rows + [self.header()]) for i in range(5)]
        for row in [self.header()] + self.rows:
            print("  " + "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())

    @staticmethod
    def header():
        return ("figure", "measured", "value", "target", "result")

    def markdown(self):
        lines = ["| %s |" % " | ".join(self.header()), "| --- | --- | --- | --- | --- |"]
        for row in self.rows:
            lines.append("| %s |" % " | ".join(str(cell) for cell in row))
        return "\n".join(lines)


def stamp(repo):
    """The commit and the date a run belongs to, for the headings of the guide's (and the README's) tables."""
    commit = subprocess.run(["git", "-C", repo, "describe", "--always", "--dirty"],
                            capture_output=True, text=True, check=False).stdout.strip() or "unknown"
    return "%s, commit %s" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), commit)


def finish(table, options, title, points, draw):
    """The end of a run: the table (and its markdown), the points as JSON, the plot (draw(folder) -> path)."""
    table.print_table()
    if options.markdown:
        print("\n" + table.markdown())
    if options.json:
        with open(options.json, "w", encoding="utf-8") as handle:
            json.dump({"title": title, "points": points}, handle, indent=1)
    if options.plot:
        print("wrote %s" % draw(options.plot))
