# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The iptables_chains module with canned command output: which commands it runs, what it returns. No root."""

from __future__ import annotations

import json
import os

import pytest

from ansible.module_utils import basic
from ansible.module_utils.common.parameters import PASS_VARS
from ansible.module_utils.testing import patch_module_args

from ansible_collections.k8slab.kube_proxy.plugins.modules import iptables_chains
from ansible_collections.k8slab.kube_proxy.plugins.module_utils import iptables_owner

EMPTY_NAT = "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n"
# What iptables-save shows after the declared chains were loaded (in the scratch namespace or for real).
LOADED_NAT = ("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
              ":EDEN-SVC-HTTP - [0:0]\n:EVE-HTTP - [0:0]\n-A OUTPUT -j EDEN-SVC-HTTP\n"
              "-A EDEN-SVC-HTTP -m statistic --mode random --probability 0.50000000000 -j EVE-HTTP\n"
              "-A EVE-HTTP -p tcp -m tcp -j DNAT --to-destination 10.0.0.21:8080\nCOMMIT\n")
PARAMS = dict(table="nat", owner="service_proxy", chains=[
    {"name": "EDEN-SVC-HTTP", "rules": ["-m statistic --mode random --probability 0.5 -j EVE-HTTP"]},
    {"name": "EVE-HTTP", "rules": ["-p tcp -j DNAT --to-destination 10.0.0.21:8080"]},
], builtin_rules=[{"chain": "OUTPUT", "rule": "-j EDEN-SVC-HTTP"}])
APPLIED = ("*nat\n:EDEN-SVC-HTTP - [0:0]\n:EVE-HTTP - [0:0]\n"
           "-A EDEN-SVC-HTTP -m statistic --mode random --probability 0.50000000000 -j EVE-HTTP\n"
           "-A EVE-HTTP -p tcp -m tcp -j DNAT --to-destination 10.0.0.21:8080\n-I OUTPUT 1 -j EDEN-SVC-HTTP\nCOMMIT\n")


class FakeNode:
    """Answers the module's commands from canned text and records every call."""

    def __init__(self, tmp_path, monkeypatch, capsys, backend="nf_tables", missing=()):
        self.capsys = capsys
        self.state_dir = tmp_path / "state"
        self.table = EMPTY_NAT
        self.scratch = (0, LOADED_NAT, "")
        self.restore_result = (0, "", "")
        self.backend = backend
        self.missing = set(missing)
        self.calls = []
        monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda _module, *args, **kwargs: self.run_command(*args, **kwargs))
        monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda _module, *args, **kwargs: self.get_bin_path(*args, **kwargs))

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return None if name in self.missing else "/usr/sbin/%s" % name

    def run_command(self, argv, data=None, **_kwargs):
        name = os.path.basename(argv[0])
        self.calls.append((name,) + tuple(argv[1:]))
        if argv[1:] == ["--version"]:
            return 0, "%s v1.8.9 (%s)\n" % (name, self.backend), ""
        if name.endswith("-save"):
            return 0, self.table, ""
        if name == "unshare":
            self.scratch_input = data
            return self.scratch
        if name.endswith("-restore"):
            self.applied = data
            return self.restore_result
        raise AssertionError("unexpected command %r" % (argv,))

    def run(self, check=False, diff=False, drop=(), **args):
        params = dict(PARAMS, state_dir=str(self.state_dir))
        params.update(args)
        for name in drop:
            del params[name]
        if check:
            params["_ansible_check_mode"] = True
        if diff:
            params["_ansible_diff"] = True
        self.calls = []
        with patch_module_args(params):
            with pytest.raises(SystemExit):
                iptables_chains.main()
        return json.loads(self.capsys.readouterr().out)

    def commands(self):
        return [call[0] if call[1:] != ("--version",) else call[0] + " --version" for call in self.calls]

    @property
    def record(self):
        path = self.state_dir / "service_proxy.ipv4.nat.json"
        return json.loads(path.read_text()) if path.exists() else None


@pytest.fixture
def node(tmp_path, monkeypatch, capsys):
    return FakeNode(tmp_path, monkeypatch, capsys)


