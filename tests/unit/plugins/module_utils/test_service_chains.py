# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The tutorial layout's renderer (module_utils.service_chains): Services + pods -> the nat chains kube-proxy would write."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import proxier
from ansible_collections.k8slab.kube_proxy.plugins.module_utils import service_chains as sc
from ansible_collections.k8slab.kube_proxy.plugins.filter.pods import complete_pods

TUTORIAL_SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "app-service"},
    "spec": {"clusterIP": "10.96.0.1", "selector": {"component": "app"},
             "ports": [{"protocol": "TCP", "port": 8080, "targetPort": 8080}]},
}
TUTORIAL_PODS = [{"name": "adam", "address": "10.0.0.11", "labels": {"component": "app"}},
                 {"name": "eve", "address": "10.0.0.21", "labels": {"component": "app"}}]

# What the tutorial's iptables commands leave in `iptables-save -t nat` (its own chains and jumps),
# in the order iptables-save lists them per chain.
TUTORIAL_RULES = """\
-A PREROUTING -j APP-SERVICE
-A OUTPUT -j APP-SERVICE
-A ADAM-HTTP -p tcp -m tcp -j DNAT --to-destination 10.0.0.11:8080
-A APP-SERVICE -d 10.96.0.1/32 -p tcp -m tcp --dport 8080 -j EDEN-SVC-HTTP
-A EDEN-SVC-HTTP -m statistic --mode random --probability 0.50000000000 -j EVE-HTTP
-A EDEN-SVC-HTTP -j ADAM-HTTP
-A EVE-HTTP -p tcp -m tcp -j DNAT --to-destination 10.0.0.21:8080
""".splitlines()


def pods(records=None):
    return complete_pods(copy.deepcopy(records if records is not None else TUTORIAL_PODS), "10.0.0.1/24")


def service(name, cluster_ip, selector, ports, namespace=None):
    manifest = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                "spec": {"clusterIP": cluster_ip, "selector": selector, "ports": ports}}
    if namespace:
        manifest["metadata"]["namespace"] = namespace
    return manifest


def save_lines(plan):
    """The plan as iptables-save would list it: built-in chains first, then user chains sorted by name."""
    lines = ["-A %s %s" % (j["chain"], j["rule"]) for j in plan["nat"]["builtin_rules"]]
    for chain in sorted(plan["nat"]["chains"], key=lambda c: c["name"]):
        lines.extend("-A %s %s" % (chain["name"], rule) for rule in chain["rules"])
    return lines


def chain_map(plan):
    return dict((c["name"], c["rules"]) for c in plan["nat"]["chains"])


# the tutorial -------------------------------------------------------------------------

def test_tutorial_defaults_reproduce_its_rules_exactly():
    plan = sc.plan_service_chains([TUTORIAL_SERVICE], pods())
    assert save_lines(plan) == TUTORIAL_RULES
    assert plan["warnings"] == []
    assert plan["endpoints"] == {"default/app-service:8080": ["eve", "adam"]}


def test_tutorial_jumps_are_appended_like_the_tutorial():
    plan = sc.plan_service_chains([TUTORIAL_SERVICE], pods())
    assert plan["nat"]["builtin_rules"] == [
        {"chain": "PREROUTING", "rule": "-j APP-SERVICE", "position": "last"},
        {"chain": "OUTPUT", "rule": "-j APP-SERVICE", "position": "last"}]
    assert [c["name"] for c in plan["nat"]["chains"]] == ["APP-SERVICE", "EDEN-SVC-HTTP", "EVE-HTTP", "ADAM-HTTP"]


def test_tutorial_service_record():
    record = sc.plan_service_chains([TUTORIAL_SERVICE], pods())["services"][0]
    assert record["key"] == "default/app-service:8080"
    assert (record["cluster_ip"], record["port"], record["protocol"], record["target_port"]) == ("10.96.0.1", 8080, "TCP", 8080)
    assert record["chain"] == "EDEN-SVC-HTTP"
    assert [(e["pod"], e["netns"], e["chain"], e["probability"], e["share"]) for e in record["endpoints"]] == [
        ("eve", "netns_eve", "EVE-HTTP", "0.50000000000", 0.5),
        ("adam", "netns_adam", "ADAM-HTTP", None, 0.5)]


