# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The attributes every module of the collection shares; a module overrides a description where it says more."""

from __future__ import annotations


class ModuleDocFragment(object):

    # A module that changes the node.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    support: full
    description: Reads the current state and reports what would change; changes nothing.
  diff_mode:
    support: full
    description: Shows what the module manages before and after.
  platform:
    support: full
    platforms: linux
    description: Linux only.
"""

    # A module that only reads.
    READ_ONLY = r"""
options: {}
attributes:
  check_mode:
    support: full
    description: The module only reads, so it runs in check mode as well.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show a difference of.
  platform:
    support: full
    platforms: linux
    description: Linux only.
"""
