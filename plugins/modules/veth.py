#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

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

from ansible_collections.k8slab.kube_proxy.plugins.module_utils.iproute import (
    Ip, ValidationError, apply_and_replan, check_in_subnets, global_addresses, hairpin, is_up, link_by_index, link_by_name,
    link_kind, netns_by_id, netns_names, normalize_cidrs, plan_addresses, validate_ifname, validate_netns_name)

UNNAMED = object()  # the peer lives in a namespace that `ip netns list` does not name


def validate(params):
    """Check the arguments; return the normalized peer addresses (None: leave them alone)."""
    validate_ifname(params["name"], "veth name")
    validate_ifname(params["peer"], "veth peer name")
    if params["bridge"] is not None:
        validate_ifname(params["bridge"], "bridge name")
        if params["bridge"] in (params["name"], params["peer"]):
            raise ValidationError("bridge %s cannot be an end of the veth pair itself" % params["bridge"])
    if params["netns"] is not None:
        validate_netns_name(params["netns"])
    elif params["name"] == params["peer"]:
        raise ValidationError("name and peer are both %s; two links in the root namespace need different names"
                              % params["name"])
    if params["peer_addresses"] is None:
        return None
    return normalize_cidrs(params["peer_addresses"], "peer address")


def read_world(ip, params):
    """Everything the planner needs: root links, named namespaces, links of the namespaces involved."""
    netns_list = ip.netns_list()
    world = {"root": ip.links(), "netns_list": netns_list, "links": {}}
    names = netns_names(netns_list)
    wanted = set()
    if params["netns"] in names:
        wanted.add(params["netns"])
    link = link_by_name(world["root"], params["name"])
    if link is not None and "link_netnsid" in link:
        other = netns_by_id(netns_list, link["link_netnsid"])
        if other is not None:
            wanted.add(other)
    for netns in sorted(wanted):
        world["links"][netns] = ip.links(netns)
    return world


def find_peer(link, world):
    """(namespace name, None for root or UNNAMED; peer link or None) of the veth end ``link`` in the root namespace."""
    if "link_netnsid" in link:
        netns = netns_by_id(world["netns_list"], link["link_netnsid"])
        if netns is None:
            return UNNAMED, None
        return netns, link_by_index(world["links"].get(netns), link.get("link_index"))
    peer = link_by_index(world["root"], link["link_index"]) if "link_index" in link else None
    if peer is None and link.get("link"):
        peer = link_by_name(world["root"], link["link"])
    return None, peer


def veth_state(params, link=None, netns=None, peer_link=None):
    if link is None:
        return {"name": params["name"], "peer": params["peer"], "exists": False, "netns": None, "bridge": None,
                "hairpin": False, "up": False, "peer_up": False, "peer_addresses": []}
    return {"name": params["name"], "peer": params["peer"], "exists": True, "netns": netns,
            "bridge": link.get("master"), "hairpin": hairpin(link), "up": is_up(link),
            "peer_up": bool(peer_link and is_up(peer_link)), "peer_addresses": global_addresses(peer_link)}


def resolve_existing(params, link, world):
    """Check that ``link`` is our veth and return (peer namespace, peer link)."""
    name, peer = params["name"], params["peer"]
    if link_kind(link) != "veth":
        raise ValidationError("link %s exists but is a %s, not a veth; refusing to touch it"
                              % (name, link_kind(link) or "plain device"))
    netns, peer_link = find_peer(link, world)
    if netns is UNNAMED:
        raise ValidationError("veth %s has its other end in a namespace without a name in `ip netns list` "
                              "(a container?); refusing to touch it" % name)
    if peer_link is None:
        raise ValidationError("cannot find the other end of veth %s" % name)
    if peer_link.get("ifname") != peer:
        raise ValidationError("veth %s exists but its other end is %s%s, not %s; refusing to touch it"
                              % (name, peer_link.get("ifname"), " in namespace %s" % netns if netns else "", peer))
    return netns, peer_link