def test_first_run_loads_scratch_then_applies_once(node):
    result = node.run()
    assert node.commands() == ["iptables --version", "iptables-nft-restore --version", "iptables-nft-save",
                               "unshare", "iptables-nft-restore"]
    assert node.calls[2] == ("iptables-nft-save", "-t", "nat")
    # the scratch load: a fixed script, every value a separate argument
    assert node.calls[3][1:6] == ("--net", "--", "/usr/sbin/sh", "-c", iptables_chains.SCRATCH_SCRIPT)
    assert node.calls[3][6:] == ("k8slab-scratch", "/usr/sbin/iptables-nft-restore", "/usr/sbin/iptables-nft-save", "nat", "30")
    assert node.scratch_input == ("*nat\n:EDEN-SVC-HTTP - [0:0]\n:EVE-HTTP - [0:0]\n"
                                  "-A EDEN-SVC-HTTP -m statistic --mode random --probability 0.5 -j EVE-HTTP\n"
                                  "-A EVE-HTTP -p tcp -j DNAT --to-destination 10.0.0.21:8080\n"
                                  "-A OUTPUT -j EDEN-SVC-HTTP\nCOMMIT\n")
    assert node.calls[4] == ("iptables-nft-restore", "--noflush", "-w", "30")
    assert node.applied == APPLIED
    assert result["changed"] is True and result["applied"] == APPLIED
    assert (result["created"], result["deleted"], result["chains"]) == (["EDEN-SVC-HTTP", "EVE-HTTP"], [], ["EDEN-SVC-HTTP", "EVE-HTTP"])
    assert (result["backend"], result["table"]) == ("nft", "nat")
    assert "diff" not in result
    eve = node.record["chains"]["EVE-HTTP"]
    assert (eve["created"], eve["rules"]) == (True, ["-p tcp -m tcp -j DNAT --to-destination 10.0.0.21:8080"])
    assert len(eve["input"]) == 24 and eve["input"] != node.record["chains"]["EDEN-SVC-HTTP"]["input"]
    assert node.record["builtin_rules"] == [{"chain": "OUTPUT", "rule": "-j EDEN-SVC-HTTP", "position": "first"}]


def test_rerun_uses_the_remembered_canonical_form(node):
    node.run()
    node.table = LOADED_NAT
    result = node.run()
    assert node.commands() == ["iptables --version", "iptables-nft-restore --version", "iptables-nft-save"]
    assert result["changed"] is False and result["applied"] == "" and result["created"] == []


def test_rerun_does_not_rewrite_the_record(node, monkeypatch):
    node.run()
    node.table = LOADED_NAT
    monkeypatch.setattr(iptables_owner, "dump_record", lambda record: pytest.fail("record rendered again"))
    assert node.run()["changed"] is False


def test_changed_input_loads_scratch_again(node):
    node.run()
    node.table = LOADED_NAT
    node.run(builtin_rules=[{"chain": "OUTPUT", "rule": "-j EDEN-SVC-HTTP", "comment": "x"}])
    assert "unshare" in node.commands()


def test_one_changed_chain_alone_goes_through_scratch(node):
    node.run()
    node.table = LOADED_NAT
    node.scratch = (0, LOADED_NAT.replace("10.0.0.21:8080", "10.0.0.22:8080"), "")
    chains = [dict(PARAMS["chains"][0]), {"name": "EVE-HTTP", "rules": ["-p tcp -j DNAT --to-destination 10.0.0.22:8080"]}]
    result = node.run(chains=chains)
    # Only EVE-HTTP is loaded; EDEN-SVC-HTTP's canonical rules come from the record.
    assert node.scratch_input == "*nat\n:EVE-HTTP - [0:0]\n-A EVE-HTTP -p tcp -j DNAT --to-destination 10.0.0.22:8080\nCOMMIT\n"
    # Partial sync: the one restore rewrites that chain and nothing else.
    assert node.applied == "*nat\n:EVE-HTTP - [0:0]\n-A EVE-HTTP -p tcp -m tcp -j DNAT --to-destination 10.0.0.22:8080\nCOMMIT\n"
    assert result["changed"] is True
    assert node.record["chains"]["EDEN-SVC-HTTP"]["rules"] == ["-m statistic --mode random --probability 0.50000000000 -j EVE-HTTP"]
    assert node.record["builtin_rules"] == [{"chain": "OUTPUT", "rule": "-j EDEN-SVC-HTTP", "position": "first"}]


