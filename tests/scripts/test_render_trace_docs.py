# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""scripts/render_trace_docs.py: a layout's block is replaced in every guide that has it, and only there."""

from __future__ import annotations

import importlib.util
import os
import re

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC = importlib.util.spec_from_file_location("render_trace_docs", os.path.join(REPO, "scripts", "render_trace_docs.py"))
render = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(render)

TEXT = "intro\n.. BEGIN generated: tutorial\nold\n.. END generated: tutorial\noutro\n"


def test_a_block_is_replaced_between_its_markers():
    assert render.replace_block(TEXT, "tutorial", ["new", "lines"]) == (
        "intro\n.. BEGIN generated: tutorial\nnew\nlines\n.. END generated: tutorial\noutro\n")


def test_a_guide_without_the_block_is_left_alone_unless_required():
    assert render.replace_block(TEXT, "kube-proxy", ["x"], "other.rst", required=False) == TEXT
    with pytest.raises(SystemExit, match="other.rst has no block"):
        render.replace_block(TEXT, "kube-proxy", ["x"], "other.rst")


@pytest.mark.parametrize("path", render.ALSO)
def test_the_tutorial_guide_shows_the_same_trace_as_the_trace_guide(path):
    def block(file):
        with open(file, encoding="utf-8") as handle:
            found = re.search(r"\.\. BEGIN generated: tutorial\n(.*?)\.\. END generated: tutorial", handle.read(), re.S)
        assert found, "%s has no tutorial trace block" % file
        return found.group(1)
    assert block(path) == block(render.GUIDE)
