# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# A benchmark-only callback: adds up the wall time of every task of the run by
# task name and writes it as JSON to the file named by K8SLAB_TASK_TIMES, so the
# converge benchmark can say where the time goes. Not part of the collection.
from __future__ import annotations

DOCUMENTATION = r"""
name: task_times
type: aggregate
short_description: Write the wall time spent in each task as JSON (benchmarks only)
description:
  - Used by benchmarks/converge.py of k8slab.kube_proxy; not part of the collection's plugins.
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_times"
    CALLBACK_NEEDS_ENABLED = True

    # Actions that finish on the controller: everything else ran a module on the host.
    CONTROLLER_ONLY = frozenset(("assert", "set_fact", "debug", "fail", "meta", "include_vars",
                                 "validate_argument_spec", "include_tasks", "include_role"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.times = {}
        self.modules = {}
        self.current = None
        self.started = None

    def v2_runner_on_ok(self, result):
        """Count the tasks that ran a module on each host (what one task's round trip costs N times)."""
        if result._task.action.rsplit(".", 1)[-1] not in self.CONTROLLER_ONLY:
            host = result._host.get_name()
            self.modules[host] = self.modules.get(host, 0) + 1

    def _close(self):
        if self.current is not None:
            entry = self.times.setdefault(self.current, [0.0, 0])
            entry[0] += time.perf_counter() - self.started
            entry[1] += 1
        self.current = None

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._close()
        role = task._role.get_name() + " : " if task._role else ""
        self.current = role + task.get_name()
        self.started = time.perf_counter()

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    def v2_playbook_on_stats(self, stats):
        self._close()
        path = os.environ.get("K8SLAB_TASK_TIMES")
        if path:
            with open(path, "w", encoding="utf-8") as handle:
                json.dump({"tasks": self.times, "modules": self.modules}, handle)
