# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure logic of the iptables_chains module, kube-proxy style: compute, then apply once.

Nothing here runs a command; the module feeds in ``iptables-save`` text and
ownership records and gets back an ``iptables-restore --noflush`` payload.

* validation of chain names, rule text and comments (a rule is one payload line,
  so a newline would let a rule write arbitrary restore commands);
* :func:`parse_save`: one table of ``iptables-save`` output;
* :func:`render_scratch` / :func:`canonical_from_scratch`: the desired chains
  written for a throwaway network namespace and read back, which gives the
  exact text ``iptables-save`` will show for them (``10.96.0.1/32``,
  ``0.50000000000``, ``-m tcp`` added, matches reordered);
* :func:`plan`: current table + canonical desired state + ownership records ->
  payload lines, created/deleted chains, the new record and the diff texts, in
  named steps: :func:`check_declared`, :func:`plan_owned_chains`,
  :func:`plan_released_chains`, :func:`plan_builtin_rules`,
  :func:`check_dangling_jumps`, :func:`diff_texts`.

Ownership lives in a record (a JSON file per owner, table and IP version):
the chains the owner declared, each marked ``created`` (the owner made it, so
it may delete it) or adopted (it existed before; pruning only removes the
owner's rules from it), and the rules it keeps in chains it does not own.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from collections import Counter, OrderedDict, namedtuple

BUILTIN_CHAINS = {
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "raw": ("PREROUTING", "OUTPUT"),
}
POSITIONS = ("first", "last")
RECORD_VERSION = 1
# iptables allows 28 characters; we also keep to characters that need no quoting.
CHAIN_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:+=@\-]{0,27}$")
OWNER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
COMMENT_MAX = 256
# Options that would make one rule line do something else than append a rule.
FORBIDDEN_RULE_TOKENS = {
    "-A", "--append", "-I", "--insert", "-D", "--delete", "-R", "--replace", "-N", "--new-chain",
    "-X", "--delete-chain", "-F", "--flush", "-Z", "--zero", "-P", "--policy", "-E", "--rename-chain",
    "-t", "--table", "-L", "--list", "-S", "--list-rules", "-C", "--check",
}

BuiltinRule = namedtuple("BuiltinRule", "chain rule position")


class ValidationError(ValueError):
    """Bad input or a state the module refuses to touch; raised before any change."""


class Table:
    """One table of ``iptables-save`` output: chains in order, their policy and rules."""

    def __init__(self, name):
        self.name = name
        self.policy = OrderedDict()  # chain -> policy ("-" for user chains)
        self.rules = {}  # chain -> [rule text without "-A CHAIN "]

    def user_chains(self):
        return [name for name, policy in self.policy.items() if policy == "-"]

    def is_builtin(self, chain):
        return chain in self.policy and self.policy[chain] != "-"

    def has(self, chain):
        return chain in self.policy


# ---------------------------------------------------------------- validation

def validate_owner(owner):
    if not isinstance(owner, str) or not OWNER_RE.match(owner):
        raise ValidationError("owner %r must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"
                              % (owner,))
    return owner


def validate_chain_name(name, table, what="chain"):
    if not isinstance(name, str) or not CHAIN_RE.match(name):
        raise ValidationError("%s name %r is not allowed: 1-28 letters, digits and _ . : + = @ - (not first)"
                              % (what, name))
    if name in BUILTIN_CHAINS[table]:
        raise ValidationError("%s %s is a built-in chain of table %s; declare its rules in builtin_rules"
                              % (what, name, table))
    return name


_WORD = re.compile(r'(?:[^\s"]+|"[^"]*")+')


def split_words(rule):
    """The words of a rule as shlex.split() makes them, without shlex's cost in the common cases.

    kube-proxy-sized rulesets have 10,000 rules, most with a double-quoted comment: shlex
    (a character at a time) would take seconds. Double quotes alone are split here the same
    way; single quotes and backslashes go to shlex.
    """
    if "'" in rule or "\\" in rule:
        return shlex.split(rule)
    if '"' not in rule:
        return rule.split()
    if rule.count('"') % 2:
        raise ValueError("No closing quotation")
    return [word.replace('"', "") for word in _WORD.findall(rule)]


