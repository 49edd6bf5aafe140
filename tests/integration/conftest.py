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
        result = subprocess.run(self.argv(argv), capture_output=True, text=True, input=input)
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
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
                   ANSIBLE_STDOUT_CALLBACK="task_results",
                   ANSIBLE_CALLBACK_PLUGINS=os.path.join(REPO, "tests", "integration", "callback_plugins"),
                   ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
                   PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
        argv = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local",
                "-e", "ansible_python_interpreter=%s" % sys.executable, path]
        if check:
            argv.append("--check")
        if diff:
            argv.append("--diff")
        argv.extend(extra_args)
        result = subprocess.run(self.argv(argv), capture_output=True, text=True, env=env, cwd=REPO)
        try:
            report = json.loads(result.stdout)
        except ValueError:
            raise AssertionError("ansible-playbook printed no JSON (rc %d):\n%s\n%s"
                                 % (result.returncode, result.stdout, result.stderr))
        tasks_out = report
        failed = result.returncode != 0
        if failed != expect_failure:
            raise AssertionError("ansible-playbook rc %d (expect_failure=%s):\n%s"
                                 % (result.returncode, expect_failure, json.dumps(tasks_out, indent=1)))
        return tasks_out

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


@pytest.fixture
def sandbox():
    if os.geteuid() != 0:
        pytest.skip("integration tests need root (they run in throwaway namespaces)")
    if not shutil.which("unshare") or not shutil.which("nsenter"):
        pytest.skip("unshare/nsenter missing (util-linux)")
    created_etc_netns = not os.path.isdir("/etc/netns")
    if created_etc_netns:
        os.makedirs("/etc/netns")  # an empty mount point; removed again below
    tmpdir = tempfile.mkdtemp(prefix="k8slab-it-")
    box = Sandbox(tmpdir)
    try:
        yield box
    finally:
        box.close()
        shutil.rmtree(tmpdir, ignore_errors=True)
        if created_etc_netns:
            try:
                os.rmdir("/etc/netns")
            except OSError:
                pass
