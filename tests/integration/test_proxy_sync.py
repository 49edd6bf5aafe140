# SPDX-License-Identifier: GPL-3.0-or-later
"""proxy_sync (module and action plugin) against real iptables and nftables in throwaway namespaces (conftest.py).

Both backends, both layouts, drain, switching backends, a foreign chain refused before any change, the digest
path (a no-change run sends only the digest; a rule deleted by hand is repaired), check mode. Traffic goes from
the sandbox's own namespace to two pod namespaces made here, which answer with their name.
"""
import json
import os
import shutil
import signal
import sys

import pytest

STATE_DIR = "/run/k8slab"  # /run is private to the sandbox
PODS = [{"name": "adam", "address": "10.0.0.11", "labels": {"component": "app"}},
        {"name": "eve", "address": "10.0.0.21", "labels": {"component": "app"}}]
SERVICE = {"metadata": {"name": "app-service"},
           "spec": {"clusterIP": "10.96.0.1", "selector": {"component": "app"}, "ports": [{"port": 8080, "targetPort": 8080}]}}
DOCKER = [["iptables", "-t", "nat", "-N", "DOCKER"], ["iptables", "-t", "nat", "-A", "DOCKER", "-j", "RETURN"],
          ["iptables", "-t", "nat", "-A", "PREROUTING", "-j", "DOCKER"]]

needs_nft = pytest.mark.skipif(not shutil.which("nft"), reason="nft missing (Debian package nftables)")


def sync(label="sync", pods=None, services=None, **args):
    """One proxy_sync task as YAML (values JSON-quoted, which YAML reads as they are)."""
    params = dict(state_dir=STATE_DIR, cluster_cidr="10.0.0.0/24", services=services or [SERVICE])
    params.update(args)
    lines = ["- name: %s" % label, "  k8slab.kube_proxy.proxy_sync:"]
    lines += ["    %s: %s" % (key, json.dumps(value)) for key, value in params.items()]
    lines.append("    pods: %s" % json.dumps("{{ %s | k8slab.kube_proxy.pods('10.0.0.1/24') }}" % json.dumps(pods or PODS)))
    return "\n".join(lines) + "\n"


def user_chains(box, table="nat"):
    out = box.run(["iptables-save", "-t", table]).stdout
    return sorted(line[1:].split()[0] for line in out.splitlines()
                  if line.startswith(":") and line.split()[1] == "-")


def nft_tables(box):
    return box.run(["nft", "list", "tables"]).stdout.split()


HITS = """import json, sys, urllib.request
hits = {}
for _ in range(int(sys.argv[1])):
    try:
        name = urllib.request.urlopen("http://10.96.0.1:8080/", timeout=2).read().decode()
    except OSError:
        name = "failed"
    hits[name] = hits.get(name, 0) + 1
print(json.dumps(hits))
"""


def curl_hits(box, count=20, address="10.96.0.1", port=8080):
    """Who answers at the cluster IP (or address and port), from the sandbox's own namespace: pod name -> hits."""
    return json.loads(box.run(["python3", "-c", HITS.replace("10.96.0.1:8080", "%s:%d" % (address, port)), str(count)]).stdout)


