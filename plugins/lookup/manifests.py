# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read Kubernetes manifests from YAML files; no file named: the tutorial's Service."""

from __future__ import annotations

DOCUMENTATION = r"""
name: manifests
short_description: Read Kubernetes manifests from YAML files, or the tutorial's Service
version_added: 0.2.0
description:
  - Returns every document of the named YAML files, in order, skipping empty documents (a stray C(---)).
  - A relative path is searched for as the P(ansible.builtin.file#lookup) lookup does (the play's and role's
    C(files/) folders, then the playbook's folder), so a play or role that reads a file finds it wherever it
    is called from.
  - With no file named, or only empty names, it returns the tutorial's Service (C(app-service),
    C(10.96.0.1:8080) to the pods labelled C(component=app)), which ships with the collection in the
    C(k8slab_defaults) role's C(files/service.yaml). This is what C(k8slab_services) defaults to, in every
    role and play, without a path to set.
  - Call it with C(query) (or C(wantlist=true)) to get a list.
options:
  _terms:
    description: YAML files on the controller, each holding one or more manifests.
    type: list
    elements: path
    required: false
"""

EXAMPLES = r"""
- name: The tutorial's Service
  ansible.builtin.debug:
    msg: "{{ query('k8slab.kube_proxy.manifests') }}"

- name: Services and EndpointSlices exported from a real cluster, sorted by kind
  ansible.builtin.set_fact:
    manifests: "{{ query('k8slab.kube_proxy.manifests', 'export.yaml') | k8slab.kube_proxy.k8s_manifests }}"
"""

RETURN = r"""
_raw:
  description: The documents of every file, in order (each a manifest, or a C(kind=List) of them).
  type: list
  elements: raw
"""

import os

import yaml

from ansible.errors import AnsibleLookupError
from ansible.module_utils.common.text.converters import to_native, to_text
from ansible.plugins.lookup import LookupBase

# The tutorial's Service, shipped in the collection beside this plugin.
TUTORIAL_SERVICES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                 "roles", "k8slab_defaults", "files", "service.yaml")


def read_documents(path):
    """Every non-empty YAML document of path, as plain data."""
    try:
        with open(path, encoding="utf-8") as handle:
            return [doc for doc in yaml.safe_load_all(handle) if doc is not None]
    except OSError as exc:
        raise AnsibleLookupError("cannot read %s: %s" % (path, to_native(exc.strerror or exc)))
    except yaml.YAMLError as exc:
        raise AnsibleLookupError("%s is not valid YAML: %s" % (path, to_native(exc)))


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        names = [to_text(term) for term in terms or [] if term]
        if not names:
            return read_documents(TUTORIAL_SERVICES)
        documents = []
        for name in names:
            path = self.find_file_in_search_path(variables, "files", name, ignore_missing=True)
            if not path:
                raise AnsibleLookupError("manifest file %s not found (searched the play's and role's files/ "
                                         "folders and the playbook's folder)" % name)
            documents.extend(read_documents(path))
        return documents