def plan_absent(params, world):
    name, peer, netns = params["name"], params["peer"], params["netns"]
    link = link_by_name(world["root"], name)
    if link is not None:
        resolve_existing(params, link, world)
        return [(None, ["link", "del", "dev", name])]
    if netns is not None and netns not in netns_names(world["netns_list"]):
        return []
    peer_link = link_by_name(world["root"] if netns is None else world["links"].get(netns), peer)
    if peer_link is None:
        return []
    if link_kind(peer_link) != "veth":
        raise ValidationError("link %s exists but is a %s, not a veth; refusing to delete it"
                              % (peer, link_kind(peer_link) or "plain device"))
    if netns is not None:
        # Its other end sits in the root namespace under another name: not our pair.
        other = link_by_index(world["root"], peer_link.get("link_index"))
        if other is not None and link_kind(other) == "veth" and other.get("link_index") == peer_link.get("ifindex"):
            raise ValidationError("veth %s in namespace %s belongs to %s, not %s; refusing to delete it"
                                  % (peer, netns, other.get("ifname"), name))
    return [(netns, ["link", "del", "dev", peer])]


def plan_present(params, addresses, world, check_mode):
    """Return (steps, predicted after-state, warnings)."""
    name, peer, netns, bridge = params["name"], params["peer"], params["netns"], params["bridge"]
    warnings = []
    root = world["root"]
    target_links = root if netns is None else world["links"].get(netns, [])
    if netns is not None and netns not in netns_names(world["netns_list"]):
        message = "namespace %s does not exist; create it first (k8slab.kube_proxy.netns)" % netns
        if not check_mode:
            raise ValidationError(message)
        warnings.append(message + "; assuming an earlier task would have")
        target_links = []
    bridge_link = None
    if bridge is not None:
        bridge_link = link_by_name(root, bridge)
        if bridge_link is None:
            message = "bridge %s does not exist; create it first (k8slab.kube_proxy.bridge)" % bridge
            if not check_mode:
                raise ValidationError(message)
            warnings.append(message + "; assuming an earlier task would have")
        elif link_kind(bridge_link) != "bridge":
            raise ValidationError("link %s is a %s, not a bridge" % (bridge, link_kind(bridge_link) or "plain device"))
    if params["check_subnet"] and bridge_link is not None and addresses:
        check_in_subnets(addresses, global_addresses(bridge_link), "peer address", "bridge %s" % bridge)

    link = link_by_name(root, name)
    steps = []
    if link is None:
        if link_by_name(target_links, peer) is not None:
            raise ValidationError("%s does not exist but a link named %s already exists in %s; refusing to touch it"
                                  % (name, peer, "namespace %s" % netns if netns else "the root namespace"))
        args = ["link", "add", "dev", name, "type", "veth", "peer", "name", peer]
        if netns is not None:
            args += ["netns", netns]  # born inside the namespace: its name never clashes in the root namespace
        steps.append((None, args))
        current = veth_state(params)
        current["netns"] = netns
    else:
        current_ns, peer_link = resolve_existing(params, link, world)
        current = veth_state(params, link, current_ns, peer_link)
        if current_ns != netns:
            if netns is None:
                raise ValidationError("the peer %s is in namespace %s; moving it back to the root namespace is not "
                                      "supported: set netns, or delete the pair (state=absent)" % (peer, current_ns))
            if link_by_name(target_links, peer) is not None:
                raise ValidationError("namespace %s already has a link named %s" % (netns, peer))
            steps.append((current_ns, ["link", "set", "dev", peer, "netns", netns]))
            current.update(netns=netns, peer_up=False, peer_addresses=[])  # a move flushes both
    after = dict(current, exists=True)

    if bridge is not None and current["bridge"] != bridge:
        steps.append((None, ["link", "set", "dev", name, "master", bridge]))
        current["hairpin"] = False  # a new port starts with the bridge's defaults
        after["bridge"] = bridge
    if after["bridge"] is not None:
        if params["hairpin"] != current["hairpin"]:
            steps.append((None, ["link", "set", "dev", name, "type", "bridge_slave",
                                 "hairpin", "on" if params["hairpin"] else "off"]))
        after["hairpin"] = params["hairpin"]
    elif params["hairpin"]:
        raise ValidationError("hairpin needs %s to be a bridge port; give bridge" % name)
    if not current["up"]:
        steps.append((None, ["link", "set", "dev", name, "up"]))
    if not current["peer_up"]:
        steps.append((netns, ["link", "set", "dev", peer, "up"]))
    after.update(up=True, peer_up=True)
    if addresses is not None:
        steps += plan_addresses(current["peer_addresses"], addresses, peer, netns)
        after["peer_addresses"] = list(addresses)
    return steps, after, warnings


