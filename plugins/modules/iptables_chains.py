#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: iptables_chains
short_description: Declare whole iptables chains and rules, applied in one atomic iptables-restore
version_added: 0.1.0
description:
  - Makes the chains an O(owner) declares in one table contain exactly the declared rules, in order,
    and keeps the owner's rules in chains it does not own (C(PREROUTING), C(FORWARD), a foreign user chain)
    at the top or bottom of those chains. This is how kube-proxy in iptables mode writes its rules.
  - Reads the table with C(iptables-save), computes the difference and applies it with one
    C(iptables-restore --noflush) transaction, so no packet ever sees half a ruleset. Nothing runs
    when nothing differs.
  - Compares exactly. iptables rewrites rules (C(-d 10.96.0.1) becomes C(-d 10.96.0.1/32), C(0.5)
    becomes C(0.50000000000), C(-p tcp) gains C(-m tcp), matches are reordered). The module loads the
    declared chains into an empty table in a private, throwaway network namespace (C(unshare --net))
    and reads them back with C(iptables-save); that text is what the real table must show. The same
    load rejects a bad rule with iptables' own message before the real table is touched.
  - The canonical text is remembered in the ownership record together with a digest of the input, so a
    re-run with the same input needs no scratch load, only one C(iptables-save). Each chain also keeps a
    digest of its own declared rules, so when only some chains change only those are loaded into the
    scratch namespace, and the one C(iptables-restore --noflush) rewrites only the chains that differ
    from the table (partial sync, as kube-proxy does since KEP-3453).
  - A re-run with the very same arguments usually takes the no-change path (RV(digest_hit)), which neither checks
    nor renders the arguments again, nor plans, and runs one C(iptables-save) only. After every full run (not in
    check mode) the module keeps, next to the ownership record, a no-change entry C(OWNER.IP_VERSION.TABLE.no-change.json)
    with a digest of the arguments as given and of the module's planning code, the iptables backend and version, a digest
    of every ownership record file of the table (every owner's), and a digest of the chains it watches (its own, and
    those that hold its rules, foreign rules and their order included) as that run left them. When all of them are
    the same the run reports no change; when anything differs (a rule edited or deleted by hand, a chain flushed or
    deleted, a rule put above one of the owner's, another owner's record, another iptables) the full path runs, as
    it would without the entry. Diff mode always takes the full path.
  - Touches only what the owner owns. Chains and rules of Docker, of the user or of other owners are
    left byte for byte as they were, including the order of foreign rules in built-in chains.
  - Ownership is tracked in a JSON record per owner, table and IP version under O(state_dir), not with
    marker comments, so C(iptables-save) shows exactly the declared rules. A chain is deleted only if the
    record says this owner created it.
  - A declared chain that already exists but is not in the owner's record belongs to someone else (Docker,
    the user, a real kube-proxy), so the run fails before any change, naming the chain, its rules and the chains
    that jump to it. Only a chain listed in O(adopt) is taken over; it is then recorded as the owner's.
  - The record is written before the apply (listing the chains of both the old and the new state) and again
    after it, so a run killed at any moment never leaves a chain this owner created unrecorded. The previous
    record is kept next to it as C(.prev). An unreadable, missing or old record stops the run with the file
    name and what to do (see R(Recovering ownership records,ansible_collections.k8slab.kube_proxy.docsite.guide_iptables_chains.recovering)
    in the docs site's iptables_chains guide); chains are never guessed.
  - Works with the nf_tables and the legacy backend of iptables, detected from the C(iptables) on C(PATH)
    unless O(backend) says which one.
author:
  - k8slab maintainers (@k8slab)
options:
  table:
    description:
      - The table the chains and rules live in; C(filter) when neither this nor O(tables) is given.
      - Not together with O(tables).
    type: str
    choices: [filter, nat, mangle, raw]
  tables:
    description:
      - Several tables in one run, instead of O(table), O(chains) and O(builtin_rules) - one table's chains and
        built-in rules per item, as those options take them. The tables are read with one C(iptables-save) and
        written with one C(iptables-restore --noflush), which commits them one after the other (a rejected rule in
        any table stops the run before any table changes, as the scratch load checks them all first).
      - An item with no chains and no built-in rules removes what this owner holds in that table, and its record.
        With O(state=absent) only the items' C(table) is read.
      - What it is for - one owner whose rules span tables, such as the pod network's C(FORWARD) accepts (filter)
        and C(MASQUERADE) (nat), converged by one module run instead of one per table.
      - Each table's ownership record is the one the single-table form keeps, so an owner can move between the two
        forms; the no-change entry is named after all the tables (C(OWNER.IP_VERSION.filter+nat.no-change.json)).
    type: list
    elements: dict
    suboptions:
      table:
        description: The table.
        type: str
        required: true
        choices: [filter, nat, mangle, raw]
      chains:
        description: This table's chains, as O(chains) takes them.
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description: The chain's name, as in O(chains).
            type: str
            required: true
          rules:
            description: Its rules, as in O(chains).
            type: list
            elements: raw
            default: []
      builtin_rules:
        description: This table's rules in chains the owner does not own, as O(builtin_rules) takes them.
        type: list
        elements: dict
        default: []
        suboptions:
          chain:
            description: The chain, as in O(builtin_rules).
            type: str
            required: true
          rule:
            description: The rule, as in O(builtin_rules).
            type: str
            required: true
          comment:
            description: Optional comment, as in O(builtin_rules).
            type: str
          position:
            description: C(first) or C(last), as in O(builtin_rules).
            type: str
            choices: [first, last]
            default: first
  ip_version:
    description: C(ipv4) uses C(iptables-save)/C(iptables-restore), C(ipv6) the C(ip6tables) ones.
    type: str
    choices: [ipv4, ipv6]
    default: ipv4
  owner:
    description:
      - The name ownership is tracked under, such as C(pod_network) or C(service_proxy).
      - Two owners in one table never touch each other's chains or rules; declaring a chain that another
        owner has declared fails.
      - 1 to 64 letters, digits, C(_), C(.) or C(-), starting with a letter or digit.
    type: str
    required: true
  state:
    description:
      - C(present) makes the declared chains and built-in rules exist exactly as declared, and prunes
        chains and rules this owner declared before and no longer declares.
      - C(absent) removes everything the ownership record lists for this owner (chains it created are
        flushed and deleted, adopted chains lose the owner's rules, the owner's rules in built-in chains
        are deleted) and deletes the record, in O(table) or in every table of O(tables). O(chains) and
        O(builtin_rules) are ignored.
    type: str
    choices: [present, absent]
    default: present
  chains:
    description:
      - The chains this owner owns, each with its complete, ordered list of rules.
      - A chain with an empty list is declared and kept empty.
      - A chain that a rule jumps to must be declared here or already exist in the table.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The chain's name, at most 28 characters; not a built-in chain.
        type: str
        required: true
      rules:
        description:
          - The rules in order. Each is either a string with the rule's matches and target as
            C(iptables-save) shows them, without the leading C(-A CHAIN), such as
            C(-m statistic --mode random --probability 0.5 -j EVE-HTTP), or a dict with C(rule) and an
            optional C(comment).
          - A comment is rendered as C(-m comment --comment "...") in front of the rule and is part of it,
            so changing a comment changes the rule.
        type: list
        elements: raw
        default: []
  adopt:
    description:
      - Existing chains this owner may take over although its record does not list them, such as its own
        chains after the record was lost, or a foreign chain on purpose. They are rewritten to the declared
        rules and recorded as this owner's, so pruning and O(state=absent) delete them.
      - Without it, a declared chain that exists and is not recorded fails the run, naming both sides.
    type: list
    elements: str
    default: []
  builtin_rules:
    description:
      - Rules this owner keeps in chains it does not own, such as its jumps from C(PREROUTING) and
        C(OUTPUT), C(FORWARD) accepts or a C(MASQUERADE) in C(POSTROUTING).
      - Rules with C(position=first) sit at the top of their chain, above every rule that no k8slab owner
        owns, in the declared order; rules with C(position=last) sit at the bottom. Rules of other owners
        may be interleaved without counting as out of place, so two owners do not fight over the top.
      - A rule that is out of place is deleted and put back in the same transaction; foreign rules keep
        their order.
    type: list
    elements: dict
    default: []
    suboptions:
      chain:
        description: The chain, a built-in one or an existing user chain this owner does not declare.
        type: str
        required: true
      rule:
        description: The rule's matches and target, without C(-A CHAIN).
        type: str
        required: true
      comment:
        description: Optional comment, rendered as C(-m comment --comment "...") in front of the rule.
        type: str
      position:
        description: Keep the rule at the top (C(first), what kube-proxy does) or the bottom (C(last), what C(--append) does).
        type: str
        choices: [first, last]
        default: first
  wait:
    description: Seconds to wait for the xtables lock (C(iptables-restore -w)).
    type: int
    default: 30
  state_dir:
    description:
      - Directory of the ownership records, one JSON file C(OWNER.IP_VERSION.TABLE.json) per owner, table and
        IP version. The records of other owners found here are read to keep out of their chains and rules.
      - Each owner's no-change entry, C(OWNER.IP_VERSION.TABLE.no-change.json), lives here too; it is only a cache
        (deleting it costs one full run) and O(state=absent) removes it.
    type: path
    default: /var/lib/k8slab/iptables_chains
  backend:
    description:
      - The iptables backend, C(nft) (C(iptables-nft-*)) or C(legacy) (C(iptables-legacy-*)).
      - C(auto) uses the backend of the C(iptables) (or C(ip6tables)) command on C(PATH).
    type: str
    choices: [auto, nft, legacy]
    default: auto
extends_documentation_fragment:
  - k8slab.kube_proxy.attributes
attributes:
  check_mode:
    description: Reads the table and loads the scratch namespace, changes nothing, reports what it would do; it uses a
      no-change entry but never writes one.
  diff_mode:
    description: Shows the owner's chains and rules before and after, as C(iptables-save) lines.
  platform:
    description: Linux with iptables, C(unshare) (util-linux) and root.
notes:
  - Needs root, C(iptables-save) and C(iptables-restore) of the chosen backend, and C(unshare) for the scratch
    namespace. Rules that use objects which live outside the table, such as C(-m set --match-set) (ipsets),
    cannot be loaded into the empty scratch namespace and are rejected.
  - A rule string whose addresses expand to several iptables rules (C(-s 10.0.0.1,10.0.0.2)) is fine in
    O(chains), but must be written one rule per address in O(builtin_rules).
  - With more than 200 rules, the task result's C(invocation) shows how many chains and rules were given
    instead of echoing them back (a kube-proxy-sized input is a megabyte).
  - Between reading and applying, another program may change the table; the transaction then fails as a whole
    and leaves the table as it was, and a re-run converges.
seealso:
  - name: kube-proxy iptables proxier
    description: The design this module follows.
    link: https://github.com/kubernetes/kubernetes/blob/master/pkg/proxy/iptables/proxier.go
"""

EXAMPLES = r"""
- name: The tutorial's Service, 10.96.0.1:8080 balanced over two pods
  k8slab.kube_proxy.iptables_chains:
    table: nat
    owner: service_proxy
    chains:
      - name: APP-SERVICE
        rules:
          - -d 10.96.0.1 -p tcp -m tcp --dport 8080 -j EDEN-SVC-HTTP
      - name: EDEN-SVC-HTTP
        rules:
          - -m statistic --mode random --probability 0.5 -j EVE-HTTP
          - -j ADAM-HTTP
      - name: ADAM-HTTP
        rules:
          - -p tcp -m tcp -j DNAT --to-destination 10.0.0.11:8080
      - name: EVE-HTTP
        rules:
          - -p tcp -m tcp -j DNAT --to-destination 10.0.0.21:8080
    builtin_rules:
      - {chain: PREROUTING, rule: -j APP-SERVICE, position: last}
      - {chain: OUTPUT, rule: -j APP-SERVICE, position: last}

- name: The pod network's forwarding and masquerading, with comments
  k8slab.kube_proxy.iptables_chains:
    table: filter
    owner: pod_network
    builtin_rules:
      - chain: FORWARD
        rule: -i bridge_eden -j ACCEPT
        comment: pods may send
        position: last
      - chain: FORWARD
        rule: -o bridge_eden -j ACCEPT
        comment: pods may receive
        position: last

- name: Masquerade traffic leaving the pod network
  k8slab.kube_proxy.iptables_chains:
    table: nat
    owner: pod_network
    builtin_rules:
      - {chain: POSTROUTING, rule: -s 10.0.0.0/24 -j MASQUERADE, position: last}

- name: Both at once - one owner's rules in filter and nat, read with one iptables-save, written with one restore
  k8slab.kube_proxy.iptables_chains:
    owner: pod_network
    tables:
      - table: filter
        builtin_rules:
          - {chain: FORWARD, rule: -i bridge_eden -j ACCEPT, position: last}
          - {chain: FORWARD, rule: -o bridge_eden -j ACCEPT, position: last}
      - table: nat
        builtin_rules:
          - {chain: POSTROUTING, rule: -s 10.0.0.0/24 -j MASQUERADE, position: last}

- name: Remove what the pod network holds in both tables
  k8slab.kube_proxy.iptables_chains:
    owner: pod_network
    tables: [{table: filter}, {table: nat}]
    state: absent

- name: The same Service with comments, so that iptables-save explains itself (an owner declares all its chains)
  k8slab.kube_proxy.iptables_chains:
    table: nat
    owner: service_proxy
    chains:
      - name: APP-SERVICE
        rules:
          - rule: -d 10.96.0.1 -p tcp -m tcp --dport 8080 -j EDEN-SVC-HTTP
            comment: default/eden:http cluster IP
      - name: EDEN-SVC-HTTP
        rules:
          - rule: -m statistic --mode random --probability 0.5 -j EVE-HTTP
            comment: default/eden:http -> eve
          - rule: -j ADAM-HTTP
            comment: default/eden:http -> adam
      - name: ADAM-HTTP
        rules: [-p tcp -m tcp -j DNAT --to-destination 10.0.0.11:8080]
      - name: EVE-HTTP
        rules: [-p tcp -m tcp -j DNAT --to-destination 10.0.0.21:8080]
    builtin_rules:
      - {chain: PREROUTING, rule: -j APP-SERVICE, position: last}
      - {chain: OUTPUT, rule: -j APP-SERVICE, position: last}

- name: Remove every chain and rule the service proxy owns in nat
  k8slab.kube_proxy.iptables_chains:
    table: nat
    owner: service_proxy
    state: absent
"""

RETURN = r"""
changed:
  description: Whether a table was (or in check mode would be) changed.
  returned: always
  type: bool
  sample: true
table:
  description: The table.
  returned: without O(tables)
  type: str
  sample: nat
chains:
  description: The chains this owner manages (declared; with O(state=absent) the ones the record listed).
  returned: without O(tables)
  type: list
  elements: str
  sample: [APP-SERVICE, EDEN-SVC-HTTP, ADAM-HTTP, EVE-HTTP]
created:
  description: Chains created by this run.
  returned: without O(tables)
  type: list
  elements: str
  sample: [EVE-HTTP]
deleted:
  description: Chains deleted by this run (pruned, or all of them with O(state=absent)).
  returned: without O(tables)
  type: list
  elements: str
  sample: [OLD-SVC]
tables:
  description: With O(tables), per table (in the order given) RV(chains), RV(created) and RV(deleted) as the single-table form returns them.
  returned: with O(tables)
  type: dict
  sample:
    filter: {chains: [], created: [], deleted: []}
    nat: {chains: [], created: [], deleted: []}
applied:
  description: The exact C(iptables-restore --noflush) input that was (in check mode would be) applied; empty when nothing changed.
  returned: always
  type: str
  sample: "*nat\n:EDEN-SVC-HTTP - [0:0]\n-A EDEN-SVC-HTTP -m statistic --mode random --probability 0.50000000000 -j EVE-HTTP\n\
    -A EDEN-SVC-HTTP -j ADAM-HTTP\nCOMMIT\n"
backend:
  description: The iptables backend used.
  returned: always
  type: str
  sample: nft
digest_hit:
  description:
    - Whether the run took the no-change path - the arguments, the ownership records and the watched chains as the
      last full run left them - so nothing was checked, rendered or planned again (and nothing changed).
  returned: always
  type: bool
  sample: true
diff:
  description: The owner's chains and rules before and after, as C(iptables-save) lines.
  returned: when diff mode is on
  type: dict
  sample:
    before: "*nat\n:EDEN-SVC-HTTP - [0:0]\n-A EDEN-SVC-HTTP -j ADAM-HTTP\nCOMMIT\n"
    after: "*nat\n:EDEN-SVC-HTTP - [0:0]\n-A EDEN-SVC-HTTP -m statistic --mode random --probability 0.50000000000 -j EVE-HTTP\n\
      -A EDEN-SVC-HTTP -j ADAM-HTTP\nCOMMIT\n"
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.runner import Runner
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.iptables import ValidationError
from ansible_collections.k8slab.kube_proxy.plugins.module_utils import iptables_owner
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.iptables_owner import (
    BACKENDS, BUILTIN_RULES_SPEC, CHAINS_SPEC, TABLE_ITEM_SPEC, TABLES, TablesSync, per_table, requested_tables)

# Above this many rules the arguments are not echoed back in the result's invocation.
ECHO_LIMIT = 200

SCRATCH_SCRIPT = iptables_owner.SCRATCH_SCRIPT


def requested(params):
    """table -> (raw chains, raw builtin rules), in the order given: O(tables), or the one O(table)."""
    if params["tables"] is None:
        return {params["table"] or "filter": (params["chains"], params["builtin_rules"])}
    return requested_tables(params["tables"])


def shaped(params, output, tables):
    """The module's result from the engine's output: the single-table form's keys, or per table with O(tables)."""
    result = dict(changed=output["changed"], applied=output["applied"], backend=output["backend"],
                  digest_hit=output["digest_hit"])
    if "diff" in output:
        result["diff"] = output["diff"]
    if params["tables"] is None:
        table = list(tables)[0]
        result.update(table=table, chains=output["chains"][table], created=output["created"][table],
                      deleted=output["deleted"][table])
    else:
        result["tables"] = per_table(output, tables)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            table=dict(type="str", choices=TABLES),
            tables=dict(type="list", elements="dict", options=TABLE_ITEM_SPEC),
            ip_version=dict(type="str", default="ipv4", choices=["ipv4", "ipv6"]),
            owner=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            chains=CHAINS_SPEC,
            adopt=dict(type="list", elements="str", default=[]),
            builtin_rules=BUILTIN_RULES_SPEC,
            wait=dict(type="int", default=30),
            state_dir=dict(type="path", default="/var/lib/k8slab/iptables_chains"),
            backend=dict(type="str", default="auto", choices=BACKENDS),
        ),
        mutually_exclusive=[["table", "tables"], ["chains", "tables"], ["builtin_rules", "tables"]],
        supports_check_mode=True,
    )
    params = module.params
    try:
        tables = requested(params)
        sync = TablesSync(module, Runner(module), params["owner"], tables, params["ip_version"], params["state"],
                          params["adopt"], params["state_dir"], params["wait"], params["backend"])
        output = shaped(params, sync.apply(), tables)
    except ValidationError as exc:
        module.fail_json(msg=str(exc))
    chains = [chain for table_chains, dummy in tables.values() for chain in table_chains]
    rules = sum(len(chain["rules"] or []) for chain in chains) + sum(len(builtin) for dummy, builtin in tables.values())
    if rules > ECHO_LIMIT:
        # Echoing a kube-proxy-sized input (a megabyte) back as the task's invocation costs more than the work.
        summary = "%d chains with %d rules (not echoed back)" % (len(chains), rules)
        output["invocation"] = {"module_args": dict(params, **{"chains" if params["tables"] is None else "tables": summary})}
    module.exit_json(**output)


if __name__ == "__main__":
    main()
