# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The shell set-up of scripts/lab and scripts/test, with faults planted by stubs.

Every step that can fail must end the script with `error: ...` and a non-zero
exit, never silently; helpers that look for optional files must not fail their
caller under `set -e`. Each test runs the real helpers in scripts/lib/ (or the
real scripts/lab) in bash, with stub commands first on PATH or a stub venv
python, in a temporary folder. Nothing here needs root, the network or Docker.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import textwrap
import zipfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIB = os.path.join(REPO, "scripts", "lib")
WHEEL_VERSION = "12.3.0"
PYTHON = "%d.%d" % sys.version_info[:2]
# The ansible-core whose venv may run on this Python (scripts/lib/bootstrap.sh: k8slab_core_pythons).
CORE = {"3.11": "2.19", "3.12": "2.20"}.get(PYTHON, "2.21")


def write_script(path, body):
    with open(path, "w") as handle:
        handle.write("#!/bin/bash\n" + textwrap.dedent(body))
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def requirements_stamp():
    """What k8slab_venv_ensure writes into the venv of CORE once the requirements are installed."""
    digest = hashlib.sha256()
    names = sorted(name for name in os.listdir(REPO) if name.startswith("requirements") and name.endswith(".txt"))
    for name in names + ["constraints.txt", "constraints-%s.txt" % CORE]:
        with open(os.path.join(REPO, name), "rb") as handle:
            digest.update(handle.read())
    digest.update(("python %s\n" % PYTHON).encode())
    return digest.hexdigest()[:16]


