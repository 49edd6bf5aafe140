# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What one owner declares in one or more iptables tables, read, planned and applied in one restore.

The command-running half of the iptables_chains module, shared with proxy_sync:
:class:`IptablesOwner` detects the backend, reads the tables (one ``iptables-save``
for all of them), turns the declared chains into their canonical text through
one scratch load (for every table at once), plans each table with
:func:`iptables.plan` and applies every table's changes in one
``iptables-restore --noflush``, as kube-proxy writes nat and filter. The pure
logic lives in :mod:`iptables`; ownership records stay one file per owner,
table and IP version.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections import OrderedDict

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import nfacct
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.state_dir import RecordStore, file_digest, text_digest
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.iptables import (
    BUILTIN_CHAINS, ValidationError, builtin_input_key, canonical_from_scratch, cached_canonical, chain_input_keys, chains_digest,
    check_declared, combined_payload, dump_record, empty_record, explain_restore_error, input_digest, load_record,
    merge_records, normalize_builtin_rules, normalize_chains, other_owners, parse_save, parse_tables, plan, planned_digest,
    record_name, referenced_chains, remember_inputs, render_scratch_tables, reusable_canonical, scan_save, validate_chain_name,
    validate_owner, watched_chains)

# Runs inside the scratch namespace; every value comes in as a positional argument, never pasted in:
# restore, save, table, wait, then (when the rules name nfacct counters, which live outside the table and
# must exist for a rule to load) the command that makes them there first. With an empty table every table
# is read back.
SCRATCH_SCRIPT = 'r=$1 s=$2 t=$3 w=$4; shift 4; if [ $# -gt 0 ]; then "$@" || exit 1; fi; "$r" -w "$w" && exec "$s" ${t:+-t "$t"}'
NFACCT_NAMED = re.compile(r"--nfacct-name\s+(\S+)")
NO_CHANGE_VERSION = 1


def code_digest():
    """A digest of the planning code (this module and :mod:`iptables`), read through their loaders (AnsiballZ
    imports them from a zip), so that new code never takes an old run's no-change entry; None when unreadable."""
    try:
        names = (__name__, ValidationError.__module__)
        sources = [sys.modules[name].__loader__.get_source(name) for name in names]
    except (AttributeError, ImportError, KeyError, OSError):
        return None
    return text_digest("".join(sources)) if all(sources) else None


def no_change_input(*values):
    """The digest of a run's raw arguments, as the module got them (before any normalising); None when they
    are not plain JSON data (such a run takes the full path)."""
    code = code_digest()
    try:
        return code and text_digest(json.dumps([NO_CHANGE_VERSION, code, list(values)], sort_keys=True, separators=(",", ":")))
    except (TypeError, ValueError):
        return None


