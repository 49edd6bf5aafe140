#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: node_lock
short_description: Hold a node-wide lock across a whole converge, so two runs never interleave
version_added: 0.1.0
author: k8slab maintainers (@k8slab)
description:
  - Two plays converging the same node at once would interleave their steps (one creates an address
    the other is about to create, one writes chains the other prunes). C(site.yml) and C(teardown.yml)
    take this lock first and release it last, so the second run waits for the first, then converges.
  - A lock must outlive the module's process, so O(state=locked) starts a small holder process on the
    node that takes an exclusive C(flock) on O(path) and keeps it until O(state=unlocked) with the same
    O(token) stops it, or until the run's lease lapses.
  - The lease keeps the lock exactly as long as the run lives. Every module of this collection renews it when it
    starts (site.yml passes the run's token in the environment C(K8SLAB_LOCK_TOKEN)), and the holder keeps it
    while that module's process lives, however long one task lasts (the go build on a Pi). Once no module
    process of the run lives, the lock lapses O(lease) seconds after the last renewal; a killed C(ansible-playbook)
    or module process frees the node within O(lease) seconds, not after a TTL.
  - A module whose run lost its lock (lapsed, or taken over) fails before changing anything, so two runs never
    interleave on the node.
  - A run that finds a lapsed or dead holder takes the lock over, warns whose lock it took, and returns it in RV(took_over).
  - The holder's process is not tied to the controller, because over C(docker exec) and ssh nothing on the node
    lives exactly as long as C(ansible-playbook); the module processes of the run do.
  - The holder writes its PID, the token and the time it took the lock into O(path); a waiting run says
    which PID it waits for, and fails after O(timeout) seconds with a "busy" message naming it.
  - The lock is a kernel C(flock), so it goes with the holder process, also when that is killed.
  - The lock file stays after the run (and after teardown), in C(/run/lock), emptied at boot; removing a lock
    file others may be waiting on would let two runs hold "the" lock at once.
options:
  path:
    description: The lock file.
    type: path
    default: /run/lock/kube-proxy-lab.converge.lock
  state:
    description: V(locked) takes the lock (waiting for it); V(unlocked) releases the lock this O(token) holds.
    type: str
    choices: [locked, unlocked]
    default: locked
  token:
    description:
      - Names this run; V(unlocked) releases the lock only when the holder carries the same token.
      - Optional with V(locked), where a fresh random token is made and returned in the C(token) of RV(holder); register
        the result and pass that token to V(unlocked). Required with V(unlocked).
    type: str
  timeout:
    description: Seconds to wait for a busy lock before failing.
    type: int
    default: 600
  lease:
    description:
      - Seconds the lock outlives the last sign of life of its run (a module of the run starting, or still running).
      - Tasks of the run that are not modules of this collection, and waits for slower hosts in the same play,
        must stay shorter than this.
    type: int
    default: 20
    version_added: 0.2.0
  ttl:
    description: Seconds after which the holder gives the lock up by itself, live run or not; V(0) for never.
    type: int
    default: 0
extends_documentation_fragment:
  - k8slab.kube_proxy.attributes
attributes:
  check_mode:
    description:
      - In check mode the module does the same as without it, on purpose. O(state=locked) waits for the lock and
        takes it, starting the holder process, and O(state=unlocked) releases it, so a check run of C(site.yml)
        never reads a node that another run is converging halfway.
      - The lock is not part of the node's configuration, so the module reports no change in either mode.
  diff_mode:
    support: none
    description: Nothing to show; the lock is not part of the node's configuration.
  platform:
    support: full
    platforms: linux
    description: Linux (the lock is a C(flock) kept by a process on the node) with a writable directory for O(path).
"""

EXAMPLES = r"""
# test: once - a second run makes up another token, so it would wait for the lock the first still holds
- name: Hold the lock under a token the module makes up
  k8slab.kube_proxy.node_lock:
  register: k8slab_lock

- name: Release it with the token it returned
  k8slab.kube_proxy.node_lock:
    token: "{{ k8slab_lock.holder.token }}"
    state: unlocked

# test: needs run-token - k8slab_run_token names this run
- name: Wait until no other converge runs on the node, then hold the lock
  k8slab.kube_proxy.node_lock:
    token: "{{ k8slab_run_token }}"

- name: Let the next converge in
  k8slab.kube_proxy.node_lock:
    token: "{{ k8slab_run_token }}"
    state: unlocked
"""

RETURN = r"""
holder:
  description: The holder process of the lock after the run (none after V(unlocked)); its C(token) is the one to release it with.
  returned: always
  type: dict
  sample: {pid: 4242, token: "1712345678-93", since: 1712345678.5, lease: 20}
took_over:
  description: The holder whose lock this run took over because its lease lapsed or its holder died (empty when none).
  returned: always
  type: dict
  sample: {pid: 4242, token: "run-0d1e2f3a4b5c", since: 1712345678.5, ended: lease lapsed}
released:
  description: Whether V(unlocked) stopped this token's holder.
  returned: when O(state=unlocked)
  type: bool
  sample: true
waited:
  description: Seconds spent waiting for another run's lock.
  returned: always
  type: float
  sample: 12.4
waited_for:
  description: The holders seen while waiting (PID, token, since).
  returned: always
  type: list
  elements: dict
"""

import fcntl
import json
import os
import select
import signal
import time
import uuid

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.node_lease import (
    DEFAULT_LEASE, DEFAULT_LOCK, alive, last_sign, lease_path, read_json)

read_holder = read_json
POLL = 0.5


def write_holder(fd, info):
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(info) + "\n").encode("utf-8"), 0)


def keep(info, ttl, lease):
    """Keep the flock while the run shows signs of life within the lease (and within the ttl); say why it ended."""
    lease_file = lease_path(info["path"])
    last = info["since"]
    while True:
        time.sleep(POLL)
        now = time.time()
        if ttl and now - info["since"] > ttl:
            return "ttl of %d s passed" % ttl
        last = last_sign(read_json(lease_file), info["token"], last, now)
        if now - last > lease:
            return "lease lapsed: no process of the run for %d s" % lease


def hold(path, token, deadline, ttl, lease, report_fd):
    """In the holder process: take the flock, say so (and whose lock it took), keep it until SIGTERM or lapse."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            if time.time() > deadline:
                os._exit(1)
            time.sleep(0.1)
    previous = {}
    try:
        previous = json.loads(os.pread(fd, 65536, 0).decode("utf-8") or "{}")
    except ValueError:
        pass
    if not isinstance(previous, dict) or not previous.get("token") or previous.get("ended") == "released":
        previous = {}
    elif not previous.get("ended"):
        previous["ended"] = "holder died"
    info = {"pid": os.getpid(), "token": token, "since": time.time(), "lease": lease, "path": path}
    write_holder(fd, info)
    os.write(report_fd, (json.dumps({"ok": True, "took_over": previous}) + "\n").encode("utf-8"))
    os.close(report_fd)

    def release(signum, frame):
        write_holder(fd, dict(info, ended="released"))
        os._exit(0)
    signal.signal(signal.SIGTERM, release)
    # Written before the flock goes: a module of this run that starts now sees it and stops (the fence).
    write_holder(fd, dict(info, ended=keep(info, ttl, lease)))
    os._exit(0)


def start_holder(path, token, timeout, ttl, lease):
    """Fork a detached holder; return its PID once it holds the lock, or None after the timeout."""
    read_fd, write_fd = os.pipe()
    deadline = time.time() + timeout
    pid = os.fork()
    if pid == 0:  # child: detach, fork the holder, exit
        try:
            os.close(read_fd)
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            devnull = os.open(os.devnull, os.O_RDWR)
            for number in (0, 1, 2):
                os.dup2(devnull, number)  # the connection (ssh, docker exec) must not wait for the holder
            os.closerange(3, write_fd)
            os.closerange(write_fd + 1, 1024)
            hold(path, token, deadline, ttl, lease, write_fd)
        finally:
            os._exit(1)
    os.close(write_fd)
    os.waitpid(pid, 0)
    return read_fd, deadline


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default=DEFAULT_LOCK),
            state=dict(type="str", default="locked", choices=["locked", "unlocked"]),
            token=dict(type="str", no_log=False),
            timeout=dict(type="int", default=600),
            lease=dict(type="int", default=DEFAULT_LEASE),
            ttl=dict(type="int", default=0),
        ),
        required_if=[("state", "unlocked", ["token"])],
        supports_check_mode=True,
    )
    params = module.params
    path, token = params["path"], params["token"] or "run-%s" % uuid.uuid4().hex[:12]
    if params["timeout"] < 0 or params["ttl"] < 0 or params["lease"] < 1:
        module.fail_json(msg="timeout and ttl must be 0 or more and lease 1 or more seconds")
    holder = read_holder(path)
    if params["state"] == "unlocked":
        released = False
        if holder.get("token") == token and not holder.get("ended") and alive(holder.get("pid")):
            os.kill(int(holder["pid"]), signal.SIGTERM)
            released = True
        # Taking and releasing the lock changes nothing the node is configured for: never "changed".
        module.exit_json(changed=False, released=released, holder={}, waited=0.0, waited_for=[], took_over={})

    if holder.get("token") == token and not holder.get("ended") and alive(holder.get("pid")):
        module.exit_json(changed=False, holder=holder, waited=0.0, waited_for=[], took_over={})
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    started = time.time()
    read_fd, deadline = start_holder(path, token, params["timeout"], params["ttl"], params["lease"])
    seen = []
    answer = b""
    os.set_blocking(read_fd, False)
    while time.time() <= deadline + 1:
        # Woken as soon as the holder reports (a free lock costs no poll interval); every 0.1 s otherwise,
        # to note whom the run waits for.
        if select.select([read_fd], [], [], 0.1)[0]:
            try:
                chunk = os.read(read_fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:  # the holder gave up (timeout) without the lock
                break
            answer += chunk
            if answer.endswith(b"\n"):
                break
            continue
        current = read_holder(path)
        if alive(current.get("pid")) and not current.get("ended") and current.get("token") != token \
                and current not in seen:
            seen.append(current)
    os.close(read_fd)
    waited = round(time.time() - started, 1)
    try:
        report = json.loads(answer.decode("utf-8") or "{}")
    except ValueError:
        report = {}
    if not report.get("ok"):
        current = read_holder(path)
        module.fail_json(msg="node busy: another converge holds %s (PID %s, run %s, since %s); waited %d s for it. "
                             "Wait for it to finish; a run that died frees the node %d s after its last module."
                             % (path, current.get("pid"), current.get("token"),
                                time.strftime("%H:%M:%S", time.localtime(current.get("since", 0))),
                                params["timeout"], current.get("lease", params["lease"])),
                         waited=waited, waited_for=seen, took_over={})
    took_over = report.get("took_over") or {}
    if took_over:
        module.warn("took over the node lock of run %s (PID %s, holding since %s): %s"
                    % (took_over.get("token"), took_over.get("pid"),
                       time.strftime("%H:%M:%S", time.localtime(took_over.get("since", 0))), took_over.get("ended")))
    for other in seen:
        if other.get("token") == took_over.get("token"):
            continue
        module.warn("node busy, waited %.1f s for PID %s (run %s) to finish its converge"
                    % (waited, other.get("pid"), other.get("token")))
    module.exit_json(changed=False, holder=read_holder(path), waited=waited, waited_for=seen, took_over=took_over)


if __name__ == "__main__":
    main()
