# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The shape of one converge, read statically from the playbooks (issue 20, item 7).

site.yml and teardown.yml are expanded the way Ansible imports them (import_playbook, import_role
with tasks_from, import_tasks, blocks); the test then counts what the node runs: the model is
checked once, before the first change, and no role checks it again.
"""

from __future__ import annotations

import os

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PREFIX = "k8slab.kube_proxy."


def load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or []


def role_tasks(role, tasks_from="main.yml"):
    return expand(load(os.path.join(ROOT, "roles", role.replace(PREFIX, ""), "tasks", tasks_from)),
                  os.path.join(ROOT, "roles", role.replace(PREFIX, ""), "tasks"))


def expand(tasks, folder):
    """Tasks in the order they run, with static imports inlined (dynamic includes left as they are)."""
    out = []
    for task in tasks or []:
        if "block" in task:
            out.extend(expand(task["block"], folder))
            out.extend(expand(task.get("rescue"), folder))
            out.extend(expand(task.get("always"), folder))
        elif "ansible.builtin.import_tasks" in task:
            out.extend(expand(load(os.path.join(folder, task["ansible.builtin.import_tasks"])), folder))
        elif "ansible.builtin.import_role" in task:
            spec = task["ansible.builtin.import_role"]
            out.extend(role_tasks(spec["name"], spec.get("tasks_from", "main.yml")))
        else:
            out.append(task)
    return out


def node_tasks(playbook):
    plays = load(os.path.join(ROOT, "playbooks", playbook))
    tasks = []
    for play in plays:
        if "ansible.builtin.import_playbook" in play or play.get("hosts") == "localhost":
            continue
        for section in ("pre_tasks", "roles", "tasks", "post_tasks"):
            for item in play.get(section) or []:
                if section == "roles":
                    tasks.extend(role_tasks(item["role"] if isinstance(item, dict) else item))
                else:
                    tasks.extend(expand([item], os.path.join(ROOT, "playbooks")))
    return tasks


def text(task):
    return yaml.safe_dump(task)


@pytest.mark.parametrize("playbook", ["site.yml", "teardown.yml"])
def test_the_model_is_checked_once_before_the_first_change(playbook):
    tasks = node_tasks(playbook)
    assert not [task for task in tasks if any(key.startswith("ansible.builtin.include") for key in task)], \
        "a dynamic include hides what runs; import by entry point instead"
    checks = [index for index, task in enumerate(tasks) if "lab_model(" in text(task)]
    loads = [index for index, task in enumerate(tasks) if "k8s_manifests" in text(task)]
    assert len(checks) == 1, [tasks[index]["name"] for index in checks]
    assert len(loads) == 1, [tasks[index]["name"] for index in loads]
    writers = [index for index, task in enumerate(tasks)
               if any(key.startswith(PREFIX) for key in task) and "k8slab.kube_proxy.node_lock" not in task]
    assert writers and loads[0] < checks[0] < writers[0], [task["name"] for task in tasks]


def test_a_no_change_converge_is_a_handful_of_tasks():
    # What the recap counts on the node (the localhost check of check_hosts.yml adds one): at most 15 in all.
    tasks = node_tasks("site.yml")
    assert len(tasks) <= 14, [task["name"] for task in tasks]
    # kube-proxy's sync drains first and adds last; the CNI's ADD is one pod_sync run in between
    proxier = [index for index, task in enumerate(tasks) if PREFIX + "proxy_sync" in task]
    pod_network = [index for index, task in enumerate(tasks) if PREFIX + "pod_sync" in task]
    assert len(proxier) == 2 and len(pod_network) == 1
    assert proxier[0] < pod_network[0] < proxier[1]
