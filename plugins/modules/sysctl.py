#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: sysctl
short_description: Set a kernel parameter now and after reboot, and put back the value it found
version_added: 0.1.0
author: k8slab maintainers (@k8slab)
description:
  - Sets one kernel parameter, such as C(net.ipv4.ip_forward), in the running kernel by writing
    C(/proc/sys) directly, and persists it as one C(NAME = VALUE) line in a file under
    C(/etc/sysctl.d/), so it holds after a reboot. This is the tutorial's
    C(sysctl --write net.ipv4.ip_forward=1), made repeatable and reversible.
  - Before the first change of the running value it records the value it found in a small JSON file
    under O(state_dir). O(state=absent) puts that recorded value back, removes the parameter's line
    from O(sysctl_file) (and the file when nothing else is left in it) and deletes the record.
    A second O(state=absent) changes nothing.
  - The tutorial's own clean-up writes C(net.ipv4.ip_forward=0); this module restores the recorded
    original instead, so a host that forwarded packets before keeps forwarding them.
  - When there is no record (the running value was already right when O(state=present) ran, or the
    record was lost), O(state=absent) leaves the running value alone and says so in RV(msg).
  - Parameters under C(net.) belong to the network namespace the module runs in.
  - Values are compared after collapsing white space, so C(4096 87380 6291456) matches the tab
    separated form the kernel prints.
options:
  name:
    description:
      - The parameter, in dotted (C(net.ipv4.ip_forward)) or slashed (C(net/ipv4/ip_forward)) form.
      - Must exist under C(/proc/sys). Components that contain a dot (such as the VLAN interface
        C(eth0.100)) cannot be written in dotted form; use the slashed form for them.
    type: str
    required: true
  value:
    description:
      - The value to set. Required when O(state=present).
    type: str
  state:
    description:
      - V(present) sets the value now and in O(sysctl_file), recording the previous running value first.
      - V(absent) restores the recorded value, removes the line from O(sysctl_file) and forgets the record.
    type: str
    choices: [present, absent]
    default: present
  sysctl_file:
    description:
      - The file that persists the value across reboots. Other lines in it are kept as they are.
      - The file is created with mode C(0644) when missing, and removed by O(state=absent) when only
        comments and blank lines are left in it.
    type: path
    default: /etc/sysctl.d/99-k8slab.conf
  state_dir:
    description:
      - The directory holding one JSON record per parameter with the value found before the first change.
      - O(state=absent) removes the directory when its last record goes, and its parent too when that is
        empty and named C(k8slab) (the collection's shared C(/var/lib/k8slab)).
    type: path
    default: /var/lib/k8slab/sysctl
notes:
  - Does not run the C(sysctl) program and does not reload C(/etc/sysctl.d); it writes the one parameter directly.
  - In a container, C(/proc/sys) may be mounted read-only; the module then fails with the kernel's error.
extends_documentation_fragment:
  - k8slab.kube_proxy.attributes
attributes:
  check_mode:
    description: Reports the value, file and record it would write; changes nothing.
  diff_mode:
    description: Shows the running value, the content of O(sysctl_file) and the recorded original before and after.
  platform:
    description: Linux only; it reads and writes C(/proc/sys).
"""

EXAMPLES = r"""
- name: Forward IPv4 packets between interfaces, now and after reboot (the tutorial's first step)
  k8slab.kube_proxy.sysctl:
    name: net.ipv4.ip_forward
    value: "1"
    sysctl_file: /etc/sysctl.d/99-k8slab-ip_forward.conf

- name: Put ip_forward back to what it was before the task above first changed it
  k8slab.kube_proxy.sysctl:
    name: net.ipv4.ip_forward
    state: absent
    sysctl_file: /etc/sysctl.d/99-k8slab-ip_forward.conf

- name: Several parameters can share one file
  k8slab.kube_proxy.sysctl:
    name: "{{ item.name }}"
    value: "{{ item.value }}"
    sysctl_file: /etc/sysctl.d/99-lab.conf
  loop:
    - {name: net.ipv4.conf.all.rp_filter, value: "0"}
    - {name: net.ipv4.ip_local_port_range, value: "32768 60999"}
"""

RETURN = r"""
name:
  description: The parameter in dotted form.
  returned: always
  type: str
  sample: net.ipv4.ip_forward
value:
  description: The running value after the module ran (in check mode, the value it would have).
  returned: always
  type: str
  sample: "1"
previous:
  description: The running value before the module ran.
  returned: always
  type: str
  sample: "0"
original:
  description:
    - The recorded value from before the first change, or V(null) when nothing is recorded.
    - With O(state=absent), the value that was restored (the record itself is gone afterwards).
  returned: always
  type: str
  sample: "0"
recorded:
  description: Whether a record of the original value exists after the module ran.
  returned: always
  type: bool
  sample: true
restored:
  description: Whether O(state=absent) found a record to restore (even if the running value already matched it).
  returned: always
  type: bool
  sample: false
sysctl_file:
  description: The file that persists the value.
  returned: always
  type: str
  sample: /etc/sysctl.d/99-k8slab-ip_forward.conf
msg:
  description: What the module did, in one sentence.
  returned: always
  type: str
  sample: "net.ipv4.ip_forward set to 1 (was 0, recorded for state=absent)"
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.sysctl import (
    DEFAULT_FILE, DEFAULT_STATE_DIR, Sysctl, parse_value)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            value=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            sysctl_file=dict(type="path", default=DEFAULT_FILE),
            state_dir=dict(type="path", default=DEFAULT_STATE_DIR),
        ),
        required_if=[("state", "present", ["value"])],
        supports_check_mode=True,
    )
    params = module.params
    value = None
    if params["state"] == "present":
        try:
            value = parse_value(params["value"])
        except ValueError as exc:
            module.fail_json(msg=str(exc))
    sysctl = Sysctl(module, params["name"], params["sysctl_file"], params["state_dir"])
    if module.params["state"] == "present":
        result = sysctl.state_present(value)
    else:
        result = sysctl.state_absent()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
