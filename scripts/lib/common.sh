# shellcheck shell=bash
# Shared helpers for scripts/lab and scripts/test: where the repository is,
# logging, and the cache folders everything downloaded or built lives in.

K8SLAB_REPO=${K8SLAB_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
K8SLAB_CACHE=${K8SLAB_CACHE:-$K8SLAB_REPO/.cache}
K8SLAB_VENV=${K8SLAB_VENV:-$K8SLAB_REPO/.venv}
export K8SLAB_REPO K8SLAB_CACHE K8SLAB_VENV

k8slab_log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
k8slab_warn() { printf 'warning: %s\n' "$*" >&2; }
k8slab_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

k8slab_is_root() { [ "$(id -u)" -eq 0 ]; }
k8slab_is_debian() { [ -r /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; }

# Seconds since the epoch with a fraction, for timing layers and steps.
k8slab_now() { date +%s.%N; }
k8slab_elapsed() { awk -v a="$1" -v b="$(k8slab_now)" 'BEGIN { printf "%.0f", b - a }'; }
