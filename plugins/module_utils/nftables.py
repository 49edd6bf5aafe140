# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure logic of the nft_table module, kube-proxy's nftables way: one table, rewritten in one transaction.

Nothing here runs a command; the module feeds in ``nft -j`` output and gets
back an ``nft -f`` payload.

* :func:`validate_table` / :func:`validate_content`: the arguments, checked
  before anything runs;
* :func:`scratch_input` / :func:`explain_nft_error`: the desired table written
  for an empty throwaway network namespace, and nft's error message with its
  line numbers turned into lines of I(content);
* :func:`table_state`: one table of ``nft -j list`` output as a comparable
  value (no handles, no counter values, no elements of the sets rules fill at
  run time, such as kube-proxy's session affinity sets);
* :func:`plan`: live state + canonical desired state -> the one ``nft -f``
  transaction that makes the table equal the desired one.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re

FAMILIES = ("ip", "ip6", "inet", "arp", "bridge", "netdev")
TABLE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")
# Tables iptables-nft (and ebtables/arptables-nft) own; iptables_chains manages those.
XTABLES = {
    "ip": ("filter", "nat", "mangle", "raw", "security"),
    "ip6": ("filter", "nat", "mangle", "raw", "security"),
    "arp": ("filter",),
    "bridge": ("filter", "nat", "broute"),
}
# Identifiers nft reads without quotes (kube-proxy's chain names have / and . in them).
PLAIN_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_./\-]*$")
RECORD_VERSION = 1
# Keys of `nft -j` objects that say where an object is or how busy it was, not what it is.
_PLACE_KEYS = ("family", "table", "handle")
_STATE_KEYS = {"counter": ("packets", "bytes"), "quota": ("used",)}
SET_KINDS = ("set", "map")
# Deleted in this order: objects that point at chains (maps) before the chains.
_DELETE_ORDER = ("map", "set", "flowtable", "counter", "quota", "limit", "ct helper", "ct timeout",
                 "ct expectation", "secmark", "synproxy", "chain")


class ValidationError(ValueError):
    """Bad input or a state the module refuses to touch; raised before any change."""


# ---------------------------------------------------------------- validation

def validate_table(family, name):
    if family not in FAMILIES:
        raise ValidationError("family %r must be one of %s" % (family, ", ".join(FAMILIES)))
    if not isinstance(name, str) or not TABLE_RE.match(name):
        raise ValidationError("table name %r is not allowed: 1-64 letters, digits, '_' or '-', starting with a letter"
                              % (name,))
    if name in XTABLES.get(family, ()):
        raise ValidationError("table %s %s belongs to iptables-nft (iptables, ebtables, arptables); nft_table never "
                              "touches it, manage its chains with iptables_chains" % (family, name))
    return family, name


def validate_content(content):
    if not isinstance(content, str):
        raise ValidationError("content must be a string with the table's body in nft syntax")
    if "\0" in content:
        raise ValidationError("content contains a NUL character")
    _check_braces(content)
    return content


def _check_braces(content):
    """Refuse content that closes the table's brace: it could name other tables or run `flush ruleset`."""
    depth, line, quoted, comment = 0, 1, False, False
    for char in content:
        if char == "\n":
            line += 1
            comment = False
        elif comment:
            continue
        elif char == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif char == "#":
            comment = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                raise ValidationError("content line %d closes the table's brace; content is only the table's body "
                                      "and cannot reach beyond the table" % line)


def quote_name(name):
    """An object name as nft reads it back."""
    if PLAIN_NAME_RE.match(name):
        return name
    if '"' in name or "\n" in name:
        raise ValidationError("object name %r cannot be written in an nft command" % (name,))
    return '"%s"' % name


# ---------------------------------------------------------------- the scratch load

def scratch_input(family, name, content):
    """The text that loads the desired table into an empty network namespace.

    The table line is line 1, so line N of the input is line N-1 of content.
    """
    body = content if content.endswith("\n") or not content else content + "\n"
    return "table %s %s {\n%s}\n" % (family, name, body)


