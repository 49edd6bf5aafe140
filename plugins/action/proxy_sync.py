# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin of k8slab.kube_proxy.proxy_sync: the model travels only when the node lacks it."""

from __future__ import annotations

import glob
import hashlib
import json
import os

import yaml

from ansible.errors import AnsibleActionFail, AnsibleFileNotFound
from ansible.module_utils.common.text.converters import to_native, to_text
from ansible.plugins.action import ActionBase

from ansible_collections.k8slab.kube_proxy.plugins.module_utils import proxier

_CODE = []
# Stands in the digest for the model keys read from model_file: the digest of the file's bytes.
FILE_DIGEST_KEY = "model_file_sha256"
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def code_digest():
    """A digest of the module and its module_utils: new rendering code never counts as the same model."""
    if not _CODE:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        digest = hashlib.sha256()
        for path in sorted(glob.glob(os.path.join(root, "module_utils", "*.py"))) + [
                os.path.join(root, "modules", "proxy_sync.py")]:
            with open(path, "rb") as handle:
                digest.update(handle.read())
        _CODE.append(digest.hexdigest())
    return _CODE[0]


def parse_model_file(path, data):
    """The model keys of a model file's bytes: a mapping of some of MODEL_KEYS to lists.

    Plain ``json.loads`` (or PyYAML's safe loader for ``.yml``/``.yaml``): no templating and no data
    tagging, which cost far more than the parse for a kube-proxy-sized model.
    """
    try:
        if path.lower().endswith((".yml", ".yaml")):
            model = yaml.load(data, Loader=_YAML_LOADER)  # a safe loader: plain data, no tags
        else:
            model = json.loads(data)
    except (ValueError, yaml.YAMLError) as exc:
        raise AnsibleActionFail("model_file %s is not valid %s: %s"
                                % (path, "YAML" if path.lower().endswith((".yml", ".yaml")) else "JSON", to_native(exc)))
    if not isinstance(model, dict):
        raise AnsibleActionFail("model_file %s must hold a mapping with some of the keys %s, not %s"
                                % (path, ", ".join(proxier.MODEL_KEYS), type(model).__name__))
    unknown = sorted(str(key) for key in model if key not in proxier.MODEL_KEYS)
    if unknown:
        raise AnsibleActionFail("model_file %s holds %s; only %s may be in it (every other option goes in the task)"
                                % (path, ", ".join(unknown), ", ".join(proxier.MODEL_KEYS)))
    for key, value in model.items():
        if not isinstance(value, list):
            raise AnsibleActionFail("model_file %s: %s must be a list, not %s" % (path, key, type(value).__name__))
    return model


def file_digest_args(args, model, data):
    """What the digest covers when the keys of ``model`` came from a file of bytes ``data``: the other
    arguments, and the file's sha256 instead of the model (no canonical JSON of a large model to make)."""
    digested = dict((key, value) for key, value in args.items() if key not in model)
    digested[FILE_DIGEST_KEY] = hashlib.sha256(data).hexdigest()
    return digested


def packed(args):
    """``args`` with the model keys as one JSON text in ``model_json`` (see the module's option); unchanged
    when a value does not encode as plain JSON (it then travels as lists, which works, only slower)."""
    model = dict((key, args[key]) for key in proxier.MODEL_KEYS if args.get(key) is not None)
    if not model:
        return args
    try:
        text = json.dumps(model, separators=(",", ":"))
    except (TypeError, ValueError):
        return args
    result = dict((key, value) for key, value in args.items() if key not in model)
    result["model_json"] = text
    return result


class ActionModule(ActionBase):
    """Send the model's digest first; send the model only when the node answers that it needs it.

    The node answers from its record of the last sync and one read of the rules it owns (see the
    module's description), so a no-change run neither transfers nor renders the model.

    With ``model_file`` the model keys come from a JSON (or YAML) file on the controller, read with a
    plain parser, and the digest covers the file's bytes instead of the parsed model.
    """

    TRANSFERS_FILES = False

    def find_model_file(self, name):
        """The path of model_file on the controller: a relative one as copy's src (files/ of the role and play)."""
        try:
            return self._find_needle("files", name)
        except AnsibleFileNotFound:
            raise AnsibleActionFail("model_file %s not found (a relative path is searched for in the role's and the "
                                    "play's files/ folders and beside them, as copy's src is)" % name)

    def read_model_file(self, args):
        """Move the model keys of args["model_file"] into args; returns the digest that stands for them."""
        name = to_text(args.pop("model_file"))
        inline = [key for key in proxier.MODEL_KEYS if args.get(key) is not None]
        path = self.find_model_file(name)
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise AnsibleActionFail("cannot read model_file %s: %s" % (path, to_native(exc.strerror or exc)))
        model = parse_model_file(path, data)
        both = [key for key in inline if key in model]
        if both:
            raise AnsibleActionFail("model_file and %s are mutually exclusive: %s holds %s too; give each of %s either "
                                    "in the task or in the file" % ("/".join(both), name, ", ".join(both),
                                                                    ", ".join(proxier.MODEL_KEYS)))
        args.update(model)
        return file_digest_args(args, model, data)

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        if args.get("model_json") is not None:
            raise AnsibleActionFail("model_json is set by the action plugin; give services, endpoint_slices and pods "
                                    "as options or in model_file")
        module = self._task.resolved_action or "k8slab.kube_proxy.proxy_sync"
        present = args.get("state", "present") == "present"
        digested = args
        if args.get("model_file") is not None:
            if present:
                digested = self.read_model_file(args)
            else:
                del args["model_file"]  # absent removes whatever this owner wrote; no model is read
        if present and args.get("services") is not None:
            args["model_digest"] = proxier.model_digest(digested, code_digest())
            if not args.get("return_plan"):
                probe = dict((key, value) for key, value in args.items() if key not in proxier.MODEL_KEYS)
                if args.get("drain"):
                    probe["local_netns"] = proxier.local_netns(args.get("pods") or [], args.get("node"))
                answer = self._execute_module(module_name=module, module_args=probe, task_vars=task_vars)
                if not answer.get("model_needed"):
                    result.update(answer)
                    return result
        result.update(self._execute_module(module_name=module, module_args=packed(args), task_vars=task_vars))
        return result
