# SPDX-License-Identifier: GPL-3.0-or-later
# shellcheck shell=bash
# A snapshot of the host's own network namespace, to prove the tests leave it
# alone: links, addresses, routes, named namespaces, ip_forward, nfacct counters
# and every iptables/ip6tables rule (Docker's included), packet/byte counters removed.
# Runs after the set-up installed every package, so both snapshots see the
# same tools.

k8slab_hostnet_snapshot() {
  local out=$1
  {
    if command -v ip >/dev/null 2>&1; then
      echo "## ip -j link"; ip -j link show | k8slab_hostnet_json
      echo "## ip -j addr"; ip -j addr show | k8slab_hostnet_json
      echo "## ip route"; ip route show table all
      echo "## ip -6 route"; ip -6 route show table all 2>/dev/null
      echo "## ip netns"; ip netns list
    else
      echo "## no ip command (iproute2): links, addresses and routes not compared"
    fi
    echo "## net.ipv4.ip_forward"; cat /proc/sys/net/ipv4/ip_forward
    # nfacct counters live outside every table (proxy_sync makes kube-proxy's).
    echo "## nfacct counters"
    "${K8SLAB_VENV}/bin/python" -c '
import sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.k8slab.kube_proxy.plugins.module_utils import nfacct
print("\n".join(nfacct.counters()))
' "$K8SLAB_REPO/.collections" 2>&1
    local save
    for save in iptables-save ip6tables-save iptables-legacy-save ip6tables-legacy-save; do
      command -v "$save" >/dev/null 2>&1 || continue
      echo "## $save"
      "$save" 2>/dev/null | sed -e '/^#/d' -e 's/\[[0-9]*:[0-9]*\]/[0:0]/'
    done
  } > "$out"
}

# One object per line, sorted keys; drop what changes on its own (address
# lifetimes count down).
k8slab_hostnet_json() {
  "${K8SLAB_VENV}/bin/python" -c '
import json, sys
data = json.load(sys.stdin)
for item in data:
    for addr in item.get("addr_info", []):
        addr.pop("valid_life_time", None)
        addr.pop("preferred_life_time", None)
    print(json.dumps(item, sort_keys=True))
'
}
