# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The netns module: pure helpers, and the module end to end with a fake `ip` and a temp /etc/netns."""

from __future__ import annotations

import os
import signal

import pytest

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import iproute
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.iproute import ValidationError
from ansible_collections.k8slab.kube_proxy.plugins.module_utils import netlink_objects
from ansible_collections.k8slab.kube_proxy.plugins.modules import netns
from ansible_collections.k8slab.kube_proxy.tests.unit.plugins.modules.fake_ip import FakeIp, Then, ip

LO_DOWN = {"ifindex": 1, "ifname": "lo", "flags": ["LOOPBACK"], "addr_info": []}
LO_UP = {"ifindex": 1, "ifname": "lo", "flags": ["LOOPBACK", "UP", "LOWER_UP"], "addr_info": []}


def params(**kwargs):
    result = {"name": "netns_adam", "state": "present", "nameservers": None, "force": False}
    result.update(kwargs)
    return result


# pure helpers ---------------------------------------------------------------------

def test_resolv_conf_round_trip():
    text = netlink_objects.resolv_conf_text(["8.8.8.8", "2001:4860:4860::8888"])
    assert text == "nameserver 8.8.8.8\nnameserver 2001:4860:4860::8888\n"
    assert netlink_objects.parse_resolv_conf(text + "search lab\n# nameserver 1.1.1.1\n") == ["8.8.8.8", "2001:4860:4860::8888"]
    assert netlink_objects.resolv_conf_text([]) == ""


def test_plan_present():
    assert netlink_objects.plan_netns_present("netns_adam", False, None) == [
        (None, ["netns", "add", "netns_adam"]), ("netns_adam", ["link", "set", "dev", "lo", "up"])]
    assert netlink_objects.plan_netns_present("netns_adam", True, LO_DOWN) == [("netns_adam", ["link", "set", "dev", "lo", "up"])]
    assert netlink_objects.plan_netns_present("netns_adam", True, LO_UP) == []


def test_plan_absent():
    assert netlink_objects.plan_netns_absent("netns_adam", True) == [(None, ["netns", "delete", "netns_adam"])]
    assert netlink_objects.plan_netns_absent("netns_adam", False) == []


def test_parse_pids():
    assert netlink_objects.parse_pids("12\n345\n") == [12, 345]
    assert netlink_objects.parse_pids("") == []