def validate_rule(text, where):
    """Return the stripped rule text or raise: one line, no leading -A CHAIN, no table commands."""
    if not isinstance(text, str):
        raise ValidationError("%s: a rule must be a string, got %r" % (where, text))
    if any(char in text for char in "\n\r\0"):
        raise ValidationError("%s: a rule must be one line: %r" % (where, text))
    rule = text.strip()
    if not rule:
        raise ValidationError("%s: empty rule" % where)
    try:
        tokens = split_words(rule)
    except ValueError as exc:
        raise ValidationError("%s: rule %r cannot be split into words (%s)" % (where, rule, exc))
    for token in tokens:
        if token in FORBIDDEN_RULE_TOKENS:
            raise ValidationError("%s: rule %r contains %s; write only the rule's matches and target, without "
                                  "-A CHAIN or table commands" % (where, rule, token))
    return rule


def quote_comment(comment):
    """Quote a comment the way iptables-save prints it (and iptables-restore reads it)."""
    return '"%s"' % comment.replace("\\", "\\\\").replace('"', '\\"')


def render_rule(rule, comment=None, where="rule"):
    """A rule's text with its comment rendered as the first match, so the comment is part of the rule."""
    rule = validate_rule(rule, where)
    if comment is None:
        return rule
    if not isinstance(comment, str) or any(char in comment for char in "\n\r\0"):
        raise ValidationError("%s: comment must be a one-line string: %r" % (where, comment))
    if not comment or len(comment.encode("utf-8")) > COMMENT_MAX - 1:
        raise ValidationError("%s: comment must have 1 to %d bytes" % (where, COMMENT_MAX - 1))
    return "-m comment --comment %s %s" % (quote_comment(comment), rule)


def normalize_chains(chains, table):
    """The ``chains`` option as an OrderedDict name -> [rendered rule], validated."""
    result = OrderedDict()
    for index, chain in enumerate(chains or []):
        if not isinstance(chain, dict):
            raise ValidationError("chains[%d] must be a dict with name and rules" % index)
        name = validate_chain_name(chain.get("name"), table)
        if name in result:
            raise ValidationError("chain %s is declared twice" % name)
        rules = []
        for position, item in enumerate(chain.get("rules") or []):
            where = "chains[%s].rules[%d]" % (name, position)
            if isinstance(item, dict):
                unknown = set(item) - {"rule", "comment"}
                if unknown:
                    raise ValidationError("%s: unknown keys %s (use rule and comment)" % (where, ", ".join(sorted(unknown))))
                rules.append(render_rule(item.get("rule"), item.get("comment"), where))
            else:
                rules.append(render_rule(item, None, where))
        result[name] = rules
    return result


def normalize_builtin_rules(builtin_rules, declared):
    """The ``builtin_rules`` option as a list of BuiltinRule(chain, rendered rule, position)."""
    result = []
    for index, item in enumerate(builtin_rules or []):
        where = "builtin_rules[%d]" % index
        if not isinstance(item, dict):
            raise ValidationError("%s must be a dict with chain and rule" % where)
        chain = item.get("chain")
        if not isinstance(chain, str) or not (CHAIN_RE.match(chain) or chain in sum(BUILTIN_CHAINS.values(), ())):
            raise ValidationError("%s: chain %r is not a valid chain name" % (where, chain))
        if chain in declared:
            raise ValidationError("%s: chain %s is one of this owner's chains; put the rule in its rules list" % (where, chain))
        position = item.get("position") or "first"
        if position not in POSITIONS:
            raise ValidationError("%s: position must be first or last, got %r" % (where, position))
        result.append(BuiltinRule(chain, render_rule(item.get("rule"), item.get("comment"), where), position))
    return result


def input_digest(table, ip_version, backend, version, chains, builtin_rules, chain_keys=None, builtin_key=None):
    """A digest of everything the canonical form depends on: a cache key for it. Made of the per-chain keys
    (:func:`chain_input_keys`, :func:`builtin_input_key`; pass them when they are at hand), which already hold
    the rules, the backend and the version: the rules are not encoded a second time."""
    chain_keys = chain_input_keys(backend, version, chains) if chain_keys is None else chain_keys
    builtin_key = builtin_input_key(backend, version, builtin_rules) if builtin_key is None else builtin_key
    data = [table, ip_version, backend, version, list(chain_keys.items()), builtin_key]
    return hashlib.sha256(json.dumps(data).encode("utf-8")).hexdigest()


