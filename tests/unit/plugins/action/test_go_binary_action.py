# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The action plugin of go_binary: a node that has the program gets one module call with the digest, and no
remote tmp dir is made or removed for it (each is one more command on the node); the source goes to a tmp dir
made only when the node asks for it. No module runs here: the plugin's calls are recorded and answered."""

from __future__ import annotations

import hashlib

from ansible_collections.k8slab.kube_proxy.plugins.action import go_binary as action
from ansible_collections.k8slab.kube_proxy.tests.unit.plugins.action import fake_task

MODULE = "k8slab.kube_proxy.go_binary"
SOURCE = "package main\n"


class Controller(fake_task.Controller):
    def __init__(self, tmp_path):
        super().__init__(tmp_path, SOURCE)

    def run(self, answers):
        return super().run(action.ActionModule, MODULE, {"src": "main.go", "dest": "/usr/local/bin/app"}, answers)


def test_an_up_to_date_node_gets_one_call_with_the_digest_and_no_tmp_dir(tmp_path):
    controller = Controller(tmp_path)
    result = controller.run([{"changed": False}])
    [call] = controller.events
    assert call[0] == "module" and call[2]["digest"] == hashlib.sha256(SOURCE.encode()).hexdigest()
    assert result["changed"] is False


def test_the_source_goes_to_a_tmp_dir_made_when_the_node_asks_and_removed_after(tmp_path):
    controller = Controller(tmp_path)
    result = controller.run([{"changed": False, "needs_src": True}, {"changed": True, "built": True}])
    kinds = [event[0] for event in controller.events]
    assert kinds == ["module", "mkdir", "transfer", "module", "rmdir"]
    assert controller.events[3][2]["remote_src"] == "/tmp/ansible-tmp-1/source"
    assert result["built"] is True
