# SPDX-License-Identifier: GPL-3.0-or-later
# shellcheck shell=bash
# Shared helpers for scripts/lab, scripts/test and scripts/build-node-image.sh:
# where the repository is, logging, and the cache folders everything
# downloaded or built lives in.

K8SLAB_REPO=${K8SLAB_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
K8SLAB_CACHE=${K8SLAB_CACHE:-$K8SLAB_REPO/.cache}

# The ansible-core minors every test layer runs on, oldest first (meta/runtime.yml
# claims the oldest and no upper bound; tests/unit/test_packaging.py keeps the
# two, constraints-<core>.txt and the CI workflow's matrix in step). The newest is
# the default, since it is what `pip install ansible-core` gives a user today.
K8SLAB_CORES=(2.19 2.20 2.21)
K8SLAB_ANSIBLE_CORE=${K8SLAB_ANSIBLE_CORE:-${K8SLAB_CORES[-1]}}
# K8SLAB_VENV is the default core's venv (.venv); another core's is the same
# path with -<core> appended (.venv-2.19), so cores never rebuild each other's.
K8SLAB_VENV=${K8SLAB_VENV:-$K8SLAB_REPO/.venv}
if [ "$K8SLAB_ANSIBLE_CORE" != "${K8SLAB_CORES[-1]}" ] && [ "${K8SLAB_VENV%-"$K8SLAB_ANSIBLE_CORE"}" = "$K8SLAB_VENV" ]; then
  K8SLAB_VENV="$K8SLAB_VENV-$K8SLAB_ANSIBLE_CORE"
fi
export K8SLAB_REPO K8SLAB_CACHE K8SLAB_VENV K8SLAB_ANSIBLE_CORE

k8slab_log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
k8slab_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# For `set -eE` scripts: any command that fails outside an explicit check
# names itself instead of ending the script silently.
k8slab_trap_errors() {
  # shellcheck disable=SC2154  # rc is assigned inside the trap
  trap 'rc=$?; printf "error: %s: \`%s\` failed with exit %s (line %s)\n" "${0##*/}" "$BASH_COMMAND" "$rc" "$LINENO" >&2' ERR
}

k8slab_is_root() { [ "$(id -u)" -eq 0 ]; }
k8slab_is_debian() { [ -r /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; }

# Seconds since the epoch with a fraction, for timing layers and steps.
k8slab_now() { date +%s.%N; }
k8slab_elapsed() { awk -v a="$1" -v b="$(k8slab_now)" 'BEGIN { printf "%.0f", b - a }'; }

# The Debian archive this machine's apt already uses (so debootstrap needs no
# mirror name of ours): the first URI of a `deb` source for a plain Debian
# suite (bookworm, trixie, stable, ...; not -updates, -security, nor another
# distribution's), from deb822 files (sources.list.d/*.sources) first, then
# one-line lists. Prints nothing when there is none.
# $1: the apt configuration folder (default /etc/apt).
K8SLAB_DEBIAN_SUITES='^(buster|bullseye|bookworm|trixie|forky|duke|sid|oldstable|stable|testing|unstable)$'

k8slab_debian_mirror() {
  local etc=${1:-/etc/apt} file
  local deb822=() lists=()
  for file in "$etc"/sources.list.d/*.sources; do [ -f "$file" ] && deb822+=("$file"); done
  for file in "$etc"/sources.list "$etc"/sources.list.d/*.list; do [ -f "$file" ] && lists+=("$file"); done
  {
    if [ ${#deb822[@]} -gt 0 ]; then
      awk -v suites_re="$K8SLAB_DEBIAN_SUITES" '
        function flush() {
          if (types ~ /(^| )deb( |$)/ && enabled != "no" && uris != "" && uris !~ /^cdrom:/) {
            n = split(suites, s, " ")
            for (i = 1; i <= n; i++) if (s[i] ~ suites_re) { split(uris, u, " "); print u[1]; found = 1; exit }
          }
          types = ""; uris = ""; suites = ""; enabled = ""
        }
        FNR == 1 { flush() }
        /^[ \t]*#/ { next }
        /^[ \t]*$/ { flush(); next }
        {
          key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^[ \t]+/, "")
          if (key == "types") types = $0
          else if (key == "uris") uris = $0
          else if (key == "suites") suites = $0
          else if (key == "enabled") enabled = tolower($0)
        }
        END { if (!found) flush() }
      ' "${deb822[@]}"
    fi
    if [ ${#lists[@]} -gt 0 ]; then
      sed -e 's/#.*//' -e 's/\[[^]]*\]//' "${lists[@]}" |
        awk -v suites_re="$K8SLAB_DEBIAN_SUITES" '$1 == "deb" && $3 ~ suites_re && $2 !~ /^cdrom:/ { print $2 }'
    fi
  } | head -n1
  return 0
}
