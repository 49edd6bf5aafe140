# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The controller side of k8slab.kube_proxy.app_instances: the program and the instances in one module call.

With ``program``, the module gets the digest of the program's source (or binary) and checks the program on the
node before anything else. A node that has it runs the instances in the same call, so a run without changes is
one module call. When the node says the program is missing or stale, go_binary's own steps build it (its digest
call, the packages, the copy, the build), and the module runs again with ``restart``.
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.k8slab.kube_proxy.plugins.action import go_binary

MODULE = "k8slab.kube_proxy.app_instances"
CHECK_KEYS = ("dest", "stamp", "kind", "digest")  # what the module needs of the program to check it


def digest_diff(program):
    """go_binary's diff of the recorded digest, as one item of app_instances' list of diffs."""
    diff = program.get("diff") or {}
    before, after = (diff.get(side, {}).get("digest", "") for side in ("before", "after"))
    if before == after:
        return []
    header = "program (digest of the file it is made from)"
    return [{"before_header": header, "after_header": header, "before": before + "\n" if before else "",
             "after": after + "\n" if after else ""}]


class ActionModule(ActionBase):

    TRANSFERS_FILES = False  # a tmp dir is made only when the program's file goes to the node

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        program = args.pop("program", None)
        if not program:
            result.update(self._execute_module(MODULE, module_args=args, task_vars=task_vars))
            return result
        if args.get("state", "present") != "present":
            raise AnsibleActionFail("program is for state=present only (remove a program with k8slab.kube_proxy.go_binary "
                                    "state=absent)")
        local, build = go_binary.prepare(self, program)

        # One call: the program checked by its digest, then the instances; or, first, "program_needed".
        check = dict((key, build.get(key)) for key in CHECK_KEYS)
        answer = self._execute_module(MODULE, module_args=dict(args, program=check), task_vars=task_vars)
        if answer.get("failed") or not answer.pop("program_needed", False):
            if not answer.get("failed"):
                answer["program"] = {"digest": build["digest"], "built": False, "changed": False}
            result.update(answer)
            return result

        built = go_binary.converge(self, local, build, task_vars)
        if built.get("failed"):
            result.update(built, msg="the program: %s" % built.get("msg"), program=dict(built))
            return result
        restart = boolean(args.get("restart", False), strict=False) or bool(built.get("changed"))
        answer = self._execute_module(MODULE, module_args=dict(args, restart=restart), task_vars=task_vars)
        answer["program"] = dict((key, value) for key, value in built.items() if key != "diff")
        answer["changed"] = bool(answer.get("changed")) or bool(built.get("changed"))
        if self._task.diff and not answer.get("failed"):
            answer["diff"] = digest_diff(built) + list(answer.get("diff") or [])
        result.update(answer)
        return result
