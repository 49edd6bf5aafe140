# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One name rule for the modules (the pods filter never looser); one runner and one writer for every module."""

from __future__ import annotations

import pathlib
import re

import pytest

from ansible_collections.k8slab.kube_proxy.plugins.filter.pods import complete_pods
from ansible_collections.k8slab.kube_proxy.plugins.module_utils import iproute, names

PLUGINS = pathlib.Path(iproute.__file__).resolve().parents[1]
IFNAMES = ["veth_adam", "a", "x" * 15, "x" * 16, "eth0.100", "veth@1", "br=1", "veth+", "-veth", "veth adam",
           "veth/adam", "veth:1", ".", "..", "vеth", "veth\n", ""]
NETNS = ["netns_adam", "pod-cain", "ns@1", "n" * 64, "n" * 65, "../etc", "a/b", "-ns", "ns\n", "ns x", ""]


def accepts(check, *args, **kwargs):
    """Whether ``check`` takes the name."""
    try:
        check(*args, **kwargs)
    except ValueError:  # iproute.ValidationError is one too
        return False
    return True


@pytest.mark.parametrize("name", IFNAMES)
def test_the_modules_use_the_one_interface_name_rule(name):
    assert accepts(iproute.validate_ifname, name) == (names.ifname_problem(name) is None)


@pytest.mark.parametrize("name", NETNS)
def test_the_modules_use_the_one_namespace_name_rule(name):
    assert accepts(iproute.validate_netns_name, name) == (names.netns_problem(name) is None)


@pytest.mark.parametrize("name", IFNAMES + NETNS)
def test_the_pods_filter_never_takes_a_name_the_modules_refuse(name):
    # The filter is stricter on purpose (names also become systemd instance names), never looser.
    if accepts(complete_pods, [{"name": "p", "address": "10.0.0.2", "host_veth": name or "-"}], "10.0.0.1/24"):
        assert names.ifname_problem(name) is None
    if accepts(complete_pods, [{"name": "p", "address": "10.0.0.2", "netns": name or "/"}], "10.0.0.1/24"):
        assert names.netns_problem(name) is None


def test_interface_name_rule():
    assert names.ifname_problem("x" * 16) == "is 16 characters long; Linux allows at most 15"
    assert "illegal characters" in names.ifname_problem("veth\n")
    assert names.ifname_problem(None) == "must be a non-empty string"


def test_no_module_runs_commands_or_writes_files_except_through_the_runner_and_the_writer():
    allowed = {"runner.py": {"run_command", "get_bin_path", "subprocess"}, "state_dir.py": {"mkstemp", "os.replace"}}
    pattern = re.compile(r"\b(run_command|get_bin_path|subprocess|os\.system|os\.popen|mkstemp|os\.replace|atomic_move)\b")
    offenders = []
    for path in sorted(PLUGINS.glob("*/*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for match in pattern.finditer(line):
                if match.group(1) not in allowed.get(path.name, ()):
                    offenders.append("%s:%d: %s" % (path.relative_to(PLUGINS), number, line.strip()))
    assert offenders == []
