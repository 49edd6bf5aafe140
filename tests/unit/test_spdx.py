# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every source file says its licence with an SPDX identifier near its top, as the collections we learn from do."""

import os
import shutil

import pytest

from spdx_files import comment_prefix, source_files

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TAG = "SPDX-License-Identifier: GPL-3.0-or-later"

pytestmark = pytest.mark.skipif(not os.path.isdir(os.path.join(REPO, ".git")) or not shutil.which("git"),
                                reason="needs the git checkout to list the tracked files")


def test_the_list_holds_every_kind_of_source():
    files = source_files(REPO)
    for expected in ("plugins/modules/proxy_sync.py", "scripts/test", ".ci/run", "roles/web_app/files/main.go",
                     "roles/web_app/templates/web-app@.service.j2", "galaxy.yml", "images/node/Dockerfile"):
        assert expected in files
    assert "changelogs/changelog.yaml" not in files
    assert "plugins/modules/__init__.py" not in files or os.path.getsize(
        os.path.join(REPO, "plugins/modules/__init__.py")) > 0


def test_every_source_file_has_the_identifier_in_a_comment_near_its_top():
    missing = []
    for path in source_files(REPO):
        with open(os.path.join(REPO, path), encoding="utf-8") as handle:
            head = handle.read().splitlines()[:8]
        prefix, suffix = comment_prefix(path)
        if not any(line.strip() == f"{prefix} {TAG}{suffix}".strip() for line in head):
            missing.append(path)
    assert not missing, f"no '{TAG}' comment in the first 8 lines of: {', '.join(missing)}"
