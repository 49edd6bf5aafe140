# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Files the modules of this collection write, and what they remember between runs.

* :func:`write_atomic`: the one way a module writes a file - a temporary file in
  the same directory, its mode set, then renamed over the target, so a reader
  sees the old content or the new, never half of it;
* :class:`RecordStore`: JSON records, one file per key, in a module's state
  directory (``/var/lib/k8slab/<module>``), removed with the directory once empty;
* :func:`text_digest` / :func:`file_digest`: what the no-change paths compare a
  record file or a table's listing by, without keeping the text.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import tempfile


def write_atomic(path, text, mode=0o644, keep_previous=False):
    """Replace ``path`` with ``text`` atomically, creating its directory (0755) when missing.

    With ``keep_previous`` the file being replaced is kept as ``<path>.prev`` (a hard link
    renamed into place, so ``.prev`` too is always whole, and ``path`` never goes missing).
    """
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        if keep_previous and os.path.exists(path):
            if os.path.exists(tmp + ".prev"):
                os.unlink(tmp + ".prev")
            os.link(path, tmp + ".prev")
            os.replace(tmp + ".prev", path + ".prev")
        os.replace(tmp, path)
    finally:
        for name in (tmp, tmp + ".prev"):
            if os.path.exists(name):
                os.unlink(name)


def install_file(source, path, mode=0o755):
    """Copy the file ``source`` over ``path`` atomically (a temporary copy next to it, renamed into place)."""
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle, open(source, "rb") as original:
            shutil.copyfileobj(original, handle)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_text(path):
    """The file's text, or None when it does not exist (other errors are raised)."""
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        if not os.path.exists(path):
            return None
        raise


def text_digest(text):
    """sha256 of a text (None counts as empty)."""
    return hashlib.sha256((text or "").encode("utf-8")).hexdigest()


def file_digest(path):
    """sha256 of a file's text, None when it does not exist."""
    text = read_text(path)
    return None if text is None else text_digest(text)


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


class RecordStore:
    """JSON records in one state directory, one file ``<name>.json`` per record.

    With ``keep_previous`` every overwritten record is kept as ``<name>.json.prev``, the
    recovery copy an error about a broken record can point to; removing a record removes it too.
    """

    def __init__(self, state_dir, keep_previous=False):
        self.state_dir = state_dir
        self.keep_previous = keep_previous

    def path(self, name):
        return os.path.join(self.state_dir, name + ".json")

    def names(self, suffix=""):
        """The names of the stored records whose name ends with ``suffix``, sorted."""
        pattern = os.path.join(glob.escape(self.state_dir), "*%s.json" % glob.escape(suffix))
        return [os.path.basename(path)[:-len(".json")] for path in sorted(glob.glob(pattern))]

    def read_text(self, name):
        """The record's JSON text, None when there is none."""
        return read_text(self.path(name))

    def read(self, name):
        """The record's data, None when there is none; ValueError when it is not JSON."""
        text = self.read_text(name)
        return None if text is None else json.loads(text)

    def write_text(self, name, text):
        """Store JSON text as the record; nothing is written when the file holds it already."""
        path = self.path(name)
        try:
            if read_text(path) == text:
                return False
        except (IOError, OSError):
            pass
        write_atomic(path, text, 0o644, keep_previous=self.keep_previous)
        return True

    def write(self, name, data):
        return self.write_text(name, json.dumps(data) + "\n")

    def remove(self, name):
        """Forget the record; the directory goes once empty. False when there was none."""
        path = self.path(name)
        if self.keep_previous and os.path.exists(path + ".prev"):
            os.unlink(path + ".prev")
        if not os.path.exists(path):
            prune_empty_state_dir(self.state_dir)
            return False
        os.unlink(path)
        prune_empty_state_dir(self.state_dir)
        return True
