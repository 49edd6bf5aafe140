# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One kernel parameter, set now and in a file under /etc/sysctl.d, with the value found before the first change
recorded so that state=absent puts it back.

The sysctl module converges one parameter; pod_sync converges the parameters a pod network needs
(net.ipv4.ip_forward, as the CNI bridge plugin turns it on) in its own run. Both write the same file
lines and the same records, so either one's state=absent restores what the other set.
"""

from __future__ import annotations

import os
import re

from ansible.module_utils.common.text.converters import to_native
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.runner import Runner
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.state_dir import RecordStore, read_text, write_atomic

PROC_SYS = "/proc/sys"
DEFAULT_FILE = "/etc/sysctl.d/99-k8slab.conf"
DEFAULT_STATE_DIR = "/var/lib/k8slab/sysctl"
FILE_HEADER = "# Managed by k8slab.kube_proxy.sysctl; removed by state=absent.\n"
_COMPONENT_RE = re.compile(r"^[A-Za-z0-9_:@+\-.]+$")


def normalize_name(name):
    """Return the dotted form of a sysctl name; raise ValueError when it is not one.

    Slashed names keep dots inside components (eth0.100); those cannot round-trip
    through the dotted form, so the slashed form is kept as the canonical key then.
    """
    name = (name or "").strip()
    if not name:
        raise ValueError("name must not be empty")
    if "/" in name:
        parts = name.strip("/").split("/")
    else:
        parts = name.split(".")
    for part in parts:
        if part in ("", ".", "..") or not _COMPONENT_RE.match(part):
            raise ValueError("%r is not a sysctl name (expected something like net.ipv4.ip_forward)" % name)
    if any("." in part for part in parts):
        return "/".join(parts)
    return ".".join(parts)


def name_parts(name):
    """Split a normalized name into its /proc/sys path components."""
    return name.split("/") if "/" in name else name.split(".")


def proc_path(name, root=None):
    return os.path.join(root or PROC_SYS, *name_parts(name))


def normalize_value(value):
    """Collapse white space the way sysctl(8) compares multi-field values."""
    return " ".join(to_native(value).split())


def parse_value(value):
    """The value to set, white space collapsed; ValueError when it is empty or spans lines."""
    text = to_native(value)
    normalized = normalize_value(text)
    if not normalized or "\n" in text.strip():
        raise ValueError("value must be non-empty and on one line")
    return normalized


def file_key(line):
    """The normalized name a sysctl.d line sets, or None for comments, blanks and junk."""
    text = line.strip()
    if not text or text[0] in "#;" or "=" not in text:
        return None
    key = text.split("=", 1)[0].strip().lstrip("-")
    try:
        return normalize_name(key)
    except ValueError:
        return None


def render_file(content, name, value):
    """Return `content` with exactly one `name = value` line (or none when value is None).

    The first existing line for `name` is replaced in place, later duplicates are
    dropped (they would win at boot), other lines are kept verbatim.
    """
    lines = content.splitlines(True) if content else []
    out = []
    placed = False
    for line in lines:
        if file_key(line) == name:
            if value is not None and not placed:
                out.append("%s = %s\n" % (name, value))
                placed = True
            continue
        out.append(line if line.endswith("\n") else line + "\n")
    if value is not None and not placed:
        if not out:
            out.append(FILE_HEADER)
        out.append("%s = %s\n" % (name, value))
    return "".join(out)


def only_comments(content):
    return all(not line.strip() or line.strip()[0] in "#;" for line in content.splitlines())


def record_key(name):
    """The record's name in the state directory (a sysctl name may contain '/')."""
    return name.replace("/", "%")


