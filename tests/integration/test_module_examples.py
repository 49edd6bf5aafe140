# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Done when: every module's EXAMPLES block runs, in order, and each task changes nothing the second time.

For each module under plugins/modules/ the test takes the EXAMPLES block, builds one playbook
of its tasks, each task followed at once by a copy of itself, and runs that playbook in a
throwaway sandbox (network + mount namespace, with private /var/lib, /var/cache, /usr/local/lib
and /etc/sysctl.d). Every task must succeed, and every copy must report changed=false. A task
in check mode changes nothing, so its copy must report what the task reported.

An example says what it needs in comments the test reads (the convention; the comments are
part of the EXAMPLES users see, so they say it in words a reader understands too):

    # test: needs NAME[, NAME...] - why     set-ups from SETUPS below, built before the play;
                                            some also give the play variables
    # test: once - why                      runs once; no second copy (it is not meant to repeat)
    # test: skip - why                      does not run here (say why: e.g. it needs systemd)

A `# test:` comment applies to the task right below it. Comments at the top of the block,
followed by a blank line, apply to every task of the module. Every skip and every `once` is
listed at the end of pytest's output ("not run, with the reason each example gives"); a skip
without a reason, an unknown need or an unknown `# test:` word fails.
"""

from __future__ import annotations

import ast
import glob
import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from conftest import REPO
from test_http_probe import SERVER  # answers {"message": "hello world from netns_adam namespace"}
from test_netlink_tutorial import run_tutorial
from test_packet_trace import PODS, build_node

MODULES = sorted(glob.glob(os.path.join(REPO, "plugins", "modules", "*.py")))
TEST_COMMENT = re.compile(r"^#\s*test:\s*(?P<word>\S+)\s*(?P<rest>.*)$")


def examples_text(path):
    """The EXAMPLES string of a module, read without importing it."""
    with open(path) as handle:
        tree = ast.parse(handle.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["EXAMPLES"]:
            return node.value.value
    raise AssertionError("%s has no EXAMPLES" % path)


def parse_directive(line):
    """('needs', ['a', 'b'], why) or ('once'|'skip', [], why) from a `# test:` comment line."""
    match = TEST_COMMENT.match(line.strip())
    word, rest = match.group("word"), match.group("rest")
    if word == "needs":
        names, _sep, why = rest.partition(" - ")
        return word, [name.strip() for name in names.split(",") if name.strip()], why.strip()
    if word in ("once", "skip"):
        why = rest[1:].strip() if rest.startswith("-") else ""
        if not why:
            raise AssertionError("'# test: %s' without a reason (write '# test: %s - why')" % (word, word))
        return word, [], why
    raise AssertionError("unknown '# test: %s' (use needs, once or skip)" % word)


def split_examples(text):
    """[(task_text, directives)] in order; directives of the block's head apply to every task."""
    tasks, pending, module_wide, started = [], [], [], False
    for line in text.splitlines():
        if line.startswith("- "):
            started = True
            tasks.append([[line], module_wide + pending])
            pending = []
        elif TEST_COMMENT.match(line.strip()):
            pending.append(parse_directive(line))
        elif not line.strip() and not started and pending:
            module_wide, pending = module_wide + pending, []
        elif tasks:
            tasks[-1][0].append(line)
    assert not pending, "a '# test:' comment after the last task"
    return [("\n".join(lines), directives) for lines, directives in tasks]


# ------------------------------------------------------------------ set-ups

def setup_tutorial_pods(box, workdir):
    """The tutorial's pod network by hand: bridge_eden 10.0.0.1/24, netns_adam 10.0.0.11, netns_eve 10.0.0.21."""
    run_tutorial(box)


def setup_bridge_and_namespaces(box, workdir):
    """bridge_eden (10.0.0.1/24, up) and the namespaces netns_adam and netns_eve, nothing plugged in yet."""
    for command in ("ip link add bridge_eden type bridge", "ip address add 10.0.0.1/24 dev bridge_eden",
                    "ip link set bridge_eden up", "ip netns add netns_adam", "ip netns add netns_eve"):
        box.run(command.split())


