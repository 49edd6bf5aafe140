# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The sysctl module against a fake /proc/sys in a temp dir: no root needed."""

from __future__ import annotations

import json
import os

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import sysctl as sysctl_utils
from ansible_collections.k8slab.kube_proxy.plugins.modules import sysctl

NAME = "net.ipv4.ip_forward"


# pure helpers -------------------------------------------------------------

@pytest.mark.parametrize("given, expected", [
    ("net.ipv4.ip_forward", "net.ipv4.ip_forward"),
    ("net/ipv4/ip_forward", "net.ipv4.ip_forward"),
    ("/net/ipv4/ip_forward/", "net.ipv4.ip_forward"),
    (" kernel.pid_max ", "kernel.pid_max"),
    ("net/ipv4/conf/eth0.100/forwarding", "net/ipv4/conf/eth0.100/forwarding"),
])
def test_normalize_name(given, expected):
    assert sysctl_utils.normalize_name(given) == expected


@pytest.mark.parametrize("bad", ["", "net..ipv4", "net/../etc/passwd", "net.ipv4.ip forward", "net/ipv4/$(reboot)", "."])
def test_normalize_name_rejects(bad):
    with pytest.raises(ValueError):
        sysctl_utils.normalize_name(bad)


def test_proc_path_keeps_dotted_components():
    assert sysctl_utils.proc_path("net/ipv4/conf/eth0.100/forwarding", "/p") == "/p/net/ipv4/conf/eth0.100/forwarding"
    assert sysctl_utils.proc_path(NAME, "/p") == "/p/net/ipv4/ip_forward"


def test_normalize_value_collapses_tabs():
    assert sysctl_utils.normalize_value("4096\t87380\t6291456\n") == "4096 87380 6291456"
    assert sysctl_utils.normalize_value(1) == "1"


@pytest.mark.parametrize("content, value, expected", [
    ("", "1", sysctl_utils.FILE_HEADER + "net.ipv4.ip_forward = 1\n"),
    ("# mine\nnet.ipv4.ip_forward=0\nkernel.pid_max = 9\n", "1", "# mine\nnet.ipv4.ip_forward = 1\nkernel.pid_max = 9\n"),
    # duplicates would win at boot: keep one, in the first one's place
    ("net.ipv4.ip_forward = 0\nkernel.pid_max = 9\nnet/ipv4/ip_forward=0", "1", "net.ipv4.ip_forward = 1\nkernel.pid_max = 9\n"),
    ("kernel.pid_max = 9", "1", "kernel.pid_max = 9\nnet.ipv4.ip_forward = 1\n"),
    ("-net.ipv4.ip_forward = 1\n", "1", "net.ipv4.ip_forward = 1\n"),
    ("# mine\nnet.ipv4.ip_forward = 1\nkernel.pid_max = 9\n", None, "# mine\nkernel.pid_max = 9\n"),
    ("; x\nnet.ipv4.ip_forward_x = 1\n", None, "; x\nnet.ipv4.ip_forward_x = 1\n"),
])
def test_render_file(content, value, expected):
    assert sysctl_utils.render_file(content, NAME, value) == expected


def test_only_comments():
    assert sysctl_utils.only_comments(sysctl_utils.FILE_HEADER + "\n; x\n")
    assert not sysctl_utils.only_comments("# x\nkernel.pid_max = 9\n")


# the module end to end on a fake /proc/sys ----------------------------------

class Node(object):
    """A temp dir standing in for /proc/sys, /etc/sysctl.d and /var/lib/k8slab."""

    def __init__(self, tmp_path, monkeypatch, capsys, running="0"):
        self.capsys = capsys
        self.proc = tmp_path / "proc"
        (self.proc / "net" / "ipv4").mkdir(parents=True)
        self.knob = self.proc / "net" / "ipv4" / "ip_forward"
        self.knob.write_text(running + "\n")
        monkeypatch.setattr(sysctl_utils, "PROC_SYS", str(self.proc))
        self.conf = tmp_path / "etc" / "sysctl.d" / "99-k8slab-ip_forward.conf"
        self.state_dir = tmp_path / "var" / "lib" / "k8slab" / "sysctl"
        self.record = self.state_dir / (NAME + ".json")

    def run(self, check=False, diff=False, **args):
        params = dict(name=NAME, sysctl_file=str(self.conf), state_dir=str(self.state_dir))
        params.update(args)
        if check:
            params["_ansible_check_mode"] = True
        if diff:
            params["_ansible_diff"] = True
        with patch_module_args(params):
            with pytest.raises(SystemExit):
                sysctl.main()
        return self.last

    @property
    def last(self):
        """The JSON the module printed on its way out."""
        return json.loads(self.capsys.readouterr().out)

    @property
    def running(self):
        return self.knob.read_text().strip()


@pytest.fixture
def node(tmp_path, monkeypatch, capsys):
    return Node(tmp_path, monkeypatch, capsys)


def test_present_sets_records_and_persists(node):
    result = node.run(value="1")
    assert result["changed"] is True
    assert (result["previous"], result["value"], result["original"], result["recorded"]) == ("0", "1", "0", True)
    assert node.running == "1"
    assert node.conf.read_text().endswith("net.ipv4.ip_forward = 1\n")
    assert json.loads(node.record.read_text()) == {"name": NAME, "original": "0"}
    assert oct(node.conf.stat().st_mode & 0o777) == "0o644"


