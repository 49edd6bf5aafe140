# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The proxy_sync module against a fake iptables that applies what it is given: which commands, one restore,
the digest path, drain, foreign chains refused before any change. No root (the real thing: tests/integration)."""

from __future__ import annotations

import json
import os
from collections import OrderedDict

import pytest

from ansible.module_utils import basic
from ansible.module_utils.common.parameters import PASS_VARS
from ansible.module_utils.testing import patch_module_args

from ansible_collections.k8slab.kube_proxy.plugins.filter.pods import complete_pods
from ansible_collections.k8slab.kube_proxy.plugins.module_utils import iptables_owner, nfacct, proxier
from ansible_collections.k8slab.kube_proxy.plugins.modules import proxy_sync

BUILTIN = {"filter": ("INPUT", "FORWARD", "OUTPUT"), "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING")}
SERVICES = [{"metadata": {"name": "app-service"},
             "spec": {"clusterIP": "10.96.0.1", "selector": {"component": "app"}, "ports": [{"port": 8080, "targetPort": 8080}]}}]
PODS = complete_pods([{"name": "adam", "address": "10.0.0.11", "labels": {"component": "app"}},
                      {"name": "eve", "address": "10.0.0.21", "labels": {"component": "app"}}], "10.0.0.1/24")


class FakeIptables:
    """Tables as chain -> rules; iptables-restore input is applied line by line, iptables-save prints them."""

    def __init__(self):
        self.tables = dict((table, OrderedDict((chain, []) for chain in chains)) for table, chains in BUILTIN.items())

    def save(self, table, tables=None):
        chains = (tables or self.tables)[table]
        lines = ["*%s" % table] + [":%s %s [0:0]" % (name, "ACCEPT" if name in BUILTIN[table] else "-") for name in chains]
        for name, rules in chains.items():
            lines += ["-A %s %s" % (name, rule) for rule in rules]
        return "\n".join(lines + ["COMMIT"]) + "\n"

    def restore(self, text, tables=None):
        tables = self.tables if tables is None else tables
        chains = None
        for line in text.splitlines():
            if line.startswith("*"):
                chains = tables[line[1:]]
            elif line.startswith(":"):
                chains[line[1:].split()[0]] = []
            elif line.startswith("-A "):
                dummy, name, rule = line.split(" ", 2)
                chains[name].append(rule)
            elif line.startswith("-I "):
                dummy, name, number, rule = line.split(" ", 3)
                chains[name].insert(int(number) - 1, rule)
            elif line.startswith("-D "):
                dummy, name, rule = line.split(" ", 2)
                chains[name].remove(rule)
            elif line.startswith("-X "):
                del chains[line[3:]]

    def scratch(self, text):
        """What the throwaway namespace reads back: the loaded tables, rules unchanged."""
        fresh = dict((table, OrderedDict((chain, []) for chain in chains)) for table, chains in BUILTIN.items())
        self.restore(text, fresh)
        return "".join(self.save(table, fresh) for table in ("filter", "nat"))


class Node:
    def __init__(self, tmp_path, monkeypatch, capsys):
        self.capsys = capsys
        self.state_dir = tmp_path / "k8slab"  # emptied subfolders take an empty k8slab/ with them
        self.netns = tmp_path / "netns"
        self.netns.mkdir()
        for name in ("netns_adam", "netns_eve"):
            (self.netns / name).write_text("")
        self.iptables = FakeIptables()
        self.made = ["filter", "nat"]
        self.calls = []
        self.restores = []
        monkeypatch.setattr(proxy_sync, "NETNS_DIR", str(self.netns))
        # The node's nfacct counters, in memory (the real ones: tests/integration, in a throwaway namespace).
        self.counters = set()
        monkeypatch.setattr(nfacct, "counters", lambda: sorted(self.counters))
        monkeypatch.setattr(nfacct, "add", self.counters.add)
        monkeypatch.setattr(nfacct, "remove", lambda name: name in self.counters and not self.counters.discard(name))
        monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda _m, *a, **k: self.run_command(*a, **k))
        monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda _m, name, *a, **k: "/usr/sbin/%s" % name)

    def run_command(self, argv, data=None, **_kwargs):
        name = os.path.basename(argv[0])
        self.calls.append(" ".join([name] + [str(arg) for arg in argv[1:] if name != "unshare"]))
        if argv[1:] == ["--version"]:
            return 0, "%s v1.8.9 (nf_tables)\n" % name, ""
        if name == "iptables-nft-save":  # without -t: every table made so far; with -t that one, made or not
            return 0, "".join(self.iptables.save(table) for table in (argv[2:] or self.made)), ""
        if name == "unshare":
            return 0, self.iptables.scratch(data), ""
        if name == "iptables-nft-restore":
            self.restores.append(data)
            self.iptables.restore(data)
            return 0, "", ""
        if name == "nft":
            return 1, "", "Error: No such file or directory\n"
        raise AssertionError("unexpected command %r" % (argv,))

    def args(self, **args):
        params = dict(services=SERVICES, pods=PODS, state_dir=str(self.state_dir), cluster_cidr="10.0.0.0/24")
        params.update(args)
        return params

    def run(self, check=False, digest_only=False, packed=False, **args):
        """One module run; digest_only sends what the action plugin sends when it tries the digest first,
        packed the model as the action plugin sends it (model_json)."""
        params = self.args(**args)
        params["model_digest"] = proxier.model_digest(params, "test")
        if packed:
            params = dict((key, value) for key, value in params.items() if key not in proxier.MODEL_KEYS)
            params["model_json"] = packed if isinstance(packed, str) else json.dumps(
                dict((key, value) for key, value in self.args(**args).items() if key in proxier.MODEL_KEYS))
        if digest_only:
            params = dict((key, value) for key, value in params.items() if key not in proxier.MODEL_KEYS)
            if args.get("drain"):
                params["local_netns"] = proxier.local_netns(PODS)
        if check:
            params["_ansible_check_mode"] = True
        self.calls = []
        self.restores = []
        with patch_module_args(params):
            with pytest.raises(SystemExit):
                proxy_sync.main()
        return json.loads(self.capsys.readouterr().out)

    def chains(self, table="nat"):
        return [name for name in self.iptables.tables[table] if name not in BUILTIN[table]]


@pytest.fixture
def node(tmp_path, monkeypatch, capsys):
    return Node(tmp_path, monkeypatch, capsys)


def test_first_sync_reads_loads_and_restores_once(node):
    # ansible-core 2.21 and later return `invocation` only when the controller asks for it
    # (INJECT_INVOCATION); 2.19 and 2.20 always do, and refuse the flag.
    result = node.run(**({"_ansible_inject_invocation": True} if "inject_invocation" in PASS_VARS else {}))
    # nat and filter from one iptables-save: with nf_tables each save fetches the whole ruleset
    assert node.calls == ["iptables --version", "iptables-nft-restore --version", "iptables-nft-save",
                          "unshare", "iptables-nft-restore --noflush -w 30"]
    assert result["changed"] is True and result["digest_hit"] is False
    assert node.chains() == ["APP-SERVICE", "EDEN-SVC-HTTP", "EVE-HTTP", "ADAM-HTTP"]
    assert node.iptables.tables["nat"]["PREROUTING"] == ["-j APP-SERVICE"]
    assert "services" not in result  # the plan only with return_plan
    assert result["invocation"]["module_args"]["pods"] == "2 items (not echoed back)"


def test_a_table_not_made_yet_is_read_with_its_built_in_chains(node):
    # iptables-nft-save without -t leaves out a table nothing made yet; -t shows its built-in chains,
    # which the kube-proxy layout's jumps from INPUT and FORWARD need.
    node.made = ["nat"]
    result = node.run(layout="kube-proxy")
    assert node.calls[2:4] == ["iptables-nft-save", "iptables-nft-save -t filter"]
    assert result["changed"] is True and "KUBE-FORWARD" in node.chains("filter")


def test_kube_proxy_layout_writes_nat_and_filter_in_one_restore(node):
    result = node.run(layout="kube-proxy")
    [payload] = node.restores
    assert payload.index("*filter") < payload.index("*nat")
    assert "KUBE-FORWARD" in node.chains("filter") and "KUBE-SVC-HVXLY56DFZMBQN5Y" in node.chains("nat")
    assert result["changed"] is True
    # Back to the tutorial: filter emptied and nat rewritten, again in one restore.
    node.run()
    [payload] = node.restores
    assert "-X KUBE-FORWARD" in payload and "-X KUBE-SVC-HVXLY56DFZMBQN5Y" in payload
    assert node.chains("filter") == [] and node.chains() == ["APP-SERVICE", "EDEN-SVC-HTTP", "EVE-HTTP", "ADAM-HTTP"]
    assert not (node.state_dir / "iptables_chains" / "service_proxy.ipv4.filter.json").exists()


@pytest.mark.parametrize("break_it, reason", [
    (None, None),
    (lambda node: node.iptables.tables["nat"]["EDEN-SVC-HTTP"].pop(), "the live rules differ"),
    (lambda node: node.iptables.tables["nat"]["PREROUTING"].insert(0, "-j ACCEPT"), "the live rules differ"),
    (lambda node: (node.state_dir / "iptables_chains" / "service_proxy.ipv4.nat.json").write_text("{not json"),
     "an ownership record changed"),
    (lambda node: (node.state_dir / "proxy_sync" / "service_proxy.json").unlink(), "another model"),
    (lambda node: (node.netns / "netns_eve").unlink(), None),  # only drain cares whether pods run
    # another owner's record decides clashes: the engine's check compares every owner's
    (lambda node: (node.state_dir / "iptables_chains" / "pod_network.ipv4.nat.json").write_text("{}"),
     "an ownership record changed"),
], ids=["in-sync", "rule-deleted", "foreign-rule-on-top", "record-corrupt", "no-sync-record", "netns-gone",
        "other-owners-record"])
def test_digest_path_answers_from_the_record_and_one_read(node, break_it, reason):
    node.run()
    if break_it:
        break_it(node)
    result = node.run(digest_only=True)
    if reason is None:
        assert result == dict(result, changed=False, in_sync=True, digest_hit=True)
        assert node.calls == ["iptables-nft-save -t nat"]  # the tutorial layout has nothing in filter
    else:
        assert result["model_needed"] is True and reason in result["reason"] and result["changed"] is False
        assert node.restores == []


@pytest.mark.parametrize("table, chain", [("nat", "KUBE-SERVICES"), ("filter", "KUBE-FORWARD")])
def test_kube_proxy_layout_digest_path_reads_both_tables_in_one_save(node, table, chain):
    node.run(layout="kube-proxy")
    result = node.run(digest_only=True, layout="kube-proxy")
    assert result["digest_hit"] is True and node.calls == ["iptables-nft-save"]
    node.iptables.tables[table][chain].pop()
    assert node.run(digest_only=True, layout="kube-proxy")["reason"] == "the live rules differ from what was written"


def test_a_sync_reads_its_record_once(node, monkeypatch):
    node.run()
    reads = []
    load = proxy_sync.ProxySync.load_sync_record
    monkeypatch.setattr(proxy_sync.ProxySync, "load_sync_record", lambda self: reads.append(1) or load(self))
    assert node.run(drain=True, rule_comments=True)["changed"] is True
    assert len(reads) == 1  # drain, the drain-only check and the conntrack clean-up share it


def test_the_journal_is_written_for_the_tables_the_restore_writes(node, monkeypatch):
    node.run(layout="kube-proxy")
    journaled = []
    merge = iptables_owner.merge_records
    monkeypatch.setattr(iptables_owner, "merge_records", lambda old, new: journaled.append(new["table"]) or merge(old, new))
    result = node.run(layout="kube-proxy", pods=PODS[:1])  # eve leaves: nat changes, filter does not
    assert result["changed"] is True and "*filter" not in node.restores[0]
    assert journaled == ["nat"]


def test_a_hand_deleted_rule_is_repaired_by_the_full_path(node):
    node.run()
    node.iptables.tables["nat"]["EDEN-SVC-HTTP"].pop()
    assert node.run(digest_only=True)["model_needed"] is True
    result = node.run()
    assert result["changed"] is True and node.iptables.tables["nat"]["EDEN-SVC-HTTP"][-1] == "-j ADAM-HTTP"
    assert node.run(digest_only=True)["digest_hit"] is True


def test_another_model_needs_the_model(node):
    node.run()
    assert node.run(digest_only=True, rule_comments=True)["model_needed"] is True


def test_drain_leaves_out_pods_that_do_not_run_and_records_no_digest(node):
    node.run()
    (node.netns / "netns_eve").unlink()
    result = node.run(drain=True)
    assert result["waiting"] == ["eve"] and result["changed"] is True and result["complete"] is False
    assert node.chains() == ["APP-SERVICE", "EDEN-SVC-HTTP", "ADAM-HTTP"]
    # The drained rules are not the model's: the next run with the digest alone must send the model.
    assert node.run(digest_only=True)["model_needed"] is True
    assert node.run(digest_only=True, drain=True)["model_needed"] is True


def test_drain_never_adds_a_pod_whose_namespace_a_killed_converge_made(node):
    # eve left the Service (drain) and her namespace went; a converge that brings her back is killed after
    # pod_sync made her namespace, before her app started: the next drain must not send connections to her
    node.run()
    (node.netns / "netns_eve").unlink()
    node.run(drain=True)
    (node.netns / "netns_eve").touch()
    result = node.run(drain=True)
    assert result["waiting"] == ["eve"] and node.chains() == ["APP-SERVICE", "EDEN-SVC-HTTP", "ADAM-HTTP"]
    # the full sync after her app answers serves her, and the drain after it keeps her
    node.run()
    assert node.run(drain=True)["waiting"] == []


def test_drain_with_every_pod_running_is_the_full_sync(node):
    node.run()
    result = node.run(digest_only=True, drain=True)
    assert result["digest_hit"] is True and result["complete"] is True
    result = node.run(drain=True)
    assert result["changed"] is False and result["waiting"] == [] and result["complete"] is True
    # In check mode nothing is written: the sync after the drain must still run.
    assert node.run(drain=True, check=True, rule_comments=True)["complete"] is False


def test_drain_on_a_fresh_node_only_checks(node):
    result = node.run(drain=True)
    assert result["changed"] is False and node.restores == [] and node.chains() == []
    assert result["complete"] is False  # it only checked: the sync after it writes the rules
    assert not node.state_dir.exists()


def test_a_foreign_chain_the_full_model_derives_stops_the_drain_before_any_change(node):
    node.run()
    # Someone else's KUBE-SERVICES; pod kube (not running yet) with port name services derives that name.
    node.iptables.tables["nat"]["KUBE-SERVICES"] = ["-j RETURN"]
    kube = complete_pods([{"name": "kube", "address": "10.0.0.31", "labels": {"component": "app"}}], "10.0.0.1/24")
    services = [dict(SERVICES[0], spec=dict(SERVICES[0]["spec"], ports=[{"name": "services", "port": 8080}]))]
    result = node.run(drain=True, pods=[PODS[0], kube[0]], services=services)
    assert result["failed"] is True
    assert "chain KUBE-SERVICES already exists in table nat" in result["msg"]
    assert node.restores == [] and node.iptables.tables["nat"]["KUBE-SERVICES"] == ["-j RETURN"]


def test_fail_on_no_endpoints_is_checked_on_the_full_model_before_any_change(node):
    lonely = {"metadata": {"name": "web"}, "spec": {"clusterIP": "10.96.0.2", "selector": {"c": "web"}, "ports": [{"port": 80}]}}
    result = node.run(services=SERVICES + [lonely], fail_on_no_endpoints=True, drain=True)
    assert result["failed"] is True and "fail_on_no_endpoints is true" in result["msg"] and node.calls == []


def test_check_mode_returns_the_plan_and_changes_nothing(node):
    result = node.run(check=True, return_plan=True)
    assert result["changed"] is True and result["in_sync"] is False and node.restores == []
    assert not node.state_dir.exists() and node.chains() == []
    [service] = result["services"]
    assert (service["cluster_ip"], service["port"], service["chain"]) == ("10.96.0.1", 8080, "EDEN-SVC-HTTP")
    assert [(e["pod"], e["chain"], e["share"]) for e in service["endpoints"]] == [("eve", "EVE-HTTP", 0.5), ("adam", "ADAM-HTTP", 0.5)]
    assert result["paths"] == {"default/app-service:8080": ["APP-SERVICE", "EDEN-SVC-HTTP", "EVE-HTTP", "ADAM-HTTP"]}
    assert result["dispatch_chain"] == "APP-SERVICE" and [pod["netns"] for pod in result["pods"]] == ["netns_adam", "netns_eve"]
    node.run()
    assert node.run(check=True, return_plan=True)["in_sync"] is True


def test_absent_removes_everything_and_every_record(node):
    node.run(layout="kube-proxy")
    result = node.run(state="absent")
    [payload] = node.restores
    assert result["changed"] is True and "*filter" in payload and "*nat" in payload
    assert node.chains() == [] and node.chains("filter") == [] and not node.state_dir.exists()
    assert node.run(state="absent")["changed"] is False and node.calls == []


@pytest.mark.parametrize("args, message", [
    (dict(layout="kube-proxy", cluster_cidr=None), "needs cluster_cidr"),
    (dict(layout="kube-proxy", masquerade_all="maybe"), "argument 'masquerade_all' is of type"),
    (dict(pods=[{"name": "adam"}]), "complete pod record"),
    (dict(services=[{"metadata": {"name": "x"}, "spec": {"ports": [{"port": 80}]}}]), "spec.clusterIP is required"),
    (dict(owner="../x"), "owner '../x'"),
    (dict(adopt=["PREROUTING"]), "built-in chain"),
    (dict(wait=-1), "wait must be 0 or more"),
    (dict(backend="nftables", service_cidr="nope", layout="kube-proxy"), "service_cidr 'nope' is not a CIDR"),
    (dict(model_file="model.json"), "model_file is read on the controller by the action plugin"),
])
def test_bad_input_fails_before_any_command(node, args, message):
    result = node.run(**args)
    assert result["failed"] is True and message in result["msg"] and node.calls == []


def test_the_model_as_one_json_text_syncs_as_the_lists_do(node):
    lists = node.run(layout="kube-proxy")
    restored = node.restores
    node.iptables = FakeIptables()
    (node.state_dir / "proxy_sync" / "service_proxy.json").unlink()
    for path in (node.state_dir / "iptables_chains").iterdir():
        path.unlink()
    packed = node.run(layout="kube-proxy", packed=True)
    assert node.restores == restored and packed["changed"] is lists["changed"] is True
    assert node.run(digest_only=True, layout="kube-proxy")["digest_hit"] is True
    # The model is not echoed back, neither as JSON nor as lists.
    packed = node.run(layout="kube-proxy", packed=True,
                      **({"_ansible_inject_invocation": True} if "inject_invocation" in PASS_VARS else {}))
    assert packed["invocation"]["module_args"]["model_json"] is None
    assert packed["invocation"]["module_args"]["services"] == "1 items (not echoed back)"


@pytest.mark.parametrize("packed, message", [
    ("{not json", "model_json is not valid JSON"),
    ('["services"]', "must be a mapping of some of services, endpoint_slices, pods to lists"),
    ('{"services": {}}', "must be a mapping"),
    ('{"layout": []}', "must be a mapping"),
])
def test_a_bad_model_json_fails_before_any_command(node, packed, message):
    result = node.run(packed=packed)
    assert result["failed"] is True and message in result["msg"] and node.calls == []


def test_model_json_beside_a_model_list_fails_before_any_command(node):
    result = node.run(model_json='{"pods": []}')
    assert result["failed"] is True and "mutually exclusive" in result["msg"] and node.calls == []


# the pure half -----------------------------------------------------------------------------------

def test_drained_pods_keep_other_nodes_pods():
    pods = [{"name": "a", "netns": "netns_a"}, {"name": "b", "netns": "netns_b", "node": "n1"},
            {"name": "c", "netns": "netns_c", "node": "n2"}]
    assert proxier.drained_pods(pods, "n1", ["netns_a"]) == ([pods[0], pods[2]], ["b"])
    assert proxier.local_netns(pods, "n1") == ["netns_a", "netns_b"]


def test_drained_pods_never_add_a_pod_the_last_sync_did_not_serve():
    # netns_b exists (a killed converge made it) but its app never answered: the drain keeps it out
    pods = [{"name": "a", "netns": "netns_a"}, {"name": "b", "netns": "netns_b"},
            {"name": "c", "netns": "netns_c", "node": "n2"}]
    assert proxier.drained_pods(pods, "n1", ["netns_a", "netns_b"], ["netns_a"]) == ([pods[0], pods[2]], ["b"])
    # a record from before the list: every pod that runs keeps its endpoints
    assert proxier.drained_pods(pods, "n1", ["netns_a", "netns_b"]) == (pods, [])


def test_model_digest_ignores_how_the_model_travels():
    args = dict(services=SERVICES, pods=PODS, layout="tutorial")
    digest = proxier.model_digest(args, "code")
    assert proxier.model_digest(dict(args, drain=True, return_plan=True, model_digest="x"), "code") == digest
    assert proxier.model_digest(dict(args, layout="kube-proxy"), "code") != digest
    assert proxier.model_digest(args, "new code") != digest


def test_nft_stable_text_leaves_out_what_rules_add_at_run_time():
    table = ("table ip kube-proxy {\n\tset affinity-x {\n\t\ttype ipv4_addr\n\t\tflags dynamic,timeout\n"
             "\t\telements = { 10.0.0.5 timeout 3h,\n\t\t\t     10.0.0.6 timeout 3h }\n\t}\n"
             "\tmap service-ips {\n\t\ttype ipv4_addr : verdict\n\t\telements = { 10.96.0.1 : goto x }\n\t}\n}")
    stable = proxier.nft_stable_text(table)
    assert "10.0.0.5" not in stable and "10.0.0.6" not in stable and "10.96.0.1 : goto x" in stable
    assert proxier.nft_stable_text(table.replace("10.0.0.5", "10.0.0.9")) == stable


def test_internal_local_policy_uses_the_nodes_own_pods(node):
    """The task's node decides the local endpoints: the cluster IP reaches eve (node2) only, and the plan says so."""
    local = [dict(SERVICES[0], spec=dict(SERVICES[0]["spec"], internalTrafficPolicy="Local"))]
    pods = [dict(PODS[0], node="node1"), dict(PODS[1], node="node2")]
    result = node.run(check=True, return_plan=True, layout="kube-proxy", services=local, pods=pods, node="node2")
    [service] = result["services"]
    assert service["internal_traffic_policy"] == "Local" and service["chain"].startswith("KUBE-SVL-")
    assert [(e["pod"], e["share"]) for e in service["endpoints"]] == [("eve", 1.0)]
    result = node.run(check=True, return_plan=True, layout="kube-proxy", services=local, pods=pods, node="node3")
    assert result["services"][0]["endpoints"] == [] and "connections to the cluster IP are dropped" in result["no_endpoints"][0]
    result = node.run(services=local, pods=pods, node="node2")
    assert result["failed"] is True and "kube-proxy layout" in result["msg"]