class Sysctl(object):
    """One parameter: read the running value, the file and the record; converge; report."""

    def __init__(self, module, name, sysctl_file=DEFAULT_FILE, state_dir=DEFAULT_STATE_DIR, runner=None):
        """Reads the running value, the file and the record; a bad name or a damaged record fails the module
        here, before anything changes. Changes go through ``runner`` (skipped in check mode)."""
        self.module = module
        self.runner = runner or Runner(module)
        try:
            self.name = normalize_name(name)
        except ValueError as exc:
            module.fail_json(msg=to_native(exc))
        self.sysctl_file = sysctl_file
        self.state_dir = state_dir
        self.path = proc_path(self.name)
        if not os.path.isfile(self.path):
            module.fail_json(msg="unknown kernel parameter %s (%s does not exist)" % (self.name, self.path), name=self.name)
        self.records = RecordStore(self.state_dir)
        self.record_key = record_key(self.name)
        self.record_file = self.records.path(self.record_key)
        self.changed = False
        self.diff = {"before": {}, "after": {}}
        self.before_value = self.read_running()
        self.before_file = self.read_text(self.sysctl_file)
        self.record = self.read_record()

    # reading -------------------------------------------------------------
    def read_running(self):
        try:
            with open(self.path) as handle:
                return normalize_value(handle.read())
        except (IOError, OSError) as exc:
            self.module.fail_json(msg="cannot read %s: %s" % (self.path, to_native(exc)), name=self.name)

    def read_text(self, path):
        try:
            return read_text(path)
        except (IOError, OSError) as exc:
            self.module.fail_json(msg="cannot read %s: %s" % (path, to_native(exc)), name=self.name)

    def read_record(self):
        try:
            data = self.records.read(self.record_key)
        except (IOError, OSError) as exc:
            self.module.fail_json(msg="cannot read %s: %s" % (self.record_file, to_native(exc)), name=self.name)
        except ValueError as exc:
            self.module.fail_json(msg="record %s is damaged (%s); fix or delete it" % (self.record_file, to_native(exc)),
                                  name=self.name)
        if data is None:
            return None
        try:
            return normalize_value(data["original"])
        except (ValueError, KeyError, TypeError) as exc:
            self.module.fail_json(msg="record %s is damaged (%s); fix or delete it" % (self.record_file, to_native(exc)),
                                  name=self.name)

    # writing: every change goes through the runner, which skips it in check mode
    def write_running(self, value):
        self.runner.act("write %s to %s" % (value, self.path), self._write_running, value)

    def _write_running(self, value):
        try:
            with open(self.path, "w") as handle:
                handle.write(value + "\n")
        except (IOError, OSError) as exc:
            self.module.fail_json(msg="cannot write %s to %s: %s" % (value, self.path, to_native(exc)), name=self.name)
        now = self.read_running()
        if now != value:
            self.module.fail_json(msg="the kernel took %s=%s but reads back %r" % (self.name, value, now), name=self.name)

    def write_text(self, path, text, mode):
        """Atomically replace `path` with `text` (creating its directory)."""
        self.runner.act("write %s" % path, self._guard, path, write_atomic, path, text, mode)

    def write_record(self, original):
        self.runner.act("write %s" % self.record_file, self._guard, self.record_file, self.records.write,
                        self.record_key, {"name": self.name, "original": original})

    def remove(self, path):
        self.runner.act("remove %s" % path, self._guard, path, self._unlink, path)

    def remove_record(self):
        """Forget the record; the record directory goes once empty, and an empty k8slab parent with it."""
        self.runner.act("remove %s" % self.record_file, self._guard, self.record_file, self.records.remove, self.record_key)

    @staticmethod
    def _unlink(path):
        try:
            os.unlink(path)
        except OSError:
            if os.path.exists(path):
                raise

    def _guard(self, path, action, *args):
        """Run a file change; an OS error fails the module naming ``path``."""
        try:
            return action(*args)
        except (IOError, OSError) as exc:
            self.module.fail_json(msg="cannot change %s: %s" % (path, to_native(exc)), name=self.name)

    # states --------------------------------------------------------------
    def converge_file(self, value):
        after = render_file(self.before_file or "", self.name, value)
        if value is None and only_comments(after):
            after = None
        if after == self.before_file:
            return
        self.changed = True
        self.diff["before"]["sysctl_file"] = self.before_file or ""
        self.diff["after"]["sysctl_file"] = after or ""
        if after is None:
            self.remove(self.sysctl_file)
        else:
            self.write_text(self.sysctl_file, after, 0o644)

    def converge_running(self, value):
        if value == self.before_value:
            return
        self.changed = True
        self.diff["before"]["running"] = self.before_value
        self.diff["after"]["running"] = value
        self.write_running(value)

    def state_present(self, value):
        notes = []
        if value != self.before_value and self.record is None:
            # First change: remember what we found, before touching the kernel.
            self.changed = True
            self.diff["before"]["record"] = ""
            self.diff["after"]["record"] = self.before_value
            self.write_record(self.before_value)
            self.record = self.before_value
            notes.append("recorded for state=absent")
        self.converge_running(value)
        self.converge_file(value)
        if value != self.before_value:
            msg = "%s set to %s (was %s%s)" % (self.name, value, self.before_value, ", " + ", ".join(notes) if notes else "")
        else:
            msg = "%s is %s" % (self.name, value)
        return self.result(value, msg, restored=False)

    def state_absent(self):
        original = self.record
        if original is not None:
            self.converge_running(original)
            value = original
            msg = "%s restored to its recorded value %s" % (self.name, original)
            if original == self.before_value:
                msg = "%s already at its recorded value %s" % (self.name, original)
        else:
            value = self.before_value
            msg = "no recorded value for %s; left the running value %s alone" % (self.name, value)
        self.converge_file(None)
        if original is not None:
            self.changed = True
            self.diff["before"]["record"] = original
            self.diff["after"]["record"] = ""
            self.remove_record()
        return self.result(value, msg, restored=original is not None, original=original)

    def result(self, value, msg, restored, original=None):
        result = dict(
            changed=self.changed,
            name=self.name,
            value=value,
            previous=self.before_value,
            original=original if original is not None else self.record,
            recorded=self.record is not None and not restored,
            restored=restored,
            sysctl_file=self.sysctl_file,
            msg=msg,
        )
        if self.module._diff:
            result["diff"] = self.render_diff()
        return result

    def render_diff(self):
        """One before/after text per object: running value, file, record."""
        before, after = self.diff["before"], self.diff["after"]
        diffs = []
        for key, header in (("running", self.path), ("sysctl_file", self.sysctl_file), ("record", self.record_file)):
            if key in before or key in after:
                b, a = before.get(key, ""), after.get(key, "")
                diffs.append(dict(before_header=header, after_header=header,
                                  before=b if b.endswith("\n") or not b else b + "\n",
                                  after=a if a.endswith("\n") or not a else a + "\n"))
        return diffs
