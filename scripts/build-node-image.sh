#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Build the lab node image (Debian, systemd as PID 1, everything the roles need)
# without any container registry: debootstrap into a folder, then `docker import`.
# K8SLAB_NODE_RELEASE picks the Debian release (default bookworm; trixie too).
# The Debian archive is the one this machine's apt uses (K8SLAB_DEBIAN_MIRROR overrides).
# The tag is <release>-<hash of this recipe>, so the image is rebuilt only when
# the recipe changes; <name>:<release> names the newest of a release, and
# <name>:latest the newest of the default release.
# Prints the image reference on stdout; progress goes to stderr.
# shellcheck source-path=SCRIPTDIR
set -eEuo pipefail

# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
k8slab_trap_errors

repo=$K8SLAB_REPO
name=${K8SLAB_NODE_IMAGE_NAME:-k8slab/node}
mirror=${K8SLAB_DEBIAN_MIRROR:-$(k8slab_debian_mirror)}
[ -n "$mirror" ] || k8slab_die "no Debian archive found in this machine's apt sources (/etc/apt/sources.list.d/*.sources, /etc/apt/sources.list); set K8SLAB_DEBIAN_MIRROR to a Debian mirror URL"
default_release=bookworm
suite=${K8SLAB_NODE_RELEASE:-$default_release}
[[ $suite =~ $K8SLAB_DEBIAN_SUITES ]] ||
  k8slab_die "K8SLAB_NODE_RELEASE=$suite is no Debian release this script knows (bookworm, trixie, ...)"
packages_file="$repo/images/node/packages.txt"   # shared with images/node/Dockerfile
[ -r "$packages_file" ] || k8slab_die "cannot read $packages_file"
mapfile -t packages < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$packages_file")
# debootstrap keeps the .debs it downloads here, so a rebuild downloads nothing.
debs=$K8SLAB_CACHE/debootstrap

recipe_hash=$( { cat "$0" "$packages_file"; printf '%s\n' "$mirror" "$suite" "${packages[@]}"; } | sha256sum | cut -c1-12)
image="$name:$suite-$recipe_hash"

log() { printf '%s\n' "$*" >&2; }

if docker image inspect "$image" >/dev/null 2>&1 && [ "${1:-}" != "--force" ]; then
  log "node image $image is up to date"
  echo "$image"
  exit 0
fi

command -v debootstrap >/dev/null || k8slab_die "debootstrap is missing (apt-get install debootstrap)"
docker info >/dev/null 2>&1 || k8slab_die "no docker daemon answers (scripts/lab up and scripts/test start one)"

work=$(mktemp -d /var/tmp/k8slab-rootfs.XXXXXX) || k8slab_die "mktemp in /var/tmp failed"
cleanup() { umount -R "$work/rootfs/proc" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
rootfs="$work/rootfs"

log "debootstrap $suite from $mirror into $rootfs (a few minutes)"
include=$(IFS=,; echo "${packages[*]}")
mkdir -p "$debs"
debootstrap --variant=minbase --cache-dir="$debs" --include="$include" "$suite" "$rootfs" "$mirror" >&2 ||
  k8slab_die "debootstrap $suite from $mirror failed (output above); set K8SLAB_DEBIAN_MIRROR to a reachable Debian mirror"

# A node that needs no network: no apt lists, no docs, no caches in the image.
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* \
       "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/*.log
# docker import takes no STOPSIGNAL: `docker run --stop-signal SIGRTMIN+3` sets it.
# systemd in a container: no getty, no udev triggers, no network waits.
for unit in getty.target console-getty.service systemd-udevd.service systemd-udev-trigger.service \
            systemd-networkd-wait-online.service systemd-resolved.service apt-daily.timer \
            apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
  ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
echo k8slab-node > "$rootfs/etc/hostname"
: > "$rootfs/etc/machine-id"
printf 'nameserver 192.0.2.1\n' > "$rootfs/etc/resolv.conf"

log "docker import -> $image"
tar -C "$rootfs" -c . | docker import \
  --change 'CMD ["/sbin/init"]' \
  --change 'ENV container=docker' \
  - "$image" >&2 || k8slab_die "docker import of $rootfs as $image failed (output above)"
docker tag "$image" "$name:$suite"
[ "$suite" != "$default_release" ] || docker tag "$image" "$name:latest"
echo "$image"
