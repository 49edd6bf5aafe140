# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""node_lock: a second converge waits for the first, or fails saying which PID holds the node (issue 15, problem 6)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import node_lease
from ansible_collections.k8slab.kube_proxy.plugins.modules import node_lock


def run(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            node_lock.main()
    return json.loads(capsys.readouterr().out)


def test_second_converge_is_told_who_holds_the_node(tmp_path, capsys):
    path = str(tmp_path / "lock")
    first = run(capsys, path=path, token="first", timeout=2)
    pid = first["holder"]["pid"]
    try:
        assert first["changed"] is False and first["holder"]["token"] == "first" and node_lease.alive(pid)
        # the same run asking again keeps its lock
        assert run(capsys, path=path, token="first", timeout=0)["holder"]["pid"] == pid
        second = run(capsys, path=path, token="second", timeout=1)
        assert second["failed"] is True
        assert "node busy: another converge holds %s (PID %d, run first" % (path, pid) in second["msg"]
        assert second["waited_for"][0]["pid"] == pid
        # releasing with another token does nothing
        assert run(capsys, path=path, token="second", state="unlocked")["released"] is False
        assert run(capsys, path=path, token="first", state="unlocked")["released"] is True
        third = run(capsys, path=path, token="third", timeout=5)
        assert third["holder"]["token"] == "third"
        assert run(capsys, path=path, token="third", state="unlocked")["released"] is True
    finally:
        if node_lease.alive(pid):
            os.kill(pid, signal.SIGTERM)


def test_a_lock_without_token_gets_one_to_release_with(tmp_path, capsys):
    path = str(tmp_path / "lock")
    taken = run(capsys, path=path, timeout=2)
    pid = taken["holder"]["pid"]
    try:
        token = taken["holder"]["token"]
        assert token.startswith("run-") and node_lease.alive(pid)
        assert run(capsys, path=path, token=token, state="unlocked")["released"] is True
        refused = run(capsys, path=path, state="unlocked")
        assert refused["failed"] is True and "token" in refused["msg"]
    finally:
        if node_lease.alive(pid):
            os.kill(pid, signal.SIGTERM)


def ended(path, seconds):
    """Wait up to ``seconds`` for the holder in ``path`` to give the lock up; return its last record."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        holder = node_lock.read_holder(path)
        if holder.get("ended"):
            return holder
        time.sleep(0.1)
    return node_lock.read_holder(path)


def test_a_dead_runs_lock_lapses_and_the_next_run_says_whose_it_took(tmp_path, capsys, monkeypatch):
    warnings = []
    monkeypatch.setattr(node_lock.AnsibleModule, "warn", lambda module, text: warnings.append(text))
    path = str(tmp_path / "lock")
    first = run(capsys, path=path, token="first", timeout=2, lease=1)
    pid = first["holder"]["pid"]
    try:
        # nothing of run "first" lives: its lease lapses a second later, not after a ttl
        assert ended(path, 4)["ended"].startswith("lease lapsed")
        assert not node_lease.alive(pid) or ended(path, 1)
        second = run(capsys, path=path, token="second", timeout=2, lease=1)
        assert second["took_over"]["token"] == "first" and second["took_over"]["pid"] == pid
        assert any("took over the node lock of run first (PID %d" % pid in warning for warning in warnings)
        del warnings[:]
        run(capsys, path=path, token="second", state="unlocked")
        # a lock released by its run is not taken over
        third = run(capsys, path=path, token="third", timeout=2)
        assert third["took_over"] == {} and warnings == []
        run(capsys, path=path, token="third", state="unlocked")
    finally:
        if node_lease.alive(pid):
            os.kill(pid, signal.SIGTERM)


def test_a_killed_holder_is_taken_over_too(tmp_path, capsys):
    path = str(tmp_path / "lock")
    pid = run(capsys, path=path, token="first", timeout=2)["holder"]["pid"]
    os.kill(pid, signal.SIGKILL)
    second = run(capsys, path=path, token="second", timeout=3)
    try:
        assert second["took_over"]["token"] == "first" and second["took_over"]["ended"] == "holder died"
    finally:
        run(capsys, path=path, token="second", state="unlocked")


def test_a_live_process_of_the_run_keeps_the_lock_however_long_it_lasts(tmp_path, capsys):
    path = str(tmp_path / "lock")
    first = run(capsys, path=path, token="long-build", timeout=2, lease=1)
    pid = first["holder"]["pid"]
    # a long task of the run (the go build): its process carries the run's token
    build = subprocess.Popen(["sleep", "30"], env=dict(os.environ, **{node_lease.TOKEN_ENV: "long-build"}))
    try:
        time.sleep(3)
        assert node_lease.alive(pid) and not node_lock.read_holder(path).get("ended")
        busy = run(capsys, path=path, token="other", timeout=1, lease=1)
        assert busy["failed"] is True and "run long-build" in busy["msg"]
        build.kill()
        build.wait()
        assert ended(path, 4)["ended"].startswith("lease lapsed")
    finally:
        build.kill()
        if node_lease.alive(pid):
            os.kill(pid, signal.SIGTERM)


def test_modules_renew_the_lease_and_stop_when_their_run_lost_the_lock(tmp_path, capsys):
    path = str(tmp_path / "lock")
    pid = run(capsys, path=path, token="run-a", timeout=2, lease=1)["holder"]["pid"]
    environ = {node_lease.TOKEN_ENV: "run-a", node_lease.PATH_ENV: path}
    try:
        assert node_lease.renew({}) is None  # an ad hoc module run: no lease
        lease = node_lease.renew(environ, pid=os.getpid())
        assert node_lease.read_json(node_lease.lease_path(path)) == lease and lease["token"] == "run-a"
        # the module process of the run lives (this test): the lease holds past its second
        time.sleep(2.5)
        assert not node_lock.read_holder(path).get("ended")
        with pytest.raises(node_lease.LeaseLost, match="run other"):
            node_lease.renew(dict(environ, **{node_lease.TOKEN_ENV: "other"}))
        run(capsys, path=path, token="run-a", state="unlocked")
        assert ended(path, 2)["ended"] == "released"
        with pytest.raises(node_lease.LeaseLost, match="released"):
            node_lease.renew(environ)
    finally:
        if node_lease.alive(pid):
            os.kill(pid, signal.SIGTERM)


def test_the_runs_last_module_ends_the_lock_as_soon_as_it_exits(tmp_path, capsys):
    """site.yml's last sync sets K8SLAB_LOCK_RELEASE: no module run to release the lock, and no lease to wait out."""
    path = str(tmp_path / "lock")
    pid = run(capsys, path=path, token="run-a", timeout=2, lease=30)["holder"]["pid"]
    environ = {node_lease.TOKEN_ENV: "run-a", node_lease.PATH_ENV: path}
    module = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.6)"])
    try:
        assert node_lease.release_on_exit(environ, pid=module.pid) is None  # not asked
        assert node_lease.release_on_exit(dict(environ, **{node_lease.RELEASE_ENV: "run-b"}), pid=module.pid) is None
        lease = node_lease.release_on_exit(dict(environ, **{node_lease.RELEASE_ENV: "run-a"}), pid=module.pid)
        assert lease["release"] is True and lease["pid"] == module.pid
        time.sleep(0.3)
        assert not node_lock.read_holder(path).get("ended")  # the module still runs
        module.wait()
        assert ended(path, 1)["ended"] == "released"  # within a second of its exit, not after the 30 s lease
        with pytest.raises(node_lease.LeaseLost, match="released"):
            node_lease.renew(environ)
        assert run(capsys, path=path, token="run-b", timeout=2)["took_over"] == {}
        run(capsys, path=path, token="run-b", state="unlocked")
    finally:
        module.kill()
        if node_lease.alive(pid):
            os.kill(pid, signal.SIGTERM)