def test_validate_normalizes_nameservers():
    assert netns.validate(params(nameservers=["8.8.8.8", "2001:4860:4860:0::8888"])) == ["8.8.8.8", "2001:4860:4860::8888"]
    assert netns.validate(params()) is None


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "a/b"}, "not a legal namespace name"),
    ({"name": ".."}, "not a legal namespace name"),
    ({"name": ""}, "non-empty"),
    ({"nameservers": ["dns.google"]}, "nameserver 'dns.google' is not a valid"),
    ({"nameservers": ["8.8.8.8/32"]}, "not a valid"),
])
def test_bad_input(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        netns.validate(params(**kwargs))


# the module end to end against a fake `ip` ------------------------------------------

LIST = ("-json", "netns", "list")
LO_READ = ("-n", "netns_adam", "-json", "-details", "address", "show")
PIDS = ("netns", "pids", "netns_adam")


@pytest.fixture
def etc(tmp_path, monkeypatch):
    monkeypatch.setattr(iproute, "ETC_NETNS", str(tmp_path))
    return tmp_path


def test_module_creates_namespace_with_dns(monkeypatch, capsys, etc):
    fake = FakeIp(monkeypatch, capsys, {LIST: Then([[{"name": "netns_adam0"}], [{"name": "netns_adam"}]]),
                                        LO_READ: [LO_UP]})
    result = fake.run(netns.main, params(nameservers=["8.8.8.8"]), diff=True)
    assert result["changed"] is True
    assert fake.changes == [["netns", "add", "netns_adam"], ["-n", "netns_adam", "link", "set", "dev", "lo", "up"]]
    resolv = etc / "netns_adam" / "resolv.conf"
    assert resolv.read_text() == "nameserver 8.8.8.8\n"
    assert resolv.stat().st_mode & 0o777 == 0o644
    assert result["netns"] == {"name": "netns_adam", "exists": True, "lo_up": True, "nameservers": ["8.8.8.8"],
                               "resolv_conf": str(resolv)}
    assert result["diff"]["before"] == {"name": "netns_adam", "exists": False, "lo_up": False, "nameservers": None}


def test_module_idempotent(monkeypatch, capsys, etc):
    (etc / "netns_adam").mkdir()
    (etc / "netns_adam" / "resolv.conf").write_text("nameserver 8.8.8.8\n")
    os.chmod(etc / "netns_adam" / "resolv.conf", 0o644)
    fake = FakeIp(monkeypatch, capsys, {LIST: [{"name": "netns_adam", "id": 0}], LO_READ: [LO_UP]})
    result = fake.run(netns.main, params(nameservers=["8.8.8.8"]))
    assert (result["changed"], result["commands"], fake.changes) == (False, [], [])


def test_module_repairs_lo_and_resolv_conf_mode_and_content(monkeypatch, capsys, etc):
    (etc / "netns_adam").mkdir()
    (etc / "netns_adam" / "resolv.conf").write_text("nameserver 8.8.8.8\nnameserver 8.8.8.8\n")
    os.chmod(etc / "netns_adam" / "resolv.conf", 0o600)
    fake = FakeIp(monkeypatch, capsys, {LIST: [{"name": "netns_adam"}], LO_READ: Then([[LO_DOWN], [LO_UP]])})
    result = fake.run(netns.main, params(nameservers=["8.8.8.8"]))
    assert result["changed"] is True
    assert fake.changes == [["-n", "netns_adam", "link", "set", "dev", "lo", "up"]]
    assert (etc / "netns_adam" / "resolv.conf").read_text() == "nameserver 8.8.8.8\n"
    assert (etc / "netns_adam" / "resolv.conf").stat().st_mode & 0o777 == 0o644


def test_module_wrong_mode_alone_is_a_change(monkeypatch, capsys, etc):
    (etc / "netns_adam").mkdir()
    (etc / "netns_adam" / "resolv.conf").write_text("nameserver 8.8.8.8\n")
    os.chmod(etc / "netns_adam" / "resolv.conf", 0o666)
    fake = FakeIp(monkeypatch, capsys, {LIST: [{"name": "netns_adam"}], LO_READ: [LO_UP]})
    assert fake.run(netns.main, params(nameservers=["8.8.8.8"]))["changed"] is True


def test_module_check_mode_changes_nothing(monkeypatch, capsys, etc):
    fake = FakeIp(monkeypatch, capsys, {LIST: []})
    result = fake.run(netns.main, params(nameservers=["8.8.8.8"]), check=True, diff=True)
    assert result["changed"] is True
    assert result["commands"] == [ip("netns", "add", "netns_adam"), ip("-n", "netns_adam", "link", "set", "dev", "lo", "up")]
    assert fake.changes == [] and list(etc.iterdir()) == []
    assert result["diff"]["after"]["nameservers"] == ["8.8.8.8"]


def test_module_substring_names_do_not_match(monkeypatch, capsys, etc):
    fake = FakeIp(monkeypatch, capsys, {LIST: [{"name": "netns_adam0"}, {"name": "xnetns_adam"}]})
    result = fake.run(netns.main, params(state="absent"))
    assert (result["changed"], fake.changes) == (False, [])


def test_module_absent_refuses_running_processes(monkeypatch, capsys, etc):
    fake = FakeIp(monkeypatch, capsys, {LIST: [{"name": "netns_adam"}], LO_READ: [LO_UP], PIDS: "4242\n"})
    result = fake.run(netns.main, params(state="absent"))
    assert result["failed"] is True and "still has processes [4242]" in result["msg"] and "force=true" in result["msg"]
    assert fake.changes == []


def test_module_absent_force_kills_then_deletes(monkeypatch, capsys, etc):
    (etc / "netns_adam").mkdir()
    (etc / "netns_adam" / "resolv.conf").write_text("nameserver 8.8.8.8\n")
    signals = []
    monkeypatch.setattr(netlink_objects.os, "kill", lambda pid, sig: signals.append((pid, sig)))
    fake = FakeIp(monkeypatch, capsys, {LIST: Then([[{"name": "netns_adam"}], []]), LO_READ: [LO_UP],
                                        PIDS: Then(["4242\n", "4242\n", ""])})
    result = fake.run(netns.main, params(state="absent", force=True))
    assert result["changed"] is True and result["killed_pids"] == [4242]
    assert signals == [(4242, signal.SIGTERM)]
    assert fake.changes == [["netns", "delete", "netns_adam"]]
    assert not (etc / "netns_adam").exists()


def test_module_absent_removes_leftover_etc_dir(monkeypatch, capsys, etc):
    (etc / "netns_adam").mkdir()
    fake = FakeIp(monkeypatch, capsys, {LIST: []})
    result = fake.run(netns.main, params(state="absent"))
    assert result["changed"] is True and fake.changes == [] and not (etc / "netns_adam").exists()
    assert fake.run(netns.main, params(state="absent"))["changed"] is False


# ownership records (owner=...) ---------------------------------------------------------

def owned_params(state_dir, **kwargs):
    return params(owner="pod_network", state_dir=str(state_dir), **kwargs)


def test_owner_refuses_a_namespace_it_did_not_create(monkeypatch, capsys, etc, tmp_path):
    """A pod declared with netns: upstream (the node's uplink) must not take it over."""
    fake = FakeIp(monkeypatch, capsys, {LIST: [{"name": "netns_adam"}], LO_READ: [LO_UP]})
    result = fake.run(netns.main, owned_params(tmp_path / "records", nameservers=["8.8.8.8"]))
    assert result["failed"] is True
    assert "namespace netns_adam already exists and was not created by owner pod_network" in result["msg"]
    assert fake.changes == [] and not (etc / "netns_adam").exists()


def test_owner_absent_leaves_a_namespace_it_did_not_create(monkeypatch, capsys, etc, tmp_path):
    (etc / "netns_adam").mkdir()
    fake = FakeIp(monkeypatch, capsys, {LIST: [{"name": "netns_adam"}], LO_READ: [LO_UP], PIDS: "4242\n"})
    result = fake.run(netns.main, owned_params(tmp_path / "records", state="absent", force=True))
    assert (result["changed"], result["owned"], fake.changes) == (False, False, [])
    assert (etc / "netns_adam").exists()


def test_owner_records_what_it_creates_and_removes_only_that(monkeypatch, capsys, etc, tmp_path):
    records = tmp_path / "k8slab" / "netns"
    fake = FakeIp(monkeypatch, capsys, {LIST: Then([[], [{"name": "netns_adam"}]]), LO_READ: [LO_UP]})
    result = fake.run(netns.main, owned_params(records))
    assert result["changed"] is True and result["owned"] is True
    assert (records / "pod_network" / "netns_adam").exists()
    # The next run finds it recorded: no complaint, no change.
    fake = FakeIp(monkeypatch, capsys, {LIST: [{"name": "netns_adam"}], LO_READ: [LO_UP]})
    assert fake.run(netns.main, owned_params(records))["changed"] is False
    # Another owner may not take it.
    fake = FakeIp(monkeypatch, capsys, {LIST: [{"name": "netns_adam"}], LO_READ: [LO_UP]})
    other = fake.run(netns.main, params(owner="someone", state_dir=str(records)))
    assert "recorded as created by owner pod_network, not by someone" in other["msg"]
    # Absent removes it and the record, and the empty record folders with it.
    fake = FakeIp(monkeypatch, capsys, {LIST: Then([[{"name": "netns_adam"}], []]), LO_READ: [LO_UP], PIDS: ""})
    result = fake.run(netns.main, owned_params(records, state="absent"))
    assert result["changed"] is True and fake.changes == [["netns", "delete", "netns_adam"]]
    assert not records.exists() and not (tmp_path / "k8slab").exists()


def test_owner_recreates_a_recorded_namespace_after_a_restart(monkeypatch, capsys, etc, tmp_path):
    records = tmp_path / "records"
    (records / "pod_network").mkdir(parents=True)
    (records / "pod_network" / "netns_adam").write_text('{"version": 1, "owner": "pod_network", "netns": "netns_adam"}\n')
    fake = FakeIp(monkeypatch, capsys, {LIST: Then([[], [{"name": "netns_adam"}]]), LO_READ: [LO_UP]})
    result = fake.run(netns.main, owned_params(records))
    assert result["changed"] is True and fake.changes[0] == ["netns", "add", "netns_adam"]


def test_owner_corrupt_record_names_the_file_and_the_fix(monkeypatch, capsys, etc, tmp_path):
    records = tmp_path / "records"
    (records / "pod_network").mkdir(parents=True)
    (records / "pod_network" / "netns_adam").write_text("{not json")
    fake = FakeIp(monkeypatch, capsys, {LIST: [{"name": "netns_adam"}], LO_READ: [LO_UP]})
    result = fake.run(netns.main, owned_params(records))
    assert str(records / "pod_network" / "netns_adam") in result["msg"] and "write the record again" in result["msg"]
    assert fake.changes == []
