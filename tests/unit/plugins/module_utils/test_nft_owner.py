# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""nft_owner's order of writes: the ownership record before the nft -f that creates the table (crash consistency)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import nft_owner


class Failed(Exception):
    pass


class Module:
    check_mode = False
    _diff = False

    def fail_json(self, **result):
        raise Failed(result["msg"])


class Runner:
    """nft that sees no table; ``change`` notes whether the record was on disk when nft -f ran."""

    def __init__(self, table, rc=0):
        self.table, self.rc, self.record_at_apply = table, rc, None

    def bin(self, name, required=True):
        return "/usr/sbin/" + name

    def change(self, argv, data=None):
        self.record_at_apply = os.path.exists(self.table.record_path())
        return self.rc, "", "Error: boom\n" if self.rc else ""


@pytest.fixture
def table(tmp_path, monkeypatch):
    def make(rc=0):
        runner = Runner(None, rc)
        made = nft_owner.NftTable(Module(), runner, "ip", "t", str(tmp_path))
        runner.table = made
        monkeypatch.setattr(made, "read_live", lambda text=True: (None, "" if text else None))
        monkeypatch.setattr(made, "scratch", lambda content: ("desired", "table ip t {\n}\n"))
        return made, runner
    return make


def test_the_record_is_written_before_nft_creates_the_table(table):
    # a run killed between nft -f and a record written after it would leave a table every later run refuses
    made, runner = table()
    made.converge("present", "table ip t {\n}\n", False)
    assert runner.record_at_apply is True and made.load_record()["created"] is True


def test_a_failed_nft_leaves_no_record_of_a_table_it_did_not_make(table):
    made, runner = table(rc=1)
    with pytest.raises(Failed, match="nft -f failed"):
        made.converge("present", "table ip t {\n}\n", False)
    assert runner.record_at_apply is True and made.load_record() is None
