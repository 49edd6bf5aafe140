# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Print, as one JSON object, everything on a node that the lab may touch.

Run on the node (ansible.builtin.script) before site.yml and after teardown.yml;
the two outputs must be equal. Values that change without meaning anything
(interface indexes, packet counters, the order of lines) are left out, and so
are iptables tables that hold no rules and only ACCEPT policies: iptables-nft
cannot delete a table it once created, and an empty table filters nothing.
"""
from __future__ import annotations

import json
import os
import pwd
import grp
import subprocess
import sys

SYSCTLS = [
    "net/ipv4/ip_forward",
    "net/ipv4/conf/all/forwarding",
    "net/ipv6/conf/all/forwarding",
    "net/bridge/bridge-nf-call-iptables",
]
# Places the roles write to, listed in full (None when missing).
TREES = ["/etc/netns", "/var/lib/k8slab", "/etc/sysctl.d"]
# Searched for anything named *k8slab* (files, directories, units, binaries).
NAME_ROOTS = ["/etc", "/usr", "/var", "/opt", "/srv", "/root", "/home", "/run"]


def run(argv, missing_ok=False):
    try:
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        if missing_ok:
            return None
        raise
    if result.returncode != 0:
        if missing_ok:
            return None
        raise SystemExit("%s failed (%d): %s" % (" ".join(argv), result.returncode, result.stderr.strip()))
    return result.stdout


def ip_json(*args):
    return json.loads(run(["ip", "-json"] + list(args)) or "[]")


def links():
    out = []
    for link in ip_json("-details", "link", "show"):
        out.append({
            "ifname": link.get("ifname"),
            "kind": (link.get("linkinfo") or {}).get("info_kind"),
            "master": link.get("master"),
            "up": "UP" in link.get("flags", []),
            "mtu": link.get("mtu"),
        })
    return sorted(out, key=lambda item: item["ifname"] or "")


def addresses():
    return {link["ifname"]: sorted("%s/%s" % (a["local"], a["prefixlen"]) for a in link.get("addr_info", []))
            for link in ip_json("address", "show")}


def routes(family):
    keep = ("type", "dst", "gateway", "dev", "protocol", "scope", "prefsrc", "metric", "table")
    found = [{key: route[key] for key in keep if key in route} for route in ip_json(family, "route", "show", "table", "all")]
    return sorted(found, key=lambda route: json.dumps(route, sort_keys=True))


def iptables(command):
    """{table: [meaningful lines]} of one iptables-save flavour, or None when it is not installed."""
    text = run([command], missing_ok=True)
    if text is None:
        return None
    tables, table = {}, None
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:]
            tables[table] = []
        elif line.startswith(":"):
            name, policy = line[1:].split()[:2]
            if policy == "ACCEPT":
                continue  # a built-in chain with the default policy
            tables[table].append(":%s %s" % (name, policy))
        elif line.startswith("-"):
            tables[table].append(line)
    return {name: lines for name, lines in sorted(tables.items()) if lines}


def sysctls():
    values = {}
    for key in SYSCTLS:
        try:
            with open(os.path.join("/proc/sys", key)) as handle:
                values[key.replace("/", ".")] = handle.read().strip()
        except OSError:
            values[key.replace("/", ".")] = None
    return values


def tree(root):
    if not os.path.lexists(root):
        return None
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            entries.append(path + ("/" if os.path.isdir(path) else ""))
    return sorted(entries)


def named_k8slab():
    found = []
    for root in NAME_ROOTS:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not os.path.ismount(os.path.join(dirpath, d))]
            found.extend(os.path.join(dirpath, name) for name in dirnames + filenames if "k8slab" in name)
    return sorted(found)


def units():
    listed = run(["systemctl", "list-units", "--all", "--plain", "--no-legend", "--no-pager", "k8slab*"], missing_ok=True)
    files = run(["systemctl", "list-unit-files", "--plain", "--no-legend", "--no-pager", "k8slab*"], missing_ok=True)
    return {"units": sorted((listed or "").splitlines()), "unit_files": sorted((files or "").splitlines())}


def accounts():
    return {"users": sorted(u.pw_name for u in pwd.getpwall() if "k8slab" in u.pw_name),
            "groups": sorted(g.gr_name for g in grp.getgrall() if "k8slab" in g.gr_name)}


def main():
    netns = ip_json("netns", "list")
    snapshot = {
        "links": links(),
        "addresses": addresses(),
        "routes_ipv4": routes("-4"),
        "routes_ipv6": routes("-6"),
        "netns": sorted(item["name"] for item in netns),
        "iptables_nft": iptables("iptables-nft-save"),
        "iptables_legacy": iptables("iptables-legacy-save"),
        "sysctl": sysctls(),
        "trees": {root: tree(root) for root in TREES},
        "named_k8slab": named_k8slab(),
        "systemd": units(),
        "accounts": accounts(),
    }
    json.dump(snapshot, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