class Module:
    """What renew_or_fail needs of AnsibleModule: warn and fail_json."""

    def __init__(self):
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)

    def fail_json(self, **result):
        raise AssertionError(result)


def test_the_runs_first_module_takes_the_lock_and_the_others_only_renew_it(tmp_path):
    """site.yml's drain sets K8SLAB_LOCK_ACQUIRE: no module run of its own to take the lock."""
    path = str(tmp_path / "lock")
    request = json.dumps({"token": "run-a", "timeout": 2, "lease": 30})
    environ = {node_lease.TOKEN_ENV: "run-a", node_lease.PATH_ENV: path, node_lease.ACQUIRE_ENV: request}
    first = Module()
    node_lease.renew_or_fail(first, environ)
    holder = node_lock.read_holder(path)
    try:
        assert holder["token"] == "run-a" and node_lease.alive(holder["pid"]) and first.warnings == []
        assert node_lease.read_json(node_lease.lease_path(path))["token"] == "run-a"
        node_lease.renew_or_fail(Module(), environ)  # the same module again (the probe, then the model): kept
        assert node_lock.read_holder(path)["pid"] == holder["pid"]
        # another run's first module waits, then says who held the node
        other = dict(environ, **{node_lease.TOKEN_ENV: "run-b",
                                 node_lease.ACQUIRE_ENV: json.dumps({"token": "run-b", "timeout": 1, "lease": 30})})
        with pytest.raises(AssertionError, match="node busy: another converge holds .* run run-a"):
            node_lease.renew_or_fail(Module(), other)
        # and a module of a run that never took it is fenced off
        with pytest.raises(AssertionError, match="no longer holds the node lock"):
            node_lease.renew_or_fail(Module(), {node_lease.TOKEN_ENV: "run-b", node_lease.PATH_ENV: path})
    finally:
        os.kill(holder["pid"], signal.SIGTERM)


