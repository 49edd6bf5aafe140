#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: iptables_chains
short_description: Declare whole iptables chains and rules, applied in one atomic iptables-restore
version_added: 0.1.0
description:
  - Makes the chains an I(owner) declares in one table contain exactly the declared rules, in order,
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
  - Touches only what the owner owns. Chains and rules of Docker, of the user or of other owners are
    left byte for byte as they were, including the order of foreign rules in built-in chains.
  - Ownership is tracked in a JSON record per owner, table and IP version under I(state_dir), not with
    marker comments, so C(iptables-save) shows exactly the declared rules. A chain is deleted only if the
    record says this owner created it.
  - A declared chain that already exists but is not in the owner's record belongs to someone else (Docker,
    the user, a real kube-proxy), so the run fails before any change, naming the chain, its rules and the chains
    that jump to it. Only a chain listed in I(adopt) is taken over; it is then recorded as the owner's.
  - The record is written before the apply (listing the chains of both the old and the new state) and again
    after it, so a run killed at any moment never leaves a chain this owner created unrecorded. The previous
    record is kept next to it as C(.prev). An unreadable, missing or old record stops the run with the file
    name and what to do (see the recovery section of docs/modules-iptables.md); chains are never guessed.
  - Works with the nf_tables and the legacy backend of iptables, detected from the C(iptables) on C(PATH)
    unless I(backend) says which one.
author:
  - k8slab maintainers (@k8slab)
