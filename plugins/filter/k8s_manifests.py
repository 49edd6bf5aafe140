# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sort Kubernetes manifests into Services and EndpointSlices."""

from __future__ import annotations

DOCUMENTATION = r"""
name: k8s_manifests
short_description: Sort Kubernetes manifests into Services and EndpointSlices
version_added: 0.1.0
description:
  - Takes a list of manifests, as loaded from YAML files or written in the inventory, and returns the Services and
    the EndpointSlices among them. C(kind=List) objects (what C(kubectl get svc,endpointslices -o yaml) prints)
    are opened, empty documents are skipped, and a manifest without C(kind) counts as a Service.
  - Any other kind is an error naming it.
options:
  _input:
    description: The manifests.
    type: list
    elements: raw
    required: true
"""

EXAMPLES = r"""
- name: Replay an export of a real cluster
  ansible.builtin.set_fact:
    manifests: "{{ lookup('ansible.builtin.file', 'export.yaml') | ansible.builtin.from_yaml_all | list | k8slab.kube_proxy.k8s_manifests }}"
"""

RETURN = r"""
_value:
  description: The manifests by kind, each list in the order found.
  type: dict
  contains:
    services:
      description: The Service manifests.
      type: list
      elements: dict
    endpoint_slices:
      description: The EndpointSlice manifests.
      type: list
      elements: dict
"""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.k8slab.kube_proxy.plugins.module_utils.service_model import split_manifests


def k8s_manifests_filter(manifests):
    try:
        services, endpoint_slices = split_manifests(manifests)
    except ValueError as exc:
        raise AnsibleFilterError(to_text(exc))
    return {"services": services, "endpoint_slices": endpoint_slices}


class FilterModule(object):
    def filters(self):
        return {"k8s_manifests": k8s_manifests_filter}
