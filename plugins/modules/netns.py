#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: netns
short_description: Manage a named network namespace, its loopback and its /etc/netns resolv.conf
version_added: 0.1.0
author: k8slab maintainers (@k8slab)
description:
  - Creates or deletes a named network namespace with C(ip netns), the way the tutorial makes
    a pod's namespace (C(ip netns add netns_adam)).
  - With O(state=present) the namespace exists and its loopback C(lo) is up inside it. When
    O(nameservers) is given, C(/etc/netns/NAME/resolv.conf) holds exactly one C(nameserver) line
    per entry (mode C(0644)); C(ip netns exec) bind-mounts that file over C(/etc/resolv.conf),
    which is the tutorial's DNS step.
  - With O(state=absent) the namespace and the whole C(/etc/netns/NAME) directory are removed.
    Processes still running inside the namespace make the module fail, unless O(force=true).
  - Namespaces are matched by their exact name in C(ip -json netns list); C(ns1) never matches C(ns10).
options:
  name:
    description:
      - Name of the namespace, a file name under C(/run/netns), such as C(netns_adam).
      - Letters, digits and C(_ . @ + = -), at most 64 characters, not starting with C(-).
      - Exactly one of O(name) and O(namespaces) is required.
    type: str
  namespaces:
    description:
      - The list form, many namespaces converged in one run (one module process for all the pods of a node).
      - Each item is a namespace as O(name) and O(nameservers) describe it; O(nameservers) given here is the
        default of the items without their own. O(state), O(owner), O(state_dir) and O(force) apply to every item.
        O(name) is refused beside O(namespaces).
      - Every item is checked before anything changes; then the items are converged in order, as a loop of
        the one-namespace form would, and the same state is read only once until something changes.
    type: list
    elements: dict
    version_added: 0.2.0
    suboptions:
      name:
        description: Name of the namespace, as O(name).
        type: str
        required: true
      nameservers:
        description: Its nameservers, as O(nameservers).
        type: list
        elements: str
  state:
    description:
      - V(present) creates the namespace and brings C(lo) up; V(absent) deletes it and C(/etc/netns/NAME).
    type: str
    choices: [present, absent]
    default: present
  nameservers:
    description:
      - IPv4 or IPv6 addresses of DNS servers for programs run with C(ip netns exec NAME).
      - When given, C(/etc/netns/NAME/resolv.conf) is made to contain exactly one C(nameserver X) line
        per entry, in this order, and nothing else. An empty list leaves an empty file.
      - When omitted, the file is left alone.
      - Ignored with O(state=absent).
    type: list
    elements: str
  owner:
    description:
      - Track ownership under this name, such as C(pod_network). The module then keeps a record
        C(STATE_DIR/OWNER/NAME) of every namespace it created, and
      - with O(state=present) refuses to use a namespace that exists but is not recorded as created by
        this owner (someone else's, such as a node's uplink namespace), naming both;
      - with O(state=absent) removes the namespace and its C(/etc/netns/NAME) only when the record says
        this owner created it, and otherwise leaves it alone (RV(owned) is false).
      - A recorded namespace that has vanished (a node restart empties C(/run/netns)) is created again.
      - Without O(owner) the module manages any namespace of that name, as before.
      - 1 to 64 letters, digits, C(_), C(.) or C(-), starting with a letter or digit.
    type: str
  state_dir:
    description: Where the ownership records live (with O(owner) only).
    type: path
    default: /var/lib/k8slab/netns
  force:
    description:
      - Only for O(state=absent). When processes still run inside the namespace, send them C(SIGTERM)
        (then C(SIGKILL) after 5 seconds) before deleting it, instead of failing.
    type: bool
    default: false
extends_documentation_fragment:
  - k8slab.kube_proxy.iproute
  - k8slab.kube_proxy.attributes
attributes:
  diff_mode:
    description: Shows the namespace's existence, loopback state and nameservers before and after.
notes:
  - Deleting a namespace also destroys the veth ends inside it, and with them their peers in the root namespace.
seealso:
  - module: k8slab.kube_proxy.bridge
  - module: k8slab.kube_proxy.veth
  - module: k8slab.kube_proxy.route
"""

EXAMPLES = r"""
- name: Create the tutorial's pod namespace with Google's DNS
  k8slab.kube_proxy.netns:
    name: netns_adam
    nameservers:
      - 8.8.8.8

- name: Create a namespace and leave /etc/netns alone
  k8slab.kube_proxy.netns:
    name: netns_eve

- name: Create a pod's namespace and remember that the pod_network role created it
  k8slab.kube_proxy.netns:
    name: netns_carol
    owner: pod_network