class IptablesOwner:
    """Reads, plans and applies for one owner, IP version and one or more tables."""

    def __init__(self, module, runner, owner, tables, ip_version="ipv4", state_dir="/var/lib/k8slab/iptables_chains",
                 wait=30):
        self.module = module
        self.runner = runner
        self.owner = owner
        self.tables = list(tables)
        self.ip_version = ip_version
        self.wait = wait
        self.state_dir = state_dir
        self.prefix = "iptables" if ip_version == "ipv4" else "ip6tables"
        self.backend = None
        self.version = None
        self.save_bin = None
        self.restore_bin = None
        self.loaded = {}  # table -> the record as loaded (None when there was no file)
        self.on_disk = {}  # table -> the record as the file holds it now
        self.store = RecordStore(state_dir, keep_previous=True)
        self.memo = RecordStore(state_dir)  # the no-change entry: a cache, no .prev

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

    def save_text(self, table=None):
        """``iptables-save -t TABLE``, or every table's ``iptables-save`` when ``table`` is None (which
        leaves out a table not made yet: with -t, iptables-nft shows its built-in chains)."""
        argv = [self.save_bin] + (["-t", table] if table else [])
        dummy, out, dummy = self.run(argv, what=" ".join(argv))
        if "incompatible" in out and "nft" in out:
            self.module.fail_json(msg="table %s holds nftables rules iptables cannot show: %s"
                                  % (table or "/".join(self.tables), out.strip()))
        return out

    def read_tables(self):
        """table -> :class:`iptables.Table`. Several tables come from one ``iptables-save``: with the
        nf_tables backend each save fetches the whole ruleset from the kernel, whatever table it prints."""
        if len(self.tables) == 1:
            return OrderedDict([(self.tables[0], parse_save(self.save_text(self.tables[0]), self.tables[0]))])
        out = self.save_text()
        # One pass over the text for the tables it holds; a table it leaves out is read with -t.
        result = parse_tables(out, [table for table in self.tables if "*%s\n" % table in out])
        return OrderedDict((table, result[table] if table in result else parse_save(self.save_text(table), table))
                           for table in self.tables)

    def scratch_canonical(self, todo, current):
        """Load the desired state of every table into empty tables of a throwaway network namespace, read it back.

        ``todo``: table -> (chains, builtin_rules, other_chains), other_chains being declared chains
        not loaded this time (their canonical form is known). Those and existing chains are declared
        empty when a loaded rule jumps to them, so the jump loads; the others are left out
        (thousands of empty chains would cost more than the few rules being loaded).
        """
        parts = OrderedDict()
        for table, (chains, builtin_rules, other_chains) in todo.items():
            # Chains the rules jump to, and user chains that hold a builtin rule (Docker's DOCKER-USER).
            wanted = referenced_chains(chains, builtin_rules) | {item.chain for item in builtin_rules}
            seen = set(chains)
            foreign = []
            for name in current[table].user_chains() + list(other_chains):
                if name in wanted and name not in seen:
                    seen.add(name)
                    foreign.append(name)
            parts[table] = (chains, builtin_rules, foreign)
        text, line_map = render_scratch_tables(parts)
        unshare = self.runner.bin("unshare")
        shell = self.runner.bin("sh")
        only = list(todo)[0] if len(todo) == 1 else ""
        argv = [unshare, "--net", "--", shell, "-c", SCRATCH_SCRIPT, "k8slab-scratch",
                self.restore_bin, self.save_bin, only, str(self.wait)]
        counters = sorted(set(NFACCT_NAMED.findall(text)))
        if counters:
            argv += [sys.executable, "-c", nfacct.script()] + counters
        rc, out, err = self.run(argv, data=text)
        if rc != 0:
            self.module.fail_json(msg="iptables rejected the declared rules, nothing was changed: %s"
                                  % explain_restore_error(err, line_map), rc=rc, stderr=err)
        result = OrderedDict()
        for table, (chains, builtin_rules, dummy) in parts.items():
            try:
                result[table] = canonical_from_scratch(out, table, chains, builtin_rules)
            except ValidationError as exc:
                self.module.fail_json(msg=str(exc))
            except ValueError as exc:
                self.module.fail_json(msg="cannot read the scratch table back: %s" % exc, stdout=out)
        return result

    def canonical(self, records, declared, current):
        """table -> (canonical chains, canonical builtin rules, chain keys, builtin key, digest).

        The record's remembered canonical forms serve for the parts of the input that did not
        change; the rest goes through one scratch load for all tables (partial sync).
        """
        known, todo = OrderedDict(), OrderedDict()
        for table, (chains, builtin_rules) in declared.items():
            record = records[table]
            chain_keys = chain_input_keys(self.backend, self.version, chains)
            builtin_key = builtin_input_key(self.backend, self.version, builtin_rules)
            digest = input_digest(table, self.ip_version, self.backend, self.version, chains, builtin_rules, chain_keys,
                                  builtin_key)
            cached = cached_canonical(record, digest)
            if cached is not None and any(name not in cached[0] for name in chains):
                cached = None  # a record edited by hand since: canonicalise again (the plan then names the clash)
            if cached is None and not chains and not builtin_rules:
                cached = (OrderedDict(), [])  # nothing declared: nothing to canonicalise
            if cached is None:
                reusable, builtin = reusable_canonical(record, chain_keys, builtin_key)
                if builtin is None and not builtin_rules:
                    builtin = []  # no built-in rule: nothing to load for them
                missing = OrderedDict((name, rules) for name, rules in chains.items() if name not in reusable)
                if missing or builtin is None:
                    todo[table] = (missing, builtin_rules if builtin is None else [],
                                   [name for name in chains if name in reusable])
                cached = (reusable, builtin)
            known[table] = [cached, chain_keys, builtin_key, digest]
        loaded = self.scratch_canonical(todo, current) if todo else {}
        result = OrderedDict()
        for table, ((chains, builtin), chain_keys, builtin_key, digest) in known.items():
            if table in loaded:
                chains = dict(chains)
                chains.update(loaded[table][0])
                if builtin is None:
                    builtin = loaded[table][1]
            ordered = OrderedDict((name, chains[name]) for name in declared[table][0])
            result[table] = (ordered, builtin, chain_keys, builtin_key, digest)
        return result

    # ------------------------------------------------------------ ownership records
    def record_key(self, table, owner=None):
        return record_name(owner or self.owner, table, self.ip_version)[:-len(".json")]

    def record_path(self, table):
        return self.store.path(self.record_key(table))

    def load_records(self):
        """table -> (this owner's record, the other owners' records); a broken record stops the run."""
        result = OrderedDict()
        for table in self.tables:
            mine = empty_record(self.owner, table, self.ip_version)
            others = []
            suffix = ".%s.%s" % (self.ip_version, table)
            self.loaded[table] = None
            for key in self.store.names(suffix):
                owner = key[:-len(suffix)]
                path = self.store.path(key)
                try:
                    record = load_record(self.store.read_text(key), owner, table, self.ip_version)
                except (OSError, ValueError) as exc:
                    # Refuse to guess: an unreadable record could hide chains that must not be touched.
                    self.module.fail_json(msg=(
                        "cannot read ownership record %s: %s. Nothing was changed. To recover: put back the previous "
                        "record (cp %s.prev %s) if it exists; or move the file aside and re-run with adopt listing "
                        "owner %s's chains (iptables-save -t %s shows them; the error of that run names every one); "
                        "see 'Recovering ownership records' in the iptables_chains guide of the collection's docs"
                        % (path, exc, path, path, owner, table)), record=path)
                if owner == self.owner:
                    mine = record
                    self.loaded[table] = record  # plan() only reads it
                    self.on_disk[table] = record
                else:
                    others.append(record)
            result[table] = (mine, others)
        return result

    def has_records(self):
        """Whether this owner has a record in any of its tables (it wrote something there)."""
        return any(os.path.exists(self.record_path(table)) for table in self.tables)

    def store_record(self, table, record):
        """Write this owner's record of ``table`` (the previous one kept as .prev), or remove both when None."""
        if record is None:
            self.store.remove(self.record_key(table))
            self.on_disk[table] = None
            return
        if record == self.on_disk.get(table):  # the usual re-run: nothing to write
            return
        self.store.write_text(self.record_key(table), dump_record(record))
        self.on_disk[table] = record

    # ------------------------------------------------------------ the no-change path
    def no_change_name(self):
        """The no-change entry's name: ``OWNER.IP_VERSION.TABLE.no-change`` (never a record's name, which ends
        in a table)."""
        return "%s.no-change" % self.record_key("+".join(self.tables))

    def record_digests(self):
        """Record name -> sha256 of its file, for every ownership record of these tables (every owner's)."""
        return OrderedDict((key, file_digest(self.store.path(key)))
                           for table in self.tables for key in self.store.names(".%s.%s" % (self.ip_version, table)))

    def recorded_no_change(self, raw_input):
        """The entry the last full run left when its raw input had the digest ``raw_input``, else None; reads
        one file and runs nothing (so bad arguments still fail before any command)."""
        try:
            entry = self.memo.read(self.no_change_name())
        except (OSError, ValueError):
            return None  # only a cache: a bad one means the full path
        if not isinstance(entry, dict) or not raw_input or entry.get("input") != raw_input:
            return None
        return entry if isinstance(entry.get("watched"), dict) and isinstance(entry.get("chains"), dict) else None

    def still_unchanged(self, entry):
        """Whether nothing the entry's run depended on has changed since (after :meth:`detect_backend`): the same
        iptables backend and version, and nothing :meth:`changed_since` finds."""
        if (entry.get("backend"), entry.get("iptables_version")) != (self.backend, self.version):
            return False
        return self.changed_since(entry) is None

    def changed_since(self, entry):
        """Why the tables may differ from what the run that left ``entry`` (:meth:`no_change_entry`) wrote, or None.

        Compared: every ownership record of these tables, byte for byte (this owner's, and the other owners',
        which decide clashes); and the chains this owner watches (its own, and those holding its rules, foreign
        rules and their order included) as one ``iptables-save`` shows them now, against their digest as that
        run left them. A rule edited or deleted by hand, a chain flushed or deleted, a foreign rule put above
        ours all differ. Runs that one save only, with the entry's ``iptables-save`` when the backend was not
        detected (proxy_sync's digest path, which spends no command on ``--version``).
        """
        if entry.get("records") != self.record_digests():
            return "an ownership record changed"
        if not isinstance(entry.get("watched"), dict):
            return "no watched chains recorded"
        if self.save_bin is None:
            if not entry.get("save_bin") or not os.path.exists(entry["save_bin"]):
                return "no iptables-save recorded"
            self.save_bin = entry["save_bin"]
        # One read of every table when more than one is watched: with the nf_tables backend each
        # iptables-save fetches the whole ruleset from the kernel, whatever table it prints.
        tables = list(entry["watched"]) or self.tables
        out = self.save_text(tables[0]) if len(tables) == 1 else self.save_text()
        if chains_digest(scan_save(out, entry["watched"])) != entry.get("live"):
            return "the live rules differ from what was written"
        return None

    def no_change_entry(self, plans):
        """What :meth:`still_unchanged` compares later, after a full run (not in check mode) that made ``plans``:
        the backend, its version and ``iptables-save``, the record digests, the watched chains and their digest."""
        watched = watched_chains(plans)
        return OrderedDict([("backend", self.backend), ("iptables_version", self.version), ("save_bin", self.save_bin),
                            ("records", self.record_digests()), ("watched", watched),
                            ("live", planned_digest(plans, watched))])

    def remember_no_change(self, raw_input, plans, output):
        """After a full run (not in check mode): what a later run with the same raw input compares, or nothing
        when the input cannot be digested."""
        if not raw_input:
            self.forget_no_change()
            return
        entry = OrderedDict([("input", raw_input)])
        entry.update(self.no_change_entry(plans))
        entry["chains"] = output["chains"]
        self.memo.write(self.no_change_name(), entry)

    def forget_no_change(self):
        """Remove this owner's no-change entries for any of these tables: the one named after them, and those an
        owner that switched between one table per run and several tables per run left (``filter`` and ``nat``
        beside ``filter+nat``), so that O(state=absent) leaves no file behind."""
        prefix, suffix = "%s.%s." % (self.owner, self.ip_version), ".no-change"
        for name in self.memo.names(suffix):
            parts = name[len(prefix):-len(suffix)].split("+") if name.startswith(prefix) else []
            if parts and set(parts) <= set(BUILTIN_CHAINS) and set(parts) & set(self.tables):
                self.memo.remove(name)

    # ------------------------------------------------------------ checks and states
    def check_clashes(self, declared, records=None, current=None, adopt=()):
        """Refuse, before any change, a declared chain another owner owns or that exists without being ours.

        ``declared``: table -> (chains, builtin_rules), names are enough. Used for a model that is not
        applied in this run (proxy_sync's drain checks the full model before the drained one is written).
        """
        records = records or self.load_records()
        current = current or self.read_tables()
        for table, (chains, builtin_rules) in declared.items():
            record, others = records[table]
            foreign_owned, dummy = other_owners(others)
            try:
                check_declared(current[table], chains, builtin_rules, foreign_owned, record, frozenset(adopt))
            except ValidationError as exc:
                self.fail_clash(table, exc)

    def fail_clash(self, table, exc):
        if not os.path.exists(self.record_path(table)) and "was not created by owner" in str(exc):
            exc = "%s. There is no ownership record %s: if these chains are left from an earlier run of owner %s " \
                  "whose record was lost, re-run once with adopt listing them" % (exc, self.record_path(table), self.owner)
        self.module.fail_json(msg=str(exc), record=self.record_path(table))

    def converge(self, state, declared=None, adopt=(), records=None, current=None):
        """Bring every table to ``declared`` (table -> (chains, builtin_rules)), or remove all (state=absent).

        Returns (output, plans): output has changed, tables, chains, created, deleted, applied and
        backend; plans maps each table to its :class:`iptables.Plan` (``final`` is the table after it).
        """
        return self.apply(state, self.plan(state, declared, adopt, records, current))

    def plan(self, state, declared=None, adopt=(), records=None, current=None):
        """Read, check and plan every table without changing the node (the scratch load included, so content the
        kernel refuses fails here); :meth:`apply` writes the plan. Returns (records, canonical, plans)."""
        records = records or self.load_records()
        current = current or self.read_tables()
        canonical = self.canonical(dict((t, r[0]) for t, r in records.items()), declared, current) \
            if state == "present" else {}
        plans = OrderedDict()
        for table in self.tables:
            record, others = records[table]
            if state == "present":
                desired_chains, desired_builtin, dummy, dummy, digest = canonical[table]
            else:
                desired_chains, desired_builtin, digest = {}, [], None
            try:
                plans[table] = plan(current[table], desired_chains, desired_builtin, record, others, digest,
                                    adopt=frozenset(adopt))
            except ValidationError as exc:
                self.fail_clash(table, exc)
            plans[table].managed = list(desired_chains) if state == "present" else list(record["chains"])
        return records, canonical, plans

    def apply(self, state, planned):
        """Write what :meth:`plan` planned in one ``iptables-restore --noflush`` (not in check mode) and record it;
        returns (output, plans) as :meth:`converge` does."""
        records, canonical, plans = planned
        payload = combined_payload(plans.values())
        if payload and not self.module.check_mode:
            if state == "present":
                for table in self.tables:  # the journal (see merge_records), for the tables this restore writes
                    if plans[table].changed:
                        self.store_record(table, merge_records(records[table][0], plans[table].record))
            rc, dummy, err = self.runner.change([self.restore_bin, "--noflush", "-w", str(self.wait)], data=payload)
            if rc != 0:
                if len(self.tables) == 1:
                    table = self.tables[0]
                    self.store_record(table, records[table][0] if self.loaded[table] is not None else None)
                    where = "the table is unchanged"
                else:
                    # Tables before the failing line may be committed: the journal records (a superset) stay.
                    where = "each table is as before or as declared (iptables-restore commits one table at a time)"
                lines = dict(enumerate(payload.splitlines(), 1))
                self.module.fail_json(msg="iptables-restore failed, %s: %s" % (where, explain_restore_error(err, lines)),
                                      rc=rc, stderr=err, applied="")
        for table, result in plans.items():
            if state == "present":
                remember_inputs(result.record, canonical[table][2], canonical[table][3])
            if not self.module.check_mode:
                result.record["backend"] = self.backend
                # A table where the owner declares nothing keeps no record (as state=absent leaves it).
                keep = state == "present" and (result.record["chains"] or result.record["builtin_rules"]
                                               or len(self.tables) == 1)
                self.store_record(table, result.record if keep else None)
        output = dict(changed=any(result.changed for result in plans.values()), tables=list(self.tables),
                      chains=dict((table, result.managed) for table, result in plans.items()),
                      created=dict((table, result.created) for table, result in plans.items()),
                      deleted=dict((table, result.deleted) for table, result in plans.items()),
                      applied=payload, backend=self.backend)
        return output, plans

    def diff(self, plans):
        """The owner's chains and rules before and after, iptables-save style, every table."""
        header = "%s -t %s (owner %s)" % (self.prefix, "/".join(self.tables), self.owner)
        return dict(before="".join(result.before for result in plans.values()),
                    after="".join(result.after for result in plans.values()),
                    before_header=header, after_header=header)


