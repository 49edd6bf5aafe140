# SPDX-License-Identifier: GPL-3.0-or-later
# shellcheck shell=bash
# Everything the two entry points install, each step only when it is missing:
# Debian packages, the Python venv of the ansible-core under test (.venv for the
# newest, .venv-<core> for the others), community.docker taken from the
# `ansible` wheel (Galaxy may be unreachable), and ansible-test's pip bootstrap.
# Downloads and builds go to .cache/ and .venv*/ (all gitignored).
#
# Every step either succeeds or ends the script with `error: WHAT failed`
# and what to do next (k8slab_die); none may end a `set -e` script silently,
# and helpers that look for optional files never fail their caller.

# Debian packages by need (binary they provide after the colon). The test
# layers and scripts/lab ask only for what they use; lint, sanity and unit need
# nothing but the venv.
# shellcheck disable=SC2034  # used by scripts/test and scripts/lab
K8SLAB_APT_DOCKER=(docker.io:dockerd)
# shellcheck disable=SC2034
K8SLAB_APT_IMAGE=(debootstrap:debootstrap)
# shellcheck disable=SC2034
K8SLAB_APT_NETNS=(iptables:iptables-save iproute2:ip util-linux:unshare nftables:nft conntrack:conntrack)
# community.docker comes from this release of the `ansible` package on PyPI.
K8SLAB_ANSIBLE_WHEEL_VERSION=${K8SLAB_ANSIBLE_WHEEL_VERSION:-12.3.0}

# Install the given Debian packages when they are missing. Packages are given as
# NAME or NAME:COMMAND (checked with `command -v`, so a tool installed some other
# way counts too). Service start-up is blocked while apt runs: docker.io's
# postinst would otherwise start a stock dockerd that adds docker0 and iptables
# rules to the host.
k8slab_apt_ensure() {
  local spec name cmd missing=()
  for spec in "$@"; do
    name=${spec%%:*}; cmd=${spec#*:}
    if [ "$cmd" != "$spec" ] && command -v "$cmd" >/dev/null 2>&1; then continue; fi
    if dpkg-query -W -f='${Status}' "$name" 2>/dev/null | grep -q 'ok installed'; then continue; fi
    missing+=("$name")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  k8slab_is_debian || k8slab_die "missing packages: ${missing[*]} (install them; only Debian is bootstrapped automatically)"
  k8slab_is_root || k8slab_die "missing packages: ${missing[*]} (run as root, or: apt-get install ${missing[*]})"
  k8slab_log "apt-get install ${missing[*]}"
  local policy=${K8SLAB_POLICY_RC_D:-/usr/sbin/policy-rc.d} placed=""   # tests point it elsewhere
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# k8slab: no service starts during package installation\nexit 101\n' > "$policy" &&
      chmod 755 "$policy" && placed=1
  fi
  local rc=0
  { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >&2 || rc=$?
  if [ -n "$placed" ]; then rm -f "$policy"; fi
  [ $rc -eq 0 ] || k8slab_die "apt-get install ${missing[*]} failed (exit $rc, output above); fix apt (sources, network, a held lock) or install them by hand, then run this again"
}

# The Pythons a core's venv may be built on, the preferred one first. ansible-core's
# Requires-Python: 2.19 >=3.11, 2.20 and 2.21 >=3.12; each core prefers another
# one, so that the three cover Python 3.11 (Debian 12), 3.12 and 3.13 (Debian 13)
# on the controller. Fails for a core that is not in K8SLAB_CORES.
k8slab_core_pythons() {
  case $1 in
    2.19) echo 3.11 3.12 3.13 ;;
    2.20) echo 3.12 3.13 ;;
    2.21) echo 3.13 3.12 ;;
    *) return 1 ;;
  esac
}

# k8slab_find_python X.Y: a Python X.Y that can make venvs, or nothing (status 1):
# pythonX.Y on PATH (pyenv's shims answer only for its active versions), then
# pyenv's own installs, then /usr/bin.
k8slab_find_python() {
  local version=$1 cand
  for cand in "python$version" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/"python$version" \
              "/usr/bin/python$version"; do
    if "$cand" -c "import sys, ensurepip, venv; sys.exit('%d.%d' % sys.version_info[:2] != '$version')" \
         >/dev/null 2>&1; then
      readlink -f "$(command -v "$cand")"; return 0   # through a venv's link, to the Python itself
    fi
  done
  return 1
}

