# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests never reach the host's network namespace: no netfilter netlink socket (nfacct) is opened here."""
import pytest

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import nfacct


@pytest.fixture(autouse=True)
def no_host_netlink(monkeypatch):
    def refuse():
        raise AssertionError("a unit test opened a netfilter netlink socket in the host's namespace (fake nfacct instead)")
    monkeypatch.setattr(nfacct, "_socket", refuse)
