# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""nfacct's netlink messages, built and read without a socket (tests/integration makes real counters)."""

from __future__ import annotations

import struct

import pytest

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import nfacct


def test_a_new_counter_request_names_it_in_the_acct_subsystem():
    message = nfacct._message(nfacct.NFNL_MSG_ACCT_NEW, nfacct.NLM_F_REQUEST | nfacct.NLM_F_ACK, "ct_state_invalid_dropped_pkts")
    length, kind, flags, dummy, dummy2 = nfacct._HEADER.unpack_from(message)
    assert length == len(message) and length % 4 == 0
    assert kind == (7 << 8) | 0 and flags == 0x5
    # nfgenmsg, then NFACCT_NAME with its NUL, padded to 4 bytes.
    assert message[16:20] == b"\0\0\0\0"
    assert struct.unpack_from("=HH", message, 20) == (4 + 30, 1)
    assert message[24:54] == b"ct_state_invalid_dropped_pkts\0"


def test_a_name_longer_than_the_kernel_takes_is_refused():
    with pytest.raises(ValueError, match="longer than 31"):
        nfacct._message(nfacct.NFNL_MSG_ACCT_NEW, 0, "x" * 32)


def test_a_dump_reply_gives_the_names_and_an_error_its_errno():
    body = nfacct._message(nfacct.NFNL_MSG_ACCT_NEW, 0, "localhost_nps_accepted_pkts")[16:]
    reply = nfacct._message(nfacct.NFNL_MSG_ACCT_NEW, 0, "localhost_nps_accepted_pkts")
    assert [(kind & 0xff, nfacct._name(part)) for kind, part in nfacct._messages(reply)] == [(0, "localhost_nps_accepted_pkts")]
    assert nfacct._name(body) == "localhost_nps_accepted_pkts"
    error = nfacct._error(struct.pack("=i", -17))
    assert error.errno == 17 and nfacct._error(struct.pack("=i", 0)) is None


def test_the_scratch_script_is_this_module_and_makes_what_its_arguments_name():
    source = nfacct.script()
    compile(source, "<nfacct scratch>", "exec")
    assert "def ensure(" in source and source.rstrip().endswith("% sys.argv[1:])")


def test_the_scratch_load_makes_the_counters_its_rules_name():
    """iptables_owner: a restore input naming nfacct counters gets them made in the scratch namespace first."""
    from ansible_collections.k8slab.kube_proxy.plugins.module_utils import iptables_owner
    text = "*filter\n-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP\n"
    assert iptables_owner.NFACCT_NAMED.findall(text) == ["ct_state_invalid_dropped_pkts"]
    assert iptables_owner.NFACCT_NAMED.findall("*nat\n-A X -j RETURN\n") == []