@pytest.fixture
def lab(sandbox):
    """A bridge and two pods (namespaces with a veth each) that answer their name on :8080."""
    run = sandbox.run
    servers = []
    run(["ip", "link", "add", "br0", "type", "bridge"])
    run(["ip", "addr", "add", "10.0.0.1/24", "dev", "br0"])
    run(["ip", "link", "set", "br0", "up"])
    # A route for the cluster IP to be looked up by before the nat OUTPUT hook rewrites it (a node has its default).
    run(["ip", "route", "add", "10.96.0.0/12", "dev", "br0"])
    for pod in PODS:
        name = pod["name"]
        run(["ip", "netns", "add", "netns_" + name])
        run(["ip", "link", "add", "v_" + name, "type", "veth", "peer", "name", "p_" + name])
        run(["ip", "link", "set", "p_" + name, "netns", "netns_" + name])
        run(["ip", "link", "set", "v_" + name, "master", "br0", "up"])
        inside = ["ip", "netns", "exec", "netns_" + name]
        run(inside + ["ip", "addr", "add", pod["address"] + "/24", "dev", "p_" + name])
        run(inside + ["ip", "link", "set", "p_" + name, "up"])
        run(inside + ["ip", "link", "set", "lo", "up"])
        run(inside + ["ip", "route", "add", "default", "via", "10.0.0.1"])
        server = ("import http.server as h\nclass H(h.BaseHTTPRequestHandler):\n def do_GET(s):\n"
                  "  s.send_response(200); s.end_headers(); s.wfile.write(b'%s')\n def log_message(s, *a): pass\n"
                  "h.HTTPServer(('0.0.0.0', 8080), H).serve_forever()" % name)
        out = run(["sh", "-c", 'nohup "$@" >/dev/null 2>&1 & echo $!', "sh"] + inside + ["python3", "-c", server]).stdout
        servers.append(int(out.strip()))
    run(["sysctl", "-qw", "net.ipv4.ip_forward=1"])
    for dummy in range(50):
        if all(run(["ip", "netns", "exec", "netns_" + pod["name"], "python3", "-c",
                    "import socket; socket.create_connection(('127.0.0.1', 8080), 1)"], check=False).returncode == 0
               for pod in PODS):
            break
        run(["sleep", "0.1"])
    for argv in DOCKER:
        run(argv)
    try:
        yield sandbox
    finally:
        for pid in servers:  # the sandbox ends with its sleeping holder; these would outlive it
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


@pytest.mark.parametrize("layout, backend", [
    ("tutorial", "iptables"), ("kube-proxy", "iptables"),
    pytest.param("tutorial", "nftables", marks=needs_nft), pytest.param("kube-proxy", "nftables", marks=needs_nft),
])
def test_sync_serves_then_a_rerun_sends_only_the_digest(lab, layout, backend):
    first, second = lab.playbook(sync("first", layout=layout, backend=backend)
                                 + sync("again", layout=layout, backend=backend))
    assert first["changed"] is True and first["digest_hit"] is False
    assert second["changed"] is False and second["digest_hit"] is True
    # Only the digest travelled: the node never saw the model the second time.
    assert second["model_sent"] is False and first["model_sent"] is True
    hits = curl_hits(lab)
    assert set(hits) == {"adam", "eve"}, hits
    if backend == "nftables":
        assert "kube-proxy" in nft_tables(lab) and not [c for c in user_chains(lab) if c != "DOCKER"]
        if layout == "kube-proxy":  # made with its comment, as kube-proxy makes it
            listing = lab.run(["nft", "list", "table", "ip", "kube-proxy"]).stdout
            assert 'comment "rules for kube-proxy"' in listing, listing[:300]
    else:
        assert "DOCKER" in user_chains(lab) and lab.run(["iptables", "-t", "nat", "-S", "DOCKER"]).stdout.count("-A") == 1