class Bench:
    """A temporary cache, a stub venv and a folder of stub commands put first on PATH."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.cache = tmp_path / "cache"
        self.venv = tmp_path / ("venv-%s" % CORE)   # the name common.sh gives a core's venv
        self.stubs = tmp_path / "stubs"
        self.stubs.mkdir()
        (self.venv / "bin").mkdir(parents=True)
        # The venv's python: `-m pip download` and `-m pip install` do what
        # PIP_DOWNLOAD / PIP_INSTALL say (fail, or make a wheel); the rest is the real python.
        write_script(self.venv / "bin" / "python", """\
            if [ "$1 $2 $3" = "-m pip download" ]; then
              case ${PIP_DOWNLOAD:-fail} in
                fail) echo "stub: pip download: no connection to the index" >&2; exit 1 ;;
                nothing) exit 0 ;;
                wheel) shift 3
                       while [ $# -gt 0 ]; do [ "$1" = -d ] && dest=$2; shift; done
                       exec %(python)s %(maker)s "$dest" ;;
              esac
            fi
            if [ "$1 $2 $3" = "-m pip install" ] && [ "${PIP_INSTALL:-ok}" = fail ]; then
              echo "stub: pip install: no connection to the index" >&2; exit 1
            fi
            exec %(python)s "$@"
            """ % {"python": sys.executable, "maker": tmp_path / "make_wheel.py"})
        with open(tmp_path / "make_wheel.py", "w") as handle:
            handle.write(textwrap.dedent("""\
                import os, sys, zipfile
                path = os.path.join(sys.argv[1], "ansible-%s-py3-none-any.whl")
                with zipfile.ZipFile(path, "w") as archive:
                    archive.writestr("ansible_collections/community/docker/MANIFEST.json", "{}")
                    archive.writestr("ansible/__init__.py", "")
                """ % WHEEL_VERSION))
        (self.venv / ".k8slab-requirements").write_text(requirements_stamp() + "\n")

    def stub(self, name, body):
        write_script(self.stubs / name, body)

    def env(self, **extra):
        env = dict(os.environ)
        for name in ("K8SLAB_NODE_IMAGE", "K8SLAB_DEBIAN_MIRROR", "ANSIBLE_COLLECTIONS_PATH", "VIRTUAL_ENV"):
            env.pop(name, None)
        env.update(K8SLAB_REPO=REPO, K8SLAB_CACHE=str(self.cache), K8SLAB_VENV=str(self.venv), K8SLAB_ANSIBLE_CORE=CORE,
                   K8SLAB_ANSIBLE_WHEEL_VERSION=WHEEL_VERSION, K8SLAB_POLICY_RC_D=str(self.tmp / "policy-rc.d"),
                   PATH=str(self.stubs) + os.pathsep + env.get("PATH", ""))
        env.update({key: str(value) for key, value in extra.items()})
        return env

    def helpers(self, script, **extra):
        """Run `script` in `set -eEuo pipefail` bash after sourcing the shared helpers."""
        prologue = ("set -eEuo pipefail\n"
                    "source %s/common.sh; source %s/bootstrap.sh; source %s/docker.sh\n" % (LIB, LIB, LIB))
        return subprocess.run(["bash", "-c", prologue + textwrap.dedent(script)], env=self.env(**extra),
                              capture_output=True, text=True, check=False, timeout=120)

    def lab(self, *args, **extra):
        return subprocess.run(["bash", os.path.join(REPO, "scripts", "lab")] + list(args), env=self.env(**extra),
                              capture_output=True, text=True, check=False, timeout=120, stdin=subprocess.DEVNULL)


@pytest.fixture
def bench(tmp_path):
    return Bench(tmp_path)


def assert_clear_failure(result, *phrases):
    """A non-zero exit, and `error: ...` with every phrase on stderr."""
    assert result.returncode != 0, result
    assert "error: " in result.stderr, result
    for phrase in phrases:
        assert phrase in result.stderr, result


# ---------------------------------------------------------------- optional files

def test_first_file_finds_nothing_without_failing(bench):
    result = bench.helpers("""\
        found=$(k8slab_first_file "$K8SLAB_CACHE"/wheels/ansible-*.whl)
        echo "found=[$found]"
        """)
    assert result.returncode == 0, result
    assert result.stdout == "found=[]\n"


def test_first_file_prints_the_first_that_exists(bench, tmp_path):
    (tmp_path / "b.whl").write_text("")
    (tmp_path / "c.whl").write_text("")
    result = bench.helpers('k8slab_first_file "%s"/a.whl "%s"/*.whl' % (tmp_path, tmp_path))
    assert result.returncode == 0, result
    assert result.stdout == "%s/b.whl\n" % tmp_path


# ---------------------------------------------------------------- community.docker

def test_collections_from_an_empty_cache(bench):
    """The bug of issue 9: with no wheel cached yet, `set -e` ended scripts/lab silently."""
    result = bench.helpers('k8slab_collections_ensure; echo "ANSIBLE_COLLECTIONS_PATH=$ANSIBLE_COLLECTIONS_PATH"',
                           PIP_DOWNLOAD="wheel")
    assert result.returncode == 0, result
    assert (bench.cache / "collections" / "ansible_collections" / "community" / "docker" / "MANIFEST.json").is_file()
    assert "ANSIBLE_COLLECTIONS_PATH=%s/.collections:%s/collections" % (REPO, bench.cache) in result.stdout


def test_collections_when_pip_download_fails(bench):
    result = bench.helpers("k8slab_collections_ensure", PIP_DOWNLOAD="fail")
    assert_clear_failure(result, "pip download ansible==%s failed" % WHEEL_VERSION, "run this again")
    assert "stub: pip download" in result.stderr


def test_collections_when_pip_download_leaves_no_wheel(bench):
    result = bench.helpers("k8slab_collections_ensure", PIP_DOWNLOAD="nothing")
    assert_clear_failure(result, "left no ansible-%s-*.whl" % WHEEL_VERSION)


def test_collections_when_the_wheel_is_broken(bench):
    (bench.cache / "wheels").mkdir(parents=True)
    (bench.cache / "wheels" / ("ansible-%s-py3-none-any.whl" % WHEEL_VERSION)).write_text("not a zip")
    result = bench.helpers("k8slab_collections_ensure")
    assert_clear_failure(result, "extracting community.docker", "delete the wheel")


def test_collections_when_the_wheel_has_no_community_docker(bench):
    (bench.cache / "wheels").mkdir(parents=True)
    with zipfile.ZipFile(bench.cache / "wheels" / ("ansible-%s-py3-none-any.whl" % WHEEL_VERSION), "w") as archive:
        archive.writestr("ansible/__init__.py", "")
    result = bench.helpers("k8slab_collections_ensure")
    assert_clear_failure(result, "no ansible_collections/community/docker/", "extracting community.docker")


# ---------------------------------------------------------------- the venv

def test_venv_when_pip_install_fails(bench):
    (bench.venv / ".k8slab-requirements").unlink()
    result = bench.helpers("k8slab_venv_ensure", PIP_INSTALL="fail")
    assert_clear_failure(result, "pip install -r requirements-test.txt", "failed", "run this again")
    assert not (bench.venv / ".k8slab-requirements").exists()


def test_venv_when_python_cannot_make_one(bench, tmp_path):
    bench.stub("python" + PYTHON, """\
        if [ "$1" = -m ] && [ "$2" = venv ]; then echo "stub: ensurepip is not available" >&2; exit 1; fi
        exec %s "$@"
        """ % sys.executable)
    venv = tmp_path / ("new-venv-%s" % CORE)
    result = bench.helpers("k8slab_venv_ensure", K8SLAB_VENV=venv)
    assert_clear_failure(result, "-m venv %s failed" % venv, "python3-venv")
    assert "stub: ensurepip" in result.stderr


def test_venv_of_an_untested_core(bench):
    result = bench.helpers("k8slab_venv_ensure", K8SLAB_ANSIBLE_CORE="2.18")
    assert_clear_failure(result, "K8SLAB_ANSIBLE_CORE=2.18: not a tested ansible-core (one of 2.19 ")


def test_venv_path_per_core(tmp_path):
    """.venv is the newest core's; another core's gets -<core>, once, however often common.sh is sourced."""
    script = 'source %s/common.sh; source %s/common.sh; echo "$K8SLAB_ANSIBLE_CORE $K8SLAB_VENV"' % (LIB, LIB)
    paths = {}
    for core in ("", "2.19", "2.20", "2.21"):
        env = dict(os.environ, K8SLAB_VENV=str(tmp_path / ".venv"), K8SLAB_ANSIBLE_CORE=core)
        result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=True)
        paths[core] = result.stdout.split()
    assert paths[""] == paths["2.21"] == ["2.21", str(tmp_path / ".venv")]
    assert paths["2.19"] == ["2.19", str(tmp_path / ".venv-2.19")]
    assert paths["2.20"] == ["2.20", str(tmp_path / ".venv-2.20")]


def test_ansible_test_pip_bootstrap_when_pip_download_fails(bench, tmp_path):
    result = bench.helpers("k8slab_ansible_test_cache_ensure", HOME=tmp_path / "home", PIP_DOWNLOAD="fail")
    assert_clear_failure(result, "pip download pip==", "run this again")
    assert not list((tmp_path / "home" / ".ansible" / "test" / "cache").glob("get_pip_*.py"))


# ---------------------------------------------------------------- Debian packages

def packages_missing(bench, uid):
    bench.stub("dpkg-query", "exit 1\n")
    bench.stub("id", 'if [ "$1" = -u ]; then echo %d; else exec /usr/bin/id "$@"; fi\n' % uid)


def test_apt_when_apt_get_fails(bench):
    if not os.path.exists("/etc/debian_version"):
        pytest.skip("the apt path is taken on Debian only")
    packages_missing(bench, 0)
    bench.stub("apt-get", 'echo "stub: E: Unable to locate package $*" >&2; exit 100\n')
    result = bench.helpers("k8slab_apt_ensure k8slab-nothing:k8slab-no-such-command")
    assert_clear_failure(result, "apt-get install k8slab-nothing failed", "run this again")
    assert not os.path.exists(bench.tmp / "policy-rc.d"), "the service block must be removed again"


def test_apt_when_not_root(bench):
    packages_missing(bench, 1000)
    bench.stub("apt-get", "exit 0\n")
    result = bench.helpers("k8slab_apt_ensure k8slab-nothing:k8slab-no-such-command")
    assert_clear_failure(result, "missing packages: k8slab-nothing")


def test_apt_skips_what_is_there(bench):
    bench.stub("apt-get", 'echo "stub: apt-get must not run" >&2; exit 100\n')
    result = bench.helpers("k8slab_apt_ensure bash:bash; echo done")
    assert result.returncode == 0, result
    assert result.stdout == "done\n"


# ---------------------------------------------------------------- docker

def test_docker_when_no_daemon_and_not_root(bench):
    bench.stub("docker", "exit 1\n")
    bench.stub("id", 'if [ "$1" = -u ]; then echo 1000; else exec /usr/bin/id "$@"; fi\n')
    result = bench.helpers("k8slab_docker_ensure")
    assert_clear_failure(result, "no docker daemon answers")


# ---------------------------------------------------------------- scripts/lab as a whole

def test_lab_up_names_the_failed_step(bench):
    """scripts/lab up on a fresh cache whose `pip download` fails: a message, never a silent exit."""
    bench.stub("dockerd", "exit 1\n")   # present, so no apt-get; never reached
    bench.stub("docker", "echo 'stub: docker must not be reached' >&2; exit 1\n")
    result = bench.lab("up", PIP_DOWNLOAD="fail")
    assert_clear_failure(result, "pip download ansible==%s failed" % WHEEL_VERSION)
    assert "docker must not be reached" not in result.stderr


def test_lab_unknown_command(bench):
    result = bench.lab("sideways")
    assert_clear_failure(result, "unknown command: sideways")


def test_lab_verify_without_a_node(bench):
    bench.stub("docker", 'if [ "$1" = info ]; then exit 0; fi; exit 1\n')
    bench.stub("dockerd", "exit 1\n")
    result = bench.lab("verify", PIP_DOWNLOAD="wheel", K8SLAB_CONTAINER_PREFIX="t9-")
    assert_clear_failure(result, "t9-k8slab-node is not running", "scripts/lab up")


def test_lab_down_when_docker_rm_fails(bench):
    bench.stub("docker", 'if [ "$1" = rm ]; then exit 3; fi; exit 0\n')
    result = bench.lab("down", K8SLAB_CONTAINER_PREFIX="t9-")
    assert_clear_failure(result, "docker rm -f t9-k8slab-node failed")


def test_lab_errors_name_the_command_that_failed(bench):
    """A failure without a message of its own is named by the ERR trap, never silent."""
    bench.stub("docker", 'case $1 in inspect) echo true ;; ps) exit 3 ;; esac\n')
    result = bench.lab("status", K8SLAB_CONTAINER_PREFIX="t9-")
    assert_clear_failure(result, "lab: `docker ps --filter", "failed with exit 3")


# ---------------------------------------------------------------- the node image

def build_image(bench, **extra):
    return subprocess.run(["bash", os.path.join(REPO, "scripts", "build-node-image.sh")], env=bench.env(**extra),
                          capture_output=True, text=True, check=False, timeout=120)


def test_node_image_without_docker(bench):
    bench.stub("docker", "exit 1\n")
    bench.stub("debootstrap", "exit 0\n")
    result = build_image(bench, K8SLAB_DEBIAN_MIRROR="http://mirror.invalid/debian")
    assert_clear_failure(result, "no docker daemon answers")


def test_node_image_when_debootstrap_fails(bench):
    bench.stub("docker", 'if [ "$1" = info ]; then exit 0; fi; exit 1\n')
    bench.stub("debootstrap", 'echo "stub: E: Failed getting release file" >&2; exit 1\n')
    result = build_image(bench, K8SLAB_DEBIAN_MIRROR="http://mirror.invalid/debian")
    assert_clear_failure(result, "debootstrap bookworm from http://mirror.invalid/debian failed", "K8SLAB_DEBIAN_MIRROR")
    assert result.stdout == ""


# ---------------------------------------------------------------- the Debian mirror

@pytest.mark.parametrize("files, expected", [
    ({"sources.list.d/debian.sources": """\
        Types: deb
        # a comment
        URIs: http://mirror.invalid/debian
        Suites: bookworm bookworm-updates
        Components: main

        Types: deb
        URIs: http://mirror.invalid/debian-security
        Suites: bookworm-security
        Components: main
        """}, "http://mirror.invalid/debian"),
    ({"sources.list.d/debian.sources": """\
        Types: deb
        URIs: http://security.invalid/debian-security
        Suites: bookworm-security
        Components: main

        Enabled: no
        Types: deb
        URIs: http://disabled.invalid/debian
        Suites: bookworm
        Components: main
        """,
      "sources.list": """\
        # deb http://commented.invalid/debian bookworm main
        deb cdrom:[Debian 12]/ bookworm main
        deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://list.invalid/debian/ bookworm main
        """}, "http://list.invalid/debian/"),
    ({"sources.list": "deb-src http://src.invalid/debian bookworm main\n"}, ""),
    ({"sources.list.d/ubuntu.sources": """\
        Types: deb
        URIs: http://ubuntu.invalid/ubuntu/
        Suites: noble noble-updates noble-backports
        Components: main universe
        """}, ""),
    ({}, ""),
])
def test_debian_mirror_from_apt_sources(bench, tmp_path, files, expected):
    etc = tmp_path / "apt"
    (etc / "sources.list.d").mkdir(parents=True)
    for name, text in files.items():
        (etc / name).write_text(textwrap.dedent(text))
    result = bench.helpers('mirror=$(k8slab_debian_mirror "%s"); echo "[$mirror]"' % etc)
    assert result.returncode == 0, result
    assert result.stdout == "[%s]\n" % expected


# ---------------------------------------------------------------- vanished tests

@pytest.mark.parametrize("tests, expect_rc, phrase", [
    (None, 1, "is missing: no tests to run"),
    ({}, 5, "pytest collected no tests"),
    ({"test_s.py": "import pytest\n\ndef test_a():\n    pytest.skip('no root')\n"}, 1, "every one of the 1 tests was skipped"),
    ({"test_p.py": "def test_a():\n    pass\n"}, 0, "1 passed"),
])
def test_pytest_layer_fails_when_tests_vanish(bench, tmp_path, tests, expect_rc, phrase):
    folder = tmp_path / "suite"
    if tests is not None:
        folder.mkdir()
        for name, text in tests.items():
            (folder / name).write_text(text)
    result = bench.helpers('source "%s/pytest.sh"; cd "%s"; k8slab_pytest suite' % (LIB, tmp_path),
                           PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    assert result.returncode == expect_rc, result
    assert phrase in result.stdout + result.stderr, result
