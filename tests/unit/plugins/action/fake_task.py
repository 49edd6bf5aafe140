# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The task an action plugin under test sees: its arguments, where to look for files, no async, no check mode."""

from __future__ import annotations


class Task:
    def __init__(self, args, search_path, action):
        self.args = args
        self.search_path = search_path
        self.async_val = 0
        self.check_mode = False
        self.action = self.resolved_action = action

    def get_search_path(self):
        return self.search_path
