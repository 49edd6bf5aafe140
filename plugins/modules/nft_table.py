#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: nft_table
short_description: Declare a whole nftables table, applied in one atomic nft transaction
version_added: 0.1.0
description:
  - Makes one nftables table (O(family) and O(name)) contain exactly the chains, sets, maps, named
    counters and rules of O(content). This is how kube-proxy in nftables mode manages C(table ip kube-proxy).
  - Reads the live table with C(nft -j list table), compares it with the desired table and, when they differ,
    applies one C(nft -f) file that touches only what changed, as kube-proxy's partial sync does - it flushes
    the chains whose rules changed and the sets and maps whose elements changed and declares them again,
    declares new objects and deletes the ones that go; the other chains, sets and counters are left alone.
    When the declaration of an existing object changed (a chain's type, hook or priority, a set's type), the
    file flushes every rule and set element instead, deletes what changed and declares the whole table again.
    nft commits a file as one kernel transaction, so packets see the old table or the new one, never an empty
    or half-written one. Nothing runs when nothing differs.
  - Compares exactly. nft rewrites what it is given (C(priority dstnat) becomes C(-100), C(10800s) becomes
    C(3h), a set used by C(update) gains C(dynamic) and C(size 65535)). The module loads the desired table into
    an empty, private, throwaway network namespace (C(unshare --net)) and reads it back with C(nft -j) and
    C(nft -s list); that is what the live table must show, and the read-back text is what gets applied. The
    same load rejects bad content with nft's own message, its line numbers counted in O(content), before the
    live ruleset is touched.
  - Compared are the declarations of chains (type, hook, priority, policy), sets, maps and named objects,
    the rules in order and the elements of sets and maps. Not compared are handles, counter and quota values,
    and the elements of sets and maps that rules fill at run time (C(update @set), C(add @set)), such as
    kube-proxy's session affinity sets; those elements and named counter values survive a change.
  - Touches only its table. Other tables (Docker's, firewalld's, the iptables-nft tables C(ip filter),
    C(ip nat) and so on) are never named in what it applies; the iptables-nft tables cannot be managed at all.
  - Ownership is kept in a JSON record per table under O(state_dir). A table that exists without a record was
    not made by this module and is refused unless O(adopt=true).
author:
  - k8slab maintainers (@k8slab)
options:
  family:
    description: The table's address family.
    type: str
    choices: [ip, ip6, inet, arp, bridge, netdev]
    default: ip
  name:
    description:
      - The table's name, 1 to 64 letters, digits, C(_) or C(-), starting with a letter, such as C(kube-proxy).
      - The tables of iptables-nft (C(filter), C(nat), C(mangle), C(raw), C(security) in C(ip) and C(ip6), and
        those of ebtables and arptables) are refused.
    type: str
    required: true
  content:
    description:
      - The table's body in nft syntax, what goes between C(table FAMILY NAME {) and C(}), such as
        C(chain nat-output { type nat hook output priority -100; ... }) blocks, C(set), C(map) and
        C(counter) blocks. An empty body makes an empty table.
      - nft 1.0.6 wants a newline or C(;) before a chain's closing brace.
      - Everything must load into an empty network namespace, so refer to interfaces by name
        (C(iifname), C(oifname)), not by index (C(iif), C(oif)), and leave out flowtables bound to devices.
      - Content that defines anything outside the table is refused.
      - Required with O(state=present).
    type: str
  state:
    description:
      - C(present) makes the table exist with exactly O(content).
      - C(absent) deletes the table (with everything in it) and its record.
    type: str
    choices: [present, absent]
    default: present
  adopt:
    description:
      - Take over a table that exists but has no ownership record (this module did not create it). Its
        contents are replaced by O(content), and from then on the module owns it; with O(state=absent)
        it is deleted.
      - Without it, such a table is an error and is left as it is.
    type: bool
    default: false
  state_dir:
    description: Directory of the ownership records, one JSON file C(FAMILY.NAME.json) per table.
    type: path
    default: /var/lib/k8slab/nft_table
extends_documentation_fragment:
  - k8slab.kube_proxy.attributes
attributes:
  check_mode:
    description: Reads the table and loads the scratch namespace, changes nothing, reports what it would do.
  diff_mode:
    description: Shows the table before and after, as C(nft -s list table) prints it.
  platform:
    description: Linux with nftables (C(nft) 1.0 or later), C(unshare) (util-linux) and root.
notes:
  - Needs root, C(nft) and C(unshare). With O(state=absent) on a host without C(nft) and without a record, the module
    reports no change, since it cannot have created the table.
  - Between reading and applying, another program may change the table; the transaction then either applies
    whole or fails whole, and a re-run converges.
