# SPDX-License-Identifier: GPL-3.0-or-later
# shellcheck shell=bash
# pytest on the given folders; fails when they are missing, when nothing was
# collected (pytest's exit 5) or when every test was skipped.
k8slab_pytest() {
  local dir rc=0 xml
  for dir in "$@"; do
    [ -d "$dir" ] || { echo "FAILED: $dir is missing: no tests to run"; return 1; }
  done
  xml=$(mktemp /tmp/k8slab-pytest.XXXXXX) || return 1
  python -m pytest -q -rs -p no:cacheprovider --junitxml="$xml" "$@" || rc=$?
  if [ $rc -eq 5 ]; then
    echo "FAILED: pytest collected no tests in $*"
  elif [ -s "$xml" ]; then
    python - "$xml" <<'PY' || rc=1
import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
tests = sum(int(suite.get("tests", 0)) for suite in suites)
skipped = sum(int(suite.get("skipped", 0)) for suite in suites)
if tests == 0:
    sys.exit("FAILED: pytest ran no tests")
if skipped == tests:
    sys.exit("FAILED: every one of the %d tests was skipped (reasons above): nothing was tested" % tests)
PY
  fi
  rm -f "$xml"
  return $rc
}
