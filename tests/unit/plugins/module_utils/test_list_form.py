# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one list-form contract of netns ``namespaces``, veth ``pairs`` and route ``routes``."""

from __future__ import annotations

import pytest

from ansible_collections.k8slab.kube_proxy.plugins.module_utils.iproute import ListForm, ValidationError
from ansible_collections.k8slab.kube_proxy.plugins.modules import netns, route, veth

# The three list forms as the modules declare them, with the top-level options AnsibleModule would pass.
FORMS = {
    "netns": (netns.NAMESPACES, {"name": None, "nameservers": None, "state": "present", "force": False,
                                 "owner": None, "state_dir": "/var/lib/k8slab/netns"}),
    "veth": (veth.PAIRS, {"name": None, "peer": None, "netns": None, "peer_addresses": None, "state": "present",
                          "bridge": None, "hairpin": False, "check_subnet": True}),
    "route": (route.ROUTES, {"netns": None, "destination": None, "gateway": None, "device": None, "metric": None,
                             "state": "present"}),
}
ITEMS = {
    "netns": [{"name": "netns_adam", "nameservers": None}, {"name": "netns_eve", "nameservers": ["1.1.1.1"]}],
    "veth": [{"name": "veth_adam", "peer": "veth_ns_adam", "netns": "netns_adam", "peer_addresses": None}],
    "route": [{"netns": "netns_adam", "destination": "default", "gateway": "10.0.0.1", "device": None, "metric": None}],
}


def params(module, **top):
    form, base = FORMS[module]
    return form, dict(base, **dict(top, **{form.key: ITEMS[module]}))


# Which top-level options are refused beside a list: every item key that is not a default.
@pytest.mark.parametrize("module, option, value", [
    ("netns", "name", "netns_x"),
    ("veth", "name", "veth_x"),
    ("veth", "peer", "veth_ns_x"),  # was silently ignored
    ("veth", "netns", "netns_x"),
    ("veth", "peer_addresses", ["10.0.0.9/24"]),
    ("route", "destination", "10.96.0.0/12"),  # was silently ignored
    ("route", "netns", "netns_x"),
    ("route", "gateway", "10.0.0.254"),
    ("route", "device", "eth0"),
    ("route", "metric", 5),
])
def test_an_item_option_beside_the_list_is_refused(module, option, value):
    form, p = params(module, **{option: value})
    with pytest.raises(ValidationError, match=r"^%s cannot be given beside %s; set it on each item" % (option, form.key)):
        form.items(p)


# Which are defaults for the items, and which apply to every item.
@pytest.mark.parametrize("module, top, expect", [
    ("netns", {"nameservers": ["9.9.9.9"]}, [{"nameservers": ["9.9.9.9"]}, {"nameservers": ["1.1.1.1"]}]),
    ("netns", {}, [{"nameservers": None}, {"nameservers": ["1.1.1.1"]}]),
    ("netns", {"owner": "pod_network", "state": "absent"}, [{"owner": "pod_network", "state": "absent"}] * 2),
    ("veth", {"bridge": "bridge_eden", "hairpin": True}, [{"bridge": "bridge_eden", "hairpin": True,
                                                           "netns": "netns_adam", "peer": "veth_ns_adam"}]),
    ("route", {"state": "absent"}, [{"state": "absent", "destination": "default", "gateway": "10.0.0.1"}]),
])
def test_defaults_fill_items_and_shared_options_reach_every_item(module, top, expect):
    form, p = params(module, **top)
    items = form.items(p)
    assert len(items) == len(expect)
    for item, wanted in zip(items, expect):
        assert dict((key, item[key]) for key in wanted) == wanted
        assert form.key not in item


def test_the_contract_is_declared_once_per_module():
    assert netns.NAMESPACES.refused() == ["name"]
    assert veth.PAIRS.refused() == ["name", "peer", "netns", "peer_addresses"]
    assert route.ROUTES.refused() == ["netns", "destination", "gateway", "device", "metric"]


@pytest.mark.parametrize("module, items, message", [
    ("netns", [{"name": "a"}, {"name": "a"}], "namespace a is listed twice"),
    ("veth", [{"name": "v", "peer": "p"}, {"name": "v", "peer": "q"}], "name v is listed twice"),
    ("veth", [{"name": "v", "peer": "p", "netns": "n"}, {"name": "w", "peer": "p", "netns": "n"}],
     "peer p in namespace n is listed twice"),
    ("route", [{"netns": "n", "destination": "default"}, {"netns": "n", "destination": "default"}],
     "route to default in namespace n is listed twice"),
])
def test_an_object_listed_twice_is_refused(module, items, message):
    form, base = FORMS[module]
    with pytest.raises(ValidationError, match=message):
        form.items(dict(base, **{form.key: items}))


def test_a_generic_form():
    form = ListForm("things", ("name", "size"), defaults=("size",))
    items = form.items({"things": [{"name": "a"}, {"name": "b", "size": 2}], "size": 1, "name": None, "mode": "x"})
    assert items == [{"name": "a", "size": 1, "mode": "x"}, {"name": "b", "size": 2, "mode": "x"}]