# A LoadBalancer whose source ranges hold the node (10.0.0.1), as a node holding its ingress IP sees it.
LB_SERVICE = {"metadata": {"name": "app-service"},
              "spec": dict(SERVICE["spec"], type="LoadBalancer", loadBalancerSourceRanges=["10.0.0.0/24"]),
              "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}}


@pytest.mark.parametrize("backend", ["iptables", pytest.param("nftables", marks=needs_nft)])
def test_a_load_balancer_ip_the_node_holds_is_served_to_the_node_only_with_its_node_ip(lab, backend):
    """The node's own connections to an ingress IP it holds come from that IP: kube-proxy lets them through its
    source ranges only when the ranges hold the node IP (allowFromNode). A second run finds the rules as written."""
    lab.run(["ip", "addr", "add", "192.0.2.10/32", "dev", "lo"])
    kube_proxy = dict(layout="kube-proxy", backend=backend, services=[LB_SERVICE])
    first, again = lab.playbook(sync("lb", **kube_proxy) + sync("lb again", return_plan=True, **kube_proxy))
    assert first["changed"] is True and again["changed"] is False
    assert curl_hits(lab, 2, "192.0.2.10") == {"failed": 2}
    with_node_ip, again = lab.playbook(sync("lb, node ip", node_ip="10.0.0.1", **kube_proxy)
                                       + sync("lb, node ip again", node_ip="10.0.0.1", return_plan=True, **kube_proxy))
    assert with_node_ip["changed"] is True and again["changed"] is False
    assert set(curl_hits(lab, 20, "192.0.2.10")) == {"adam", "eve"}


NODEPORT_SERVICE = {"metadata": {"name": "app-service"},
                    "spec": dict(SERVICE["spec"], type="NodePort", ports=[{"port": 8080, "targetPort": 8080, "nodePort": 30080}])}


def test_a_nodeport_answers_only_on_the_nodeport_addresses(lab):
    """kube-proxy's --nodeport-addresses with iptables: the NodePort answers on the listed node address and not on
    another local one (nothing listens there, so the connection fails); without the option, on both."""
    for address in ("192.0.2.2", "198.51.100.2"):
        lab.run(["ip", "addr", "add", address + "/32", "dev", "lo"])
    kube_proxy = dict(layout="kube-proxy", backend="iptables", services=[NODEPORT_SERVICE])
    first, again = lab.playbook(sync("listed", nodeport_addresses=["192.0.2.2"], **kube_proxy)
                                + sync("listed again", nodeport_addresses=["192.0.2.2"], **kube_proxy))
    assert first["changed"] is True and again["changed"] is False
    assert set(curl_hits(lab, 20, "192.0.2.2", 30080)) == {"adam", "eve"}
    assert curl_hits(lab, 2, "198.51.100.2", 30080) == {"failed": 2}
    [every] = lab.playbook(sync("every local address", **kube_proxy))
    assert every["changed"] is True
    assert set(curl_hits(lab, 20, "198.51.100.2", 30080)) == {"adam", "eve"}


def test_kube_proxy_layout_writes_nat_and_filter_in_one_restore(lab):
    [result] = lab.playbook(sync(layout="kube-proxy"))
    applied = result["applied"]
    assert applied.count("*filter") == 1 and applied.count("*nat") == 1 and applied.index("*filter") < applied.index("*nat")
    assert "KUBE-FORWARD" in user_chains(lab, "filter") and "KUBE-SVC-HVXLY56DFZMBQN5Y" in user_chains(lab)


COUNTERS = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from ansible_collections.k8slab.kube_proxy.plugins.module_utils import nfacct; print(' '.join(nfacct.counters()))")


def nfacct_counters(box):
    collections = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".collections")
    return box.run([sys.executable, "-c", COUNTERS, collections]).stdout.split()


def test_kube_proxy_layout_counts_invalid_drops_into_kube_proxys_nfacct_counter(lab):
    """kube-proxy makes its nfacct counter and counts the INVALID drop into it; so does proxy_sync. The scratch load
    makes the counter too (a rule naming a missing one is refused); a rerun, the digest path and check mode find the
    node in sync; absent takes the counter away with the rules."""
    drop = "-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP"
    [checked] = lab.playbook(sync("check", layout="kube-proxy"), check=True)
    assert checked["changed"] is True and nfacct_counters(lab) == []
    first, again = lab.playbook(sync("first", layout="kube-proxy") + sync("again", layout="kube-proxy", return_plan=True))
    assert first["changed"] is True and again["changed"] is False and again["in_sync"] is True
    assert nfacct_counters(lab) == ["ct_state_invalid_dropped_pkts"]
    assert drop in " ".join(lab.run(["iptables", "-S", "KUBE-FORWARD"]).stdout.split("  ")).splitlines()
    [checked] = lab.playbook(sync("check again", layout="kube-proxy", return_plan=True), check=True)
    assert checked["changed"] is False and checked["in_sync"] is True
    assert set(curl_hits(lab)) == {"adam", "eve"}
    lab.playbook("- name: absent\n  k8slab.kube_proxy.proxy_sync: {state: absent, state_dir: %s}\n" % STATE_DIR)
    assert nfacct_counters(lab) == [] and user_chains(lab, "filter") == []


