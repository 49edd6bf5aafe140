#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: route
short_description: Manage a route in the main table of a network namespace or of the root namespace
version_added: 0.1.0
author: k8slab maintainers (@k8slab)
description:
  - Converges one route, such as the tutorial's pod default route
    C(ip netns exec netns_adam ip route add default via 10.0.0.1).
  - Reads the routes with C(ip -json route show table main), changes only what differs and runs every
    command as an argument list (C(ip -n NETNS route replace ...)).
  - The module owns the routes to O(destination) in the main table; with O(metric) only the route with that
    metric. A route there whose gateway or device differ is replaced; with O(state=absent) the matching
    routes are deleted. Routes of other types (C(blackhole), C(unreachable), ...) are left alone.
options:
  netns:
    description:
      - The namespace the route lives in, such as C(netns_adam). It must exist. When omitted, the root namespace.
    type: str
  destination:
    description:
      - V(default), or a network with prefix length such as C(10.96.0.0/12) (host bits must be zero).
      - When omitted, V(default).
    type: str
  gateway:
    description:
      - The next hop's IP address, such as C(10.0.0.1). It must be of the destination's family and reachable
        through a connected subnet, or the kernel refuses the route.
      - O(state=present) needs O(gateway), O(device) or both.
    type: str
  device:
    description:
      - The outgoing interface. When omitted, any device the kernel picks for O(gateway) is accepted.
    type: str
  metric:
    description:
      - The route's metric (priority). When omitted, any metric of an existing route is accepted and a new
        route gets the kernel's default (0 for IPv4, 1024 for IPv6).
    type: int
  routes:
    description:
      - The list form, many routes converged in one run (one module process for all the pods of a node).
      - Each item is a route as O(netns), O(destination), O(gateway), O(device) and O(metric) describe it, with the
        same defaults; O(state) applies to every item. Those five options are refused beside O(routes) (an error,
        not ignored), since each describes one route and belongs on an item.
      - Every item is checked before anything changes; then the items are converged in order, as a loop of
        the one-route form would, and the same state is read only once until something changes.
    type: list
    elements: dict
    version_added: 0.2.0
    suboptions:
      netns:
        description: As O(netns).
        type: str
      destination:
        description: As O(destination).
        type: str
        default: default
      gateway:
        description: As O(gateway).
        type: str
      device:
        description: As O(device).
        type: str
      metric:
        description: As O(metric).
        type: int
  state:
    description:
      - V(present) makes sure the route exists as given; V(absent) deletes the routes to O(destination)
        that match the given O(gateway), O(device) and O(metric).
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - k8slab.kube_proxy.iproute
  - k8slab.kube_proxy.iproute.check_mode_ahead
  - k8slab.kube_proxy.attributes
attributes:
  diff_mode:
    description: Shows the routes to O(destination) before and after.
seealso:
  - module: k8slab.kube_proxy.veth
  - module: k8slab.kube_proxy.netns
"""

EXAMPLES = r"""
# test: needs tutorial-pods - bridge_eden and the tutorial's pods adam and eve plugged into it

- name: Send pod adam's traffic to the bridge, as the tutorial does
  k8slab.kube_proxy.route:
    netns: netns_adam
    gateway: 10.0.0.1

- name: A route to the Service network through a given device, with a metric
  k8slab.kube_proxy.route:
    destination: 10.96.0.0/12
    gateway: 10.0.0.1
    device: bridge_eden
    metric: 100

- name: The default route of every pod in one run
  k8slab.kube_proxy.route:
    routes:
      - {netns: netns_adam, gateway: 10.0.0.1}
      - {netns: netns_eve, gateway: 10.0.0.1}

- name: Remove pod eve's default route
  k8slab.kube_proxy.route:
    netns: netns_eve
    state: absent
"""

RETURN = r"""
route:
  description: The managed route after the module ran (predicted in check mode).
  returned: when O(routes) is not given
  type: dict
  contains:
    netns:
      description: The namespace, null for the root namespace.
      type: str
      sample: netns_adam
    destination:
      description: The normalized destination.
      type: str
      sample: default
    gateway:
      description: The gateway of the route, null if none.
      type: str
      sample: 10.0.0.1
    device:
      description: The device of the route, null if the route does not exist.
      type: str
      sample: veth_ns_adam
    metric:
      description: The metric of the route, null if the route does not exist.
      type: int
      sample: 0
    exists:
      description: Whether such a route exists.
      type: bool
      sample: true
  sample: {netns: netns_adam, destination: default, gateway: 10.0.0.1, device: veth_ns_adam, metric: 0, exists: true}
routes:
  description: With O(routes), the RV(route) of every item, in order.
  returned: when O(routes) is given
  type: list
  elements: dict
  version_added: 0.2.0
  sample: [{netns: netns_adam, destination: default, gateway: 10.0.0.1, device: veth_ns_adam, metric: 0, exists: true}]
commands:
  description: The C(ip) commands run (or, in check mode, that would run), each an argument list.
  returned: always
  type: list
  elements: list
  sample: [["/usr/sbin/ip", "-n", "netns_adam", "-4", "route", "replace", "default", "via", "10.0.0.1"]]
diff:
  description: The routes to the destination before and after, with C(--diff).
  returned: when diff mode is on
  type: dict
  sample:
    before: {netns: netns_adam, destination: default, routes: []}
    after: {netns: netns_adam, destination: default, routes: [{gateway: 10.0.0.1, device: veth_ns_adam, metric: 0}]}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.k8slab.kube_proxy.plugins.module_utils.iproute import Ip, ListForm, ValidationError
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.netlink_objects import (
    converge_route, validate_route as validate)


def identity(item):
    """A route once: two items for the same destination and metric in one namespace would undo each other."""
    where = " in namespace %s" % item["netns"] if item["netns"] else ""
    metric = " with metric %s" % item["metric"] if item["metric"] is not None else ""
    return [("route to %s%s%s" % (item["destination"], metric, where),
             (item["netns"], item["destination"], item["metric"]))]


# The list form's contract: an item is a route; state applies to every route.
ROUTES = ListForm("routes", ("netns", "destination", "gateway", "device", "metric"), identity=identity)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            netns=dict(type="str"),
            destination=dict(type="str"),
            gateway=dict(type="str"),
            device=dict(type="str"),
            metric=dict(type="int"),
            routes=dict(type="list", elements="dict", options=dict(
                netns=dict(type="str"),
                destination=dict(type="str", default="default"),
                gateway=dict(type="str"),
                device=dict(type="str"),
                metric=dict(type="int"),
            )),
            state=dict(type="str", default="present", choices=["present", "absent"]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["routes"] is not None:
        module.exit_json(**ROUTES.run(module, validate, converge_route)[0])
    try:
        checked = validate(params)
    except ValidationError as exc:
        module.fail_json(msg=str(exc), commands=[])
    ip = Ip(module)
    changed, value, before, after = converge_route(module, ip, params, checked)
    result = dict(changed=changed, route=value, commands=ip.commands)
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
