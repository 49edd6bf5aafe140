# SPDX-License-Identifier: GPL-3.0-or-later
# shellcheck shell=bash source-path=SCRIPTDIR
# The docs site, for scripts/test's build layer: antsibull-docs renders every
# module, filter and role (from DOCUMENTATION and meta/argument_specs.yml) plus
# the guides in docs/docsite/, Sphinx builds the HTML with no network at all
# (inside `unshare --net` when root), and `antsibull-docs lint-collection-docs
# --plugin-docs` checks the markup.
#
# The docs tools live in a venv of their own ($K8SLAB_DOCS_VENV, from
# docs/requirements.txt at the versions of docs/constraints.txt): Sphinx and
# antsibull-docs pin docutils, aiohttp and more at versions the test venv's
# constraints do not allow. ansible-doc is the test venv's, so the docs show
# the ansible-core under test.
#
# Every problem fails the build: in docs/docsite/, in a plugin's DOCUMENTATION,
# in a role's meta/argument_specs.yml. K8SLAB_DOCS_STRICT=0 lets the plugins'
# and roles' problems pass (printed only), e.g. to see a guide's page while a
# plugin's markup is being fixed.
#
# Run alone: bash scripts/lib/docs.sh DEST   (the HTML ends in DEST/html)

K8SLAB_DOCS_VENV=${K8SLAB_DOCS_VENV:-${K8SLAB_CACHE:-.cache}/venv-docs}

# Labels of Ansible's own docs that the generated pages point at. Sphinx reads
# them from a local inventory instead of downloading Ansible's (intersphinx).
K8SLAB_DOCS_ANSIBLE_URL=https://docs.ansible.com/projects/ansible/devel/
K8SLAB_DOCS_ANSIBLE_LABELS=(
  "common_return_values reference_appendices/common_return_values.html Return Values"
  "ansible_configuration_settings reference_appendices/config.html Ansible Configuration Settings"
  "playbooks_intro playbook_guide/playbooks_intro.html Ansible playbooks"
  "collections_installing collections_guide/collections_installing.html Installing collections"
  "action_plugins plugins/action.html Action plugins"
  "ansible_collections.ansible.builtin.apt_module collections/ansible/builtin/apt_module.html ansible.builtin.apt module"
  "ansible_collections.ansible.builtin.file_lookup collections/ansible/builtin/file_lookup.html ansible.builtin.file lookup"
)

k8slab_docs_venv_ensure() {
  local want have py
  # On the newest core's Python, as galaxy-importer's venv; remade when it or the pins change.
  py=$(k8slab_core_python "${K8SLAB_CORES[-1]}") || return 1
  want=$( { cat "$K8SLAB_REPO/docs/requirements.txt" "$K8SLAB_REPO/docs/constraints.txt" && echo "$py"; } |
          sha256sum | cut -c1-16) ||
    { echo "FAILED: cannot read docs/requirements.txt and docs/constraints.txt"; return 1; }
  have=$(cat "$K8SLAB_DOCS_VENV/.k8slab-requirements" 2>/dev/null || true)
  [ "$want" = "$have" ] && [ -x "$K8SLAB_DOCS_VENV/bin/antsibull-docs" ] && return 0
  k8slab_log "pip install -r docs/requirements.txt into $K8SLAB_DOCS_VENV"
  rm -rf "$K8SLAB_DOCS_VENV"
  mkdir -p "$(dirname "$K8SLAB_DOCS_VENV")" || return 1
  local log="$K8SLAB_DOCS_VENV.log"
  if ! { "$py" -m venv "$K8SLAB_DOCS_VENV" &&
         "$K8SLAB_DOCS_VENV/bin/python" -m pip install -q -r "$K8SLAB_REPO/docs/requirements.txt" \
           -c "$K8SLAB_REPO/docs/constraints.txt"; } > "$log" 2>&1; then
    cat "$log"
    echo "FAILED: pip install -r docs/requirements.txt into $K8SLAB_DOCS_VENV (output above); check that pip reaches its index (pip config list)"
    return 1
  fi
  echo "$want" > "$K8SLAB_DOCS_VENV/.k8slab-requirements"
}