def test_the_proxier_renders_with_this_function():
    options = proxier.check_options("tutorial", "iptables", {})
    rendered = proxier.render("tutorial", "iptables", [TUTORIAL_SERVICE], [], pods(), options)
    plan = sc.plan_service_chains([TUTORIAL_SERVICE], pods())
    assert rendered["iptables"]["nat"] == (plan["nat"]["chains"], plan["nat"]["builtin_rules"])
    assert rendered["iptables"]["filter"] == ([], [])


# probabilities ------------------------------------------------------------------------

@pytest.mark.parametrize("remaining, text", [
    (2, "0.50000000000"), (3, "0.33333333349"), (4, "0.25000000000"), (5, "0.20000000019"),
    (6, "0.16666666651"), (7, "0.14285714272"), (10, "0.10000000009"), (11, "0.09090909082"),
    # Here writing %0.10f first (as kube-proxy does) rounds differently from writing 1/n in full.
    (44, "0.02272727247"), (51, "0.01960784290"),
])
def test_probability_is_what_iptables_save_shows(remaining, text):
    # Measured: `iptables -A X -m statistic --mode random --probability %0.10f` then iptables-save (1.8.9).
    assert sc.probability(remaining) == text


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8])
def test_n_endpoints_are_picked_with_1_over_n_each(count):
    records = [{"name": "p%d" % i, "address": "10.0.0.%d" % (10 + i), "labels": {"app": "x"}} for i in range(count)]
    plan = sc.plan_service_chains([service("x", "10.96.0.9", {"app": "x"}, [{"port": 80, "targetPort": 8080}])], pods(records))
    rules = chain_map(plan)["EDEN-SVC-HTTP"]
    assert len(rules) == count
    expected = ["-m statistic --mode random --probability %s -j P%d-HTTP" % (sc.probability(count - i), count - 1 - i)
                for i in range(count - 1)] + ["-j P0-HTTP"]
    assert rules == expected
    # The cascade gives every endpoint the same share.
    left, shares = 1.0, []
    for i in range(count):
        p = 1.0 / (count - i)
        shares.append(left * p)
        left -= left * p
    assert all(abs(s - 1.0 / count) < 1e-9 for s in shares)
    assert [e["share"] for e in plan["services"][0]["endpoints"]] == [1.0 / count] * count


# endpoints ----------------------------------------------------------------------------

def test_only_matching_pods_are_endpoints_newest_first():
    records = TUTORIAL_PODS + [{"name": "cain", "address": "10.0.0.31", "labels": {"component": "db"}},
                               {"name": "abel", "address": "10.0.0.41", "labels": {"component": "app", "tier": "x"}}]
    plan = sc.plan_service_chains([TUTORIAL_SERVICE], pods(records))
    assert plan["endpoints"]["default/app-service:8080"] == ["abel", "eve", "adam"]
    assert "CAIN-HTTP" not in chain_map(plan)


def test_selector_needs_every_label():
    svc = service("s", "10.96.0.2", {"component": "app", "tier": "x"}, [{"port": 80}])
    records = TUTORIAL_PODS + [{"name": "abel", "address": "10.0.0.41", "labels": {"component": "app", "tier": "x"}}]
    assert sc.plan_service_chains([svc], pods(records))["endpoints"]["default/s:80"] == ["abel"]


def test_label_values_compare_as_text():
    svc = service("s", "10.96.0.2", {"version": "2"}, [{"port": 80}])
    records = [{"name": "a", "address": "10.0.0.5", "labels": {"version": 2}}]
    assert sc.plan_service_chains([svc], pods(records))["endpoints"]["default/s:80"] == ["a"]


def test_service_without_endpoints_gets_no_chain_and_a_warning():
    lonely = service("web", "10.96.0.2", {"component": "web"}, [{"name": "http", "port": 80}])
    plan = sc.plan_service_chains([TUTORIAL_SERVICE, lonely], pods())
    assert len(plan["warnings"]) == 1
    assert "default/web" in plan["warnings"][0] and "matches no pod" in plan["warnings"][0]
    assert "10.96.0.2" not in " ".join(r for c in plan["nat"]["chains"] for r in c["rules"])
    assert plan["endpoints"]["default/web:http"] == []
    assert plan["services"][1]["chain"] is None
    # The other Service is untouched, and keeps its short names.
    assert save_lines(plan) == TUTORIAL_RULES


def test_service_without_selector_is_reported():
    plan = sc.plan_service_chains([service("ext", "10.96.0.3", {}, [{"port": 80}])], pods())
    assert "has no selector" in plan["warnings"][0]
    assert chain_map(plan) == {"APP-SERVICE": []}


