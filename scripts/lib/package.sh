# shellcheck shell=bash
# Checks of what the collection ships, for scripts/test's build layer: the
# tarball holds no part of the test bench, and the Execution Environment
# definition turns into a build context without any registry.

# Paths (relative to the collection root) that a user of the installed
# collection never runs; galaxy.yml's build_ignore leaves them out.
K8SLAB_DEV_ONLY_RE='^(scripts|images|molecule|benchmarks|\.ci|\.github|\.venv|\.cache|\.collections|\.bench|\.pytest_cache|tests/output|context)(/|$)|^(constraints\.txt|requirements-test\.txt|pi\.ini|ansible\.cfg|\.ansible-lint|\.yamllint|\.gitignore|changelogs/\.plugin-cache\.yaml)$|(^|/)__pycache__(/|$)|\.pyc$'
# Paths the tarball must hold: what the metadata and the EE point at.
K8SLAB_SHIPPED=(
  MANIFEST.json FILES.json README.md COPYING CHANGELOG.rst changelogs/changelog.yaml
  meta/runtime.yml meta/execution-environment.yml requirements.txt bindep.txt
  plugins/modules/iptables_chains.py roles/pod_network/tasks/main.yml playbooks/site.yml
  examples/execution-environment.yml
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

# k8slab_ee_check REPO COLLECTIONS_PATH: `ansible-builder create` turns the
# sample examples/execution-environment.yml into a build context (offline:
# nothing is fetched before `build`), and `ansible-builder introspect` finds the
# installed collection's Python and system requirements through
# meta/execution-environment.yml.
k8slab_ee_check() {
  local repo=$1 installed=$2 work rc=0 deps want
  work=$(mktemp -d /tmp/k8slab-ee.XXXXXX)
  cp "$repo/examples/execution-environment.yml" "$repo/examples/requirements.yml" "$work/"
  if (cd "$work" && ansible-builder create -f execution-environment.yml --context context \
        --output-filename Containerfile -v 1); then
    for want in context/Containerfile context/_build/requirements.yml context/_build/scripts/assemble; do
      [ -f "$work/$want" ] || { echo "FAILED: ansible-builder create made no $want"; rc=1; }
    done
  else
    echo "FAILED: ansible-builder create"; rc=1
  fi
  deps=$(ansible-builder introspect --sanitize "$installed") || { echo "FAILED: ansible-builder introspect"; rc=1; }
  echo "$deps"
  for want in "netaddr" "iproute2 \[platform:dpkg\]" "iptables \[platform:dpkg\]"; do
    echo "$deps" | grep -q "^- '$want.*from collection k8slab.kube_proxy'" ||
      { echo "FAILED: introspect does not list $want for k8slab.kube_proxy"; rc=1; }
  done
  rm -rf "$work"
  [ $rc -eq 0 ] && echo "execution environment: create and introspect ok"
  return $rc
}
