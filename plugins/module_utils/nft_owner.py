# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One nftables table, read, planned and rewritten in one ``nft -f`` transaction.

The command-running half of the nft_table module, shared with proxy_sync; the
pure logic lives in :mod:`nftables`.
"""

from __future__ import annotations

import json

from ansible_collections.k8slab.kube_proxy.plugins.module_utils.state_dir import RecordStore
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.nftables import (
    TableState, ValidationError, dump_record, explain_nft_error, load_record, new_record, plan, record_name,
    scratch_input, split_scratch_output, table_state, tables)

# Runs inside the scratch namespace; the nft path comes in as $1, the ruleset on stdin.
SCRATCH_SCRIPT = '"$1" -f - && "$1" -j list ruleset && exec "$1" -s list ruleset'


class NftTable:
    """Reads, plans and applies one table."""

    def __init__(self, module, runner, family, name, state_dir="/var/lib/k8slab/nft_table", state="present"):
        self.module = module
        self.family = family
        self.name = name
        self.state_dir = state_dir
        self.store = RecordStore(self.state_dir)
        self.runner = runner
        self.text = None  # the table's text after converge(), when known
        self.nft = self.runner.bin("nft", required=False)
        if not self.nft:
            if state == "absent" and self.load_record() is None:
                # Without nft this module never made the table: nothing of ours to remove.
                module.exit_json(changed=False, family=self.family, name=self.name, created=False, deleted=False,
                                 adopted=False, removed=[], replaced=[], applied="")
            module.fail_json(msg="nft not found on PATH; install nftables")

    def parse(self, out, what):
        try:
            return json.loads(out)
        except ValueError as exc:
            self.module.fail_json(msg="cannot read %s: %s" % (what, exc), stdout=out)

    # ------------------------------------------------------------ reading
    def read_live(self, text=True):
        """(TableState or None, nft -s list text) of the live table; the text is None without ``text``."""
        dummy, out, dummy = self.runner.read([self.nft, "-j", "list", "tables", self.family], what="nft list tables")
        if (self.family, self.name) not in tables(self.parse(out, "nft -j list tables")):
            return None, ""
        dummy, out, dummy = self.runner.read([self.nft, "-j", "list", "table", self.family, self.name], what="nft -j list table")
        try:
            state = table_state(self.parse(out, "nft -j list table"), self.family, self.name)
        except ValueError as exc:
            self.module.fail_json(msg="cannot read table %s %s: %s" % (self.family, self.name, exc))
        if not text:
            return state, None
        return state, self.read_text()

    def read_text(self):
        """``nft -s list table`` of the live table."""
        dummy, text, dummy = self.runner.read([self.nft, "-s", "list", "table", self.family, self.name], what="nft -s list table")
        return text

    def scratch(self, content):
        """Load the desired table into an empty, throwaway network namespace; return its canonical state and text."""
        unshare = self.runner.bin("unshare")
        shell = self.runner.bin("sh")
        argv = [unshare, "--net", "--", shell, "-c", SCRATCH_SCRIPT, "k8slab-scratch", self.nft]
        # A read as far as the node goes: the scratch namespace is thrown away with the process.
        rc, out, err = self.runner.read(argv, data=scratch_input(self.family, self.name, content))
        if rc != 0:
            self.module.fail_json(msg="nft rejected the content, nothing was changed: %s" % explain_nft_error(err),
                                  rc=rc, stderr=err)
        try:
            listing, text = split_scratch_output(out)
            found = tables(listing)
            if found != [(self.family, self.name)]:
                raise ValidationError("content must only fill table %s %s, but it made tables %s"
                                      % (self.family, self.name, ", ".join("%s %s" % table for table in found)))
            state = table_state(listing, self.family, self.name)
        except ValidationError as exc:
            self.module.fail_json(msg=str(exc))
        except ValueError as exc:
            self.module.fail_json(msg="cannot read the scratch table back: %s" % exc, stdout=out)
        return state, text

    def load(self, payload):
        """``nft -f`` of payload: (rc, stderr). nft applies all of it or, when it fails, nothing."""
        rc, dummy, err = self.runner.change([self.nft, "-f", "-"], data=payload)
        return rc, err

    # ------------------------------------------------------------ ownership record
    def record_key(self):
        return record_name(self.family, self.name)[:-len(".json")]

    def record_path(self):
        return self.store.path(self.record_key())

    def load_record(self):
        try:
            text = self.store.read_text(self.record_key())
        except OSError as exc:
            self.module.fail_json(msg="cannot read ownership record %s: %s" % (self.record_path(), exc))
        if text is None:
            return None
        try:
            return load_record(text, self.family, self.name)
        except ValueError as exc:
            self.module.fail_json(msg="cannot read ownership record %s: %s" % (self.record_path(), exc))

    def store_record(self, record):
        """Write the table's record (None: remove it); nothing is written when it holds the same already."""
        if record is None:
            self.store.remove(self.record_key())
        else:
            self.store.write_text(self.record_key(), dump_record(record))

    # ------------------------------------------------------------ states
    def check_owned(self, adopt=False, text=True):
        """Refuse, before any change, a table that exists without a record (someone else's). Returns
        (record, live state, live text (None without ``text``), adopted)."""
        record = self.load_record()
        live, live_text = self.read_live(text)
        if live is not None and record is None and not adopt:
            self.module.fail_json(msg="table %s %s exists but nft_table did not create it (no record %s); it is "
                                  "left as it is. Set adopt=true to take it over" % (self.family, self.name, self.record_path()))
        return record, live, live_text, live is not None and record is None

    def converge(self, state, content, adopt, trusted=False):
        """Bring the table to ``content`` (state=present) or remove it. Afterwards ``self.text`` holds the
        table's ``nft -s list table`` text as it now is (what the scratch load listed, when this run made the
        table), or None when it was not read (the caller reads it if it needs it).

        ``trusted`` content was written by the collection's own renderer, not by a user: when the table does
        not exist yet, it is loaded as it is, without the scratch load (a ``nft -f`` of a new table changes
        all or nothing already; the scratch load would check that user content only fills its own table and
        give the canonical listing that the diff shows and the comparison with an existing table needs). Check
        mode and diff mode still load it in the scratch namespace: their answer is what nft made of it."""
        # The live table's text serves the diff and, when nothing changes, is the table's text after the run.
        record, live, live_text, adopted = self.check_owned(adopt, text=self.module._diff)
        if state == "absent":
            desired, desired_text = None, ""
        elif trusted and live is None and not (self.module.check_mode or self.module._diff):
            desired, desired_text = TableState(self.family, self.name), scratch_input(self.family, self.name, content)
        else:
            desired, desired_text = self.scratch(content)
        result = plan(self.family, self.name, live, desired, desired_text)
        # The intent first: a run killed between nft -f and the record would leave a table that no record
        # names, which every later run refuses as someone else's; a record of a table not made yet is harmless.
        intent = result.payload and not self.module.check_mode and state == "present" and record is None
        if intent:
            self.store_record(new_record(self.family, self.name, result.created))
        if result.payload:
            rc, err = self.load(result.payload)
            if rc != 0:
                if intent:
                    self.store_record(None)  # nft -f changed nothing: the node is as before, without a record
                self.module.fail_json(msg="nft -f failed, the ruleset is unchanged: %s"
                                      % explain_nft_error(err, offset=0, what="applied"),
                                      rc=rc, stderr=err, applied=result.payload)
        if self.module.check_mode:
            self.text = None
        elif result.created and not trusted:
            self.text = desired_text  # made by the scratch's own listing: it lists as the scratch table did
        elif result.payload:
            self.text = None if state == "present" else ""  # a rewrite keeps the table's comment: read it back
        else:
            self.text = live_text
        if not self.module.check_mode:
            if state == "present":
                created = result.created or bool(record and record["created"])
                self.store_record(new_record(self.family, self.name, created))
            else:
                self.store_record(None)
        output = dict(changed=result.changed or (adopted and state == "present"), family=self.family, name=self.name,
                      created=result.created, deleted=result.deleted, adopted=adopted and state == "present",
                      removed=result.removed, replaced=result.replaced, applied=result.payload)
        if self.module._diff:
            live_text = live_text or ""
            after = "" if state == "absent" else (desired_text if result.changed else live_text)
            header = "nft list table %s %s" % (self.family, self.name)
            output["diff"] = dict(before=live_text, after=after, before_header=header, after_header=header)
        return output