def test_the_proxier_passes_warnings_on_or_fails_on_them():
    lonely = service("web", "10.96.0.2", {"component": "web"}, [{"port": 80}])
    options = proxier.check_options("tutorial", "iptables", {})
    rendered = proxier.render("tutorial", "iptables", [lonely], [], pods(), options)
    assert len(rendered["warnings"]) == 1 and "default/web" in rendered["warnings"][0]
    with pytest.raises(proxier.ModelError, match="default/web.*fail_on_no_endpoints is true"):
        proxier.render("tutorial", "iptables", [lonely], [], pods(), options, fail_on_no_endpoints=True)


def test_removed_pod_disappears_from_the_plan():
    before = chain_map(sc.plan_service_chains([TUTORIAL_SERVICE], pods()))
    after = chain_map(sc.plan_service_chains([TUTORIAL_SERVICE], pods(TUTORIAL_PODS[:1])))
    assert "EVE-HTTP" in before and "EVE-HTTP" not in after
    assert after["EDEN-SVC-HTTP"] == ["-j ADAM-HTTP"]


# naming -------------------------------------------------------------------------------

def test_named_ports_name_their_chains():
    svc = service("web", "10.96.0.10", {"component": "app"},
                  [{"name": "http", "port": 8080}, {"name": "alt_http", "port": 80, "targetPort": 8080}])
    chains = chain_map(sc.plan_service_chains([svc], pods()))
    assert chains["APP-SERVICE"] == ["-d 10.96.0.10/32 -p tcp -m tcp --dport 8080 -j EDEN-SVC-HTTP",
                                     "-d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j EDEN-SVC-ALT-HTTP"]
    assert chains["ADAM-ALT-HTTP"] == ["-p tcp -m tcp -j DNAT --to-destination 10.0.0.11:8080"]
    assert chains["EVE-HTTP"] == ["-p tcp -m tcp -j DNAT --to-destination 10.0.0.21:8080"]


def test_same_port_name_in_two_services_uses_the_service_name():
    one = service("app-service", "10.96.0.1", {"component": "app"}, [{"name": "http", "port": 8080}])
    two = service("web", "10.96.0.2", {"component": "app"}, [{"name": "http", "port": 80, "targetPort": 8080}])
    three = service("db", "10.96.0.3", {"component": "app"}, [{"name": "sql", "port": 5432}])
    chains = chain_map(sc.plan_service_chains([one, two, three], pods()))
    assert sorted(chains) == sorted(["APP-SERVICE", "EDEN-SVC-APP-SERVICE-HTTP", "EDEN-SVC-WEB-HTTP", "EDEN-SVC-SQL",
                                     "ADAM-APP-SERVICE-HTTP", "EVE-APP-SERVICE-HTTP", "ADAM-WEB-HTTP", "EVE-WEB-HTTP",
                                     "ADAM-SQL", "EVE-SQL"])


def test_same_service_name_in_two_namespaces_uses_the_namespace():
    one = service("web", "10.96.0.1", {"component": "app"}, [{"port": 80}], namespace="blue")
    two = service("web", "10.96.0.2", {"component": "app"}, [{"port": 80}], namespace="green")
    chains = chain_map(sc.plan_service_chains([one, two], pods()))
    assert "EDEN-SVC-BLUE-WEB-HTTP" in chains and "EDEN-SVC-GREEN-WEB-HTTP" in chains
    assert "EVE-GREEN-WEB-HTTP" in chains


def test_long_names_are_cut_with_a_stable_hash():
    svc = service("a-really-long-service-name", "10.96.0.1", {"component": "app"},
                  [{"name": "metrics-and-much-more", "port": 9100}, {"name": "http", "port": 80}])
    records = [{"name": "averyveryverylongpodname", "address": "10.0.0.5", "labels": {"component": "app"},
                "host_veth": "veth_long", "pod_veth": "veth_ns_long"}]
    plan = sc.plan_service_chains([svc], pods(records))
    names = [c["name"] for c in plan["nat"]["chains"]]
    assert all(len(n) <= 28 for n in names)
    assert len(set(names)) == len(names)
    long_svc = plan["services"][0]["chain"]
    assert long_svc.startswith("EDEN-SVC-METRICS-AND-") and len(long_svc) <= 28
    assert long_svc == sc.hashed_name("EDEN-SVC-METRICS-AND-MUCH-MORE", "default/a-really-long-service-name:metrics-and-much-more")
    # Stable: the same input gives the same names.
    assert names == [c["name"] for c in sc.plan_service_chains([svc], pods(records))["nat"]["chains"]]


