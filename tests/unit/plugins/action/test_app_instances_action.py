# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The action plugin of app_instances: with a program, a node that has it gets one module call (the program's
digest and the instances together); a node that lacks it gets go_binary's steps, then app_instances again with
restart. No module runs here: the plugin's calls are recorded and answered."""

from __future__ import annotations

import hashlib

import pytest

from ansible.errors import AnsibleActionFail

from ansible_collections.k8slab.kube_proxy.plugins.action import app_instances as action
from ansible_collections.k8slab.kube_proxy.tests.unit.plugins.action import fake_task

MODULE = "k8slab.kube_proxy.app_instances"
BUILD = "k8slab.kube_proxy.go_binary"
SOURCE = "package main\n"
DIGEST = hashlib.sha256(SOURCE.encode()).hexdigest()
PROGRAM = {"src": "main.go", "dest": "/usr/local/lib/app/web-app", "build_dir": "/var/cache/app", "packages": ["golang-go"]}


class Controller(fake_task.Controller):
    def __init__(self, tmp_path):
        super().__init__(tmp_path, SOURCE)

    def run(self, answers, diff=False, **args):
        task_args = dict({"unit": "web-app", "instances": ["netns_adam"], "program": dict(PROGRAM)}, **args)
        return super().run(action.ActionModule, MODULE, task_args, answers, diff)


def test_a_node_with_the_program_gets_one_call_for_the_program_and_the_instances(tmp_path):
    controller = Controller(tmp_path)
    result = controller.run([{"changed": False, "started": []}])
    [(module, args)] = controller.calls()
    assert module == MODULE and args["unit"] == "web-app" and args["instances"] == ["netns_adam"]
    assert args["program"] == {"dest": PROGRAM["dest"], "stamp": None, "kind": "source", "digest": DIGEST}
    assert [event[0] for event in controller.events] == ["module"]  # no tmp dir made or removed
    assert result["changed"] is False and result["program"] == {"digest": DIGEST, "built": False, "changed": False}


def test_a_stale_program_is_built_by_go_binary_then_every_instance_restarts(tmp_path):
    controller = Controller(tmp_path)
    result = controller.run([
        {"changed": False, "program_needed": True},  # app_instances: the program first
        {"changed": False, "needs_src": True, "missing_packages": []},  # go_binary: send the source
        {"changed": True, "built": True, "digest": DIGEST},  # go_binary: built
        {"changed": True, "restarted": ["netns_adam"]},  # app_instances again
    ])
    assert [event[0] for event in controller.events] == ["module", "module", "mkdir", "transfer", "module", "rmdir", "module"]
    (first, one), (second, two), (third, three), (fourth, four) = controller.calls()
    assert (first, second, third, fourth) == (MODULE, BUILD, BUILD, MODULE)
    assert two["digest"] == DIGEST and two["build_dir"] == PROGRAM["build_dir"] and "src" not in two
    assert three["remote_src"] == "/tmp/ansible-tmp-1/source"
    assert four["restart"] is True and "program" not in four
    assert result["changed"] is True and result["program"]["built"] is True
    assert "program_needed" not in result


def test_a_failed_build_fails_the_task_before_the_instances_run_again(tmp_path):
    controller = Controller(tmp_path)
    result = controller.run([{"changed": False, "program_needed": True},
                             {"changed": False, "needs_src": True},
                             {"failed": True, "msg": "go build failed"}])
    assert [call[0] for call in controller.calls()] == [MODULE, BUILD, BUILD]
    assert result["failed"] is True and result["msg"] == "the program: go build failed"


def test_without_a_program_the_task_goes_to_the_module_as_it_is(tmp_path):
    controller = Controller(tmp_path)
    controller.run([{"changed": False}], program=None, state="pruned")
    [(module, args)] = controller.calls()
    assert module == MODULE and "program" not in args and args["state"] == "pruned"


def test_a_program_is_for_state_present_only(tmp_path):
    with pytest.raises(AnsibleActionFail, match="program is for state=present only"):
        Controller(tmp_path).run([], state="absent")


def test_with_diff_the_programs_digest_comes_before_the_instances(tmp_path):
    controller = Controller(tmp_path)
    result = controller.run([{"changed": False, "program_needed": True},
                             {"changed": False, "needs_src": True},
                             {"changed": True, "built": True, "diff": {"before": {"digest": "old"}, "after": {"digest": DIGEST}}},
                             {"changed": True, "diff": [{"before_header": "instances", "after_header": "instances",
                                                         "before": "running: -\n", "after": "running: netns_adam\n"}]}],
                            diff=True)
    assert [item["before"] for item in result["diff"]] == ["old\n", "running: -\n"]
    assert result["diff"][0]["after"] == DIGEST + "\n" and "diff" not in result["program"]
