# SPDX-License-Identifier: GPL-3.0-or-later
"""A stand-in for AnsibleModule in the unit tests of the runners: canned command results, failures raised."""

from __future__ import annotations


class FakeModule:
    def __init__(self, check_mode=False, rc=0, out='[{"name":"a"}]', err="Error: boom\n"):
        self.check_mode = check_mode
        self.rc = rc
        self.out = out
        self.err = err
        self.ran = []  # argv lists
        self.calls = []  # (argv, data, binary_data, environ_update)

    def get_bin_path(self, name, required=False):
        return None if name == "missing" else "/sbin/" + name

    def run_command(self, argv, data=None, binary_data=False, environ_update=None):
        assert isinstance(argv, list)
        self.ran.append(argv)
        self.calls.append((argv, data, binary_data, environ_update))
        return self.rc, self.out if self.rc == 0 else "", "" if self.rc == 0 else self.err

    def fail_json(self, **kwargs):
        raise RuntimeError(kwargs)