seealso:
  - name: kube-proxy nftables proxier
    description: The design this module follows.
    link: https://github.com/kubernetes/kubernetes/blob/master/pkg/proxy/nftables/proxier.go
  - module: k8slab.kube_proxy.iptables_chains
"""

EXAMPLES = r"""
- name: The tutorial's Service, 10.96.0.1:8080 balanced over two pods, in a table of its own
  k8slab.kube_proxy.nft_table:
    name: k8slab-service
    content: |
      map service-ips {
        type ipv4_addr . inet_proto . inet_service : verdict
        elements = { 10.96.0.1 . tcp . 8080 : goto app-service }
      }
      chain app-service {
        numgen random mod 2 vmap { 0 : goto adam, 1 : goto eve }
      }
      chain adam {
        meta l4proto tcp dnat to 10.0.0.11:8080
      }
      chain eve {
        meta l4proto tcp dnat to 10.0.0.21:8080
      }
      chain nat-prerouting {
        type nat hook prerouting priority dstnat; policy accept;
        ip daddr . meta l4proto . th dport vmap @service-ips
      }
      chain nat-output {
        type nat hook output priority -100; policy accept;
        ip daddr . meta l4proto . th dport vmap @service-ips
      }

# test: needs lab-filter-table - a table inet lab-filter made with nft by hand
- name: Take over a table made by hand before, replacing its contents
  k8slab.kube_proxy.nft_table:
    family: inet
    name: lab-filter
    adopt: true
    content: |
      counter dropped {
      }
      chain input {
        type filter hook input priority filter; policy accept;
        ip saddr 192.0.2.66 counter name dropped drop
      }

# test: needs kube-proxy.nft - the table's text in kube-proxy.nft next to the playbook
- name: Preview a change (with --check --diff)
  k8slab.kube_proxy.nft_table:
    name: kube-proxy
    content: "{{ lookup('ansible.builtin.file', 'kube-proxy.nft') }}"
  check_mode: true
  diff: true

- name: Delete the table
  k8slab.kube_proxy.nft_table:
    name: k8slab-service
    state: absent
"""

RETURN = r"""
changed:
  description: Whether the table was (or in check mode would be) changed.
  returned: always
  type: bool
  sample: true
family:
  description: The table's family.
  returned: always
  type: str
  sample: ip
name:
  description: The table's name.
  returned: always
  type: str
  sample: kube-proxy
created:
  description: Whether this run created the table.
  returned: always
  type: bool
  sample: false
deleted:
  description: Whether this run deleted the table (O(state=absent)).
  returned: always
  type: bool
  sample: false
adopted:
  description: Whether this run took over a table it had not created (O(adopt=true)).
  returned: always
  type: bool
  sample: false
removed:
  description: Objects of the table that this run deleted because O(content) no longer declares them.
  returned: always
  type: list
  elements: str
  sample: ["chain endpoint-2KUPH2UQ-default/app-service/tcp/__10.0.0.31/8080"]
replaced:
  description: Objects deleted and declared again in the same transaction because their declaration changed.
  returned: always
  type: list
  elements: str
  sample: ["chain nat-output"]
applied:
  description: The exact C(nft -f) input that was (in check mode would be) applied; empty when nothing changed.
  returned: always
  type: str
  sample: "add table ip k8slab-service\nflush chain ip k8slab-service adam\n\
    table ip k8slab-service {\n\tchain adam {\n\t\tmeta l4proto tcp dnat to 10.0.0.11:8080\n\t}\n}\n"
diff:
  description: The table before and after, as C(nft -s list table) prints it (empty when missing).
  returned: when diff mode is on
  type: dict
  sample:
    before: ""
    after: "table ip k8slab-service {\n\tchain adam {\n\t\tmeta l4proto tcp dnat to 10.0.0.11:8080\n\t}\n}\n"
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.runner import Runner
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.nft_owner import NftTable
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.nftables import (
    ValidationError, validate_content, validate_table)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            family=dict(type="str", default="ip", choices=["ip", "ip6", "inet", "arp", "bridge", "netdev"]),
            name=dict(type="str", required=True),
            content=dict(type="str"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            adopt=dict(type="bool", default=False),
            state_dir=dict(type="path", default="/var/lib/k8slab/nft_table"),
        ),
        required_if=[("state", "present", ["content"])],
        supports_check_mode=True,
    )
    params = module.params
    try:
        validate_table(params["family"], params["name"])
        if params["state"] == "present":
            validate_content(params["content"])
    except ValidationError as exc:
        module.fail_json(msg=str(exc))
    table = NftTable(module, Runner(module), params["family"], params["name"], params["state_dir"], params["state"])
    module.exit_json(**table.converge(params["state"], params["content"], params["adopt"]))


if __name__ == "__main__":
    main()