def test_changed_builtin_rules_alone_go_through_scratch(node):
    node.run()
    node.table = LOADED_NAT
    node.scratch = (0, LOADED_NAT.replace("-A OUTPUT -j EDEN-SVC-HTTP", "-A PREROUTING -j EDEN-SVC-HTTP"), "")
    node.run(builtin_rules=[{"chain": "PREROUTING", "rule": "-j EDEN-SVC-HTTP"}])
    # The chain the rule jumps to is declared (empty) so the jump loads; EVE-HTTP is not needed.
    assert node.scratch_input == "*nat\n:EDEN-SVC-HTTP - [0:0]\n-A PREROUTING -j EDEN-SVC-HTTP\nCOMMIT\n"
    assert node.record["builtin_rules"] == [{"chain": "PREROUTING", "rule": "-j EDEN-SVC-HTTP", "position": "first"}]


def test_no_built_in_rules_need_no_scratch_load(node):
    node.run(builtin_rules=[])
    node.table = LOADED_NAT.replace("-A OUTPUT -j EDEN-SVC-HTTP\n", "")
    path = node.state_dir / "service_proxy.ipv4.nat.json"
    record = json.loads(path.read_text())
    record["input_digest"] = record["builtin_input"] = None  # the chains are known (their input keys), nothing else
    path.write_text(json.dumps(record))
    result = node.run(builtin_rules=[], adopt=[])
    assert "unshare" not in node.commands() and result["changed"] is False


def test_another_iptables_version_loads_everything_again(node):
    node.run()
    node.table = LOADED_NAT
    node.backend = "nf_tables) (v1.8.10"
    node.run(builtin_rules=[{"chain": "OUTPUT", "rule": "-j EDEN-SVC-HTTP", "comment": "x"}])
    assert "-A EVE-HTTP -p tcp -j DNAT" in node.scratch_input and "-A EDEN-SVC-HTTP -m statistic" in node.scratch_input


def test_a_large_input_is_not_echoed_back(node, monkeypatch):
    # ansible-core 2.21 and later return `invocation` only when the controller
    # asks for it (INJECT_INVOCATION); 2.19 and 2.20 always do, and refuse the flag.
    ask = {"_ansible_inject_invocation": True} if "inject_invocation" in PASS_VARS else {}
    assert node.run(**ask)["invocation"]["module_args"]["chains"] == PARAMS["chains"]
    node.table = LOADED_NAT
    monkeypatch.setattr(iptables_chains, "ECHO_LIMIT", 2)
    result = node.run(**ask)
    assert result["invocation"]["module_args"]["chains"] == "2 chains with 3 rules (not echoed back)"
    assert result["invocation"]["module_args"]["owner"] == "service_proxy"


def test_drift_is_repaired_without_scratch(node):
    node.run()
    node.table = LOADED_NAT.replace("-A EDEN-SVC-HTTP -m statistic --mode random --probability 0.50000000000 -j EVE-HTTP\n", "")
    result = node.run()
    assert "unshare" not in node.commands()
    assert result["changed"] is True
    assert node.applied == ("*nat\n:EDEN-SVC-HTTP - [0:0]\n"
                            "-A EDEN-SVC-HTTP -m statistic --mode random --probability 0.50000000000 -j EVE-HTTP\nCOMMIT\n")


def test_check_mode_applies_and_records_nothing(node):
    result = node.run(check=True, diff=True)
    assert "iptables-nft-restore" not in node.commands()[2:]
    assert result["changed"] is True and result["applied"] == APPLIED
    assert node.record is None
    assert result["diff"]["before"] == "*nat\nCOMMIT\n"
    assert result["diff"]["after"].startswith("*nat\n:EDEN-SVC-HTTP - [0:0]\n:EVE-HTTP - [0:0]\n-A OUTPUT -j EDEN-SVC-HTTP\n")