- name: Delete it again, but only if pod_network created it (an owner never takes over netns_adam above)
  k8slab.kube_proxy.netns:
    name: netns_carol
    owner: pod_network
    state: absent

- name: Create every pod's namespace in one run
  k8slab.kube_proxy.netns:
    namespaces:
      - name: netns_carol
      - name: netns_dave
    nameservers: [8.8.8.8]
    owner: pod_network

- name: Delete a namespace, stopping the web app still running inside
  k8slab.kube_proxy.netns:
    name: netns_adam
    state: absent
    force: true
"""

RETURN = r"""
netns:
  description: The namespace after the module ran (predicted in check mode).
  returned: when O(name) is given
  type: dict
  contains:
    name:
      description: The namespace name.
      type: str
      sample: netns_adam
    exists:
      description: Whether the namespace exists.
      type: bool
      sample: true
    lo_up:
      description: Whether C(lo) is up inside the namespace.
      type: bool
      sample: true
    nameservers:
      description: The nameservers in C(/etc/netns/NAME/resolv.conf), null when the file does not exist.
      type: list
      elements: str
      sample: ["8.8.8.8"]
    resolv_conf:
      description: Path of the namespace's resolv.conf.
      type: str
      sample: /etc/netns/netns_adam/resolv.conf
  sample:
    name: netns_adam
    exists: true
    lo_up: true
    nameservers: ["8.8.8.8"]
    resolv_conf: /etc/netns/netns_adam/resolv.conf
namespaces:
  description: With O(namespaces), the RV(netns) of every item, in order.
  returned: when O(namespaces) is given
  type: list
  elements: dict
  version_added: 0.2.0
  sample: [{name: netns_adam, exists: true, lo_up: true, nameservers: ["8.8.8.8"], resolv_conf: /etc/netns/netns_adam/resolv.conf}]
commands:
  description: The C(ip) commands run (or, in check mode, that would run), each an argument list.
  returned: always
  type: list
  elements: list
  sample: [["/usr/sbin/ip", "netns", "add", "netns_adam"], ["/usr/sbin/ip", "-n", "netns_adam", "link", "set", "dev", "lo", "up"]]
owned:
  description: With O(owner), whether the record says this owner created the namespace (after the run).
  returned: when O(owner) and O(name) are given
  type: bool
  sample: true
record:
  description: With O(owner), the path of the ownership record.
  returned: when O(owner) and O(name) are given
  type: str
  sample: /var/lib/k8slab/netns/pod_network/netns_adam
killed_pids:
  description: Processes signalled because O(force=true) (or, in check mode, that would be).
  returned: when O(state=absent)
  type: list
  elements: int
  sample: [4242]
diff:
  description: Before and after state of the namespace, with C(--diff).
  returned: when diff mode is on
  type: dict
  sample:
    before: {name: netns_adam, exists: false, lo_up: false, nameservers: null}
    after: {name: netns_adam, exists: true, lo_up: true, nameservers: ["8.8.8.8"]}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.k8slab.kube_proxy.plugins.module_utils.iproute import ListForm, ValidationError
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.netlink_objects import (
    Namespace, validate_netns as validate)

# The list form's contract: an item is a namespace; a top-level nameservers is the default of the items
# without their own; state, owner, state_dir and force apply to every item.
NAMESPACES = ListForm("namespaces", ("name", "nameservers"), defaults=("nameservers",),
                      identity=lambda item: [("namespace %s" % item["name"], item["name"])])


def converge(module, ip, params, nameservers):
    result = Namespace(module, params, ip).run(nameservers)
    diff = result.get("diff", {})
    return result["changed"], result["netns"], diff.get("before"), diff.get("after"), result.get("killed_pids", [])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str"),
            namespaces=dict(type="list", elements="dict", options=dict(
                name=dict(type="str", required=True),
                nameservers=dict(type="list", elements="str"),
            )),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            nameservers=dict(type="list", elements="str"),
            force=dict(type="bool", default=False),
            owner=dict(type="str"),
            state_dir=dict(type="path", default="/var/lib/k8slab/netns"),
        ),
        required_one_of=[("name", "namespaces")],
        supports_check_mode=True,
    )
    if module.params["namespaces"] is not None:
        result, done = NAMESPACES.run(module, validate, converge)
        if module.params["state"] == "absent":
            result["killed_pids"] = [pid for one in done for pid in one[4]]
        module.exit_json(**result)
    try:
        nameservers = validate(module.params)
    except ValidationError as exc:
        module.fail_json(msg=str(exc), commands=[])
    module.exit_json(**Namespace(module).run(nameservers))


if __name__ == "__main__":
    main()