def plan_veth(params, addresses, world, check_mode=False):
    """Return (steps, before, after, warnings); raise ValidationError for input or state we refuse."""
    link = link_by_name(world["root"], params["name"])
    before = veth_state(params)
    if link is not None and link_kind(link) == "veth":
        netns, peer_link = find_peer(link, world)
        if netns is not UNNAMED and peer_link is not None and peer_link.get("ifname") == params["peer"]:
            before = veth_state(params, link, netns, peer_link)
    if params["state"] == "absent":
        return plan_absent(params, world), before, veth_state(params), []
    steps, after, warnings = plan_present(params, addresses, world, check_mode)
    return steps, before, after, warnings


def converge(module, ip, params, addresses):
    """Converge one pair; return (changed, after, before)."""
    try:
        steps, before, after, warnings = plan_veth(params, addresses, read_world(ip, params), module.check_mode)
    except ValidationError as exc:
        module.fail_json(msg=str(exc), commands=ip.commands)
    for warning in warnings:
        module.warn(warning)

    def replan():
        # Converged? Plan again against what the kernel now says; repeat once if needed.
        again, now, planned, dummy = plan_veth(params, addresses, read_world(ip, params))
        return again, planned, now

    applied = apply_and_replan(ip, steps, replan)
    return bool(steps), (after if applied is None else applied), before


PAIR_KEYS = ("name", "peer", "netns", "peer_addresses")


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
        mutually_exclusive=[("name", "pairs"), ("netns", "pairs"), ("peer_addresses", "pairs")],
        required_one_of=[("name", "pairs")],
        required_together=[("name", "peer")],
        supports_check_mode=True,
    )
    params = module.params
    listed = params["pairs"] is not None
    items = [dict(params, **dict((key, item[key]) for key in PAIR_KEYS)) for item in params["pairs"]] if listed else [params]
    try:
        checked = [validate(item) for item in items]
        seen = set()
        for item in items:
            for end in (("name", None, item["name"]), ("peer", item["netns"], item["peer"])):
                if end[1:] in seen:
                    raise ValidationError("%s %s%s is listed twice" % (end[0], end[2], " in namespace %s" % end[1] if end[1] else ""))
                seen.add(end[1:])
    except ValidationError as exc:
        module.fail_json(msg=str(exc), commands=[])
    ip = Ip(module, cache=listed)
    converged = [converge(module, ip, item, addresses) for item, addresses in zip(items, checked)]
    result = dict(changed=any(changed for changed, dummy, dummy in converged), commands=ip.commands)
    if listed:
        result["pairs"] = [after for dummy, after, dummy in converged]
        if module._diff:
            result["diff"] = {"before": {"pairs": [before for dummy, dummy, before in converged]},
                              "after": {"pairs": result["pairs"]}}
    else:
        dummy, result["veth"], before = converged[0]
        if module._diff:
            result["diff"] = {"before": before, "after": result["veth"]}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