def test_rejected_rule_fails_before_anything_is_applied(node):
    node.scratch = (2, "", "iptables-restore v1.8.9 (nf_tables): invalid port/service `99999' specified\n"
                           "Error occurred at line: 4\n")
    result = node.run(chains=[{"name": "X", "rules": ["-j ACCEPT", "-p tcp --dport 99999 -j ACCEPT"]}], builtin_rules=[])
    assert result["failed"] is True
    assert "invalid port/service `99999' specified" in result["msg"]
    assert "(line 4 is chain X: -A X -p tcp --dport 99999 -j ACCEPT)" in result["msg"]
    assert node.commands()[-1] == "unshare" and node.record is None


def test_restore_failure_is_reported(node):
    node.restore_result = (4, "", "iptables-restore: unable to initialize table 'nat'\nError occurred at line: 1\n")
    result = node.run()
    assert result["failed"] is True
    assert "the table is unchanged: iptables-restore: unable to initialize table 'nat'" in result["msg"]
    assert "(line 1 is *nat)" in result["msg"]
    assert node.record is None


@pytest.mark.parametrize("args, message", [
    (dict(owner="../x"), "owner '../x'"),
    (dict(chains=[{"name": "X", "rules": ["-j ACCEPT\n-F"]}]), "one line"),
    (dict(chains=[{"name": "PREROUTING", "rules": []}]), "built-in chain"),
    (dict(builtin_rules=[{"chain": "OUTPUT", "rule": "-A OUTPUT -j X"}]), "contains -A"),
    (dict(wait=-1), "wait must be 0 or more"),
])
def test_bad_arguments_fail_before_any_command(node, args, message):
    result = node.run(**args)
    assert result["failed"] is True and message in result["msg"]
    assert node.calls == []


def test_explicit_legacy_backend(node):
    node.backend = "legacy"
    result = node.run(backend="legacy")
    assert node.commands() == ["iptables-legacy-restore --version", "iptables-legacy-save", "unshare", "iptables-legacy-restore"]
    assert result["backend"] == "legacy"


def test_auto_falls_back_to_plain_names(tmp_path, monkeypatch, capsys):
    node = FakeNode(tmp_path, monkeypatch, capsys, backend="legacy",
                    missing=("iptables-legacy-save", "iptables-legacy-restore"))
    result = node.run()
    assert node.commands() == ["iptables --version", "iptables-restore --version", "iptables-save", "unshare", "iptables-restore"]
    assert result["backend"] == "legacy"


def test_explicit_backend_that_is_missing(tmp_path, monkeypatch, capsys):
    node = FakeNode(tmp_path, monkeypatch, capsys, missing=("iptables-legacy-save",))
    result = node.run(backend="legacy")
    assert result["failed"] is True and "iptables-legacy-save not found" in result["msg"]


def test_ipv6_uses_ip6tables(node):
    node.table = EMPTY_NAT
    node.run(ip_version="ipv6")
    assert node.commands()[:3] == ["ip6tables --version", "ip6tables-nft-restore --version", "ip6tables-nft-save"]
    assert (node.state_dir / "service_proxy.ipv6.nat.json").exists()


def test_absent_removes_and_forgets(node):
    node.run()
    node.table = LOADED_NAT
    result = node.run(state="absent")
    assert result["changed"] is True and result["deleted"] == ["EDEN-SVC-HTTP", "EVE-HTTP"]
    assert node.applied == ("*nat\n:EDEN-SVC-HTTP - [0:0]\n:EVE-HTTP - [0:0]\n-D OUTPUT -j EDEN-SVC-HTTP\n"
                            "-X EDEN-SVC-HTTP\n-X EVE-HTTP\nCOMMIT\n")
    assert "unshare" not in node.commands()
    assert node.record is None


def test_nothing_declared_prunes_without_scratch(node):
    node.run()
    node.table = LOADED_NAT
    result = node.run(chains=[], builtin_rules=[])
    assert "unshare" not in node.commands()
    assert result["deleted"] == ["EDEN-SVC-HTTP", "EVE-HTTP"] and result["chains"] == []
    assert node.record["chains"] == {} and node.record["builtin_rules"] == []


