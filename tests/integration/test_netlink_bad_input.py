# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bad input to the netlink modules: a clear error, and nothing changed, on top of the tutorial's pod network."""

from __future__ import annotations

import json
import os

import yaml

from conftest import REPO, run_playbook_file, settled_netlink_state

PLAYBOOK = os.path.join(REPO, "tests", "integration", "playbooks", "tutorial_pod_network.yml")
VETH = {"name": "veth_adam", "peer": "veth_ns_adam", "bridge": "bridge_eden", "netns": "netns_adam",
        "peer_addresses": ["10.0.0.11/24"]}

# (module, arguments, a piece of the expected error message)
CASES = [
    ("netns", {"name": "netns/adam"}, "is not a legal namespace name"),
    ("netns", {"name": "netns_adam", "nameservers": ["dns.google"]}, "nameserver 'dns.google' is not a valid"),
    ("netns", {"name": "netns_adam", "state": "absent"}, "still has processes"),
    ("bridge", {"name": "bridge_eden_long"}, "is 16 characters long; Linux allows at most 15"),
    ("bridge", {"name": "bridge eden"}, "has illegal characters"),
    ("bridge", {"name": "bridge_eden", "addresses": ["10.0.0.1"]}, "needs a prefix length"),
    ("bridge", {"name": "bridge_eden", "addresses": ["10.0.0.300/24"]}, "is not a valid address"),
    ("bridge", {"name": "veth_adam"}, "is a veth, not a bridge"),
    ("bridge", {"name": "bridge_eden", "up": "maybe"}, "up"),
    ("bridge", {"name": "bridge_eden", "colour": "red"}, "Unsupported parameters"),
    ("veth", dict(VETH, netns="netns_nobody"), "namespace netns_nobody does not exist"),
    ("veth", dict(VETH, bridge="bridge_nowhere"), "bridge bridge_nowhere does not exist"),
    ("veth", dict(VETH, peer_addresses=["10.0.1.11/24"]), "is not in the subnet of bridge bridge_eden (10.0.0.0/24)"),
    ("veth", dict(VETH, peer_addresses=["10.0.0.1/24"]), "is the address of bridge bridge_eden itself"),
    ("veth", dict(VETH, peer="veth_ns_eve"), "its other end is veth_ns_adam in namespace netns_adam, not veth_ns_eve"),
    ("veth", dict(VETH, name="bridge_eden", bridge=None), "is a bridge, not a veth"),
    ("veth", {"name": "veth_new", "peer": "veth_ns_eve", "netns": "netns_eve"},
     "a link named veth_ns_eve already exists in namespace netns_eve"),
    ("veth", {"name": "veth_new", "peer": "veth_new_peer", "hairpin": True}, "hairpin needs veth_new to be a bridge port"),
    ("route", {"netns": "netns_adam", "gateway": "gateway"}, "gateway 'gateway' is not a valid"),
    ("route", {"destination": "10.96.0.1/12", "gateway": "10.0.0.11"}, "host bits must be zero"),
    ("route", {"netns": "netns_nobody", "gateway": "10.0.0.1"}, "namespace netns_nobody does not exist"),
    ("route", {"netns": "netns_adam", "gateway": "fd00::1", "destination": "10.96.0.0/12"}, "is IPv6 but destination"),
    ("route", {"netns": "netns_adam"}, "needs a gateway, a device or both"),
    ("route", {"netns": "netns_adam", "gateway": "10.0.0.1", "device": "eth9"}, "device eth9 does not exist"),
]


def test_bad_input_fails_clearly_and_changes_nothing(sandbox):
    run_playbook_file(sandbox, PLAYBOOK)
    sleeper = sandbox.run(["sh", "-c", "ip netns exec netns_adam sleep 600 >/dev/null 2>&1 & echo $!"]).stdout.strip()
    try:
        before = settled_netlink_state(sandbox)
        tasks = [{"name": "bad %d" % number, "k8slab.kube_proxy.%s" % module: args, "ignore_errors": True}
                 for number, (module, args, _message) in enumerate(CASES)]
        results = sandbox.playbook(yaml.safe_dump(tasks, sort_keys=False))
        assert len(results) == len(CASES)
        for (module, args, message), result in zip(CASES, results):
            assert result["_status"] == "failed", (module, args, json.dumps(result))
            assert message in result["msg"], (module, args, result["msg"])
            assert not result.get("commands"), (module, args, result.get("commands"))
        assert settled_netlink_state(sandbox) == before
    finally:
        sandbox.run(["kill", sleeper], check=False)
