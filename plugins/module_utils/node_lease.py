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

The run's first and last modules take and end the lock themselves, which saves
the converge two module runs. Given :data:`ACQUIRE_ENV` (the run's token, the
timeout and the lease), the first takes it before anything else, waiting for
another run's as node_lock does (:func:`acquire`; the holder process is the same).
Given :data:`RELEASE_ENV` set to the run's token, the last calls
:func:`release_on_exit` once its answer is final, and the holder gives the lock
up as soon as that process has exited and no other process of the run lives
(:func:`run_done`). A run that fails before then releases it with node_lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import time

DEFAULT_LOCK = "/run/lock/kube-proxy-lab.converge.lock"
DEFAULT_LEASE = 20
TOKEN_ENV = "K8SLAB_LOCK_TOKEN"
PATH_ENV = "K8SLAB_LOCK_PATH"
RELEASE_ENV = "K8SLAB_LOCK_RELEASE"
ACQUIRE_ENV = "K8SLAB_LOCK_ACQUIRE"
POLL = 0.1  # the holder's look at the lease: how late a lock the run's last module gave up goes


class LockBusy(Exception):
    """Another run held the node lock for the whole timeout."""

    def __init__(self, message, waited, waited_for):
        super(LockBusy, self).__init__(message)
        self.waited, self.waited_for = waited, waited_for


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


def renew(environ=None, pid=None, now=None, release=False):
    """Renew the lease of the run named in ``environ``; returns the lease written, or None without a run.

    With ``release``, the lease also asks the holder to give the lock up once its process (``pid``) has exited
    (:func:`release_on_exit`). Raises :class:`LeaseLost` when the node lock is not (or no longer) held for this run.
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
    if release:
        lease["release"] = True
    path = lease_path(lock)
    temporary = "%s.%d.tmp" % (path, os.getpid())
    with open(temporary, "w") as handle:
        handle.write(json.dumps(lease) + "\n")
    os.rename(temporary, path)
    return lease


def acquire_request(environ=None):
    """What :data:`ACQUIRE_ENV` asks of this module, the converge's first: a dict (path, token, timeout, lease), or
    None without a request. Its value is a JSON object naming the run's token (which must be :data:`TOKEN_ENV`'s),
    the seconds to wait for another run's lock (``timeout``) and the ``lease``. Raises ValueError when it is bad."""
    environ = os.environ if environ is None else environ
    text = environ.get(ACQUIRE_ENV)
    if not text:
        return None
    try:
        request = json.loads(text)
    except ValueError:
        request = None
    if not isinstance(request, dict) or set(request) != {"token", "timeout", "lease"}:
        raise ValueError("%s must be a JSON object with token, timeout and lease, got %r" % (ACQUIRE_ENV, text))
    if not request["token"] or request["token"] != environ.get(TOKEN_ENV):
        raise ValueError("%s names run %r but %s is %r: they must be the same run" % (
            ACQUIRE_ENV, request["token"], TOKEN_ENV, environ.get(TOKEN_ENV)))
    for key, least in (("timeout", 0), ("lease", 1)):
        if not isinstance(request[key], int) or isinstance(request[key], bool) or request[key] < least:
            raise ValueError("%s: %s must be a whole number of seconds, %d or more, got %r" % (
                ACQUIRE_ENV, key, least, request[key]))
    return dict(request, path=environ.get(PATH_ENV) or DEFAULT_LOCK)


def renew_or_fail(module, environ=None):
    """Call at the start of every module run of the collection, before the first change: the converge's first module
    (:data:`ACQUIRE_ENV`) takes the node lock, waiting as node_lock does; then every module renews the run's lease."""
    environ = os.environ if environ is None else environ
    try:
        request = acquire_request(environ)
    except ValueError as error:
        module.fail_json(msg=str(error))
    if request:
        try:
            result = acquire(request["path"], request["token"], request["timeout"], request["lease"])
        except LockBusy as busy:
            module.fail_json(msg=str(busy), waited=busy.waited, waited_for=busy.waited_for)
        for warning in result["warnings"]:
            module.warn(warning)
    try:
        renew(environ)
    except LeaseLost as error:
        module.fail_json(msg=str(error))


