#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: http_probe
short_description: Send many HTTP requests, optionally from inside a network namespace, and count who answered
version_added: 0.1.0
description:
  - Sends O(count) HTTP GET requests to O(url), each on a new TCP connection (so that connection tracking and
    the C(statistic) match pick an endpoint anew every time), and counts the answers by their message.
  - 'An answer that is JSON with a C(message) key counts under that message (the tutorial''s app answers
    C({"message": "hello world from netns_adam namespace"})); any other answer counts under its first 200 characters.'
  - With O(netns) the requests are sent from inside that network namespace (through C(ip netns exec)),
    the way a pod would send them.
  - With O(endpoints) the answers are mapped to endpoints, the split is tested against equal (or O(shares)) shares with
    a chi-square test, a small spread table is rendered, and every deviation is listed in RV(problems).
    The module itself never fails on a bad spread, so a play can report all of them; it fails only when it cannot probe.
  - The module only reads; it never changes anything and always reports C(changed=false).
author:
  - k8slab maintainers (@k8slab)
options:
  url:
    description:
      - The address to request, C(http://HOST:PORT/PATH). Only plain C(http) is supported.
      - C(udp://HOST:PORT) sends O(count) UDP datagrams instead, each from a new socket (a new source port, so a new
        conntrack entry and a fresh pick of the endpoint), and counts each answer datagram by its text (its
        first 200 characters, stripped); no answer within O(timeout) counts as a failure.
    type: str
    required: true
  count:
    description: How many requests to send, one connection each.
    type: int
    default: 200
  netns:
    description: Send from inside this network namespace (a name under C(/run/netns)). Empty or omitted means the host's own.
    type: str
  timeout:
    description: Seconds to wait for one connection and its answer.
    type: float
    default: 2.0
  deadline:
    description: Seconds the whole run may take; requests not sent by then count as failures C(not sent, deadline reached).
    type: float
    default: 300.0
  endpoints:
    description:
      - "The endpoints the requests should reach, as endpoint name -> a word that identifies its answers, such as
        C({adam: netns_adam, eve: netns_eve}). An answer belongs to the endpoint whose word appears in it as a whole word."
      - An answer that contains the word of no endpoint, or of several, counts in RV(unmatched).
    type: dict
  shares:
    description: The expected share of every endpoint (endpoint name -> number); equal shares when omitted.
    type: dict
  min_p_value:
    description: A chi-square p-value at or below this counts as a problem.
    type: float
    default: 0.001
notes:
  - Requests go only where O(url) says; point it at addresses of your own lab.
  - With O(netns), C(ip) (iproute2) and root are needed on the target.
extends_documentation_fragment:
  - k8slab.kube_proxy.attributes.read_only
"""

EXAMPLES = r"""
# test: needs tutorial-node - the tutorial's pods answering behind the Service 10.96.0.1:8080

- name: Ask the ClusterIP 200 times from the node
  k8slab.kube_proxy.http_probe:
    url: http://10.96.0.1:8080/
    count: 200
    endpoints:
      adam: netns_adam
      eve: netns_eve
  register: spread

- name: Show the spread
  ansible.builtin.debug:
    msg: "{{ spread.table }}"

- name: The same from inside pod adam
  k8slab.kube_proxy.http_probe:
    url: http://10.96.0.1:8080/
    netns: netns_adam
    count: 50
    endpoints: {adam: netns_adam, eve: netns_eve}
  register: from_adam

- name: Fail on any problem
  ansible.builtin.assert:
    that: from_adam.problems | length == 0
    fail_msg: "{{ from_adam.problems }}"
"""

RETURN = r"""
requests:
  description: How many requests were attempted.
  returned: always
  type: int
  sample: 200
succeeded:
  description: How many got an HTTP 2xx answer.
  returned: always
  type: int
  sample: 200
failed_requests:
  description: How many failed (no connection, timeout, non-2xx answer, deadline).
  returned: always
  type: int
  sample: 0
responses:
  description: Successful answers, message -> count.
  returned: always
  type: dict
  sample: {"hello world from netns_adam namespace": 97, "hello world from netns_eve namespace": 103}
failures:
  description: Failed requests, reason -> count.
  returned: always
  type: dict
  sample: {"connection refused": 3}
elapsed:
  description: Seconds the run took.
  returned: always
  type: float
  sample: 1.42
hits:
  description: Answers per endpoint.
  returned: when O(endpoints) is given
  type: dict
  sample: {"adam": 97, "eve": 103}
unmatched:
  description: Answers from no expected endpoint, message -> count.
  returned: when O(endpoints) is given
  type: dict
  sample: {}
rows:
  description: One row per endpoint with its hits, observed share, expected share and a bar of C(#).
  returned: when O(endpoints) is given
  type: list
  elements: dict
  sample: [{"endpoint": "adam", "hits": 97, "share": 0.485, "expected": 0.5, "bar": "###################"}]
chi_square:
  description: Pearson's chi-square statistic of the hits against the expected shares.
  returned: when O(endpoints) is given
  type: float
  sample: 0.18
df:
  description: Degrees of freedom of the test (endpoints minus one; 0 means nothing to test).
  returned: when O(endpoints) is given
  type: int
  sample: 1
p_value:
  description: The test's p-value, the chance of a split at least this uneven if the shares were right.
  returned: when O(endpoints) is given
  type: float
  sample: 0.67
table:
  description: The spread table, one line per list element.
  returned: when O(endpoints) is given
  type: list
  elements: str
  sample:
    - "endpoint   hits   share  expected"
    - "adam         97   48.5%     50.0%  ###################"
    - "eve         103   51.5%     50.0%  #####################"
problems:
  description: What is wrong with this run, one sentence each; empty when all requests succeeded and the spread is as expected.
  returned: when O(endpoints) is given
  type: list
  elements: str
  sample: ["3 request(s) failed: connection refused (3)"]
"""

import json
import re
import sys
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.k8slab.kube_proxy.plugins.module_utils.names import NETNS_RULE, netns_problem
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.runner import Runner
from ansible_collections.k8slab.kube_proxy.plugins.module_utils.stats import analyse_spread, render_spread_table

MAX_COUNT = 10000

# Runs in a child python (inside the namespace when asked): parameters as JSON on stdin,
# the tally as JSON on stdout. Self-contained on purpose: it is passed with `python -c`.
PROBE_CODE = r'''
import errno, http.client, json, socket, sys, time
p = json.load(sys.stdin)
responses, failures = {}, {}
def tally(table, key):
    table[key] = table.get(key, 0) + 1
def reason(exc):
    if isinstance(exc, socket.timeout):
        return "timeout after %gs" % p["timeout"]
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, OSError) and exc.errno == errno.ENETUNREACH:
        return "network unreachable (no route to %s)" % p["host"]
    if isinstance(exc, OSError) and exc.errno == errno.EHOSTUNREACH:
        return "host unreachable"
    return "%s: %s" % (type(exc).__name__, exc)
start = time.monotonic()
for i in range(p["count"]):
    if time.monotonic() - start > p["deadline"]:
        failures["not sent, deadline reached"] = p["count"] - i
        break
    if p.get("udp"):
        # One new socket (a new source port, so a new conntrack entry and a fresh pick) per datagram.
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(p["timeout"])
        try:
            sock.sendto(b"k8slab-udp-probe\n", (p["host"], p["port"]))
            tally(responses, sock.recv(65536).decode("utf-8", "replace").strip()[:200])
        except Exception as exc:
            tally(failures, reason(exc))
        finally:
            sock.close()
        continue
    conn = http.client.HTTPConnection(p["host"], p["port"], timeout=p["timeout"])
    try:
        # No "Connection: close": the probe, not the server, closes first, as curl and browsers do, so the
        # TIME_WAIT stays on the client. Left on the server, a masqueraded source (node or hairpin traffic
        # SNATed to the bridge address) meets it again on a reused port, and the SYN is PAWS-rejected.
        conn.request("GET", p["path"], headers={"User-Agent": "k8slab-http-probe"})
        resp = conn.getresponse()
        body = resp.read(65536).decode("utf-8", "replace")
        if not 200 <= resp.status < 300:
            tally(failures, "HTTP %d" % resp.status)
            continue
        try:
            message = json.loads(body)["message"]
        except Exception:
            message = body.strip()[:200]
        tally(responses, str(message))
    except Exception as exc:
        tally(failures, reason(exc))
    finally:
        conn.close()
print(json.dumps({"responses": responses, "failures": failures, "elapsed": round(time.monotonic() - start, 3)}))
'''


def parse_url(url):
    """Split an http:// or udp:// URL into (host, port, path); raise ValueError when it is not one."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "udp"):
        raise ValueError("url %r: only http:// and udp:// URLs are supported" % url)
    if parts.scheme == "udp" and not parts.port:
        raise ValueError("url %r: a udp:// URL needs a port" % url)
    if not parts.hostname:
        raise ValueError("url %r has no host" % url)
    try:
        port = parts.port or 80
    except ValueError:
        raise ValueError("url %r has an invalid port" % url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.hostname, port, path


def probe_argv(python, ip_bin, netns):
    """The command that runs PROBE_CODE, inside `netns` when given."""
    argv = [python, "-c", PROBE_CODE]
    if netns:
        argv = [ip_bin, "netns", "exec", netns] + argv
    return argv


def assign(responses, endpoints):
    """Map answers to endpoints: (hits per endpoint, unmatched answers)."""
    patterns = dict((name, re.compile(r"(?<![\w.-])%s(?![\w.-])" % re.escape(to_text(word))))
                    for name, word in endpoints.items())
    hits = dict((name, 0) for name in endpoints)
    unmatched = {}
    for message, count in responses.items():
        owners = [name for name, pattern in patterns.items() if pattern.search(message)]
        if len(owners) == 1:
            hits[owners[0]] += count
        else:
            unmatched[message] = unmatched.get(message, 0) + count
    return hits, unmatched


def summarise(tally, count, endpoints=None, shares=None, min_p_value=0.001):
    """The module's result from the child's tally (pure, unit-tested)."""
    responses = tally.get("responses") or {}
    failures = tally.get("failures") or {}
    result = {
        "changed": False,
        "requests": count,
        "succeeded": sum(responses.values()),
        "failed_requests": sum(failures.values()),
        "responses": responses,
        "failures": failures,
        "elapsed": tally.get("elapsed", 0.0),
    }
    if endpoints:
        hits, unmatched = assign(responses, endpoints)
        expected = dict((name, float((shares or {}).get(name, 1.0))) for name in endpoints)
        verdict = analyse_spread(hits, expected, unmatched=unmatched, failures=failures, min_p_value=min_p_value)
        result.update(hits=hits, unmatched=unmatched, rows=verdict["rows"], chi_square=verdict["chi_square"],
                      df=verdict["df"], p_value=verdict["p_value"], table=render_spread_table(verdict["rows"]),
                      problems=verdict["problems"])
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            count=dict(type="int", default=200),
            netns=dict(type="str"),
            timeout=dict(type="float", default=2.0),
            deadline=dict(type="float", default=300.0),
            endpoints=dict(type="dict"),
            shares=dict(type="dict"),
            min_p_value=dict(type="float", default=0.001),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        host, port, path = parse_url(params["url"])
    except ValueError as exc:
        module.fail_json(msg=to_text(exc))
    if not 1 <= params["count"] <= MAX_COUNT:
        module.fail_json(msg="count must be between 1 and %d, got %d" % (MAX_COUNT, params["count"]))
    if not 0 < params["timeout"] <= 60:
        module.fail_json(msg="timeout must be more than 0 and at most 60 seconds")
    if params["deadline"] <= 0:
        module.fail_json(msg="deadline must be positive")
    if params["netns"] and netns_problem(params["netns"]):
        module.fail_json(msg="netns %r is not a valid namespace name: %s" % (params["netns"], NETNS_RULE))
    if params["shares"]:
        unknown = sorted(set(params["shares"]) - set(params["endpoints"] or {}))
        if unknown:
            module.fail_json(msg="shares names endpoints not in endpoints: %s" % ", ".join(unknown))
        try:
            bad = [name for name, value in params["shares"].items() if float(value) <= 0]
        except (TypeError, ValueError):
            bad = ["(a share that is not a number)"]
        if bad:
            module.fail_json(msg="every share must be a positive number: %s" % ", ".join(bad))
    if not 0 <= params["min_p_value"] < 1:
        module.fail_json(msg="min_p_value must be at least 0 and below 1")

    runner = Runner(module)
    ip_bin = runner.bin("ip") if params["netns"] else None
    argv = probe_argv(sys.executable, ip_bin, params["netns"])
    request = json.dumps({"host": host, "port": port, "path": path, "count": params["count"],
                          "udp": params["url"].startswith("udp://"),
                          "timeout": params["timeout"], "deadline": params["deadline"]})
    # Read-only (it only sends requests), so it runs in check mode too.
    if params["netns"]:
        # Before the probe: `ip netns exec` into a missing namespace exits before reading the request, and
        # writing it then breaks the pipe, which the runner reports only as "Error executing command."
        rc, out, err = runner.read([ip_bin, "-json", "netns", "list"])
        listed = [entry.get("name") for entry in json.loads(out or "[]")] if rc == 0 else []
        if params["netns"] not in listed:
            module.fail_json(msg="could not probe %s inside netns %s: no such network namespace (ip netns list: %s)"
                             % (params["url"], params["netns"], ", ".join(sorted(listed)) or "none"))
    rc, out, err = runner.read(argv, data=request)
    if rc != 0:
        where = "inside netns %s" % params["netns"] if params["netns"] else "on the host"
        module.fail_json(msg="could not probe %s %s: %s" % (params["url"], where, (err or out).strip()), rc=rc)
    try:
        tally = json.loads(out)
    except ValueError:
        module.fail_json(msg="the probe printed no result: %s %s" % (out.strip()[:500], err.strip()[:500]))
    module.exit_json(**summarise(tally, params["count"], params["endpoints"], params["shares"], params["min_p_value"]))


if __name__ == "__main__":
    main()
