# SPDX-License-Identifier: GPL-3.0-or-later
"""iptables_chains against real iptables in throwaway network namespaces (see conftest.py)."""
import textwrap
import time

import pytest

STATE_DIR = "/run/k8slab/iptables_chains"  # /run is private to the sandbox

# Foreign state a node has before we come: Docker's chains and a user's own rules.
FOREIGN = [
    ["iptables", "-t", "nat", "-N", "DOCKER"],
    ["iptables", "-t", "nat", "-A", "PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "DOCKER"],
    ["iptables", "-t", "nat", "-A", "OUTPUT", "!", "-d", "127.0.0.0/8", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "DOCKER"],
    ["iptables", "-t", "nat", "-A", "DOCKER", "-i", "docker0", "-j", "RETURN"],
    ["iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "172.17.0.0/16", "!", "-o", "docker0", "-j", "MASQUERADE"],
    ["iptables", "-t", "filter", "-N", "DOCKER-USER"],
    ["iptables", "-t", "filter", "-A", "DOCKER-USER", "-j", "RETURN"],
    ["iptables", "-t", "filter", "-A", "FORWARD", "-j", "DOCKER-USER"],
    ["iptables", "-t", "filter", "-A", "FORWARD", "-s", "192.0.2.1/32", "-j", "DROP"],
]

SERVICE = """\
- name: service
  k8slab.kube_proxy.iptables_chains:
    table: nat
    owner: service_proxy
    state_dir: %s
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
""" % STATE_DIR

OWNED_NAT = textwrap.dedent("""\
    -A PREROUTING -j APP-SERVICE
    -A OUTPUT -j APP-SERVICE
    -A ADAM-HTTP -p tcp -m tcp -j DNAT --to-destination 10.0.0.11:8080
    -A APP-SERVICE -d 10.96.0.1/32 -p tcp -m tcp --dport 8080 -j EDEN-SVC-HTTP
    -A EDEN-SVC-HTTP -m statistic --mode random --probability 0.50000000000 -j EVE-HTTP
    -A EDEN-SVC-HTTP -j ADAM-HTTP
    -A EVE-HTTP -p tcp -m tcp -j DNAT --to-destination 10.0.0.21:8080
""").splitlines()
OWNED_CHAINS = [":ADAM-HTTP - [0:0]", ":APP-SERVICE - [0:0]", ":EDEN-SVC-HTTP - [0:0]", ":EVE-HTTP - [0:0]"]


def save(sandbox, table, command="iptables-save"):
    """iptables-save of one table without the timestamp comments."""
    out = sandbox.run([command, "-t", table]).stdout
    return "\n".join(line for line in out.splitlines() if not line.startswith("#")) + "\n"


def without(text, lines):
    """The table text minus the given lines: what must stay byte-identical."""
    drop = set(lines)
    return "\n".join(line for line in text.splitlines() if line not in drop) + "\n"


@pytest.fixture
def node(sandbox):
    for argv in FOREIGN:
        sandbox.run(argv)
    sandbox.foreign = {table: save(sandbox, table) for table in ("nat", "filter")}
    return sandbox


def test_create_then_rerun_is_unchanged(node):
    first, second = node.playbook(SERVICE + SERVICE.replace("name: service", "name: again", 1))
    assert first["changed"] is True and second["changed"] is False
    assert first["digest_hit"] is False and second["digest_hit"] is True  # through AnsiballZ too
    assert first["created"] == ["APP-SERVICE", "EDEN-SVC-HTTP", "ADAM-HTTP", "EVE-HTTP"]
    assert second["applied"] == "" and second["created"] == []
    nat = save(node, "nat")
    for line in OWNED_NAT + OWNED_CHAINS:
        assert line in nat.splitlines()
    # the jumps were appended: after Docker's rules in PREROUTING and OUTPUT
    lines = nat.splitlines()
    assert lines.index("-A PREROUTING -j APP-SERVICE") > lines.index("-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER")
    # everything foreign is byte-identical, in the same order
    assert without(nat, OWNED_NAT + OWNED_CHAINS) == node.foreign["nat"]
    assert save(node, "filter") == node.foreign["filter"]


def test_no_change_run_still_sees_drift(node):
    """The no-change path reads the owner's chains: a rule edited by hand and a flushed chain are repaired."""
    again = SERVICE.replace("name: service", "name: again", 1)
    node.playbook(SERVICE)
    node.run(["iptables", "-t", "nat", "-R", "EVE-HTTP", "1", "-p", "tcp", "-m", "tcp", "-j", "DNAT",
              "--to-destination", "10.0.0.99:8080"])
    result, second = node.playbook(SERVICE + again)
    assert (result["changed"], result["digest_hit"]) == (True, False)
    assert "-A EVE-HTTP -p tcp -m tcp -j DNAT --to-destination 10.0.0.21:8080" in result["applied"]
    assert (second["changed"], second["digest_hit"]) == (False, True)
    node.run(["iptables", "-t", "nat", "-F", "EDEN-SVC-HTTP"])
    result, = node.playbook(SERVICE)
    assert (result["changed"], result["digest_hit"]) == (True, False)
    for line in OWNED_NAT:
        assert line in save(node, "nat").splitlines()
    # A foreign rule above our last jump leaves it in place: read again, nothing to change
    node.run(["iptables", "-t", "nat", "-I", "OUTPUT", "1", "-d", "192.0.2.9/32", "-j", "RETURN"])
    result, second = node.playbook(SERVICE + again)
    assert (result["changed"], result["digest_hit"]) == (False, False)
    assert (second["changed"], second["digest_hit"]) == (False, True)


def test_wrong_order_is_repaired(node):
    node.playbook(SERVICE)
    node.run(["iptables", "-t", "nat", "-D", "EDEN-SVC-HTTP", "1"])
    node.run(["iptables", "-t", "nat", "-A", "EDEN-SVC-HTTP", "-m", "statistic", "--mode", "random",
              "--probability", "0.5", "-j", "EVE-HTTP"])
    # and our jump is no longer last: a foreign rule was appended after it
    node.run(["iptables", "-t", "nat", "-A", "OUTPUT", "-d", "192.0.2.9/32", "-j", "RETURN"])
    foreign = without(save(node, "nat"), OWNED_NAT + OWNED_CHAINS)
    result, = node.playbook(SERVICE)
    assert result["changed"] is True
    assert result["applied"] == textwrap.dedent("""\
        *nat
        :EDEN-SVC-HTTP - [0:0]
        -D OUTPUT -j APP-SERVICE
        -A EDEN-SVC-HTTP -m statistic --mode random --probability 0.50000000000 -j EVE-HTTP
        -A EDEN-SVC-HTTP -j ADAM-HTTP
        -A OUTPUT -j APP-SERVICE
        COMMIT
    """)
    nat = save(node, "nat").splitlines()
    assert nat.index("-A EDEN-SVC-HTTP -m statistic --mode random --probability 0.50000000000 -j EVE-HTTP") \
        < nat.index("-A EDEN-SVC-HTTP -j ADAM-HTTP")
    assert nat.index("-A OUTPUT -j APP-SERVICE") > nat.index("-A OUTPUT -d 192.0.2.9/32 -j RETURN")
    assert without("\n".join(nat), OWNED_NAT + OWNED_CHAINS) == foreign
    assert node.playbook(SERVICE)[0]["changed"] is False


def test_one_changed_chain_is_loaded_and_written_alone(node):
    """Partial sync: a moved endpoint rewrites its chain only; a changed Service chain still jumps right."""
    node.playbook(SERVICE)
    moved = SERVICE.replace("10.0.0.21:8080", "10.0.0.22:8080")
    result, = node.playbook(moved)
    assert result["applied"] == "*nat\n:EVE-HTTP - [0:0]\n-A EVE-HTTP -p tcp -m tcp -j DNAT --to-destination 10.0.0.22:8080\nCOMMIT\n"
    # Only the Service chain changes; its jumps reach chains loaded on earlier runs.
    single = moved.replace("          - -m statistic --mode random --probability 0.5 -j EVE-HTTP\n", "")
    result, again = node.playbook(single + single.replace("name: service", "name: again", 1))
    assert result["applied"] == "*nat\n:EDEN-SVC-HTTP - [0:0]\n-A EDEN-SVC-HTTP -j ADAM-HTTP\nCOMMIT\n"
    assert again["changed"] is False
    nat = save(node, "nat").splitlines()
    assert "-A EVE-HTTP -p tcp -m tcp -j DNAT --to-destination 10.0.0.22:8080" in nat
    assert [line for line in nat if line.startswith("-A EDEN-SVC-HTTP")] == ["-A EDEN-SVC-HTTP -j ADAM-HTTP"]


def test_stale_chain_is_pruned(node):
    old = SERVICE.replace("    builtin_rules:\n", "      - name: OLD-SVC\n        rules: [-j ADAM-HTTP]\n    builtin_rules:\n"
                          "      - {chain: OUTPUT, rule: -j OLD-SVC}\n")
    node.playbook(old)
    assert ":OLD-SVC - [0:0]" in save(node, "nat")
    result, = node.playbook(SERVICE)
    assert result["changed"] is True and result["deleted"] == ["OLD-SVC"]
    nat = save(node, "nat")
    assert "OLD-SVC" not in nat
    assert without(nat, OWNED_NAT + OWNED_CHAINS) == node.foreign["nat"]


def test_chain_it_did_not_create_is_never_written_or_deleted(node):
    """Issue 15, problem 1: someone else's KUBE-SERVICES-like chain is neither taken over nor emptied."""
    node.run(["iptables", "-t", "nat", "-N", "EVE-HTTP"])
    node.run(["iptables", "-t", "nat", "-A", "EVE-HTTP", "-j", "RETURN"])
    node.run(["iptables", "-t", "nat", "-A", "OUTPUT", "-j", "EVE-HTTP"])
    before = {table: save(node, table) for table in ("nat", "filter")}
    result, = node.playbook(SERVICE, expect_failure=True)
    assert "chain EVE-HTTP already exists in table nat (1 rules, jumped to from OUTPUT)" in result["msg"]
    assert "was not created by owner service_proxy" in result["msg"] and "adopt" in result["msg"]
    assert {table: save(node, table) for table in ("nat", "filter")} == before
    result, = node.playbook(SERVICE.replace("state_dir:", "state: absent\n    state_dir:"))
    assert result["changed"] is False
    assert {table: save(node, table) for table in ("nat", "filter")} == before


def test_adopted_chain_is_owned_and_deleted_with_the_rest(node):
    node.run(["iptables", "-t", "nat", "-N", "EVE-HTTP"])
    node.run(["iptables", "-t", "nat", "-A", "EVE-HTTP", "-j", "RETURN"])
    result, = node.playbook(SERVICE.replace("    chains:", "    adopt: [EVE-HTTP]\n    chains:"))
    assert "EVE-HTTP" not in result["created"]
    assert "-A EVE-HTTP -j RETURN" not in save(node, "nat")  # its content is ours now
    result, = node.playbook(SERVICE.replace("state_dir:", "state: absent\n    state_dir:"))
    assert "EVE-HTTP" in result["deleted"]
    assert without(save(node, "nat"), []) == node.foreign["nat"]


def test_lost_record_is_an_error_and_adopt_recovers_without_orphans(node):
    """Issue 15, problem 5: a deleted record no longer makes teardown leave empty chains behind."""
    node.playbook(SERVICE)
    node.run(["rm", "-f", STATE_DIR + "/service_proxy.ipv4.nat.json", STATE_DIR + "/service_proxy.ipv4.nat.json.prev"])
    converged = save(node, "nat")
    result, = node.playbook(SERVICE, expect_failure=True)
    assert "There is no ownership record %s/service_proxy.ipv4.nat.json" % STATE_DIR in result["msg"]
    assert save(node, "nat") == converged
    adopt = "    adopt: [APP-SERVICE, EDEN-SVC-HTTP, ADAM-HTTP, EVE-HTTP]\n    chains:"
    result, = node.playbook(SERVICE.replace("    chains:", adopt))
    assert result["changed"] is False and save(node, "nat") == converged
    node.playbook(SERVICE.replace("state_dir:", "state: absent\n    state_dir:"))
    assert save(node, "nat") == node.foreign["nat"]


def test_corrupt_record_names_the_file_and_the_recovery(node):
    node.playbook(SERVICE)
    node.playbook(SERVICE.replace("10.0.0.21:8080", "10.0.0.22:8080"))
    path = STATE_DIR + "/service_proxy.ipv4.nat.json"
    node.run(["sh", "-c", "echo '{not json' > %s" % path])
    converged = save(node, "nat")
    result, = node.playbook(SERVICE, expect_failure=True)
    assert "cannot read ownership record %s" % path in result["msg"] and "cp %s.prev %s" % (path, path) in result["msg"]
    assert save(node, "nat") == converged
    node.run(["cp", path + ".prev", path])
    node.playbook(SERVICE.replace("state_dir:", "state: absent\n    state_dir:"))
    assert save(node, "nat") == node.foreign["nat"]


def test_rejected_rule_leaves_table_unchanged(node):
    node.playbook(SERVICE)
    before = {table: save(node, table) for table in ("nat", "filter")}
    bad = SERVICE.replace("--dport 8080", "--dport 99999")
    result, = node.playbook(bad, expect_failure=True)
    assert result["_status"] == "failed"
    assert "invalid port/service `99999' specified" in result["msg"]
    assert "-A APP-SERVICE -d 10.96.0.1 -p tcp -m tcp --dport 99999 -j EDEN-SVC-HTTP" in result["msg"]
    assert {table: save(node, table) for table in ("nat", "filter")} == before
    # a rule that only the real table would reject (its target is missing there) fails atomically too
    missing = SERVICE.replace("-j ADAM-HTTP\n", "-j ADAM-HTTP\n          - -j NOT-THERE\n", 1)
    result, = node.playbook(missing, expect_failure=True)
    assert "NOT-THERE" in result["msg"]
    assert {table: save(node, table) for table in ("nat", "filter")} == before


def test_check_mode_changes_nothing(node):
    result, = node.playbook(SERVICE, check=True, diff=True)
    assert result["changed"] is True and result["created"] == ["APP-SERVICE", "EDEN-SVC-HTTP", "ADAM-HTTP", "EVE-HTTP"]
    assert "-A EDEN-SVC-HTTP -m statistic --mode random --probability 0.50000000000 -j EVE-HTTP" in result["diff"]["after"]
    assert result["diff"]["before"] == "*nat\nCOMMIT\n"
    assert save(node, "nat") == node.foreign["nat"]
    assert node.run(["ls", "/run/k8slab"], check=False).returncode != 0  # no record written
    node.playbook(SERVICE)
    current = save(node, "nat")
    result, = node.playbook(SERVICE.replace("state_dir:", "state: absent\n    state_dir:"), check=True)
    assert result["changed"] is True and save(node, "nat") == current


def test_absent_removes_all_it_owns_and_nothing_else(node):
    pod_network = """\
- name: pod network
  k8slab.kube_proxy.iptables_chains:
    table: nat
    owner: pod_network
    state_dir: %s
    builtin_rules:
      - {chain: POSTROUTING, rule: -s 10.0.0.0/24 -j MASQUERADE, position: last}
""" % STATE_DIR
    node.playbook(pod_network + SERVICE)
    result, = node.playbook(SERVICE.replace("state_dir:", "state: absent\n    state_dir:"))
    assert result["changed"] is True
    assert result["deleted"] == ["APP-SERVICE", "EDEN-SVC-HTTP", "ADAM-HTTP", "EVE-HTTP"]
    nat = save(node, "nat")
    # the other owner's MASQUERADE stays, Docker's rules are as they were
    assert without(nat, ["-A POSTROUTING -s 10.0.0.0/24 -j MASQUERADE"]) == node.foreign["nat"]
    assert "-A POSTROUTING -s 10.0.0.0/24 -j MASQUERADE" in nat
    again, = node.playbook(SERVICE.replace("state_dir:", "state: absent\n    state_dir:"))
    assert again["changed"] is False
    # the other owner's record keeps the folder; once it goes too, no trace is left
    assert node.run(["ls", STATE_DIR]).stdout.split() == ["pod_network.ipv4.nat.json", "pod_network.ipv4.nat.json.prev",
                                                          "pod_network.ipv4.nat.no-change.json"]
    node.playbook(pod_network.replace("state_dir:", "state: absent\n    state_dir:"))
    assert node.run(["test", "-e", STATE_DIR], check=False).returncode == 1


def test_comments_and_diff(node):
    commented = SERVICE.replace("          - -j ADAM-HTTP\n", "          - rule: -j ADAM-HTTP\n            comment: 'eden -> \"adam\"'\n")
    result, = node.playbook(commented, diff=True)
    line = '-A EDEN-SVC-HTTP -m comment --comment "eden -> \\"adam\\"" -j ADAM-HTTP'
    assert line in save(node, "nat").splitlines()
    assert line in result["diff"]["after"].splitlines()
    assert node.playbook(commented)[0]["changed"] is False
    changed, = node.playbook(SERVICE, diff=True)  # comment removed: a change
    assert changed["changed"] is True and line in changed["diff"]["before"]


def test_legacy_backend(node):
    legacy = SERVICE.replace("table: nat", "table: nat\n    backend: legacy")
    first, second = node.playbook(legacy + legacy.replace("name: service", "name: again", 1))
    assert first["changed"] is True and first["backend"] == "legacy" and second["changed"] is False
    nat = save(node, "nat", "iptables-legacy-save")
    for line in OWNED_NAT + OWNED_CHAINS:
        assert line in nat.splitlines()
    assert save(node, "nat") == node.foreign["nat"]  # the nf_tables side is untouched


def test_waits_for_the_xtables_lock(node):
    legacy = SERVICE.replace("table: nat", "table: nat\n    backend: legacy\n    wait: 20")
    holder = node.run(["sh", "-c", "flock /run/xtables.lock sleep 3 >/dev/null 2>&1 & sleep 0.3; echo started"])
    assert "started" in holder.stdout
    start = time.monotonic()
    result, = node.playbook(legacy)
    assert result["changed"] is True
    assert time.monotonic() - start >= 2.5


POD_NETWORK_TABLES = """\
- name: pod network, both tables
  k8slab.kube_proxy.iptables_chains:
    owner: pod_network
    state_dir: %s
    tables:
      - table: filter
        builtin_rules:
          - {chain: FORWARD, rule: -i bridge_eden -j ACCEPT, position: last}
          - {chain: FORWARD, rule: -o bridge_eden -j ACCEPT, position: last}
      - table: nat
        builtin_rules:
          - {chain: POSTROUTING, rule: -s 10.0.0.0/24 -j MASQUERADE, position: last}
""" % STATE_DIR
POD_NETWORK_LINES = {"filter": ["-A FORWARD -i bridge_eden -j ACCEPT", "-A FORWARD -o bridge_eden -j ACCEPT"],
                     "nat": ["-A POSTROUTING -s 10.0.0.0/24 -j MASQUERADE"]}


def test_tables_form_writes_both_tables_in_one_run(node):
    first, second = node.playbook(POD_NETWORK_TABLES + POD_NETWORK_TABLES.replace("both tables", "again", 1))
    assert (first["changed"], second["changed"], second["digest_hit"]) == (True, False, True)
    # one restore input holding both tables
    assert "*filter\n" in first["applied"] and "*nat\n" in first["applied"]
    assert first["tables"] == {"filter": {"chains": [], "created": [], "deleted": []},
                               "nat": {"chains": [], "created": [], "deleted": []}}
    for table, lines in POD_NETWORK_LINES.items():
        current = save(node, table)
        assert without(current, lines) == node.foreign[table]
        # appended, in order: after Docker's FORWARD rules and its MASQUERADE
        chain = [line for line in current.splitlines() if line.startswith(lines[0].split(" -", 2)[0] + " ")]
        assert chain[-len(lines):] == lines
    # the nat rule turned off: that table's rules and record go, filter's stay
    result, = node.playbook(POD_NETWORK_TABLES.replace(
        "builtin_rules:\n          - {chain: POSTROUTING, rule: -s 10.0.0.0/24 -j MASQUERADE, position: last}",
        "builtin_rules: []"))
    assert result["changed"] is True and save(node, "nat") == node.foreign["nat"]
    assert node.run(["ls", STATE_DIR]).stdout.split() == [
        "pod_network.ipv4.filter+nat.no-change.json", "pod_network.ipv4.filter.json", "pod_network.ipv4.filter.json.prev"]


def test_an_owner_moves_from_one_table_per_run_to_tables_and_leaves_no_trace(node):
    single = ""
    for table, lines in POD_NETWORK_LINES.items():
        rules = ["      - {chain: %s, rule: %s, position: last}" % (line.split()[1], " ".join(line.split()[2:])) for line in lines]
        single += "- name: pod network, %s\n  k8slab.kube_proxy.iptables_chains:\n    table: %s\n    owner: pod_network\n" \
                  "    state_dir: %s\n    builtin_rules:\n%s\n" % (table, table, STATE_DIR, "\n".join(rules))
    node.playbook(single)
    # the same ownership records: no clash, nothing to change
    result, = node.playbook(POD_NETWORK_TABLES)
    assert (result["changed"], result["digest_hit"]) == (False, False)
    result, = node.playbook("""\
- name: pod network gone
  k8slab.kube_proxy.iptables_chains:
    owner: pod_network
    state_dir: %s
    tables: [{table: nat}, {table: filter}]
    state: absent
""" % STATE_DIR)
    assert result["changed"] is True
    assert result["tables"]["nat"]["deleted"] == [] and set(result["tables"]) == {"nat", "filter"}
    for table in POD_NETWORK_LINES:
        assert save(node, table) == node.foreign[table]
    # every record and no-change entry of either form is gone, and with them the folder
    assert node.run(["test", "-e", STATE_DIR], check=False).returncode == 1
