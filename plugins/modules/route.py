#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

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
    type: str
    default: default
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
        same defaults; O(state) applies to every item. O(routes) excludes those five options.
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

import ipaddress

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.k8slab.kube_proxy.plugins.module_utils.iproute import (
    Ip, ValidationError, apply_and_replan, link_by_name, netns_names, parse_destination, parse_ip, route_destination,
    validate_ifname, validate_netns_name)

DEFAULT_METRIC = {4: 0, 6: 1024}


def validate(params):
    """Check the arguments; return (destination, gateway or None, family)."""
    if params["netns"] is not None:
        validate_netns_name(params["netns"])
    if params["device"] is not None:
        validate_ifname(params["device"], "device")
    if params["metric"] is not None and not 0 <= params["metric"] <= 4294967295:
        raise ValidationError("metric %s is out of range 0..4294967295" % params["metric"])
    destination = parse_destination(params["destination"])
    gateway = parse_ip(params["gateway"], "gateway") if params["gateway"] is not None else None
    family = 4
    if destination != "default":
        family = ipaddress.ip_network(destination).version
    elif gateway is not None:
        family = gateway.version
    if gateway is not None and gateway.version != family:
        raise ValidationError("gateway %s is IPv%d but destination %s is IPv%d" % (gateway, gateway.version, destination, family))
    if params["state"] == "present" and gateway is None and params["device"] is None:
        raise ValidationError("a route needs a gateway, a device or both")
    return destination, (str(gateway) if gateway is not None else None), family


def simple(route):
    """The parts of an `ip -json route` entry the module manages."""
    return {"gateway": route.get("gateway"), "device": route.get("dev"), "metric": route.get("metric", 0)}


def owned_routes(routes, destination, metric):
    """The unicast routes to ``destination`` (with ``metric`` when given) that this module manages."""
    result = []
    for route in routes:
        if route.get("type", "unicast") != "unicast" or route_destination(route) != destination:
            continue
        if metric is not None and route.get("metric", 0) != metric:
            continue
        result.append(route)
    return result


def matches(route, gateway, device, metric):
    if "nexthops" in route:
        return False
    if gateway is not None and route.get("gateway") != gateway:
        return False
    if device is not None and route.get("dev") != device:
        return False
    if metric is not None and route.get("metric", 0) != metric:
        return False
    return True


def delete_step(netns, family, destination, route):
    args = ["-%d" % family, "route", "del", destination]
    if route.get("gateway"):
        args += ["via", route["gateway"]]
    if route.get("dev"):
        args += ["dev", route["dev"]]
    args += ["metric", str(route.get("metric", 0))]
    return (netns, args)


def plan_route(params, destination, gateway, family, routes):
    """Return (steps, routes after) for the routes to ``destination``; ``routes`` is `ip -json route` output."""
    netns, device, metric = params["netns"], params["device"], params["metric"]
    owned = owned_routes(routes, destination, metric)
    if params["state"] == "absent":
        gone = [route for route in owned if matches(route, gateway, device, metric)]
        return ([delete_step(netns, family, destination, route) for route in gone],
                [route for route in owned if route not in gone])
    good = [route for route in owned if matches(route, gateway, device, metric)]
    if good:
        keep = good[0]
        return [delete_step(netns, family, destination, route) for route in owned if route is not keep], [keep]
    new_metric = metric if metric is not None else DEFAULT_METRIC[family]
    args = ["-%d" % family, "route", "replace", destination]
    if gateway is not None:
        args += ["via", gateway]
    if device is not None:
        args += ["dev", device]
    if metric is not None:
        args += ["metric", str(metric)]
    steps = [(netns, args)]
    # `replace` overwrites the route with the same metric; the others are deleted afterwards, so the
    # destination never goes without a route.
    steps += [delete_step(netns, family, destination, route) for route in owned
              if route.get("metric", 0) != new_metric]
    new = {"dst": destination, "metric": new_metric}
    if gateway is not None:
        new["gateway"] = gateway
    if device is not None:
        new["dev"] = device
    return steps, [new]


def describe(params, destination, gateway, routes_after):
    """The `route` return value: the route that now exists, or what was asked for when none does."""
    if routes_after and params["state"] == "present":
        return dict(simple(routes_after[0]), netns=params["netns"], destination=destination, exists=True)
    return {"netns": params["netns"], "destination": destination, "gateway": gateway, "device": params["device"],
            "metric": params["metric"], "exists": False}


def converge(module, ip, params, checked):
    """Converge one route; return (changed, route, diff before, diff after)."""
    netns = params["netns"]
    destination, gateway, family = checked
    try:
        missing = None
        if netns is not None and netns not in netns_names(ip.netns_list()):
            missing = "namespace %s does not exist; create it first (k8slab.kube_proxy.netns)" % netns
        elif params["state"] == "present" and params["device"] is not None \
                and link_by_name(ip.links(netns), params["device"]) is None:
            missing = "device %s does not exist%s" % (params["device"], " in namespace %s" % netns if netns else "")
        if missing and params["state"] == "present" and not module.check_mode:
            raise ValidationError(missing)
    except ValidationError as exc:
        module.fail_json(msg=str(exc), commands=ip.commands)
    if missing:
        if params["state"] == "present":
            module.warn(missing + "; assuming an earlier task would have")
        routes = []
    else:
        routes = ip.routes(family, netns)
    before = owned_routes(routes, destination, params["metric"])
    steps, after = plan_route(params, destination, gateway, family, routes)

    def replan():
        routes = ip.routes(family, netns)
        again, planned = plan_route(params, destination, gateway, family, routes)
        return again, planned, routes

    def not_converged(routes):
        return "the routes to %s did not converge: %s" % (destination, owned_routes(routes, destination, params["metric"]))

    applied = apply_and_replan(ip, steps, replan, not_converged)
    after = after if applied is None else applied
    return (bool(steps), describe(params, destination, gateway, after),
            {"netns": netns, "destination": destination, "routes": [simple(route) for route in before]},
            {"netns": netns, "destination": destination, "routes": [simple(route) for route in after]})


ROUTE_KEYS = ("netns", "destination", "gateway", "device", "metric")


def main():
    module = AnsibleModule(
        argument_spec=dict(
            netns=dict(type="str"),
            destination=dict(type="str", default="default"),
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
        mutually_exclusive=[("routes", key) for key in ("netns", "gateway", "device", "metric")],
        supports_check_mode=True,
    )
    params = module.params
    listed = params["routes"] is not None
    items = [dict(params, **dict((key, item[key]) for key in ROUTE_KEYS)) for item in params["routes"]] if listed else [params]
    try:
        checked = [validate(item) for item in items]
    except ValidationError as exc:
        module.fail_json(msg=str(exc), commands=[])
    ip = Ip(module, cache=listed)
    converged = [converge(module, ip, item, one) for item, one in zip(items, checked)]
    result = dict(changed=any(item[0] for item in converged), commands=ip.commands)
    if listed:
        result["routes"] = [item[1] for item in converged]
        if module._diff:
            result["diff"] = {"before": {"routes": [item[2] for item in converged]},
                              "after": {"routes": [item[3] for item in converged]}}
    else:
        result["route"] = converged[0][1]
        if module._diff:
            result["diff"] = {"before": converged[0][2], "after": converged[0][3]}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