def test_a_rule_deleted_by_hand_is_found_and_repaired(lab):
    lab.playbook(sync())
    lab.run(["iptables", "-t", "nat", "-D", "EDEN-SVC-HTTP", "-j", "ADAM-HTTP"])
    [result] = lab.playbook(sync())
    assert result["changed"] is True and result["digest_hit"] is False
    assert result["applied"] == "*nat\n:EDEN-SVC-HTTP - [0:0]\n-A EDEN-SVC-HTTP -m statistic --mode random " \
        "--probability 0.50000000000 -j EVE-HTTP\n-A EDEN-SVC-HTTP -j ADAM-HTTP\nCOMMIT\n"
    assert set(curl_hits(lab)) == {"adam", "eve"}


@needs_nft
def test_an_nft_element_deleted_by_hand_is_found_and_repaired(lab):
    lab.playbook(sync(backend="nftables"))
    lab.run(["nft", "flush", "map", "ip", "kube-proxy", "service-ips"])
    [result] = lab.playbook(sync(backend="nftables"))
    assert result["changed"] is True and result["digest_hit"] is False
    assert set(curl_hits(lab)) == {"adam", "eve"}


@needs_nft
def test_nftables_partial_sync_writes_only_what_changed_and_lists_as_a_full_write(lab):
    kube_proxy = dict(layout="kube-proxy", backend="nftables")
    [first] = lab.playbook(sync("both pods", **kube_proxy))
    assert first["changed"] is True and first["partial"] is False  # a first write is a full one
    [moved] = lab.playbook(sync("eve leaves", pods=PODS[:1], **kube_proxy))
    assert moved["changed"] is True and moved["partial"] is True
    applied = moved["applied"].splitlines()
    assert "flush table ip kube-proxy" not in applied and applied[0] == "add table ip kube-proxy"
    eve = "endpoint-7QPTWD6I-default/app-service/tcp/__10.0.0.21/8080"  # its chain and its counter go
    assert [line for line in applied if line.startswith("delete ")] == [
        "delete counter ip kube-proxy " + eve, "delete chain ip kube-proxy " + eve]
    assert not any(line.startswith(("\tchain nat-", "\tchain filter-", "\tmap ")) for line in applied)
    assert set(curl_hits(lab)) == {"adam"}
    partial = lab.run(["nft", "-s", "list", "table", "ip", "kube-proxy"]).stdout
    [again] = lab.playbook(sync("again", pods=PODS[:1], **kube_proxy))
    assert again["changed"] is False and again["digest_hit"] is True
    # The same model written in full from nothing lists the same.
    lab.playbook("- name: absent\n  k8slab.kube_proxy.proxy_sync: {state: absent, state_dir: %s}\n" % STATE_DIR)
    [full] = lab.playbook(sync("from nothing", pods=PODS[:1], **kube_proxy))
    assert full["partial"] is False and lab.run(["nft", "-s", "list", "table", "ip", "kube-proxy"]).stdout == partial
    # A table changed behind the module's back is read and written in full, not trusted.
    lab.run(["nft", "flush", "chain", "ip", "kube-proxy", "services"])
    [repaired] = lab.playbook(sync("eve is back", **kube_proxy))
    assert repaired["changed"] is True and repaired["partial"] is False
    assert set(curl_hits(lab)) == {"adam", "eve"}


@needs_nft
def test_nftables_partial_sync_deletes_a_gone_services_chains_with_its_map_element(lab):
    """kube-proxy keeps a deleted Service's chains, flushed, for a later sync (kernels before 6.2 refuse to delete a
    chain a just-removed map element named); the partial sync here removes the element and deletes the chains in
    one transaction, which this kernel accepts (differences.yml, nft-stale-chains)."""
    kube_proxy = dict(layout="kube-proxy", backend="nftables")
    other = {"metadata": {"name": "other"}, "spec": dict(SERVICE["spec"], clusterIP="10.96.0.2")}
    lab.playbook(sync("two Services", services=[SERVICE, other], **kube_proxy))
    [gone] = lab.playbook(sync("other is deleted", **kube_proxy))
    assert gone["changed"] is True and gone["partial"] is True
    applied = gone["applied"].splitlines()
    deleted = [line for line in applied if line.startswith("delete chain ") and "default/other/" in line]
    assert sorted(line.split()[4].split("-")[0] for line in deleted) == ["endpoint", "endpoint", "service"]
    assert applied.index("flush map ip kube-proxy service-ips") < applied.index(deleted[0])
    chains = lab.run(["nft", "list", "chains", "ip"]).stdout
    assert "default/other/" not in chains and "default/app-service/" in chains
    assert set(curl_hits(lab)) == {"adam", "eve"}