# k8slab_docs_offline CMD...: CMD in a network namespace of its own (no
# interface but a down lo), so nothing it does can reach the network.
k8slab_docs_offline() {
  if k8slab_is_root && command -v unshare >/dev/null 2>&1; then
    unshare --net -- "$@"
  else
    "$@"
  fi
}

# k8slab_docs_build DEST: the site in DEST/html; 0 when docs/docsite/ is clean
# and, unless K8SLAB_DOCS_STRICT=0, when every plugin and role is too.
k8slab_docs_build() {
  local dest=${1:?k8slab_docs_build DEST} strict=${K8SLAB_DOCS_STRICT:-1} rc=0
  k8slab_apt_ensure graphviz:dot || return 1
  k8slab_docs_venv_ensure || return 1
  command -v ansible-doc >/dev/null || { echo "FAILED: no ansible-doc on PATH (the test venv)"; return 1; }
  rm -rf "$dest" && mkdir -p "$dest" || return 1
  (
    # shellcheck disable=SC2030  # the docs venv first on PATH, in this subshell only
    export PATH="$K8SLAB_DOCS_VENV/bin:$PATH" ANSIBLE_NOCOLOR=1
    # antsibull-docs calls `ansible-doc`: the test venv's, next on PATH.
    cd "$K8SLAB_REPO" || exit 1
    echo "--- antsibull-docs sphinx-init ($(antsibull-docs --version 2>&1 | head -n1); $(ansible --version | sed -n 1p))"
    antsibull-docs sphinx-init --use-current --squash-hierarchy --dest-dir "$dest" \
      --project k8slab.kube_proxy --copyright "the k8slab.kube_proxy authors" \
      --title "k8slab.kube_proxy" --html-short-title "k8slab.kube_proxy" \
      k8slab.kube_proxy > "$dest/sphinx-init.log" || { cat "$dest/sphinx-init.log"; exit 1; }
    k8slab_docs_conf "$dest" || exit 1
    # No --fail-on-error: a plugin or role whose docs do not parse gets an error
    # page, and lint-collection-docs below reports it (fatal unless K8SLAB_DOCS_STRICT=0).
    echo "--- antsibull-docs collection (plugin pages, role pages, docs/docsite guides)"
    mkdir -p "$dest/rst" && chmod og-w "$dest/rst"
    k8slab_docs_offline antsibull-docs --config-file "$dest/antsibull-docs.cfg" collection \
      --cleanup everything --use-current --squash-hierarchy \
      --dest-dir "$dest/rst" k8slab.kube_proxy > "$dest/collection.log" 2>&1
    local collection_rc=$?
    [ -s "$dest/collection.log" ] && sed 's/^/  /' "$dest/collection.log"
    [ $collection_rc -eq 0 ] || { echo "FAILED: antsibull-docs collection (exit $collection_rc)"; exit 1; }
    # The index's heading is the collection's name title-cased ("K8Slab.Kube_Proxy"): write it as users type it.
    sed -i 's/^K8Slab\.Kube_Proxy$/k8slab.kube_proxy/' "$dest/rst/index.rst"
    echo "--- dot -Tsvg: the diagrams' Graphviz sources in docs/docsite/rst"
    k8slab_docs_diagrams "$dest/rst/docsite" || exit 1
    echo "--- sphinx-build -b html (offline)"
    k8slab_docs_offline sphinx-build -b html -q --keep-going -c "$dest" -w "$dest/sphinx-warnings.txt" \
      "$dest/rst" "$dest/html" 2> "$dest/sphinx.log" || { cat "$dest/sphinx.log"; echo "FAILED: sphinx-build"; exit 1; }
    echo "--- antsibull-docs lint-collection-docs --plugin-docs --check-extra-docs-refs ."
    k8slab_docs_offline antsibull-docs lint-collection-docs --plugin-docs --check-extra-docs-refs \
      --message-format json . > "$dest/lint.json" 2> "$dest/lint.stderr"
    echo "--- problems (docs/docsite fails the build; plugins and roles too unless K8SLAB_DOCS_STRICT=0)"
    python3 - "$dest" "$strict" <<'PY'
import json, os, re, sys

dest, strict = sys.argv[1], sys.argv[2] == "1"
ours, theirs = [], []
# Sphinx: path:line: WARNING: ... Our guides are rst/docsite/*.rst in the build,
# and rst/index.rst lists them (extra-docs.yml); the rest are plugin and role pages.
rst = os.path.join(dest, "rst") + os.sep
with open(os.path.join(dest, "sphinx-warnings.txt"), encoding="utf-8") as f:
    for line in f.read().splitlines():
        if not line.strip():
            continue
        generated = line.startswith(rst) and not line.startswith((rst + "docsite" + os.sep, rst + "index.rst"))
        (theirs if generated else ours).append(
            "sphinx: " + line.replace(rst, "rst/"))
try:
    with open(os.path.join(dest, "lint.json"), encoding="utf-8") as f:
        messages = json.load(f)["messages"]
except (OSError, ValueError, KeyError) as exc:
    with open(os.path.join(dest, "lint.stderr"), encoding="utf-8") as f:
        ours.append(f"lint: no JSON report ({exc}): {f.read().strip()}")
    messages = []
# A role whose argument_specs antsibull-docs rejects does not exist for it: a
# guide's correct reference to that role is the role's problem, not the guide's.
broken_roles = {m["path"].split("/")[1] for m in messages
                if re.match(r"roles/[^/]+/meta/argument_specs\.yml$", m["path"])}
for m in messages:
    text = "lint: %s:%s: %s" % (m["path"], m.get("row") or 0, re.sub(r"\s+", " ", m["message"]))
    role = re.search(r"there is no role k8slab\.kube_proxy\.(\w+)$", m["message"])
    if re.match(r"(plugins|roles)/", m["path"]) or (role and role.group(1) in broken_roles):
        theirs.append(text)
    else:
        ours.append(text)
for label, items in (("docs/docsite and the build", ours), ("plugins and roles", theirs)):
    print(f"{label}: {len(items)} problem(s)")
    for item in items:
        print("  " + item)
failed = ours + (theirs if strict else [])
if theirs and not strict:
    print(f"({len(theirs)} plugin and role problem(s) do not fail the build: K8SLAB_DOCS_STRICT=0)")
sys.exit(1 if failed else 0)
PY
  ) || rc=1
  if [ -f "$dest/html/index.html" ]; then
    echo "docs site: $dest/html/index.html ($(find "$dest/html" -name '*.html' | wc -l) pages)"
  else
    echo "FAILED: no $dest/html/index.html"; rc=1
  fi
  return $rc
}

