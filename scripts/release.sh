#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Cut a release: scripts/release.sh VERSION
# Sets galaxy.yml's version, folds changelogs/fragments/ into
# changelogs/changelog.yaml and CHANGELOG.rst (antsibull-changelog release; one
# fragment must hold the release_summary), lints the result, and commits it.
# Tag and push yourself after CI is green: git tag VERSION && git push --tags
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
# shellcheck source=lib/bootstrap.sh
source "$K8SLAB_REPO/scripts/lib/bootstrap.sh"

version=${1:-}
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || k8slab_die "usage: scripts/release.sh VERSION (such as 0.2.0)"
cd "$K8SLAB_REPO"
[ -z "$(git status --porcelain)" ] || k8slab_die "the work tree has uncommitted changes"
grep -lq '^release_summary:' changelogs/fragments/*.yml 2>/dev/null ||
  k8slab_die "no fragment with a release_summary in changelogs/fragments/"
k8slab_venv_ensure

sed -i "s/^version: .*/version: $version/" galaxy.yml
sed -i "s|k8slab-kube_proxy-[0-9.]*[.]tar[.]gz|k8slab-kube_proxy-$version.tar.gz|" examples/ee-requirements.yml
antsibull-changelog lint
antsibull-changelog release --version "$version"
antsibull-changelog lint
grep -q "^v$version\$" CHANGELOG.rst || k8slab_die "CHANGELOG.rst has no v$version"
git add -A galaxy.yml examples/ee-requirements.yml CHANGELOG.rst changelogs/
git commit -q -m "Release $version"
k8slab_log "committed release $version; tag it once CI is green: git tag $version"