@needs_nft
def test_switching_backends_removes_the_other_after_writing(lab):
    lab.playbook(sync(layout="kube-proxy"))
    [to_nft] = lab.playbook(sync(layout="kube-proxy", backend="nftables"))
    assert to_nft["removed_backend"] == "iptables" and user_chains(lab, "filter") == [] and user_chains(lab) == ["DOCKER"]
    assert set(curl_hits(lab)) == {"adam", "eve"}
    [back] = lab.playbook(sync(backend="iptables"))
    assert back["removed_backend"] == "nftables" and "kube-proxy" not in nft_tables(lab)
    assert set(curl_hits(lab)) == {"adam", "eve"}


def test_drain_takes_out_pods_that_do_not_run(lab):
    lab.playbook(sync())
    lab.run(["ip", "netns", "del", "netns_eve"])
    [drain] = lab.playbook(sync(drain=True))
    assert drain["changed"] is True and drain["waiting"] == ["eve"]
    assert "EVE-HTTP" not in user_chains(lab) and curl_hits(lab, 10) == {"adam": 10}
    [again] = lab.playbook(sync(drain=True))
    assert again["changed"] is False


def test_drain_names_the_namespaces_of_pods_leaving(lab):
    """site.yml stops apps before the pod network converges only when the drain names a pod's namespace that
    leaves: one a sync was given as this node's pod, or any with no sync record yet."""
    lab.run(["ip", "netns", "add", "netns_kube"])
    [fresh] = lab.playbook(sync(drain=True))
    assert fresh["complete"] is False and fresh["leaving_netns"] == ["netns_kube"]
    [synced] = lab.playbook(sync())
    assert synced["leaving_netns"] == []
    [same] = lab.playbook(sync(drain=True))
    assert same["digest_hit"] is True and same["leaving_netns"] == []  # netns_kube: never given as a pod
    [leaving] = lab.playbook(sync(drain=True, pods=PODS[:1]))
    assert leaving["digest_hit"] is False and leaving["leaving_netns"] == ["netns_eve"]
    [checked] = lab.playbook(sync(drain=True, pods=PODS[:1]), check=True)
    assert checked["leaving_netns"] == ["netns_eve"]
    [final] = lab.playbook(sync(pods=PODS[:1]))
    assert final["leaving_netns"] == []
    [still] = lab.playbook(sync(drain=True, pods=PODS[:1]))  # a run killed before the pod network converged
    assert still["digest_hit"] is True and still["leaving_netns"] == ["netns_eve"]
    lab.run(["ip", "netns", "del", "netns_eve"])
    [gone] = lab.playbook(sync(drain=True, pods=PODS[:1]))
    assert gone["leaving_netns"] == []
    lab.run(["ip", "netns", "del", "netns_kube"])


def test_drain_on_a_fresh_node_writes_nothing(lab):
    [result] = lab.playbook(sync(drain=True))
    assert result["changed"] is False and user_chains(lab) == ["DOCKER"]


def test_foreign_chain_from_the_full_model_is_refused_by_drain_before_any_change(lab):
    lab.playbook(sync())
    lab.run(["iptables", "-t", "nat", "-N", "KUBE-SERVICES"])
    before = lab.run(["iptables-save", "-t", "nat"]).stdout.splitlines()[1:-1]
    kube = PODS + [{"name": "kube", "address": "10.0.0.31", "labels": {"component": "app"}}]
    service = dict(SERVICE, spec=dict(SERVICE["spec"], ports=[{"name": "services", "port": 8080, "targetPort": 8080}]))
    [result] = lab.playbook(sync(drain=True, pods=kube, services=[service]), expect_failure=True)
    assert "chain KUBE-SERVICES already exists in table nat" in result["msg"]
    assert lab.run(["iptables-save", "-t", "nat"]).stdout.splitlines()[1:-1] == before