def test_other_owners_record_is_respected(node):
    node.state_dir.mkdir()
    (node.state_dir / "pod_network.ipv4.nat.json").write_text(json.dumps({
        "version": 1, "owner": "pod_network", "table": "nat", "ip_version": "ipv4", "backend": "nft",
        "input_digest": None, "chains": {"EVE-HTTP": {"created": True, "rules": []}}, "builtin_rules": []}))
    result = node.run()
    assert result["failed"] is True and "owned by owner pod_network" in result["msg"]


def test_broken_record_stops_the_run(node):
    node.state_dir.mkdir()
    (node.state_dir / "pod_network.ipv4.nat.json").write_text("{not json")
    result = node.run()
    assert result["failed"] is True and "cannot read ownership record" in result["msg"]
    assert "iptables-nft-save" not in node.commands()


def test_a_record_edited_by_hand_is_not_trusted(node):
    node.run()
    node.table = LOADED_NAT
    path = node.state_dir / "service_proxy.ipv4.nat.json"
    record = json.loads(path.read_text())
    del record["chains"]["EVE-HTTP"]  # its input digest still says the canonical form is known
    path.write_text(json.dumps(record))
    (node.state_dir / "service_proxy.ipv4.nat.no-change.json").unlink(missing_ok=True)
    result = node.run()
    assert result["failed"] is True and "chain EVE-HTTP already exists in table nat" in result["msg"]


# ---------------------------------------------------------------- the no-change path

NO_CHANGE = "service_proxy.ipv4.nat.no-change.json"


def rerun_hits(node, monkeypatch):
    """A re-run that takes the no-change path: nothing normalised, planned or parsed, one iptables-save."""
    node.run()
    node.table = LOADED_NAT  # what the restore made of the table, as planned
    with monkeypatch.context() as patch:
        for name in ("normalize_chains", "normalize_builtin_rules"):
            patch.setattr(iptables_owner, name, lambda *args: pytest.fail("arguments normalised again"))
        patch.setattr(iptables_owner, "parse_save", lambda *args: pytest.fail("table parsed"))
        patch.setattr(iptables_owner, "plan", lambda *args, **kwargs: pytest.fail("planned"))
        result = node.run()
    assert node.commands() == ["iptables --version", "iptables-nft-restore --version", "iptables-nft-save"]
    assert node.calls[2] == ("iptables-nft-save", "-t", "nat")
    return result


def test_rerun_takes_the_no_change_path(node, monkeypatch):
    result = rerun_hits(node, monkeypatch)
    assert result["changed"] is False and result["digest_hit"] is True and result["applied"] == ""
    assert (result["chains"], result["created"], result["deleted"]) == (["EDEN-SVC-HTTP", "EVE-HTTP"], [], [])
    assert (result["backend"], result["table"]) == ("nft", "nat")
    entry = json.loads((node.state_dir / NO_CHANGE).read_text())
    assert entry["watched"] == {"nat": ["EDEN-SVC-HTTP", "EVE-HTTP", "OUTPUT"]}


def test_the_first_rerun_hits_when_the_apply_went_as_planned(node):
    node.run()
    node.table = LOADED_NAT  # what the restore made of the table
    assert node.run()["digest_hit"] is True


@pytest.mark.parametrize("drift", [
    # a rule edited by hand
    ("-A EVE-HTTP -p tcp -m tcp -j DNAT --to-destination 10.0.0.21:8080", "-A EVE-HTTP -p tcp -m tcp -j DNAT --to-destination 10.0.0.99:8080"),
    # a chain flushed
    ("-A EDEN-SVC-HTTP -m statistic --mode random --probability 0.50000000000 -j EVE-HTTP\n", ""),
    # a chain deleted with its rules, and the jump to it
    (":EVE-HTTP - [0:0]\n", ""),
    # a foreign rule put above our first rule
    ("-A OUTPUT -j EDEN-SVC-HTTP\n", "-A OUTPUT -d 192.0.2.9/32 -j RETURN\n-A OUTPUT -j EDEN-SVC-HTTP\n"),
])
def test_drift_misses_the_no_change_path_and_is_repaired(node, monkeypatch, drift):
    rerun_hits(node, monkeypatch)
    node.table = LOADED_NAT.replace(*drift)
    if drift[0] == ":EVE-HTTP - [0:0]\n":
        node.table = node.table.replace("-A EVE-HTTP -p tcp -m tcp -j DNAT --to-destination 10.0.0.21:8080\n", "")
    result = node.run()
    assert result["digest_hit"] is False and result["changed"] is True and node.applied


