# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the benchmarks and put their figures, dated with the commit, into the docs site's performance guide.

    K8SLAB_NODE_IMAGE=k8slab/node:<tag> K8SLAB_CONTAINER_PREFIX=bench- .venv/bin/python benchmarks/report.py [--write]
    .venv/bin/python benchmarks/report.py --readme

Runs benchmarks/converge.py, benchmarks/iptables_chains.py,
benchmarks/datapath.py and benchmarks/apply_curve.py with --markdown (their own
defaults, about an hour on 2 cores), prints each one's output as it comes, and
with --write replaces each benchmark's block between the `benchmarks` markers
of docs/docsite/rst/guide_performance.rst with its table (as an RST list-table,
under a line naming the date, the commit, the CPUs and the load of the run);
the benchmarks that draw (plots.FILES) write their PNG next to the guide, and
their block shows it. --write then rewrites the README's block between its
`<!-- benchmarks:begin -->` and `<!-- benchmarks:end -->` lines from the guide
as just written: each benchmark's heading and the rows that have a target, as
Markdown tables. --readme does only that, from the guide as it is, and runs no
benchmark.
With --only, the other benchmarks' blocks stay as they were. Run it on a quiet
machine: every figure is a ratio of two sides measured in the same run, but
other load still moves them.
"""
import argparse
import os
import re
import subprocess
import sys

from plots import FILES
from targets import stamp

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUIDE = os.path.join("docs", "docsite", "rst", "guide_performance.rst")
BEGIN, END = ".. benchmarks:begin", ".. benchmarks:end"
README = "README.md"
# Rows the README leaves to the guide, by benchmark: (a pattern of the figure, what those rows are). The data
# path's 1,000 to 10,000 Services rows repeat its 1-Service ones at scale; the README keeps the 1-Service ones.
README_LEAVES_OUT = {"datapath.py": (r"\b\d{4,} (vs 1 Service|Services)", "(1,000 to 10,000 Services)")}
README_BEGIN, README_END = "<!-- benchmarks:begin -->", "<!-- benchmarks:end -->"
RST = os.path.dirname(GUIDE)
BENCHMARKS = ["converge.py", "iptables_chains.py", "datapath.py", "apply_curve.py"]


def run(script, extra):
    argv = [sys.executable, "-u", os.path.join(REPO, "benchmarks", script), "--markdown"] + extra
    print("\n$ %s" % " ".join(argv[2:]), flush=True)
    lines = []
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO) as proc:
        for line in proc.stdout:
            sys.stdout.write(line)
            lines.append(line)
    if proc.returncode != 0:
        raise SystemExit("%s failed (%d)" % (script, proc.returncode))
    text = "".join(lines)
    title = [line.strip() for line in lines if re.match(r"^\S.*, \d{4}-\d\d-\d\d \d\d:\d\d UTC, commit ", line)]
    table = re.findall(r"^\| figure \|.*?(?=\n(?!\|)|\Z)", text, re.S | re.M)
    return (title[-1] if title else script), table[-1] if table else ""


def rst_table(markdown):
    """A Markdown table (| a | b |, a separator row) as an RST list-table."""
    rows = [[cell.strip().replace("`", "``") for cell in line.strip().strip("|").split("|")]
            for line in markdown.strip().splitlines() if not re.match(r"^\|[\s:|-]+\|$", line.strip())]
    out = [".. list-table::", "  :header-rows: 1", ""]
    for row in rows:
        out.append("  * - " + (row[0] or "\\"))
        out.extend("    - " + (cell or "\\") for cell in row[1:])
    return "\n".join(out)


def sections_of(block):
    """The per-benchmark blocks between the markers, by script name."""
    found = {}
    for match in re.finditer(r"^\.\. benchmark: (\S+)\n(.*?)(?=^\.\. benchmark: |\Z)", block, re.S | re.M):
        found[match.group(1)] = match.group(2).strip()
    return found


def split_block(text, begin, end, name):
    """(head, block, tail) of text around the lines begin and end; a clear SystemExit when they are missing."""
    match = re.search(r"^%s[ \t]*$(.*?)^%s[ \t]*$" % (re.escape(begin), re.escape(end)), text, re.S | re.M)
    if not match:
        raise SystemExit("%s has no %s ... %s markers (each on a line of its own, in that order)" % (name, begin, end))
    return text[:match.start()], match.group(1), text[match.end():]


def list_table(text):
    """The rows (lists of cells) of the first RST list-table in text, header row included."""
    rows, inside = [], False
    for line in text.splitlines():
        if line.startswith(".. list-table::"):
            if inside:
                break
            inside = True
        elif not inside:
            continue
        elif line.startswith("  * - "):
            rows.append([line[6:].strip()])
        elif line.startswith("    - ") and rows:
            rows[-1].append(line[6:].strip())
        elif line.startswith("      ") and rows:
            rows[-1][-1] = (rows[-1][-1] + " " + line.strip()).strip()
        elif line.strip() and not line.startswith("  "):
            break
    return [[("" if cell == "\\" else cell) for cell in row] for row in rows]


def markdown_inline(text):
    """RST inline text as written by this script (``literals``, plain words) as Markdown for a table cell."""
    out = []
    for index, part in enumerate(re.split(r"``(.*?)``", text)):
        if index % 2:
            out.append("`%s`" % part.replace("|", "\\|"))
        else:
            out.append(re.sub(r"([\\*|]|<(?=[A-Za-z/!?]))", r"\\\1", part))
    return "".join(out)


def readme_section(script, text):
    """One benchmark's block of the guide as a Markdown heading line and a table of the rows with a target."""
    title = re.search(r"^\*\*(.+)\*\*$", text, re.M)
    generated = re.search(r"^Generated by .*?(\d+ CPUs?, load [^)]*)\)", text, re.M)
    line = "**%s**" % markdown_inline(title.group(1)) if title else "**%s**" % script
    if generated:
        line += " (%s)" % markdown_inline(generated.group(1))
    rows = list_table(text)
    if not rows:
        return line + "\n\nNo table in the guide."
    header = [cell.lower() for cell in rows[0]]
    missing = [name for name in ("figure", "value", "target", "result") if name not in header]
    if missing:
        raise SystemExit("%s's table in %s has no %s column" % (script, GUIDE, ", ".join(missing)))
    columns = [header.index(name) for name in ("figure", "value", "target", "result")]
    kept = [[row[i] if i < len(row) else "" for i in columns] for row in rows[1:]]
    kept = [row for row in kept if row[2] not in ("", "-") and row[3] != "(report)"]
    scale = README_LEAVES_OUT.get(script)
    if scale:
        left_out = [row for row in kept if re.search(scale[0], row[0])]
        kept = [row for row in kept if row not in left_out]
        if left_out:
            line += "\n\n%d more rows %s are in the guide." % (len(left_out), scale[1])
    if not kept:
        return line + "\n\nNo figure with a target."
    table = ["| figure | value | target | result |", "| --- | --- | --- | --- |"]
    table.extend("| %s |" % " | ".join(markdown_inline(cell) for cell in row) for row in kept)
    return line + "\n\n" + "\n".join(table)