def chain_input_keys(backend, version, chains):
    """Per declared chain, a digest of its declared rules and of the iptables that canonicalised them.

    Recorded next to each chain's canonical rules, so that when some chains
    change only those go through the scratch namespace again (partial sync).
    The rules are joined with newlines, which no validated rule or chain name
    holds (nor a NUL), rather than JSON-encoded chain by chain: kube-proxy-sized
    input has thousands of chains.
    """
    prefix = json.dumps([backend, version]) + "\0"
    return OrderedDict((name, hashlib.sha256(("%s%s\0%s" % (prefix, name, "\n".join(rules))).encode("utf-8")).hexdigest()[:24])
                       for name, rules in chains.items())


def builtin_input_key(backend, version, builtin_rules):
    """The same for the rules in built-in chains, all of them together (they are few)."""
    data = json.dumps([backend, version, [list(rule) for rule in builtin_rules]])
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:24]


def reusable_canonical(record, chain_keys, builtin_key):
    """The canonical forms the record holds for the parts of the input that did not change.

    Returns (chains, builtin): chain name -> canonical rules for every declared
    chain whose declared rules are as recorded; the canonical built-in chain
    rules when those are as recorded, else None.
    """
    chains = {}
    for name, key in chain_keys.items():
        entry = record["chains"].get(name)
        if entry and entry.get("input") == key:
            chains[name] = list(entry["rules"])
    builtin = list(record["builtin_rules"]) if builtin_key and record.get("builtin_input") == builtin_key else None
    return chains, builtin


def referenced_chains(chains, builtin_rules):
    """Every name the given rules jump or go to (a scratch table only needs those chains to exist)."""
    names = set()
    for rules in chains.values():
        for rule in rules:
            names |= _jump_targets(rule)
    for item in builtin_rules:
        names |= _jump_targets(item.rule)
    return names


def remember_inputs(record, chain_keys, builtin_key):
    """Put the input keys into a record plan() made, next to the canonical rules they produced."""
    record["builtin_input"] = builtin_key
    for name, entry in record["chains"].items():
        if name in chain_keys:
            entry["input"] = chain_keys[name]
    return record


# ---------------------------------------------------------------- reading iptables-save

def parse_save(text, table):
    """Parse the section of ``table`` from ``iptables-save`` output (missing table: empty Table)."""
    return parse_tables(text, [table])[table]


def parse_tables(text, tables):
    """:func:`parse_save` for several tables in one pass over the text: table -> Table."""
    result = OrderedDict((table, Table(table)) for table in tables)
    found = None  # the Table of the section being read, None outside a wanted one
    for number, line in enumerate((text or "").splitlines(), 1):
        if not line or line[0] == "#":
            continue
        if line[0] == "*":
            found = result.get(line[1:].strip())
            continue
        if found is None:
            continue
        if line == "COMMIT":
            found = None
        elif line.startswith("-A "):
            parts = line.split(" ", 2)
            rules = found.rules.get(parts[1])
            if rules is None:
                raise ValueError("iptables-save line %d: rule for undeclared chain %s" % (number, parts[1]))
            rules.append(parts[2] if len(parts) > 2 else "")
        elif line[0] == ":":
            parts = line[1:].split()
            if len(parts) < 2:
                raise ValueError("iptables-save line %d: bad chain line %r" % (number, line))
            found.policy[parts[0]] = parts[1]
            found.rules.setdefault(parts[0], [])
        else:
            raise ValueError("iptables-save line %d: unexpected %r" % (number, line))
    return result


# ---------------------------------------------------------------- canonical form via a scratch namespace

def render_scratch(table, chains, builtin_rules, foreign_chains):
    """The restore input that loads the desired state into an empty scratch table.

    Returns (text, line_map): line_map[n] says which input line n came from, so
    iptables-restore's "Error occurred at line: n" can name the rule.
    """
    lines = ["*%s" % table]
    where = ["table"]
    for name in chains:
        lines.append(":%s - [0:0]" % name)
        where.append("chain %s" % name)
    for name in foreign_chains:
        if name not in chains:
            lines.append(":%s - [0:0]" % name)
            where.append("existing chain %s" % name)
    for name, rules in chains.items():
        for rule in rules:
            lines.append("-A %s %s" % (name, rule))
            where.append("chain %s" % name)
    for item in builtin_rules:
        lines.append("-A %s %s" % (item.chain, item.rule))
        where.append("builtin rule in %s" % item.chain)
    lines.append("COMMIT")
    where.append("table")
    line_map = dict((number, "%s: %s" % (label, line)) for number, (label, line) in enumerate(zip(where, lines), 1))
    return "\n".join(lines) + "\n", line_map