# The python that builds the venv of ansible-core $1: the first of its Pythons
# found, else Debian's python3 (with python3-venv) when it is one of them.
k8slab_core_python() {
  local core=$1 versions version py
  versions=$(k8slab_core_pythons "$core") ||
    k8slab_die "K8SLAB_ANSIBLE_CORE=$core: not a tested ansible-core (one of ${K8SLAB_CORES[*]})"
  for version in $versions; do
    py=$(k8slab_find_python "$version") && { echo "$py"; return 0; }
  done
  version=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || version=""
  if [ -n "$version" ] && [[ " $versions " == *" $version "* ]]; then
    k8slab_apt_ensure python3-venv
    echo /usr/bin/python3; return 0
  fi
  k8slab_die "ansible-core $core needs Python ${versions// / or } to make $K8SLAB_VENV, and none can make a venv here; install one (pyenv install ${versions%% *}; on Debian: apt-get install python3-venv), or choose another K8SLAB_ANSIBLE_CORE (${K8SLAB_CORES[*]})"
}

# The venv of K8SLAB_ANSIBLE_CORE on one of its Pythons, with requirements-test.txt
# installed at the exact versions of constraints.txt (every core) and
# constraints-<core>.txt (ansible-core and what differs per core); remade when
# its Python is not one of the core's, reinstalled when a file or the Python
# changes. Puts its bin/ first on PATH.
k8slab_venv_ensure() {
  local core=$K8SLAB_ANSIBLE_CORE stamp="$K8SLAB_VENV/.k8slab-requirements" want py have versions
  local constraints=("$K8SLAB_REPO/constraints.txt" "$K8SLAB_REPO/constraints-$core.txt")
  versions=$(k8slab_core_pythons "$core") ||
    k8slab_die "K8SLAB_ANSIBLE_CORE=$core: not a tested ansible-core (one of ${K8SLAB_CORES[*]})"
  have=$("$K8SLAB_VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || have=""
  if [ -z "$have" ] || [[ " $versions " != *" $have "* ]]; then
    py=$(k8slab_core_python "$core") || k8slab_die "no Python to make $K8SLAB_VENV with (see above)"
    k8slab_log "creating $K8SLAB_VENV for ansible-core $core with $py"
    rm -rf "$K8SLAB_VENV"
    "$py" -m venv "$K8SLAB_VENV" >&2 ||
      k8slab_die "$py -m venv $K8SLAB_VENV failed (output above); on Debian: apt-get install python3-venv"
    have=$("$K8SLAB_VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])') ||
      k8slab_die "$K8SLAB_VENV/bin/python does not run"
  fi
  want=$({ cat "$K8SLAB_REPO"/requirements*.txt "${constraints[@]}" && echo "python $have"; } | sha256sum | cut -c1-16) ||
    k8slab_die "cannot read requirements*.txt, constraints.txt and constraints-$core.txt in $K8SLAB_REPO"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    k8slab_log "pip install -r requirements-test.txt (ansible-core $core, Python $have) into $K8SLAB_VENV"
    "$K8SLAB_VENV/bin/python" -m pip install -q -r "$K8SLAB_REPO/requirements-test.txt" \
      -c "${constraints[0]}" -c "${constraints[1]}" >&2 ||
      k8slab_die "pip install -r requirements-test.txt into $K8SLAB_VENV failed (output above); check that pip reaches its index (pip config list), then run this again"
    echo "$want" > "$stamp" || k8slab_die "cannot write $stamp"
  fi
  export PATH="$K8SLAB_VENV/bin:$PATH"
  export VIRTUAL_ENV="$K8SLAB_VENV"
}

# The first of the given paths that exists (for globs), or nothing. Always
# succeeds: finding nothing is an answer, not a failure.
k8slab_first_file() {
  local path
  for path in "$@"; do
    if [ -e "$path" ]; then echo "$path"; return 0; fi
  done
  return 0
}

# The checkout as k8slab.kube_proxy, then community.docker when it was extracted.
k8slab_collections_path() {
  export ANSIBLE_COLLECTIONS_PATH="$K8SLAB_REPO/.collections:$K8SLAB_CACHE/collections"
}

# community.docker (the docker connection plugin molecule and the lab use),
# extracted from the `ansible` wheel into $K8SLAB_CACHE/collections.
k8slab_collections_ensure() {
  local root="$K8SLAB_CACHE/collections"
  local dest="$root/ansible_collections/community/docker"
  local stamp="$root/.community.docker-from-ansible-$K8SLAB_ANSIBLE_WHEEL_VERSION"
  local want="ansible==$K8SLAB_ANSIBLE_WHEEL_VERSION"
  if [ ! -f "$stamp" ] || [ ! -f "$dest/MANIFEST.json" ]; then
    local wheels="$K8SLAB_CACHE/wheels" wheel
    mkdir -p "$wheels" "$root" || k8slab_die "cannot create $wheels and $root"
    wheel=$(k8slab_first_file "$wheels"/ansible-"$K8SLAB_ANSIBLE_WHEEL_VERSION"-*.whl)
    if [ -z "$wheel" ]; then
      k8slab_log "pip download $want (for community.docker)"
      "$K8SLAB_VENV/bin/python" -m pip download -q --no-deps -d "$wheels" "$want" >&2 ||
        k8slab_die "pip download $want failed (output above); check that pip reaches its index (pip config list), or put the wheel in $wheels, then run this again"
      wheel=$(k8slab_first_file "$wheels"/ansible-"$K8SLAB_ANSIBLE_WHEEL_VERSION"-*.whl)
      [ -n "$wheel" ] || k8slab_die "pip download $want left no ansible-$K8SLAB_ANSIBLE_WHEEL_VERSION-*.whl in $wheels"
    fi
    k8slab_log "extracting community.docker from $(basename "$wheel")"
    rm -rf "$dest"
    "$K8SLAB_VENV/bin/python" - "$wheel" "$root" <<'PY' ||
import sys
import zipfile

wheel, root = sys.argv[1], sys.argv[2]
prefix = "ansible_collections/community/docker/"
with zipfile.ZipFile(wheel) as archive:
    members = [name for name in archive.namelist() if name.startswith(prefix)]
    if not members:
        sys.exit("no %s in %s" % (prefix, wheel))
    archive.extractall(root, members)
PY
      k8slab_die "extracting community.docker from $wheel failed (output above); delete the wheel and run this again"
    touch "$stamp" || k8slab_die "cannot write $stamp"
  fi
  k8slab_collections_path
}

# ansible-test bootstraps pip in each venv it makes with a get-pip.py it
# downloads from Ansible's CI file server. Offline, a stand-in in its cache
# folder installs pip from the pip wheel on the package index instead.
k8slab_ansible_test_cache_ensure() {
  local cache="$HOME/.ansible/test/cache" pkgdir pipver script wheel
  pkgdir=$("$K8SLAB_VENV/bin/python" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))') ||
    k8slab_die "ansible-test is not installed in $K8SLAB_VENV (delete $K8SLAB_VENV/.k8slab-requirements and run this again)"
  pipver=$(sed -n "s/^ *pip='\([0-9.]*\)',.*/\1/p" "$pkgdir/_internal/python_requirements.py" | head -n1) || pipver=""
  [ -n "$pipver" ] || k8slab_die "cannot tell which pip ansible-test wants (no pip='...' in $pkgdir/_internal/python_requirements.py)"
  script="$cache/get_pip_${pipver//./_}.py"
  mkdir -p "$cache" || k8slab_die "cannot create $cache"
  wheel=$(k8slab_first_file "$cache"/pip-"$pipver"-*.whl)
  if [ -z "$wheel" ]; then
    k8slab_log "pip download pip==$pipver (ansible-test's pip bootstrap)"
    "$K8SLAB_VENV/bin/python" -m pip download -q --no-deps -d "$cache" "pip==$pipver" >&2 ||
      k8slab_die "pip download pip==$pipver failed (output above); check that pip reaches its index (pip config list), then run this again"
  fi
  [ -f "$script" ] && return 0
  cat > "$script" <<PY || k8slab_die "cannot write $script"
# Stand-in for get-pip.py, written by k8slab's scripts/lib/bootstrap.sh for
# hosts that cannot reach Ansible's CI file server: installs pip $pipver
# from the wheel next to this file, with the options ansible-test passes.
import glob
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
WHEEL = sorted(glob.glob(os.path.join(HERE, "pip-$pipver-*.whl")))[-1]
sys.path.insert(0, WHEEL)
from pip._internal.cli.main import main  # noqa: E402

ARGS = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
sys.exit(main(["install", "--find-links", HERE] + ARGS))
PY
}