def release_on_exit(environ=None, pid=None, now=None):
    """Call when a module's answer is final: when ``environ`` names this run's token in :data:`RELEASE_ENV` too (the
    converge's last module), the holder releases the node lock as soon as this process has exited. Returns the lease
    written, or None when nothing was asked. Raises :class:`LeaseLost` as :func:`renew` does."""
    environ = os.environ if environ is None else environ
    token = environ.get(TOKEN_ENV)
    if not token or environ.get(RELEASE_ENV) != token:
        return None
    return renew(environ, pid, now, release=True)


def run_done(lease, token, scan=None):
    """Whether the run ``token`` asked for its lock to go (``lease``: the lease file's content, written by
    :func:`release_on_exit`) and is over: that module process has exited and no other process of the run lives."""
    if lease.get("token") != token or not lease.get("release") or alive(lease.get("pid")):
        return False
    return not (scan or run_processes)(token, skip=(os.getpid(),))


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


# ---------------------------------------------------------------- the holder process (node_lock)

def write_holder(fd, info):
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(info) + "\n").encode("utf-8"), 0)


def keep(info, ttl, lease):
    """Keep the flock while the run shows signs of life within the lease (and within the ttl), or until the run's
    last module has exited after asking for the lock to go (``released``); say why it ended."""
    lease_file = lease_path(info["path"])
    last = info["since"]
    while True:
        time.sleep(POLL)
        now = time.time()
        if ttl and now - info["since"] > ttl:
            return "ttl of %d s passed" % ttl
        written = read_json(lease_file)
        if run_done(written, info["token"]):
            return "released"
        last = last_sign(written, info["token"], last, now)
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


def held_by(holder, token):
    """Whether ``holder`` (a lock file's content) is run ``token``'s live holder."""
    return holder.get("token") == token and not holder.get("ended") and alive(holder.get("pid"))


def acquire(path, token, timeout, lease=DEFAULT_LEASE, ttl=0):
    """Take the node lock ``path`` for run ``token`` (or keep it, when that run holds it already), waiting up to
    ``timeout`` seconds for another run's; returns node_lock's result (holder, waited, waited_for, took_over) and the
    warnings to show. Raises :class:`LockBusy` when another run held it the whole time."""
    holder = read_json(path)
    if held_by(holder, token):
        return dict(holder=holder, waited=0.0, waited_for=[], took_over={}, warnings=[])
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    started = time.time()
    read_fd, deadline = start_holder(path, token, timeout, ttl, lease)
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
        current = read_json(path)
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
        current = read_json(path)
        raise LockBusy("node busy: another converge holds %s (PID %s, run %s, since %s); waited %d s for it. "
                       "Wait for it to finish; a run that died frees the node %d s after its last module."
                       % (path, current.get("pid"), current.get("token"),
                          time.strftime("%H:%M:%S", time.localtime(current.get("since", 0))),
                          timeout, current.get("lease", lease)), waited, seen)
    took_over = report.get("took_over") or {}
    warnings = []
    if took_over:
        warnings.append("took over the node lock of run %s (PID %s, holding since %s): %s"
                        % (took_over.get("token"), took_over.get("pid"),
                           time.strftime("%H:%M:%S", time.localtime(took_over.get("since", 0))), took_over.get("ended")))
    for other in seen:
        if other.get("token") == took_over.get("token"):
            continue
        warnings.append("node busy, waited %.1f s for PID %s (run %s) to finish its converge"
                        % (waited, other.get("pid"), other.get("token")))
    return dict(holder=read_json(path), waited=waited, waited_for=seen, took_over=took_over, warnings=warnings)
