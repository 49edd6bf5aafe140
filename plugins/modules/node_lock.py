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
    the other is about to create, one writes chains the other prunes). A play takes this lock first and
    releases it last, so the second run waits for the first, then converges.
  - C(site.yml) takes and ends the same lock without module runs of its own - its first module (the drain sync)
    takes it, given C(K8SLAB_LOCK_ACQUIRE) in its environment (a JSON object with the run's C(token), C(timeout)
    and C(lease), the options of this module), and its last ends it (below). It uses this module only to release
    the lock of a run that failed before its last module.
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
  - The run's last module can end the lock without a module run of its own - given C(K8SLAB_LOCK_RELEASE) set to the
    run's token in its environment, as C(site.yml) sets it for the last Service sync, a module of this collection
    whose answer is final asks for it, and the holder gives the lock up (C(ended=released)) within a tenth of a
    second of that module's exit. V(unlocked) is then needed only when the run failed before.
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

import os
import signal
import uuid

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.node_lease import (
    DEFAULT_LEASE, DEFAULT_LOCK, LockBusy, acquire, held_by, read_json)

read_holder = read_json


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
    if params["state"] == "unlocked":
        holder = read_holder(path)
        released = held_by(holder, token)
        if released:
            os.kill(int(holder["pid"]), signal.SIGTERM)
        # Taking and releasing the lock changes nothing the node is configured for: never "changed".
        module.exit_json(changed=False, released=released, holder={}, waited=0.0, waited_for=[], took_over={})

    try:
        result = acquire(path, token, params["timeout"], params["lease"], params["ttl"])
    except LockBusy as busy:
        module.fail_json(msg=str(busy), waited=busy.waited, waited_for=busy.waited_for, took_over={})
    for warning in result.pop("warnings"):
        module.warn(warning)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
