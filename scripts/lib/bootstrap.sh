# shellcheck shell=bash
# Everything the two entry points install, each step only when it is missing:
# Debian packages, the Python venv (.venv), community.docker taken from the
# `ansible` wheel (Galaxy may be unreachable), and ansible-test's pip bootstrap.
# Downloads and builds go to .cache/ and .venv/ (both gitignored).

# Debian packages the lab and the test layers need (binary they provide in brackets).
# shellcheck disable=SC2034  # used by scripts/test and scripts/lab
K8SLAB_APT_PACKAGES=(
  docker.io:dockerd iptables:iptables-save iproute2:ip debootstrap:debootstrap
  git:git util-linux:unshare jq:jq curl:curl ca-certificates:update-ca-certificates
  shellcheck:shellcheck nftables:nft
)
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
    dpkg-query -W -f='${Status}' "$name" 2>/dev/null | grep -q 'ok installed' && continue
    missing+=("$name")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  k8slab_is_debian || k8slab_die "missing packages: ${missing[*]} (install them; only Debian is bootstrapped automatically)"
  k8slab_is_root || k8slab_die "missing packages: ${missing[*]} (run as root, or: apt-get install ${missing[*]})"
  k8slab_log "apt-get install ${missing[*]}"
  local policy=/usr/sbin/policy-rc.d placed=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# k8slab: no service starts during package installation\nexit 101\n' > "$policy"
    chmod 755 "$policy"; placed=1
  fi
  local rc=0
  { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >&2 || rc=$?
  [ -n "$placed" ] && rm -f "$policy"
  [ $rc -eq 0 ] || k8slab_die "apt-get install ${missing[*]} failed"
}

# The python3 that builds the venv: the one on PATH if it can, else Debian's.
k8slab_python() {
  if command -v python3 >/dev/null 2>&1 && python3 -c 'import ensurepip, venv' 2>/dev/null; then
    command -v python3; return
  fi
  k8slab_apt_ensure python3-venv
  echo /usr/bin/python3
}

# .venv with requirements-test.txt installed at the exact versions of
# constraints.txt; reinstalled when either changes. Puts .venv/bin first on PATH.
k8slab_venv_ensure() {
  local stamp="$K8SLAB_VENV/.k8slab-requirements" want
  want=$(cat "$K8SLAB_REPO"/requirements*.txt "$K8SLAB_REPO/constraints.txt" | sha256sum | cut -c1-16)
  if ! "$K8SLAB_VENV/bin/python" -c 'import sys' 2>/dev/null; then
    local py; py=$(k8slab_python)
    k8slab_log "creating $K8SLAB_VENV with $py"
    rm -rf "$K8SLAB_VENV"
    "$py" -m venv "$K8SLAB_VENV" >&2 || k8slab_die "python3 -m venv failed"
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    k8slab_log "pip install -r requirements-test.txt into $K8SLAB_VENV"
    "$K8SLAB_VENV/bin/python" -m pip install -q -r "$K8SLAB_REPO/requirements-test.txt" \
      -c "$K8SLAB_REPO/constraints.txt" >&2 ||
      k8slab_die "pip install failed"
    echo "$want" > "$stamp"
  fi
  export PATH="$K8SLAB_VENV/bin:$PATH"
  export VIRTUAL_ENV="$K8SLAB_VENV"
}

# The first of the given paths that exists (for globs), or nothing.
k8slab_first_file() {
  local path
  for path in "$@"; do [ -e "$path" ] && { echo "$path"; return; }; done
}

# community.docker (the docker connection plugin molecule and the lab use),
# extracted from the `ansible` wheel into .cache/collections.
k8slab_collections_ensure() {
  local root="$K8SLAB_CACHE/collections"
  local dest="$root/ansible_collections/community/docker"
  local stamp="$root/.community.docker-from-ansible-$K8SLAB_ANSIBLE_WHEEL_VERSION"
  if [ ! -f "$stamp" ] || [ ! -f "$dest/MANIFEST.json" ]; then
    local wheels="$K8SLAB_CACHE/wheels" wheel
    mkdir -p "$wheels"
    wheel=$(k8slab_first_file "$wheels"/ansible-"$K8SLAB_ANSIBLE_WHEEL_VERSION"-*.whl)
    if [ -z "$wheel" ]; then
      k8slab_log "pip download ansible==$K8SLAB_ANSIBLE_WHEEL_VERSION (for community.docker)"
      "$K8SLAB_VENV/bin/python" -m pip download -q --no-deps -d "$wheels" "ansible==$K8SLAB_ANSIBLE_WHEEL_VERSION" >&2 ||
        k8slab_die "pip download ansible==$K8SLAB_ANSIBLE_WHEEL_VERSION failed"
      wheel=$(k8slab_first_file "$wheels"/ansible-"$K8SLAB_ANSIBLE_WHEEL_VERSION"-*.whl)
    fi
    k8slab_log "extracting community.docker from $(basename "$wheel")"
    rm -rf "$dest"
    "$K8SLAB_VENV/bin/python" - "$wheel" "$root" <<'PY' || k8slab_die "extracting community.docker failed"
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
    touch "$stamp"
  fi
  export ANSIBLE_COLLECTIONS_PATH="$K8SLAB_REPO/.collections:$root"
}

# ansible-test bootstraps pip in each venv it makes with get-pip.py from
# ci-files.testing.ansible.com. Offline, a stand-in in its cache folder installs
# pip from the wheel PyPI serves instead.
k8slab_ansible_test_cache_ensure() {
  local cache="$HOME/.ansible/test/cache" pkgdir pipver script
  pkgdir=$("$K8SLAB_VENV/bin/python" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))') ||
    k8slab_die "ansible-test is not installed in $K8SLAB_VENV"
  pipver=$(sed -n "s/^ *pip='\([0-9.]*\)',.*/\1/p" "$pkgdir/_internal/python_requirements.py" | head -n1)
  [ -n "$pipver" ] || k8slab_die "cannot tell which pip ansible-test wants"
  script="$cache/get_pip_${pipver//./_}.py"
  mkdir -p "$cache"
  if [ -z "$(k8slab_first_file "$cache"/pip-"$pipver"-*.whl)" ]; then
    k8slab_log "pip download pip==$pipver (ansible-test's pip bootstrap)"
    "$K8SLAB_VENV/bin/python" -m pip download -q --no-deps -d "$cache" "pip==$pipver" >&2 ||
      k8slab_die "pip download pip==$pipver failed"
  fi
  [ -f "$script" ] && return 0
  cat > "$script" <<PY
# Stand-in for get-pip.py, written by k8slab's scripts/lib/bootstrap.sh for
# hosts that cannot reach ci-files.testing.ansible.com: installs pip $pipver
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