def test_present_twice_is_unchanged(node):
    node.run(value="1")
    again = node.run(value="1")
    assert again["changed"] is False
    assert again["original"] == "0"


def test_record_keeps_first_original(node):
    node.run(value="1")
    node.run(value="2")
    assert json.loads(node.record.read_text())["original"] == "0"
    result = node.run(state="absent")
    assert result["value"] == "0" and node.running == "0"


def test_no_record_when_already_right(node):
    node.knob.write_text("1\n")
    result = node.run(value="1")
    assert result["changed"] is True  # the file is new
    assert result["recorded"] is False and not node.record.exists()


def test_absent_restores_and_cleans_up(node):
    node.run(value="1")
    result = node.run(state="absent")
    assert result["changed"] is True
    assert (result["previous"], result["value"], result["original"], result["restored"]) == ("1", "0", "0", True)
    assert node.running == "0"
    assert not node.conf.exists()
    assert not node.record.exists()
    assert not node.state_dir.exists()
    assert not node.state_dir.parent.exists()  # the empty k8slab dir goes too
    assert node.state_dir.parent.parent.exists()  # /var/lib stays


def test_absent_twice_is_unchanged(node):
    node.run(value="1")
    node.run(state="absent")
    again = node.run(state="absent")
    assert again["changed"] is False
    assert node.running == "0"


def test_absent_without_record_leaves_running_value(node):
    node.knob.write_text("1\n")
    node.run(value="1")
    result = node.run(state="absent")
    assert result["changed"] is True  # the file line goes
    assert result["restored"] is False and result["original"] is None
    assert node.running == "1"
    assert "left the running value 1 alone" in result["msg"]
    assert not node.conf.exists()


def test_absent_keeps_other_lines_and_records(node):
    node.conf.parent.mkdir(parents=True)
    node.conf.write_text("kernel.pid_max = 9\n")
    node.state_dir.mkdir(parents=True)
    (node.state_dir / "kernel.pid_max.json").write_text('{"original": "5"}')
    node.run(value="1")
    node.run(state="absent")
    assert node.conf.read_text() == "kernel.pid_max = 9\n"
    assert (node.state_dir / "kernel.pid_max.json").exists()


def test_check_mode_changes_nothing(node):
    result = node.run(value="1", check=True)
    assert result["changed"] is True and result["value"] == "1"
    assert node.running == "0" and not node.conf.exists() and not node.record.exists()
    node.run(value="1")
    result = node.run(state="absent", check=True)
    assert result["changed"] is True and result["value"] == "0"
    assert node.running == "1" and node.conf.exists() and node.record.exists()


def test_diff_shows_running_file_and_record(node):
    result = node.run(value="1", diff=True)
    by_header = {d["before_header"]: d for d in result["diff"]}
    assert by_header[str(node.knob)]["before"] == "0\n"
    assert by_header[str(node.knob)]["after"] == "1\n"
    assert by_header[str(node.conf)]["after"].endswith("net.ipv4.ip_forward = 1\n")
    assert by_header[str(node.record)]["after"] == "0\n"
    assert node.run(value="1", diff=True)["diff"] == []


def test_no_diff_without_diff_mode(node):
    # like the other modules: the diff is computed for --diff only
    assert "diff" not in node.run(value="1")
    assert "diff" not in node.run(value="1", check=True)


def test_whitespace_in_values_is_not_a_change(node):
    node.knob.write_text("4096\t87380\t6291456\n")
    assert node.run(value="4096 87380   6291456")["value"] == "4096 87380 6291456"
    result = node.run(value="4096 87380 6291456")
    assert result["changed"] is False


@pytest.mark.parametrize("args, message", [
    (dict(name="net.ipv4.nope", value="1"), "unknown kernel parameter"),
    (dict(name="net/../x", value="1"), "is not a sysctl name"),
    (dict(state="present"), "value"),
    (dict(value="1\n2"), "one line"),
])
def test_fails_before_changing_anything(node, args, message):
    with patch_module_args(dict(dict(name=NAME, sysctl_file=str(node.conf), state_dir=str(node.state_dir)), **args)):
        with pytest.raises(SystemExit):
            sysctl.main()
    result = node.last
    assert result["failed"] is True and message in result["msg"]
    assert node.running == "0" and not node.conf.exists() and not node.record.exists()


def test_damaged_record_fails(node):
    node.state_dir.mkdir(parents=True)
    node.record.write_text("not json")
    node.knob.write_text("1\n")
    result = node.run(state="absent")
    assert result["failed"] is True and "damaged" in result["msg"]


def test_kernel_rewriting_the_value_fails(node, monkeypatch):
    # A /proc/sys file that reads back something else than was written (e.g. a clamp).
    real_read = sysctl.Sysctl.read_running
    calls = []

    def read(self):
        calls.append(1)
        return "0" if len(calls) == 1 else "7"
    monkeypatch.setattr(sysctl.Sysctl, "read_running", read)
    result = node.run(value="1")
    assert result["failed"] is True and "reads back" in result["msg"]
    monkeypatch.setattr(sysctl.Sysctl, "read_running", real_read)
    assert os.path.exists(str(node.record))  # recorded before touching the kernel
