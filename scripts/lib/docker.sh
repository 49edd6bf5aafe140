# SPDX-License-Identifier: GPL-3.0-or-later
# shellcheck shell=bash
# The Docker engine and the lab node image.

# Use the daemon that answers; otherwise (root on Debian) install docker.io and
# start dockerd in the background without systemd. Our dockerd never touches
# the host's network: no docker0 bridge, no iptables/ip6tables rules, no
# ip_forward change (every lab container runs with --network none).
k8slab_docker_ensure() {
  if docker info >/dev/null 2>&1; then return 0; fi
  k8slab_is_root || k8slab_die "no docker daemon answers; start one (or run as root to have it started)"
  command -v dockerd >/dev/null 2>&1 || k8slab_apt_ensure "${K8SLAB_APT_DOCKER[@]}"
  local log="$K8SLAB_CACHE/dockerd.log"
  if ! pgrep -x dockerd >/dev/null 2>&1; then
    mkdir -p "$K8SLAB_CACHE" || k8slab_die "cannot create $K8SLAB_CACHE"
    k8slab_log "starting dockerd --bridge=none --iptables=false --ip6tables=false --ip-forward=false (log: $log)"
    # setsid: the daemon outlives this script and its process group.
    setsid dockerd --bridge=none --iptables=false --ip6tables=false --ip-forward=false \
      >>"$log" 2>&1 </dev/null &
  else
    log="the log of the dockerd already running"
  fi

  local _
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  k8slab_die "dockerd did not answer within 60s (see $log); start a Docker daemon and run this again"
}

# Build the node image unless the one for the current recipe exists; exports
# K8SLAB_NODE_IMAGE (create.yml starts containers from it).
k8slab_node_image_ensure() {
  if [ -n "${K8SLAB_NODE_IMAGE:-}" ] && docker image inspect "$K8SLAB_NODE_IMAGE" >/dev/null 2>&1; then
    return 0
  fi
  k8slab_apt_ensure "${K8SLAB_APT_IMAGE[@]}"
  local start; start=$(k8slab_now)
  K8SLAB_NODE_IMAGE=$(bash "$K8SLAB_REPO/scripts/build-node-image.sh") ||
    k8slab_die "building the node image failed (output above); scripts/build-node-image.sh runs it alone"
  export K8SLAB_NODE_IMAGE
  k8slab_log "node image $K8SLAB_NODE_IMAGE ready ($(k8slab_elapsed "$start")s)"
}