def test_names_that_collide_after_cleaning_get_hashes():
    # Pod "a-b" with port "c" and pod "a" with port "b-c" would both be A-B-C.
    svc1 = service("one", "10.96.0.1", {"x": "1"}, [{"name": "c", "port": 80}])
    svc2 = service("two", "10.96.0.2", {"x": "2"}, [{"name": "b-c", "port": 80}])
    records = [{"name": "a-b", "address": "10.0.0.5", "labels": {"x": "1"}, "host_veth": "v1", "pod_veth": "v1n"},
               {"name": "a", "address": "10.0.0.6", "labels": {"x": "2"}, "host_veth": "v2", "pod_veth": "v2n"}]
    names = [c["name"] for c in sc.plan_service_chains([svc1, svc2], pods(records))["nat"]["chains"]]
    assert len(set(names)) == len(names)
    assert "A-B-C" not in names


def test_chain_names_never_hit_the_dispatch_chain_or_builtins():
    svc = service("s", "10.96.0.1", {"component": "app"}, [{"name": "service", "port": 80}])
    records = [{"name": "app", "address": "10.0.0.5", "labels": {"component": "app"}}]
    plan = sc.plan_service_chains([svc], pods(records))
    names = [c["name"] for c in plan["nat"]["chains"]]
    assert names.count("APP-SERVICE") == 1
    svc = service("s", "10.96.0.1", {"component": "app"}, [{"name": "routing", "port": 80}])
    records = [{"name": "post", "address": "10.0.0.5", "labels": {"component": "app"}}]
    assert "POST-ROUTING" in [c["name"] for c in sc.plan_service_chains([svc], pods(records))["nat"]["chains"]]
    records = [{"name": "dn", "address": "10.0.0.5", "labels": {"component": "app"}}]
    svc = service("s", "10.96.0.1", {"component": "app"}, [{"name": "at", "port": 80}])
    assert "DN-AT" in [c["name"] for c in sc.plan_service_chains([svc], pods(records))["nat"]["chains"]]


def test_chain_word_cleans_names():
    assert sc.chain_word("app_service.v1") == "APP-SERVICE-V1"


def test_options_change_names():
    plan = sc.plan_service_chains([TUTORIAL_SERVICE], pods(), dispatch_chain="KUBE-SERVICES", chain_prefix="kube",
                                  unnamed_port_name="web")
    assert [c["name"] for c in plan["nat"]["chains"]] == ["KUBE-SERVICES", "KUBE-SVC-WEB", "EVE-WEB", "ADAM-WEB"]
    assert plan["nat"]["builtin_rules"][0]["rule"] == "-j KUBE-SERVICES"


# protocols, comments, positions -------------------------------------------------------

@pytest.mark.parametrize("protocol", ["UDP", "SCTP", "udp"])
def test_other_protocols(protocol):
    svc = service("dns", "10.96.0.10", {"component": "app"}, [{"protocol": protocol, "port": 53, "targetPort": 5353}])
    chains = chain_map(sc.plan_service_chains([svc], pods()))
    p = protocol.lower()
    assert chains["APP-SERVICE"] == ["-d 10.96.0.10/32 -p %s -m %s --dport 53 -j EDEN-SVC-HTTP" % (p, p)]
    assert chains["EVE-HTTP"] == ["-p %s -m %s -j DNAT --to-destination 10.0.0.21:5353" % (p, p)]


def test_target_port_defaults_to_port_and_accepts_digit_strings():
    svc = service("s", "10.96.0.1", {"component": "app"}, [{"port": 81}])
    assert chain_map(sc.plan_service_chains([svc], pods()))["ADAM-HTTP"] == ["-p tcp -m tcp -j DNAT --to-destination 10.0.0.11:81"]
    svc = service("s", "10.96.0.1", {"component": "app"}, [{"port": "81", "targetPort": "8080"}])
    assert chain_map(sc.plan_service_chains([svc], pods()))["ADAM-HTTP"] == ["-p tcp -m tcp -j DNAT --to-destination 10.0.0.11:8080"]


