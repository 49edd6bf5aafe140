#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: bridge
short_description: Manage a Linux bridge in the root network namespace, its addresses and its state
version_added: 0.1.0
author: k8slab maintainers (@k8slab)
description:
  - Creates, configures or deletes a Linux bridge the way the tutorial makes the pod network's
    switch, C(ip link add dev bridge_eden type bridge), C(ip address add 10.0.0.1/24 dev bridge_eden),
    C(ip link set bridge_eden up).
  - A link with the same name that is not a bridge is an error; it is never deleted or replaced.
requirements:
  - A kernel with bridge support (C(CONFIG_BRIDGE)).
options:
  name:
    description:
      - Name of the bridge, at most 15 characters (letters, digits, C(_ . @ + = -)), such as C(bridge_eden).
    type: str
    required: true
  state:
    description:
      - V(present) creates and configures the bridge; V(absent) deletes it (its ports are detached, not deleted).
    type: str
    choices: [present, absent]
    default: present
  addresses:
    description:
      - The exact set of scope-global IPv4 and IPv6 addresses of the bridge, each with prefix length,
        such as C(10.0.0.1/24). Missing ones are added, others removed. Link-local addresses are never touched.
      - When omitted, the bridge's addresses are left alone. An empty list removes all global addresses.
    type: list
    elements: str
  mac:
    description:
      - A fixed MAC address for the bridge, such as C(02:4b:38:00:00:01) (unicast). Without it the kernel gives a
        bridge the lowest MAC of its ports and changes it whenever a port comes or goes; the pods' cached
        gateway MAC is then stale and their replies are lost for seconds. A set MAC never follows the ports.
      - When omitted, the MAC is left alone.
    type: str
  up:
    description:
      - Whether the bridge is administratively up (C(ip link set NAME up)) or down.
    type: bool
    default: true
extends_documentation_fragment:
  - k8slab.kube_proxy.iproute
  - k8slab.kube_proxy.attributes
attributes:
  diff_mode:
    description: Shows the bridge's existence, addresses and up state before and after.
notes:
  - Removing an IPv4 primary address makes the kernel drop its secondaries too; the module reads the
    state again after changing it and adds back whatever is missing.
  - Setting a link down makes the kernel drop its IPv6 addresses (unless C(net.ipv6.conf.NAME.keep_addr_on_down=1));
    with O(addresses) given the module adds them back while the bridge is down.
seealso:
  - module: k8slab.kube_proxy.veth
  - module: k8slab.kube_proxy.netns
"""

EXAMPLES = r"""
- name: Create the tutorial's bridge with the pods' gateway address
  k8slab.kube_proxy.bridge:
    name: bridge_eden
    addresses:
      - 10.0.0.1/24

- name: A dual-stack bridge, kept down for now
  k8slab.kube_proxy.bridge:
    name: br-lab
    addresses: [10.1.0.1/24, "fd00:10:1::1/64"]
    up: false

- name: Delete the bridge
  k8slab.kube_proxy.bridge:
    name: bridge_eden
    state: absent
"""

RETURN = r"""
bridge:
  description: The bridge after the module ran (predicted in check mode).
  returned: always
  type: dict
  contains:
    name:
      description: The bridge name.
      type: str
      sample: bridge_eden
    exists:
      description: Whether the bridge exists.
      type: bool
      sample: true
    addresses:
      description: Its scope-global addresses with prefix length.
      type: list
      elements: str
      sample: ["10.0.0.1/24"]
    up:
      description: Whether it is administratively up.
      type: bool
      sample: true
  sample: {name: bridge_eden, exists: true, addresses: ["10.0.0.1/24"], up: true}
commands:
  description: The C(ip) commands run (or, in check mode, that would run), each an argument list.
  returned: always
  type: list
  elements: list
  sample: [["/usr/sbin/ip", "link", "add", "dev", "bridge_eden", "type", "bridge"],
           ["/usr/sbin/ip", "address", "add", "10.0.0.1/24", "dev", "bridge_eden"],
           ["/usr/sbin/ip", "link", "set", "dev", "bridge_eden", "up"]]
diff:
  description: Before and after state of the bridge, with C(--diff).
  returned: when diff mode is on
  type: dict
  sample:
    before: {name: bridge_eden, exists: false, addresses: [], up: false}
    after: {name: bridge_eden, exists: true, addresses: ["10.0.0.1/24"], up: true}
"""

import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.k8slab.kube_proxy.plugins.module_utils.iproute import (
    Ip, ValidationError, apply_and_replan, global_addresses, is_up, link_by_name, link_kind, normalize_cidrs, plan_addresses,
    validate_ifname)


MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def validate(params):
    """Check the arguments; return the normalized address list (None: leave addresses alone)."""
    validate_ifname(params["name"], "bridge name")
    mac = params.get("mac") or None
    if mac is not None and (not MAC_RE.match(mac.lower()) or int(mac[:2], 16) & 1 or mac.lower() == "00:00:00:00:00:00"):
        raise ValidationError("bridge mac %r must be a unicast MAC address such as 02:4b:38:00:00:01" % (mac,))
    if params["addresses"] is None:
        return None
    return normalize_cidrs(params["addresses"], "bridge address")


def bridge_state(name, link):
    if link is None:
        return {"name": name, "exists": False, "addresses": [], "up": False}
    return {"name": name, "exists": True, "addresses": global_addresses(link), "up": is_up(link)}


def plan_bridge(params, addresses, links):
    """Return (steps, predicted after-state) to converge the bridge; raise ValidationError on a foreign link."""
    name = params["name"]
    link = link_by_name(links, name)
    if link is not None and link_kind(link) != "bridge":
        raise ValidationError("link %s exists but is a %s, not a bridge; refusing to touch it"
                              % (name, link_kind(link) or "plain device"))
    before = bridge_state(name, link)
    if params["state"] == "absent":
        steps = [(None, ["link", "del", "dev", name])] if link is not None else []
        return steps, bridge_state(name, None)
    steps = []
    if link is None:
        steps.append((None, ["link", "add", "dev", name, "type", "bridge"]))
    after = dict(before, exists=True)
    mac = (params.get("mac") or "").lower()
    if mac and (link is None or link.get("address", "").lower() != mac):
        steps.append((None, ["link", "set", "dev", name, "address", mac]))
    if addresses is not None:
        steps += plan_addresses(before["addresses"], addresses, name)
        after["addresses"] = list(addresses)
    if params["up"] != before["up"]:
        steps.append((None, ["link", "set", "dev", name, "up" if params["up"] else "down"]))
    after["up"] = params["up"]
    return steps, after


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            addresses=dict(type="list", elements="str"),
            up=dict(type="bool", default=True),
            mac=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    name = module.params["name"]
    try:
        addresses = validate(module.params)
        ip = Ip(module)
        links = ip.links()
        before = bridge_state(name, link_by_name(links, name))
        steps, after = plan_bridge(module.params, addresses, links)
    except ValidationError as exc:
        module.fail_json(msg=str(exc), commands=[])

    def replan():
        # Converged? Removing a primary IPv4 address drops its secondaries: plan once more.
        links = ip.links()
        again, planned = plan_bridge(module.params, addresses, links)
        return again, planned, bridge_state(name, link_by_name(links, name))

    applied = apply_and_replan(ip, steps, replan)
    after = after if applied is None else applied
    result = dict(changed=bool(steps), bridge=after, commands=ip.commands)
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
