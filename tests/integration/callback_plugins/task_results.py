# SPDX-License-Identifier: GPL-3.0-or-later
# A test-only stdout callback: writes every task result of the run as one JSON
# document on stdout, so integration tests can assert on `changed`, `diff`, `msg`.
from __future__ import annotations

DOCUMENTATION = r"""
name: task_results
type: stdout
short_description: Print all task results as one JSON document (tests only)
description:
  - Used by the integration tests of k8slab.kube_proxy; not part of the collection's plugins.
"""

import json

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "task_results"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.results = []

    def _record(self, result, status):
        data = dict(result._result)
        data.pop("invocation", None)
        data["_task"] = result._task.get_name()
        data["_status"] = status
        self.results.append(data)

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        self._display.display(json.dumps(self.results, default=str))