def setup_tutorial_node(box, workdir):
    """The tutorial's node: pods adam and eve answering on :8080, the Service's iptables chains, an uplink."""
    build_node(box, "iptables")
    servers = [subprocess.Popen(box.argv(["ip", "netns", "exec", "netns_" + name, sys.executable, "-c", SERVER]),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for name in sorted(PODS)]
    box.servers.extend(servers)
    for name, address in sorted(PODS.items()):
        box.run(["ip", "netns", "exec", "netns_" + name, sys.executable, "-c",
                 "import socket, time\nfor i in range(50):\n try:\n  socket.create_connection((%r, 8080), 1)"
                 ".close()\n  break\n except OSError:\n  time.sleep(0.1)" % address])


def setup_uplink(box, workdir):
    """An uplink with the node's address 192.0.2.2/24, so that gateways in 192.0.2.0/24 are reachable."""
    for command in ("ip link add uplink0 type veth peer name uplink1", "ip address add 192.0.2.2/24 dev uplink0",
                    "ip link set uplink0 up", "ip link set uplink1 up"):
        box.run(command.split())


def setup_kube_proxy_nft(box, workdir):
    """A file kube-proxy.nft next to the playbook (what the lookup reads): one chain of a table."""
    with open(os.path.join(workdir, "kube-proxy.nft"), "w") as handle:
        handle.write("chain services {\n  type nat hook prerouting priority dstnat; policy accept;\n}\n")


def setup_lab_filter_table(box, workdir):
    """A table inet lab-filter made by hand with nft (one chain), for the module to take over."""
    box.run(["nft", "add table inet lab-filter; add chain inet lab-filter input"])


def setup_web_app_binary(box, workdir):
    """A file build/web-app-arm64 next to the playbook: a stand-in for a cross-compiled program."""
    os.makedirs(os.path.join(workdir, "build"))
    with open(os.path.join(workdir, "build", "web-app-arm64"), "w") as handle:
        handle.write("#!/bin/sh\necho a stand-in for the web app\n")
    os.chmod(os.path.join(workdir, "build", "web-app-arm64"), 0o755)


def setup_lab_vars(box, workdir):
    """Variables: k8slab_pods (the tutorial's adam and eve), my_services and my_endpoint_slices (one Service)."""
    pods = [{"name": name, "address": address, "labels": {"component": "app"}} for name, address in sorted(PODS.items())]
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "app-service", "namespace": "default"},
               "spec": {"clusterIP": "10.96.0.1", "selector": {"component": "app"},
                        "ports": [{"name": "http", "protocol": "TCP", "port": 8080, "targetPort": 8080}]}}
    slice_ = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
              "metadata": {"name": "app-service-1", "namespace": "default",
                           "labels": {"kubernetes.io/service-name": "app-service"}},
              "addressType": "IPv4",
              "ports": [{"name": "http", "protocol": "TCP", "port": 8080}],
              "endpoints": [{"addresses": [address], "conditions": {"ready": True}}
                            for _name, address in sorted(PODS.items())]}
    return {"k8slab_pods": pods, "my_services": [service], "my_endpoint_slices": [slice_]}


def setup_model_file(box, workdir):
    """A file files/cluster-services.json next to the playbook: lab-vars' my_services and my_endpoint_slices."""
    model = setup_lab_vars(box, workdir)
    os.makedirs(os.path.join(workdir, "files"))
    with open(os.path.join(workdir, "files", "cluster-services.json"), "w") as handle:
        json.dump({"services": model["my_services"], "endpoint_slices": model["my_endpoint_slices"]}, handle)


def setup_run_token(box, workdir):
    """Variable: k8slab_run_token, the token a converge names itself by."""
    return {"k8slab_run_token": "examples-test-run"}


SETUPS = {
    "tutorial-pods": setup_tutorial_pods,
    "bridge-and-namespaces": setup_bridge_and_namespaces,
    "tutorial-node": setup_tutorial_node,
    "uplink": setup_uplink,
    "kube-proxy.nft": setup_kube_proxy_nft,
    "lab-vars": setup_lab_vars,
    "lab-filter-table": setup_lab_filter_table,
    "web-app-binary": setup_web_app_binary,
    "run-token": setup_run_token,
    "model-file": setup_model_file,
}


# ------------------------------------------------------------------ the test