# The options of one table's chains and built-in rules (iptables_chains' top-level ones, and each item of its
# tables; pod_sync's iptables.tables), so both modules take the same shapes.
TABLES = ["filter", "nat", "mangle", "raw"]
BACKENDS = ["auto", "nft", "legacy"]
CHAINS_SPEC = dict(type="list", elements="dict", default=[], options=dict(
    name=dict(type="str", required=True),
    rules=dict(type="list", elements="raw", default=[]),
))
BUILTIN_RULES_SPEC = dict(type="list", elements="dict", default=[], options=dict(
    chain=dict(type="str", required=True),
    rule=dict(type="str", required=True),
    comment=dict(type="str"),
    position=dict(type="str", default="first", choices=["first", "last"]),
))
TABLE_ITEM_SPEC = dict(
    table=dict(type="str", required=True, choices=TABLES),
    chains=CHAINS_SPEC,
    builtin_rules=BUILTIN_RULES_SPEC,
)


def requested_tables(items):
    """table -> (raw chains, raw builtin rules) from a list of O(tables) items, in the order given."""
    result = OrderedDict()
    for item in items:
        if item["table"] in result:
            raise ValidationError("tables: table %s is listed twice" % item["table"])
        result[item["table"]] = (item.get("chains") or [], item.get("builtin_rules") or [])
    if not result:
        raise ValidationError("tables must list at least one table")
    return result


