# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""app_instances: what one run reads, plans and refuses, and its program check (no systemd needed)."""

from __future__ import annotations

import collections
import json

import pytest

from ansible.module_utils.testing import patch_module_args
from ansible_collections.k8slab.kube_proxy.plugins.modules import app_instances as ai

UNIT = "k8slab-web-app"

LIST_UNITS = """\
k8slab-web-app@netns_adam.service loaded active running k8slab web app in network namespace netns_adam
k8slab-web-app@netns_eve.service  loaded failed failed  k8slab web app in network namespace netns_eve
k8slab-web-app@netns_old.service  loaded activating auto-restart k8slab web app in network namespace netns_old
other-web-app@netns_adam.service  loaded active running someone else's
system-k8slab\\x2dweb\\x2dapp.slice loaded active active Slice /system/k8slab-web-app
"""


def test_slice_name_escapes_like_systemd():
    assert ai.slice_name("k8slab-web-app") == "system-k8slab\\x2dweb\\x2dapp.slice"
    assert ai.slice_name("a.b:c_d") == "system-a.b:c_d.slice"
    assert ai.slice_name(".x") == "system-\\x2ex.slice"


def test_parse_list_units_keeps_only_the_units_instances_and_its_slice():
    loaded, slice_active = ai.parse_list_units(LIST_UNITS, UNIT)
    assert slice_active is True
    assert loaded == {
        "netns_adam": {"load": "loaded", "active": "active", "sub": "running"},
        "netns_eve": {"load": "loaded", "active": "failed", "sub": "failed"},
        "netns_old": {"load": "loaded", "active": "activating", "sub": "auto-restart"},
    }
    assert ai.parse_list_units("", UNIT) == ({}, False)


def test_enabled_instances_reads_install_links(tmp_path):
    wants = tmp_path / "multi-user.target.wants"
    wants.mkdir()
    for name in ("k8slab-web-app@netns_adam.service", "k8slab-web-app@.service", "other@netns_eve.service"):
        (wants / name).symlink_to("/dev/null")
    (tmp_path / "k8slab-web-app@netns_eve.service").write_text("")  # not a link folder
    (tmp_path / "timers.target.requires").mkdir()
    (tmp_path / "timers.target.requires" / "k8slab-web-app@netns_cain.service").symlink_to("/dev/null")
    assert ai.enabled_instances(str(tmp_path), UNIT) == {"netns_adam", "netns_cain"}
    assert ai.enabled_instances(str(tmp_path / "missing"), UNIT) == set()


RUN = {"active": "active"}
FAILED = {"active": "failed"}
DEAD = {"active": "inactive"}
CRASHLOOP = {"active": "activating"}
NOTHING = dict(stop=[], disable=[], reset_failed=[], enable=[], start=[], restart=[])

# id, state, wanted, loaded, enabled now, options, expected steps (others empty)
PLANS = [
    ("no change", "present", ["a", "b"], {"a": RUN, "b": RUN}, {"a", "b"}, {}, {}),
    ("first run", "present", ["a", "b"], {}, set(), {}, {"enable": ["a", "b"], "start": ["a", "b"]}),
    ("unit changed restarts every wanted one", "present", ["a", "b"], {"a": RUN}, {"a", "b"}, {"unit_changed": True},
     {"restart": ["a", "b"]}),
    ("program changed restarts", "present", ["a"], {"a": RUN}, {"a"}, {"restart": True}, {"restart": ["a"]}),
    ("pod added", "present", ["a", "c"], {"a": RUN}, {"a"}, {}, {"enable": ["c"], "start": ["c"]}),
    ("pod removed: stop, disable", "present", ["a"], {"a": RUN, "b": RUN}, {"a", "b"}, {},
     {"stop": ["b"], "disable": ["b"]}),
    ("removed pod that failed is forgotten", "present", ["a"], {"a": RUN, "b": FAILED}, {"a", "b"}, {},
     {"disable": ["b"], "reset_failed": ["b"]}),
    ("removed pod crash-looping is stopped", "present", ["a"], {"a": RUN, "b": CRASHLOOP}, {"a"}, {}, {"stop": ["b"]}),
    ("removed, only enabled (not loaded after reboot)", "present", ["a"], {"a": RUN}, {"a", "b"}, {}, {"disable": ["b"]}),
    ("stopped and disabled leftover needs nothing", "present", ["a"], {"a": RUN, "b": DEAD}, {"a"}, {}, {}),
    ("wanted but failed is started", "present", ["a"], {"a": FAILED}, {"a"}, {}, {"start": ["a"]}),
    ("enabled false disables the wanted", "present", ["a"], {"a": RUN}, {"a"}, {"enable": False}, {"disable": ["a"]}),
    ("pruned only stops the unlisted", "pruned", ["a"], {"b": RUN}, {"b"}, {"unit_changed": True, "restart": True},
     {"stop": ["b"], "disable": ["b"]}),
    ("pruned with nothing to do", "pruned", ["a", "b"], {"a": RUN}, {"a"}, {}, {}),
    ("absent takes every instance", "absent", ["a"], {"a": RUN, "b": FAILED}, {"a", "c"}, {},
     {"stop": ["a"], "disable": ["a", "c"], "reset_failed": ["b"]}),
    ("absent on a clean node", "absent", [], {}, set(), {}, {}),
]