def test_comments_name_service_and_endpoint():
    plan = sc.plan_service_chains([TUTORIAL_SERVICE], pods(), comments=True)
    chains = chain_map(plan)
    assert chains["EDEN-SVC-HTTP"][0] == {"rule": "-m statistic --mode random --probability 0.50000000000 -j EVE-HTTP",
                                          "comment": "default/app-service:8080 -> eve"}
    assert chains["ADAM-HTTP"] == [{"rule": "-p tcp -m tcp -j DNAT --to-destination 10.0.0.11:8080",
                                    "comment": "default/app-service:8080 -> adam"}]
    assert chains["APP-SERVICE"][0]["comment"] == "default/app-service:8080 cluster IP"
    assert all("comment" in j for j in plan["nat"]["builtin_rules"])


def test_jump_position_first():
    plan = sc.plan_service_chains([TUTORIAL_SERVICE], pods(), jump_position="first")
    assert {j["position"] for j in plan["nat"]["builtin_rules"]} == {"first"}


def test_no_services_keeps_an_empty_dispatch_chain():
    plan = sc.plan_service_chains([], pods())
    assert plan["nat"]["chains"] == [{"name": "APP-SERVICE", "rules": []}]
    assert len(plan["nat"]["builtin_rules"]) == 2


# validation ---------------------------------------------------------------------------

def broken(path, value):
    manifest = copy.deepcopy(TUTORIAL_SERVICE)
    target = manifest
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return manifest


@pytest.mark.parametrize("manifest, message", [
    (broken(("spec", "clusterIP"), KeyError), "spec.clusterIP is required"),
    (broken(("spec", "clusterIP"), "None"), "headless"),
    (broken(("spec", "clusterIP"), "10.96.0"), "not an IP address"),
    (broken(("spec", "clusterIP"), "fd00::1"), "only IPv4"),
    (broken(("spec", "type"), "ExternalName"), "spec.type 'ExternalName'"),
    (broken(("kind",), "Deployment"), "expected Service"),
    (broken(("metadata", "name"), "App_Service"), "DNS label"),
    (broken(("metadata", "name"), KeyError), "metadata.name"),
    (broken(("spec", "ports"), []), "spec.ports must be a non-empty list"),
    (broken(("spec", "ports"), [{"port": 8080, "targetPort": "http"}]), "named port"),
    (broken(("spec", "ports"), [{"port": 0}]), "not a port number"),
    (broken(("spec", "ports"), [{"port": 70000}]), "not a port number"),
    (broken(("spec", "ports"), [{"port": True}]), "not a port number"),
    (broken(("spec", "ports"), [{"port": 80, "protocol": "ICMP"}]), "protocol"),
    (broken(("spec", "ports"), [{"port": 80, "name": "a"}, {"port": 81}]), "needs one"),
    (broken(("spec", "ports"), [{"port": 80, "name": "a"}, {"port": 81, "name": "a"}]), "used twice"),
    (broken(("spec", "ports"), [{"port": 80, "name": "a"}, {"port": 80, "name": "b"}]), "declared twice"),
    (broken(("spec", "selector"), ["component"]), "selector must be a mapping"),
    ("not a mapping", "is not a mapping"),
])
def test_bad_services_are_refused_with_a_clear_message(manifest, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        sc.plan_service_chains([manifest], pods())


def test_duplicate_services_and_frontends_are_refused():
    with pytest.raises(ValueError, match="declared twice"):
        sc.plan_service_chains([TUTORIAL_SERVICE, TUTORIAL_SERVICE], pods())
    other = broken(("metadata", "name"), "other")
    with pytest.raises(ValueError, match="both claim 10.96.0.1:8080/TCP"):
        sc.plan_service_chains([TUTORIAL_SERVICE, other], pods())


@pytest.mark.parametrize("kwargs, message", [
    ({"jump_position": "middle"}, "jump_position"),
    ({"dispatch_chain": "app service"}, "dispatch_chain"),
    ({"dispatch_chain": "OUTPUT"}, "dispatch_chain"),
    ({"dispatch_chain": "X" * 29}, "dispatch_chain"),
    ({"chain_prefix": ""}, "must not be empty"),
])
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sc.plan_service_chains([TUTORIAL_SERVICE], pods(), **kwargs)


def test_incomplete_pods_and_bad_types_are_refused():
    with pytest.raises(ValueError, match="complete pod record"):
        sc.plan_service_chains([TUTORIAL_SERVICE], TUTORIAL_PODS)
    with pytest.raises(ValueError, match="services must be a list"):
        sc.plan_service_chains(TUTORIAL_SERVICE, pods())
    with pytest.raises(ValueError, match="spec.clusterIP is required"):
        sc.plan_service_chains([broken(("spec", "clusterIP"), KeyError)], pods())
