# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pure logic of nft_table against canned `nft -j` output: validation, comparison, the transaction."""

from __future__ import annotations

import copy
import json

import pytest

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import nftables
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.nftables import ValidationError

# `nft -j list ruleset` of nft 1.0.6 after loading a small Service table (and a foreign table around it).
LISTING = {"nftables": [
    {"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}},
    {"table": {"family": "ip", "name": "t", "handle": 1}},
    {"counter": {"family": "ip", "name": "c1", "table": "t", "handle": 5, "packets": 7, "bytes": 420}},
    {"set": {"family": "ip", "name": "s1", "table": "t", "type": "ipv4_addr", "handle": 6, "size": 65535,
             "flags": ["timeout"], "timeout": 10800,
             "elem": [{"elem": {"val": "10.0.0.99", "timeout": 10800, "expires": 10000}}]}},
    {"map": {"family": "ip", "name": "m1", "table": "t", "type": ["ipv4_addr", "inet_proto", "inet_service"],
             "handle": 7, "map": "verdict",
             "elem": [[{"concat": ["10.96.0.1", "tcp", 8080]}, {"goto": {"target": "svc"}}]]}},
    {"chain": {"family": "ip", "table": "t", "name": "svc", "handle": 1}},
    {"chain": {"family": "ip", "table": "t", "name": "ep1", "handle": 2}},
    {"chain": {"family": "ip", "table": "t", "name": "pre", "handle": 4, "type": "nat", "hook": "prerouting",
               "prio": -100, "policy": "accept"}},
    {"rule": {"family": "ip", "table": "t", "chain": "svc", "handle": 9, "expr": [
        {"vmap": {"key": {"numgen": {"mode": "random", "mod": 1, "offset": 0}},
                  "data": {"set": [[0, {"goto": {"target": "ep1"}}]]}}}]}},
    {"rule": {"family": "ip", "table": "t", "chain": "ep1", "handle": 10, "expr": [
        {"set": {"op": "update", "elem": {"payload": {"protocol": "ip", "field": "saddr"}}, "set": "@s1"}},
        {"counter": {"packets": 3, "bytes": 180}},
        {"counter": "c1"},
        {"dnat": {"addr": "10.0.0.11", "port": 8080}}]}},
    {"rule": {"family": "ip", "table": "t", "chain": "pre", "handle": 13, "expr": [
        {"vmap": {"key": {"concat": [{"payload": {"protocol": "ip", "field": "daddr"}}, {"meta": {"key": "l4proto"}},
                                     {"payload": {"protocol": "th", "field": "dport"}}]}, "data": "@m1"}}]}},
    {"table": {"family": "inet", "name": "t", "handle": 2}},
    {"chain": {"family": "inet", "table": "t", "name": "other", "handle": 1}},
]}
TEXT = "table ip t {\n\tchain svc {\n\t}\n}\n"


def state(listing=None):
    return nftables.table_state(listing or LISTING, "ip", "t")


def altered(change):
    listing = copy.deepcopy(LISTING)
    change(listing["nftables"])
    return listing


# validation ---------------------------------------------------------------------

@pytest.mark.parametrize("family, name", [("ip", "kube-proxy"), ("inet", "k8slab_lab"), ("ip6", "a"), ("ip", "filter2")])
def test_valid_tables(family, name):
    assert nftables.validate_table(family, name) == (family, name)


@pytest.mark.parametrize("family, name, message", [
    ("ipx", "t", "family"), ("ip", "", "table name"), ("ip", "1abc", "table name"), ("ip", "a b", "table name"),
    ("ip", "x" * 65, "table name"), ("ip", "nat", "iptables-nft"), ("ip6", "filter", "iptables-nft"),
    ("bridge", "broute", "iptables-nft"), ("ip", None, "table name"), ("ip", 'a"b', "table name"),
])
def test_invalid_tables(family, name, message):
    with pytest.raises(ValidationError, match=message):
        nftables.validate_table(family, name)


@pytest.mark.parametrize("content", [
    "", "chain x {\n}\n", 'chain x {\n  comment "a } b"\n}\n', "chain x {\n  # a } in a comment\n}\n",
    "map m {\n  type ipv4_addr : verdict\n  elements = { 10.0.0.1 : drop }\n}\n",
])
def test_content_inside_the_table(content):
    assert nftables.validate_content(content) == content


@pytest.mark.parametrize("content, line", [
    ("}\ntable ip evil {\n", 1), ("chain x {\n}\n}\nflush ruleset\n", 3), ('chain x {\n  comment "x"\n}}\n', 3),
])
def test_content_that_closes_the_table_is_refused(content, line):
    with pytest.raises(ValidationError, match="content line %d closes" % line):
        nftables.validate_content(content)


def test_content_type_and_nul():
    with pytest.raises(ValidationError, match="string"):
        nftables.validate_content(["chain x {}"])
    with pytest.raises(ValidationError, match="NUL"):
        nftables.validate_content("chain x {\0}")


@pytest.mark.parametrize("name, quoted", [
    ("service-ULMVA6XW-ns1/svc1/tcp/p80", "service-ULMVA6XW-ns1/svc1/tcp/p80"),
    ("endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80", "endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"),
    ("a b", '"a b"'), ("1x", '"1x"'),
])
def test_quote_name(name, quoted):
    assert nftables.quote_name(name) == quoted


def test_quote_name_refuses_quotes():
    with pytest.raises(ValidationError):
        nftables.quote_name('a"b')


# the scratch load and nft's messages ------------------------------------------------


def test_scratch_input_puts_content_from_line_two():
    assert nftables.scratch_input("ip", "t", "chain x {\n}") == "table ip t {\nchain x {\n}\n}\n"
    assert nftables.scratch_input("inet", "t", "") == "table inet t {\n}\n"


def test_explain_nft_error_counts_lines_in_content():
    stderr = ("/dev/stdin:3:5-10: Error: syntax error, unexpected junk\n  junk here\n    ^^^^^^\n"
              "/dev/stdin:1:1-5: Error: oops\n")
    message = nftables.explain_nft_error(stderr)
    assert message.startswith("content line 2, column 5-10: Error: syntax error, unexpected junk\n  junk here")
    assert "content (table line): Error: oops" in message
    assert nftables.explain_nft_error("/dev/stdin:4:1-3: Error: x", offset=0, what="applied") == \
        "applied line 4, column 1-3: Error: x"


def test_split_scratch_output():
    listing, text = nftables.split_scratch_output(json.dumps(LISTING) + "\n" + TEXT)
    assert listing == LISTING and text == TEXT


# reading nft -j ---------------------------------------------------------------------


def test_tables_and_missing_table():
    assert nftables.tables(LISTING) == [("ip", "t"), ("inet", "t")]
    assert nftables.table_state(LISTING, "ip6", "t") is None
    with pytest.raises(ValueError):
        nftables.items({"not": "nft"})


def test_table_state_leaves_out_handles_counts_and_run_time_elements():
    found = state()
    assert found.objects[("counter", "c1")] == {"name": "c1"}
    assert found.objects[("chain", "pre")] == {"name": "pre", "type": "nat", "hook": "prerouting", "prio": -100,
                                               "policy": "accept"}
    assert found.rules["ep1"][0]["expr"][1] == {"counter": {}}
    assert found.filled == {"s1"}
    assert found.elements[("set", "s1")] == [{"elem": {"val": "10.0.0.99", "timeout": 10800}}]
    assert "other" not in found.rules  # the inet table of the same name is another table


@pytest.mark.parametrize("what, change, equal", [
    ("handles", lambda items: [item[next(iter(item))].__setitem__("handle", 99) for item in items[1:]], True),
    ("counter values", lambda items: items[2]["counter"].update(packets=0, bytes=0), True),
    ("affinity entries", lambda items: items[3]["set"].pop("elem"), True),
    ("rule counter", lambda items: items[9]["rule"]["expr"][1]["counter"].update(packets=0), True),
    ("map element", lambda items: items[4]["map"]["elem"][0][0]["concat"].__setitem__(2, 80), False),
    ("priority", lambda items: items[7]["chain"].update(prio=-99), False),
    ("rule", lambda items: items[9]["rule"]["expr"][3]["dnat"].update(port=80), False),
    ("rule order", lambda items: items.insert(8, items.pop(9)), True),  # other chain: order within a chain counts
    ("extra chain", lambda items: items.append({"chain": {"family": "ip", "table": "t", "name": "x", "handle": 9}}),
     False),
])
def test_comparison(what, change, equal):
    assert (state(altered(change)) == state()) is equal, what


# planning ----------------------------------------------------------------------------


def test_plan_creates_a_missing_table():
    result = nftables.plan("ip", "t", None, state(), TEXT)
    assert result.created and result.payload == TEXT
    # content that does not start with its table's declaration still gets the table made first
    result = nftables.plan("ip", "t", None, state(), "add chain ip t c\n")
    assert result.payload == "add table ip t\nadd chain ip t c\n"


def test_plan_creates_a_missing_table_from_its_own_listing_so_it_keeps_its_comment():
    # "add table" first would make the table without its comment; a later "table ... { comment }" cannot add it.
    listing = 'table ip t {\n\tcomment "rules for t"\n\tchain c {\n\t}\n}\n'
    result = nftables.plan("ip", "t", None, state(), listing)
    assert result.created and result.payload == listing


def test_plan_nothing_to_do():
    result = nftables.plan("ip", "t", state(), state(altered(lambda items: items[2]["counter"].update(packets=1))), TEXT)
    assert not result.changed and result.payload == ""


def test_plan_replaces_contents_in_one_transaction():
    def change(items):
        items[7]["chain"]["prio"] = -99  # pre: declaration changed
        del items[6]  # ep1 goes
        del items[9]
        items[4]["map"]["elem"][0][0]["concat"][2] = 80
    live = state()
    result = nftables.plan("ip", "t", live, state(altered(change)), TEXT)
    assert result.payload == ("add table ip t\nflush table ip t\n"
                              "flush map ip t m1\n"
                              "delete chain ip t ep1\ndelete chain ip t pre\n" + TEXT)
    assert result.removed == ["chain ep1"] and result.replaced == ["chain pre"]


def test_plan_deletes_maps_before_chains_and_keeps_filled_sets():
    def change(items):
        del items[4]  # the map goes
        items[4]["chain"]["name"] = "svc2"
    result = nftables.plan("ip", "t", state(), state(altered(change)), TEXT)
    lines = result.payload.splitlines()
    assert lines.index("delete map ip t m1") < lines.index("delete chain ip t svc")
    assert not any("s1" in line for line in lines)  # the affinity set keeps its entries


# `nft -s list table ip t` of LISTING, as nft prints it: one tab-indented block per object.
BLOCKS = {
    ("counter", "c1"): "\tcounter c1 {\n\t}\n",
    ("set", "s1"): "\tset s1 {\n\t\ttype ipv4_addr\n\t\tsize 65535\n\t\tflags timeout\n\t\ttimeout 3h\n\t}\n",
    ("map", "m1"): "\tmap m1 {\n\t\ttype ipv4_addr . inet_proto . inet_service : verdict\n"
                   "\t\telements = { 10.96.0.1 . tcp . 8080 : goto svc,\n\t\t\t     10.96.0.2 . tcp . 80 : goto svc }\n\t}\n",
    ("chain", "svc"): "\tchain svc {\n\t\tnumgen random mod 1 vmap { 0 : goto ep1 }\n\t}\n",
    ("chain", "ep1"): "\tchain ep1 {\n\t\tupdate @s1 { ip saddr }\n\t\tcounter name \"c1\" dnat to 10.0.0.11:8080\n\t}\n",
    ("chain", "pre"): "\tchain pre {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
                      "\t\tip daddr . meta l4proto . th dport vmap @m1\n\t}\n",
}
LISTING_TEXT = 'table ip t {\n\tcomment "rules for t"\n' + "\n".join(BLOCKS.values()) + "}\n"


def test_table_blocks_splits_a_listing_into_objects():
    own, texts = nftables.table_blocks(LISTING_TEXT, "ip", "t")
    assert own == ['\tcomment "rules for t"']
    assert texts == BLOCKS and list(texts) == list(BLOCKS)
    quoted = 'table ip t {\n\tchain "a b" {\n\t}\n\tct helper h {\n\t\ttype "ftp" protocol tcp\n\t}\n}\n'
    assert list(nftables.table_blocks(quoted, "ip", "t")[1]) == [("chain", "a b"), ("ct helper", "h")]


@pytest.mark.parametrize("text", [
    "",
    LISTING_TEXT.replace("table ip t {", "table ip u {"),  # another table
    LISTING_TEXT[:-2],  # not closed
    LISTING_TEXT + "table ip u {\n}\n",  # more after the table
    LISTING_TEXT.replace("\tchain svc {\n", "\tchain svc { jump x\n"),  # not one block per object
    LISTING_TEXT.replace("\tchain pre {", "\tchain svc {"),  # one object twice
    LISTING_TEXT.replace("\t}\n", "", 1),  # a block left open
])
def test_table_blocks_refuses_what_nft_does_not_print(text):
    assert nftables.table_blocks(text, "ip", "t") is None


def test_plan_declares_only_the_chain_whose_rules_changed():
    desired = state(altered(lambda items: items[9]["rule"]["expr"][3]["dnat"].update(port=80)))
    text = LISTING_TEXT.replace("10.0.0.11:8080", "10.0.0.11:80")
    result = nftables.plan("ip", "t", state(), desired, text)
    assert result.payload == ('add table ip t\nflush chain ip t ep1\ntable ip t {\n\tcomment "rules for t"\n'
                              + BLOCKS[("chain", "ep1")].replace(":8080", ":80") + "}\n")
    assert result.changed and not result.removed and not result.replaced


def test_plan_flushes_a_map_whose_elements_changed_and_leaves_filled_sets_alone():
    def change(items):
        items[4]["map"]["elem"][0][0]["concat"][2] = 80
        items[3]["set"]["elem"] = []  # the affinity set's run-time entries are not compared
    result = nftables.plan("ip", "t", state(), state(altered(change)), LISTING_TEXT)
    lines = result.payload.splitlines()
    assert lines[:3] == ["add table ip t", "flush map ip t m1", "table ip t {"]
    assert "\tmap m1 {" in lines and "\tchain svc {" not in lines and "\tset s1 {" not in lines


def test_plan_deletes_gone_objects_after_flushing_the_rules_that_point_at_them():
    def change(items):
        del items[9]  # ep1's rule
        del items[6]  # ep1
        del items[2]  # the counter its rule named
        items[6]["rule"]["expr"][0]["vmap"]["data"]["set"][0][1]["goto"]["target"] = "pre"  # svc's rule
    text = LISTING_TEXT.replace(BLOCKS[("chain", "ep1")], "").replace(BLOCKS[("counter", "c1")], "")
    text = text.replace("goto ep1", "goto pre")
    result = nftables.plan("ip", "t", state(), state(altered(change)), text)
    lines = result.payload.splitlines()
    assert lines[:6] == ["add table ip t", "flush chain ip t svc", "flush chain ip t ep1", "delete counter ip t c1",
                         "delete chain ip t ep1", "table ip t {"]
    assert "\tchain svc {" in lines and "\tchain ep1 {" not in lines
    assert result.removed == ["counter c1", "chain ep1"] and not result.replaced


def test_plan_rewrites_the_whole_table_when_a_declaration_changed():
    # pre's priority changed: a rule elsewhere could still point at it, so the whole table is flushed.
    desired = state(altered(lambda items: items[7]["chain"].update(prio=-99)))
    text = LISTING_TEXT.replace("priority dstnat;", "priority -99;")
    result = nftables.plan("ip", "t", state(), desired, text)
    assert result.payload.startswith("add table ip t\nflush table ip t\n") and result.payload.endswith(text)
    assert result.replaced == ["chain pre"]


# A table body as proxy_sync's renderers write it: one block per object, its lines indented with a tab.
BODY = ('comment "rules for t"\n'
        "counter c1 {\n}\n"
        "map m1 {\n\ttype ipv4_addr . inet_proto . inet_service : verdict\n\tcomment \"services\"\n"
        "\telements = { 10.96.0.1 . tcp . 8080 : goto svc }\n}\n"
        "chain pre {\n\ttype nat hook prerouting priority dstnat; policy accept;\n"
        "\tip daddr . meta l4proto . th dport vmap @m1\n}\n"
        "chain svc {\n\tnumgen random mod 1 vmap { 0 : goto ep1 }\n}\n"
        "chain ep1 {\n\tcounter name c1 meta l4proto tcp dnat to 10.0.0.11:8080\n}\n")


def partial(new, old=BODY):
    return nftables.content_plan("ip", "t", nftables.content_blocks(old)[0], nftables.content_blocks(new))


def test_content_plan_nothing_changed():
    result = partial(BODY)
    assert result is not None and not result.changed and result.payload == ""


def test_content_plan_declares_only_the_changed_chain():
    result = partial(BODY.replace("10.0.0.11:8080", "10.0.0.12:8080"))
    assert result.payload == ("add table ip t\nflush chain ip t ep1\ntable ip t {\n"
                              "chain ep1 {\n\tcounter name c1 meta l4proto tcp dnat to 10.0.0.12:8080\n}\n}\n")


def test_content_plan_flushes_a_map_whose_elements_changed():
    result = partial(BODY.replace("8080 : goto svc }", "8080 : goto svc, 10.96.0.2 . tcp . 80 : goto svc }"))
    assert result.payload.splitlines()[:3] == ["add table ip t", "flush map ip t m1", "table ip t {"]
    assert "chain pre {" not in result.payload


def test_content_plan_deletes_what_goes_after_flushing_the_chains():
    ep1 = "chain ep1 {\n\tcounter name c1 meta l4proto tcp dnat to 10.0.0.11:8080\n}\n"
    new = BODY.replace("counter c1 {\n}\n", "").replace(ep1, "chain ep2 {\n\tdnat to 10.0.0.21:8080\n}\n")
    result = partial(new.replace("goto ep1", "goto ep2"))
    assert result.payload.splitlines()[:6] == ["add table ip t", "flush chain ip t svc", "flush chain ip t ep1",
                                               "delete counter ip t c1", "delete chain ip t ep1", "table ip t {"]
    assert result.removed == ["counter c1", "chain ep1"]
    assert "chain svc {" in result.payload and "chain ep2 {" in result.payload


@pytest.mark.parametrize("new", [
    BODY.replace("priority dstnat;", "priority -99;"),  # a base chain's declaration: nft refuses a second one
    BODY.replace('comment "services"', 'comment "other"'),  # a map's comment: nft ignores a second one
    BODY.replace('comment "rules for t"', 'comment "other"'),  # the table's own lines
    BODY.replace("chain ep1 {\n", "chain ep1 { counter\n"),  # not one block per object
])
def test_content_plan_leaves_a_changed_declaration_to_the_full_sync(new):
    assert partial(new) is None


def test_content_plan_without_a_record_is_a_full_sync():
    blocks = nftables.content_blocks(BODY)
    assert nftables.content_plan("ip", "t", None, blocks) is None
    assert nftables.content_plan("ip", "t", dict(blocks[0], blocks="bad"), blocks) is None
    assert nftables.content_blocks("chain a {\nrule\n}\n") is None  # not indented


def test_plan_absent():
    assert nftables.plan("ip", "t", state(), None, "").payload == "delete table ip t\n"
    assert not nftables.plan("ip", "t", None, None, "").changed


# records -----------------------------------------------------------------------------


def test_record_round_trip_and_mismatch():
    record = nftables.new_record("ip", "kube-proxy", True)
    assert nftables.load_record(nftables.dump_record(record), "ip", "kube-proxy") == record
    with pytest.raises(ValidationError, match="table"):
        nftables.load_record(nftables.dump_record(record), "ip", "other")
    with pytest.raises(ValidationError, match="version"):
        nftables.load_record('{"version": 7}', "ip", "kube-proxy")