_NFT_LOCATION_RE = re.compile(r"^(?:/dev/stdin|-|[^:\s]*\.nft):(\d+):(\d+(?:-\d+)?)?:?", re.M)


def explain_nft_error(stderr, offset=1, what="content"):
    """nft's own message, with "/dev/stdin:5:3-7:" rewritten as "content line 4, column 3-7:"."""
    message = (stderr or "").strip()

    def where(match):
        line = int(match.group(1)) - offset
        if line < 1:
            return "%s (table line):" % what
        column = match.group(2)
        return "%s line %d%s:" % (what, line, ", column %s" % column if column else "")

    return _NFT_LOCATION_RE.sub(where, message)


def split_scratch_output(out):
    """The scratch script prints `nft -j list ruleset` (one line), then `nft -s list ruleset` (text)."""
    first, dummy, rest = (out or "").partition("\n")
    return json.loads(first or '{"nftables": []}'), rest


# ---------------------------------------------------------------- reading nft -j

def items(nft_json):
    """The objects of ``nft -j`` output as (kind, body) pairs, metainfo left out."""
    if not isinstance(nft_json, dict) or not isinstance(nft_json.get("nftables"), list):
        raise ValueError("not nft -j output: %r" % (str(nft_json)[:200],))
    result = []
    for item in nft_json["nftables"]:
        if not isinstance(item, dict) or len(item) != 1:
            raise ValueError("unexpected nft -j item %r" % (item,))
        kind, body = next(iter(item.items()))
        if kind != "metainfo":
            result.append((kind, body))
    return result


def tables(nft_json):
    """[(family, name)] of every table in ``nft -j list ruleset|tables`` output."""
    return [(body["family"], body["name"]) for kind, body in items(nft_json) if kind == "table"]


def _strip_state(value):
    """A rule expression or element with counter values, quota use and timers taken out."""
    if isinstance(value, list):
        return [_strip_state(item) for item in value]
    if not isinstance(value, dict):
        return value
    result = {}
    for key, item in value.items():
        if key == "expires":
            continue
        if key == "counter" and isinstance(item, dict):
            item = dict((k, v) for k, v in item.items() if k not in ("packets", "bytes"))
        elif key == "quota" and isinstance(item, dict):
            item = dict((k, v) for k, v in item.items() if k != "used")
        result[key] = _strip_state(item)
    return result


def _filled_sets(value, found):
    """Names of the sets and maps rules add to at run time (`update @affinity { ip saddr }`)."""
    if isinstance(value, list):
        for item in value:
            _filled_sets(item, found)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key in ("set", "map") and isinstance(item, dict) and item.get("op") in ("add", "update", "delete") \
                    and isinstance(item.get("set", item.get("map")), str):
                found.add(item.get("set", item.get("map")).lstrip("@"))
            _filled_sets(item, found)
    return found


class TableState:
    """One table as a comparable value: declarations, set elements and rules, without handles or counts."""

    def __init__(self, family, name):
        self.family = family
        self.name = name
        self.objects = {}  # (kind, name) -> declaration without elements and state
        self.elements = {}  # (kind, name) -> sorted elements
        self.rules = {}  # chain -> [rule]
        self.filled = set()  # sets that rules fill at run time: their elements are not compared

    def key(self):
        return (self.objects, dict((k, v) for k, v in self.elements.items() if k[1] not in self.filled), self.rules)

    def __eq__(self, other):
        return isinstance(other, TableState) and self.key() == other.key()

    def __ne__(self, other):
        return not self == other

    def names(self, kind):
        return [name for (k, name) in self.objects if k == kind]


