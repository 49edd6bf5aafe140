# Copyright: (c) 2026, k8slab maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark of k8slab.kube_proxy.proxy_sync and iptables_chains; prints ratios measured side by side in one run.

Runs everything inside a throwaway network + mount namespace (it re-executes
itself under `unshare --net --mount`), so the host's tables are never touched.
Needs root. Usage, from the repository root:

    .venv/bin/python benchmarks/iptables_chains.py [--services 1000] [--endpoints 4] [--rounds 3] [--markdown]

0. the floor: ansible-playbook of an empty play on the same host, subtracted
   from every figure taken through ansible-playbook (and printed).
1. apply: N Services x M endpoints (EndpointSlices) in kube-proxy's layout, the
   module through ansible-playbook vs a bare `iptables-restore --noflush` of the
   very text the module applied (nat and filter). The targets pass the service
   model (Services + EndpointSlices, rendered on the node) to proxy_sync in a JSON
   file named by its model_file option; printed next to them, the same model passed
   as variables from a vars file (what service_proxy does) and the rendered nat chains
   to iptables_chains (the way before proxy_sync; rendered here in-process, so its
   controller-side rendering is not counted).
2. re-run with nothing to change: the module (changed=false; proxy_sync sends only
   the model's digest) vs a bare `iptables-save -t nat`; model_file, then vars file.
   For scale, 1. and 2. also time ansible.builtin.command running the bare tool on the
   node through ansible-playbook: the least any task doing that work can cost.
   2b. one endpoint of one Service moved among all of them, vs the full apply of 1.; for scale,
   ansible.builtin.command running the bare restore of that change (what any task doing it costs).
3. 25 services x 2 endpoints through ansible.builtin.iptables, one task per
   rule or chain, vs the module on the same rules.
Each side is also timed as "module only": the module file run directly by
Python with its arguments, without ansible-playbook's start-up. It ends with
every figure, its target (issues 14 and 20) and met/missed.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from targets import Targets, median, spread, stamp

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = sys.executable
BIN = os.path.dirname(PYTHON)
STATE_DIR = "/run/k8slab-bench/iptables_chains"  # /run is a private tmpfs inside the namespace
SYNC_STATE_DIR = "/run/k8slab-bench/proxy_sync-state"  # proxy_sync's records (its iptables_chains/ etc.)
MARK = "K8SLAB_BENCH_INSIDE"
MODEL_KEYS = ("services", "endpoint_slices", "pods")  # proxy_sync's model_file holds these (proxier.MODEL_KEYS)


def reexec_in_namespace():
    if os.environ.get(MARK):
        return
    if os.geteuid() != 0:
        sys.exit("needs root: it creates a throwaway network namespace")
    setup = 'mount --make-rprivate / && mount -t tmpfs bench-run /run && mkdir -p /run/lock && ip link set lo up && exec "$@"'
    argv = ["unshare", "--net", "--mount", "--", "sh", "-c", setup, "sh", PYTHON] + sys.argv
    os.execvpe("unshare", argv, dict(os.environ, **{MARK: "1"}))


def run(argv, data=None, env=None):
    result = subprocess.run(argv, input=data, capture_output=True, text=True, env=env, cwd=REPO, check=False)
    if result.returncode != 0:
        raise SystemExit("%s failed (%d):\n%s\n%s" % (argv[:3], result.returncode, result.stdout[-2000:], result.stderr[-2000:]))
    return result.stdout


def timed(argv, data=None, env=None):
    start = time.perf_counter()
    out = run(argv, data, env)
    return time.perf_counter() - start, out


def reset_nat():
    """Empty nat and filter tables and no records: the starting point of every create."""
    run(["iptables-restore"], data="*filter\nCOMMIT\n*nat\nCOMMIT\n")
    shutil.rmtree(STATE_DIR, ignore_errors=True)
    shutil.rmtree(SYNC_STATE_DIR, ignore_errors=True)


# ------------------------------------------------------------------ workloads

def service_model(services, endpoints, moved=False):
    """N Services x M endpoints as manifests: Services and one EndpointSlice each (kube-proxy's input)."""
    manifests, slices = [], []
    for svc in range(services):
        name = "svc-%d" % svc
        manifests.append({"kind": "Service", "metadata": {"name": name}, "spec": {
            "clusterIP": "10.96.%d.%d" % (svc // 250, svc % 250 + 1),
            "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})
        addresses = [{"addresses": ["10.%d.%d.%d" % (1 + svc // 250, svc % 250, ep + 1)]} for ep in range(endpoints)]
        if moved and svc == 0:
            addresses[0] = {"addresses": ["10.250.0.1"]}  # one endpoint of one Service moved to another pod
        slices.append({"kind": "EndpointSlice", "metadata": {"name": name + "-1", "labels": {"kubernetes.io/service-name": name}},
                       "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                       "endpoints": addresses})
    return {"layout": "kube-proxy", "services": manifests, "endpoint_slices": slices, "pods": [],
            "options": {"cluster_cidr": "10.0.0.0/8"}}


def model_args(model):
    """proxy_sync's arguments: the model, as the service_proxy role passes it."""
    return {"layout": model["layout"], "services": model["services"], "endpoint_slices": model["endpoint_slices"],
            "pods": model["pods"], "cluster_cidr": model["options"]["cluster_cidr"], "owner": "bench",
            "state_dir": SYNC_STATE_DIR}


def rendered_args(model):
    """The same Services rendered on this side, as iptables_chains' chains argument (the way before proxy_sync)."""
    sys.path.insert(0, os.path.join(REPO, ".collections"))
    from ansible_collections.k8slab.kube_proxy.plugins.module_utils.kube_proxy_iptables import plan_kube_proxy_chains
    plan = plan_kube_proxy_chains(model["services"], model["pods"], endpoint_slices=model["endpoint_slices"],
                                  **model["options"])
    return {"table": "nat", "owner": "bench", "state_dir": STATE_DIR, "chains": plan["nat"]["chains"],
            "builtin_rules": plan["nat"]["builtin_rules"]}


def kube_proxy_layout(services, endpoints, comments=True):
    """Chains and jumps as kube-proxy writes them: KUBE-SERVICES -> KUBE-SVC-* -> KUBE-SEP-* (DNAT)."""
    def name(prefix, *parts):
        return prefix + hashlib.sha256(("/".join(str(part) for part in parts)).encode()).hexdigest()[:16].upper()

    services_rules, chains = [], []
    for svc in range(services):
        svc_chain = name("KUBE-SVC-", svc)
        cluster_ip = "10.96.%d.%d" % (svc // 250, svc % 250 + 1)
        rule = "-d %s/32 -p tcp -m tcp --dport 80 -j %s" % (cluster_ip, svc_chain)
        services_rules.append({"rule": rule, "comment": "default/svc-%d:http cluster IP" % svc} if comments else rule)
        svc_rules, seps = [], []
        for ep in range(endpoints):
            sep_chain = name("KUBE-SEP-", svc, ep)
            left = endpoints - ep
            if left > 1:
                svc_rules.append("-m statistic --mode random --probability %0.10f -j %s" % (1.0 / left, sep_chain))
            else:
                svc_rules.append("-j %s" % sep_chain)
            address = "10.%d.%d.%d" % (1 + svc // 250, svc % 250, ep + 1)
            seps.append({"name": sep_chain, "rules": ["-p tcp -m tcp -j DNAT --to-destination %s:8080" % address]})
        chains.append({"name": svc_chain, "rules": svc_rules})
        chains.extend(seps)
    chains.insert(0, {"name": "KUBE-SERVICES", "rules": services_rules})
    jumps = [{"chain": "PREROUTING", "rule": "-j KUBE-SERVICES"}, {"chain": "OUTPUT", "rule": "-j KUBE-SERVICES"}]
    return {"table": "nat", "owner": "bench", "state_dir": STATE_DIR, "chains": chains, "builtin_rules": jumps}


def simple_layout(services, endpoints):
    """Rules ansible.builtin.iptables can express (no statistic match): the module gets the same ones."""
    args = kube_proxy_layout(services, endpoints, comments=False)
    for chain in args["chains"]:
        chain["rules"] = [rule.split(" -j ")[0].startswith("-m statistic") and "-j " + rule.split(" -j ")[1] or rule
                          for rule in chain["rules"]]
    return args


def builtin_iptables_tasks(args):
    """One ansible.builtin.iptables task per chain and per rule, as a playbook would write them."""
    tasks = []
    for chain in args["chains"]:
        tasks.append({"name": "chain %s" % chain["name"], "ansible.builtin.iptables": {
            "table": "nat", "chain": chain["name"], "chain_management": True}})
    for chain in args["chains"]:
        for rule in chain["rules"]:
            words = rule.split()
            params = {"table": "nat", "chain": chain["name"], "action": "append"}
            for index, word in enumerate(words[:-1]):
                value = words[index + 1]
                if word == "-d":
                    params["destination"] = value
                elif word == "-p":
                    params["protocol"] = value
                elif word == "-m":
                    params.setdefault("match", []).append(value)
                elif word == "--dport":
                    params["destination_port"] = value
                elif word == "-j":
                    params["jump"] = value
                elif word == "--to-destination":
                    params["to_destination"] = value
            tasks.append({"name": "rule %s %s" % (chain["name"], rule), "ansible.builtin.iptables": params})
    for jump in args["builtin_rules"]:
        tasks.append({"name": "jump from %s" % jump["chain"], "ansible.builtin.iptables": {
            "table": "nat", "chain": jump["chain"], "jump": "KUBE-SERVICES", "action": "insert"}})
    return tasks


# ------------------------------------------------------------------ ways to run the module

class Runner:
    def __init__(self, workdir):
        self.workdir = workdir
        self.env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
                        ANSIBLE_STDOUT_CALLBACK="task_results",
                        ANSIBLE_CALLBACK_PLUGINS=os.path.join(REPO, "tests", "integration", "callback_plugins"),
                        ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
                        PATH=BIN + os.pathsep + os.environ.get("PATH", ""))

    def write(self, name, data):
        path = os.path.join(self.workdir, name)
        with open(path, "w") as handle:
            json.dump(data, handle)
        return path

    def write_model(self, args):
        """proxy_sync's model keys of args as a model file; the path."""
        return self.write("model.json", dict((key, args[key]) for key in MODEL_KEYS if key in args))

    def playbook(self, tasks):
        """ansible-playbook on localhost: Ansible's start-up, templating and module transfer included."""
        path = self.write("play.json", [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}])
        argv = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local",
                "-e", "ansible_python_interpreter=%s" % PYTHON, path]
        seconds, out = timed(argv, env=self.env)
        results = json.loads(out)
        failed = [result for result in results if result.get("_status") != "ok"]
        if failed:
            raise SystemExit("task failed: %s" % json.dumps(failed[0])[:2000])
        return seconds, results

    def module_playbook(self, args, model_file=False):
        """The module as one task; its arguments come from a JSON vars file, as a role would pass them.

        With model_file, proxy_sync's model keys go in a JSON file named by its model_file option and the
        other arguments are written in the task.
        """
        module = "iptables_chains" if "table" in args else "proxy_sync"
        if model_file:
            task_args = dict((key, value) for key, value in args.items() if key not in MODEL_KEYS)
            task_args["model_file"] = self.write_model(args)
            play = {"hosts": "localhost", "gather_facts": False,
                    "tasks": [{"name": module, "k8slab.kube_proxy.%s" % module: task_args}]}
        else:
            self.write("args.json", {"bench_args": args})
            play = {"hosts": "localhost", "gather_facts": False, "vars_files": [os.path.join(self.workdir, "args.json")],
                    "tasks": [{"name": module, "k8slab.kube_proxy.%s" % module: "{{ bench_args }}"}]}
        path = self.write("play.json", [play])
        argv = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local",
                "-e", "ansible_python_interpreter=%s" % PYTHON, path]
        seconds, out = timed(argv, env=self.env)
        result = json.loads(out)[0]
        if result.get("_status") != "ok":
            raise SystemExit("module failed: %s" % json.dumps(result)[:2000])
        return seconds, result

    def module_only(self, args, model_file=False):
        """The module file run directly by Python, as AnsiballZ would run it, without ansible-playbook.

        proxy_sync gets what its action plugin sends: the model's digest first, the model (as one JSON text,
        model_json) only when asked; with model_file the digest the plugin makes of a model file (so both ways
        share the node's record).
        """
        if "table" in args:
            return self.module_file("iptables_chains", args)
        sys.path.insert(0, os.path.join(REPO, ".collections"))
        from ansible_collections.k8slab.kube_proxy.plugins.action.proxy_sync import code_digest, file_digest_args, packed
        from ansible_collections.k8slab.kube_proxy.plugins.module_utils import proxier
        digested = args
        if model_file:
            with open(self.write_model(args), "rb") as handle:
                digested = file_digest_args(args, dict((key, args[key]) for key in MODEL_KEYS if key in args),
                                            handle.read())
        args = dict(args, model_digest=proxier.model_digest(digested, code_digest()))
        probe = dict((key, value) for key, value in args.items() if key not in proxier.MODEL_KEYS)
        seconds, result = self.module_file("proxy_sync", probe)
        if result.get("model_needed"):
            more, result = self.module_file("proxy_sync", packed(args))
            seconds += more
        return seconds, result

    def module_file(self, module, args):
        path = self.write("module_args.json", {"ANSIBLE_MODULE_ARGS": args})
        env = dict(os.environ, PYTHONPATH=os.path.join(REPO, ".collections"))
        argv = [PYTHON, "-m", "ansible_collections.k8slab.kube_proxy.plugins.modules." + module, path]
        seconds, out = timed(argv, env=env)
        result = json.loads(out)
        if result.get("failed"):
            raise SystemExit("module failed: %s" % result.get("msg"))
        return seconds, result


def restore_file_task(path):
    """ansible.builtin.command running a bare iptables-restore --noflush of a file on the node."""
    return {"ansible.builtin.command": {"argv": ["sh", "-c", 'exec iptables-restore --noflush -w 30 < "$1"', "sh", path]}}


def show(label, ours, theirs, their_label):
    print("  %-46s %8.3f s   %-26s %8.3f s   ratio %6.2fx" % (label, ours, their_label, theirs, ours / theirs))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--endpoints", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--small-services", type=int, default=25)
    parser.add_argument("--small-endpoints", type=int, default=2)
    parser.add_argument("--skip-builtin", action="store_true", help="skip 3. (ansible.builtin.iptables, about 2 minutes)")
    parser.add_argument("--markdown", action="store_true", help="also print the table as markdown")
    options = parser.parse_args()
    reexec_in_namespace()

    workdir = tempfile.mkdtemp(prefix="k8slab-bench-")
    runner = Runner(workdir)
    table = Targets("iptables_chains, %d services x %d endpoints, %s" % (options.services, options.endpoints, stamp(REPO)))
    try:
        version = run(["iptables", "--version"]).strip()
        print("iptables_chains benchmark: %s, Python %s, %d CPUs, load %.2f, in a throwaway network namespace"
              % (version, sys.version.split()[0], os.cpu_count(), os.getloadavg()[0]))

        # 0. the floor: ansible-playbook with nothing to do ---------------------------------------
        floor = median([runner.playbook([])[0] for dummy in range(options.rounds)])
        print("\n0. floor: ansible-playbook of an empty play on localhost, median of %d: %.3f s"
              " (subtracted from every ansible-playbook figure below)" % (options.rounds, floor))

        # 1. create ---------------------------------------------------------------------------
        model = service_model(options.services, options.endpoints)
        args = model_args(model)
        old = rendered_args(model)
        rules = sum(len(chain["rules"]) for chain in old["chains"]) + len(old["builtin_rules"])
        print("\n1. apply %d Services x %d endpoints in kube-proxy's layout: %d rules in %d chains (median of %d);"
              " arguments: service model %d kB, rendered chains %d kB"
              % (options.services, options.endpoints, rules, len(old["chains"]), options.rounds,
                 len(json.dumps(args)) // 1024, len(json.dumps(old)) // 1024))
        reset_nat()
        dummy, first = runner.module_playbook(args, model_file=True)  # warm-up, and the text a bare restore gets
        payload = first["applied"]
        pb, only, bare, pb_old, pb_vars, pb_cmd = [], [], [], [], [], []
        restore_file = os.path.join(workdir, "payload.rules")
        with open(restore_file, "w") as handle:
            handle.write(payload)
        restore_task = restore_file_task(restore_file)
        for dummy in range(options.rounds):
            reset_nat()
            bare.append(timed(["iptables-restore", "--noflush", "-w", "30"], data=payload)[0])
            reset_nat()
            pb_cmd.append(runner.playbook([restore_task])[0])
            reset_nat()
            seconds, result = runner.module_playbook(args, model_file=True)
            assert result["changed"] is True and result["applied"] == payload
            pb.append(seconds)
            reset_nat()
            seconds, result = runner.module_playbook(args)
            assert result["changed"] is True and result["applied"] == payload
            pb_vars.append(seconds)
            reset_nat()
            seconds, result = runner.module_playbook(old)
            assert result["changed"] is True and result["applied"] in payload
            pb_old.append(seconds)
            reset_nat()
            seconds, result = runner.module_only(args)
            assert result["changed"] is True and result["applied"] == payload
            only.append(seconds)
        reset_nat()
        bare_plain = timed(["iptables-restore", "-w", "30"], data=payload)[0]
        apply_net = median(pb) - floor
        only_apply = only
        pb_vars_apply = pb_vars
        show("proxy_sync via ansible-playbook, model_file", median(pb), median(bare), "iptables-restore --noflush")
        show("proxy_sync via ansible-playbook, vars file", median(pb_vars), median(bare), "iptables-restore --noflush")
        show("iptables_chains, rendered nat chains", median(pb_old), median(bare), "iptables-restore --noflush")
        show("proxy_sync, module only (no ansible-playbook)", median(only), median(bare), "iptables-restore --noflush")
        print("  (for scale: the same text without --noflush into an empty table takes %.3f s)" % bare_plain)
        table.add("apply %dx%d via ansible-playbook (model_file) minus floor, vs bare iptables-restore --noflush"
                  % (options.services, options.endpoints), apply_net / median(bare),
                  "%s - %.2f s vs %s" % (spread(pb), floor, spread(bare)), 2.0)
        table.add("  the same, the model as variables from a vars file", (median(pb_vars) - floor) / median(bare),
                  "%s - %.2f s vs %s" % (spread(pb_vars), floor, spread(bare)))
        table.add("  the same, rendered chains as arguments (the old way)", (median(pb_old) - floor) / median(bare),
                  "%s - %.2f s vs %s" % (spread(pb_old), floor, spread(bare)))
        table.add("  the same, module only (no ansible-playbook)", median(only) / median(bare),
                  "%s vs %s" % (spread(only), spread(bare)))
        table.add("  for scale: ansible.builtin.command running the bare restore of the same file, minus floor",
                  (median(pb_cmd) - floor) / median(bare), "%s - %.2f s vs %s" % (spread(pb_cmd), floor, spread(bare)))

        # 2. re-run, nothing to change -----------------------------------------------------------
        reset_nat()
        runner.module_playbook(args, model_file=True)
        pb, only, bare, pb_vars, pb_cmd = [], [], [], [], []
        save_task = {"ansible.builtin.command": {"argv": ["iptables-save", "-t", "nat"]}}
        for dummy in range(options.rounds + 2):
            bare.append(timed(["iptables-save", "-t", "nat"])[0])
            pb_cmd.append(runner.playbook([save_task])[0])
            seconds, result = runner.module_playbook(args, model_file=True)
            assert result["changed"] is False and result["applied"] == "" and result["digest_hit"] is True
            pb.append(seconds)
            seconds, result = runner.module_only(args, model_file=True)
            assert result["changed"] is False and result["digest_hit"] is True
            only.append(seconds)
        # The model as variables has another digest (the model's, not the file's bytes): its first run sends the
        # model and records that digest (the rules stay), the next ones send only the digest.
        runner.module_playbook(args)
        for dummy in range(options.rounds + 2):
            seconds, result = runner.module_playbook(args)
            assert result["changed"] is False and result["applied"] == "" and result["digest_hit"] is True
            pb_vars.append(seconds)
        print("\n2. re-run with nothing to change (changed=false), same %d rules (median of %d)" % (rules, options.rounds + 2))
        show("proxy_sync via ansible-playbook, model_file", median(pb), median(bare), "iptables-save -t nat")
        show("proxy_sync via ansible-playbook, vars file", median(pb_vars), median(bare), "iptables-save -t nat")
        show("proxy_sync, module only (no ansible-playbook)", median(only), median(bare), "iptables-save -t nat")
        table.add("no-change via ansible-playbook (model_file) minus floor, vs bare iptables-save -t nat",
                  (median(pb) - floor) / median(bare), "%s - %.2f s vs %s" % (spread(pb), floor, spread(bare)), 2.0)
        table.add("  the same, the model as variables from a vars file", (median(pb_vars) - floor) / median(bare),
                  "%s - %.2f s vs %s" % (spread(pb_vars), floor, spread(bare)))
        table.add("  the same, module only (no ansible-playbook)", median(only) / median(bare),
                  "%s vs %s" % (spread(only), spread(bare)))
        table.add("  for scale: ansible.builtin.command running the bare iptables-save -t nat, minus floor",
                  (median(pb_cmd) - floor) / median(bare), "%s - %.2f s vs %s" % (spread(pb_cmd), floor, spread(bare)))

        # 2b. one endpoint changed among all of them ------------------------------------------------
        moved = model_args(service_model(options.services, options.endpoints, moved=True))
        pb, only, pb_vars, pb_cmd, bare = [], [], [], [], []
        there_file, back_file = os.path.join(workdir, "there.rules"), os.path.join(workdir, "back.rules")
        for dummy in range(options.rounds):  # each run moves the endpoint there or back
            seconds, result = runner.module_playbook(moved, model_file=True)
            assert result["changed"] is True
            pb.append(seconds)
            there = result["applied"]
            seconds, result = runner.module_only(args, model_file=True)
            assert result["changed"] is True
            only.append(seconds)
            back = result["applied"]
            seconds, result = runner.module_playbook(moved)
            assert result["changed"] is True
            pb_vars.append(seconds)
            seconds, result = runner.module_only(args, model_file=True)
            assert result["changed"] is True
            # The same change by the bare tool, there (through a task) and back (bare): the node ends as the
            # module left it, so the next round's module runs find their records true.
            for path, text in ((there_file, there), (back_file, back)):
                with open(path, "w") as handle:
                    handle.write(text)
            pb_cmd.append(runner.playbook([restore_file_task(there_file)])[0])
            bare.append(timed(["iptables-restore", "--noflush", "-w", "30"], data=back)[0])
        print("\n2b. one endpoint of one Service moved, among the same %d rules (median of %d)" % (rules, options.rounds))
        show("proxy_sync via ansible-playbook, model_file", median(pb), apply_net + floor, "the full apply (1.)")
        show("proxy_sync via ansible-playbook, vars file", median(pb_vars), median(pb_vars_apply), "its full apply (1.)")
        show("ansible.builtin.command, the bare restore", median(pb_cmd), apply_net + floor, "the full apply (1.)")
        print("  (the bare iptables-restore --noflush of that change alone takes %.3f s)" % median(bare))
        table.add("one endpoint changed via ansible-playbook (model_file) minus floor, vs the full apply minus floor",
                  (median(pb) - floor) / apply_net, "%s - %.2f s vs %.2f s" % (spread(pb), floor, apply_net), 0.25)
        table.add("  for scale: ansible.builtin.command running the bare restore of that change, minus floor, vs the same"
                  " full apply (the least any task making it costs)", (median(pb_cmd) - floor) / apply_net,
                  "%s - %.2f s vs %.2f s" % (spread(pb_cmd), floor, apply_net))
        table.add("  the same, the model as variables from a vars file, vs its full apply",
                  (median(pb_vars) - floor) / (median(pb_vars_apply) - floor),
                  "%s - %.2f s vs %.2f s" % (spread(pb_vars), floor, median(pb_vars_apply) - floor))
        table.add("  the same, module only (no ansible-playbook), vs the full apply module only",
                  median(only) / median(only_apply), "%s vs %s" % (spread(only), spread(only_apply)))

        # 3. ansible.builtin.iptables, one task per rule ----------------------------------------
        if not options.skip_builtin:
            small = simple_layout(options.small_services, options.small_endpoints)
            tasks = builtin_iptables_tasks(small)
            small_rules = sum(len(chain["rules"]) for chain in small["chains"]) + len(small["builtin_rules"])
            print("\n3. %d services x %d endpoints: %d rules in %d chains; ansible.builtin.iptables needs %d tasks"
                  % (options.small_services, options.small_endpoints, small_rules, len(small["chains"]), len(tasks)))
            reset_nat()
            builtin_seconds, dummy = runner.playbook(tasks)
            builtin_save = run(["iptables-save", "-t", "nat"])
            reset_nat()
            module_seconds, result = runner.module_playbook(small)
            assert result["changed"] is True
            module_save = run(["iptables-save", "-t", "nat"])
            same = [line for line in builtin_save.splitlines() if not line.startswith("#")] == \
                [line for line in module_save.splitlines() if not line.startswith("#")]
            print("  both leave the same iptables-save -t nat: %s" % ("yes" if same else "NO"))
            show("ansible.builtin.iptables, one task per rule", builtin_seconds, module_seconds, "iptables_chains, one task")
            table.add("%dx%d: ansible.builtin.iptables (%d tasks) vs the module (one task)"
                      % (options.small_services, options.small_endpoints, len(tasks)), builtin_seconds / module_seconds,
                      "%.2f s vs %.2f s" % (builtin_seconds, module_seconds), 50.0, at_most=False)
        table.print_table()
        if options.markdown:
            print("\n" + table.markdown())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
