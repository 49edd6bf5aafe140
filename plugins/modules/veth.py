#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: veth
short_description: Manage a veth pair that plugs a network namespace into a bridge
version_added: 0.1.0
author: k8slab maintainers (@k8slab)
description:
  - Converges the cable of a pod in the tutorial, C(ip link add dev veth_adam type veth peer name veth_ns_adam),
    C(ip link set dev veth_adam master bridge_eden), C(ip link set dev veth_ns_adam netns netns_adam),
    both ends up and C(ip address add 10.0.0.11/24 dev veth_ns_adam) inside the namespace.
  - O(name) is the end that stays in the root namespace, optionally a port of O(bridge);
    O(peer) is the other end, optionally moved into O(netns) and given O(peer_addresses). Both ends are brought up.
  - Reads the current state with C(ip -json -details address show) in the root namespace and in the peer's
    namespace, changes only what differs and runs every command as an argument list.
  - A link called O(name) that is not a veth, or whose other end is not called O(peer), is an error; it
    is never deleted or replaced. So is an existing link called O(peer) where the new peer would go.
requirements:
  - A kernel with veth and bridge support; C(ip link set ... type bridge_slave hairpin) for O(hairpin).
options:
  name:
    description:
      - The end that stays in the root namespace, such as C(veth_adam). At most 15 characters.
      - Required unless O(pairs) is given; the two exclude each other.
    type: str
  peer:
    description:
      - The other end, such as C(veth_ns_adam). At most 15 characters. Required with O(name).
    type: str
  pairs:
    description:
      - The list form, many pairs converged in one run (one module process for all the pods of a node).
      - Each item is a pair as O(name), O(peer), O(netns) and O(peer_addresses) describe it; O(state), O(bridge),
        O(hairpin) and O(check_subnet) apply to every item.
      - O(name), O(peer), O(netns) and O(peer_addresses) are refused beside O(pairs) (an error, not ignored),
        since each describes one pair and belongs on an item.
      - Every item is checked before anything changes; then the items are converged in order, as a loop of
        the one-pair form would, and the same state is read only once until something changes.
    type: list
    elements: dict
    version_added: 0.2.0
    suboptions:
      name:
        description: The root-namespace end, as O(name).
        type: str
        required: true
      peer:
        description: The other end, as O(peer).
        type: str
        required: true
      netns:
        description: The namespace of the other end, as O(netns).
        type: str
      peer_addresses:
        description: The addresses of the other end, as O(peer_addresses).
        type: list
        elements: str
  state:
    description:
      - V(present) creates and configures the pair; V(absent) deletes it, from whichever end exists.
    type: str
    choices: [present, absent]
    default: present
  bridge:
    description:
      - A bridge in the root namespace that O(name) is attached to (C(ip link set dev NAME master BRIDGE)).
      - It must exist (see M(k8slab.kube_proxy.bridge)). When omitted, the port's master is left alone.
    type: str
  netns:
    description:
      - An existing namespace (see M(k8slab.kube_proxy.netns)) that O(peer) lives in.
      - When omitted, O(peer) stays in the root namespace. A peer found in another named namespace is
        moved into O(netns); moving it back to the root namespace is refused (delete the pair instead).
    type: str
  peer_addresses:
    description:
      - The exact set of scope-global addresses of O(peer), with prefix length, such as C(10.0.0.11/24).
        Missing ones are added, others removed. When omitted, the peer's addresses are left alone.
    type: list
    elements: str
  hairpin:
    description:
      - Hairpin mode of the bridge port O(name), which lets a packet leave through the port it came in
        (a pod reaching itself through a Service). Needs O(name) to be a bridge port.
    type: bool
    default: false
  check_subnet:
    description:
      - With O(bridge) and O(peer_addresses), require every peer address to lie in the subnet of one of
        the bridge's addresses and to differ from them, so a typo cannot cut a pod off its gateway.
    type: bool
    default: true
attributes:
  diff_mode:
    description: Shows both ends (namespace, bridge, hairpin, up states, peer addresses) before and after.
extends_documentation_fragment:
  - k8slab.kube_proxy.iproute
  - k8slab.kube_proxy.iproute.check_mode_ahead
  - k8slab.kube_proxy.attributes
seealso:
  - module: k8slab.kube_proxy.bridge
  - module: k8slab.kube_proxy.netns
  - module: k8slab.kube_proxy.route
"""

EXAMPLES = r"""
# test: needs bridge-and-namespaces - bridge_eden and the namespaces netns_adam and netns_eve

- name: Plug pod adam into the bridge, as the tutorial does
  k8slab.kube_proxy.veth:
    name: veth_adam
    peer: veth_ns_adam
    bridge: bridge_eden
    netns: netns_adam
    peer_addresses:
      - 10.0.0.11/24

- name: Let a pod reach itself through its Service (hairpin on the host-side port)
  k8slab.kube_proxy.veth:
    name: veth_eve
    peer: veth_ns_eve
    bridge: bridge_eden
    netns: netns_eve
    peer_addresses: [10.0.0.21/24]
    hairpin: true