def render_scratch_tables(parts):
    """:func:`render_scratch` for several tables in one restore input.

    ``parts``: table -> (chains, builtin_rules, foreign_chains). Returns (text, line_map) as
    render_scratch does, line numbers counted over the whole text.
    """
    texts, line_map, offset = [], {}, 0
    for table, (chains, builtin_rules, foreign_chains) in parts.items():
        text, lines = render_scratch(table, chains, builtin_rules, foreign_chains)
        texts.append(text)
        line_map.update((number + offset, where) for number, where in lines.items())
        offset += len(lines)
    return "".join(texts), line_map


def explain_restore_error(stderr, line_map):
    """iptables' own message plus the payload line it points at."""
    message = (stderr or "").strip()
    match = re.search(r"Error occurred at line: (\d+)", message)
    if match and int(match.group(1)) in line_map:
        message += "\n(line %s is %s)" % (match.group(1), line_map[int(match.group(1))])
    return message


def canonical_from_scratch(save_text, table, chains, builtin_rules):
    """Map the scratch table read back with iptables-save onto the declared chains and builtin rules."""
    scratch = parse_save(save_text, table)
    canonical_chains = OrderedDict()
    for name in chains:
        if not scratch.has(name):
            raise ValueError("chain %s missing from the scratch table" % name)
        canonical_chains[name] = list(scratch.rules[name])
    by_chain = OrderedDict()
    for item in builtin_rules:
        by_chain.setdefault(item.chain, []).append(item)
    canonical_builtin = {}
    for chain, items in by_chain.items():
        read = scratch.rules.get(chain, [])
        if len(read) != len(items):
            raise ValidationError("the builtin rules for chain %s became %d iptables rules instead of %d; a rule with "
                                  "several addresses expands into one rule per address, declare them one by one"
                                  % (chain, len(read), len(items)))
        for item, rule in zip(items, read):
            canonical_builtin[id(item)] = rule
    return canonical_chains, [BuiltinRule(item.chain, canonical_builtin[id(item)], item.position) for item in builtin_rules]


# ---------------------------------------------------------------- ownership records

def record_name(owner, table, ip_version):
    return "%s.%s.%s.json" % (owner, ip_version, table)


def empty_record(owner, table, ip_version):
    return {"version": RECORD_VERSION, "owner": owner, "table": table, "ip_version": ip_version,
            "backend": None, "input_digest": None, "builtin_input": None, "chains": OrderedDict(), "builtin_rules": []}


def load_record(text, owner, table, ip_version):
    """Parse a record file's text; refuse one that belongs to someone else or is malformed."""
    data = json.loads(text)  # dicts keep their order
    if not isinstance(data, dict) or data.get("version") != RECORD_VERSION:
        raise ValidationError("unsupported ownership record version %r" % (data.get("version") if isinstance(data, dict) else data))
    for key, want in (("owner", owner), ("table", table), ("ip_version", ip_version)):
        if data.get(key) != want:
            raise ValidationError("ownership record has %s=%r, expected %r" % (key, data.get(key), want))
    record = empty_record(owner, table, ip_version)
    record["backend"] = data.get("backend")
    record["input_digest"] = data.get("input_digest")
    record["builtin_input"] = data.get("builtin_input")
    for name, entry in (data.get("chains") or {}).items():
        record["chains"][name] = {"created": bool(entry.get("created")), "rules": list(entry.get("rules") or [])}
        if entry.get("input"):
            record["chains"][name]["input"] = entry["input"]
    record["builtin_rules"] = [BuiltinRule(item["chain"], item["rule"], item.get("position", "first"))
                               for item in data.get("builtin_rules") or []]
    return record


