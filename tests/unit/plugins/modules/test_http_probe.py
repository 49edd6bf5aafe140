# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The http_probe module: URL parsing, the probe command, mapping answers to endpoints, the result."""

from __future__ import annotations

import json
import sys

import pytest

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.k8slab.kube_proxy.plugins.modules import http_probe

ADAM = "hello world from netns_adam namespace"
EVE = "hello world from netns_eve namespace"
ENDPOINTS = {"adam": "netns_adam", "eve": "netns_eve"}


@pytest.mark.parametrize("url, parts", [
    ("http://10.96.0.1:8080/", ("10.96.0.1", 8080, "/")),
    ("http://10.96.0.1:8080", ("10.96.0.1", 8080, "/")),
    ("http://10.96.0.2", ("10.96.0.2", 80, "/")),
    ("http://10.0.0.11:8080/healthz?x=1", ("10.0.0.11", 8080, "/healthz?x=1")),
    ("udp://10.96.0.10:53", ("10.96.0.10", 53, "/")),
])
def test_parse_url(url, parts):
    assert http_probe.parse_url(url) == parts


@pytest.mark.parametrize("url, message", [
    ("https://10.96.0.1/", "only http"),
    ("10.96.0.1:8080", "only http"),
    ("http:///x", "no host"),
    ("udp://10.96.0.10", "needs a port"),
    ("http://10.96.0.1:99999/", "invalid port"),
])
def test_parse_url_refuses(url, message):
    with pytest.raises(ValueError, match=message):
        http_probe.parse_url(url)


def test_probe_argv_on_the_host_and_in_a_namespace():
    assert http_probe.probe_argv("/usr/bin/python3", None, None) == ["/usr/bin/python3", "-c", http_probe.PROBE_CODE]
    assert http_probe.probe_argv("/usr/bin/python3", "/sbin/ip", "netns_adam") == [
        "/sbin/ip", "netns", "exec", "netns_adam", "/usr/bin/python3", "-c", http_probe.PROBE_CODE]


def test_probe_code_compiles():
    compile(http_probe.PROBE_CODE, "<probe>", "exec")


def test_assign_matches_whole_words_only():
    responses = {ADAM: 3, EVE: 4, "hello world from netns_adam2 namespace": 5, "hello world from root namespace": 1}
    hits, unmatched = http_probe.assign(responses, ENDPOINTS)
    assert hits == {"adam": 3, "eve": 4}
    assert unmatched == {"hello world from netns_adam2 namespace": 5, "hello world from root namespace": 1}


def test_assign_ambiguous_answers_are_unmatched():
    hits, unmatched = http_probe.assign({"netns_adam and netns_eve": 2}, ENDPOINTS)
    assert hits == {"adam": 0, "eve": 0} and unmatched == {"netns_adam and netns_eve": 2}


def test_summarise_without_endpoints_only_counts():
    result = http_probe.summarise({"responses": {ADAM: 2}, "failures": {"connection refused": 1}, "elapsed": 0.1}, 3)
    assert result == {"changed": False, "requests": 3, "succeeded": 2, "failed_requests": 1,
                      "responses": {ADAM: 2}, "failures": {"connection refused": 1}, "elapsed": 0.1}


def test_summarise_with_endpoints_judges_the_spread():
    result = http_probe.summarise({"responses": {ADAM: 96, EVE: 104}, "failures": {}}, 200, ENDPOINTS)
    assert result["hits"] == {"adam": 96, "eve": 104}
    assert result["problems"] == [] and result["df"] == 1
    assert result["p_value"] == pytest.approx(0.5716, abs=1e-4)
    assert result["table"][0] == "endpoint   hits   share  expected"
    assert result["table"][1].startswith("adam         96   48.0%     50.0%")


def test_summarise_reports_problems():
    result = http_probe.summarise({"responses": {EVE: 150, "hello world from netns_cain namespace": 2},
                                   "failures": {"timeout after 2s": 48}}, 200, ENDPOINTS)
    assert result["failed_requests"] == 48
    assert result["unmatched"] == {"hello world from netns_cain namespace": 2}
    assert [p.split(":")[0] for p in result["problems"]] == [
        "48 request(s) failed", "2 response(s) came from no expected endpoint", "endpoint(s) never hit",
        "the split is unlikely under the expected shares"]


def test_summarise_with_uneven_shares():
    result = http_probe.summarise({"responses": {ADAM: 100, EVE: 200}}, 300, ENDPOINTS, {"adam": 1, "eve": 2})
    assert result["chi_square"] == pytest.approx(0.0) and result["problems"] == []


# the module end to end, with the child process faked ---------------------------------

