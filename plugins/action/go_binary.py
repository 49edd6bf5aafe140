# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The controller side of k8slab.kube_proxy.go_binary: send the digest first, the file only when it is needed.

A run where the node already has the program is one module call carrying a
64-character digest; the source (or binary), the packages and the build come
only when the node says the digest it recorded differs.
"""

from __future__ import annotations

import hashlib
import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

MODULE = "k8slab.kube_proxy.go_binary"


def file_digest(path):
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


INTERNAL = ("digest", "kind", "remote_src", "source_name")


def split_task_args(args):
    """(the task's arguments without src and binary_src, src, binary_src); the internal ones are refused."""
    args = dict(args)
    for internal in INTERNAL:
        if internal in args:
            raise AnsibleActionFail("%s is set by the action plugin, not by the task" % internal)
    return args, args.pop("src", None), args.pop("binary_src", None)


def prepare(action, args):
    """go_binary's module arguments for the task's ``args`` with state=present: the local file found (a role's
    files/), its digest, kind and name added, src and binary_src taken out. (local path, module arguments)."""
    args, src, binary_src = split_task_args(args)
    if bool(src) == bool(binary_src):
        raise AnsibleActionFail("give exactly one of src (a Go source to build) and binary_src (a ready binary)")
    local = action._find_needle("files", src or binary_src)
    args.update(digest=file_digest(local), kind="source" if src else "binary", source_name=os.path.basename(local))
    return local, args


def converge(action, local, args, task_vars):
    """go_binary on the node for prepared ``args``: one call with the digest; when the node asks for the file,
    the missing packages, the file in a tmp dir made for it, and the call that builds. The module's result."""
    # One call with the digest only: up to date, or what a build needs.
    answer = action._execute_module(MODULE, module_args=args, task_vars=task_vars)
    if answer.get("failed") or not answer.pop("needs_src", False):
        return answer
    if action._task.check_mode:
        answer.update(changed=True, built=True)
        return answer
    shell = action._connection._shell
    try:
        if answer.get("missing_packages"):
            installed = action._execute_module("ansible.legacy.apt", task_vars=task_vars,
                                               module_args={"name": answer["missing_packages"], "state": "present"})
            if installed.get("failed"):
                packages = ", ".join(answer["missing_packages"])
                installed.update(msg="installing %s failed: %s" % (packages, installed.get("msg")))
                return installed
        if not shell.tmpdir:
            action._make_tmp_path()
        remote = shell.join_path(shell.tmpdir, "source")
        action._transfer_file(local, remote)
        action._fixup_perms2((shell.tmpdir, remote))
        result = action._execute_module(MODULE, module_args=dict(args, remote_src=remote), task_vars=task_vars)
        if answer.get("missing_packages"):
            result["installed_packages"] = answer["missing_packages"]
        return result
    finally:
        action._remove_tmp_path(shell.tmpdir)


class ActionModule(ActionBase):

    TRANSFERS_FILES = False  # the tmp dir is made only when a source or binary goes to the node

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        if self._task.args.get("state", "present") == "absent":
            args = split_task_args(self._task.args)[0]
            result.update(self._execute_module(MODULE, module_args=args, task_vars=task_vars))
            return result
        local, args = prepare(self, self._task.args)
        result.update(converge(self, local, args, task_vars))
        return result