- name: Plug both of the tutorial's pods in one run
  k8slab.kube_proxy.veth:
    pairs:
      - {name: veth_adam, peer: veth_ns_adam, netns: netns_adam, peer_addresses: [10.0.0.11/24]}
      - {name: veth_eve, peer: veth_ns_eve, netns: netns_eve, peer_addresses: [10.0.0.21/24]}
    bridge: bridge_eden

- name: Unplug pod adam
  k8slab.kube_proxy.veth:
    name: veth_adam
    peer: veth_ns_adam
    netns: netns_adam
    state: absent
"""

RETURN = r"""
veth:
  description: The pair after the module ran (predicted in check mode).
  returned: when O(name) is given
  type: dict
  contains:
    name:
      description: The root-namespace end.
      type: str
      sample: veth_adam
    peer:
      description: The other end.
      type: str
      sample: veth_ns_adam
    exists:
      description: Whether the pair exists.
      type: bool
      sample: true
    netns:
      description: The namespace of the peer, null for the root namespace.
      type: str
      sample: netns_adam
    bridge:
      description: The bridge O(name) is a port of, null if none.
      type: str
      sample: bridge_eden
    hairpin:
      description: Hairpin mode of the bridge port.
      type: bool
      sample: false
    up:
      description: Whether O(name) is administratively up.
      type: bool
      sample: true
    peer_up:
      description: Whether O(peer) is administratively up.
      type: bool
      sample: true
    peer_addresses:
      description: The peer's scope-global addresses.
      type: list
      elements: str
      sample: ["10.0.0.11/24"]
  sample:
    name: veth_adam
    peer: veth_ns_adam
    exists: true
    netns: netns_adam
    bridge: bridge_eden
    hairpin: false
    up: true
    peer_up: true
    peer_addresses: ["10.0.0.11/24"]
pairs:
  description: With O(pairs), the RV(veth) of every item, in order.
  returned: when O(pairs) is given
  type: list
  elements: dict
  version_added: 0.2.0
  sample: [{name: veth_adam, peer: veth_ns_adam, exists: true, netns: netns_adam, bridge: bridge_eden, hairpin: false,
            up: true, peer_up: true, peer_addresses: ["10.0.0.11/24"]}]
commands:
  description: The C(ip) commands run (or, in check mode, that would run), each an argument list.
  returned: always
  type: list
  elements: list
  sample: [["/usr/sbin/ip", "link", "add", "dev", "veth_adam", "type", "veth", "peer", "name", "veth_ns_adam", "netns", "netns_adam"],
           ["/usr/sbin/ip", "link", "set", "dev", "veth_adam", "master", "bridge_eden"],
           ["/usr/sbin/ip", "link", "set", "dev", "veth_adam", "up"],
           ["/usr/sbin/ip", "-n", "netns_adam", "link", "set", "dev", "veth_ns_adam", "up"],
           ["/usr/sbin/ip", "-n", "netns_adam", "address", "add", "10.0.0.11/24", "dev", "veth_ns_adam"]]
diff:
  description: Before and after state of the pair, with C(--diff).
  returned: when diff mode is on
  type: dict
  sample:
    before: {name: veth_adam, peer: veth_ns_adam, exists: true, netns: netns_adam, bridge: bridge_eden,
             hairpin: false, up: false, peer_up: true, peer_addresses: []}
    after: {name: veth_adam, peer: veth_ns_adam, exists: true, netns: netns_adam, bridge: bridge_eden,
            hairpin: false, up: true, peer_up: true, peer_addresses: ["10.0.0.11/24"]}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.k8slab.kube_proxy.plugins.module_utils.iproute import Ip, ListForm, ValidationError
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.netlink_objects import (
    converge_veth, validate_veth as validate)


def identity(item):
    """Each end of a pair once: the root end by name, the other end by namespace and name."""
    netns = item["netns"]
    return [("name %s" % item["name"], (None, item["name"])),
            ("peer %s%s" % (item["peer"], " in namespace %s" % netns if netns else ""), (netns, item["peer"]))]


# The list form's contract: an item is a pair; bridge, hairpin, check_subnet and state apply to every pair.
PAIRS = ListForm("pairs", ("name", "peer", "netns", "peer_addresses"), identity=identity)


def diffable(changed, after, before):
    return changed, after, before, after


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str"),
            peer=dict(type="str"),
            pairs=dict(type="list", elements="dict", options=dict(
                name=dict(type="str", required=True),
                peer=dict(type="str", required=True),
                netns=dict(type="str"),
                peer_addresses=dict(type="list", elements="str"),
            )),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            bridge=dict(type="str"),
            netns=dict(type="str"),
            peer_addresses=dict(type="list", elements="str"),
            hairpin=dict(type="bool", default=False),
            check_subnet=dict(type="bool", default=True),
        ),
        required_one_of=[("name", "pairs")],
        supports_check_mode=True,
    )
    params = module.params
    if params["pairs"] is not None:
        result = PAIRS.run(module, validate, lambda *args: diffable(*converge_veth(*args)))[0]
        module.exit_json(**result)
    try:
        if params["peer"] is None:
            raise ValidationError("peer is required with name")
        addresses = validate(params)
    except ValidationError as exc:
        module.fail_json(msg=str(exc), commands=[])
    ip = Ip(module)
    changed, after, before = converge_veth(module, ip, params, addresses)
    result = dict(changed=changed, veth=after, commands=ip.commands)
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
