# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the collection claims about itself is what its tests run.

ansible-core versions (meta/runtime.yml, requirements.txt, the cores scripts/test runs
and their constraints files, the roles' meta, the CI workflow's matrix), node platforms (the roles' meta, the node image), the modules'
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
    assert core_minors(">=2.19.0")[:3] == [19, 20, 21]


def cores_under_test():
    """K8SLAB_CORES of scripts/lib/common.sh: the ansible-core minors scripts/test runs, oldest first."""
    found = re.findall(r"^K8SLAB_CORES=\(([^)]*)\)$", read_bench("scripts", "lib", "common.sh"), re.M)
    assert len(found) == 1, "one K8SLAB_CORES=(...) line in scripts/lib/common.sh"
    cores = found[0].split()
    assert cores == sorted(cores, key=Version) and len(set(cores)) == len(cores) >= 1, cores
    return cores


def test_runtime_claims_the_oldest_tested_core_and_no_upper_bound():
    spec = load_yaml("meta", "runtime.yml")["requires_ansible"]
    assert spec == ">=%s.0" % cores_under_test()[0], \
        "meta/runtime.yml: the oldest core scripts/test runs, and no upper bound (as the collections of the Ansible package)"


def claimed_minors():
    return core_minors(load_yaml("meta", "runtime.yml")["requires_ansible"])


def test_requirements_install_the_claimed_ansible_core():
    lines = [line.split("#")[0].strip() for line in read("requirements.txt").splitlines()]
    cores = [Requirement(line) for line in lines if line and Requirement(line).name == "ansible-core"]
    assert len(cores) == 1, lines
    assert core_minors(str(cores[0].specifier)) == claimed_minors()


def constraint_pins(name):
    """{package: version} of one constraints file (names normalised as pip does)."""
    pins = {}
    for line in read_bench(name).splitlines():
        line = line.split("#")[0].strip()
        if line:
            requirement = Requirement(line)
            specifiers = list(requirement.specifier)
            assert len(specifiers) == 1 and specifiers[0].operator == "==", "%s: exact pins only: %s" % (name, line)
            pins[re.sub(r"[-_.]+", "-", requirement.name).lower()] = specifiers[0].version
    return pins


def test_constraints_pin_each_tested_core_once():
    cores = cores_under_test()
    shared = constraint_pins("constraints.txt")
    assert "ansible-core" not in shared, "constraints.txt is shared by every core: pin ansible-core in constraints-<core>.txt"
    per_core = sorted(os.path.basename(path) for path in glob.glob(os.path.join(REPO, "constraints-2.*.txt")))
    assert per_core == ["constraints-%s.txt" % core for core in cores], "one constraints-<core>.txt per K8SLAB_CORES entry"
    for core in cores:
        pins = constraint_pins("constraints-%s.txt" % core)
        assert ".".join(pins["ansible-core"].split(".")[:2]) == core, "constraints-%s.txt pins ansible-core %s" % (core, pins["ansible-core"])
        assert not set(pins) & set(shared), "pinned in constraints.txt and constraints-%s.txt: pip refuses two pins" % core


def test_each_tested_core_has_its_pythons():
    bootstrap = read_bench("scripts", "lib", "bootstrap.sh")
    table = dict(re.findall(r"^ +([0-9.]+)\) echo ([0-9. ]+) ;;$", bootstrap, re.M))
    for core in cores_under_test():
        assert core in table, "k8slab_core_pythons names no Python for ansible-core %s" % core
        constraints = read_bench("constraints-%s.txt" % core)
        preferred = table[core].split()[0]
        assert "on Python %s " % preferred in constraints, "constraints-%s.txt: say which Python it was frozen on" % core


def scenario_releases():
    """{scenario: Debian release} of the molecule scenarios that ask for one (ansible.env.K8SLAB_NODE_RELEASE)."""
    releases = {}
    for path in glob.glob(os.path.join(REPO, "molecule", "*", "molecule.yml")):
        with open(path) as handle:
            env = (yaml.safe_load(handle).get("ansible") or {}).get("env") or {}
        if "K8SLAB_NODE_RELEASE" in env:
            releases[os.path.basename(os.path.dirname(path))] = env["K8SLAB_NODE_RELEASE"]
    return releases


def releases_under_test():
    """The node image's default Debian release, then those molecule scenarios ask for, or None outside the bench."""
    default = re.search(r"^default_release=(\w+)$", read_bench("scripts", "build-node-image.sh"), re.M)
    if not default or not os.path.isdir(os.path.join(REPO, "molecule")):
        return None
    return [default.group(1)] + sorted(set(scenario_releases().values()) - {default.group(1)})


def test_roles_claim_the_oldest_tested_ansible_core_and_the_tested_platforms():
    releases = releases_under_test()
    tested = [{"name": "Debian", "versions": releases}] if releases else None
    roles = sorted(glob.glob(os.path.join(REPO, "roles", "*", "meta", "main.yml")))
    assert roles
    for path in roles:
        with open(path) as handle:
            info = yaml.safe_load(handle)["galaxy_info"]
        assert info["min_ansible_version"] == "2.%d" % claimed_minors()[0], \
            "%s: min_ansible_version must be the oldest ansible-core meta/runtime.yml claims" % path
        if tested:
            assert info["platforms"] == tested, "%s: claim the releases molecule tests the node image on (%s)" % (path, tested)


def test_scenarios_ask_for_releases_the_image_builds():
    common = read_bench("scripts", "lib", "common.sh")
    suites = re.search(r"^K8SLAB_DEBIAN_SUITES='([^']+)'$", common, re.M).group(1)
    releases = scenario_releases()
    assert "trixie" in releases.values(), "a molecule scenario runs on Debian 13 (trixie)"
    for scenario, release in releases.items():
        assert re.match(suites, release), "molecule/%s asks for %s, which scripts/build-node-image.sh refuses" % (scenario, release)


def test_ci_runs_sanity_and_unit_on_every_tested_core_and_devel():
    jobs = workflow()["jobs"]
    want = ["stable-%s" % core for core in cores_under_test()] + ["devel"]
    for job, testing_type in (("sanity", "sanity"), ("unit", "units")):
        matrix = jobs[job]["strategy"]["matrix"]
        cores = matrix.get("ansible-core") or [entry["ansible-core"] for entry in matrix["include"]]
        assert cores == want, job
        assert jobs[job]["continue-on-error"] == "${{ matrix.ansible-core == 'devel' }}", "%s: devel may fail" % job
        steps = [step for step in jobs[job]["steps"]
                 if step.get("uses", "").startswith("ansible-community/ansible-test-gh-action@")]
        assert [step["with"]["testing-type"] for step in steps] == [testing_type], job
    # No target Python: ansible-test's default container runs every Python tests/config.yml claims.
    assert all("target-python-version" not in step.get("with", {}) for step in jobs["sanity"]["steps"])


def test_ci_runs_every_layer_of_scripts_test():
    layers = re.search(r"^ALL_LAYERS=\(([^)]*)\)$", read_bench("scripts", "test"), re.M).group(1).split()
    jobs = workflow()["jobs"]
    in_ci = {"sanity", "unit", "molecule"} | set(jobs["layers"]["strategy"]["matrix"]["layer"])
    assert sorted(in_ci) == sorted(layers)
    assert any('scripts/test "${{ matrix.layer }}"' in step.get("run", "") for step in jobs["layers"]["steps"])


def test_ci_runs_each_molecule_scenario_in_a_job_of_its_own():
    scenarios = sorted(os.path.basename(os.path.dirname(path))
                       for path in glob.glob(os.path.join(REPO, "molecule", "*", "molecule.yml")))
    job = workflow()["jobs"]["molecule"]
    matrix = job["strategy"]["matrix"]
    newest = cores_under_test()[-1]
    assert matrix["ansible-core"] == [newest]
    assert matrix["scenario"] == scenarios, "one job per molecule/*/molecule.yml"
    assert sorted(entry["ansible-core"] for entry in matrix["include"]) == cores_under_test()[:-1]
    assert all(entry["scenario"] == "default" for entry in matrix["include"])
    run = " ".join(step.get("run", "") for step in job["steps"])
    for wiring in ("K8SLAB_ANSIBLE_CORE=${{ matrix.ansible-core }}", "K8SLAB_MOLECULE_SCENARIOS=${{ matrix.scenario }}",
                   "scripts/test molecule"):
        assert wiring in run


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


def test_sample_ee_installs_the_tarball_of_this_version():
    version = load_yaml("galaxy.yml")["version"]
    ee = load_yaml("examples", "execution-environment.yml")
    assert ee["dependencies"]["galaxy"] == "ee-requirements.yml"
    assert [entry["src"] for entry in ee["additional_build_files"]] == ["../k8slab-kube_proxy-*.tar.gz"]
    wanted = [{"name": "collections/k8slab-kube_proxy-%s.tar.gz" % version, "type": "file"}]
    assert load_yaml("examples", "ee-requirements.yml")["collections"] == wanted, \
        "examples/ee-requirements.yml names galaxy.yml's version (scripts/release.sh updates both)"
    core = SpecifierSet(ee["dependencies"]["ansible_core"]["package_pip"].split("ansible-core", 1)[1])
    assert core_minors(str(core)) == claimed_minors(), "the sample EE installs an ansible-core the collection claims"
