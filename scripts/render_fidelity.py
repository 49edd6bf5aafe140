#!/usr/bin/env python
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write the kube-proxy fidelity table into docs/docsite/rst/guide_layouts.rst.

Usage: scripts/render_fidelity.py [--junitxml FILE]

Rows are the features named by the cases in tests/data/kube_proxy_cases/ ("features:" of each
case); the iptables and nftables columns say "as kube-proxy" unless an entry of differences.yml covers
the feature there ("differs: <entry ids>"; DIFFERENCE_FEATURES below says which features an entry is about); "cases
ported" counts the case files naming the feature. "Packet flows on the kernel" is read from the
junit XML of a run of tests/integration/test_kube_proxy_cases.py when one is given, otherwise
the column says "not run". The table is stamped with the date and the commit.
"""
import argparse
import datetime
import os
import subprocess
import xml.etree.ElementTree as ET

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = os.path.join(ROOT, 'tests', 'data', 'kube_proxy_cases')
DOC = os.path.join(ROOT, 'docs', 'docsite', 'rst', 'guide_layouts.rst')
BEGIN = '.. fidelity-table-begin'
END = '.. fidelity-table-end'

# Which case features each DIFFERENCES entry is about (the one fact not in the data itself;
# tests/scripts/test_render_fidelity.py fails when an entry is missing here).
DIFFERENCE_FEATURES = {
    'kubelet-firewall-always': [],
    'nft-stale-chains': ['stale-chains'],
}


def load_cases():
    cases = []
    for name in sorted(os.listdir(CASES)):
        if not name.endswith('.yml') or name in ('index.yml', 'differences.yml'):
            continue
        with open(os.path.join(CASES, name)) as f:
            cases.append(yaml.safe_load(f))
    return cases


def load_differences():
    with open(os.path.join(CASES, 'differences.yml')) as f:
        return yaml.safe_load(f)


def kernel_results(junitxml):
    """{case name: (passed, total)} from a junit XML, test ids holding the case file's name."""
    results = {}
    if not junitxml:
        return None
    for case in ET.parse(junitxml).iter('testcase'):
        name = case.get('name', '')
        failed = any(child.tag in ('failure', 'error', 'skipped') for child in case)
        results.setdefault(name, []).append(not failed)
    return results


def difference_backends(difference):
    """The backends an entry holds for: its backends, else its lines' backends, else both."""
    return (difference.get('backends') or list(difference.get('lines') or {})
            or ['iptables', 'nftables'])


def rows(cases, differences, kernel=None):
    features = sorted({f for case in cases for f in case.get('features', [])})
    table = []
    for feature in features:
        columns = []
        for backend in ('iptables', 'nftables'):
            ids = [d['id'] for d in differences
                   if feature in DIFFERENCE_FEATURES[d['id']] and backend in difference_backends(d)]
            columns.append('differs: ' + ', '.join(ids) if ids else 'as kube-proxy')
        named = [c['name'] for c in cases if feature in c.get('features', [])]
        if kernel is None:
            flows = 'not run'
        else:
            passed = total = 0
            for test, outcomes in kernel.items():
                if any(test.endswith(':%s]' % n) for n in named):  # test_...[backend:Case]
                    passed += sum(outcomes)
                    total += len(outcomes)
            flows = '%d / %d' % (passed, total)
        table.append([feature] + columns + [str(len(named)), flows])
    return table


def render(table, commit, date, source):
    out = [BEGIN, '',
           '.. list-table:: kube-proxy fidelity (written by scripts/render_fidelity.py at %s, %s; kernel column: %s)'
           % (commit, date, source),
           '   :header-rows: 1', '',
           '   * - kube-proxy feature', '     - iptables', '     - nftables',
           '     - cases ported', '     - packet flows passing on the kernel']
    for row in table:
        out.append('   * - ' + row[0])
        out.extend('     - ' + cell for cell in row[1:])
    out.extend(['', END])
    return '\n'.join(out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--junitxml')
    parser.add_argument('--commit', default='HEAD', help='the commit the junit XML was made at (default: HEAD)')
    args = parser.parse_args()
    commit = subprocess.check_output(['git', 'rev-parse', '--short', args.commit], cwd=ROOT, text=True).strip()
    date = datetime.date.today().isoformat()
    table = rows(load_cases(), load_differences(), kernel_results(args.junitxml))
    source = ('case runs passing of all runs, both backends, from the junit XML of '
              'tests/integration/test_kube_proxy_cases.py') if args.junitxml else 'not run'
    block = render(table, commit, date, source)
    with open(DOC) as f:
        text = f.read()
    if BEGIN in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip('\n') + '\n\nkube-proxy fidelity\n-------------------\n\n' + block + '\n'
    with open(DOC, 'w') as f:
        f.write(text)


if __name__ == '__main__':
    main()