def table_state(nft_json, family, name):
    """The table (family, name) of ``nft -j`` output, or None when it is not there."""
    state = None
    for kind, body in items(nft_json):
        if not isinstance(body, dict) or body.get("family") != family:
            continue
        if kind == "table":
            if body.get("name") == name:
                state = TableState(family, name)
            continue
        if body.get("table") != name:
            continue
        if state is None:
            raise ValueError("nft -j listed %s %r before its table" % (kind, body.get("name")))
        if kind == "rule":
            rule = dict((k, v) for k, v in body.items() if k not in _PLACE_KEYS + ("chain", "index"))
            state.rules.setdefault(body["chain"], []).append(_strip_state(rule))
            continue
        declaration = dict((k, v) for k, v in body.items()
                           if k not in _PLACE_KEYS + _STATE_KEYS.get(kind, ()) + ("elem",))
        state.objects[(kind, body["name"])] = declaration
        if kind in SET_KINDS:
            elements = _strip_state(copy.deepcopy(body.get("elem") or []))
            state.elements[(kind, body["name"])] = sorted(elements, key=lambda e: json.dumps(e, sort_keys=True))
        if kind == "chain":
            state.rules.setdefault(body["name"], [])
    if state is not None:
        state.filled = _filled_sets(state.rules, set())
    return state


# ---------------------------------------------------------------- blocks of nft text

_BLOCK_RE = re.compile(r'^(?P<kind>[a-z]+(?: [a-z]+)?) (?P<name>"[^"\n]*"|[^\s"{]+) \{$')


def _split_blocks(lines, indent):
    """Lines of a table body, each object a block opened by ``INDENT kind name {``, its lines indented once
    more, closed by ``INDENT }``: (the table's own lines, {(kind, name): block text}) in their order, or None
    when the lines are in another shape."""
    own, texts, current = [], {}, None
    inner = indent + "\t"
    for line in lines:
        if current is not None:
            current[1].append(line)
            if line == indent + "}":
                texts[current[0]] = "\n".join(current[1]) + "\n"
                current = None
            elif not line.startswith(inner):
                return None  # a block's lines are indented once more
        elif line:
            match = _BLOCK_RE.match(line[len(indent):]) if line.startswith(indent) else None
            if match and not line.startswith(inner):
                key = (match.group("kind"), match.group("name").strip('"'))
                if key in texts:
                    return None
                current = (key, [line])
            elif line.startswith(indent) and not line.startswith(inner) and "{" not in line and "}" not in line:
                own.append(line)
            else:
                return None
    return (own, texts) if current is None else None


def table_blocks(text, family, name):
    """``nft -s list table`` text of one table split into (the table's own lines, such as its comment,
    {(kind, name): the object's block of lines}), in the listing's order; None when the text is not in the
    shape nft prints (one tab-indented block per object)."""
    lines = (text or "").split("\n")
    if lines[0] != "table %s %s {" % (family, name) or "}" not in lines:
        return None
    close = lines.index("}")
    if any(lines[close + 1:]):
        return None
    return _split_blocks(lines[1:close], "\t")


def _gone(head, gone, has_rules):
    """The lines that remove the objects ``gone`` ({(kind, name)}) in one transaction: (flushes, deletes,
    removed). Maps and sets go before the chains they point at; a chain with rules (``has_rules(name)``) is
    flushed first, as its rules may jump to another chain that goes."""
    flushes, deletes, removed = [], [], []
    for kind in _DELETE_ORDER + tuple(sorted(set(k for k, dummy in gone) - set(_DELETE_ORDER))):
        for obj in sorted(o for k, o in gone if k == kind):
            if kind == "chain" and has_rules(obj):
                flushes.append("flush chain %s %s" % (head, quote_name(obj)))
            deletes.append("delete %s %s %s" % (kind, head, quote_name(obj)))
            removed.append("%s %s" % (kind, obj))
    return flushes, deletes, removed


# ---------------------------------------------------------------- a sync that trusts its last write