def dump_record(record):
    data = dict(record)
    data["builtin_rules"] = [OrderedDict([("chain", item.chain), ("rule", item.rule), ("position", item.position)])
                             for item in record["builtin_rules"]]
    # One chain per line: readable, and still the fast C encoder for kube-proxy-sized records.
    lines = ['"chains": {']
    chains = list(data.pop("chains").items())
    for index, (name, entry) in enumerate(chains):
        lines.append(" %s: %s%s" % (json.dumps(name), json.dumps(entry), "," if index < len(chains) - 1 else ""))
    lines.append("},")
    head = json.dumps(OrderedDict((key, data[key]) for key in data if key != "builtin_rules"))
    rules = json.dumps(data["builtin_rules"])
    return head[:-1] + ",\n" + "\n".join(lines) + '\n"builtin_rules": ' + rules + "}\n"


def cached_canonical(record, digest):
    """The canonical desired state remembered for this exact input, or None."""
    if not record or not digest or record.get("input_digest") != digest:
        return None
    return (OrderedDict((name, list(entry["rules"])) for name, entry in record["chains"].items()),
            list(record["builtin_rules"]))


# ---------------------------------------------------------------- planning

# The word after each -j/--jump/-g/--goto word, as rule.split() would give them (a lookahead: "-j -j X" gives both).
_JUMP = re.compile(r"(?<!\S)(?:-j|--jump|-g|--goto)(?=\s+(\S+))")


def _jump_targets(rule):
    return set(_JUMP.findall(rule))


def _claim(current_rules, claim_counts, other_counts):
    """Split a foreign chain's rules into ours (index, rule), neutral (other owners') and foreign indexes."""
    claim = Counter(claim_counts)
    others = Counter(other_counts)
    ours, foreign = [], []
    for index, rule in enumerate(current_rules):
        if claim[rule] > 0:
            claim[rule] -= 1
            ours.append((index, rule))
        elif others[rule] > 0:
            others[rule] -= 1
        else:
            foreign.append(index)
    return ours, foreign


def _save_text(table, chain_names, builtin_lines, chain_rules):
    lines = ["*%s" % table] + [":%s - [0:0]" % name for name in chain_names]
    lines += builtin_lines
    for name in chain_names:
        lines += ["-A %s %s" % (name, rule) for rule in chain_rules.get(name, [])]
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


class Plan:
    """What one run does: payload lines, results and the record to store afterwards."""

    def __init__(self, table):
        self.table = table
        self.declare = []  # ":CHAIN - [0:0]": create or flush
        self.deletes = []  # "-D CHAIN rule": our rules in chains we do not own
        self.appends = []  # "-A CHAIN rule": contents of our chains
        self.inserts = []  # "-I CHAIN n rule" / "-A CHAIN rule": our rules in chains we do not own
        self.removes = []  # "-X CHAIN": pruned chains we created
        self.created = []
        self.deleted = []
        self.record = None
        self.final = {}  # chain -> rules: the table after the change
        self.managed = []
        self.diff_inputs = None  # diff_texts' arguments, set by plan()
        self._diff = None

    def diff(self):
        """(before, after): what this owner owns before and after, iptables-save style (:func:`diff_texts`)."""
        if self._diff is None:
            self._diff = diff_texts(*self.diff_inputs) if self.diff_inputs else ("", "")
        return self._diff

    @property
    def before(self):
        return self.diff()[0]

    @property
    def after(self):
        return self.diff()[1]

    @property
    def changed(self):
        return bool(self.declare or self.deletes or self.appends or self.inserts or self.removes)

    def payload(self):
        """The iptables-restore --noflush input, empty when nothing changes."""
        if not self.changed:
            return ""
        lines = ["*%s" % self.table] + self.declare + self.deletes + self.appends + self.inserts + self.removes
        lines.append("COMMIT")
        return "\n".join(lines) + "\n"


def foreign_clash_message(table, owner, clashes, current, desired_chains):
    """Name both sides of every clash: the chain the table already has, and what this owner declares."""
    parts = []
    for name in clashes:
        jumps = sorted(chain for chain, rules in current.rules.items()
                       if any(name in _jump_targets(rule) for rule in rules))
        parts.append("chain %s already exists in table %s (%d rules%s) and was not created by owner %s, which "
                     "declares it with %d rules" % (name, table, len(current.rules.get(name, [])),
                                                    ", jumped to from %s" % ", ".join(jumps) if jumps else "",
                                                    owner, len(desired_chains[name])))
    return ("%s. k8slab never writes or deletes a chain it did not create: rename what produces the name "
            "(a pod, a port, a prefix), or list the chain in adopt to let owner %s take it over (it is then "
            "rewritten, and deleted when no longer declared)" % ("; ".join(parts), owner))