def readme_markdown(guide):
    """The README's block, made from the guide's text: each benchmark's heading and its rows with a target."""
    sections = sections_of(split_block(guide, BEGIN, END, GUIDE)[1])
    parts = [readme_section(script, sections[script]) for script in BENCHMARKS if script in sections]
    parts.extend(readme_section(script, text) for script, text in sections.items() if script not in BENCHMARKS)
    if not parts:
        raise SystemExit("%s has no .. benchmark: block between its markers" % GUIDE)
    parts.append("Only the figures with a target are here; every figure, what it measures and how to read it: "
                 "[the performance guide](%s)." % GUIDE)
    return "\n\n".join(parts)


def write_readme(repo=REPO):
    """Rewrite the README's block from the guide as it is now."""
    with open(os.path.join(repo, GUIDE), encoding="utf-8") as handle:
        body = readme_markdown(handle.read())
    path = os.path.join(repo, README)
    with open(path, encoding="utf-8") as handle:
        head, dummy, tail = split_block(handle.read(), README_BEGIN, README_END, README)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(head + README_BEGIN + "\n\n" + body + "\n\n" + README_END + tail)
    print("wrote the figures of %s into %s" % (GUIDE, path))


def write(text_by_script):
    path = os.path.join(REPO, GUIDE)
    with open(path, encoding="utf-8") as handle:
        guide = handle.read()
    head, block, tail = split_block(guide, BEGIN, END, GUIDE)
    sections = sections_of(block)
    sections.update(text_by_script)
    body = "\n\n".join(".. benchmark: %s\n\n%s" % (script, sections[script])
                       for script in BENCHMARKS if script in sections)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(head + BEGIN + "\n\n" + body + "\n\n" + END + tail)
    print("\nwrote %s into %s" % (", ".join(sorted(text_by_script)), path))
    write_readme()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--write", action="store_true", help="replace the benchmarks' blocks in %s, then %s's" % (GUIDE, README))
    parser.add_argument("--readme", action="store_true",
                        help="run no benchmark: rewrite only %s's figures from %s as it is" % (README, GUIDE))
    parser.add_argument("--only", choices=BENCHMARKS, nargs="+", default=BENCHMARKS)
    parser.add_argument("--args", action="append", default=[], metavar="SCRIPT=ARGS",
                        help="more arguments for one benchmark, e.g. --args 'converge.py=--rounds 2' (shown in the table)")
    parser.add_argument("--note", default="", help="a sentence about the run put under the heading (e.g. what else ran)")
    options = parser.parse_args()
    if options.readme:
        if options.write:
            parser.error("--readme runs no benchmark: use it without --write")
        write_readme()
        return
    extra = {}
    for item in options.args:
        script, dummy, words = item.partition("=")
        if script not in BENCHMARKS:
            parser.error("--args: %s is not one of %s" % (script, ", ".join(BENCHMARKS)))
        extra[script] = words.split()
    written = {}
    for script in options.only:
        load, started = os.getloadavg()[0], stamp(REPO)  # the code measured: the commit at the start
        plot = ["--plot", os.path.join(REPO, RST)] if options.write and script in FILES else []
        title, table = run(script, extra.get(script, []) + plot)
        if extra.get(script):
            title += " (`%s %s`)" % (script, " ".join(extra[script]))
        head = ("Generated by ``benchmarks/report.py`` (%s, %d CPUs, load %.1f at the start, %.1f at the end)."
                % (started, os.cpu_count(), load, os.getloadavg()[0]))
        if options.note:
            head += " " + options.note
        body = rst_table(table) if table else "(no table)"
        written[script] = "**%s**\n\n%s\n\n%s" % (title.replace("`", "``"), head, body)
        if plot:
            written[script] += "\n\n.. figure:: %s\n  :alt: %s\n\n  %s" % (
                FILES[script], title.replace("`", "``"), title.replace("`", "``"))
        print("\n" + written[script])
    if options.write:
        write(written)


if __name__ == "__main__":
    main()
