# SPDX-License-Identifier: GPL-3.0-or-later
"""nft_table against real nftables in throwaway network namespaces (see conftest.py)."""
import json
import shutil
import textwrap

import pytest

STATE_DIR = "/run/k8slab/nft_table"  # /run is private to the sandbox

pytestmark = pytest.mark.skipif(not shutil.which("nft"), reason="nft missing (Debian package nftables)")

# What a node has before we come: Docker's iptables-nft rules, a firewalld-like inet table, a user's table.
FOREIGN = textwrap.dedent("""\
    table inet firewalld {
    \tchain filter_INPUT {
    \t\ttype filter hook input priority filter + 10; policy accept;
    \t\tct state established,related accept
    \t}
    }
    table ip lab-user {
    \tset blocked {
    \t\ttype ipv4_addr
    \t\telements = { 192.0.2.66 }
    \t}
    \tchain input {
    \t\ttype filter hook input priority filter; policy accept;
    \t\tip saddr @blocked drop
    \t}
    }
""")
DOCKER = [
    ["iptables", "-t", "nat", "-N", "DOCKER"],
    ["iptables", "-t", "nat", "-A", "PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "DOCKER"],
    ["iptables", "-t", "filter", "-A", "FORWARD", "-s", "192.0.2.1/32", "-j", "DROP"],
]

SERVICE = """\
map service-ips {
  type ipv4_addr . inet_proto . inet_service : verdict
  elements = { 10.96.0.1 . tcp . 8080 : goto app-service }
}
set affinity-adam {
  type ipv4_addr
  flags dynamic,timeout
  timeout 10800s
}
counter adam-hits {
}
chain app-service {
  numgen random mod 2 vmap { 0 : goto adam, 1 : goto eve }
}
chain adam {
  update @affinity-adam { ip saddr }
  counter name adam-hits meta l4proto tcp dnat to 10.0.0.11:8080
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
"""


def task(content=SERVICE, name="k8slab-service", family="ip", state=None, adopt=None, label="nft"):
    """One nft_table task as YAML (every value JSON-quoted, which YAML reads as it is)."""
    lines = ["- name: %s" % label, "  k8slab.kube_proxy.nft_table:", "    name: %s" % json.dumps(name),
             "    family: %s" % json.dumps(family), "    state_dir: %s" % STATE_DIR]
    if state:
        lines.append("    state: %s" % state)
    if adopt is not None:
        lines.append("    adopt: %s" % str(adopt).lower())
    if content is not None:
        lines.append("    content: %s" % json.dumps(content))
    return "\n".join(lines) + "\n"


def listing(box, *args):
    return box.run(["nft", "-s", "list"] + list(args)).stdout


def others(box):
    """Everything outside our table: must stay byte for byte."""
    text = listing(box, "ruleset")
    out, skip = [], False
    for line in text.splitlines():
        if line.startswith(("table ip k8slab-service", "table ip kube-proxy")):
            skip = True
        elif skip and line == "}":
            skip = False
            continue
        if not skip:
            out.append(line)
    return "\n".join(out)


@pytest.fixture
def node(sandbox):
    sandbox.run(["nft", "-f", "-"], input=FOREIGN)
    for argv in DOCKER:
        sandbox.run(argv)
    sandbox.foreign = others(sandbox)
    sandbox.iptables = sandbox.run(["iptables-save"]).stdout
    return sandbox


def without_comments(text):
    return [line for line in text.splitlines() if not line.startswith("#")]


def assert_foreign_intact(box):
    assert others(box) == box.foreign
    assert without_comments(box.run(["iptables-save"]).stdout) == without_comments(box.iptables)


def test_create_rerun_unchanged_and_foreign_untouched(node):
    first, second = node.playbook(task() + task(label="again"))
    assert first["changed"] and first["created"]
    assert not second["changed"] and second["applied"] == ""
    text = listing(node, "table", "ip", "k8slab-service")
    assert "numgen random mod 2 vmap { 0 : goto adam, 1 : goto eve }" in text
    assert "type nat hook prerouting priority dstnat; policy accept;" in text
    assert "flags dynamic,timeout" in text and "timeout 3h" in text
    assert_foreign_intact(node)
    record = json.loads(node.run(["cat", STATE_DIR + "/ip.k8slab-service.json"]).stdout)
    assert record == {"version": 1, "family": "ip", "table": "k8slab-service", "created": True}


def test_check_mode_changes_nothing_and_diff_shows_table(node):
    result, = node.playbook(task(), check=True, diff=True)
    assert result["changed"] and "table ip k8slab-service" in result["applied"]
    assert result["diff"]["before"] == ""
    assert "chain app-service" in result["diff"]["after"]
    assert node.run(["nft", "list", "table", "ip", "k8slab-service"], check=False).returncode != 0
    assert node.run(["test", "-e", STATE_DIR], check=False).returncode != 0
    node.playbook(task())
    changed = SERVICE.replace("10.0.0.21:8080", "10.0.0.22:8080")
    result, = node.playbook(task(changed), check=True, diff=True)
    assert result["changed"] and "10.0.0.21:8080" in result["diff"]["before"]
    assert "10.0.0.22:8080" in result["diff"]["after"]
    assert "10.0.0.21:8080" in listing(node, "table", "ip", "k8slab-service")


def test_change_is_one_transaction_and_keeps_affinity_and_counters(node):
    node.playbook(task())
    node.run(["nft", "add", "element", "ip", "k8slab-service", "affinity-adam", "{ 10.0.0.99 }"])
    # A third endpoint, a second Service port, eve goes, a base chain changes priority.
    changed = (SERVICE.replace("1 : goto eve", "1 : goto cain")
               .replace("chain eve {\n  meta l4proto tcp dnat to 10.0.0.21:8080\n}",
                        "chain cain {\n  meta l4proto tcp dnat to 10.0.0.31:8080\n}")
               .replace(": goto app-service }", ": goto app-service, 10.96.0.2 . tcp . 80 : goto app-service }")
               .replace("type nat hook output priority -100;", "type nat hook output priority -99;"))
    result, = node.playbook(task(changed))
    assert result["changed"] and not result["created"]
    assert result["removed"] == ["chain eve"] and result["replaced"] == ["chain nat-output"]
    payload = result["applied"].splitlines()
    # nat-output's declaration changed: every chain is flushed and the whole table declared again.
    assert payload[:2] == ["add table ip k8slab-service", "flush table ip k8slab-service"]
    assert "flush map ip k8slab-service service-ips" in payload
    assert "delete chain ip k8slab-service eve" in payload
    assert not any("affinity-adam" in line for line in payload[:6])  # filled at run time: not flushed
    text = listing(node, "table", "ip", "k8slab-service")
    assert "chain eve" not in text and "10.0.0.31:8080" in text and "priority -99" in text
    assert "10.96.0.2 . tcp . 80 : goto app-service" in text
    assert "10.0.0.99" in text  # the affinity entry survived
    assert_foreign_intact(node)
    again, = node.playbook(task(changed))
    assert not again["changed"]


def test_a_change_declares_again_only_what_changed_and_ends_as_a_fresh_load(node):
    node.playbook(task())
    node.run(["nft", "add", "element", "ip", "k8slab-service", "affinity-adam", "{ 10.0.0.99 }"])
    # eve moves, cain is a new endpoint behind a second Service port; no declaration changes.
    changed = (SERVICE.replace("10.0.0.21:8080", "10.0.0.22:8080")
               .replace(": goto app-service }", ": goto app-service, 10.96.0.2 . tcp . 80 : goto cain }")
               + "chain cain {\n  meta l4proto tcp dnat to 10.0.0.31:8080\n}\n")
    result, = node.playbook(task(changed))
    assert result["changed"] and not result["removed"] and not result["replaced"]
    payload = result["applied"].splitlines()
    assert payload[:4] == ["add table ip k8slab-service", "flush map ip k8slab-service service-ips",
                           "flush chain ip k8slab-service eve", "table ip k8slab-service {"]
    declared = [line for line in payload if line.startswith("\t") and line.endswith("{")]
    assert declared == ["\tmap service-ips {", "\tchain eve {", "\tchain cain {"]  # adam, the hooks: untouched
    # The table now lists exactly as the same content loaded into a new table does.
    node.playbook(task(changed, name="k8slab-fresh"))
    fresh = listing(node, "table", "ip", "k8slab-fresh").replace("k8slab-fresh", "k8slab-service")
    live = listing(node, "table", "ip", "k8slab-service")
    assert "10.0.0.99" in live  # the affinity entry survived
    assert nftables_without(live, "affinity-adam") == nftables_without(fresh, "affinity-adam")
    again, = node.playbook(task(changed))
    assert not again["changed"]


def nftables_without(text, set_name):
    """A listing without the elements of one set (entries that rules add at run time)."""
    lines, inside = [], False
    for line in text.splitlines():
        inside = inside or line.strip() == "set %s {" % set_name
        if inside and line.strip() == "}":
            inside = False
        if not (inside and line.strip().startswith(("elements", "10."))):
            lines.append(line)
    return "\n".join(lines)


def test_stale_map_elements_go(node):
    two = SERVICE.replace(": goto app-service }", ": goto app-service, 10.96.0.2 . tcp . 80 : goto app-service }")
    node.playbook(task(two))
    assert "10.96.0.2" in listing(node, "table", "ip", "k8slab-service")
    result, = node.playbook(task())
    assert result["changed"] and "10.96.0.2" not in listing(node, "table", "ip", "k8slab-service")


def test_state_absent_deletes_table_and_record(node):
    node.playbook(task())
    first, second = node.playbook(task(None, state="absent") + task(None, state="absent", label="again"))
    assert first["changed"] and first["deleted"] and not second["changed"]
    assert node.run(["nft", "list", "table", "ip", "k8slab-service"], check=False).returncode != 0
    assert node.run(["test", "-e", STATE_DIR], check=False).returncode != 0
    assert_foreign_intact(node)


def test_refuses_foreign_table_unless_adopt(node):
    before = listing(node, "ruleset")
    result, = node.playbook(task(name="lab-user"), expect_failure=True)
    assert "did not create it" in result["msg"] and "adopt" in result["msg"]
    result, = node.playbook(task(None, name="lab-user", state="absent"), expect_failure=True)
    assert "did not create it" in result["msg"]
    assert listing(node, "ruleset") == before
    result, = node.playbook(task("chain input {\n  type filter hook input priority filter; policy accept;\n}\n",
                                 name="lab-user", adopt=True))
    assert result["changed"] and result["adopted"]
    text = listing(node, "table", "ip", "lab-user")
    assert "@blocked" not in text and "set blocked" not in text
    again, = node.playbook(task("chain input {\n  type filter hook input priority filter; policy accept;\n}\n",
                                name="lab-user"))
    assert not again["changed"]


def test_rejected_content_passes_nft_message_and_changes_nothing(node):
    node.playbook(task())
    before = listing(node, "ruleset")
    bad = SERVICE.replace("chain eve {\n  meta l4proto tcp dnat to 10.0.0.21:8080",
                          "chain eve {\n  meta l4proto tcp dnat to 10.0.0.21:80800")
    result, = node.playbook(task(bad), expect_failure=True)
    line = bad.splitlines().index("  meta l4proto tcp dnat to 10.0.0.21:80800") + 1
    assert "nft rejected the content, nothing was changed" in result["msg"]
    assert "content line %d" % line in result["msg"]
    assert "10.0.0.21:80800" in result["msg"]  # nft quotes the line
    assert listing(node, "ruleset") == before


BAD_INPUTS = [
    ("syntax", {"content": "chain x {\n  this is not nft\n}\n"}, "content line 2"),
    ("unknown jump", {"content": "chain x {\n  jump nowhere\n}\n"}, "content line 2"),
    ("unknown set", {"content": "chain x {\n  ip saddr @nothing drop\n}\n"}, "content line 2"),
    ("map type", {"content": "map m {\n  type ipv4_addr : verdict\n  elements = { 10.0.0.1 : goto nochain }\n}\n"},
     "content line"),
    ("other table", {"content": "}\ntable ip evil {\n  chain x {\n  }\n"}, "content line 1 closes"),
    ("flush ruleset", {"content": "}\nflush ruleset\ntable ip k8slab-service {\n"}, "closes the table"),
    ("iif by index", {"content": "chain x {\n  iif \"eth-nope\" drop\n}\n"}, "content line 2"),
    ("bad hook", {"content": "chain x {\n  type nat hook sideways priority 0;\n}\n"}, "content line 2"),
    ("bad family", {"family": "ipx"}, "value of family must be one of"),
    ("bad name", {"name": "bad name!"}, "table name"),
    ("iptables table", {"name": "nat"}, "iptables-nft"),
    ("missing content", {"content": None}, "content"),
    ("unbalanced", {"content": "chain x {\n"}, "nft rejected"),
    ("port range", {"content": "chain x {\n  tcp dport 70000 accept\n}\n"}, "content line 2"),
]


def test_bad_inputs_are_refused_and_nothing_changes(node):
    """One playbook, one task per bad input (a sandbox and a playbook each would cost a minute more)."""
    node.playbook(task())
    before = listing(node, "ruleset")
    tasks = "".join(task(**dict(args, label=label)) + "  ignore_errors: true\n" for label, args, dummy in BAD_INPUTS)
    results = node.playbook(tasks)
    assert [result["_task"] for result in results] == [label for label, dummy, dummy in BAD_INPUTS]
    for (label, dummy, message), result in zip(BAD_INPUTS, results):
        assert result["_status"] == "failed", label
        assert message in result["msg"], (label, result["msg"])
    assert listing(node, "ruleset") == before
    assert_foreign_intact(node)


def test_table_deleted_behind_our_back_is_created_again(node):
    node.playbook(task())
    node.run(["nft", "delete", "table", "ip", "k8slab-service"])
    result, = node.playbook(task())
    assert result["changed"] and result["created"]


def test_kube_proxy_layout_loads_and_reruns_unchanged(node):
    """kube-proxy's whole ruleset (NodePort, affinity, reject map with comments) survives nft's read-back."""
    from ansible_collections.k8slab.kube_proxy.plugins.module_utils import kube_proxy_nftables, service_model
    services = [
        {"metadata": {"name": "web", "namespace": "lab"},
         "spec": {"type": "NodePort", "clusterIP": "10.96.0.5", "sessionAffinity": "ClientIP",
                  "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080}]}},
        {"metadata": {"name": "lonely"}, "spec": {"clusterIP": "10.96.0.6", "ports": [{"port": 80}]}},
    ]
    pods = [{"name": "adam", "address": "10.0.0.11", "netns": "netns_adam", "labels": {"app": "web"}},
            {"name": "eve", "address": "10.0.0.21", "netns": "netns_eve", "labels": {"app": "web"}}]
    services[0]["spec"]["selector"] = {"app": "web"}
    records = service_model.service_ports(services, [], pods)
    content, dummy = kube_proxy_nftables.render_kube_proxy(records, "10.0.0.0/24", "10.96.0.0/12", ["192.0.2.2"],
                                                           counters=True)
    first, second = node.playbook(task(content, name="kube-proxy") + task(content, name="kube-proxy", label="again"))
    assert first["changed"] and not second["changed"]
    text = listing(node, "table", "ip", "kube-proxy")
    assert "numgen random mod 2 vmap" in text and "tcp . 30080 : goto external-" in text
    assert 'comment "default/lonely" : goto reject-chain' in text
    # One endpoint fewer: the transaction replaces the table's contents, the affinity set of adam stays.
    affinity = "affinity-" + kube_proxy_nftables.endpoint_chain_base("lab", "web", "tcp", "http", "10.0.0.11", 8080)
    node.run(["nft", "add", "element", "ip", "kube-proxy", affinity, "{ 10.0.0.99 }"])
    records = service_model.service_ports(services, [], pods[:1])
    content, dummy = kube_proxy_nftables.render_kube_proxy(records, "10.0.0.0/24", "10.96.0.0/12", ["192.0.2.2"],
                                                           counters=True)
    third, fourth = node.playbook(task(content, name="kube-proxy") + task(content, name="kube-proxy", label="again"))
    assert third["changed"] and not fourth["changed"]
    text = listing(node, "table", "ip", "kube-proxy")
    assert "10.0.0.21" not in text and "10.0.0.99" in text
    assert_foreign_intact(node)