class FakeRun:
    def __init__(self, monkeypatch, capsys, rc=0, out=None, err="", namespaces=("netns_adam", "netns_x")):
        self.capsys = capsys
        self.calls = []  # the probes, not the namespace list read before them
        fake = self
        out = out if out is not None else json.dumps({"responses": {ADAM: 5, EVE: 5}, "failures": {}, "elapsed": 0.01})

        def run_command(module, argv, data=None, binary_data=False, **kwargs):
            if argv[1:] == ["-json", "netns", "list"]:
                return 0, json.dumps([{"name": name} for name in namespaces]), ""
            fake.calls.append((argv, json.loads(data)))
            return rc, out, err

        monkeypatch.setattr(AnsibleModule, "get_bin_path", lambda module, name, required=False: "/sbin/" + name)
        monkeypatch.setattr(AnsibleModule, "run_command", run_command)

    def run(self, args, check=False):
        with patch_module_args(dict(args, _ansible_check_mode=check)):
            with pytest.raises(SystemExit):
                http_probe.main()
        return json.loads(self.capsys.readouterr().out)


def test_module_probes_from_a_namespace(monkeypatch, capsys):
    fake = FakeRun(monkeypatch, capsys)
    result = fake.run({"url": "http://10.96.0.1:8080/", "count": 10, "netns": "netns_adam", "endpoints": ENDPOINTS})
    assert result["changed"] is False and result["hits"] == {"adam": 5, "eve": 5} and result["problems"] == []
    argv, request = fake.calls[0]
    assert argv == ["/sbin/ip", "netns", "exec", "netns_adam", sys.executable, "-c", http_probe.PROBE_CODE]
    assert request == {"host": "10.96.0.1", "port": 8080, "path": "/", "count": 10, "timeout": 2.0, "deadline": 300.0,
                       "udp": False}


def test_module_runs_in_check_mode_on_the_host(monkeypatch, capsys):
    fake = FakeRun(monkeypatch, capsys)
    result = fake.run({"url": "http://10.96.0.1:8080/", "count": 10}, check=True)
    assert result["succeeded"] == 10 and "hits" not in result
    assert fake.calls[0][0] == [sys.executable, "-c", http_probe.PROBE_CODE]


@pytest.mark.parametrize("args, message", [
    ({"url": "ftp://x/"}, "only http"),
    ({"url": "http://10.96.0.1/", "count": 0}, "count must be between 1 and 10000"),
    ({"url": "http://10.96.0.1/", "count": 10001}, "count must be between"),
    ({"url": "http://10.96.0.1/", "timeout": 0}, "timeout"),
    ({"url": "http://10.96.0.1/", "deadline": -1}, "deadline"),
    ({"url": "http://10.96.0.1/", "netns": "../etc"}, "not a valid namespace name"),
    ({"url": "http://10.96.0.1/", "endpoints": ENDPOINTS, "shares": {"cain": 1}}, "not in endpoints: cain"),
    ({"url": "http://10.96.0.1/", "endpoints": ENDPOINTS, "shares": {"adam": 0}}, "positive number"),
    ({"url": "http://10.96.0.1/", "min_p_value": 1.5}, "min_p_value"),
])
def test_module_validates_before_probing(monkeypatch, capsys, args, message):
    fake = FakeRun(monkeypatch, capsys)
    result = fake.run(args)
    assert result["failed"] is True and message in result["msg"]
    assert fake.calls == []


def test_module_reports_a_probe_that_cannot_start(monkeypatch, capsys):
    fake = FakeRun(monkeypatch, capsys, rc=1, out="", err='Cannot open network namespace "netns_x": No such file or directory')
    result = fake.run({"url": "http://10.96.0.1:8080/", "netns": "netns_x"})
    assert result["failed"] is True
    assert result["msg"].startswith("could not probe http://10.96.0.1:8080/ inside netns netns_x: Cannot open network namespace")


def test_module_refuses_a_missing_namespace_before_probing(monkeypatch, capsys):
    # `ip netns exec` into it would exit before reading the request: a broken pipe, "Error executing command."
    fake = FakeRun(monkeypatch, capsys, namespaces=["netns_adam"])
    result = fake.run({"url": "http://10.96.0.1:8080/", "netns": "netns_nope"})
    assert result["failed"] is True and fake.calls == []
    assert result["msg"] == ("could not probe http://10.96.0.1:8080/ inside netns netns_nope: no such network namespace "
                             "(ip netns list: netns_adam)")


def test_module_reports_garbage_from_the_probe(monkeypatch, capsys):
    result = FakeRun(monkeypatch, capsys, out="not json").run({"url": "http://10.96.0.1:8080/"})
    assert result["failed"] is True and "printed no result" in result["msg"]
