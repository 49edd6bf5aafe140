# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab_model filter: every bad input of tests/data/bad_inputs.yml is rejected with the field and the value."""
import os

import pytest
import yaml

from ansible.errors import AnsibleFilterError
from ansible_collections.k8slab.kube_proxy.plugins.filter.lab_model import lab_model_filter, validate_lab

CASES_FILE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "data", "bad_inputs.yml")
with open(CASES_FILE) as handle:
    CASES = yaml.safe_load(handle)

TUTORIAL = {
    "k8slab_pods": [
        {"name": "adam", "address": "10.0.0.11", "labels": {"component": "app"}},
        {"name": "eve", "address": "10.0.0.21", "labels": {"component": "app"}},
    ],
    "k8slab_bridge_address": "10.0.0.1/24",
    "k8slab_bridge_name": "bridge_eden",
    "k8slab_node_networks": [],
    "k8slab_services": [{
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "app-service"},
        "spec": {"clusterIP": "10.96.0.1", "selector": {"component": "app"},
                 "ports": [{"protocol": "TCP", "port": 8080, "targetPort": 8080}]},
    }],
}


def model(overrides):
    values = dict(TUTORIAL, **overrides)
    return (values["k8slab_pods"], values["k8slab_bridge_address"], values["k8slab_bridge_name"],
            values["k8slab_services"])


def node_networks(overrides):
    return dict(TUTORIAL, **overrides)["k8slab_node_networks"]


def test_there_are_at_least_50_cases():
    assert len(CASES) >= 50
    assert len(set(case["id"] for case in CASES)) == len(CASES)


def test_the_tutorial_passes():
    assert validate_lab(*model({})) is True


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_bad_input_is_rejected_naming_field_and_value(case):
    with pytest.raises(ValueError) as info:
        validate_lab(*model(case["vars"]), reserved_networks=node_networks(case["vars"]))
    assert case["expect"] in str(info.value)


def test_filter_says_nothing_changed():
    with pytest.raises(AnsibleFilterError, match="rejected before any change: bridge address '10.0.0.1'"):
        lab_model_filter(TUTORIAL["k8slab_pods"], "10.0.0.1")


def test_reserved_networks_hold_no_cluster_ip():
    pods, bridge, name, services = model({})
    with pytest.raises(ValueError, match="10.96.0.1 lies inside reserved network 10.96.0.0/30"):
        validate_lab(pods, bridge, name, services, reserved_networks=["10.96.0.0/30"])


def test_selector_matching_nothing_is_not_an_error_in_the_tutorial_layout():
    pods, bridge, name, services = model({})
    assert validate_lab([dict(pod, labels={}) for pod in pods], bridge, name, services) is True


NAMED = {
    "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
    "spec": {"clusterIP": "10.96.0.2", "selector": {"component": "app"},
             "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": "web"}]},
}
WEB_SLICE = {
    "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
    "metadata": {"name": "web-abc12", "labels": {"kubernetes.io/service-name": "web"}},
    "ports": [{"name": "http", "protocol": "TCP", "port": 8080}],
    "endpoints": [{"addresses": ["10.0.0.11"], "conditions": {"ready": True}}],
}


def test_named_target_port_resolved_by_an_endpoint_slice_passes_in_the_kube_proxy_layout():
    pods, bridge, name, services = model({})
    assert validate_lab(pods, bridge, name, services + [NAMED], endpoint_slices=[WEB_SLICE], layout="kube-proxy")


def test_named_target_port_is_refused_where_nothing_resolves_it():
    pods, bridge, name, services = model({})
    with pytest.raises(ValueError, match="targetPort 'web' is a named port"):
        validate_lab(pods, bridge, name, services + [NAMED], layout="kube-proxy")
    # The tutorial layout writes the tutorial's chains, which take numbers only.
    with pytest.raises(ValueError, match="targetPort 'web' is a named port"):
        validate_lab(pods, bridge, name, services + [NAMED], endpoint_slices=[WEB_SLICE])


@pytest.mark.parametrize("layout", ["tutorial", "kube-proxy"])
@pytest.mark.parametrize("change, expect", [
    ({"endpoints": [{"addresses": ["10.0.0.300"]}]}, r"EndpointSlice default/web-abc12: endpoints\[0\] address '10.0.0.300'"),
    ({"metadata": {"name": "web-abc12"}}, r"metadata.labels\[kubernetes.io/service-name\] must name its Service, got None"),
    ({"ports": [{"name": "http", "protocol": "XYZ", "port": 8080}]}, r"ports\[0\].protocol 'XYZ'"),
    ({"ports": [{"name": "http", "port": 65536}]}, r"ports\[0\].port 65536"),
    ({"addressType": "IPv5"}, "addressType 'IPv5'"),
])
def test_bad_endpoint_slices_are_rejected_in_either_layout(layout, change, expect):
    pods, bridge, name, services = model({})
    with pytest.raises(ValueError, match=expect):
        validate_lab(pods, bridge, name, services, endpoint_slices=[dict(WEB_SLICE, **change)], layout=layout)


def test_an_endpoint_slice_declared_twice_is_rejected():
    pods, bridge, name, services = model({})
    with pytest.raises(ValueError, match="EndpointSlice default/web-abc12 is declared twice"):
        validate_lab(pods, bridge, name, services, endpoint_slices=[WEB_SLICE, WEB_SLICE], layout="kube-proxy")


def test_endpoint_slices_must_be_a_list_and_the_layout_known():
    pods, bridge, name, services = model({})
    with pytest.raises(ValueError, match="endpoint_slices must be a list of EndpointSlice manifests, got dict"):
        validate_lab(pods, bridge, name, services, endpoint_slices=WEB_SLICE)
    with pytest.raises(ValueError, match="layout 'kube_proxy' must be one of tutorial, kube-proxy"):
        validate_lab(pods, bridge, name, services, layout="kube_proxy")


def test_cluster_ip_checks_hold_in_the_kube_proxy_layout():
    pods, bridge, name, services = model({})
    bad = dict(NAMED, spec=dict(NAMED["spec"], clusterIP="10.0.0.21"))
    with pytest.raises(ValueError, match="spec.clusterIP 10.0.0.21 is the address of pod eve"):
        validate_lab(pods, bridge, name, services + [bad], endpoint_slices=[WEB_SLICE], layout="kube-proxy")
