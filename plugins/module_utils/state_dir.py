# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where modules of this collection keep what they must remember between runs."""

from __future__ import annotations

import os


def prune_empty_state_dir(state_dir):
    """Remove a module's record folder once it is empty, and an empty C(k8slab) parent with it.

    Teardown then leaves no trace under /var/lib. A folder that still holds other
    records (another owner's, another module's) is left alone.
    """
    state_dir = state_dir.rstrip("/")
    parent = os.path.dirname(state_dir)
    try:
        os.rmdir(state_dir)
        if os.path.basename(parent) == "k8slab":
            os.rmdir(parent)
    except OSError:
        pass
