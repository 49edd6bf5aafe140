#!/usr/bin/env python
# SPDX-License-Identifier: GPL-3.0-or-later
"""The node side of the crash harness (crash.py): what it reads and plants on the node.

Usage: crash_node.py plant | unplant | foreign | modules | lock | state PODS... | capture SET SINCE | steps SET
       | round SET STEP AT MODE [WORDS]

plant: a foreign nat chain, a namespace with an /etc/netns folder and a file in /var/lib/k8slab, none of
the lab's (unplant removes them); foreign: their snapshot (and the foreign rules prepare.yml wrote), which must never change;
modules: the PIDs of the module processes of a run now on the node (python3 run by Ansible, not the
lock's holder); lock: the lock file; state: the pods the records, the namespaces and the units name,
checked against PODS (exit 1 when they disagree).

capture SET SINCE: claim the module payloads a converge run with ANSIBLE_KEEP_REMOTE_FILES left on the node
since SINCE (epoch seconds; its AnsiballZ files, each holding the module and its arguments, in the order they
ran) as the set SET. steps SET: the labels of its steps.

round SET STEP AT MODE [WORDS]: replay that converge module by module without the controller, SIGKILL the
module process of step STEP (0 based; AT seconds after it started, carried on to the next steps when it
ended first; given WORDS, comma-separated, as soon as step STEP runs a command whose argv holds one of them,
such as its iptables-restore; STEP -1 kills nothing), then, as site.yml's `always` would, release the lock
(MODE release) or leave it to lapse (MODE die, as when the controller died too), and replay the whole set
again: that recovery must succeed. Prints one JSON line: the kill, each recovery step's seconds and result,
and how soon after the kill the recovery held the lock.
"""
import ast
import glob
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid

LOCK = "/run/lock/kube-proxy-lab.converge.lock"
FOREIGN_FILE = "/var/lib/k8slab/crash-foreign.txt"
KEPT = "/root/.ansible/tmp"
SETS = "/root/crash/sets"


def out(argv):
    return subprocess.run(argv, check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True).stdout


def plant():
    subprocess.run(["iptables-restore", "--noflush"], check=True, universal_newlines=True, input=(
        "*nat\n:CRASH-FOREIGN - [0:0]\n-A CRASH-FOREIGN -d 192.0.2.99/32 -p tcp -j RETURN\nCOMMIT\n"))
    subprocess.run(["ip", "netns", "add", "crash_foreign"], check=True)
    os.makedirs("/etc/netns/crash_foreign", exist_ok=True)
    with open("/etc/netns/crash_foreign/resolv.conf", "w") as handle:
        handle.write("nameserver 192.0.2.53\n")
    os.makedirs(os.path.dirname(FOREIGN_FILE), exist_ok=True)
    with open(FOREIGN_FILE, "w") as handle:
        handle.write("someone else's file\n")


def unplant():
    subprocess.run(["iptables", "-t", "nat", "-F", "CRASH-FOREIGN"], check=True)
    subprocess.run(["iptables", "-t", "nat", "-X", "CRASH-FOREIGN"], check=True)
    subprocess.run(["ip", "netns", "delete", "crash_foreign"], check=True)
    for path in ("/etc/netns/crash_foreign/resolv.conf", FOREIGN_FILE):
        os.remove(path)
    os.rmdir("/etc/netns/crash_foreign")


def foreign():
    rules = [line for line in out(["iptables-save"]).splitlines()
             if any(word in line for word in ("CRASH-FOREIGN", "DOCKER", "KUBE-SERVICES -d 203.", "198.51.100.7"))]
    netns = [line for line in out(["ip", "netns", "list"]).splitlines() if "crash_foreign" in line]
    files = []
    for path in ("/etc/netns/crash_foreign/resolv.conf", FOREIGN_FILE):
        try:
            with open(path) as handle:
                files.append("%s: %s" % (path, handle.read().strip()))
        except OSError as error:
            files.append("%s: %s" % (path, error))
    print("\n".join(rules + netns + files))


