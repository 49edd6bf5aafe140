# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lease that keeps a converge's node lock alive only as long as the converge is.

node_lock's holder process keeps the node's ``flock`` while its run shows signs of
life, and gives it up :data:`DEFAULT_LEASE` seconds after the last one. The signs
are written by the modules of the run themselves: each module run calls
:func:`renew` once, which writes the lease file next to the lock (token, module
PID, time). The holder keeps the lease while that PID lives, so one long task
(the go build on a Pi) never loses it, and counts the lapse from the lease file's
time once the process is gone (killed with the controller, or by hand).

Why not watch the controller: over ``docker exec`` every task is a fresh process
under dockerd, over ssh a fresh session (a ControlPersist master outlives a killed
controller by a minute, paramiko keeps none), so nothing on the node lives exactly
as long as ``ansible-playbook`` does. The module processes of the run do.

:func:`renew` is also the fence (a fencing token): a module of a run whose lock
lapsed, or was taken over, stops before it changes anything, so two runs never
interleave on a node. Modules find their run in the environment that site.yml
sets for the locked block (:data:`TOKEN_ENV`, :data:`PATH_ENV`); without it (an
ad hoc module run) there is no lease to renew.
"""

from __future__ import annotations

import json
import os
import time

DEFAULT_LOCK = "/run/lock/kube-proxy-lab.converge.lock"
DEFAULT_LEASE = 20
TOKEN_ENV = "K8SLAB_LOCK_TOKEN"
PATH_ENV = "K8SLAB_LOCK_PATH"


class LeaseLost(Exception):
    """This run no longer holds the node lock: stop before changing anything."""


def lease_path(lock_path):
    return lock_path + ".lease"


def read_json(path):
    """The JSON object in ``path``, or {} when it is missing, empty or not an object."""
    try:
        with open(path) as handle:
            data = json.loads(handle.read() or "{}")
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def alive(pid):
    """Whether process ``pid`` runs (a zombie, killed but not yet reaped, does not)."""
    try:
        pid = int(pid)
        os.kill(pid, 0)
    except (OSError, TypeError, ValueError):
        return False
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def renew(environ=None, pid=None, now=None):
    """Renew the lease of the run named in ``environ``; returns the lease written, or None without a run.

    Raises :class:`LeaseLost` when the node lock is not (or no longer) held for this run.
    """
    environ = os.environ if environ is None else environ
    token = environ.get(TOKEN_ENV)
    if not token:
        return None
    lock = environ.get(PATH_ENV) or DEFAULT_LOCK
    holder = read_json(lock)
    if holder.get("token") != token or holder.get("ended") or not alive(holder.get("pid")):
        raise LeaseLost("this converge (run %s) no longer holds the node lock %s (now: run %s, PID %s%s); "
                        "stopping before any change so two runs never interleave. Run the converge again."
                        % (token, lock, holder.get("token"), holder.get("pid"),
                           ", %s" % holder["ended"] if holder.get("ended") else ""))
    lease = {"token": token, "pid": os.getpid() if pid is None else pid, "at": time.time() if now is None else now}
    path = lease_path(lock)
    temporary = "%s.%d.tmp" % (path, os.getpid())
    with open(temporary, "w") as handle:
        handle.write(json.dumps(lease) + "\n")
    os.rename(temporary, path)
    return lease


def renew_or_fail(module):
    """Call at the start of every module run of the collection, before the first change."""
    try:
        renew()
    except LeaseLost as error:
        module.fail_json(msg=str(error))


def run_processes(token, proc="/proc", skip=()):
    """PIDs of live processes that carry ``token`` in their environment: the modules of the run and what they
    started (the go build, an apt install the go_binary action runs), whatever connection ran them."""
    entry = ("%s=%s" % (TOKEN_ENV, token)).encode("utf-8")
    found = []
    try:
        names = os.listdir(proc)
    except OSError:
        return found
    for name in names:
        if not name.isdigit() or int(name) in skip:
            continue
        try:
            with open(os.path.join(proc, name, "environ"), "rb") as handle:
                environ = handle.read().split(b"\0")
        except OSError:
            continue
        if entry in environ and (proc != "/proc" or alive(name)):
            found.append(int(name))
    return found


def last_sign(lease, token, last, now, scan=run_processes):
    """The time of the run's last sign of life, seen at ``now``, given the one seen before (``last``).

    ``lease`` is the lease file's content (it counts only when it is this run's): its module process
    alive, or any process of the run alive, is a sign at ``now``; else the lease's renewal time counts.
    """
    if lease.get("token") == token:
        if alive(lease.get("pid")):
            return now
        last = max(last, float(lease.get("at") or 0))
    if scan(token, skip=(os.getpid(),)):
        return now
    return last
