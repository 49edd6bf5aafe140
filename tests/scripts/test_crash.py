# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The crash harness's pure choices (molecule/reliability/files/crash.py): where a kill aims, when it lands, and
the summary it reports."""

from __future__ import annotations

import glob
import importlib.util
import os
import random

import jinja2
import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
spec = importlib.util.spec_from_file_location("crash", os.path.join(REPO, "molecule", "reliability", "files", "crash.py"))
crash = importlib.util.module_from_spec(spec)
spec.loader.exec_module(crash)


def row(kind, phase, aim, ok=True, killed=True, takeover=1.5, took_over=False, failed=0, gap=0.05):
    return {"kind": kind, "phase": phase, "aim": aim, "ok": ok, "killed": killed, "takeover": takeover if killed else None,
            "took_over": took_over, "failed": failed, "gap": gap}


def test_the_summary_line_shows_the_reports_figures():
    rows = [row("controller", "full converge", "app stop", takeover=3.04),
            row("module in a full converge", "full converge", "random moment", killed=False),
            row("replayed module", "replayed", "app start", ok=False, took_over=True, failed=2, gap=0.75),
            row("replayed module", "replayed", "random moment", takeover=0.4)]
    summary = crash.summarize(rows, 30, 81.6, ["round 3: verify failed"],
                              {"full converge": ["random moment", "app stop"], "replayed": ["random moment", "app start", "app stop"]})
    assert summary["kills_by_kind"] == {"controller": 1, "module in a full converge": 0, "replayed module": 2}
    assert summary["no_kill"] == {"full converge": ["random moment"], "replayed": ["app stop"]}
    assert crash.summary_line(99, summary) == (
        "seed 99: 4 rounds in 82 s; 3 kills (1 controller, 0 module in a full converge, 2 replayed module), 2 survived; "
        "next converge held the lock after at most 3.0 s (1 takeovers of a lapsed lock); 2 failed new connections; "
        "longest gap 0.75 s")


def model(*pods, layout="tutorial", backend="iptables"):
    return {"k8slab_pods": [{"name": name, "labels": {"component": "app"}} for name in pods] + [crash.CLIENT],
            "service_proxy_layout": layout, "service_proxy_backend": backend}


def aimed(old, new):
    return set(point[0] for point in crash.aims(crash.POINTS, old, new))


@pytest.mark.parametrize("old, new, named", [
    # pods joining, none leaving: the drain and the app stop have nothing to do
    (model("adam", "eve"), model("adam", "eve", "cain", layout="kube-proxy", backend="nftables"),
     {"pod_sync, veth pairs half made", "last sync: records, then apply"}),
    (model("adam", "eve", "cain"), model("adam"),
     {"drain sync: records, then apply", "app stop", "last sync: records, then apply"}),
    (model("adam", "eve"), model("adam", "cain"),
     {"drain sync: records, then apply", "app stop", "pod_sync, veth pairs half made",
      "last sync: records, then apply"}),
])
def test_a_full_converge_aims_at_a_named_step_only_when_it_gives_that_step_work(old, new, named):
    assert aimed(old, new) == named | {"random moment"}


def test_with_no_named_step_left_a_full_converge_aims_at_a_random_moment():
    drains = [point for point in crash.POINTS if point[0].startswith("drain")]  # K8SLAB_CRASH_POINTS=drain
    assert crash.aims(drains, model("adam"), model("adam", "eve")) == [("random moment", None, None)]


def printed_task_names():
    """The task headers ansible-playbook prints for the roles' tasks, the drain's and the last sync's both (an
    import's own name is never printed)."""
    names, jinja = set(), jinja2.Environment()
    jinja.filters["bool"] = bool
    for path in glob.glob(os.path.join(REPO, "roles", "*", "tasks", "*.yml")):
        with open(path, encoding="utf-8") as handle:
            tasks = yaml.safe_load(handle) or []
        for task in tasks:
            if "name" in task and not any(key.endswith(("import_role", "import_tasks")) for key in task):
                template = jinja.from_string(task["name"])
                names.update("TASK [role : %s]" % template.render(service_proxy_drain=drain) for drain in (True, False))
    return names


def test_every_named_step_waits_for_a_line_ansible_playbook_prints():
    names = printed_task_names()
    for label, marker, work in crash.POINTS:
        if marker:
            assert [name for name in names if marker in name], "%s: %r is never printed" % (label, marker)
    drain, last = (point[1] for point in crash.POINTS if point[0].endswith("sync: records, then apply"))
    assert len([name for name in names if drain in name]) == len([name for name in names if last in name]) == 1


def recovery(*seconds):
    return [{"step": label, "seconds": value} for label, value in zip(["node_lock locked", "sysctl", "pod_sync",
                                                                       "proxy_sync"], seconds)]


def test_a_sets_step_times_are_the_shortest_of_its_replays():
    first = crash.shortest(None, recovery(0.3, 0.9, 0.5, 0.2))
    assert first == [["node_lock locked", 0.3], ["sysctl", 0.9], ["pod_sync", 0.5], ["proxy_sync", 0.2]]
    assert crash.shortest(first, recovery(0.4, 0.25, 0.7, 0.1)) == [
        ["node_lock locked", 0.3], ["sysctl", 0.25], ["pod_sync", 0.5], ["proxy_sync", 0.1]]


