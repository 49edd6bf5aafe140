# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""go_binary: the digest decides; nothing is copied, built or installed when it matches."""

from __future__ import annotations

import json
import os

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.k8slab.kube_proxy.plugins.modules import go_binary

DIGEST = "a" * 64

# recorded stamp, binary there, kind, expected
CASES = [
    ("recorded source digest", DIGEST + "\n", True, "source", True),
    ("binary missing", DIGEST + "\n", False, "source", False),
    ("no record", None, True, "source", False),
    ("other digest", "b" * 64 + "\n", True, "source", False),
    ("a binary's record does not stand for a source", DIGEST + " binary\n", True, "source", False),
    ("a source's record does not stand for a binary", DIGEST + "\n", True, "binary", False),
    ("recorded binary digest", DIGEST + " binary\n", True, "binary", True),
]


@pytest.mark.parametrize("recorded, exists, kind, expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_up_to_date(recorded, exists, kind, expected):
    assert go_binary.up_to_date(recorded, exists, kind, DIGEST) is expected


def test_missing_packages():
    out = "golang-go installed\ngolang-github-gin-gonic-gin-dev config-files\n"
    assert go_binary.missing_packages(out, ["golang-go", "golang-github-gin-gonic-gin-dev", "git"]) == [
        "golang-github-gin-gonic-gin-dev", "git"]


def run(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            go_binary.main()
    return json.loads(capsys.readouterr().out)


def test_binary_installed_once_then_left_alone_then_removed(tmp_path, capsys):
    ready = tmp_path / "ready"
    ready.write_bytes(b"\x7fELF program")
    dest = str(tmp_path / "lib" / "app" / "web-app")
    args = dict(dest=dest, digest=DIGEST, kind="binary")

    asked = run(capsys, **args)
    assert asked["changed"] is False and asked["needs_src"] is True and not os.path.exists(dest)

    done = run(capsys, remote_src=str(ready), **args)
    assert done["changed"] is True and done["built"] is True
    assert open(dest, "rb").read() == b"\x7fELF program" and os.stat(dest).st_mode & 0o777 == 0o755
    assert open(dest + ".sha256").read() == DIGEST + " binary\n"

    again = run(capsys, **args)
    assert again["changed"] is False and "needs_src" not in again

    gone = run(capsys, dest=dest, state="absent")
    assert gone["changed"] is True and not os.path.exists(os.path.dirname(dest))
    assert run(capsys, dest=dest, state="absent")["changed"] is False


def test_check_mode_builds_nothing(tmp_path, capsys):
    ready = tmp_path / "ready"
    ready.write_bytes(b"x")
    dest = str(tmp_path / "web-app")
    result = run(capsys, dest=dest, digest=DIGEST, kind="binary", remote_src=str(ready), _ansible_check_mode=True)
    assert result["changed"] is True and not os.path.exists(dest)


def test_source_needs_a_build_dir(tmp_path, capsys):
    result = run(capsys, dest=str(tmp_path / "web-app"), digest=DIGEST)
    assert result["failed"] is True and "build_dir is required" in result["msg"]
