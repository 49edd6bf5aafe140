# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The web_app role's systemd unit template: the app's flags, TCP and (optionally) UDP, rendered as Ansible renders it."""

from __future__ import annotations

import os

import jinja2
import pytest

TEMPLATE = os.path.join(os.path.dirname(__file__), "..", "..", "roles", "web_app", "templates", "web-app@.service.j2")


def render(**variables):
    # Ansible's template lookup renders with trim_blocks on.
    with open(TEMPLATE) as handle:
        template = jinja2.Environment(trim_blocks=True, undefined=jinja2.StrictUndefined).from_string(handle.read())
    values = dict(web_app_binary="/opt/k8slab/web-app", web_app_port=8080, web_app_udp_port=8080, web_app_user="k8slab-web",
                  web_app_restart_sec=1, web_app_unit_name="k8slab-web-app")
    values.update(variables)
    return template.render(**values).splitlines()


@pytest.mark.parametrize("udp_port, flags", [
    (8080, "-listen :8080 -udp-listen :8080"),
    (5353, "-listen :8080 -udp-listen :5353"),
    (0, "-listen :8080"),
])
def test_exec_start_has_the_udp_flag_on_its_own_line(udp_port, flags):
    lines = render(web_app_udp_port=udp_port)
    index = lines.index("ExecStart=/opt/k8slab/web-app " + flags)
    assert lines[index + 1].startswith("NetworkNamespacePath=")
