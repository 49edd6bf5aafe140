# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The roles' checks before any change: an empty pod list is refused (teardown needs none).

service_proxy's check is the one site.yml runs (it covers the pods and the bridge for every role);
pod_network's is the role's own, for playbooks that use it alone.
"""

from __future__ import annotations

import pytest

CHECK = """\
- ansible.builtin.include_role:
    name: k8slab.kube_proxy.{role}
    tasks_from: validate.yml
  vars:
    k8slab_pods: []
    {role}_state: {state}
"""

ROLES = ["pod_network", "service_proxy"]


@pytest.mark.parametrize("role", ROLES)
def test_an_empty_pod_list_is_refused_up_front_pointing_at_teardown(sandbox, role):
    results = sandbox.playbook(CHECK.format(role=role, state="present"), expect_failure=True)
    failed = [result for result in results if result["_status"] == "failed"]
    assert len(failed) == 1, results
    assert "pod list (k8slab_pods, or %s_pods) is empty" % role in failed[0]["msg"], failed[0]
    assert "teardown.yml" in failed[0]["msg"], failed[0]


@pytest.mark.parametrize("role", ROLES)
def test_removal_needs_no_pod_list(sandbox, role):
    results = sandbox.playbook(CHECK.format(role=role, state="absent"))
    assert not [result for result in results if result["_status"] == "failed"], results
