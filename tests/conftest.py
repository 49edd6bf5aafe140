# SPDX-License-Identifier: GPL-3.0-or-later
"""Make `ansible_collections.k8slab.kube_proxy` importable from a plain clone."""
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(REPO, ".collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)


# kube_proxy_cases.SUMMARY (tests/unit/plugins/module_utils), read here without importing the test helpers
CASES_SUMMARY = "kube_proxy_cases_summary"


def pytest_terminal_summary(terminalreporter, config):
    """Print the kube-proxy case counts the case tests reported (unit: rulesets; integration: kernel flows)."""
    lines = [value for kind in ("passed", "failed") for report in terminalreporter.getreports(kind)
             for name, value in getattr(report, "user_properties", []) if name == CASES_SUMMARY]
    for line in dict.fromkeys(lines):
        terminalreporter.write_line(line)
