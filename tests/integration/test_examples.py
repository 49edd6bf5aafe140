# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Done when: every playbook in examples/ runs, converges, is idempotent and undoes itself.

Each runs in a throwaway network and mount namespace (the sandbox fixture), where
its guard (examples/tasks/refuse_real_host.yml) finds only lo and lets it run.
"""

from __future__ import annotations

import glob
import json
import os

import pytest

from conftest import REPO, settled_netlink_state

EXAMPLES = os.path.join(REPO, "examples")
STATE_DIR = "/run/k8slab/iptables_chains"  # the sandbox's private /run

# What Docker 2x writes to a host with its default bridge: chains of its own and
# jumps from the built-in chains, which the firewall example must leave alone.
DOCKER_RULES = """\
*filter
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
COMMIT
*nat
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
COMMIT
"""


def example(name):
    return os.path.join(EXAMPLES, name)


def run(box, name, *args, expect_failure=False):
    """Run examples/NAME inside the sandbox; the tests are root already (and sudo may be missing)."""
    return box.playbook_file(example(name), extra_args=["-e", "ansible_become=false"] + list(args),
                             expect_failure=expect_failure)


def rules(box):
    """iptables-save of filter and nat, without counters and comment lines."""
    lines = []
    for table in ("filter", "nat"):
        out = box.run(["iptables-save", "-t", table]).stdout
        lines += [line for line in out.splitlines() if not line.startswith("#")]
    return [line.split(" [")[0] if line.startswith(":") else line for line in lines]


def changed(results):
    return [result["_task"] for result in results if result.get("changed")]


def test_every_example_is_tested():
    tested = {"firewall_chains.yml", "two_namespaces.yml", "my_lab.yml"}
    playbooks = {os.path.basename(path) for path in glob.glob(os.path.join(EXAMPLES, "*.yml"))}
    assert playbooks - {"execution-environment.yml", "ee-requirements.yml", "requirements.yml"} == tested


def test_examples_refuse_a_namespace_with_real_interfaces(sandbox):
    sandbox.run(["ip", "link", "add", "guard0", "type", "veth", "peer", "name", "guard1"])
    for name in ("firewall_chains.yml", "two_namespaces.yml", "my_lab.yml"):
        results = run(sandbox, name, expect_failure=True)
        failed = [result for result in results if result["_status"] == "failed"]
        assert failed and "interfaces other than lo" in failed[0]["msg"], name
    assert rules(sandbox)[:3] == ["*filter", ":INPUT ACCEPT", ":FORWARD ACCEPT"]
    assert "FW-INPUT" not in json.dumps(rules(sandbox))


def test_firewall_chains_beside_docker(sandbox):
    sandbox.run(["iptables-restore", "--noflush"], input=DOCKER_RULES)
    docker = rules(sandbox)
    args = ["-e", "firewall_state_dir=%s" % STATE_DIR]

    first = run(sandbox, "firewall_chains.yml", *args)
    assert len(changed(first)) == 1, json.dumps(first, indent=1)
    after = rules(sandbox)
    ours = [line for line in after if "FW-" in line]
    assert ours[0] == ":FW-CONTAINERS -" and ours[1] == ":FW-INPUT -", ours
    assert '-A INPUT -m comment --comment "host firewall" -j FW-INPUT' in ours
    assert after.index('-A DOCKER-USER -m comment --comment "host firewall" -j FW-CONTAINERS') \
        < after.index("-A DOCKER-USER -j RETURN")
    assert "-A FW-INPUT -p tcp -m tcp --dport 22 -j ACCEPT" in ours and ours[-1] == "-A FW-INPUT -j DROP"
    assert "-A FW-CONTAINERS -s 203.0.113.0/24 -j DROP" in ours
    # Docker's chains and rules, all of them and in their order.
    assert [line for line in after if "FW-" not in line] == docker

    second = run(sandbox, "firewall_chains.yml", *args)
    assert changed(second) == [], json.dumps(second, indent=1)
    assert rules(sandbox) == after

    run(sandbox, "firewall_chains.yml", *args, "-e", "firewall_state=absent")
    assert rules(sandbox) == docker


def test_two_namespaces(sandbox):
    empty = settled_netlink_state(sandbox)
    first = run(sandbox, "two_namespaces.yml")
    assert len(changed(first)) == 4, json.dumps(first, indent=1)  # bridge, netns, veth, route
    state = settled_netlink_state(sandbox)
    assert state["netns"] == ["ns_blue", "ns_red"]
    for netns, address in (("ns_red", "10.10.0.2/24"), ("ns_blue", "10.10.0.3/24")):
        routes = state[netns]["routes4"]
        assert any(route.get("dst") == "default" and route.get("gateway") == "10.10.0.1" for route in routes), routes
        addresses = [info["local"] + "/%d" % info["prefixlen"]
                     for link in state[netns]["links"] for info in link.get("addr_info", [])
                     if info.get("family") == "inet" and link["ifname"] != "lo"]
        assert addresses == [address], (netns, addresses)
    shown = [result for result in first if result["_task"] == "Print it"][0]
    assert "10.10.0.3 dev veth_red_ns src 10.10.0.2" in shown["msg"], shown

    # red reaches blue and the gateway: their MAC addresses are learnt.
    for peer in ("10.10.0.3", "10.10.0.1"):
        sandbox.run(["ip", "netns", "exec", "ns_red", "python3", "-c",
                     "import socket; s = socket.socket(); s.settimeout(2); s.connect_ex((%r, 9)); s.close()" % peer])
        neighbours = sandbox.ip_json("-n", "ns_red", "neigh", "show", peer)
        assert neighbours and neighbours[0].get("lladdr"), (peer, neighbours)

    second = run(sandbox, "two_namespaces.yml")
    assert changed(second) == [], json.dumps(second, indent=1)

    run(sandbox, "two_namespaces.yml", "-e", "two_namespaces_state=absent")
    assert settled_netlink_state(sandbox) == empty


@pytest.fixture
def lab_sandbox(sandbox):
    """The sandbox, with private /var/lib and /etc/sysctl.d, where the roles keep their records and files."""
    sysctl_d = os.path.join(sandbox.tmpdir, "sysctl.d")
    os.makedirs(sysctl_d)
    sandbox.run(["mount", "-t", "tmpfs", "-o", "mode=755", "sandbox-var-lib", "/var/lib"])
    sandbox.run(["mount", "--bind", sysctl_d, "/etc/sysctl.d"])
    sandbox.sysctl_d = sysctl_d
    return sandbox


def test_my_lab_roles(lab_sandbox):
    box = lab_sandbox
    empty_links, empty_rules = settled_netlink_state(box), rules(box)
    args = ["--skip-tags", "web_app"]
    first = run(box, "my_lab.yml", *args)
    assert changed(first), json.dumps(first, indent=1)

    state = settled_netlink_state(box)
    assert state["netns"] == ["netns_db", "netns_web1", "netns_web2", "netns_web3"]
    nat = box.run(["iptables-save", "-t", "nat"]).stdout
    for address in ("10.244.1.11", "10.244.1.12", "10.244.1.13"):
        assert "--to-destination %s:8080" % address in nat, nat
    assert "10.244.1.21" not in nat.replace("-s 10.244.1.0/24", "")  # db is in no Service
    assert "-d 10.96.10.10/32 -p tcp -m tcp --dport 80" in nat, nat
    assert box.run(["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout.strip() == "1"
    assert os.listdir(box.sysctl_d) == ["99-k8slab-ip_forward.conf"]

    second = run(box, "my_lab.yml", *args)
    assert changed(second) == [], json.dumps(second, indent=1)

    run(box, "my_lab.yml", *args, "-e", "my_lab_state=absent")
    assert settled_netlink_state(box) == empty_links
    assert rules(box) == empty_rules
    assert os.listdir(box.sysctl_d) == []
