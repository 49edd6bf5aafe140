# SPDX-License-Identifier: GPL-3.0-or-later
"""Make `ansible_collections.k8slab.kube_proxy` importable from a plain clone."""
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(REPO, ".collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)


def pytest_terminal_summary(terminalreporter, config):
    """Print the kube-proxy case counts the case tests stashed (unit: rulesets; integration: kernel flows)."""
    module = sys.modules.get("ansible_collections.k8slab.kube_proxy.tests.unit.plugins.module_utils.kube_proxy_cases")
    if module is not None:
        for line in config.stash.get(module.SUMMARY, []):
            terminalreporter.write_line(line)
