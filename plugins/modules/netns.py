#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

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
    name: netns_adam
    owner: pod_network

- name: Delete it again, but only if pod_network created it
  k8slab.kube_proxy.netns:
    name: netns_adam
    owner: pod_network
    state: absent

- name: Create every pod's namespace in one run
  k8slab.kube_proxy.netns:
    namespaces:
      - name: netns_adam
      - name: netns_eve
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

import glob
import json
import os
import re
import shutil
import signal
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.k8slab.kube_proxy.plugins.module_utils.iproute import (
    Ip, ValidationError, is_up, link_by_name, netns_names, parse_ip, validate_netns_name)
from ansible_collections.k8slab.kube_proxy.plugins.module_utils import iproute
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.state_dir import prune_empty_state_dir, write_atomic

RESOLV_MODE = 0o644
OWNER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
RECORD_VERSION = 1


def resolv_conf_text(nameservers):
    """The whole resolv.conf the module writes: one nameserver line per entry."""
    return "".join("nameserver %s\n" % server for server in nameservers)


def parse_resolv_conf(text):
    """Nameservers listed in a resolv.conf text, in order."""
    result = []
    for line in (text or "").splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            result.append(fields[1])
    return result


def validate(params):
    """Check every argument before anything is read or changed; return normalized nameservers."""
    validate_netns_name(params["name"])
    if params.get("owner") is not None and not OWNER_RE.match(params["owner"]):
        raise ValidationError("owner %r must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"
                              % (params["owner"],))
    if params["nameservers"] is None:
        return None
    return [str(parse_ip(server, "nameserver")) for server in params["nameservers"]]


def plan_present(name, exists, lo_link):
    """Steps that create the namespace and bring its loopback up."""
    steps = []
    if not exists:
        steps.append((None, ["netns", "add", name]))
    if not exists or lo_link is None or not is_up(lo_link):
        steps.append((name, ["link", "set", "dev", "lo", "up"]))
    return steps


def plan_absent(name, exists):
    return [(None, ["netns", "delete", name])] if exists else []


def parse_pids(text):
    return [int(word) for word in (text or "").split() if word.isdigit()]