def merge_records(old, new):
    """The record to store before applying: everything either record owns, so a run killed between
    the apply and the final record never leaves a chain this owner created unrecorded."""
    merged = empty_record(new["owner"], new["table"], new["ip_version"])
    merged["backend"] = new.get("backend")
    merged["input_digest"] = None  # never a cache hit for a half-done run
    for name, entry in list(old["chains"].items()) + list(new["chains"].items()):
        known = merged["chains"].get(name)
        created = bool(entry["created"] or (known and known["created"]))
        merged["chains"][name] = OrderedDict([("created", created), ("rules", list(entry["rules"]))])
    seen = set()
    for item in list(new["builtin_rules"]) + list(old["builtin_rules"]):
        if item not in seen:
            seen.add(item)
            merged["builtin_rules"].append(item)
    return merged


def other_owners(other_records):
    """What the other owners of the table hold: chain -> owner, and chain -> Counter of their rules in it."""
    owned, rules = {}, {}
    for other in other_records:
        for name in other["chains"]:
            owned[name] = other["owner"]
        for item in other["builtin_rules"]:
            rules.setdefault(item.chain, Counter())[item.rule] += 1
    return owned, rules


def check_declared(current, desired_chains, desired_builtin, foreign_owned, record=None, adopt=()):
    """Refuse a declared chain another owner owns, that is built in, or that exists without being ours (unless
    listed in ``adopt``), and a rule for a chain we may not write."""
    for name in desired_chains:
        if name in foreign_owned:
            raise ValidationError("chain %s is owned by owner %s; two owners cannot share a chain" % (name, foreign_owned[name]))
        if current.is_builtin(name):
            raise ValidationError("chain %s is a built-in chain; declare its rules in builtin_rules" % name)
    if record is not None:
        clashes = [name for name in desired_chains if current.has(name) and not current.is_builtin(name)
                   and name not in record["chains"] and name not in adopt]
        if clashes:
            raise ValidationError(foreign_clash_message(current.name, record["owner"], clashes, current, desired_chains))
    for item in desired_builtin:
        if item.chain in foreign_owned:
            raise ValidationError("builtin rule %r: chain %s is owned by owner %s, which rewrites it; "
                                  "declare the rule there" % (item.rule, item.chain, foreign_owned[item.chain]))
        if not current.has(item.chain):
            raise ValidationError("builtin rule %r: chain %s does not exist in table %s" % (item.rule, item.chain, current.name))


def plan_owned_chains(result, current, desired_chains, record, final):
    """Step 1, the chains we declare: create the missing ones, rewrite those whose content differs.

    Returns the new record's chains, each marked created (we made it) or adopted (it was there before).
    """
    chains = OrderedDict()
    for name, rules in desired_chains.items():
        recorded = record["chains"].get(name)
        if current.has(name):
            # Recorded: as the record says (records of older runs may hold adopted chains, created false).
            created = bool(recorded["created"]) if recorded else True  # else: adopted on request
            if current.rules[name] != rules:
                result.declare.append(":%s - [0:0]" % name)
                result.appends += ["-A %s %s" % (name, rule) for rule in rules]
        else:
            created = True
            result.created.append(name)
            result.declare.append(":%s - [0:0]" % name)
            result.appends += ["-A %s %s" % (name, rule) for rule in rules]
        final[name] = list(rules)
        chains[name] = OrderedDict([("created", created), ("rules", list(rules))])
    return chains


def released_chains(current, desired_chains, record, foreign_owned):
    """The recorded chains we no longer declare that still exist and no other owner has claimed since."""
    return [name for name in record["chains"]
            if name not in desired_chains and current.has(name) and not current.is_builtin(name)
            and name not in foreign_owned]


def plan_released_chains(result, current, desired_chains, record, foreign_owned, final):
    """Step 2, chains we owned and no longer declare: delete those we created, empty those we adopted.

    Returns the chains to delete.
    """
    to_remove = []
    for name in released_chains(current, desired_chains, record, foreign_owned):
        recorded = record["chains"][name]
        if recorded["created"]:
            to_remove.append(name)
            final[name] = []
            result.declare.append(":%s - [0:0]" % name)
            result.removes.append("-X %s" % name)
            result.deleted.append(name)
        else:
            ours, dummy = _claim(current.rules[name], Counter(recorded["rules"]), Counter())
            result.deletes += ["-D %s %s" % (name, rule) for dummy, rule in ours]
            taken = set(index for index, dummy in ours)
            final[name] = [rule for index, rule in enumerate(current.rules[name]) if index not in taken]
    return to_remove


