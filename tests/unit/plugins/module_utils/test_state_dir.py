# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one atomic file writer and the one JSON record store."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import state_dir
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.state_dir import RecordStore, write_atomic


def test_write_atomic_creates_directory_sets_mode_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "etc" / "netns" / "netns_adam" / "resolv.conf"
    write_atomic(str(path), "nameserver 8.8.8.8\n", 0o600)
    assert path.read_text() == "nameserver 8.8.8.8\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o755 == 0o755
    write_atomic(str(path), "nameserver 1.1.1.1\n")
    assert path.read_text() == "nameserver 1.1.1.1\n" and stat.S_IMODE(path.stat().st_mode) == 0o644
    assert os.listdir(str(path.parent)) == ["resolv.conf"]


def test_write_atomic_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "f"
    path.write_text("old")

    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(state_dir.os, "replace", broken)
    with pytest.raises(OSError):
        write_atomic(str(path), "new")
    assert path.read_text() == "old" and os.listdir(str(tmp_path)) == ["f"]


def test_record_store_round_trip_names_and_pruning(tmp_path):
    store = RecordStore(str(tmp_path / "k8slab" / "iptables_chains"))
    assert store.read("service_proxy.ipv4.nat") is None and store.names() == []
    assert store.write("service_proxy.ipv4.nat", {"owner": "service_proxy"}) is True
    assert store.write("service_proxy.ipv4.nat", {"owner": "service_proxy"}) is False  # same content: not rewritten
    store.write_text("pod_network.ipv4.filter", '{"owner": "pod_network"}\n')
    assert store.read("service_proxy.ipv4.nat") == {"owner": "service_proxy"}
    assert store.names() == ["pod_network.ipv4.filter", "service_proxy.ipv4.nat"]
    assert store.names(".ipv4.nat") == ["service_proxy.ipv4.nat"]
    assert store.remove("service_proxy.ipv4.nat") is True and store.remove("service_proxy.ipv4.nat") is False
    assert (tmp_path / "k8slab").exists()  # another record is left
    store.remove("pod_network.ipv4.filter")
    assert not (tmp_path / "k8slab").exists() and tmp_path.exists()


def test_record_store_refuses_broken_json(tmp_path):
    store = RecordStore(str(tmp_path))
    (tmp_path / "x.json").write_text("{broken")
    with pytest.raises(ValueError):
        store.read("x")


def test_record_store_keeps_the_previous_record_whole_and_removes_it_with_the_record(tmp_path):
    store = RecordStore(str(tmp_path / "k8slab" / "iptables_chains"), keep_previous=True)
    path = store.path("service_proxy.ipv4.nat")
    store.write("service_proxy.ipv4.nat", {"n": 1})
    assert not os.path.exists(path + ".prev")  # nothing was replaced yet
    store.write("service_proxy.ipv4.nat", {"n": 2})
    store.write("service_proxy.ipv4.nat", {"n": 2})  # same content: .prev keeps the record before the change
    assert json.loads(open(path + ".prev").read()) == {"n": 1} and store.read("service_proxy.ipv4.nat") == {"n": 2}
    assert store.names() == ["service_proxy.ipv4.nat"]  # a .prev copy is not a record
    assert sorted(os.listdir(os.path.dirname(path))) == ["service_proxy.ipv4.nat.json", "service_proxy.ipv4.nat.json.prev"]
    assert store.remove("service_proxy.ipv4.nat") is True
    assert not (tmp_path / "k8slab").exists()


def test_a_store_without_keep_previous_keeps_no_copy(tmp_path):
    store = RecordStore(str(tmp_path))
    store.write("x", {"n": 1})
    store.write("x", {"n": 2})
    assert os.listdir(str(tmp_path)) == ["x.json"]
