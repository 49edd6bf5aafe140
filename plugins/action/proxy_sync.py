# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin of k8slab.kube_proxy.proxy_sync: the model travels only when the node lacks it."""

from __future__ import annotations

import glob
import hashlib
import os

from ansible.plugins.action import ActionBase

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import proxier

_CODE = []


def code_digest():
    """A digest of the module and its module_utils: new rendering code never counts as the same model."""
    if not _CODE:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        digest = hashlib.sha256()
        for path in sorted(glob.glob(os.path.join(root, "module_utils", "*.py"))) + [
                os.path.join(root, "modules", "proxy_sync.py")]:
            with open(path, "rb") as handle:
                digest.update(handle.read())
        _CODE.append(digest.hexdigest())
    return _CODE[0]


class ActionModule(ActionBase):
    """Send the model's digest first; send the model only when the node answers that it needs it.

    The node answers from its record of the last sync and one read of the rules it owns (see the
    module's description), so a no-change run neither transfers nor renders the model.
    """

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        module = self._task.resolved_action or "k8slab.kube_proxy.proxy_sync"
        if args.get("state", "present") == "present" and args.get("services") is not None:
            args["model_digest"] = proxier.model_digest(args, code_digest())
            if not args.get("return_plan"):
                probe = dict((key, value) for key, value in args.items() if key not in proxier.MODEL_KEYS)
                if args.get("drain"):
                    probe["local_netns"] = proxier.local_netns(args.get("pods") or [], args.get("node"))
                answer = self._execute_module(module_name=module, module_args=probe, task_vars=task_vars)
                if not answer.get("model_needed"):
                    result.update(answer)
                    return result
        result.update(self._execute_module(module_name=module, module_args=args, task_vars=task_vars))
        return result