def plan_builtin_rules(result, current, desired_chains, desired_builtin, record, foreign_builtin, to_remove, final):
    """Step 3, our rules in chains we do not own: kept in place, or deleted and put back first/last.

    Returns the diff lines of those rules before and after.
    """
    before, after = [], []
    chains_with_rules = OrderedDict()
    for item in list(record["builtin_rules"]) + list(desired_builtin):
        if current.has(item.chain) and item.chain not in desired_chains and item.chain not in to_remove:
            chains_with_rules[item.chain] = True
    for chain in chains_with_rules:
        firsts = [item.rule for item in desired_builtin if item.chain == chain and item.position == "first"]
        lasts = [item.rule for item in desired_builtin if item.chain == chain and item.position == "last"]
        previous = Counter(item.rule for item in record["builtin_rules"] if item.chain == chain)
        wanted = Counter(firsts + lasts)
        claim = Counter(dict((rule, max(previous[rule], wanted[rule])) for rule in set(previous) | set(wanted)))
        ours, foreign = _claim(current.rules[chain], claim, foreign_builtin.get(chain, Counter()))
        before += ["-A %s %s" % (chain, rule) for dummy, rule in ours]
        after += ["-A %s %s" % (chain, rule) for rule in firsts + lasts]
        # Rules we no longer declare just go; the rest is either in place or rewritten.
        keep, stale, left = [], [], Counter(wanted)
        for index, rule in ours:
            if left[rule] > 0:
                left[rule] -= 1
                keep.append((index, rule))
            else:
                stale.append((index, rule))
        if _in_place(keep, firsts, lasts, foreign):
            result.deletes += ["-D %s %s" % (chain, rule) for dummy, rule in stale]
            gone = set(index for index, dummy in stale)
            final[chain] = [rule for index, rule in enumerate(current.rules[chain]) if index not in gone]
            continue
        result.deletes += ["-D %s %s" % (chain, rule) for dummy, rule in ours]
        result.inserts += ["-I %s %d %s" % (chain, number, rule) for number, rule in enumerate(firsts, 1)]
        result.inserts += ["-A %s %s" % (chain, rule) for rule in lasts]
        taken = set(index for index, dummy in ours)
        final[chain] = firsts + [rule for index, rule in enumerate(current.rules[chain]) if index not in taken] + lasts
    return before, after


def _in_place(keep, firsts, lasts, foreign):
    """Whether the rules we keep are in declared order, firsts above and lasts below every foreign rule."""
    if [rule for dummy, rule in keep] != firsts + lasts:
        return False
    if not foreign:
        return True
    first_indexes = [index for index, dummy in keep[:len(firsts)]]
    last_indexes = [index for index, dummy in keep[len(firsts):]]
    return all(index < min(foreign) for index in first_indexes) and all(index > max(foreign) for index in last_indexes)


def check_dangling_jumps(final, to_remove):
    """Refuse to delete a chain while a rule that stays (in ``final``, the table after the change) jumps to it."""
    if not to_remove:
        return
    gone = set(to_remove)
    # A rule can only jump to a name it holds: with a few chains going (one endpoint moved), looking for the
    # names first spares reading the jumps of thousands of rules.
    few = list(gone) if len(gone) <= 32 else None
    for chain, rules in final.items():
        if chain in gone:
            continue
        for rule in rules:
            if few is not None and not any(name in rule for name in few):
                continue
            hit = _jump_targets(rule) & gone
            if hit:
                raise ValidationError("cannot delete chain %s: rule '-A %s %s' still jumps to it; remove that rule first"
                                      % (", ".join(sorted(hit)), chain, rule))