# k8slab_docs_diagrams DIR [FORMAT]: every docs/docsite/rst/NAME.dot as
# DIR/NAME.FORMAT (svg unless told; png to look at one), for the guides'
# `.. figure:: NAME.svg` (antsibull-docs copies only .rst files). Each figure
# is labelled with the commit it was made from ("+ changes" when the work
# tree differs from it). Graphviz renders offline; a Mermaid diagram would
# need a browser or a CDN. The PNG plots (docs/docsite/rst/*.png: the benchmarks',
# benchmarks/report.py; the UDP conntrack experiment's, scripts/render_udp_conntrack.py)
# are copied as they are: each names its run in its title.
k8slab_docs_diagrams() {
  local out=$1 format=${2:-svg} src name commit
  mkdir -p "$out" || return 1
  commit=$(git -C "$K8SLAB_REPO" rev-parse --short=12 HEAD 2>/dev/null) || commit=
  if [ -z "$commit" ]; then
    commit="an unknown commit (not a git checkout)"
  elif [ -n "$(git -C "$K8SLAB_REPO" status --porcelain -- docs/docsite playbooks roles plugins 2>/dev/null)" ]; then
    commit="commit $commit + changes"
  else
    commit="commit $commit"
  fi
  for src in "$K8SLAB_REPO"/docs/docsite/rst/*.dot; do
    [ -f "$src" ] || continue
    name=$(basename "$src" .dot)
    dot -T"$format" -Glabel="k8slab.kube_proxy, made from $commit" -Gfontsize=9 -Gfontcolor="#666666" \
      "$src" -o "$out/$name.$format" || { echo "FAILED: dot -T$format ${src#"$K8SLAB_REPO"/}"; return 1; }
    echo "${src#"$K8SLAB_REPO"/} -> $name.$format ($commit)"
  done
  for src in "$K8SLAB_REPO"/docs/docsite/rst/*.png; do
    [ -f "$src" ] || continue
    cp "$src" "$out/" || { echo "FAILED: cp ${src#"$K8SLAB_REPO"/}"; return 1; }
    echo "${src#"$K8SLAB_REPO"/} -> $(basename "$src") (copied; generated with its run)"
  done
}

# k8slab_docs_conf DEST: what sphinx-init's conf.py lacks here: no download
# (Ansible's labels from a local inventory).
k8slab_docs_conf() {
  local dest=$1 label K8SLAB_DOCS_REPO_URL
  K8SLAB_DOCS_REPO_URL=$(sed -n 's/^repository: *//p' "$K8SLAB_REPO/galaxy.yml")
  [ -n "$K8SLAB_DOCS_REPO_URL" ] || { echo "FAILED: no repository: in galaxy.yml"; return 1; }
  for label in "${K8SLAB_DOCS_ANSIBLE_LABELS[@]}"; do echo "$label"; done |
    python3 -c '
import sys, zlib
lines = []
for row in sys.stdin.read().splitlines():
    name, uri, title = row.split(" ", 2)
    anchor = name.replace("_", "-")
    lines.append(f"{name} std:label -1 {uri}#{anchor} {title}")
head = b"# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n# The remainder of this file is compressed using zlib.\n"
sys.stdout.buffer.write(head + zlib.compress(("\n".join(lines) + "\n").encode()))
' > "$dest/ansible_devel.inv" || return 1
  cat >> "$dest/conf.py" <<CONF

# Added by scripts/lib/docs.sh: build with no network; this collection's links
# in the top bar, not the Ansible project's blog and forum.
intersphinx_mapping = {'ansible_devel': ('$K8SLAB_DOCS_ANSIBLE_URL', '$dest/ansible_devel.inv')}
html_theme_options = {
    'topbar_links': {
        'Source': '$K8SLAB_DOCS_REPO_URL',
        'Issues': '$K8SLAB_DOCS_REPO_URL/issues',
        'Ansible documentation': 'https://docs.ansible.com/',
    },
    'show_rtd_ethical_ads': False,
}
CONF
  # The collection is installed from git, not from Galaxy: say so on every plugin page.
  cat > "$dest/antsibull-docs.cfg" <<CFG
breadcrumbs = true
indexes = true
use_html_blobs = false
add_antsibull_docs_version = true
collection_url = {
  k8slab.kube_proxy = "$K8SLAB_DOCS_REPO_URL"
}
collection_install = {
  k8slab.kube_proxy = "ansible-galaxy collection install git+$K8SLAB_DOCS_REPO_URL.git"
}
CFG
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail
  # shellcheck source=common.sh
  source "$(dirname "$0")/common.sh"
  # shellcheck source=bootstrap.sh
  source "$K8SLAB_REPO/scripts/lib/bootstrap.sh"
  k8slab_venv_ensure
  k8slab_collections_path
  k8slab_docs_build "${1:-/tmp/k8slab-docs}"
fi