def build_play(tasks):
    """The playbook's task list: each task, then its copy (unless once), and what to expect of each."""
    play, expect, listed = [], [], []
    for text, directives in tasks:
        task = yaml.safe_load(text)[0]
        words = {word: why for word, _names, why in directives}
        if "skip" in words:
            listed.append("skip %r: %s" % (task["name"], words["skip"]))
            continue
        play.append(task)
        expect.append(("first", task))
        if "once" in words:
            listed.append("once %r: %s" % (task["name"], words["once"]))
            continue
        again = dict(task, name="%s (second run)" % task["name"])
        play.append(again)
        expect.append(("again", task))
    return play, expect, listed


@pytest.fixture
def example_sandbox(sandbox):
    """The sandbox with private directories where modules keep records and files."""
    for directory in ("/var/lib", "/var/cache", "/usr/local/lib"):
        sandbox.run(["mount", "-t", "tmpfs", "-o", "mode=755", "sandbox-examples", directory])
    sysctl_d = os.path.join(sandbox.tmpdir, "sysctl.d")
    os.makedirs(sysctl_d)
    sandbox.run(["mount", "--bind", sysctl_d, "/etc/sysctl.d"])
    sandbox.servers = []
    try:
        yield sandbox
    finally:
        for server in sandbox.servers:
            server.kill()
            server.wait()


def test_the_convention_is_read():
    text = ("# test: skip - needs systemd\n\n- name: a\n  x: 1\n\n# test: needs uplink, lab-vars - gateways\n"
            "- name: b\n  y: 2\n# test: once - a fresh token\n- name: c\n  z: 3\n")
    tasks = split_examples(text)
    assert [directives for _text, directives in tasks] == [
        [("skip", [], "needs systemd")],
        [("skip", [], "needs systemd"), ("needs", ["uplink", "lab-vars"], "gateways")],
        [("skip", [], "needs systemd"), ("once", [], "a fresh token")]]
    with pytest.raises(AssertionError, match="without a reason"):
        split_examples("# test: skip\n- name: a\n")
    with pytest.raises(AssertionError, match="unknown"):
        split_examples("# test: maybe - later\n- name: a\n")


@pytest.mark.parametrize("path", MODULES, ids=[os.path.basename(path)[:-3] for path in MODULES])
def test_module_examples_run_twice(example_sandbox, path, record_property):
    box = example_sandbox
    tasks = split_examples(examples_text(path))
    assert tasks, "%s: EXAMPLES has no task" % path
    play, expect, listed = build_play(tasks)
    for line in listed:
        record_property("listed", "%s: %s" % (os.path.basename(path), line))
    if not play:
        pytest.skip("; ".join(listed))

    variables, built = {}, []
    for _text, directives in tasks:
        for word, names, _why in directives:
            for name in names if word == "needs" else []:
                assert name in SETUPS, "%s: unknown need %r (known: %s)" % (path, name, ", ".join(sorted(SETUPS)))
                if name not in built:
                    built.append(name)
                    variables.update(SETUPS[name](box, box.tmpdir) or {})
    vars_file = os.path.join(box.tmpdir, "vars.json")
    with open(vars_file, "w") as handle:
        json.dump(variables, handle)
    playbook = os.path.join(box.tmpdir, "examples.yml")
    with open(playbook, "w") as handle:
        yaml.safe_dump([{"name": "EXAMPLES of " + os.path.basename(path), "hosts": "localhost",
                         "gather_facts": False, "tasks": play}], handle, sort_keys=False)

    results = box.playbook_file(playbook, extra_args=["-e", "@" + vars_file])
    ran = [result for result in results if result["_status"] != "skipped"]
    assert len(ran) == len(expect), json.dumps(results, indent=1)
    first = {}
    for result, (kind, task) in zip(ran, expect):
        assert result["_status"] in ("ok", "changed"), json.dumps(result, indent=1)
        if kind == "first":
            first[task["name"]] = result.get("changed", False)
        elif task.get("check_mode"):
            assert result.get("changed", False) == first[task["name"]], json.dumps(result, indent=1)
        else:
            assert not result.get("changed"), "the second run of %r changed:\n%s" % (
                task["name"], json.dumps(result, indent=1))
