# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pod_network role's check before any change: an empty pod list is refused (teardown needs none)."""

from __future__ import annotations

CHECK = """\
- ansible.builtin.include_role:
    name: k8slab.kube_proxy.pod_network
    tasks_from: validate.yml
  vars:
    k8slab_pods: []
    pod_network_state: {state}
"""


def test_an_empty_pod_list_is_refused_up_front_pointing_at_teardown(sandbox):
    results = sandbox.playbook(CHECK.format(state="present"), expect_failure=True)
    failed = [result for result in results if result["_status"] == "failed"]
    assert len(failed) == 1, results
    assert "pod list (k8slab_pods, or pod_network_pods) is empty" in failed[0]["msg"], failed[0]
    assert "teardown.yml" in failed[0]["msg"], failed[0]


def test_removal_needs_no_pod_list(sandbox):
    results = sandbox.playbook(CHECK.format(state="absent"))
    assert not [result for result in results if result["_status"] == "failed"], results
