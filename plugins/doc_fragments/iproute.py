# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the modules that run C(ip) (netns, bridge, veth, route) have in common: requirements and notes."""

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options: {}
requirements:
  - iproute2 5.5 or later (C(ip -json), C(ip -n)); tested with 6.1 (Debian 12) and 6.15 (Debian 13).
  - Root privileges (C(become=true)).
attributes:
  check_mode:
    description: Reports what would change and the commands that would run; changes nothing.
notes:
  - Reads the state with C(ip -json), changes only what differs, and runs every command as an argument list, never
    through a shell. The C(commands) return value lists the commands that changed something (in check mode, that
    would have).
  - Interface names have 1 to 15 characters, namespace names 1 to 64, of letters, digits and C(_ . @ + = -), not
    starting with C(-); the P(k8slab.kube_proxy.pods#filter) filter checks pod records by the same rule.
"""

    # Modules that need an object an earlier task creates.
    CHECK_MODE_AHEAD = r"""
options: {}
notes:
  - A namespace, bridge or device that does not exist yet, because an earlier task ran in check mode and only
    pretended to create it, gives a warning in check mode instead of an error.
"""
