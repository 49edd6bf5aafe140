# SPDX-License-Identifier: GPL-3.0-or-later
# shellcheck shell=bash
# Checks of what the collection ships, for scripts/test's build layer: the
# tarball holds no part of the test bench, and the Execution Environment
# definition turns into a build context without any registry.

# Paths (relative to the collection root) that a user of the installed
# collection never runs; galaxy.yml's build_ignore leaves them out.
K8SLAB_DEV_ONLY_RE='^(scripts|images|molecule|benchmarks|\.ci|\.github|\.venv(-[^/]*)?|\.cache|\.collections|\.bench|\.pytest_cache|\.hypothesis|tests/output|context)(/|$)|^(constraints(-[^/]*)?\.txt|requirements-test\.txt|pi\.ini|ansible\.cfg|\.ansible-lint|\.yamllint|\.gitignore|changelogs/\.plugin-cache\.yaml)$|(^|/)__pycache__(/|$)|\.pyc$'
# Paths the tarball must hold: what the metadata and the EE point at.
K8SLAB_SHIPPED=(
  MANIFEST.json FILES.json README.md COPYING CHANGELOG.rst changelogs/changelog.yaml
  meta/runtime.yml meta/execution-environment.yml requirements.txt bindep.txt
  plugins/modules/iptables_chains.py roles/pod_network/tasks/main.yml playbooks/site.yml
  examples/execution-environment.yml examples/ee-requirements.yml
)

# k8slab_tarball_check TARBALL: list the tarball, fail on dev-only paths or missing ones.
k8slab_tarball_check() {
  local tarball=$1 listing bad path rc=0
  listing=$(tar -tzf "$tarball" | sed -e 's|^\./||' -e 's|/$||' | grep -v '^$' | sort) || return 1
  echo "$(echo "$listing" | wc -l) paths in $(basename "$tarball")"
  bad=$(echo "$listing" | grep -E "$K8SLAB_DEV_ONLY_RE")
  if [ -n "$bad" ]; then
    echo "FAILED: dev-only paths in the tarball (add them to build_ignore in galaxy.yml):"
    while read -r path; do echo "  $path"; done <<< "$bad"
    rc=1
  fi
  for path in "${K8SLAB_SHIPPED[@]}"; do
    grep -qxF "$path" <<< "$listing" || { echo "FAILED: $path missing from the tarball"; rc=1; }
  done
  [ $rc -eq 0 ] && echo "tarball: no dev-only path; ${#K8SLAB_SHIPPED[@]} required paths present"
  return $rc
}

# k8slab_ee_check REPO COLLECTIONS_PATH TARBALL: `ansible-builder create` turns
# the sample examples/execution-environment.yml into a build context with the
# built tarball in it (offline: nothing is fetched before `build`), and
# `ansible-builder introspect` finds the installed collection's Python and
# system requirements through meta/execution-environment.yml.
k8slab_ee_check() {
  local repo=$1 installed=$2 tarball=$3 work rc=0 deps want name
  work=$(mktemp -d /tmp/k8slab-ee.XXXXXX)
  mkdir -p "$work/examples"
  cp "$repo/examples/execution-environment.yml" "$repo/examples/ee-requirements.yml" "$work/examples/"
  cp "$tarball" "$work/"
  if (cd "$work" && ansible-builder create -f examples/execution-environment.yml --context context \
        --output-filename Containerfile -v 1); then
    for want in context/Containerfile context/_build/requirements.yml context/_build/scripts/assemble; do
      [ -f "$work/$want" ] || { echo "FAILED: ansible-builder create made no $want"; rc=1; }
    done
    # The galaxy stage runs in /build, a copy of context/_build.
    for name in $(python -c 'import sys, yaml; print(*(c["name"] for c in yaml.safe_load(open(sys.argv[1]))["collections"]))' \
                    "$work/context/_build/requirements.yml"); do
      if [ -f "$work/context/_build/$name" ]; then
        echo "the EE installs $name, the tarball just built"
      else
        echo "FAILED: examples/ee-requirements.yml names $name, not in the build context (want $(basename "$tarball"); galaxy.yml's version?)"; rc=1
      fi
    done
  else
    echo "FAILED: ansible-builder create"; rc=1
  fi
  deps=$(ansible-builder introspect --sanitize "$installed") || { echo "FAILED: ansible-builder introspect"; rc=1; }
  echo "$deps"
  for want in "netaddr" "iproute2 \[platform:dpkg\]" "iptables \[platform:dpkg\]" "nftables" "curl"; do
    echo "$deps" | grep -q "^- '$want.*from collection k8slab.kube_proxy'" ||
      { echo "FAILED: introspect does not list $want for k8slab.kube_proxy"; rc=1; }
  done
  rm -rf "$work"
  [ $rc -eq 0 ] && echo "execution environment: create and introspect ok"
  return $rc
}