options:
  table:
    description: The table the chains and rules live in.
    type: str
    choices: [filter, nat, mangle, raw]
    default: filter
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
        are deleted) and deletes the record. I(chains) and I(builtin_rules) are ignored.
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
  service_model:
    description:
      - Services and their endpoints, rendered into O(chains) and O(builtin_rules) on the node, instead of
        passing the rendered chains. For a thousand Services this sends a fraction of the data and skips the
        per-chain argument validation (see the README's performance table); the result is the same as passing the
        chains that the P(k8slab.kube_proxy.service_chains#filter) (tutorial layout) or
        P(k8slab.kube_proxy.kube_proxy_chains#filter) (kube-proxy layout) filter returns for O(table).
      - Excludes O(chains) and O(builtin_rules). A table the layout has no chains in (C(filter) in the
        tutorial layout) is declared empty.
    type: dict
    version_added: 0.2.0
    suboptions:
      layout:
        description: V(tutorial) renders like the service_chains filter, V(kube-proxy) like kube_proxy_chains.
        type: str
        choices: [tutorial, kube-proxy]
        default: tutorial
      services:
        description: Service manifests, as the filters take them.
        type: list
        elements: raw
        default: []
      endpoint_slices:
        description: EndpointSlice manifests (kube-proxy layout only).
        type: list
        elements: raw
        default: []
      pods:
        description: The complete pod records of the P(k8slab.kube_proxy.pods#filter) filter.
        type: list
        elements: raw
        default: []
      options:
        description:
          - The filter's options. Tutorial layout C(dispatch_chain), C(chain_prefix), C(unnamed_port_name),
            C(comments), C(jump_position); kube-proxy layout C(cluster_cidr), C(random_fully), C(localhost_nodeports).
        type: dict
        default: {}
      fail_on_no_endpoints:
        description: Fail before any change when a Service port has no endpoints; otherwise each is a warning.
        type: bool
        default: false
  adopt:
    description:
      - Existing chains this owner may take over although its record does not list them, such as its own
        chains after the record was lost, or a foreign chain on purpose. They are rewritten to the declared
        rules and recorded as this owner's, so pruning and I(state=absent) delete them.
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
    description: Reads the table and loads the scratch namespace, changes nothing, reports what it would do.
  diff_mode:
    description: Shows the owner's chains and rules before and after, as C(iptables-save) lines.
  platform:
    description: Linux with iptables, C(unshare) (util-linux) and root.
notes:
  - Needs root, C(iptables-save) and C(iptables-restore) of the chosen backend, and C(unshare) for the scratch
    namespace. Rules that use objects which live outside the table, such as C(-m set --match-set) (ipsets),
    cannot be loaded into the empty scratch namespace and are rejected.
  - A rule string whose addresses expand to several iptables rules (C(-s 10.0.0.1,10.0.0.2)) is fine in
    I(chains), but must be written one rule per address in I(builtin_rules).
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

- name: Rules with comments, so that iptables-save explains itself
  k8slab.kube_proxy.iptables_chains:
    table: nat
    owner: service_proxy
    chains:
      - name: EDEN-SVC-HTTP
        rules:
          - rule: -m statistic --mode random --probability 0.5 -j EVE-HTTP
            comment: default/eden:http -> eve
          - rule: -j ADAM-HTTP
            comment: default/eden:http -> adam

- name: Remove every chain and rule the service proxy owns in nat
  k8slab.kube_proxy.iptables_chains:
    table: nat
    owner: service_proxy
    state: absent

- name: Render the tutorial's Service chains on the node from the Service and the pods
  k8slab.kube_proxy.iptables_chains:
    table: nat
    owner: service_proxy
    service_model:
      layout: tutorial
      services:
        - metadata: {name: app-service}
          spec: {clusterIP: 10.96.0.1, selector: {component: app}, ports: [{port: 8080, targetPort: 8080}]}
      pods: "{{ k8slab_pods | k8slab.kube_proxy.pods('10.0.0.1/24') }}"
"""

RETURN = r"""
changed:
  description: Whether the table was (or in check mode would be) changed.
  returned: always
  type: bool
  sample: true
table:
  description: The table.
  returned: always
  type: str
  sample: nat
chains:
  description: The chains this owner manages (declared; with I(state=absent) the ones the record listed).
  returned: always
  type: list
  elements: str
  sample: [APP-SERVICE, EDEN-SVC-HTTP, ADAM-HTTP, EVE-HTTP]
created:
  description: Chains created by this run.
  returned: always
  type: list
  elements: str
  sample: [EVE-HTTP]
deleted:
  description: Chains deleted by this run (pruned, or all of them with I(state=absent)).
  returned: always
  type: list
  elements: str
  sample: [OLD-SVC]
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
diff:
  description: The owner's chains and rules before and after, as C(iptables-save) lines.
  returned: when diff mode is on
  type: dict
  sample:
    before: "*nat\n:EDEN-SVC-HTTP - [0:0]\n-A EDEN-SVC-HTTP -j ADAM-HTTP\nCOMMIT\n"
    after: "*nat\n:EDEN-SVC-HTTP - [0:0]\n-A EDEN-SVC-HTTP -m statistic --mode random --probability 0.50000000000 -j EVE-HTTP\n\
      -A EDEN-SVC-HTTP -j ADAM-HTTP\nCOMMIT\n"
"""

import os
from collections import OrderedDict

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.kube_proxy_iptables import plan_kube_proxy_chains
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.runner import Runner
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.service_chains import plan_service_chains
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.state_dir import RecordStore
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.iptables import (
    ValidationError, builtin_input_key, canonical_from_scratch, cached_canonical, chain_input_keys, dump_record,
    empty_record, explain_restore_error, input_digest, load_record, merge_records, normalize_builtin_rules,
    normalize_chains, parse_save, plan, record_name, referenced_chains, remember_inputs, render_scratch,
    reusable_canonical, validate_chain_name, validate_owner)

# Above this many rules the arguments are not echoed back in the result's invocation.
ECHO_LIMIT = 200

# Runs inside the scratch namespace; every value comes in as a positional argument, never pasted in.
SCRATCH_SCRIPT = '"$1" -w "$4" && exec "$2" -t "$3"'


LAYOUT_OPTIONS = {
    "tutorial": ("dispatch_chain", "chain_prefix", "unnamed_port_name", "comments", "jump_position"),
    "kube-proxy": ("cluster_cidr", "random_fully", "localhost_nodeports"),
}


def render_service_model(model, table):
    """(chains, builtin_rules, warnings) of ``table`` rendered from the service model, as the filters render them."""
    layout, options = model["layout"], model["options"] or {}
    unknown = sorted(set(options) - set(LAYOUT_OPTIONS[layout]))
    if unknown:
        raise ValidationError("service_model.options: %s not an option of the %s layout (known: %s)"
                              % (", ".join(unknown), layout, ", ".join(LAYOUT_OPTIONS[layout])))
    try:
        if layout == "tutorial":
            plan = plan_service_chains(model["services"], model["pods"], **options)
        else:
            plan = plan_kube_proxy_chains(model["services"], model["pods"], endpoint_slices=model["endpoint_slices"],
                                          **options)
    except ValueError as exc:
        raise ValidationError("service_model: %s" % exc)
    if model["fail_on_no_endpoints"] and plan["warnings"]:
        raise ValidationError("%s (fail_on_no_endpoints is true)" % "; ".join(plan["warnings"]))
    part = plan.get(table) or {}
    return part.get("chains") or [], part.get("builtin_rules") or [], plan["warnings"]


class IptablesChains:
    """Reads, plans and applies for one owner, table and IP version."""

    def __init__(self, module):
        self.module = module
        params = module.params
        self.table = params["table"]
        self.ip_version = params["ip_version"]
        self.owner = params["owner"]
        self.wait = params["wait"]
        self.state_dir = params["state_dir"]
        self.prefix = "iptables" if self.ip_version == "ipv4" else "ip6tables"
        self.backend = None
        self.version = None
        self.save_bin = None
        self.restore_bin = None
        self.loaded_record = None
        self.on_disk = None  # the record as the file holds it now
        self.store = RecordStore(self.state_dir, keep_previous=True)
        self.runner = Runner(module)

    # ------------------------------------------------------------ commands
    def run(self, argv, data=None, what=None):
        """A read (also in check mode) through the collection's runner: argv list, C locale."""
        return self.runner.read(argv, data=data, what=what)

    def detect_backend(self, wanted):
        """Pick iptables-{nft,legacy}-{save,restore}; auto means the backend of `iptables` on PATH."""
        if wanted == "auto":
            command = self.runner.bin(self.prefix, required=False)
            if not command:
                self.module.fail_json(msg="%s not found on PATH; install iptables" % self.prefix)
            dummy, out, dummy = self.run([command, "--version"], what="%s --version" % self.prefix)
            wanted = "nft" if "nf_tables" in out else "legacy"
            fallback = True
        else:
            fallback = False
        binaries = []
        for kind in ("save", "restore"):
            path = self.runner.bin("%s-%s-%s" % (self.prefix, wanted, kind), required=False)
            if not path and fallback:
                path = self.runner.bin("%s-%s" % (self.prefix, kind), required=False)
            if not path:
                self.module.fail_json(msg="%s-%s-%s not found: the %s backend is not installed" % (self.prefix, wanted, kind, wanted))
            binaries.append(path)
        self.save_bin, self.restore_bin = binaries
        dummy, out, dummy = self.run([self.restore_bin, "--version"], what="%s --version" % self.restore_bin)
        self.version = out.strip()
        if ("nf_tables" in self.version) != (wanted == "nft"):
            self.module.fail_json(msg="%s reports %r, which is not the %s backend" % (self.restore_bin, self.version, wanted))
        self.backend = wanted

    def read_table(self):
        dummy, out, dummy = self.run([self.save_bin, "-t", self.table], what="%s -t %s" % (self.save_bin, self.table))
        if "incompatible" in out and "nft" in out:
            self.module.fail_json(msg="table %s holds nftables rules iptables cannot show: %s" % (self.table, out.strip()))
        return parse_save(out, self.table)

    def scratch_canonical(self, chains, builtin_rules, current, other_chains=()):
        """Load the desired state into an empty table in a throwaway network namespace and read it back.

        other_chains: declared chains not loaded this time (their canonical form is
        known). Those and existing chains are declared empty when a loaded rule
        jumps to them, so the jump loads; the others are left out (thousands of
        empty chains would cost more than the few rules being loaded).
        """
        # Chains the rules jump to, and user chains that hold a builtin rule (Docker's DOCKER-USER).
        wanted = referenced_chains(chains, builtin_rules) | {item.chain for item in builtin_rules}
        seen = set(chains)
        foreign = []
        for name in current.user_chains() + list(other_chains):
            if name in wanted and name not in seen:
                seen.add(name)
                foreign.append(name)
        text, line_map = render_scratch(self.table, chains, builtin_rules, foreign)
        unshare = self.runner.bin("unshare")
        shell = self.runner.bin("sh")
        argv = [unshare, "--net", "--", shell, "-c", SCRATCH_SCRIPT, "k8slab-scratch",
                self.restore_bin, self.save_bin, self.table, str(self.wait)]
        rc, out, err = self.run(argv, data=text)
        if rc != 0:
            self.module.fail_json(msg="iptables rejected the declared rules, nothing was changed: %s"
                                  % explain_restore_error(err, line_map), rc=rc, stderr=err)
        try:
            return canonical_from_scratch(out, self.table, chains, builtin_rules)
        except ValidationError as exc:
            self.module.fail_json(msg=str(exc))
        except ValueError as exc:
            self.module.fail_json(msg="cannot read the scratch table back: %s" % exc, stdout=out)

    def partial_canonical(self, record, chains, builtin_rules, current, chain_keys, builtin_key):
        """The canonical desired state, through the scratch namespace only for what changed since the record."""
        known, builtin = reusable_canonical(record, chain_keys, builtin_key)
        todo = OrderedDict((name, rules) for name, rules in chains.items() if name not in known)
        if todo or builtin is None:
            loaded, loaded_builtin = self.scratch_canonical(todo, builtin_rules if builtin is None else [], current,
                                                            [name for name in chains if name in known])
            known.update(loaded)
            if builtin is None:
                builtin = loaded_builtin
        return OrderedDict((name, known[name]) for name in chains), builtin

    # ------------------------------------------------------------ ownership records
    def record_key(self, owner=None):
        return record_name(owner or self.owner, self.table, self.ip_version)[:-len(".json")]

    def record_path(self):
        return self.store.path(self.record_key())

    def load_records(self):
        mine = empty_record(self.owner, self.table, self.ip_version)
        others = []
        suffix = ".%s.%s" % (self.ip_version, self.table)
        for key in self.store.names(suffix):
            owner = key[:-len(suffix)]
            path = self.store.path(key)
            try:
                record = load_record(self.store.read_text(key), owner, self.table, self.ip_version)
            except (OSError, ValueError) as exc:
                # Refuse to guess: an unreadable record could hide chains that must not be touched.
                self.module.fail_json(msg=(
                    "cannot read ownership record %s: %s. Nothing was changed. To recover: put back the previous "
                    "record (cp %s.prev %s) if it exists; or move the file aside and re-run with adopt listing "
                    "owner %s's chains (iptables-save -t %s shows them; the error of that run names every one); "
                    "see 'Recovering ownership records' in docs/modules-iptables.md"
                    % (path, exc, path, path, owner, self.table)), record=path)
            if owner == self.owner:
                mine = record
                self.loaded_record = record  # plan() only reads it
                self.on_disk = record
            else:
                others.append(record)
        return mine, others

    def store_record(self, record):
        """Write this owner's record (the previous one kept as .prev), or remove both when None."""
        if record is None:
            self.store.remove(self.record_key())
            self.on_disk = None
            return
        if record == self.on_disk:  # the usual re-run: nothing to write
            return
        self.store.write_text(self.record_key(), dump_record(record))
        self.on_disk = record

    # ------------------------------------------------------------ states
    def converge(self, state, chains, builtin_rules, adopt=()):
        record, others = self.load_records()
        current = self.read_table()
        if state == "present":
            digest = input_digest(self.table, self.ip_version, self.backend, self.version, chains, builtin_rules)
            chain_keys = chain_input_keys(self.backend, self.version, chains)
            builtin_key = builtin_input_key(self.backend, self.version, builtin_rules)
            canonical = cached_canonical(record, digest)
            if canonical is None and not chains and not builtin_rules:
                canonical = ({}, [])  # nothing declared: nothing to canonicalise
            if canonical is None:
                canonical = self.partial_canonical(record, chains, builtin_rules, current, chain_keys, builtin_key)
            desired_chains, desired_builtin = canonical
            managed = list(desired_chains)
        else:
            digest = None
            desired_chains, desired_builtin = {}, []
            managed = list(record["chains"])
        try:
            result = plan(current, desired_chains, desired_builtin, record, others, digest, adopt=frozenset(adopt))
        except ValidationError as exc:
            if not os.path.exists(self.record_path()) and "was not created by owner" in str(exc):
                exc = "%s. There is no ownership record %s: if these chains are left from an earlier run of owner %s " \
                      "whose record was lost, re-run once with adopt listing them" % (exc, self.record_path(), self.owner)
            self.module.fail_json(msg=str(exc), record=self.record_path())
        payload = result.payload()
        if payload and not self.module.check_mode:
            if state == "present":
                self.store_record(merge_records(record, result.record))  # the journal: see merge_records
            rc, dummy, err = self.runner.change([self.restore_bin, "--noflush", "-w", str(self.wait)], data=payload)
            if rc != 0:
                self.store_record(record if self.loaded_record is not None else None)
                lines = dict(enumerate(payload.splitlines(), 1))
                self.module.fail_json(msg="iptables-restore failed, the table is unchanged: %s"
                                      % explain_restore_error(err, lines), rc=rc, stderr=err, applied="")
        if state == "present":
            remember_inputs(result.record, chain_keys, builtin_key)
        if not self.module.check_mode:
            result.record["backend"] = self.backend
            self.store_record(result.record if state == "present" else None)
        output = dict(changed=result.changed, table=self.table, chains=managed, created=result.created,
                      deleted=result.deleted, applied=payload, backend=self.backend)
        if self.module._diff:
            output["diff"] = dict(before=result.before, after=result.after,
                                  before_header="%s -t %s (owner %s)" % (self.prefix, self.table, self.owner),
                                  after_header="%s -t %s (owner %s)" % (self.prefix, self.table, self.owner))
        return output


def main():
    module = AnsibleModule(
        argument_spec=dict(
            table=dict(type="str", default="filter", choices=["filter", "nat", "mangle", "raw"]),
            ip_version=dict(type="str", default="ipv4", choices=["ipv4", "ipv6"]),
            owner=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            chains=dict(type="list", elements="dict", default=[], options=dict(
                name=dict(type="str", required=True),
                rules=dict(type="list", elements="raw", default=[]),
            )),
            adopt=dict(type="list", elements="str", default=[]),
            service_model=dict(type="dict", options=dict(
                layout=dict(type="str", default="tutorial", choices=["tutorial", "kube-proxy"]),
                services=dict(type="list", elements="raw", default=[]),
                endpoint_slices=dict(type="list", elements="raw", default=[]),
                pods=dict(type="list", elements="raw", default=[]),
                options=dict(type="dict", default={}),
                fail_on_no_endpoints=dict(type="bool", default=False),
            )),
            builtin_rules=dict(type="list", elements="dict", default=[], options=dict(
                chain=dict(type="str", required=True),
                rule=dict(type="str", required=True),
                comment=dict(type="str"),
                position=dict(type="str", default="first", choices=["first", "last"]),
            )),
            wait=dict(type="int", default=30),
            state_dir=dict(type="path", default="/var/lib/k8slab/iptables_chains"),
            backend=dict(type="str", default="auto", choices=["auto", "nft", "legacy"]),
        ),
        mutually_exclusive=[("service_model", "chains"), ("service_model", "builtin_rules")],
        supports_check_mode=True,
    )
    params = module.params
    warnings = []
    try:
        validate_owner(params["owner"])
        if params["wait"] < 0:
            raise ValidationError("wait must be 0 or more seconds")
        declared_chains, declared_builtin = params["chains"], params["builtin_rules"]
        if params["service_model"] is not None and params["state"] == "present":
            declared_chains, declared_builtin, warnings = render_service_model(params["service_model"], params["table"])
        chains = normalize_chains(declared_chains, params["table"])
        builtin_rules = normalize_builtin_rules(declared_builtin, chains)
        adopt = [validate_chain_name(name, params["table"], "adopt: chain") for name in params["adopt"]]
    except ValidationError as exc:
        module.fail_json(msg=str(exc))
    for warning in warnings:
        module.warn(warning)
    worker = IptablesChains(module)
    worker.detect_backend(params["backend"])
    output = worker.converge(params["state"], chains, builtin_rules, adopt)
    rules = sum(len(chain_rules) for chain_rules in chains.values()) + len(builtin_rules)
    if rules > ECHO_LIMIT:
        # Echoing a kube-proxy-sized input (a megabyte) back as the task's invocation costs more than the work.
        output["invocation"] = {"module_args": dict(params, chains="%d chains with %d rules (not echoed back)" % (len(chains), rules))}
        if params["service_model"] is not None:
            output["invocation"]["module_args"]["service_model"] = "%d Services (not echoed back)" % len(params["service_model"]["services"])
    module.exit_json(**output)


if __name__ == "__main__":
    main()
