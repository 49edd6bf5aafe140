#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: app_instances
short_description: Run exactly the listed instances of a systemd template unit, started in one systemctl call and checked over HTTP
version_added: 0.2.0
author: k8slab maintainers (@k8slab)
description:
  - Converges the instances C(<unit>@<name>.service) of one systemd template unit to a list, such as one app per
    pod's network namespace, the way the tutorial runs C(ip netns exec netns_adam go run main.go) in one terminal per pod.
  - Reads the node once (C(systemctl list-units) for the loaded instances and the unit's slice, the C(.wants) links
    for the enabled ones), plans every step, then acts with one C(systemctl) call per kind of step, for all instances
    at once; an instance already in the wanted state costs nothing, so a run without changes is one command.
  - O(state=present) stops and disables every instance that is not listed (after O(drain_seconds), so connections still
    open can finish), writes the template unit from O(unit_content) when it differs (then C(daemon-reload)), enables the
    listed instances (O(enabled)) and starts those not running, or restarts all of them when the unit changed or
    O(restart) says the program changed. Then it waits until every instance it started answers its HTTP check
    (O(check_url), O(check_body)) and fails with the journal of each one that does not.
  - With O(program) the same run first checks the program the instances run, on the node, against the digest of
    its source (or binary) on the controller. When the program is there and was made from that file, the run goes on
    as above and the check costs nothing more. Otherwise the module changes nothing and the action plugin builds the
    program with M(k8slab.kube_proxy.go_binary) (packages, copy, C(go build), only then), and runs the module again
    with O(restart), so every instance runs the new program. A run without changes is one module call for the
    program and the instances together.
  - O(state=pruned) only stops and disables the instances that are not listed, after O(drain_seconds); it starts
    nothing and writes nothing else. Use it to take instances away before what they need (a network namespace) goes.
  - O(state=absent) stops and disables every instance of the unit, stops the unit's slice, removes the template unit
    file, reloads systemd and forgets failed instances, so nothing of the unit is left.
  - 'Guard for C(DynamicUser=yes): systemd runs such a unit as an existing account of the C(User=) name when there is one.
    The module refuses O(unit_content) that would do so (or run as C(root)), unless the account''s comment is
    O(user_comment), so an account someone else created is never taken over.'
  - The instance records are plain dictionaries; O(name_key) names the key that holds the instance name, and
    O(check_url), O(check_body) and O(requires) are Python format strings filled from each record, such as
    C(http://{address}:8080/).
options:
  unit:
    description: The template unit's name without C(@.service), such as C(k8slab-web-app).
    type: str
    required: true
  state:
    description: V(present) runs exactly the listed instances; V(pruned) only stops the unlisted ones; V(absent) removes all.
    type: str
    choices: [present, pruned, absent]
    default: present
  instances:
    description:
      - The wanted instances, as records (dictionaries) or plain names. Ignored with O(state=absent).
      - 'Every name must be unique and must not need escaping in a unit name: letters, digits and C(_ . - : +).'
    type: list
    elements: raw
    default: []
  name_key:
    description: The key of an instance record that holds the instance name.
    type: str
    default: name
  unit_content:
    description:
      - The template unit file's content, written to C(<unit_dir>/<unit>@.service) when it differs (and the instances
        restarted). Omitted, the unit file must already be there and is left as it is.
    type: str
  unit_dir:
    description: Where the template unit file and the C(.wants) links of enabled instances live.
    type: path
    default: /etc/systemd/system
  enabled:
    description: Enable the listed instances so they start at boot (V(false) disables them).
    type: bool
    default: true
  restart:
    description: Restart every listed instance, for example because the program it runs was replaced.
    type: bool
    default: false
  drain_seconds:
    description: Seconds to wait before stopping instances that are no longer listed (only when one is running).
    type: float
    default: 0
  requires:
    description:
      - Paths every listed instance needs, as format strings filled from its record, such as C(/run/netns/{netns}).
        A missing one fails the module before any change (not in check mode, where an earlier task may only have
        pretended to create it).
    type: list
    elements: str
    default: []
  check_url:
    description: An C(http://) URL, a format string filled from the record, that a started instance must answer.
    type: str
  check_body:
    description: A format string filled from the record; the answer's body must contain it. Any 2xx answer will do when omitted.
    type: str
  wait_timeout:
    description: Seconds to wait until every started instance answers O(check_url).
    type: float
    default: 30
  journal_lines:
    description: How many journal lines of an instance that fails go into the error message.
    type: int
    default: 50
  program:
    description:
      - The program the instances run, built or installed with M(k8slab.kube_proxy.go_binary) only when it is
        missing or its source changed (see above); the instances are restarted then. With O(state=present) only.
      - Its options are M(k8slab.kube_proxy.go_binary)'s, and mean the same; O(program.digest) and O(program.kind)
        are set by the action plugin.
    type: dict
    suboptions:
      src:
        description: As O(k8slab.kube_proxy.go_binary#module:src) (a role's C(files/) folder is searched).
        type: path
      binary_src:
        description: As O(k8slab.kube_proxy.go_binary#module:binary_src).
        type: path
      dest:
        description: As O(k8slab.kube_proxy.go_binary#module:dest).
        type: path
        required: true
      stamp:
        description: As O(k8slab.kube_proxy.go_binary#module:stamp).
        type: path
      build_dir:
        description: As O(k8slab.kube_proxy.go_binary#module:build_dir).
        type: path
      go:
        description: As O(k8slab.kube_proxy.go_binary#module:go).
        type: str
        default: go
      go_env:
        description: As O(k8slab.kube_proxy.go_binary#module:go_env).
        type: dict
        default: {}
      packages:
        description: As O(k8slab.kube_proxy.go_binary#module:packages).
        type: list
        elements: str
        default: []
      digest:
        description: Set by the action plugin, as O(k8slab.kube_proxy.go_binary#module:digest); do not set it yourself.
        type: str
      kind:
        description: Set by the action plugin, as O(k8slab.kube_proxy.go_binary#module:kind).
        type: str
        choices: [source, binary]
        default: source
  user_comment:
    description:
      - With C(DynamicUser=yes) in O(unit_content), an existing account of the C(User=) name is refused unless its
        comment (GECOS) is this, which marks an account you created (an earlier static user of the same app).
    type: str
notes:
  - Instances are started with one C(systemctl start) (or C(restart)) for all of them; systemd queues their jobs together.
  - The HTTP checks are sent from the node itself, without a proxy.
extends_documentation_fragment:
  - k8slab.kube_proxy.attributes
attributes:
  action:
    support: full
    description: With O(program), an action plugin sends the program's digest and builds it only when the node asks.
  check_mode:
    support: full
    description: Reads the node and reports what it would stop, write, enable, build and start; no drain, no waiting.
  diff_mode:
    support: full
    description: Shows the template unit file, and the running and enabled instances, before and after.
"""

EXAMPLES = r"""
# test: skip - needs systemd as PID 1 (each app is an instance of a template unit); molecule default runs it on a node

- name: Build the app when main.go changed, and run it in every pod and nowhere else
  k8slab.kube_proxy.app_instances:
    unit: k8slab-web-app
    program:
      src: main.go
      dest: /usr/local/lib/k8slab-web-app/web-app
      build_dir: /var/cache/k8slab-web-app
      go_env: {GO111MODULE: "off", GOPATH: /usr/share/gocode}
      packages: [golang-go, golang-github-gin-gonic-gin-dev]
    unit_content: "{{ lookup('ansible.builtin.template', 'web-app@.service.j2') }}"
    instances:
      - {netns: netns_adam, address: 10.0.0.11}
      - {netns: netns_eve, address: 10.0.0.21}
    name_key: netns
    requires: ["/run/netns/{netns}"]
    check_url: http://{address}:8080/
    check_body: hello world from {netns} namespace
    drain_seconds: 1

- name: Only stop the apps of pods that left, after one second
  k8slab.kube_proxy.app_instances:
    unit: k8slab-web-app
    state: pruned
    instances: [netns_adam]
    drain_seconds: 1

- name: Remove every instance and the template unit
  k8slab.kube_proxy.app_instances:
    unit: k8slab-web-app
    state: absent
"""

RETURN = r"""
program:
  description:
    - With O(program), what became of it - C(digest) (the sha256 of the file it is made from), C(built) (whether this
      run built or installed it, or would in check mode), C(changed), and when it was built what
      M(k8slab.kube_proxy.go_binary) returns (such as C(installed_packages)).
  returned: with O(program)
  type: dict
  sample: {digest: 3c9d0f..., built: false, changed: false}
started:
  description: Instances started (or, in check mode, that would be), with RV(restarted) among them.
  returned: always
  type: list
  elements: str
  sample: [netns_cain]
restarted:
  description: Instances restarted because the unit or the program changed.
  returned: always
  type: list
  elements: str
  sample: []
stopped:
  description: Instances stopped because they are no longer listed (or, with O(state=absent), all of them).
  returned: always
  type: list
  elements: str
  sample: [netns_eve]
enabled:
  description: Instances enabled by this run.
  returned: always
  type: list
  elements: str
  sample: [netns_cain]
disabled:
  description: Instances disabled by this run.
  returned: always
  type: list
  elements: str
  sample: [netns_eve]
unit_changed:
  description: Whether the template unit file was written (or removed).
  returned: always
  type: bool
  sample: false
drained:
  description: Seconds waited before stopping unlisted instances.
  returned: always
  type: float
  sample: 1.0
waited:
  description: Seconds spent waiting for the started instances to answer.
  returned: always
  type: float
  sample: 0.4
commands:
  description: The changing commands, as argument lists, run (or, in check mode, that would run) in order.
  returned: always
  type: list
  elements: list
  sample: [[systemctl, enable, k8slab-web-app@netns_cain.service], [systemctl, start, k8slab-web-app@netns_cain.service]]
"""

import os
import pwd
import re
import string
import time
import urllib.error
import urllib.request

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native, to_text

from ansible_collections.k8slab.kube_proxy.plugins.module_utils.program_stamp import installed, program_spec
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.runner import Runner
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.state_dir import read_text, write_atomic

# Instance names that need no escaping in a unit name (so the name on the command line is the name systemd lists).
INSTANCE_RE = re.compile(r"^[A-Za-z0-9_.:+-]+\Z")
UNIT_RE = re.compile(r"^[A-Za-z0-9_.:-]+\Z")
RUNNING = ("active", "activating", "deactivating", "reloading", "refreshing")
# The UIDs systemd hands out to DynamicUser= units (systemd.exec(5)).
DYNAMIC_UIDS = range(61184, 65520)
LINK_DIR_SUFFIXES = (".wants", ".requires", ".upholds")


def escape_unit_prefix(name):
    """systemd-escape of a unit name prefix, as in the slice systemd makes for a template's instances."""
    out = []
    for index, char in enumerate(name):
        if char.isascii() and (char.isalnum() or char in ":_" or (char == "." and index > 0)):
            out.append(char)
        else:
            out.append("\\x%02x" % ord(char))
    return "".join(out)


def slice_name(unit):
    """The slice of the instances of template ``unit``: system-<escaped unit>.slice."""
    return "system-%s.slice" % escape_unit_prefix(unit)


def instance_unit(unit, name):
    return "%s@%s.service" % (unit, name)


def parse_list_units(text, unit):
    """Loaded instances and the slice from `systemctl list-units --plain --no-legend`: ({name: state}, slice active)."""
    prefix, suffix, slice_unit = unit + "@", ".service", slice_name(unit)
    instances, slice_active = {}, False
    for line in text.splitlines():
        fields = line.split(None, 4)
        if len(fields) < 4:
            continue
        name, load, active, sub = fields[:4]
        if name == slice_unit:
            slice_active = active in RUNNING
        elif name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix) + len(suffix):
            instances[name[len(prefix):-len(suffix)]] = {"load": load, "active": active, "sub": sub}
    return instances, slice_active


def enabled_instances(unit_dir, unit):
    """Instances with an install link (``<dir>/*.wants/<unit>@<name>.service``): those `systemctl enable` made."""
    prefix, suffix = unit + "@", ".service"
    found = set()
    try:
        entries = os.listdir(unit_dir)
    except OSError:
        return found
    for entry in entries:
        path = os.path.join(unit_dir, entry)
        if not entry.endswith(LINK_DIR_SUFFIXES) or not os.path.isdir(path):
            continue
        for link in os.listdir(path):
            if link.startswith(prefix) and link.endswith(suffix) and len(link) > len(prefix) + len(suffix):
                found.add(link[len(prefix):-len(suffix)])
    return found


def plan(state, wanted, loaded, enabled_now, enable=True, restart=False, unit_changed=False):
    """What to do, from what was read (pure; unit-tested).

    ``wanted``: instance names (ignored when ``state`` is absent); ``loaded``: {name: {"active": ...}};
    ``enabled_now``: names with an install link. Returns the lists of names to stop, disable, reset
    (failed ones that go), enable, start and restart.
    """
    wanted = list(wanted)
    known = set(loaded) | set(enabled_now)
    going = sorted(known if state == "absent" else known - set(wanted))
    steps = {
        "stop": [name for name in going if loaded.get(name, {}).get("active") in RUNNING],
        "disable": [name for name in going if name in enabled_now],
        "reset_failed": [name for name in going if loaded.get(name, {}).get("active") == "failed"],
        "enable": [], "start": [], "restart": [],
    }
    if state != "present":
        return steps
    if enable:
        steps["enable"] = [name for name in wanted if name not in enabled_now]
    else:
        steps["disable"] += [name for name in wanted if name in enabled_now]
    if restart or unit_changed:
        steps["restart"] = list(wanted)
    else:
        steps["start"] = [name for name in wanted if loaded.get(name, {}).get("active") != "active"]
    return steps


def fill(template, record, what):
    """``template`` with the fields of ``record``; ValueError naming ``what`` when a field is missing or bad."""
    fields = [part[1] for part in string.Formatter().parse(template) if part[1] is not None]
    for field in fields:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*\Z", field):
            raise ValueError("%s %r: only plain {key} fields are allowed, not {%s}" % (what, template, field))
        if field not in record:
            raise ValueError("%s %r: the record has no key %r (keys: %s)" % (what, template, field, ", ".join(sorted(record))))
    return template.format(**record)


def records(instances, name_key):
    """The instance records as dicts, each with its name; ValueError on a bad or repeated name."""
    out, seen = [], set()
    for item in instances:
        record = dict(item) if isinstance(item, dict) else {name_key: item}
        name = record.get(name_key)
        if not isinstance(name, str) or not INSTANCE_RE.match(name):
            raise ValueError("instance %r: %s must be a name of letters, digits and _ . : + - (got %r)"
                             % (item, name_key, name))
        if name in seen:
            raise ValueError("instance %s is listed twice" % name)
        seen.add(name)
        out.append(record)
    return out


def unit_setting(content, key):
    """The last value of ``key=`` in a unit file's text (None when it is not set)."""
    value = None
    for line in content.splitlines():
        line = line.strip()
        if line.startswith(key + "="):
            value = line[len(key) + 1:].strip()
    return value


def user_problem(content, names, user_comment, getpwnam=pwd.getpwnam):
    """Why running ``content`` (a template unit) would take over an account, or None."""
    if (unit_setting(content, "DynamicUser") or "no").lower() not in ("yes", "true", "on", "1"):
        return None
    template = unit_setting(content, "User")
    if not template:
        return None
    for user in sorted(set(template.replace("%i", name) for name in names or [""])):
        try:
            account = getpwnam(user)
        except KeyError:
            continue
        if account.pw_uid == 0:
            return "User=%s is root; DynamicUser= would run the instances as root" % user
        if account.pw_uid in DYNAMIC_UIDS:
            continue  # systemd's own dynamic user, made for an instance that is running
        if user_comment is not None and account.pw_gecos == user_comment:
            continue
        return ("User=%s names an existing account (uid %d, comment %r) that this unit did not create; with DynamicUser=yes "
                "systemd would run the instances as that account. Choose another user name." % (user, account.pw_uid, account.pw_gecos))
    return None


def http_check(url, body, timeout):
    """(answered as expected, what was seen)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            text = to_text(response.read(65536), errors="replace")
            if not 200 <= response.status < 300:
                return False, "HTTP %d: %s" % (response.status, text[:200])
    except urllib.error.HTTPError as exc:
        return False, "HTTP %d" % exc.code
    except Exception as exc:  # pylint: disable=broad-except
        return False, to_native(getattr(exc, "reason", exc))
    if body is not None and body not in text:
        return False, "answered %r, expected it to contain %r" % (text.strip()[:200], body)
    return True, text.strip()[:200]


class AppInstances:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.runner = Runner(module)
        self.unit = self.params["unit"]
        self.unit_file = os.path.join(self.params["unit_dir"], self.unit + "@.service")
        self.result = {"changed": False, "started": [], "restarted": [], "stopped": [], "enabled": [], "disabled": [],
                       "unit_changed": False, "drained": 0.0, "waited": 0.0, "commands": self.runner.commands}

    def fail(self, msg, **extra):
        self.result.update(extra)
        self.module.fail_json(msg=msg, **self.result)

    def units(self, names):
        return [instance_unit(self.unit, name) for name in names]

    def systemctl(self, verb, names, what):
        if names:
            self.runner.change([self.systemctl_bin, verb] + self.units(names), what="systemctl %s" % what)

    def read(self):
        pattern = "%s@*.service" % self.unit
        slice_glob = slice_name(self.unit).replace("\\", "?")  # list-units globs: a backslash would escape
        out = self.runner.read([self.systemctl_bin, "list-units", "--all", "--plain", "--no-legend", "--full",
                                "--no-pager", pattern, slice_glob], what="systemctl list-units")[1]
        loaded, slice_active = parse_list_units(out, self.unit)
        return loaded, slice_active, enabled_instances(self.params["unit_dir"], self.unit)

    def validate(self):
        params = self.params
        if not UNIT_RE.match(self.unit) or "@" in self.unit:
            self.fail("unit %r must be a template name without @.service (letters, digits and _ . : -)" % self.unit)
        if params["drain_seconds"] < 0 or params["wait_timeout"] < 0:
            self.fail("drain_seconds and wait_timeout must not be negative")
        if params["program"] and params["state"] != "present":
            self.fail("program is for state=present only (remove a program with k8slab.kube_proxy.go_binary state=absent)")
        if params["program"] and not params["program"]["digest"]:
            self.fail("program.digest is set by the action plugin: call the module as k8slab.kube_proxy.app_instances")
        if params["state"] == "absent":
            return []
        try:
            found = records(params["instances"], params["name_key"])
            for record in found:
                for template in params["requires"]:
                    fill(template, record, "requires")
                if params["check_url"]:
                    url = fill(params["check_url"], record, "check_url")
                    if not url.startswith("http://"):
                        raise ValueError("check_url %r: only http:// URLs are supported" % url)
                if params["check_body"] is not None:
                    fill(params["check_body"], record, "check_body")
        except ValueError as exc:
            self.fail(to_native(exc))
        return found

    def journal(self, name):
        dummy, out, err = self.runner.read([self.runner.bin("journalctl"), "--no-pager", "--output=short-iso",
                                            "--lines=%d" % self.params["journal_lines"], "--unit=" + instance_unit(self.unit, name)])
        return (out or err).rstrip()

    def status(self, names):
        """{name: 'ActiveState/SubState, result ..., condition ...'} of the units, in one `systemctl show`."""
        out = self.runner.read([self.systemctl_bin, "show", "--property=Id,ActiveState,SubState,Result,ConditionResult"]
                               + self.units(names))[1]
        states = {}
        for block in out.strip().split("\n\n"):
            props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
            name = props.get("Id", "")[len(self.unit) + 1:-len(".service")]
            states[name] = "%s/%s, result %s%s" % (props.get("ActiveState"), props.get("SubState"), props.get("Result"),
                                                   ", skipped: a Condition failed" if props.get("ConditionResult") == "no" else "")
        return states

    def fail_with_journals(self, headline, problems):
        states = self.status(sorted(problems))
        parts = [headline]
        for name in sorted(problems):
            unit = instance_unit(self.unit, name)
            parts.append("%s (%s): %s\njournalctl -u %s:\n%s"
                         % (unit, states.get(name, "?"), problems[name], unit, self.journal(name)))
        self.fail("\n".join(parts), failed_instances=sorted(problems))

    def wait(self, started):
        """Wait until each started instance with a check answers; fail with the journals of those that do not."""
        if not self.params["check_url"] or not started:
            return
        pending = dict((record[self.params["name_key"]], record) for record in started)
        seen = {}
        begin = time.monotonic()
        deadline = begin + self.params["wait_timeout"]
        while pending:
            for name, record in list(pending.items()):
                left = max(0.1, deadline - time.monotonic())
                body = fill(self.params["check_body"], record, "check_body") if self.params["check_body"] is not None else None
                good, seen[name] = http_check(fill(self.params["check_url"], record, "check_url"), body, min(2.0, left))
                if good:
                    del pending[name]
            if not pending or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        self.result["waited"] = round(time.monotonic() - begin, 3)
        if pending:
            self.fail_with_journals(
                "%d of %d started instance(s) did not answer within %gs:" % (len(pending), len(started), self.params["wait_timeout"]),
                dict((name, "%s: %s" % (fill(self.params["check_url"], pending[name], "check_url"), seen.get(name)))
                     for name in pending))

    def write_unit(self):
        """Write the template unit when it differs; True when it did (or would)."""
        content = self.params["unit_content"]
        if content is None:
            return False
        if not content.endswith("\n"):
            content += "\n"
        before = read_text(self.unit_file)
        if before == content:
            return False
        self.diffs.insert(0, {"before_header": self.unit_file, "after_header": self.unit_file,
                              "before": before or "", "after": content})
        self.runner.act("write %s" % self.unit_file, write_atomic, self.unit_file, content, 0o644)
        self.runner.change([self.systemctl_bin, "daemon-reload"], what="systemctl daemon-reload")
        return True

    def remove_unit(self):
        if not os.path.lexists(self.unit_file):
            return False
        self.diffs.insert(0, {"before_header": self.unit_file, "after_header": self.unit_file,
                              "before": read_text(self.unit_file) or "", "after": ""})
        self.runner.act("remove %s" % self.unit_file, os.unlink, self.unit_file)
        self.runner.change([self.systemctl_bin, "daemon-reload"], what="systemctl daemon-reload")
        return True

    def leave(self, steps, loaded):
        """Stop, disable and forget the instances that go (after the drain when one of them runs)."""
        drain = self.params["drain_seconds"] if self.params["state"] != "absent" else 0
        if steps["stop"] and drain > 0 and not self.module.check_mode:
            time.sleep(drain)
            self.result["drained"] = drain
        self.systemctl("stop", steps["stop"], "stop")
        self.systemctl("disable", steps["disable"], "disable")
        self.systemctl("reset-failed", steps["reset_failed"], "reset-failed")
        self.result["stopped"] = steps["stop"]
        self.result["disabled"] = steps["disable"]

    def run(self):
        params, check = self.params, self.module.check_mode
        self.diffs = []
        wanted = self.validate()
        names = [record[params["name_key"]] for record in wanted]
        if params["state"] == "present":
            if params["unit_content"] is not None:
                problem = user_problem(params["unit_content"], names, params["user_comment"])
                if problem:
                    self.fail(problem)
            if not check:
                missing = ["%s needs %s" % (record[params["name_key"]], path) for record in wanted
                           for path in (fill(t, record, "requires") for t in params["requires"]) if not os.path.exists(path)]
                if missing:
                    self.fail("missing before any change: %s; create them first (for a pod's namespace, run the pod network "
                              "role first)" % "; ".join(missing))
        program = params["program"]
        if program and not installed(program["dest"], program["stamp"], program["kind"], program["digest"]):
            # The program is missing or not the one asked for: the action plugin builds it, then runs this again.
            self.result["program_needed"] = True
            self.module.exit_json(**self.result)
        self.systemctl_bin = self.runner.bin("systemctl")
        loaded, slice_active, enabled_now = self.read()
        before = self.summary(loaded, enabled_now)

        unit_changed = False
        if params["state"] == "present":
            unit_changed = self.write_unit()
        steps = plan(params["state"], names, loaded, enabled_now, params["enabled"], params["restart"], unit_changed)
        self.leave(steps, loaded)
        if params["state"] == "absent":
            if slice_active:
                self.runner.change([self.systemctl_bin, "stop", slice_name(self.unit)], what="systemctl stop (slice)")
            unit_changed = self.remove_unit()
            if self.runner.changes and not check:
                # An instance that failed while it stopped stays listed until reset-failed.
                failed = [name for name, unit in self.read()[0].items() if unit["active"] == "failed"]
                self.systemctl("reset-failed", failed, "reset-failed")
        self.systemctl("enable", steps["enable"], "enable")
        self.result["enabled"] = steps["enable"]
        self.result["disabled"] = sorted(set(self.result["disabled"]) | set(steps["disable"]))
        for verb in ("restart", "start"):
            if steps[verb]:
                rc, out, err = self.runner.change([self.systemctl_bin, verb] + self.units(steps[verb]))
                if rc != 0:
                    self.fail_with_journals("systemctl %s failed (rc %d): %s" % (verb, rc, (err or out).strip()),
                                            dict((name, "not started") for name in steps[verb]))
        self.result["started"] = steps["restart"] or steps["start"]
        self.result["restarted"] = steps["restart"]
        self.result["unit_changed"] = unit_changed
        self.result["changed"] = bool(self.runner.changes)

        after = self.summary(loaded, enabled_now, steps, names)
        if before != after:
            self.diffs.append({"before_header": "instances of %s@.service" % self.unit, "after_header": "instances of %s@.service" % self.unit,
                               "before": before, "after": after})
        if self.module._diff:
            self.result["diff"] = self.diffs
        if not check:
            started = set(self.result["started"])
            self.wait([record for record in wanted if record[params["name_key"]] in started])
        self.module.exit_json(**self.result)

    def summary(self, loaded, enabled_now, steps=None, wanted=None):
        running = set(name for name, unit in loaded.items() if unit["active"] == "active")
        enabled = set(enabled_now)
        if steps is not None:
            running = (running - set(steps["stop"])) | set(steps["start"]) | set(steps["restart"])
            enabled = (enabled - set(steps["disable"])) | set(steps["enable"])
        return "running: %s\nenabled: %s\n" % (" ".join(sorted(running)) or "-", " ".join(sorted(enabled)) or "-")


def main():
    module = AnsibleModule(
        argument_spec=dict(
            unit=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "pruned", "absent"], default="present"),
            instances=dict(type="list", elements="raw", default=[]),
            name_key=dict(type="str", default="name", no_log=False),
            unit_content=dict(type="str"),
            unit_dir=dict(type="path", default="/etc/systemd/system"),
            enabled=dict(type="bool", default=True),
            restart=dict(type="bool", default=False),
            drain_seconds=dict(type="float", default=0),
            requires=dict(type="list", elements="str", default=[]),
            check_url=dict(type="str"),
            check_body=dict(type="str"),
            wait_timeout=dict(type="float", default=30),
            journal_lines=dict(type="int", default=50),
            user_comment=dict(type="str"),
            program=dict(type="dict", options=program_spec()),
        ),
        supports_check_mode=True,
    )
    AppInstances(module).run()


if __name__ == "__main__":
    main()