# galaxy-importer (the checks Galaxy runs on an upload) in a venv of its own,
# at the versions of constraints-galaxy-importer.txt, on the newest core's Python;
# kept in $K8SLAB_CACHE and reinstalled when the pins or the Python change.
k8slab_galaxy_importer_ensure() {
  local venv="$K8SLAB_CACHE/galaxy-importer/venv" pins="$K8SLAB_REPO/constraints-galaxy-importer.txt" py want
  if ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
    py=$(k8slab_core_python "${K8SLAB_CORES[-1]}") || return 1
    k8slab_log "creating $venv with $py"
    rm -rf "$venv"
    "$py" -m venv "$venv" >&2 || { echo "FAILED: $py -m venv $venv" >&2; return 1; }
  fi
  want=$({ cat "$pins" && "$venv/bin/python" -V; } | sha256sum | cut -c1-16) || return 1
  if [ "$(cat "$venv/.k8slab-requirements" 2>/dev/null)" != "$want" ]; then
    k8slab_log "pip install galaxy-importer into $venv"
    "$venv/bin/python" -m pip install -q galaxy-importer -c "$pins" >&2 ||
      { echo "FAILED: pip install galaxy-importer into $venv (output above)" >&2; return 1; }
    echo "$want" > "$venv/.k8slab-requirements" || return 1
  fi
  echo "$venv"
}

# k8slab_galaxy_importer_check TARBALL: galaxy-importer on the built tarball,
# offline: ansible-doc for every plugin, the metadata, the changelog, the EE
# files. Without ansible-test (Galaxy runs it in a container, off by default)
# and without its ansible-lint run: the lint layer runs ansible-lint with the
# same production profile on the whole tree, without the importer's skip list,
# and the importer's 180-second limit on it is hit on a busy 2-core machine
# (Galaxy itself never fails an import on lint). Passes when the importer
# succeeds and logs no warning or error.
k8slab_galaxy_importer_check() {
  local tarball=$1 venv work rc=0
  venv=$(k8slab_galaxy_importer_ensure) || return 1
  work=$(mktemp -d /tmp/k8slab-importer.XXXXXX) || return 1
  printf '%s\n' '[galaxy-importer]' 'run_ansible_test = False' 'run_ansible_lint = False' \
    'check_changelog = True' "tmp_root_dir = $work" "ansible_local_tmp = $work/ansible-tmp" > "$work/galaxy-importer.cfg"
  cp "$tarball" "$work/" || return 1
  (cd "$work" && GALAXY_IMPORTER_CONFIG="$work/galaxy-importer.cfg" PATH="$venv/bin:$PATH" \
     python -m galaxy_importer.main "$(basename "$tarball")") > "$work/importer.log" 2>&1 || rc=1
  cat "$work/importer.log"
  if grep -qE '^(WARNING|ERROR|CRITICAL): ' "$work/importer.log"; then
    echo "FAILED: galaxy-importer logged the warnings or errors above"; rc=1
  elif [ $rc -ne 0 ] || ! grep -q '^Importer processing completed successfully' "$work/importer.log"; then
    echo "FAILED: galaxy-importer did not complete"; rc=1
  else
    echo "galaxy-importer: $(python -c 'import json, sys; d = json.load(open(sys.argv[1])); print(len(d["contents"]), "contents, requires_ansible", d["requires_ansible"])' "$work/importer_result.json")"
  fi
  rm -rf "$work"
  return $rc
}