def diff_texts(current, desired_chains, record, foreign_owned, before_builtin, after_builtin):
    """What this owner owns before and after, iptables-save style: (before, after)."""
    before_chains = [name for name in desired_chains if current.has(name)]
    before_chains += released_chains(current, desired_chains, record, foreign_owned)
    before_rules = dict((name, current.rules[name]) for name in before_chains)
    for name in before_chains:
        recorded = record["chains"].get(name)
        if name not in desired_chains and recorded and not recorded["created"]:
            ours, dummy = _claim(current.rules[name], Counter(recorded["rules"]), Counter())
            before_rules[name] = [rule for dummy, rule in ours]
    return (_save_text(current.name, before_chains, before_builtin, before_rules),
            _save_text(current.name, list(desired_chains), after_builtin, desired_chains))


def plan(current, desired_chains, desired_builtin, record, other_records, digest=None, adopt=()):
    """Compute the changes that bring everything this owner owns to the desired state.

    ``desired_chains`` (OrderedDict name -> canonical rules) and
    ``desired_builtin`` (BuiltinRule with canonical rule text) are empty for
    state=absent. ``record`` is this owner's ownership record, ``other_records``
    those of the other owners of the same table. A declared chain that exists
    but is not in the record is someone else's: an error, unless it is listed
    in ``adopt`` (then it is recorded as this owner's, as if created). Raises
    ValidationError for a state it refuses to touch; then nothing has been changed.
    """
    result = Plan(current.name)
    foreign_owned, foreign_builtin = other_owners(other_records)
    check_declared(current, desired_chains, desired_builtin, foreign_owned, record, adopt)
    # Final contents of every chain, to check references before deleting chains.
    final = dict((name, list(rules)) for name, rules in current.rules.items())
    owned = plan_owned_chains(result, current, desired_chains, record, final)
    to_remove = plan_released_chains(result, current, desired_chains, record, foreign_owned, final)
    before_builtin, after_builtin = plan_builtin_rules(result, current, desired_chains, desired_builtin, record,
                                                       foreign_builtin, to_remove, final)
    check_dangling_jumps(final, to_remove)
    # Written out only when asked for (diff mode): thousands of chains make long texts.
    result.diff_inputs = (current, desired_chains, record, foreign_owned, before_builtin, after_builtin)
    result.record = empty_record(record["owner"], current.name, record["ip_version"])
    result.record["backend"] = record.get("backend")
    result.record["input_digest"] = digest
    result.record["chains"] = owned
    result.record["builtin_rules"] = list(desired_builtin)
    result.final = final
    return result


def combined_payload(plans):
    """One ``iptables-restore --noflush`` input for several tables' plans (empty when none changes).

    iptables-restore commits each table at its COMMIT line, as kube-proxy's one restore of
    filter and nat does.
    """
    return "".join(result.payload() for result in plans)


# ---------------------------------------------------------------- what a no-change run compares

def watched_chains(plans):
    """table -> the chains whose content a later run compares: the owner's own chains and the
    built-in (or foreign) chains that hold its rules, foreign rules and their order included."""
    result = OrderedDict()
    for table, result_plan in plans.items():
        names = set(result_plan.record["chains"]) | set(item.chain for item in result_plan.record["builtin_rules"])
        if names:  # a table the owner has nothing in is not read at all
            result[table] = sorted(names)
    return result


def chains_digest(tables):
    """A digest of table -> chain -> rules (a chain that is missing counts as None)."""
    data = [[table, [[name, rules] for name, rules in sorted(chains.items())]] for table, chains in sorted(tables.items())]
    return hashlib.sha256(json.dumps(data, separators=(",", ":")).encode("utf-8")).hexdigest()


def planned_digest(plans, watched):
    """The digest of the watched chains as the plans leave them."""
    return chains_digest(dict((table, dict((name, plans[table].final.get(name)) for name in names))
                              for table, names in watched.items()))


def scan_save(text, watched):
    """The watched chains of ``iptables-save`` output (several tables), without parsing the rest.

    Returns table -> chain -> rules (None for a watched chain the table does not have).
    """
    found = dict((table, dict((name, None) for name in names)) for table, names in watched.items())
    chains = {}
    for line in (text or "").splitlines():
        first = line[:1]
        if first == "*":
            chains = found.get(line[1:].strip(), {})
        elif first == ":" and chains:
            name = line[1:].split(" ", 1)[0]
            if name in chains and chains[name] is None:
                chains[name] = []
        elif first == "-" and chains and line.startswith("-A "):
            parts = line.split(" ", 2)
            rules = chains.get(parts[1])
            if rules is not None:
                rules.append(parts[2] if len(parts) > 2 else "")
    return found
