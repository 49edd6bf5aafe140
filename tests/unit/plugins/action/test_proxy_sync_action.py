# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The action plugin of proxy_sync with model_file: where the file is found, what is sent when, which digest,
and the errors (a key in the file and the task, a bad file) before the module runs. No module runs here: the
plugin's calls of the module are recorded and answered."""

from __future__ import annotations

import hashlib
import json

import pytest

from ansible.errors import AnsibleActionFail
from ansible.parsing.dataloader import DataLoader

from ansible_collections.k8slab.kube_proxy.plugins.action import proxy_sync as action
from ansible_collections.k8slab.kube_proxy.tests.unit.plugins.action.fake_task import Task
from ansible_collections.k8slab.kube_proxy.plugins.module_utils import proxier

SERVICES = [{"metadata": {"name": "app-service"},
             "spec": {"clusterIP": "10.96.0.1", "selector": {"component": "app"}, "ports": [{"port": 8080}]}}]
SLICES = [{"kind": "EndpointSlice", "metadata": {"name": "app-service-1", "labels": {
    "kubernetes.io/service-name": "app-service"}}, "endpoints": [{"addresses": ["10.0.0.11"]}]}]
PODS = [{"name": "adam", "address": "10.0.0.11", "netns": "netns_adam", "labels": {"component": "app"}}]
MODULE = "k8slab.kube_proxy.proxy_sync"


class Shell:
    tmpdir = "/nonexistent"  # never made: the plugin transfers no file


class Connection:
    _shell = Shell()


class Controller:
    """A play in tmp_path (tmp_path/play) that calls proxy_sync; the module's answers are queued."""

    def __init__(self, tmp_path):
        self.play = tmp_path / "play"
        (self.play / "files").mkdir(parents=True)
        self.calls = []
        self.answers = []

    def write(self, name, content):
        path = self.play / "files" / name
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        return path

    def run(self, answers=({"model_needed": True}, {"changed": True}), **args):
        self.calls, self.answers = [], list(answers)
        loader = DataLoader()
        loader.set_basedir(str(self.play))
        plugin = action.ActionModule(Task(args, [str(self.play)], MODULE), Connection(), None, loader, None)
        plugin._execute_module = self.execute_module
        return plugin.run(task_vars={})

    def execute_module(self, module_name=None, module_args=None, task_vars=None):
        assert module_name == MODULE
        self.calls.append(dict(module_args))
        return dict(self.answers.pop(0))


def unpacked(call):
    """A call's arguments with model_json read back into the model keys (what the module does first)."""
    call = dict(call)
    call.update(json.loads(call.pop("model_json", "{}")))
    return call


@pytest.fixture
def controller(tmp_path):
    return Controller(tmp_path)


def file_digest(data, **args):
    """The digest the plugin must send: the task's other options and the sha256 of the file's bytes."""
    return proxier.model_digest(dict(args, model_file_sha256=hashlib.sha256(data.encode()).hexdigest()),
                                action.code_digest())


def test_a_relative_model_file_is_found_in_files_and_sent_only_when_the_node_needs_it(controller):
    content = json.dumps({"services": SERVICES, "endpoint_slices": SLICES, "pods": PODS})
    controller.write("model.json", content)
    result = controller.run(model_file="model.json", layout="kube-proxy", cluster_cidr="10.0.0.0/24")
    probe, full = controller.calls
    digest = file_digest(content, layout="kube-proxy", cluster_cidr="10.0.0.0/24")
    assert probe == {"layout": "kube-proxy", "cluster_cidr": "10.0.0.0/24", "model_digest": digest}
    assert set(full) == set(probe) | {"model_json"}  # the model as one JSON text
    assert unpacked(full) == dict(probe, services=SERVICES, endpoint_slices=SLICES, pods=PODS)
    assert result["changed"] is True


