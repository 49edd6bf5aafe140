# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""node_lock: a second converge waits for the first, or fails saying which PID holds the node (issue 15, problem 6)."""

from __future__ import annotations

import json
import os
import signal

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.k8slab.kube_proxy.plugins.modules import node_lock


def run(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            node_lock.main()
    return json.loads(capsys.readouterr().out)


def test_second_converge_is_told_who_holds_the_node(tmp_path, capsys):
    path = str(tmp_path / "lock")
    first = run(capsys, path=path, token="first", timeout=2)
    pid = first["holder"]["pid"]
    try:
        assert first["changed"] is False and first["holder"]["token"] == "first" and node_lock.alive(pid)
        # the same run asking again keeps its lock
        assert run(capsys, path=path, token="first", timeout=0)["holder"]["pid"] == pid
        second = run(capsys, path=path, token="second", timeout=1)
        assert second["failed"] is True
        assert "node busy: another converge holds %s (PID %d, run first" % (path, pid) in second["msg"]
        assert second["waited_for"][0]["pid"] == pid
        # releasing with another token does nothing
        assert run(capsys, path=path, token="second", state="unlocked")["released"] is False
        assert run(capsys, path=path, token="first", state="unlocked")["released"] is True
        third = run(capsys, path=path, token="third", timeout=5)
        assert third["holder"]["token"] == "third"
        assert run(capsys, path=path, token="third", state="unlocked")["released"] is True
    finally:
        if node_lock.alive(pid):
            os.kill(pid, signal.SIGTERM)


def test_a_lock_without_token_gets_one_to_release_with(tmp_path, capsys):
    path = str(tmp_path / "lock")
    taken = run(capsys, path=path, timeout=2)
    pid = taken["holder"]["pid"]
    try:
        token = taken["holder"]["token"]
        assert token.startswith("run-") and node_lock.alive(pid)
        assert run(capsys, path=path, token=token, state="unlocked")["released"] is True
        refused = run(capsys, path=path, state="unlocked")
        assert refused["failed"] is True and "token" in refused["msg"]
    finally:
        if node_lock.alive(pid):
            os.kill(pid, signal.SIGTERM)
