# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""scripts/render_fidelity.py: the docs' fidelity table matches the case data (a new case or
DIFFERENCES entry without `scripts/render_fidelity.py` fails here)."""

from __future__ import annotations

import importlib.util
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC = importlib.util.spec_from_file_location("render_fidelity", os.path.join(REPO, "scripts", "render_fidelity.py"))
fidelity = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(fidelity)


def _table_in_docs():
    with open(fidelity.DOC) as f:
        block = f.read().split(fidelity.BEGIN, 1)[1].split(fidelity.END, 1)[0]
    rows, row = [], None
    for line in block.splitlines():
        if line.startswith('   * - '):
            row = [line[len('   * - '):]]
            rows.append(row)
        elif line.startswith('     - '):
            row.append(line[len('     - '):])
    return rows[1:]


def test_every_difference_entry_names_its_features():
    ids = {d['id'] for d in fidelity.load_differences()}
    assert ids == set(fidelity.DIFFERENCE_FEATURES)


def test_the_docs_table_matches_the_case_data():
    expected = fidelity.rows(fidelity.load_cases(), fidelity.load_differences())
    docs = _table_in_docs()
    # the kernel column comes from a run; everything else from the data
    assert [r[:4] for r in docs] == [r[:4] for r in expected]
