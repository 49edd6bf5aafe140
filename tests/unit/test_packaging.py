# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the collection claims about itself is what its tests run.

ansible-core versions (meta/runtime.yml, requirements.txt, the roles' meta, the CI
workflow's matrix), node platforms (the roles' meta, the node image), the modules'
Python range (tests/config.yml) and the CI workflow's jobs (the layers of scripts/test).
"""

from __future__ import annotations

import ast
import glob
import os
import re

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_yaml(*path):
    with open(os.path.join(REPO, *path)) as handle:
        return yaml.safe_load(handle)


def read(*path):
    with open(os.path.join(REPO, *path)) as handle:
        return handle.read()


def read_bench(*path):
    """A file of the test bench, which ansible-test's copy of the collection may leave out."""
    if not os.path.exists(os.path.join(REPO, *path)):
        pytest.skip("no %s in this tree" % os.path.join(*path))
    return read(*path)


def core_minors(spec):
    """The ansible-core 2.x minors a specifier admits (any release of the minor)."""
    specifier = SpecifierSet(spec)
    return [minor for minor in range(9, 40)
            if any(Version("2.%d.%d" % (minor, patch)) in specifier for patch in (0, 50, 999))]


def workflow():
    path = os.path.join(REPO, ".github", "workflows", "ci.yml")
    if not os.path.exists(path):
        pytest.skip("no .github/workflows/ci.yml in this tree")  # e.g. inside ansible-test's copy
    with open(path) as handle:
        return yaml.safe_load(handle)


def test_core_minors():
    assert core_minors(">=2.19.0,<2.20") == [19]
    assert core_minors(">=2.16.0,<2.20") == [16, 17, 18, 19]
    assert core_minors(">=2.19,<2.20") == [19]


def claimed_minors():
    return core_minors(load_yaml("meta", "runtime.yml")["requires_ansible"])


def test_requirements_install_the_claimed_ansible_core():
    claimed = claimed_minors()
    assert claimed, "meta/runtime.yml claims no ansible-core version"
    lines = [line.split("#")[0].strip() for line in read("requirements.txt").splitlines()]
    cores = [Requirement(line) for line in lines if line and Requirement(line).name == "ansible-core"]
    assert len(cores) == 1, lines
    assert core_minors(str(cores[0].specifier)) == claimed


def test_pinned_ansible_core_is_a_claimed_one():
    pins = re.findall(r"^ansible-core==(\S+)$", read_bench("constraints.txt"), re.M)
    assert len(pins) == 1
    assert Version(pins[0]).minor in claimed_minors()


def test_roles_claim_the_oldest_tested_ansible_core_and_the_tested_platform():
    suite = re.search(r"^suite=(\w+)$", read_bench("scripts", "build-node-image.sh"), re.M)
    tested = [{"name": "Debian", "versions": [suite.group(1)]}] if suite else None
    roles = sorted(glob.glob(os.path.join(REPO, "roles", "*", "meta", "main.yml")))
    assert roles
    for path in roles:
        with open(path) as handle:
            info = yaml.safe_load(handle)["galaxy_info"]
        assert info["min_ansible_version"] == "2.%d" % claimed_minors()[0], \
            "%s: min_ansible_version must be the oldest ansible-core meta/runtime.yml claims" % path
        if tested:
            assert info["platforms"] == tested, "%s: claim only the platform the node image is (%s)" % (path, tested)


def test_ci_runs_sanity_and_unit_on_every_claimed_ansible_core():
    jobs = workflow()["jobs"]
    want = ["stable-2.%d" % minor for minor in claimed_minors()]
    for job, testing_type in (("sanity", "sanity"), ("unit", "units")):
        assert jobs[job]["strategy"]["matrix"]["ansible-core"] == want, job
        steps = [step for step in jobs[job]["steps"]
                 if step.get("uses", "").startswith("ansible-community/ansible-test-gh-action@")]
        assert [step["with"]["testing-type"] for step in steps] == [testing_type], job


def test_ci_runs_every_layer_of_scripts_test():
    layers = re.search(r"^ALL_LAYERS=\(([^)]*)\)$", read_bench("scripts", "test"), re.M).group(1).split()
    jobs = workflow()["jobs"]
    in_ci = {"sanity", "unit"} | set(jobs["layers"]["strategy"]["matrix"]["layer"])
    assert sorted(in_ci) == sorted(layers)
    assert any('scripts/test "${{ matrix.layer }}"' in step.get("run", "") for step in jobs["layers"]["steps"])


def test_modules_parse_as_the_oldest_python_they_claim():
    spec = SpecifierSet(load_yaml("tests", "config.yml")["modules"]["python_requires"])
    oldest = min(Version("3.%d" % minor) for minor in range(0, 20) if Version("3.%d" % minor) in spec)
    assert oldest >= Version("3.7"), "from __future__ import annotations needs Python 3.7"
    files = sorted(glob.glob(os.path.join(REPO, "plugins", "module_utils", "*.py"))
                   + glob.glob(os.path.join(REPO, "plugins", "modules", "*.py")))
    assert files
    for path in files:
        with open(path) as handle:
            ast.parse(handle.read(), path, feature_version=(oldest.major, oldest.minor))