@pytest.mark.parametrize("state, wanted, loaded, enabled_now, options, expected",
                         [case[1:] for case in PLANS], ids=[case[0] for case in PLANS])
def test_plan(state, wanted, loaded, enabled_now, options, expected):
    assert ai.plan(state, wanted, loaded, enabled_now, **options) == dict(NOTHING, **expected)


def test_records_and_fill():
    found = ai.records([{"netns": "netns_adam", "address": "10.0.0.11"}, "netns_eve"], "netns")
    assert found == [{"netns": "netns_adam", "address": "10.0.0.11"}, {"netns": "netns_eve"}]
    assert ai.fill("http://{address}:8080/", found[0], "check_url") == "http://10.0.0.11:8080/"
    with pytest.raises(ValueError, match="no key 'address'"):
        ai.fill("http://{address}:8080/", found[1], "check_url")
    with pytest.raises(ValueError, match="only plain"):
        ai.fill("{netns.__class__}", found[0], "check_body")


@pytest.mark.parametrize("instances, message", [
    (["a", "a"], "listed twice"),
    (["a b"], "must be a name"),
    (["a/b"], "must be a name"),
    ([{"address": "10.0.0.11"}], "must be a name"),
    ([""], "must be a name"),
])
def test_records_refuse(instances, message):
    with pytest.raises(ValueError, match=message):
        ai.records(instances, "name")


Account = collections.namedtuple("Account", "pw_name pw_uid pw_gecos")
ACCOUNTS = {
    "root": Account("root", 0, "root"),
    "postgres": Account("postgres", 105, "PostgreSQL administrator"),
    "ours": Account("ours", 998, "k8slab web app"),
    "dyn": Account("dyn", 61800, "Dynamic User"),
}


def getpwnam(name):
    return ACCOUNTS[name]


UNIT_TEXT = "[Service]\nDynamicUser=%s\nUser=%s\n"

USERS = [
    ("free name", UNIT_TEXT % ("yes", "k8slab-web"), None),
    ("root refused", UNIT_TEXT % ("yes", "root"), "is root"),
    ("someone else's account refused", UNIT_TEXT % ("yes", "postgres"), "existing account (uid 105"),
    ("our own earlier static user accepted", UNIT_TEXT % ("yes", "ours"), None),
    ("a running dynamic user accepted", UNIT_TEXT % ("yes", "dyn"), None),
    ("not dynamic: not our business", UNIT_TEXT % ("no", "postgres"), None),
    ("the last setting counts", "[Service]\nDynamicUser=no\nDynamicUser=yes\nUser=postgres\n", "existing account"),
    ("%i expanded per instance", UNIT_TEXT % ("yes", "%i"), "existing account (uid 105"),
]


@pytest.mark.parametrize("content, problem", [case[1:] for case in USERS], ids=[case[0] for case in USERS])
def test_user_problem(content, problem):
    found = ai.user_problem(content, ["a", "postgres"], "k8slab web app", getpwnam=getpwnam)
    if problem is None:
        assert found is None
    else:
        assert problem in found


# the program check (O(program), sent by the action plugin with the source's digest) --------------------------

def run_module(capsys, **params):
    with patch_module_args(dict({"unit": UNIT, "instances": ["netns_adam"]}, **params)):
        with pytest.raises(SystemExit):
            ai.main()
    return json.loads(capsys.readouterr().out)


def program(tmp_path, recorded=None, binary=True):
    dest = tmp_path / "web-app"
    if binary:
        dest.write_text("#!/bin/sh\n")
    if recorded is not None:
        (tmp_path / "web-app.sha256").write_text(recorded + "\n")
    return {"dest": str(dest), "kind": "source", "digest": "a" * 64}


@pytest.mark.parametrize("recorded, binary", [(None, True), ("b" * 64, True), ("a" * 64, False)],
                         ids=["no record", "another source", "binary gone"])
def test_a_missing_or_stale_program_stops_the_run_before_systemd_is_asked(tmp_path, capsys, monkeypatch, recorded, binary):
    monkeypatch.setattr(ai.AppInstances, "read", lambda self: pytest.fail("systemd was asked before the program"))
    result = run_module(capsys, program=program(tmp_path, recorded, binary))
    assert result["program_needed"] is True and result["changed"] is False and result["commands"] == []


def test_an_installed_program_lets_the_run_go_on_to_the_instances(tmp_path, capsys, monkeypatch):
    class Read(Exception):
        pass

    def read(self):
        raise Read()
    monkeypatch.setattr(ai.AppInstances, "read", read)
    monkeypatch.setattr(ai.Runner, "bin", lambda self, name, required=True: "/bin/" + name)
    with pytest.raises(Read):
        run_module(capsys, program=program(tmp_path, "a" * 64))


@pytest.mark.parametrize("params, message", [
    ({"state": "pruned"}, "program is for state=present only"),
    ({"program_digest": None}, "program.digest is set by the action plugin"),
])
def test_program_refusals(tmp_path, capsys, params, message):
    given = program(tmp_path, "a" * 64)
    if params.pop("program_digest", "keep") is None:
        given["digest"] = None
    result = run_module(capsys, program=given, **params)
    assert result["failed"] is True and message in result["msg"]
