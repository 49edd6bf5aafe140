# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The task an action plugin under test sees (its arguments, where to look for files, no async, no check or diff mode), and
the connection it talks through (only its shell's tmp dir and path joining)."""

from __future__ import annotations

from ansible.parsing.dataloader import DataLoader


class Task:
    def __init__(self, args, search_path, action):
        self.args = args
        self.search_path = search_path
        self.async_val = 0
        self.check_mode = False
        self.diff = False
        self.action = self.resolved_action = action

    def get_search_path(self):
        return self.search_path


class Shell:
    def __init__(self):
        self.tmpdir = None

    def join_path(self, *parts):
        return "/".join(parts)


class Connection:
    def __init__(self):
        self._shell = Shell()


class Controller:
    """A play folder with files/main.go, and the calls an action plugin makes, recorded and answered in turn: events
    are ("module", name, args), ("mkdir",), ("transfer", remote) and ("rmdir", path)."""

    def __init__(self, tmp_path, source):
        self.play = tmp_path / "play"
        (self.play / "files").mkdir(parents=True)
        (self.play / "files" / "main.go").write_text(source)
        self.events = []

    def run(self, plugin_class, action, args, answers, diff=False):
        answers = list(answers)
        loader = DataLoader()
        loader.set_basedir(str(self.play))
        connection = Connection()
        task = Task(args, [str(self.play)], action)
        task.diff = diff
        plugin = plugin_class(task, connection, None, loader, None)

        def execute_module(module_name=None, module_args=None, task_vars=None):
            self.events.append(("module", module_name, dict(module_args)))
            return dict(answers.pop(0))

        def make_tmp_path():
            self.events.append(("mkdir",))
            connection._shell.tmpdir = "/tmp/ansible-tmp-1"
            return connection._shell.tmpdir

        plugin._execute_module = execute_module
        plugin._make_tmp_path = make_tmp_path
        plugin._remove_tmp_path = lambda path, force=False: self.events.append(("rmdir", path))
        plugin._transfer_file = lambda local, remote: self.events.append(("transfer", remote))
        plugin._fixup_perms2 = lambda paths: None
        return plugin.run(task_vars={})

    def calls(self):
        """(module, args) of each module call."""
        return [(event[1], event[2]) for event in self.events if event[0] == "module"]
