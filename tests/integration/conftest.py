# SPDX-License-Identifier: GPL-3.0-or-later
"""Throwaway sandboxes for module integration tests.

Every test gets its own network *and* mount namespace, held open by a sleeping
process: links, routes, iptables rules, `ip netns` entries (/run/netns) and
/etc/netns files made inside it vanish with it, and the host's root network
namespace is never touched. Needs root; the tests are skipped without it.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)

# Runs inside the new namespaces: private /run (so /run/netns and the xtables
# lock are ours) and a private /etc/netns, then waits to be killed.
_SETUP = textwrap.dedent("""\
    set -e
    mount --make-rprivate /
    mount -t tmpfs -o mode=755 sandbox-run /run
    mkdir -p /run/netns /run/lock
    mount -t tmpfs -o mode=755 sandbox-etc-netns /etc/netns
    ip link set lo up
    echo ready
    exec sleep infinity
""")


class Sandbox:
    """A network + mount namespace pair held open by a sleeping process."""

    def __init__(self, tmpdir):
        self.tmpdir = tmpdir
        self.proc = subprocess.Popen(
            ["unshare", "--net", "--mount", "--", "sh", "-c", _SETUP],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError("sandbox did not start: %s" % self.proc.stderr.read())

    def argv(self, argv):
        return ["nsenter", "--target", str(self.proc.pid), "--net", "--mount", "--"] + list(argv)

    def run(self, argv, check=True, input=None):
        """Run a command inside the sandbox; returns CompletedProcess with text output."""
        result = subprocess.run(self.argv(argv), capture_output=True, text=True, input=input, check=False)
        if check and result.returncode != 0:
            raise AssertionError("%s failed (%d):\n%s\n%s" % (argv, result.returncode, result.stdout, result.stderr))
        return result

    def ip_json(self, *args):
        return json.loads(self.run(["ip", "-json"] + list(args)).stdout or "[]")

    def playbook(self, tasks, check=False, diff=False, extra_args=(), expect_failure=False):
        """Run `tasks` (a YAML string of a task list) on localhost inside the sandbox.

        Returns the list of task results (dicts with `changed`, `failed`, `msg`,
        `diff`, ... plus `_task` and `_status`), in the order the tasks ran.
        """
        path = os.path.join(self.tmpdir, "play.yml")
        with open(path, "w") as handle:
            handle.write("- hosts: localhost\n  gather_facts: false\n  tasks:\n")
            handle.write(textwrap.indent(textwrap.dedent(tasks), "    "))
        return self.playbook_file(path, check=check, diff=diff, extra_args=extra_args,
                                  expect_failure=expect_failure)

    def playbook_file(self, path, check=False, diff=False, extra_args=(), expect_failure=False):
        """Run a playbook file whose plays target localhost (or `all`) inside the sandbox.

        Returns the list of task results, as `playbook` does.
        """
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
                   ANSIBLE_STDOUT_CALLBACK="task_results",
                   ANSIBLE_CALLBACK_PLUGINS=os.path.join(REPO, "tests", "integration", "callback_plugins"),
                   ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
                   PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
        argv = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local",
                "-e", "ansible_python_interpreter=%s" % sys.executable, path]
        argv += ["--check"] if check else []
        argv += ["--diff"] if diff else []
        argv.extend(extra_args)
        result = subprocess.run(self.argv(argv), capture_output=True, text=True, env=env, cwd=REPO, check=False)
        try:
            report = json.loads(result.stdout)
        except ValueError:
            raise AssertionError("ansible-playbook printed no JSON (rc %d):\n%s\n%s"
                                 % (result.returncode, result.stdout, result.stderr))
        if (result.returncode != 0) != expect_failure:
            raise AssertionError("ansible-playbook rc %d (expect_failure=%s):\n%s"
                                 % (result.returncode, expect_failure, json.dumps(report, indent=1)))
        return report

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


# The sandboxes mount their private /etc/netns on the host's /etc/netns, so it
# must exist. The controlling pytest process makes it once, before any test
# (or any pytest-xdist worker) starts, and removes it after the last one ended
# if it made it: a worker removing it could detach another worker's mount.
_MADE_ETC_NETNS = "k8slab_made_etc_netns"


def pytest_configure(config):
    if hasattr(config, "workerinput") or os.geteuid() != 0 or os.path.isdir("/etc/netns"):
        return
    os.makedirs("/etc/netns")  # an empty mount point
    setattr(config, _MADE_ETC_NETNS, True)


def pytest_unconfigure(config):
    if getattr(config, _MADE_ETC_NETNS, False):
        try:
            os.rmdir("/etc/netns")
        except OSError:
            pass


@pytest.fixture
def sandbox():
    if os.geteuid() != 0:
        pytest.skip("integration tests need root (they run in throwaway namespaces)")
    if not shutil.which("unshare") or not shutil.which("nsenter"):
        pytest.skip("unshare/nsenter missing (util-linux)")
    if not os.path.isdir("/etc/netns"):
        pytest.fail("/etc/netns is missing: give pytest tests/integration or a file in it, so that this conftest "
                    "makes it before the first test")
    tmpdir = tempfile.mkdtemp(prefix="k8slab-it-")
    box = Sandbox(tmpdir)
    try:
        yield box
    finally:
        box.close()
        shutil.rmtree(tmpdir, ignore_errors=True)


# Helpers for the netlink module tests (netns, bridge, veth, route) -------------------

def run_playbook_file(box, path, check=False, diff=False, expect_failure=False):
    """Like Sandbox.playbook, for a whole playbook file whose plays target `all` (here: localhost)."""
    return box.playbook_file(path, check=check, diff=diff, expect_failure=expect_failure)


# Keys of `ip -json -details` output that differ between two identical setups: kernel-chosen
# indexes and ids, MAC addresses and everything derived from them, timers and counters.
_VOLATILE_KEYS = {"ifindex", "link_index", "link_netnsid", "address", "perm_address", "bridge_id", "root_id",
                  "designated_root", "designated_bridge", "stats", "stats64", "valid_life_time",
                  "preferred_life_time", "parentbus", "parentdev"}


def _normalize(value):
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if key in _VOLATILE_KEYS or key.endswith("_timer"):
                continue
            result[key] = _normalize(item)
        if result.get("family") == "inet6" and result.get("scope") == "link" and "local" in value:
            result["local"] = "<link-local>"  # derived from the random MAC
        if str(result.get("dst", "")).startswith("fe80::") and "/" not in result["dst"]:
            result["dst"] = "<link-local>"  # the local route to that address
        return result
    if isinstance(value, list):
        return [_normalize(item) for item in value]
    return value


def netlink_state(box):
    """Everything the netlink modules manage in a sandbox, normalized so two identical setups compare equal.

    {"netns": [names], "root": {...}, "netns_adam": {...}, "etc_netns": {path: (mode, text)}}, where each
    namespace has `links` (`ip -json -details address show`, sorted by name) and `routes` (IPv4 and IPv6).
    """
    def routes(prefix, family):
        found = _normalize(box.ip_json(*(prefix + [family, "route", "show", "table", "all"])))
        return sorted(found, key=lambda route: json.dumps(route, sort_keys=True))  # kernel order follows timing

    def one(netns):
        prefix = ["-n", netns] if netns else []
        links = box.ip_json(*(prefix + ["-details", "address", "show"]))
        return {"links": sorted(_normalize(links), key=lambda link: link["ifname"]),
                "routes4": routes(prefix, "-4"), "routes6": routes(prefix, "-6")}

    names = sorted(entry["name"] for entry in box.ip_json("netns", "list"))
    state = {"netns": names, "root": one(None)}
    for name in names:
        state[name] = one(name)
    listing = box.run(["find", "/etc/netns", "-mindepth", "1", "-printf", "%P %y %m\\n"]).stdout.split("\n")
    files = {}
    for line in sorted(filter(None, listing)):
        path, kind, mode = line.split(" ")
        text = box.run(["cat", "/etc/netns/" + path]).stdout if kind == "f" else None
        files[path] = (kind, mode, text)
    state["etc_netns"] = files
    return state


def settled_netlink_state(box, attempts=60):
    """netlink_state once it stops moving: no tentative IPv6 address (DAD), same snapshot twice in a row."""
    import time
    previous = None
    for _attempt in range(attempts):
        state = netlink_state(box)
        if state == previous and "tentative" not in json.dumps(state):
            return state
        previous = state
        time.sleep(0.5)
    return previous


def pytest_terminal_summary(terminalreporter):
    """Print what tests put in user_properties as ("listed", line): what they did not run, and why."""
    lines = [value for report in terminalreporter.getreports("passed") + terminalreporter.getreports("failed")
             + terminalreporter.getreports("skipped")
             for name, value in getattr(report, "user_properties", []) if name == "listed"]
    if lines:
        terminalreporter.section("not run, with the reason each example gives")
        for line in dict.fromkeys(lines):
            terminalreporter.line(line)