def _short_digest(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def _declaration(kind, text):
    """The lines of an object's block that declare it (a chain's type, hook, priority, policy, comment; a set's
    or map's lines before its elements), not its rules or elements."""
    body = [line.strip() for line in text.split("\n")[1:-2]]
    if kind == "chain":
        return "\n".join(line for line in body if line.startswith(_CHAIN_DECLARATIONS))
    if kind in SET_KINDS:
        cut = next((index for index, line in enumerate(body) if line.startswith("elements")), len(body))
        return "\n".join(body[:cut])
    return "\n".join(body)


_CHAIN_DECLARATIONS = ("type ", "policy ", "comment ", "devices ", "flags ")


def content_blocks(content):
    """A table body as the collection's renderers write it, one block per object (``kind name {``, its lines
    indented with a tab, ``}``): (its record, {(kind, name): block text}), or None in another shape. The
    record is what a sync that trusts its last write keeps of the body it wrote: a digest of the table's own
    lines and, per object, digests of its declaration and of its whole block."""
    split = _split_blocks((content or "").split("\n"), "")
    if split is None:
        return None
    own, texts = split
    record = {"own": _short_digest("\n".join(own)),
              "blocks": [[kind, name, _short_digest(_declaration(kind, text)), _short_digest(text)]
                         for (kind, name), text in texts.items()]}
    return record, texts


def content_plan(family, name, last, blocks):
    """kube-proxy's partial sync: the ``nft -f`` payload that turns the table, known to hold exactly the body
    recorded in ``last`` (the record of content_blocks), into the body split as ``blocks`` (content_blocks),
    without reading it. Returns a Plan (empty payload when nothing changed), or None when only a full sync
    can do it: no record, other table lines, or an object whose declaration changed (nft would refuse or
    ignore a second declaration)."""
    if blocks is None or not isinstance(last, dict) or last.get("own") != blocks[0]["own"]:
        return None
    record, texts = blocks
    try:
        old = dict(((kind, obj), (declared, whole)) for kind, obj, declared, whole in last.get("blocks") or [])
    except (TypeError, ValueError):
        return None
    head = "%s %s" % (family, name)
    result = Plan()
    flushes, declare = [], []
    for kind, obj, declared, whole in record["blocks"]:
        key = (kind, obj)
        if key not in old:
            declare.append(key)
        elif old[key][1] != whole:
            if old[key][0] != declared or kind not in ("chain",) + SET_KINDS:
                return None
            flushes.append("flush %s %s %s" % (kind, head, quote_name(obj)))
            declare.append(key)
    gone_flushes, deletes, result.removed = _gone(head, set(old) - set(texts), lambda chain: True)
    flushes += gone_flushes
    if flushes or deletes or declare:
        body = "".join(texts[key] for key in declare)
        result.payload = "\n".join(["add table %s" % head] + flushes + deletes) + "\ntable %s {\n%s}\n" % (head, body)
    return result


# ---------------------------------------------------------------- planning

class Plan:
    """One run: the nft -f payload (empty when nothing changes) and what it does."""

    def __init__(self):
        self.payload = ""
        self.created = False
        self.deleted = False
        self.removed = []  # "chain foo", "set bar": objects that go and are not declared again
        self.replaced = []  # objects deleted and declared again because their declaration changed

    @property
    def changed(self):
        return bool(self.payload)


def plan(family, name, live, desired, desired_text):
    """The transaction that makes table (family, name) equal ``desired``.

    ``live`` and ``desired`` are TableState (``live`` None when the table is
    missing, ``desired`` None for state=absent); ``desired_text`` is the
    desired table as ``nft -s list table`` prints it (read back from the
    scratch namespace), which is what gets loaded.

    The table is never deleted and re-created while it stays: the payload adds
    it (a no-op when it exists) and declares again only the objects that
    changed (:func:`_plan_changed_objects`). When an object's declaration
    changed it flushes every chain's rules and every set's elements, deletes
    the objects that go or changed, and declares the whole table again. nft
    applies the file as one kernel transaction, so packets see the old table
    or the new one, never a mix; the elements that rules add at run time
    (session affinity) and named counter values survive.
    """
    result = Plan()
    head = "%s %s" % (family, name)
    if desired is None:
        if live is not None:
            result.payload = "delete table %s\n" % head
            result.deleted = True
        return result
    if live is None:
        # The listing declares the table itself: created by it, the table gets its comment (a table's comment
        # is set when the table is made; "add table" first would make it without one).
        result.payload = desired_text if desired_text.startswith("table %s {" % head) else \
            "add table %s\n%s" % (head, desired_text)
        result.created = True
        return result
    if live == desired:
        return result
    filled = live.filled | desired.filled
    if _plan_changed_objects(result, head, live, desired, filled, table_blocks(desired_text, family, name)):
        return result
    flushes, deletes = [], []
    for kind in _DELETE_ORDER + tuple(sorted(set(k for k, dummy in live.objects) - set(_DELETE_ORDER))):
        for obj in sorted(live.names(kind)):
            key = (kind, obj)
            if key not in desired.objects:
                deletes.append("delete %s %s %s" % (kind, head, quote_name(obj)))
                result.removed.append("%s %s" % (kind, obj))
            elif live.objects[key] != desired.objects[key]:
                deletes.append("delete %s %s %s" % (kind, head, quote_name(obj)))
                result.replaced.append("%s %s" % (kind, obj))
            elif kind in SET_KINDS and obj not in filled:
                flushes.append("flush %s %s %s" % (kind, head, quote_name(obj)))
    lines = ["add table %s" % head, "flush table %s" % head] + flushes + deletes
    result.payload = "\n".join(lines) + "\n" + desired_text
    return result


def _plan_changed_objects(result, head, live, desired, filled, blocks):
    """Fill ``result`` with a transaction that declares again only the objects that changed, as kube-proxy's
    partial sync does: a changed chain is flushed and declared with its rules, a set or map whose elements
    changed is flushed and declared with its elements, a new object is declared, a gone one is deleted; the
    rest of the table is not touched (its counters keep counting). Returns False, with ``result`` untouched,
    when that is not possible: an object whose declaration changed (type, hook, priority; a rule elsewhere may
    still point at it), or a listing not split into blocks (the caller then rewrites the whole table)."""
    if blocks is None:
        return False
    own, texts = blocks
    declare, flushes = set(), []
    for key, declaration in desired.objects.items():
        kind, obj = key
        if key not in live.objects:
            declare.add(key)
        elif live.objects[key] != declaration:
            return False
        elif kind == "chain" and live.rules.get(obj, []) != desired.rules.get(obj, []):
            flushes.append("flush chain %s %s" % (head, quote_name(obj)))
            declare.add(key)
        elif kind in SET_KINDS and obj not in filled and live.elements.get(key) != desired.elements.get(key):
            flushes.append("flush %s %s %s" % (kind, head, quote_name(obj)))
            declare.add(key)
    if not declare <= set(texts):
        return False
    gone_flushes, deletes, removed = _gone(head, set(live.objects) - set(desired.objects), live.rules.get)
    flushes += gone_flushes
    body = "".join(line + "\n" for line in own) + "\n".join(text for key, text in texts.items() if key in declare)
    result.payload = "\n".join(["add table %s" % head] + flushes + deletes) + "\n" + "table %s {\n%s}\n" % (head, body)
    result.removed = removed
    return True


# ---------------------------------------------------------------- ownership records

def record_name(family, name):
    return "%s.%s.json" % (family, name)


def new_record(family, name, created):
    return {"version": RECORD_VERSION, "family": family, "table": name, "created": bool(created)}


def load_record(text, family, name):
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("version") != RECORD_VERSION:
        raise ValidationError("unsupported ownership record version %r" % (data.get("version") if isinstance(data, dict) else data))
    for key, want in (("family", family), ("table", name)):
        if data.get(key) != want:
            raise ValidationError("ownership record has %s=%r, expected %r" % (key, data.get(key), want))
    return new_record(family, name, data.get("created"))


def dump_record(record):
    return json.dumps(record, sort_keys=True) + "\n"