def test_no_change_sends_only_the_digest(controller):
    controller.write("model.json", {"services": SERVICES, "pods": PODS})
    result = controller.run(answers=[{"changed": False, "digest_hit": True}], model_file="model.json")
    [probe] = controller.calls
    assert set(probe) == {"model_digest"} and result["digest_hit"] is True


def test_an_absolute_yaml_model_file_is_read_as_plain_data(controller, tmp_path):
    # Not templated: "{{ }}" in the file stays as it is, as it would in the JSON.
    services = [dict(SERVICES[0], metadata={"name": "app-service", "annotations": {"note": "{{ not_a_var }}"}})]
    content = "services:\n" + "".join("  - %s\n" % json.dumps(service) for service in services)
    path = tmp_path / "elsewhere.yaml"
    path.write_text(content)
    controller.run(model_file=str(path), pods=PODS)
    probe, full = controller.calls
    assert probe["model_digest"] == file_digest(content, pods=PODS)
    full = unpacked(full)
    assert full["services"] == services and full["pods"] == PODS and "model_file" not in full


def test_the_digest_follows_the_file_and_the_inline_keys(controller):
    controller.write("model.json", {"services": SERVICES})
    controller.run(model_file="model.json", pods=PODS)
    first = controller.calls[0]["model_digest"]
    controller.run(model_file="model.json", pods=PODS)
    assert controller.calls[0]["model_digest"] == first
    controller.run(model_file="model.json", pods=PODS + [dict(PODS[0], name="eve")])
    assert controller.calls[0]["model_digest"] != first
    controller.write("model.json", {"services": SERVICES + SERVICES})
    controller.run(model_file="model.json", pods=PODS)
    assert controller.calls[0]["model_digest"] != first


@pytest.mark.parametrize("inline", [dict(services=SERVICES), dict(pods=PODS), dict(services=[], pods=PODS)])
def test_a_key_in_the_file_and_in_the_task_fails_before_the_module_runs(controller, inline):
    controller.write("model.json", {"services": SERVICES, "pods": PODS})
    with pytest.raises(AnsibleActionFail, match="model_file and .* are mutually exclusive") as failure:
        controller.run(model_file="model.json", **inline)
    for key in inline:
        assert key in str(failure.value)
    assert controller.calls == []


@pytest.mark.parametrize("name, content, message", [
    ("missing.json", None, "model_file missing.json not found"),
    ("model.json", "{not json", "is not valid JSON"),
    ("model.yml", "services: [a\n", "is not valid YAML"),
    ("model.json", [], "must hold a mapping"),
    ("model.json", {"services": SERVICES, "layout": "kube-proxy"}, "holds layout; only services"),
    ("model.json", {"services": {"a": 1}}, "services must be a list"),
])
def test_a_bad_model_file_fails_before_the_module_runs(controller, name, content, message):
    if content is not None:
        controller.write(name, content)
    with pytest.raises(AnsibleActionFail, match=message):
        controller.run(model_file=name)
    assert controller.calls == []


def test_absent_neither_reads_nor_sends_model_file(controller):
    controller.run(answers=[{"changed": False}], model_file="missing.json", state="absent")
    assert controller.calls == [{"state": "absent"}]


def test_inline_model_is_unchanged(controller):
    controller.run(services=SERVICES, pods=PODS)
    probe, full = controller.calls
    assert probe == {"model_digest": proxier.model_digest(dict(services=SERVICES, pods=PODS), action.code_digest())}
    assert unpacked(full) == dict(probe, services=SERVICES, pods=PODS)


def test_a_model_that_is_not_plain_json_travels_as_lists(controller):
    services = [dict(SERVICES[0], extra={1, 2})]  # a set: Ansible's own encoding may take it, plain JSON not
    controller.run(services=services, pods=PODS)
    probe, full = controller.calls
    assert "model_json" not in full and full["services"] == services


def test_model_json_from_the_task_fails_before_the_module_runs(controller):
    with pytest.raises(AnsibleActionFail, match="model_json is set by the action plugin"):
        controller.run(model_json="{}")
    assert controller.calls == []