@pytest.mark.parametrize("request_text, message", [
    ("run-a", "must be a JSON object with token, timeout and lease"),
    ('{"token": "run-b", "timeout": 2, "lease": 20}', "names run 'run-b' but K8SLAB_LOCK_TOKEN is 'run-a'"),
    ('{"token": "run-a", "timeout": -1, "lease": 20}', "timeout must be a whole number of seconds, 0 or more"),
    ('{"token": "run-a", "timeout": 2, "lease": 0}', "lease must be a whole number of seconds, 1 or more"),
    ('{"token": "run-a", "timeout": true, "lease": 20}', "timeout must be a whole number"),
])
def test_a_bad_acquire_request_fails_before_anything(request_text, message):
    with pytest.raises(ValueError, match=message):
        node_lease.acquire_request({node_lease.TOKEN_ENV: "run-a", node_lease.ACQUIRE_ENV: request_text})


def test_a_run_is_done_when_its_last_module_asked_and_nothing_of_it_lives():
    dead = 2 ** 22 + 1  # above pid_max's default: no such process

    def nobody(token, skip=()):
        return []

    asked = {"token": "a", "pid": dead, "at": 1.0, "release": True}
    assert node_lease.run_done(asked, "a", nobody) is True
    assert node_lease.run_done(dict(asked, release=False), "a", nobody) is False
    assert node_lease.run_done(asked, "b", nobody) is False
    assert node_lease.run_done(dict(asked, pid=os.getpid()), "a", nobody) is False  # the module still runs
    assert node_lease.run_done(asked, "a", lambda token, skip=(): [4242]) is False  # another process of the run


def test_last_sign_counts_only_this_runs_lease():
    def nobody(token, skip=()):
        return []

    dead = 2 ** 22 + 1  # above pid_max's default: no such process
    assert node_lease.last_sign({"token": "b", "pid": dead, "at": 90.0}, "a", 10.0, 100.0, nobody) == 10.0
    assert node_lease.last_sign({"token": "a", "pid": dead, "at": 90.0}, "a", 10.0, 100.0, nobody) == 90.0
    assert node_lease.last_sign({"token": "a", "pid": os.getpid(), "at": 1.0}, "a", 10.0, 100.0, nobody) == 100.0
    assert node_lease.last_sign({}, "a", 10.0, 100.0, lambda token, skip=(): [4242]) == 100.0


def test_run_processes_reads_the_token_from_environ(tmp_path):
    for pid, environ in ((10, b"A=1\0K8SLAB_LOCK_TOKEN=run-a\0"), (11, b"K8SLAB_LOCK_TOKEN=run-ab\0"), (12, b"")):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "environ").write_bytes(environ)
    (tmp_path / "self").mkdir()
    assert node_lease.run_processes("run-a", proc=str(tmp_path)) == [10]
    assert node_lease.run_processes("run-a", proc=str(tmp_path), skip=(10,)) == []


def test_a_free_lock_is_taken_as_soon_as_the_holder_says_so(tmp_path, capsys, monkeypatch):
    # The module waits on the holder's pipe, not in fixed sleeps: taking a free lock sleeps not once (a sleep of
    # 0.1 s there was a tenth of every converge's first task). Only this process's sleeps count: the forked holder
    # inherits the patch and keeps sleeping for real.
    parent, slept, real_sleep = os.getpid(), [], time.sleep

    def sleep(seconds):
        if os.getpid() == parent:
            slept.append(seconds)
        real_sleep(seconds)
    monkeypatch.setattr(node_lease.time, "sleep", sleep)
    hold = node_lease.hold

    def slow_hold(*args):  # in the holder: answer a little later than the module's first look at the pipe
        real_sleep(0.05)
        hold(*args)
    monkeypatch.setattr(node_lease, "hold", slow_hold)
    path = str(tmp_path / "lock")
    taken = run(capsys, path=path, token="free", timeout=2)
    pid = taken["holder"]["pid"]
    try:
        assert taken["holder"]["token"] == "free" and slept == []
    finally:
        if node_lease.alive(pid):
            os.kill(pid, signal.SIGTERM)
