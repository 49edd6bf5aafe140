# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one command runner: argv lists, C locale, reads always, changes recorded and skipped in check mode."""

from __future__ import annotations

import pytest

from ansible_collections.k8slab.kube_proxy.plugins.module_utils.runner import Runner
from ansible_collections.k8slab.kube_proxy.tests.unit.plugins.module_utils.fake_module import FakeModule


def test_reads_run_in_check_mode_in_the_c_locale_with_stdin_untouched():
    module = FakeModule(check_mode=True)
    runner = Runner(module)
    assert runner.read(["/sbin/iptables-save", "-t", "nat"], data="x") == (0, '[{"name":"a"}]', "")
    assert module.calls == [(["/sbin/iptables-save", "-t", "nat"], "x", True, {"LC_ALL": "C"})]
    assert runner.commands == [] and runner.changes == []


def test_changes_are_recorded_and_skipped_in_check_mode():
    module = FakeModule(check_mode=True)
    runner = Runner(module)
    assert runner.change(["/sbin/iptables-restore", "--noflush", 5], data="*nat\nCOMMIT\n") == (0, "", "")
    done = []
    assert runner.act("write /etc/x", done.append, "x") is None
    assert module.ran == [] and done == []
    assert runner.commands == [["/sbin/iptables-restore", "--noflush", "5"]]
    assert runner.changes == [["/sbin/iptables-restore", "--noflush", "5"], "write /etc/x"]


def test_changes_run_outside_check_mode():
    module = FakeModule()
    runner = Runner(module)
    runner.change(["/sbin/ip", "link", "del", "b"])
    done = []
    runner.act("remove /etc/x", done.append, "x")
    assert module.ran == [["/sbin/ip", "link", "del", "b"]] == runner.commands
    assert done == ["x"]


def test_a_named_command_that_fails_fails_the_module():
    runner = Runner(FakeModule(rc=4, err="err"))
    assert runner.run(["/bin/false"]) == (4, "", "err")  # unnamed: the caller decides
    with pytest.raises(RuntimeError) as info:
        runner.read(["/bin/false"], what="iptables --version")
    assert info.value.args[0]["msg"] == "iptables --version failed (rc 4): err"
    assert info.value.args[0]["cmd"] == ["/bin/false"]


def test_bin():
    runner = Runner(FakeModule())
    assert runner.bin("unshare") == "/sbin/unshare"
    assert runner.bin("missing", required=False) is None


def test_a_background_reader_is_interrupted_and_keeps_what_it_printed(tmp_path):
    import sys
    import time
    runner = Runner(FakeModule())
    code = "import os, time\nprint(os.environ['LC_ALL'], flush=True)\ntime.sleep(30)\n"
    with open(str(tmp_path / "out"), "w+") as output:
        started = time.time()
        reader = runner.background([sys.executable, "-c", code], output)
        time.sleep(0.5)
        assert reader.stop() != 0  # interrupted, not finished
        assert time.time() - started < 10
        output.seek(0)
        assert output.read().splitlines()[0] == "C"
    assert runner.commands == []  # it only reads


def test_reads_together_keep_their_order_stdin_and_the_c_locale():
    import sys
    runner = Runner(FakeModule())
    script = "import os, sys; data = sys.stdin.read(); print(data.upper() + os.environ['LC_ALL']); sys.exit(len(data) % 3)"
    commands = [([sys.executable, "-c", script], "x" * size) for size in range(7)]
    results = runner.read_together(commands, width=3)  # three rounds, the last one of a single command
    assert results == [(size % 3, "X" * size + "C\n", "") for size in range(7)]
    assert runner.commands == [] and runner.changes == []


def test_a_single_read_together_runs_through_the_module():
    module = FakeModule()
    assert Runner(module).read_together([(["/sbin/ip", "-batch", "-"], "link show\n")]) == [(0, '[{"name":"a"}]', "")]
    assert module.calls == [(["/sbin/ip", "-batch", "-"], "link show\n", True, {"LC_ALL": "C"})]
