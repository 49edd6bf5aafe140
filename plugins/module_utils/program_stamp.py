# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which source or binary an installed program came from: the record go_binary writes next to it.

go_binary writes and reads it to build only when the source changed; app_instances reads it (its O(program)) to
tell, in the same module run that checks the instances, whether the program has to be built first. Both take the
program in the same options (program_spec).
"""

from __future__ import annotations

import os

from ansible_collections.k8slab.kube_proxy.plugins.module_utils.state_dir import read_text


def program_spec():
    """The options that name a program, its build and its record: go_binary's, and app_instances' O(program)."""
    return dict(
        src=dict(type="path"),
        binary_src=dict(type="path"),
        dest=dict(type="path", required=True),
        stamp=dict(type="path"),
        build_dir=dict(type="path"),
        go=dict(type="str", default="go"),
        go_env=dict(type="dict", default={}),
        packages=dict(type="list", elements="str", default=[]),
        digest=dict(type="str"),
        kind=dict(type="str", choices=["source", "binary"], default="source"),
    )


def stamp_path(dest, stamp=None):
    """The record of the program ``dest``: ``stamp``, or ``<dest>.sha256``."""
    return stamp or dest + ".sha256"


def stamp_text(kind, digest):
    """What the record holds: the source's digest (as earlier versions wrote it), or the binary's, marked."""
    return digest if kind == "source" else "%s binary" % digest


def up_to_date(recorded, dest_exists, kind, digest):
    """Whether the installed program is the one asked for (pure; unit-tested)."""
    return dest_exists and (recorded or "").strip() == stamp_text(kind, digest)


def installed(dest, stamp, kind, digest):
    """Whether the program at ``dest`` is there and was made from the file of ``digest`` (reads the node)."""
    return up_to_date(read_text(stamp_path(dest, stamp)), os.path.isfile(dest), kind, digest)
