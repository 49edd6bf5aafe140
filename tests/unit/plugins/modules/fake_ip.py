# SPDX-License-Identifier: GPL-3.0-or-later
"""A stand-in for `ip` shared by the unit tests of the netns, bridge, veth and route modules."""

from __future__ import annotations

import json

import pytest

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args


class Then(list):
    """Successive answers to the same read (before and after the changes); the last one repeats."""


class FakeIp:
    """Stands in for `ip`: answers reads from canned `ip -json` output, records the changes it is asked to run."""

    def __init__(self, monkeypatch, capsys, reads):
        self.capsys = capsys
        self.reads = reads  # {("-json", "netns", "list"): [...], ...}: argv without the binary -> output
        self.changes = []
        fake = self

        def run_command(module, argv, **kwargs):
            assert isinstance(argv, list) and argv[0] == "/sbin/ip"
            key = tuple(argv[1:])
            if "-json" not in key and "pids" not in key:
                fake.changes.append(list(key))
                return 0, "", ""
            if key not in fake.reads:
                raise AssertionError("unexpected read %s" % (key,))
            out = fake.reads[key]
            if isinstance(out, Then):
                out = out.pop(0) if len(out) > 1 else out[0]
            return 0, out if isinstance(out, str) else json.dumps(out), ""

        monkeypatch.setattr(AnsibleModule, "get_bin_path", lambda module, name, required=False: "/sbin/" + name)
        monkeypatch.setattr(AnsibleModule, "run_command", run_command)

    def run(self, main, args, check=False, diff=False):
        """Run the module; return its result dict (failures included)."""
        with patch_module_args(dict(args, _ansible_check_mode=check, _ansible_diff=diff)):
            with pytest.raises(SystemExit):
                main()
        return json.loads(self.capsys.readouterr().out)


def ip(*args):
    return ["/sbin/ip"] + list(args)
