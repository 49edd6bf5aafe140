# SPDX-License-Identifier: GPL-3.0-or-later
"""The sandbox itself: what happens inside must not be seen outside."""
import subprocess


def test_sandbox_is_isolated(sandbox):
    sandbox.run(["ip", "link", "add", "k8slab-probe", "type", "bridge"])
    sandbox.run(["ip", "netns", "add", "k8slab_probe"])
    assert "k8slab_probe" in sandbox.run(["ip", "netns", "list"]).stdout
    host_links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    host_netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert "k8slab-probe" not in host_links
    assert "k8slab_probe" not in host_netns
