# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one rule for interface and network namespace names, shared by the filters and the modules.

Each function returns None for a good name, else what is wrong with it, so
that every caller can word its own message around the same rule.
"""

from __future__ import annotations

import re

# The kernel allows at most 15 bytes (IFNAMSIZ - 1); we also keep to characters
# that need no quoting anywhere and forbid a leading dash.
IFNAME_MAX = 15
IFNAME_RE = re.compile(r"^[A-Za-z0-9_.@+=][A-Za-z0-9_.@+=\-]*\Z")
# Namespace names become file names under /run/netns and /etc/netns.
NETNS_MAX = 64
NETNS_RE = re.compile(r"^[A-Za-z0-9_.+=@][A-Za-z0-9_.+=@\-]*\Z")
NETNS_RULE = "at most %d letters, digits and _ . @ + = - (no '/', not starting with '-')" % NETNS_MAX


def ifname_problem(name):
    """None when ``name`` can be an interface name, else the reason it cannot."""
    if not isinstance(name, str) or not name:
        return "must be a non-empty string"
    if len(name) > IFNAME_MAX:
        return "is %d characters long; Linux allows at most %d" % (len(name), IFNAME_MAX)
    if name in (".", "..") or not IFNAME_RE.match(name):
        return "has illegal characters; use letters, digits and _ . @ + = - (not first)"
    return None


def netns_problem(name):
    """None when ``name`` can be an `ip netns` name (a file under /run/netns), else the reason it cannot."""
    if not isinstance(name, str) or not name:
        return "must be a non-empty string"
    if len(name) > NETNS_MAX or name in (".", "..") or not NETNS_RE.match(name):
        return "is not a legal namespace name: " + NETNS_RULE
    return None