def test_kube_proxy_layout_makes_and_counts_into_the_nfacct_counter_and_absent_deletes_it(node):
    node.run(layout="kube-proxy", check=True)
    assert node.counters == set()  # check mode makes nothing
    node.run(layout="kube-proxy")
    assert node.counters == {"ct_state_invalid_dropped_pkts"}
    assert "-m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP" in \
        node.iptables.tables["filter"]["KUBE-FORWARD"]
    node.run(state="absent")
    assert node.counters == set()


def test_a_counter_proxy_sync_found_survives_absent_and_a_rejected_model_makes_none(node):
    bad = [dict(SERVICES[0], spec=dict(SERVICES[0]["spec"], type="ExternalName"))]
    result = node.run(layout="kube-proxy", services=bad)
    assert result["failed"] is True and "rejected before any change" in result["msg"]
    assert node.counters == set()  # the model is checked before the counter is made
    node.counters.add("ct_state_invalid_dropped_pkts")  # made by someone else (a real kube-proxy)
    node.run(layout="kube-proxy")
    assert "-m nfacct --nfacct-name ct_state_invalid_dropped_pkts" in " ".join(node.iptables.tables["filter"]["KUBE-FORWARD"])
    node.run(state="absent")
    assert node.counters == {"ct_state_invalid_dropped_pkts"}
