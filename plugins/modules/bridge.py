#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.k8slab.kube_proxy.plugins.module_utils.iproute import Ip, ValidationError
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.netlink_objects import (
    converge_bridge, validate_bridge as validate)


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
    try:
        addresses = validate(module.params)
    except ValidationError as exc:
        module.fail_json(msg=str(exc), commands=[])
    ip = Ip(module)
    changed, after, before = converge_bridge(module, ip, module.params, addresses)
    result = dict(changed=changed, bridge=after, commands=ip.commands)
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