def test_rerun_after_drift_was_repaired_hits_again(node, monkeypatch):
    rerun_hits(node, monkeypatch)
    node.table = LOADED_NAT.replace("10.0.0.21:8080", "10.0.0.99:8080")
    assert node.run()["changed"] is True
    node.table = LOADED_NAT
    assert node.run()["digest_hit"] is True


def test_foreign_chains_do_not_count(node, monkeypatch):
    rerun_hits(node, monkeypatch)
    node.table = LOADED_NAT.replace(":EVE-HTTP - [0:0]\n", ":EVE-HTTP - [0:0]\n:DOCKER - [0:0]\n") + ""
    node.table = node.table.replace("COMMIT", "-A DOCKER -j RETURN\n-A POSTROUTING -j MASQUERADE\nCOMMIT")
    assert node.run()["digest_hit"] is True


def test_another_owner_claiming_a_chain_misses_and_fails(node, monkeypatch):
    rerun_hits(node, monkeypatch)
    (node.state_dir / "pod_network.ipv4.nat.json").write_text(json.dumps({
        "version": 1, "owner": "pod_network", "table": "nat", "ip_version": "ipv4", "backend": "nft",
        "input_digest": None, "chains": {"EVE-HTTP": {"created": True, "rules": []}}, "builtin_rules": []}))
    result = node.run()
    assert result["failed"] is True and "owned by owner pod_network" in result["msg"]


def test_an_edited_record_misses(node, monkeypatch):
    rerun_hits(node, monkeypatch)
    path = node.state_dir / "service_proxy.ipv4.nat.json"
    record = json.loads(path.read_text())
    del record["chains"]["EVE-HTTP"]
    path.write_text(json.dumps(record))
    result = node.run()
    assert result["failed"] is True and "chain EVE-HTTP already exists" in result["msg"]


@pytest.mark.parametrize("args", [
    dict(builtin_rules=[{"chain": "OUTPUT", "rule": "-j EDEN-SVC-HTTP", "position": "last"}]),
    dict(adopt=["EVE-HTTP"]),
])
def test_other_arguments_miss(node, monkeypatch, args):
    rerun_hits(node, monkeypatch)
    assert node.run(**args)["digest_hit"] is False


def test_another_owner_misses_and_meets_the_clash(node, monkeypatch):
    rerun_hits(node, monkeypatch)
    result = node.run(owner="other")
    assert result["failed"] is True and "chain EDEN-SVC-HTTP is owned by owner service_proxy" in result["msg"]


def test_another_iptables_version_misses(node, monkeypatch):
    rerun_hits(node, monkeypatch)
    node.backend = "nf_tables) (v1.8.10"
    assert node.run()["digest_hit"] is False
    assert "unshare" in node.commands()


def test_new_planning_code_misses(node, monkeypatch):
    rerun_hits(node, monkeypatch)
    monkeypatch.setattr(iptables_owner, "code_digest", lambda: "new code")
    assert node.run()["digest_hit"] is False


def test_a_broken_entry_means_the_full_path(node, monkeypatch):
    rerun_hits(node, monkeypatch)
    (node.state_dir / NO_CHANGE).write_text("{not json")
    result = node.run()
    assert result["changed"] is False and result["digest_hit"] is False
    assert json.loads((node.state_dir / NO_CHANGE).read_text())["input"]