def modules():
    try:
        with open(LOCK) as handle:
            holder = json.loads(handle.read() or "{}").get("pid")
    except (OSError, ValueError):
        holder = None
    pids = []
    for path in glob.glob("/proc/[0-9]*/cmdline"):
        pid = int(path.split("/")[2])
        try:
            with open(path, "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        # Ansible runs a module as "python3" reading the module from stdin (pipelining), or an AnsiballZ file
        if argv and argv[0].endswith(b"python3") and (argv[1:] in ([b""], []) or b"AnsiballZ" in b" ".join(argv)) \
                and pid not in (holder, os.getpid()):
            pids.append(pid)
    print(" ".join(str(pid) for pid in sorted(pids)))


def state(pods):
    problems = []
    netns = set(line.split()[0] for line in out(["ip", "netns", "list"]).splitlines()
                if line.split() and line.split()[0].startswith("netns_"))
    want = set("netns_%s" % pod for pod in pods)
    if netns != want:
        problems.append("namespaces %s, pods %s" % (sorted(netns), sorted(want)))
    recorded = set(os.path.basename(path) for path in glob.glob("/var/lib/k8slab/netns/*/netns_*"))
    if recorded != want:
        problems.append("namespace records %s, pods %s" % (sorted(recorded), sorted(want)))
    listed = out(["systemctl", "list-units", "--all", "--plain", "--no-legend", "--no-pager", "k8slab-web-app*"])
    units = set(line.split()[0] for line in listed.splitlines() if line.split())
    stray = [unit for unit in units if not any(pod in unit for pod in pods)]
    if stray:
        problems.append("app units of no pod: %s" % sorted(stray))
    leftovers = glob.glob("/var/lib/k8slab/**/*.tmp", recursive=True) + glob.glob("/run/lock/*.tmp")
    if leftovers:
        problems.append("temporary files left: %s" % leftovers)
    print("\n".join(problems) or "ok")
    return 1 if problems else 0


def payload_args(path):
    """The module arguments an AnsiballZ file carries (its line ``params='{"ANSIBLE_MODULE_ARGS": ...}',``)."""
    with open(path) as handle:
        for line in handle:
            if line.startswith("params="):
                return json.loads(ast.literal_eval(line[len("params="):].strip().rstrip(",")))["ANSIBLE_MODULE_ARGS"]
    raise ValueError("no params in %s" % path)


def label(module, args):
    if module == "proxy_sync":
        return "proxy_sync drain" if args.get("drain") else "proxy_sync"
    if module == "app_instances":
        return "app_instances " + ("pruned" if args.get("state") == "pruned" else "present")
    if module == "iptables_chains":
        return "iptables_chains " + (args.get("table") or "+".join(item["table"] for item in args.get("tables") or []))
    if module == "node_lock":
        return "node_lock " + args.get("state", "locked")
    return module


def capture(name, since):
    """Claim the payloads left since ``since`` (epoch seconds) as set ``name``; exit 1 unless they are one whole
    converge."""
    found = []
    for path in glob.glob(os.path.join(KEPT, "ansible-tmp-*", "AnsiballZ_*.py")):
        # ansible-tmp-<epoch seconds>-<pid>-<random>: when the task ran
        made = float(os.path.basename(os.path.dirname(path)).split("-")[2])
        if made >= float(since):
            found.append((made, path))
    found = [path for made, path in sorted(found)]
    steps = []
    for path in found:
        module = os.path.basename(path)[len("AnsiballZ_"):-len(".py")]
        args = payload_args(path)
        steps.append({"path": path, "module": module, "label": label(module, args)})
    labels = [step["label"] for step in steps]
    # a proxy_sync that sent only the digest could not converge another state (capture with return_plan)
    probes = [step["label"] for step in steps if step["module"] == "proxy_sync"
              and not set(payload_args(step["path"])) & {"services", "model_json"}]
    os.makedirs(SETS, exist_ok=True)
    with open(os.path.join(SETS, name + ".json"), "w") as handle:
        json.dump(steps, handle)
    print(" / ".join(labels))
    # a whole converge: from the drain, which takes the lock (K8SLAB_LOCK_ACQUIRE), to the last sync, which ends it
    whole = len(steps) > 2 and labels[0] == "proxy_sync drain" and labels[-1] == "proxy_sync" and not probes
    return 0 if whole else 1


class Replay:
    """One converge replayed from a set under a token of its own, in the environment site.yml gives its modules:
    the token (K8SLAB_LOCK_TOKEN) to every step, the first (the drain) takes the lock (K8SLAB_LOCK_ACQUIRE, with
    the lease and timeout crash.py's converges use, K8SLAB_CRASH_LEASE and K8SLAB_CRASH_TIMEOUT), the last sync
    ends it as it exits (K8SLAB_LOCK_RELEASE)."""

    def __init__(self, steps):
        self.steps = steps
        self.token = "replay-%s" % uuid.uuid4().hex[:12]
        self.acquire = json.dumps({"token": self.token, "timeout": int(os.environ["K8SLAB_CRASH_TIMEOUT"]),
                                   "lease": int(os.environ["K8SLAB_CRASH_LEASE"])})

    def start(self, step):
        path, env = step["path"], dict(os.environ, K8SLAB_LOCK_TOKEN=self.token)
        if step is self.steps[0]:
            env["K8SLAB_LOCK_ACQUIRE"] = self.acquire
        if step is self.steps[-1]:
            env["K8SLAB_LOCK_RELEASE"] = self.token
        log = tempfile.TemporaryFile(mode="w+")
        return subprocess.Popen(["python3", path], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env=env, cwd="/"), log

    def finish(self, step, process, log, started):
        process.wait()
        log.seek(0)
        text = log.read()
        log.close()
        result = output_text(text)
        # the first step says whose lock it took over, as node_lock did: "took over the node lock of run TOKEN (...";
        # a warning is a text or (ansible-core 2.19 and later) an object holding it
        took_over = re.findall(r"took over the node lock of run (\S+) ", json.dumps(result.get("warnings") or []))
        return {"step": step["label"], "start": started, "seconds": round(time.time() - started, 2), "rc": process.returncode,
                "failed": bool(result.get("failed")) or process.returncode != 0,
                "msg": str(result.get("msg") or text[-300:] if result.get("failed") or process.returncode else ""),
                "took_over": took_over[0] if took_over else ""}

    def run(self, kill_step=-1, kill_at=0.0, kill_on=()):
        """Run the steps; kill the one running ``kill_at`` s after step ``kill_step`` started, or, given ``kill_on``,
        step ``kill_step`` as soon as it runs a command whose argv holds one of those words (the command itself
        goes on: the module dies between starting its apply and what it meant to do after). Returns (steps, kill)."""
        done, kill, deadline = [], None, None
        for number, step in enumerate(self.steps):
            started = time.time()
            if number == kill_step and not kill_on:
                deadline = started + kill_at
            process, log = self.start(step)
            if number == kill_step and kill_on:
                command = wait_for_child(process, kill_on)
                if command:
                    process.send_signal(signal.SIGKILL)
                    kill = {"step": "%s, running %s" % (step["label"], command), "at": round(time.time() - started, 2),
                            "time": time.time()}
            elif deadline is not None:
                try:
                    process.wait(timeout=max(0.0, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    process.send_signal(signal.SIGKILL)
                    kill = {"step": step["label"], "at": round(time.time() - started, 2), "time": time.time()}
            done.append(self.finish(step, process, log, started))
            if kill or done[-1]["failed"]:
                break
        return done, kill

    def release(self):
        """site.yml's ``always``: release the lock with this run's token (what node_lock state=unlocked does: stop
        the holder when it is this run's)."""
        started = time.time()
        holder = read_lock()
        released = holder.get("token") == self.token and not holder.get("ended") and alive(holder.get("pid"))
        if released:
            os.kill(int(holder["pid"]), signal.SIGTERM)
        return {"step": "release the lock", "start": started, "seconds": round(time.time() - started, 2), "rc": 0,
                "failed": False, "msg": "released" if released else "not this run's lock", "took_over": ""}


def read_lock():
    """The lock file's holder ({} when there is none)."""
    try:
        with open(LOCK) as handle:
            holder = json.loads(handle.read() or "{}")
        return holder if isinstance(holder, dict) else {}
    except (OSError, ValueError):
        return {}


def alive(pid):
    try:
        os.kill(int(pid), 0)
        return True
    except (OSError, TypeError, ValueError):
        return False


def wait_for_child(process, words):
    """Poll ``process``'s children until one runs a command holding one of ``words``; its argv, or None when the
    process ended first."""
    children = "/proc/%d/task/%d/children" % (process.pid, process.pid)
    while process.poll() is None:
        try:
            with open(children) as handle:
                pids = handle.read().split()
        except OSError:
            pids = []
        for pid in pids:
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as handle:
                    argv = handle.read().decode("utf-8", "replace").replace("\0", " ").strip()
            except OSError:
                continue
            if any(word in argv for word in words):
                return argv[:80]
        time.sleep(0.0002)  # ip netns add takes a few milliseconds
    return None


def output_text(text):
    """The module's JSON result in ``text`` ({} when it wrote none, as when it was killed)."""
    try:
        return json.loads(text[text.index("{"):])
    except ValueError:
        return {}


def replay(name, kill_step, kill_at, mode, kill_on=""):
    with open(os.path.join(SETS, name + ".json")) as handle:
        steps = json.load(handle)
    killed = Replay(steps)
    done, kill = killed.run(int(kill_step), float(kill_at), [word for word in kill_on.split(",") if word])
    if kill and mode == "release":
        done.append(killed.release())
    recovery = Replay(steps)
    steps_done, _none = recovery.run()
    if len(steps_done) < len(steps):
        recovery.release()  # a failed step: site.yml's always releases the lock
    holder = read_lock()
    # when the recovery's first step held the lock (the holder's "since")
    takeover = holder["since"] - kill["time"] if kill and holder.get("token") == recovery.token else None
    report = {"kill": kill, "killed_run": done, "recovery": steps_done, "takeover": takeover,
              "took_over": steps_done[0]["took_over"], "ok": len(steps_done) == len(steps)
              and not any(step["failed"] for step in steps_done)}
    print(json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "plant":
        plant()
    elif command == "unplant":
        unplant()
    elif command == "foreign":
        foreign()
    elif command == "modules":
        modules()
    elif command == "lock":
        print(out(["cat", LOCK]).strip())
    elif command == "state":
        sys.exit(state(sys.argv[2:]))
    elif command == "capture":
        sys.exit(capture(sys.argv[2], sys.argv[3]))
    elif command == "steps":
        with open(os.path.join(SETS, sys.argv[2] + ".json")) as handle:
            print(" / ".join(step["label"] for step in json.load(handle)))
    elif command == "round":
        sys.exit(replay(*sys.argv[2:7]))
