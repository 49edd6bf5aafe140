# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one command runner: argv lists, C locale, reads always, changes recorded and skipped in check mode."""

from __future__ import annotations

import pytest

from ansible_collections.k8slab.kube_proxy.plugins.module_utils.runner import Runner


class FakeModule:
    def __init__(self, check_mode=False, rc=0):
        self.check_mode = check_mode
        self.rc = rc
        self.ran = []

    def get_bin_path(self, name, required=False):
        return None if name == "missing" else "/usr/sbin/" + name

    def run_command(self, argv, data=None, binary_data=False, environ_update=None):
        self.ran.append((argv, data, binary_data, environ_update))
        return self.rc, "out", "err" if self.rc else ""

    def fail_json(self, **kwargs):
        raise RuntimeError(kwargs)


def test_reads_run_in_check_mode_in_the_c_locale_with_stdin_untouched():
    module = FakeModule(check_mode=True)
    runner = Runner(module)
    assert runner.read(["/usr/sbin/iptables-save", "-t", "nat"], data="x") == (0, "out", "")
    assert module.ran == [(["/usr/sbin/iptables-save", "-t", "nat"], "x", True, {"LC_ALL": "C"})]
    assert runner.commands == [] and runner.changes == []


def test_changes_are_recorded_and_skipped_in_check_mode():
    module = FakeModule(check_mode=True)
    runner = Runner(module)
    assert runner.change(["/usr/sbin/iptables-restore", "--noflush", 5], data="*nat\nCOMMIT\n") == (0, "", "")
    done = []
    assert runner.act("write /etc/x", done.append, "x") is None
    assert module.ran == [] and done == []
    assert runner.commands == [["/usr/sbin/iptables-restore", "--noflush", "5"]]
    assert runner.changes == [["/usr/sbin/iptables-restore", "--noflush", "5"], "write /etc/x"]


def test_changes_run_outside_check_mode():
    module = FakeModule()
    runner = Runner(module)
    runner.change(["/usr/sbin/ip", "link", "del", "b"])
    done = []
    runner.act("remove /etc/x", done.append, "x")
    assert [argv for argv, dummy, dummy, dummy in module.ran] == [["/usr/sbin/ip", "link", "del", "b"]] == runner.commands
    assert done == ["x"]


def test_a_named_command_that_fails_fails_the_module():
    runner = Runner(FakeModule(rc=4))
    assert runner.run(["/bin/false"]) == (4, "out", "err")  # unnamed: the caller decides
    with pytest.raises(RuntimeError) as info:
        runner.read(["/bin/false"], what="iptables --version")
    assert info.value.args[0]["msg"] == "iptables --version failed (rc 4): err"
    assert info.value.args[0]["cmd"] == ["/bin/false"]


def test_bin():
    runner = Runner(FakeModule())
    assert runner.bin("unshare") == "/usr/sbin/unshare"
    assert runner.bin("missing", required=False) is None
