# SPDX-License-Identifier: GPL-3.0-or-later
"""The manifests lookup: the tutorial's Service without a file, files found on the search path, clear errors."""
import pytest

from ansible.errors import AnsibleLookupError
from ansible.parsing.dataloader import DataLoader
from ansible_collections.k8slab.kube_proxy.plugins.lookup.manifests import LookupModule


def lookup(basedir, *terms):
    loader = DataLoader()
    loader.set_basedir(str(basedir))
    return LookupModule(loader=loader).run(list(terms), variables={})


def test_no_file_is_the_tutorial_service(tmp_path):
    for terms in ((), ("",)):
        services = lookup(tmp_path, *terms)
        assert [s["metadata"]["name"] for s in services] == ["app-service"]
        assert services[0]["spec"]["clusterIP"] == "10.96.0.1"
        assert services[0]["spec"]["ports"] == [{"protocol": "TCP", "port": 8080, "targetPort": 8080}]


def test_relative_files_are_found_on_the_search_path_in_order(tmp_path):
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "a.yaml").write_text("---\nkind: Service\nmetadata: {name: a}\n---\n---\nkind: Service\nmetadata: {name: b}\n")
    (tmp_path / "c.yaml").write_text("kind: EndpointSlice\nmetadata: {name: c}\n")
    docs = lookup(tmp_path, "a.yaml", "c.yaml")
    assert [d["metadata"]["name"] for d in docs] == ["a", "b", "c"]


@pytest.mark.parametrize("content, message", [
    (None, "manifest file missing.yaml not found"),
    ("kind: [Service\n", "is not valid YAML"),
])
def test_errors_name_the_file(tmp_path, content, message):
    if content is not None:
        (tmp_path / "missing.yaml").write_text(content)
    with pytest.raises(AnsibleLookupError, match=message):
        lookup(tmp_path, "missing.yaml")
