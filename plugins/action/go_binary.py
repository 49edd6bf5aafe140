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


class ActionModule(ActionBase):

    TRANSFERS_FILES = False  # the tmp dir is made only when a source or binary goes to the node

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        for internal in ("digest", "kind", "remote_src", "source_name"):
            if internal in args:
                raise AnsibleActionFail("%s is set by the action plugin, not by the task" % internal)
        src, binary_src = args.pop("src", None), args.pop("binary_src", None)
        if args.get("state", "present") == "absent":
            result.update(self._execute_module(MODULE, module_args=args, task_vars=task_vars))
            return result
        if bool(src) == bool(binary_src):
            raise AnsibleActionFail("give exactly one of src (a Go source to build) and binary_src (a ready binary)")
        local = self._find_needle("files", src or binary_src)
        args.update(digest=file_digest(local), kind="source" if src else "binary", source_name=os.path.basename(local))

        # One call with the digest only: up to date, or what a build needs.
        answer = self._execute_module(MODULE, module_args=args, task_vars=task_vars)
        if answer.get("failed") or not answer.pop("needs_src", False):
            result.update(answer)
            return result
        if self._task.check_mode:
            answer.update(changed=True, built=True)
            result.update(answer)
            return result
        try:
            if answer.get("missing_packages"):
                installed = self._execute_module("ansible.legacy.apt", task_vars=task_vars,
                                                 module_args={"name": answer["missing_packages"], "state": "present"})
                if installed.get("failed"):
                    result.update(installed, msg="installing %s failed: %s" % (", ".join(answer["missing_packages"]),
                                                                               installed.get("msg")))
                    return result
            if not self._connection._shell.tmpdir:
                self._make_tmp_path()
            remote = self._connection._shell.join_path(self._connection._shell.tmpdir, "source")
            self._transfer_file(local, remote)
            self._fixup_perms2((self._connection._shell.tmpdir, remote))
            args["remote_src"] = remote
            result.update(self._execute_module(MODULE, module_args=args, task_vars=task_vars))
            if answer.get("missing_packages"):
                result["installed_packages"] = answer["missing_packages"]
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
