# SPDX-License-Identifier: GPL-3.0-or-later
"""k8slab.kube_proxy.sysctl on the real kernel, inside a throwaway network namespace.

net.ipv4.ip_forward belongs to the network namespace, so the sandbox has its own;
sysctl_file and state_dir point into the test's temp dir.
"""
import json
import os
import subprocess


def _ip_forward(sandbox):
    return sandbox.run(["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout.strip()


def _tasks(sandbox, state, value=None):
    conf = os.path.join(sandbox.tmpdir, "sysctl.d", "99-k8slab-ip_forward.conf")
    state_dir = os.path.join(sandbox.tmpdir, "lib", "k8slab", "sysctl")
    value_line = '    value: "%s"\n' % value if value is not None else ""
    return conf, state_dir, (
        "- name: ip_forward %s\n"
        "  k8slab.kube_proxy.sysctl:\n"
        "    name: net.ipv4.ip_forward\n"
        "    state: %s\n"
        "%s"
        "    sysctl_file: %s\n"
        "    state_dir: %s\n" % (state, state, value_line, conf, state_dir))


def test_present_absent_round_trip(sandbox):
    host_before = subprocess.run(["cat", "/proc/sys/net/ipv4/ip_forward"], capture_output=True, text=True, check=True).stdout
    sandbox.run(["sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward"])
    conf, state_dir, present = _tasks(sandbox, "present", "1")
    absent = _tasks(sandbox, "absent")[2]

    # check mode predicts the change and makes none
    result = sandbox.playbook(present, check=True, diff=True)[0]
    assert result["changed"] is True and result["value"] == "1"
    assert _ip_forward(sandbox) == "0" and not os.path.exists(conf)

    result = sandbox.playbook(present, diff=True)[0]
    assert result["changed"] is True
    assert (result["previous"], result["value"], result["original"]) == ("0", "1", "0")
    assert _ip_forward(sandbox) == "1"
    with open(conf) as handle:
        assert "net.ipv4.ip_forward = 1\n" in handle.read()
    with open(os.path.join(state_dir, "net.ipv4.ip_forward.json")) as handle:
        assert json.load(handle)["original"] == "0"

    assert sandbox.playbook(present)[0]["changed"] is False

    result = sandbox.playbook(absent)[0]
    assert result["changed"] is True and result["restored"] is True
    assert _ip_forward(sandbox) == "0"
    assert not os.path.exists(conf) and not os.path.exists(state_dir)

    assert sandbox.playbook(absent)[0]["changed"] is False
    # the host's own value was never touched
    assert subprocess.run(["cat", "/proc/sys/net/ipv4/ip_forward"], capture_output=True, text=True, check=True).stdout == host_before


def test_absent_without_record_keeps_running_value(sandbox):
    sandbox.run(["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"])
    conf, dummy, present = _tasks(sandbox, "present", "1")
    absent = _tasks(sandbox, "absent")[2]
    result = sandbox.playbook(present)[0]
    assert result["changed"] is True and result["recorded"] is False  # only the file was new
    result = sandbox.playbook(absent)[0]
    assert "left the running value 1 alone" in result["msg"]
    assert _ip_forward(sandbox) == "1" and not os.path.exists(conf)


def test_unknown_parameter_fails(sandbox):
    result = sandbox.playbook(
        "- name: no such knob\n  k8slab.kube_proxy.sysctl:\n    name: net.ipv4.no_such_knob\n    value: '1'\n"
        "    sysctl_file: %s/x.conf\n    state_dir: %s/state\n" % (sandbox.tmpdir, sandbox.tmpdir),
        expect_failure=True)[0]
    assert result["_status"] == "failed" and "unknown kernel parameter" in result["msg"]