def test_a_timed_replay_kill_lands_within_the_aimed_steps_shortest_time():
    steps = crash.shortest(crash.shortest(None, recovery(0.4, 0.25, 0.7, 0.1)), recovery(0.3, 0.9, 0.5, 0.2))
    rng = random.Random(7)
    for _draw in range(200):
        number, at = crash.moment(rng, steps, ("between drain and app stop", "sysctl", None))
        assert number == 1 and 0.0 <= at <= 0.25
        number, at = crash.moment(rng, steps, ("random moment", None, None))
        assert number < 4 and 0.0 <= at <= steps[number][1]
        # the last sync ends the lock itself: a target like any other step
        number, at = crash.moment(rng, steps, ("last sync: records, then apply", "proxy_sync", None))
        assert number == 3 and 0.0 <= at <= 0.1


def test_a_set_without_the_app_stop_is_replayed_only_where_no_pod_leaves():
    """A converge runs the app stop only when a pod leaves, so a set captured where none left lacks the step."""
    steps = ["node_lock locked", "proxy_sync drain", "sysctl", "pod_sync", "go_binary", "app_instances present",
             "proxy_sync", "node_lock unlocked"]
    with_stop = steps[:3] + ["app_instances pruned"] + steps[3:]
    sets = {"joined": (model("adam", "eve"), "vars-1.json", None), "left": (model("adam", "eve"), "vars-2.json", None)}
    labels = {"joined": steps, "left": with_stop}
    assert crash.replayable(model("adam"), sets, labels, None) == ["joined", "left"]
    assert crash.replayable(model("adam", "eve", "cain"), sets, labels, None) == ["left"]
    assert crash.replayable(model("adam", "eve", "cain"), sets, labels, "app_instances pruned") == ["left"]
    assert crash.replayable(model("adam"), sets, labels, "app_instances pruned") == ["left"]
    assert crash.replayable(model("adam", "eve"), sets, labels, None) == []  # nothing would change


def output(*steps, start=100.0):
    """ansible-playbook's output with the time each line came: ``steps`` are (task name, result, seconds)."""
    timed, now = [(start, "PLAY [Converge] ****\n")], start
    for name, result, seconds in steps:
        timed += [(now, "\n"), (now, "TASK [role : %s] ****\n" % name)]
        now += seconds
        timed.append((now, "%s: [node1]\n" % result))
    return timed + [(now, "\n"), (now, "PLAY RECAP ****\n")]


DRAIN, LAST = (point[1] for point in crash.POINTS if point[0].endswith("sync: records, then apply"))


def test_a_steps_length_runs_from_its_line_to_its_result():
    timed = output(("Sync the Service rules (drain)", "ok", 0.39), ("Stop the app in pods no longer listed", "skipping", 0.02),
                   ("Converge every pod's namespace, veth pair and routes", "changed", 0.41), ("Sync the Service rules", "ok", 0.28))
    assert crash.step_seconds(timed, DRAIN) == pytest.approx(0.39)
    assert crash.step_seconds(timed, LAST) == pytest.approx(0.28)
    assert crash.step_seconds(timed, "Converge every pod's namespace") == pytest.approx(0.41)
    assert crash.step_seconds(timed, "Stop the app in pods no longer listed") is None  # skipped: it never ran
    assert crash.step_seconds(timed, "Forward IPv4 packets between interfaces") is None  # not in this run
    assert crash.step_seconds(timed[:-3], LAST) is None  # no result: the run died in it


def test_a_steps_length_is_the_shortest_of_the_whole_converges():
    markers = [point[1] for point in crash.POINTS if point[1]]
    first = crash.step_lengths({}, output(("Sync the Service rules (drain)", "changed", 0.5), ("Sync the Service rules", "ok", 0.3)),
                               markers)
    assert first == {DRAIN: pytest.approx(0.5), LAST: pytest.approx(0.3)}
    second = crash.step_lengths(first, output(("Sync the Service rules (drain)", "ok", 0.4), ("Sync the Service rules", "ok", 0.35)),
                                markers)
    assert second == {DRAIN: pytest.approx(0.4), LAST: pytest.approx(0.3)}


@pytest.mark.parametrize("seconds", [0.3, 0.12, None])
def test_a_controller_kill_aimed_at_a_step_lands_within_that_steps_length(seconds):
    """The last sync ends the run in about 0.3 s: a wait longer than the step after its line outlasts the run."""
    rng, same = random.Random(7), random.Random(7)
    for _draw in range(200):
        wait = crash.after_marker(rng, seconds)
        assert 0.0 <= wait <= (seconds or crash.SHORT_STEP)
        same.random()  # one draw from the seeded rng, as before: the run's later choices stay those of its seed
        assert rng.getstate() == same.getstate()
    assert crash.SHORT_STEP < 0.28  # the last sync's median in a no-change converge (guide_performance.rst)