class NetnsModule:
    """One namespace: ``params`` are the module's (or, in the list form, one item's merged with them)."""

    def __init__(self, module, params=None, ip=None):
        self.module = module
        self.params = params if params is not None else module.params
        self.name = self.params["name"]
        self.ip = ip if ip is not None else Ip(module)
        self.etc_dir = os.path.join(iproute.ETC_NETNS, self.name)
        self.resolv_path = os.path.join(self.etc_dir, "resolv.conf")
        self.owner = self.params.get("owner")
        self.state_dir = self.params.get("state_dir") or "/var/lib/k8slab/netns"
        self.record_path = os.path.join(self.state_dir, self.owner, self.name) if self.owner else None

    # ------------------------------------------------------------ ownership records
    def recorded_owners(self):
        """Every owner that recorded creating this namespace (normally none or one)."""
        pattern = os.path.join(glob.escape(self.state_dir), "*", glob.escape(self.name))
        return sorted(os.path.basename(os.path.dirname(path)) for path in glob.glob(pattern))

    def owned(self):
        if not os.path.exists(self.record_path):
            return False
        try:
            with open(self.record_path) as handle:
                data = json.load(handle)
            if data.get("version") != RECORD_VERSION or data.get("netns") != self.name or data.get("owner") != self.owner:
                raise ValueError("it is not a version %d record of namespace %s for owner %s"
                                 % (RECORD_VERSION, self.name, self.owner))
        except (OSError, ValueError) as exc:
            self.module.fail_json(
                msg="cannot read the ownership record %s: %s. Nothing was changed. If namespace %s was created by "
                    "k8slab, write the record again with: echo '%s' > %s; otherwise delete the file."
                    % (self.record_path, exc, self.name, self.record_text().strip(), self.record_path),
                commands=[])
        return True

    def record_text(self):
        return json.dumps({"version": RECORD_VERSION, "owner": self.owner, "netns": self.name}) + "\n"

    def write_record(self):
        write_atomic(self.record_path, self.record_text(), 0o644)

    def remove_record(self):
        if os.path.exists(self.record_path):
            os.unlink(self.record_path)
        prune_empty_state_dir(os.path.dirname(self.record_path))
        prune_empty_state_dir(self.state_dir)

    def read_resolv(self):
        """(text, mode) of the namespace's resolv.conf, (None, None) when missing."""
        try:
            with open(self.resolv_path) as handle:
                text = handle.read()
            return text, os.stat(self.resolv_path).st_mode & 0o7777
        except FileNotFoundError:
            return None, None

    def read_state(self):
        exists = self.name in netns_names(self.ip.netns_list())
        lo_link = link_by_name(self.ip.links(self.name), "lo") if exists else None
        text = self.read_resolv()[0]
        return {
            "name": self.name,
            "exists": exists,
            "lo_up": bool(lo_link and is_up(lo_link)),
            "nameservers": None if text is None else parse_resolv_conf(text),
        }, lo_link

    def pids(self):
        return parse_pids(self.ip.read_now(["netns", "pids", self.name]))

    def write_resolv(self, text):
        """Write resolv.conf atomically (creating /etc/netns/NAME); in check mode only record it."""
        self.ip.act("write %s" % self.resolv_path, write_atomic, self.resolv_path, text, RESOLV_MODE)

    def remove_etc_dir(self):
        """Remove /etc/netns/NAME (or whatever stands there); in check mode only record it."""
        if os.path.isdir(self.etc_dir) and not os.path.islink(self.etc_dir):
            self.ip.act("remove %s" % self.etc_dir, shutil.rmtree, self.etc_dir)
        else:
            self.ip.act("remove %s" % self.etc_dir, os.unlink, self.etc_dir)

    def stop_processes(self, pids):
        """SIGTERM, wait up to 5 s, then SIGKILL; fail if anything survives."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.time() + 5
            while time.time() < deadline:
                pids = self.pids()
                if not pids:
                    return
                time.sleep(0.1)
        self.module.fail_json(msg="processes %s in namespace %s survived SIGKILL" % (pids, self.name),
                              commands=self.ip.commands)

    def run(self, nameservers):
        before, lo_link = self.read_state()
        after = dict(before)
        changed = False
        result = {}
        owned = self.owned() if self.owner else None
        if self.owner:
            result.update(owned=owned, record=self.record_path)
            others = [owner for owner in self.recorded_owners() if owner != self.owner]
            if self.params["state"] == "present" and others:
                self.module.fail_json(msg="namespace %s is recorded as created by owner %s, not by %s; two owners "
                                          "cannot share a namespace" % (self.name, ", ".join(others), self.owner),
                                      commands=[], **result)
            if self.params["state"] == "present" and before["exists"] and not owned:
                self.module.fail_json(
                    msg="namespace %s already exists and was not created by owner %s (no record %s); k8slab never "
                        "takes over a namespace it did not create. Give the pod another netns, or remove the "
                        "namespace yourself if it is a leftover." % (self.name, self.owner, self.record_path),
                    commands=[], **result)
            if self.params["state"] == "absent" and not owned:
                if before["exists"]:
                    self.module.warn("namespace %s was not created by owner %s (no record %s); left alone"
                                     % (self.name, self.owner, self.record_path))
                result.update(changed=False, commands=[], netns=dict(before, resolv_conf=self.resolv_path))
                if self.module._diff:
                    result["diff"] = {"before": before, "after": before}
                return result
        if self.params["state"] == "present":
            if self.owner and not owned and not self.module.check_mode:
                self.write_record()  # before creating it: a run killed in between leaves nothing unrecorded
                result["owned"] = True
            steps = plan_present(self.name, before["exists"], lo_link)
            self.ip.apply(steps)
            changed = bool(steps)
            after.update(exists=True, lo_up=True)
            if nameservers is not None:
                text, mode = self.read_resolv()
                wanted = resolv_conf_text(nameservers)
                if text != wanted or mode != RESOLV_MODE:
                    changed = True
                    self.write_resolv(wanted)
                after["nameservers"] = list(nameservers)
        else:
            killed = []
            if before["exists"]:
                pids = self.pids()
                if pids and not self.params["force"]:
                    self.module.fail_json(
                        msg="namespace %s still has processes %s; stop them or set force=true" % (self.name, pids),
                        pids=pids, commands=[])
                if pids:
                    killed = pids
                    if not self.module.check_mode:
                        self.stop_processes(pids)
            steps = plan_absent(self.name, before["exists"])
            self.ip.apply(steps)
            changed = bool(steps)
            if os.path.lexists(self.etc_dir):
                changed = True
                self.remove_etc_dir()
            after.update(exists=False, lo_up=False, nameservers=None)
            result["killed_pids"] = killed
            if self.owner and not self.module.check_mode:
                self.remove_record()
                result["owned"] = False
        if changed and not self.module.check_mode:
            after = self.read_state()[0]
        result.update(changed=changed, commands=self.ip.commands,
                      netns=dict(after, resolv_conf=self.resolv_path))
        if self.module._diff:
            result["diff"] = {"before": before, "after": after}
        return result


def item_params(params, item):
    """The one-namespace parameters of a list item: its own name and nameservers, the rest from the module."""
    merged = dict(params, name=item["name"])
    if item.get("nameservers") is not None:
        merged["nameservers"] = item["nameservers"]
    return merged


def run_list(module):
    """The list form: check every item, then converge them in order with one cached `ip`."""
    items = [item_params(module.params, item) for item in module.params["namespaces"]]
    try:
        names = set()
        checked = []
        for item in items:
            if item["name"] in names:
                raise ValidationError("namespace %s is listed twice" % item["name"])
            names.add(item["name"])
            checked.append(validate(item))
    except ValidationError as exc:
        module.fail_json(msg=str(exc), commands=[])
    ip = Ip(module, cache=True)
    results = [NetnsModule(module, item, ip).run(nameservers) for item, nameservers in zip(items, checked)]
    output = dict(changed=any(result["changed"] for result in results), commands=ip.commands,
                  namespaces=[result["netns"] for result in results])
    if module.params["state"] == "absent":
        output["killed_pids"] = [pid for result in results for pid in result.get("killed_pids", [])]
    if module._diff:
        output["diff"] = {"before": {"namespaces": [result["diff"]["before"] for result in results]},
                          "after": {"namespaces": [result["diff"]["after"] for result in results]}}
    return output


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
        mutually_exclusive=[("name", "namespaces")],
        required_one_of=[("name", "namespaces")],
        supports_check_mode=True,
    )
    if module.params["namespaces"] is not None:
        module.exit_json(**run_list(module))
    try:
        nameservers = validate(module.params)
    except ValidationError as exc:
        module.fail_json(msg=str(exc), commands=[])
    module.exit_json(**NetnsModule(module).run(nameservers))


if __name__ == "__main__":
    main()
