# SPDX-License-Identifier: GPL-3.0-or-later
"""Done when: the tutorial's rules written with iptables_chains equal what the tutorial's own commands produce.

The tutorial's iptables commands run verbatim in a second, nested network
namespace; tests/integration/playbooks/tutorial_iptables.yml runs in the
sandbox itself. Both `iptables-save -t nat` and `-t filter` must be equal,
rule for rule and in order (comment lines starting with # aside).
"""
import os

import yaml

PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "playbooks", "tutorial_iptables.yml")

# The tutorial's commands, in its order (filter FORWARD, nat POSTROUTING, then the Service chains).
TUTORIAL = """
set -e
iptables --table filter --append FORWARD --in-interface  bridge_eden --jump ACCEPT
iptables --table filter --append FORWARD --out-interface bridge_eden --jump ACCEPT
iptables --table nat --append POSTROUTING --source 10.0.0.0/24 --jump MASQUERADE
iptables --table nat --new APP-SERVICE
iptables --table nat --append PREROUTING --jump APP-SERVICE
iptables --table nat --append OUTPUT --jump APP-SERVICE
iptables --table nat --new EDEN-SVC-HTTP
iptables --table nat --append APP-SERVICE --destination 10.96.0.1 --protocol tcp --match tcp --dport 8080 --jump EDEN-SVC-HTTP
iptables --table nat --new ADAM-HTTP
iptables --table nat --append ADAM-HTTP --protocol tcp --match tcp --jump DNAT --to-destination 10.0.0.11:8080
iptables --table nat --append EDEN-SVC-HTTP --jump ADAM-HTTP
iptables --table nat --new EVE-HTTP
iptables --table nat --append EVE-HTTP --protocol tcp --match tcp --jump DNAT --to-destination 10.0.0.21:8080
iptables --table nat --insert EDEN-SVC-HTTP 1 --match statistic --mode random --probability 0.5 --jump EVE-HTTP
iptables-save -t nat
iptables-save -t filter
"""


def strip_comments(text):
    return [line for line in text.splitlines() if not line.startswith("#")]


def test_tutorial_rules_equal_the_tutorials_commands(sandbox):
    expected = strip_comments(sandbox.run(["unshare", "--net", "--", "sh", "-c", TUTORIAL]).stdout)
    with open(PLAYBOOK) as handle:
        play = yaml.safe_load(handle)[0]
    extra = []
    for name, value in play.get("vars", {}).items():
        extra += ["-e", "%s=%s" % (name, value)]
    results = sandbox.playbook(yaml.safe_dump(play["tasks"], sort_keys=False), extra_args=extra)
    results = [result for result in results if "table" in result]  # the iptables_chains tasks
    assert [result["changed"] for result in results] == [True, True, True]
    actual = strip_comments(sandbox.run(["iptables-save", "-t", "nat"]).stdout)
    actual += strip_comments(sandbox.run(["iptables-save", "-t", "filter"]).stdout)
    assert actual == expected
    # the nat rules the tutorial is about, spelled out
    assert "-A EDEN-SVC-HTTP -m statistic --mode random --probability 0.50000000000 -j EVE-HTTP" in actual
    assert actual.index("-A EDEN-SVC-HTTP -m statistic --mode random --probability 0.50000000000 -j EVE-HTTP") \
        == actual.index("-A EDEN-SVC-HTTP -j ADAM-HTTP") - 1
    # and a second run of the playbook changes nothing
    again = sandbox.playbook(yaml.safe_dump(play["tasks"], sort_keys=False), extra_args=extra)
    again = [result for result in again if "table" in result]
    assert [result["changed"] for result in again] == [False, False, False]