def per_table(output, tables):
    """The engine's output per table: its chains, and what the run created and deleted."""
    return OrderedDict((table, dict(chains=output["chains"][table], created=output["created"][table],
                                    deleted=output["deleted"][table])) for table in tables)


class TablesSync:
    """One owner's chains and built-in rules in one or more tables, as iptables_chains applies them.

    Made before anything changes: the owner, the wait and (unless the no-change entry recorded for these very
    arguments still matches the node) every chain and rule are checked, raising :class:`ValidationError`, and
    planned, the scratch load included, so content the kernel refuses fails here too; only :meth:`apply` changes
    the node. ``tables`` maps table -> (raw chains, raw built-in rules), as :func:`requested_tables` gives it.
    """

    def __init__(self, module, runner, owner, tables, ip_version="ipv4", state="present", adopt=(),
                 state_dir="/var/lib/k8slab/iptables_chains", wait=30, backend="auto"):
        validate_owner(owner)
        if wait < 0:
            raise ValidationError("wait must be 0 or more seconds")
        self.module = module
        self.tables = tables
        self.state = state
        self.worker = IptablesOwner(module, runner, owner, list(tables), ip_version, state_dir, wait)
        # The no-change path: the raw arguments' digest, taken before anything is checked or rendered (diff mode
        # always takes the full path, which shows the owner's chains).
        self.raw_input = None
        if state == "present":
            self.raw_input = no_change_input("+".join(tables), ip_version, owner, list(tables.values()), list(adopt))
        entry = None if module._diff else self.worker.recorded_no_change(self.raw_input)
        # Without an entry for these arguments they are checked before any command runs.
        arguments = self.normalized(adopt) if entry is None else None
        self.worker.detect_backend(backend)
        self.unchanged = entry if entry is not None and self.worker.still_unchanged(entry) else None
        self.planned = None
        if self.unchanged is None:
            declared, adopt = arguments or self.normalized(adopt)
            self.planned = self.worker.plan(state, declared if state == "present" else None, adopt)

    def normalized(self, adopt):
        declared = OrderedDict()
        for table, (chains, builtin_rules) in self.tables.items():
            chains = normalize_chains(chains, table)
            declared[table] = (chains, normalize_builtin_rules(builtin_rules, chains))
        names = [validate_chain_name(name, table, "adopt: chain") for name in adopt for table in self.tables]
        return declared, list(OrderedDict.fromkeys(names))

    def apply(self):
        """Converge (or, in check mode, plan) every table; the engine's output, with digest_hit and, in diff mode,
        diff."""
        worker = self.worker
        if self.unchanged is not None:
            empty = dict((table, []) for table in self.tables)
            return dict(changed=False, chains=self.unchanged["chains"], created=empty, deleted=empty, applied="",
                        backend=worker.backend, digest_hit=True)
        converged, plans = worker.apply(self.state, self.planned)
        output = dict(converged, digest_hit=False)
        if self.module._diff:
            output["diff"] = worker.diff(plans)
        if not self.module.check_mode:
            if self.state == "present":
                worker.remember_no_change(self.raw_input, plans, converged)
            else:
                worker.forget_no_change()
        return output
