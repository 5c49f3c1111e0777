# -*- coding: utf-8 -*-
# Copyright: sovereign.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sovereign-mig-apply: re-apply the declared MIG layout at boot (run by sovereign-mig.service).

GPU and compute instances are lost on every reboot; MIG mode is not. The sovereign.cluster.nvidia_gpu
role writes the layout it applied through the nvidia_mig module to a JSON file (``gpus``, ``layout``,
``mig_enabled``, ``allow_busy``, ``nvidia_smi_path``: the module's own options) and installs the
collection's ``plugins/module_utils/mig.py`` next to this file. This command reads the GPUs with the
same parsers, plans with the same planner and runs the same nvidia-smi commands as the module, so a
node comes back from a reboot with the layout the module would produce. Only Python 3's stdlib is needed.

    sovereign-mig-apply [--check]      # --check prints the plan and changes nothing

Exit codes: 0 done (or nothing to do), 1 nvidia-smi failed, 2 layout refused (nothing changed),
3 GPUs busy (nothing changed), 4 MIG mode change pending until a GPU reset or reboot.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mig as miglib  # noqa: E402  (installed beside this file by the role)


class SmiError(Exception):
    pass


class Smi(object):
    """Runs nvidia-smi; failure is read from the output as well as the exit code."""

    def __init__(self, path):
        self.path = path

    def run(self, args, listing=False):
        cmd = [self.path] + list(args)
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        except OSError as err:
            raise SmiError("%s: %s" % (" ".join(cmd), err))
        out, err = proc.communicate()
        if listing and (miglib.mig_disabled_everywhere(out) or miglib.NO_GPU_INSTANCES in out
                        or miglib.NO_COMPUTE_INSTANCES in out):
            return ""
        failure = miglib.command_failure(proc.returncode, out, err)
        if failure:
            raise SmiError("%s failed: %s" % (" ".join(cmd), failure))
        return out


def read_state(smi):
    return miglib.read_gpu_states(smi.run)


def plan_all(states, declared):
    """Plans for the selected GPUs; raises MigLayoutError with every reason before anything changes."""
    selected, _skipped = miglib.select_gpus(states, declared.get("gpus") or ["all"])
    plans, reasons = [], []
    for gpu in selected:
        try:
            plans.append(miglib.plan_gpu(gpu, declared.get("layout"), declared.get("mig_enabled", True)))
        except miglib.MigLayoutError as err:
            reasons.extend(err.reasons)
    if reasons:
        raise miglib.MigLayoutError(reasons)
    return selected, plans


def apply_plan(smi, plan):
    """Runs one GPU's actions; returns True when a MIG mode change stays pending."""
    for action in plan["actions"]:
        args = miglib.action_command(action)
        print("nvidia-smi " + " ".join(args))
        out = smi.run(args)
        if action["action"] == "create_gi":
            created = miglib.parse_created(out)
            if not created or created[0]["ci_id"] is None:
                raise SmiError("nvidia-smi %s printed no created GPU and compute instance: %s"
                               % (" ".join(args), out.strip() or "(no output)"))
        if action["action"] in ("enable_mig", "disable_mig"):
            rows = miglib.parse_query_csv(smi.run(["-i", str(plan["gpu"]), "--query-gpu=mig.mode.current", "--format=csv"]))
            wanted = "Enabled" if action["action"] == "enable_mig" else "Disabled"
            if rows[0].get("mig.mode.current") != wanted:
                return True
    return plan["reset_required"]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="sovereign-mig-apply", description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--layout-file", default="/etc/sovereign/mig-layout.json")
    parser.add_argument("--check", action="store_true", help="print the plan, change nothing")
    args = parser.parse_args(argv)
    with open(args.layout_file) as handle:
        declared = json.load(handle)
    smi = Smi(declared.get("nvidia_smi_path") or "nvidia-smi")
    try:
        states = read_state(smi)
        selected, plans = plan_all(states, declared)
    except SmiError as err:
        print("reading the GPUs failed: %s" % err, file=sys.stderr)
        return 1
    except miglib.MigLayoutError as err:
        print("layout in %s refused, nothing changed: %s" % (args.layout_file, err), file=sys.stderr)
        return 2
    busy = ["GPU %d runs %s" % (gpu["index"], ", ".join("pid %s %s" % (p["pid"], p["name"]) for p in procs))
            for gpu, procs in ((g, miglib.busy_processes(g, p)) for g, p in zip(selected, plans)) if procs]
    if busy and not declared.get("allow_busy"):
        print("refusing to change busy GPUs, nothing changed: %s" % "; ".join(busy), file=sys.stderr)
        return 3
    for plan in plans:
        steps = [" ".join(miglib.action_command(a)) for a in plan["actions"]] or ["nothing to do"]
        print("GPU %d (%s): %s" % (plan["gpu"], plan["uuid"], "; ".join(steps)))
    if args.check:
        for gpu, plan in zip(selected, plans):
            print(miglib.render_picture(miglib.predicted_map(gpu, plan), gpu["memory_slices"]))
        return 0
    pending = []
    try:
        for plan in plans:
            if apply_plan(smi, plan):
                pending.append(plan["gpu"])
        wanted = set(gpu["uuid"] for gpu in selected)
        after = [gpu for gpu in read_state(smi) if gpu["uuid"] in wanted]
    except SmiError as err:
        print("applying the layout failed: %s" % err, file=sys.stderr)
        return 1
    for gpu in after:
        print(miglib.render_picture(miglib.gpu_map(gpu), gpu["memory_slices"]))
    left = [p["gpu"] for p in plan_all(after, declared)[1] if p["actions"] and p["gpu"] not in pending]
    if left:
        print("GPU(s) %s still differ from the layout after applying it" % ", ".join(str(i) for i in left), file=sys.stderr)
        return 1
    if pending:
        print("GPU(s) %s: MIG mode change pending; reset the GPU or reboot" % ", ".join(str(i) for i in pending),
              file=sys.stderr)
        return 4
    return 0


if __name__ == "__main__":
    sys.exit(main())
