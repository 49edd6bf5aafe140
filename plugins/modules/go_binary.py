#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: go_binary
short_description: Build a one-file Go program on the node, or install a ready binary, only when its digest changed
version_added: 0.2.0
author: k8slab maintainers (@k8slab)
description:
  - The tutorial's C(go run main.go), made repeatable. The program is built once with C(go build) on the node and
    rebuilt only when the source changes; or a binary built elsewhere (such as one cross-compiled for a Raspberry Pi)
    is installed instead.
  - The action plugin computes the sha256 of O(src) (or O(binary_src)) on the controller and sends only that digest
    first. The node compares it with the digest recorded next to the binary in O(stamp); when they match (and the
    binary is there), nothing is copied, built or installed, and the run costs one module call.
  - When they differ, the action plugin installs the missing O(packages) with M(ansible.builtin.apt) (asked with
    C(dpkg-query) first, so a node that has them needs no apt), copies the file over, and the module builds into a
    temporary file next to O(dest) (or copies the binary there), renames it into place and records the digest.
  - O(state=absent) removes the binary, its record, O(build_dir), and the binary's folder once it is empty.
options:
  src:
    description:
      - The Go source file on the controller (a role's C(files/) folder is searched), built in GOPATH mode with
        O(go_env). Exactly one of O(src) and O(binary_src) with O(state=present).
    type: path
  binary_src:
    description: A ready binary on the controller to install instead of building.
    type: path
  dest:
    description: The installed program on the node.
    type: path
    required: true
  stamp:
    description: The file that records which source or binary O(dest) came from. Default C(<dest>.sha256).
    type: path
  build_dir:
    description: Where the source is copied and built, with the Go build cache (C(GOCACHE)); required to build.
    type: path
  go:
    description: The go command on the node.
    type: str
    default: go
  go_env:
    description: Environment of C(go build), such as C(GO111MODULE=off) and C(GOPATH); C(GOCACHE) and C(HOME) are set under O(build_dir).
    type: dict
    default: {}
  packages:
    description: Debian packages the build needs; only asked for (and installed when missing) when a build is due.
    type: list
    elements: str
    default: []
  state:
    description: V(present) installs the program; V(absent) removes it, its record and O(build_dir).
    type: str
    choices: [present, absent]
    default: present
  digest:
    description: Set by the action plugin (the sha256 of the file on the controller); do not set it yourself.
    type: str
  kind:
    description: Set by the action plugin (V(source) or V(binary)).
    type: str
    choices: [source, binary]
    default: source
  remote_src:
    description: Set by the action plugin (the copied file on the node).
    type: path
  source_name:
    description: Set by the action plugin (the source file's name).
    type: str
    default: main.go
extends_documentation_fragment:
  - k8slab.kube_proxy.attributes
attributes:
  action:
    support: full
    description: An action plugin computes the digest on the controller and copies the file only when it is needed.
  check_mode:
    support: full
    description: Compares the digests and reports whether it would build or install; copies and builds nothing.
  diff_mode:
    support: full
    description: Shows the recorded digest before and after.
"""

EXAMPLES = r"""
# test: skip - installs golang-go and Gin with apt on the node and builds; molecule default builds the app on a node
- name: Build the app once, and again only when main.go changes
  k8slab.kube_proxy.go_binary:
    src: main.go
    dest: /usr/local/lib/k8slab-web-app/web-app
    build_dir: /var/cache/k8slab-web-app
    go_env: {GO111MODULE: "off", GOPATH: /usr/share/gocode}
    packages: [golang-go, golang-github-gin-gonic-gin-dev]
  register: app_binary

# test: needs web-app-binary - a file build/web-app-arm64 next to the playbook
- name: Install a binary cross-compiled on the controller instead
  k8slab.kube_proxy.go_binary:
    binary_src: build/web-app-arm64
    dest: /usr/local/lib/k8slab-web-app/web-app

- name: Remove the program, its record and the build folder
  k8slab.kube_proxy.go_binary:
    dest: /usr/local/lib/k8slab-web-app/web-app
    build_dir: /var/cache/k8slab-web-app
    state: absent
"""

RETURN = r"""
digest:
  description: The sha256 of the source (or binary) the program is now made from.
  returned: with O(state=present)
  type: str
  sample: 3c9d0f...
built:
  description: Whether the program was built (or installed) by this run, or would be in check mode.
  returned: always
  type: bool
  sample: false
missing_packages:
  description: Packages of O(packages) that were not installed when a build was due.
  returned: when a build was due
  type: list
  elements: str
  sample: []
"""

import os
import shutil

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.k8slab.kube_proxy.plugins.module_utils.program_stamp import (
    program_spec, stamp_path, stamp_text, up_to_date)
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.runner import Runner
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.state_dir import install_file, read_text, write_atomic


def missing_packages(dpkg_output, packages):
    """The packages `dpkg-query --show --showformat='${Package} ${db:Status-Status}\\n'` does not list as installed."""
    installed = set(line.split()[0] for line in dpkg_output.splitlines() if line.endswith(" installed") and line.split())
    return [name for name in packages if name not in installed]


def make_dirs(path):
    if not os.path.isdir(path):
        os.makedirs(path, 0o755)


def build(runner, params, dest):
    """go build inside the build folder, then the program copied over ``dest`` atomically."""
    src_dir = os.path.join(params["build_dir"], "src")
    make_dirs(src_dir)
    source = os.path.join(src_dir, os.path.basename(params["source_name"]))
    shutil.copyfile(params["remote_src"], source)
    os.chmod(source, 0o644)
    built = os.path.join(params["build_dir"], os.path.basename(dest))
    env = dict((str(key), str(value)) for key, value in params["go_env"].items())
    env.update(GOCACHE=os.path.join(params["build_dir"], "gocache"), HOME=params["build_dir"])
    runner.change([runner.bin(params["go"]), "build", "-o", built, source], what="go build", env=env)
    install_file(built, dest, 0o755)
    os.unlink(built)


def remove(paths):
    """Remove what exists of ``paths`` (folders with their content); the removed ones."""
    gone = [path for path in paths if path and os.path.lexists(path)]
    for path in gone:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    return gone


def main():
    module = AnsibleModule(
        argument_spec=dict(
            program_spec(),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            remote_src=dict(type="path"),
            source_name=dict(type="str", default="main.go"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    runner = Runner(module)
    dest = params["dest"]
    stamp = stamp_path(dest, params["stamp"])
    recorded = read_text(stamp)

    if params["state"] == "absent":
        paths = [dest, stamp, params["build_dir"]]
        gone = [path for path in paths if path and os.path.lexists(path)] if module.check_mode else remove(paths)
        folder = os.path.dirname(dest)
        if not module.check_mode and os.path.isdir(folder) and not os.listdir(folder):
            os.rmdir(folder)
            gone.append(folder)
        module.exit_json(changed=bool(gone), built=False, removed=gone,
                         diff={"before": {"digest": (recorded or "").strip()}, "after": {"digest": ""}})

    digest, kind = params["digest"], params["kind"]
    if not digest:
        module.fail_json(msg="digest is set by the action plugin: call the module as k8slab.kube_proxy.go_binary with src or binary_src")
    if kind == "source" and not params["build_dir"]:
        module.fail_json(msg="build_dir is required to build from source")
    result = {"digest": digest, "built": False,
              "diff": {"before": {"digest": (recorded or "").strip()}, "after": {"digest": stamp_text(kind, digest)}}}
    if up_to_date(recorded, os.path.isfile(dest), kind, digest):
        result["diff"]["after"] = result["diff"]["before"]
        module.exit_json(changed=False, **result)
    if not params["remote_src"]:
        # The action plugin asks first; it copies the file (and installs packages) only when told a build is due.
        missing = []
        if kind == "source" and params["packages"]:
            out = runner.read(["dpkg-query", "--show", "--showformat=${Package} ${db:Status-Status}\\n"] + params["packages"])[1]
            missing = missing_packages(out, params["packages"])
        module.exit_json(changed=False, needs_src=True, missing_packages=missing, **result)
    if module.check_mode:
        module.exit_json(changed=True, built=True, digest=digest, diff=result["diff"])
    if kind == "source":
        build(runner, params, dest)
    else:
        install_file(params["remote_src"], dest, 0o755)
    write_atomic(stamp, stamp_text(kind, digest) + "\n", 0o644)
    result["built"] = True
    module.exit_json(changed=True, commands=runner.commands, **result)


if __name__ == "__main__":
    main()