def test_bad_arguments_still_fail_before_any_command_after_a_sync(node, monkeypatch):
    rerun_hits(node, monkeypatch)
    result = node.run(chains=[{"name": "X", "rules": ["-j ACCEPT\n-F"]}])
    assert result["failed"] is True and "one line" in result["msg"] and node.calls == []


def test_check_and_diff_mode_and_absent(node, monkeypatch):
    node.run(check=True)
    assert not (node.state_dir / NO_CHANGE).exists()
    rerun_hits(node, monkeypatch)
    result = node.run(diff=True)  # diff mode shows the owner's chains: the full path
    assert result["digest_hit"] is False and result["changed"] is False and "diff" in result
    assert node.run(check=True)["digest_hit"] is True
    node.run(state="absent")
    assert not (node.state_dir / NO_CHANGE).exists() and not node.state_dir.exists()


# The tables form: PARAMS' one table as an item of tables.
ONE_TABLE = ("table", "chains", "builtin_rules")
AS_TABLES = [{"table": "nat", "chains": PARAMS["chains"], "builtin_rules": PARAMS["builtin_rules"]}]


def test_tables_form_returns_per_table_and_reruns_on_its_own_entry(node):
    result = node.run(drop=ONE_TABLE, tables=AS_TABLES)
    # one save of every table, one scratch load, one restore - as the single-table form does for one table
    assert node.commands() == ["iptables --version", "iptables-nft-restore --version", "iptables-nft-save",
                               "unshare", "iptables-nft-restore"]
    assert node.calls[2] == ("iptables-nft-save", "-t", "nat") and node.applied == APPLIED
    assert "table" not in result and "chains" not in result
    assert result["tables"] == {"nat": {"chains": ["EDEN-SVC-HTTP", "EVE-HTTP"], "created": ["EDEN-SVC-HTTP", "EVE-HTTP"],
                                        "deleted": []}}
    assert sorted(os.listdir(node.state_dir)) == ["service_proxy.ipv4.nat.json", "service_proxy.ipv4.nat.json.prev",
                                                  "service_proxy.ipv4.nat.no-change.json"]
    node.table = LOADED_NAT
    again = node.run(drop=ONE_TABLE, tables=AS_TABLES)
    assert (again["changed"], again["digest_hit"]) == (False, True)
    assert again["tables"] == {"nat": {"chains": ["EDEN-SVC-HTTP", "EVE-HTTP"], "created": [], "deleted": []}}
    # the same record as the single-table form's: switching forms is no clash and nothing to change
    single = node.run()
    assert (single["changed"], single["chains"]) == (False, ["EDEN-SVC-HTTP", "EVE-HTTP"])


@pytest.mark.parametrize("args, drop, message", [
    ({"tables": AS_TABLES}, ("chains", "builtin_rules"), "mutually exclusive: table|tables"),
    ({"tables": AS_TABLES}, ("table", "builtin_rules"), "mutually exclusive: chains|tables"),
    ({"tables": AS_TABLES * 2}, ONE_TABLE, "tables: table nat is listed twice"),
    ({"tables": []}, ONE_TABLE, "tables must list at least one table"),
    ({"tables": [{"table": "nat", "chains": [{"name": "PREROUTING"}]}]}, ONE_TABLE, "PREROUTING is a built-in chain of table nat"),
])
def test_tables_form_refuses_bad_input_before_any_command(node, args, drop, message):
    result = node.run(drop=drop, **args)
    assert result["failed"] is True and message in result["msg"] and node.calls == []


def test_absent_with_tables_removes_the_entries_of_either_form(node):
    node.run()
    (node.state_dir / "service_proxy.ipv4.filter+nat.no-change.json").write_text("{}")
    (node.state_dir / "other.ipv4.nat.no-change.json").write_text("{}")
    node.table = LOADED_NAT
    result = node.run(drop=ONE_TABLE, tables=[{"table": "nat"}], state="absent")
    assert result["changed"] is True and result["tables"]["nat"]["deleted"] == ["EDEN-SVC-HTTP", "EVE-HTTP"]
    # another owner's entry stays; this owner's single-table and two-table entries are gone
    assert sorted(os.listdir(node.state_dir)) == ["other.ipv4.nat.no-change.json"]