def test_check_mode_returns_the_plan_and_whether_the_node_is_in_sync(lab):
    [planned] = lab.playbook(sync(return_plan=True), check=True)
    assert planned["changed"] is True and planned["in_sync"] is False and user_chains(lab) == ["DOCKER"]
    assert [e["pod"] for e in planned["services"][0]["endpoints"]] == ["eve", "adam"]
    lab.playbook(sync())
    [checked] = lab.playbook(sync(return_plan=True), check=True, diff=True)
    assert checked["changed"] is False and checked["in_sync"] is True
    assert checked["paths"]["default/app-service:8080"] == ["APP-SERVICE", "EDEN-SVC-HTTP", "EVE-HTTP", "ADAM-HTTP"]


def test_absent_leaves_only_what_was_there(lab):
    before = lab.run(["iptables-save", "-t", "nat"]).stdout.splitlines()[1:-1]
    lab.playbook(sync(layout="kube-proxy"))
    [gone] = lab.playbook("- name: absent\n  k8slab.kube_proxy.proxy_sync: {state: absent, state_dir: %s}\n" % STATE_DIR)
    assert gone["changed"] is True and user_chains(lab, "filter") == []
    assert lab.run(["iptables-save", "-t", "nat"]).stdout.splitlines()[1:-1] == before
    assert lab.run(["ls", "/run"]).stdout.split().count("k8slab") == 0


UDP_SERVICE = {"metadata": {"name": "app-dns"},
               "spec": {"clusterIP": "10.96.0.10", "selector": {"component": "app"},
                        "ports": [{"name": "dns", "protocol": "UDP", "port": 53, "targetPort": 8080}]}}
SEND_UDP = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
            "s.bind(('10.0.0.1', 40053)); s.sendto(b'x', ('10.96.0.10', 53))")
needs_conntrack = pytest.mark.skipif(not shutil.which("conntrack"), reason="conntrack missing (Debian package conntrack)")


def udp_entries(box):
    """The endpoint each UDP conntrack entry to the cluster IP was DNATed to (its reply source)."""
    out = box.run(["conntrack", "-L", "-p", "udp", "--orig-dst", "10.96.0.10"], check=False).stdout
    return sorted(word.split("=")[1] for line in out.splitlines() for word in line.split()[5:] if word.startswith("src="))


@needs_conntrack
@pytest.mark.parametrize("cleanup", [True, False])
def test_udp_entries_of_a_removed_pod_are_deleted(lab, cleanup):
    services = [SERVICE, UDP_SERVICE]
    lab.playbook(sync("both pods", services=services, layout="kube-proxy"))
    lab.run(["python3", "-c", SEND_UDP])  # one entry from a fixed source port, DNATed to one pod
    [answering] = udp_entries(lab)
    staying = [pod for pod in PODS if pod["address"] != answering]
    [predicted] = lab.playbook(sync("predict", services=services, layout="kube-proxy", pods=staying,
                                    conntrack_cleanup=cleanup), check=True)
    assert udp_entries(lab) == [answering]  # check mode deletes nothing
    [result] = lab.playbook(sync("one pod left", services=services, layout="kube-proxy", pods=staying,
                                 conntrack_cleanup=cleanup))
    if cleanup:
        deleted = [(item["endpoint"], item["deleted"]) for item in result["conntrack_deleted"]]
        assert deleted == [(answering, 1)], result["conntrack_deleted"]
        assert [(item["endpoint"], item["deleted"]) for item in predicted["conntrack_deleted"]] == deleted
        assert udp_entries(lab) == []
    else:
        assert "conntrack_deleted" not in result
        assert udp_entries(lab) == [answering]  # the stale entry stays until it expires
