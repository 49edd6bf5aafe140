# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one way the modules of this collection run commands and change the node.

community.general's CmdRunner is the model, much smaller:

* commands are argv lists, never shell strings, and run in the C locale so
  their output parses the same on every node;
* reads (:meth:`Runner.read`) run always, check mode included;
* changes (:meth:`Runner.change` for a command, :meth:`Runner.act` for a
  file written or removed) are recorded, then run only outside check mode, so
  a module can show in check and diff mode exactly what it does or would do;
* a reader that must run beside the module's own commands (a trace monitor)
  starts with :meth:`Runner.background` and stops with its ``stop()``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile

from ansible_collections.k8slab.kube_proxy.plugins.module_utils.node_lease import renew_or_fail

C_LOCALE = {"LC_ALL": "C"}


class Runner:
    """Runs commands and changes for one module run."""

    def __init__(self, module):
        self.module = module
        renew_or_fail(module)  # the run's node lock lease: renewed, or this run stops before any change
        self.commands = []  # every changing command, as argv lists, run or (check mode) not
        self.changes = []  # every change in order: argv lists and descriptions of file changes

    def bin(self, name, required=True):
        """The path of a program on the node's PATH (and sbin); fails the module when required and missing."""
        return self.module.get_bin_path(name, required=required)

    def run(self, argv, data=None, what=None, env=None):
        """Run ``argv`` (stdin ``data``, more environment ``env``) and return (rc, stdout, stderr).

        With ``what``, a non-zero exit status fails the module with that name for the command.
        """
        argv = [str(arg) for arg in argv]
        environ = dict(env or {}, **C_LOCALE)
        rc, out, err = self.module.run_command(argv, data=data, binary_data=True, environ_update=environ)
        if rc != 0 and what:
            self.module.fail_json(msg="%s failed (rc %d): %s" % (what, rc, (err or out).strip()), rc=rc, stderr=err,
                                  cmd=argv)
        return rc, out, err

    def read(self, argv, data=None, what=None):
        """A command that changes nothing: runs in check mode too."""
        return self.run(argv, data=data, what=what)

    def read_together(self, commands, width=16):
        """Run read-only ``commands`` ((argv, stdin data) pairs) side by side, at most ``width`` at a time, and
        return their (rc, stdout, stderr) in the same order; a non-zero rc is the caller's to judge.

        For many small reads that do not depend on each other (one ``ip -n NS`` per pod namespace): started one
        after the other they spend most of their time starting, and a node with a hundred pods waits for a
        hundred of them in a row. With one command there is nothing to overlap, and :meth:`run` runs it.
        """
        if len(commands) <= 1:
            return [self.run(argv, data=data) for argv, data in commands]
        env = dict(os.environ, **C_LOCALE)
        results = []
        for first in range(0, len(commands), width):
            started = []
            for argv, data in commands[first:first + width]:
                # the input waits in a file, so the command works on it while the next one starts
                with tempfile.TemporaryFile() as stdin:
                    stdin.write((data or "").encode("utf-8"))
                    stdin.seek(0)
                    # run_command waits for its command; these must run beside each other
                    started.append(subprocess.Popen(  # pylint: disable=ansible-bad-function
                        [str(arg) for arg in argv], stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        env=env))
            for process in started:
                out, err = process.communicate()
                results.append((process.returncode, out.decode("utf-8", "surrogateescape"),
                                err.decode("utf-8", "surrogateescape")))
        return results

    def change(self, argv, data=None, what=None, env=None):
        """Record a changing command; run it unless in check mode, when (0, "", "") stands in for its result."""
        argv = [str(arg) for arg in argv]
        self.commands.append(argv)
        self.changes.append(argv)
        if self.module.check_mode:
            return 0, "", ""
        return self.run(argv, data=data, what=what, env=env)

    def act(self, description, action, *args):
        """Record a change that is not a command (a file written or removed); do it unless in check mode."""
        self.changes.append(description)
        if self.module.check_mode:
            return None
        return action(*args)

    def background(self, argv, output):
        """Start ``argv`` (a command that only reads, such as a monitor) beside the module, its stdout and
        stderr going to the open file ``output``; returns a :class:`Background` to stop it."""
        argv = [str(arg) for arg in argv]
        env = dict(os.environ, **C_LOCALE)
        # run_command waits for its command; a monitor must run beside the module until stopped
        return Background(subprocess.Popen(  # pylint: disable=ansible-bad-function
            argv, stdout=output, stderr=subprocess.STDOUT, env=env))


class Background:
    """A command started by :meth:`Runner.background`."""

    def __init__(self, process):
        self.process = process

    def stop(self, grace=5):
        """Interrupt it (as Ctrl-C would, so it flushes what it printed), kill it after ``grace`` seconds."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode
