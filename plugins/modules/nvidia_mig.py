#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sovereign.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: nvidia_mig
short_description: Declare the MIG layout of NVIDIA GPUs, planned with the real placement rules
version_added: 0.1.0
description:
  - Reads the live state of the GPUs (C(nvidia-smi --query-gpu), C(nvidia-smi -q -x),
    C(nvidia-smi mig -lgip/-lgipp/-lgi/-lci), C(nvidia-smi -L)), plans the minimal set of
    compute/GPU instance destroys and creates that reaches the declared layout, and applies it.
  - The plan uses the GPU's own profile table and placements (C({start}:size) in memory slices),
    its per-profile maximum instance counts and its memory and compute slice budgets. A layout
    that cannot fit is rejected before anything is touched, with the profiles and slices that collide.
  - Instances that already match (same profile at the same placement, one full compute instance)
    are kept, so their MIG device UUIDs stay valid; a second run reports no change.
  - Each GPU instance gets one compute instance spanning it (the driver default, as with C(-C)).
  - Refuses to change a GPU on which processes run unless O(allow_busy=true).
  - Failure is read from the command output, not only the exit code (C(nvidia-smi mig -cgi) exits 0
    while printing C(No MIG-enabled devices found.)).
author:
  - sovereign.cluster developers (@sovereign-cluster)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Check mode reads only and returns the plan and the predicted layout.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: Shows the old and new layout of every selected GPU, with a picture of the slices.
options:
  gpus:
    description:
      - Which GPUs to manage. Each item is V(all) (every MIG-capable GPU; others are listed in RV(skipped_gpus)),
        an index (V(0)), a GPU UUID (V(GPU-52552dc5-...)), a PCI device id (V(0x233010DE), all GPUs of
        that model) or a PCI bus id (V(00000000:00:06.0)).
      - Naming a GPU that does not exist or cannot do MIG is an error.
    type: list
    elements: str
    default: [all]
  layout:
    description:
      - >-
        The MIG layout of each selected GPU. Either a mapping of profile name to count
        (V({"1g.10gb": 4, "3g.40gb": 1})) or a list of V({profile: NAME, placement: START}) items where
        C(placement) is optional (a start slice such as V(4) or V("4:4")); a bare profile name is also accepted.
      - Profile names are the GPU's own (C(nvidia-smi mig -lgip)), e.g. V(1g.10gb) on an H100 80GB and
        V(1g.18gb) on an H200. Profile IDs are accepted too.
      - A count above the profile's maximum instance count on the GPU (7 for V(1g.10gb) on an H100) is refused
        naming C(layout[PROFILE]), before anything changes.
      - An empty mapping or list removes every instance. Omit it to only manage O(mig_enabled).
    type: raw
  mig_enabled:
    description:
      - Whether MIG mode must be enabled. V(false) destroys every instance and disables MIG mode
        (then O(layout) must be empty or omitted).
      - When a mode change stays pending (the GPU is in use, or the platform needs it), the module reports
        the GPU in RV(reset_required) and stops there for that GPU; reset the GPU or reboot, then run again.
    type: bool
    default: true
  allow_busy:
    description:
      - Apply changes on a GPU even when processes use it. By default such a GPU is refused before anything changes.
    type: bool
    default: false
  nvidia_smi_path:
    description:
      - The C(nvidia-smi) executable (a name looked up in PATH, or a path). Tests point it at a simulator.
      - When it cannot be found (no driver installed yet, a typo) the module fails naming this option, before
        anything is read or changed.
    type: str
    default: nvidia-smi
  query_backend:
    description:
      - Where the profile table (profiles, maximum counts and placements) is read from.
      - V(nvml) reads it through NVML (the C(nvidia-ml-py) package) and fails if that is not installed;
        V(nvidia-smi) parses C(nvidia-smi mig -lgip/-lgipp); V(auto) uses NVML when C(nvidia-ml-py) is installed,
        NVML initialises and O(nvidia_smi_path) is the default, otherwise C(nvidia-smi).
      - Instances, processes and all changes always go through C(nvidia-smi).
    type: str
    choices: [auto, nvidia-smi, nvml]
    default: auto
requirements:
  - NVIDIA driver with C(nvidia-smi) (R470 or later; tested formats are those of R580).
  - root on the target (MIG changes need it).
  - Optional C(nvidia-ml-py) for O(query_backend=nvml).
notes:
  - MIG devices in use by Kubernetes should be drained first (the role's playbook cordons and drains the node).
seealso:
  - name: NVIDIA MIG user guide
    description: Profiles, placements and the nvidia-smi mig commands.
    link: https://docs.nvidia.com/datacenter/tesla/mig-user-guide/
"""

EXAMPLES = r"""
- name: Four small and one large instance on every H100
  sovereign.cluster.nvidia_mig:
    gpus: ["0x233010DE"]
    layout:
      1g.10gb: 4
      3g.40gb: 1

- name: Explicit placements on GPU 0
  sovereign.cluster.nvidia_mig:
    gpus: ["0"]
    layout:
      - {profile: 3g.40gb, placement: 4}
      - {profile: 2g.20gb, placement: 0}
      - {profile: 1g.10gb, placement: 2}
      - {profile: 1g.10gb, placement: 3}

- name: Whole H200s as one MIG device each
  sovereign.cluster.nvidia_mig:
    gpus: ["0x233510DE"]
    layout: {"7g.141gb": 1}

- name: Turn MIG off everywhere (destroys all instances)
  sovereign.cluster.nvidia_mig:
    mig_enabled: false

- name: Read-only look at what a layout would do
  sovereign.cluster.nvidia_mig:
    layout: {"1g.10gb": 7}
  check_mode: true
  register: mig_plan
"""

RETURN = r"""
plan:
  description: Per selected GPU, the actions planned (and applied unless in check mode), in order.
  returned: always
  type: list
  elements: dict
  sample:
    - gpu: 0
      uuid: GPU-52552dc5-2157-a823-bd6b-42b7f980c10c
      reset_required: false
      actions:
        - {action: enable_mig, gpu: 0}
        - {action: create_gi, gpu: 0, profile: 3g.40gb, profile_id: 9, placement: "4:4", start: 4, size: 4}
gpus:
  description:
    - The resulting map of every selected GPU (predicted in check mode, where new instances have C(gi_id=null)).
    - Each instance lists its GPU instance id, profile, placement, compute instances and MIG device UUIDs.
  returned: always
  type: list
  elements: dict
  sample:
    - index: 0
      uuid: GPU-52552dc5-2157-a823-bd6b-42b7f980c10c
      name: NVIDIA H100 80GB HBM3
      mig_mode: Enabled
      layout: {"3g.40gb": 1}
      instances:
        - gi_id: 1
          profile: 3g.40gb
          placement: "4:4"
          compute_instances: [{ci_id: 0, profile: 3g.40gb, mig_uuid: MIG-0f4b4c52-4d1e-5b1c-9b0e-0a8c2f1e6a11}]
          mig_uuids: [MIG-0f4b4c52-4d1e-5b1c-9b0e-0a8c2f1e6a11]
picture:
  description: A small text picture of the memory slices of each selected GPU after the change.
  returned: always
  type: str
reset_required:
  description: Indexes of GPUs whose MIG mode change is pending until a GPU reset or a reboot.
  returned: always
  type: list
  elements: int
skipped_gpus:
  description: GPUs left alone by O(gpus=all) because they cannot do MIG.
  returned: always
  type: list
  elements: dict
commands:
  description: The changing nvidia-smi commands that were run, in order (empty in check mode).
  returned: always
  type: list
  elements: list
query_backend:
  description: Where the profile table came from (V(nvml) or V(nvidia-smi)).
  returned: always
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.sovereign.cluster.plugins.module_utils import mig as miglib

try:
    import pynvml
    HAS_PYNVML = True
except ImportError:
    pynvml = None
    HAS_PYNVML = False


class SmiError(Exception):
    pass


class Smi(object):
    """Runs nvidia-smi and turns failures (by exit code or by output) into SmiError."""

    def __init__(self, module, path):
        self.module = module
        self.path = path
        self.changes = []

    def run(self, args, listing=False, change=False):
        cmd = [self.path] + list(args)
        if change:
            self.changes.append(list(args))
        rc, out, err = self.module.run_command(cmd)
        if listing and (miglib.mig_disabled_everywhere(out) or miglib.NO_GPU_INSTANCES in out
                        or miglib.NO_COMPUTE_INSTANCES in out):
            return ""
        failure = miglib.command_failure(rc, out, err)
        if failure:
            raise SmiError("%s failed: %s" % (" ".join(cmd), failure))
        return out


def read_state(smi, backend):
    def nvml_profiles(query):
        try:
            return miglib.read_profiles_nvml(pynvml, [int(r["index"]) for r in query])
        except ValueError:
            return None  # this nvidia-ml-py cannot name profiles: parse nvidia-smi instead

    return miglib.read_gpu_states(smi.run, nvml_profiles if backend == "nvml" else None)


def choose_backend(module):
    wanted = module.params["query_backend"]
    if wanted == "nvml" and not HAS_PYNVML:
        module.fail_json(msg=missing_required_lib("nvidia-ml-py")
                         + " (query_backend=nvml): install nvidia-ml-py or use query_backend=nvidia-smi")
    if wanted == "nvidia-smi":
        return "nvidia-smi"
    if wanted == "auto" and (not HAS_PYNVML or module.params["nvidia_smi_path"] != "nvidia-smi"):
        return "nvidia-smi"
    try:
        pynvml.nvmlInit()
    except Exception as err:  # NVML raises its own NVMLError tree; any failure means "not usable here"
        if wanted == "nvml":
            module.fail_json(msg="query_backend=nvml: NVML did not initialise (%s); use query_backend=nvidia-smi" % err)
        return "nvidia-smi"
    return "nvml"


def find_smi(module, wanted):
    """The nvidia-smi to run, or a failure naming nvidia_smi_path and the fix (before anything is read or changed)."""
    fix = ("install the NVIDIA driver (it ships nvidia-smi) or set nvidia_smi_path to the nvidia-smi executable; "
           "nothing was changed")
    if not wanted or "\n" in wanted or ".." in wanted.split("/"):
        module.fail_json(msg="nvidia_smi_path %r is not a program name or a path without '..': %s" % (wanted, fix))
    if "/" not in wanted:
        found = module.get_bin_path(wanted)
        if not found:
            module.fail_json(msg="nvidia_smi_path %r is not found in PATH on this host: %s" % (wanted, fix))
        return found
    if not os.path.isfile(wanted) or not os.access(wanted, os.X_OK):
        module.fail_json(msg="nvidia_smi_path %r does not exist or is not executable on this host: %s" % (wanted, fix))
    return wanted


def mig_mode(smi, index):
    rows = miglib.parse_query_csv(smi.run(["-i", str(index), "--query-gpu=mig.mode.current,mig.mode.pending",
                                           "--format=csv"]))
    return rows[0].get("mig.mode.current"), rows[0].get("mig.mode.pending")


def apply_gpu(smi, plan):
    """Run one GPU's actions; returns True when a MIG mode change is left pending."""
    for action in plan["actions"]:
        out = smi.run(miglib.action_command(action), change=True)
        if action["action"] == "create_gi":
            created = miglib.parse_created(out)
            if not created or created[0]["ci_id"] is None:
                raise SmiError("%s printed no created GPU and compute instance: %s" % (
                    " ".join(miglib.action_command(action)), out.strip() or "(no output)"))
        if action["action"] in ("enable_mig", "disable_mig"):
            current, _pending = mig_mode(smi, plan["gpu"])
            wanted = "Enabled" if action["action"] == "enable_mig" else "Disabled"
            if current != wanted:
                return True
    return plan["reset_required"]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            gpus=dict(type="list", elements="str", default=["all"]),
            layout=dict(type="raw"),
            mig_enabled=dict(type="bool", default=True),
            allow_busy=dict(type="bool", default=False),
            nvidia_smi_path=dict(type="str", default="nvidia-smi"),
            query_backend=dict(type="str", default="auto", choices=["auto", "nvidia-smi", "nvml"]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    backend = choose_backend(module)
    smi_path = find_smi(module, params["nvidia_smi_path"])
    smi = Smi(module, smi_path)
    result = dict(changed=False, plan=[], gpus=[], picture="", reset_required=[], skipped_gpus=[], commands=smi.changes,
                  query_backend=backend)

    try:
        states = read_state(smi, backend)
    except SmiError as err:
        module.fail_json(msg="reading the GPU state failed: %s" % err, **result)
    except miglib.ET.ParseError as err:
        module.fail_json(msg="nvidia-smi -q -x printed XML that does not parse: %s" % err, **result)

    # Everything is validated and planned for every GPU before anything changes.
    try:
        selected, skipped = miglib.select_gpus(states, params["gpus"])
        result["skipped_gpus"] = [{"index": g["index"], "name": g["name"], "reason": "MIG not supported"} for g in skipped]
        plans = []
        errors = []
        for gpu in selected:
            try:
                plans.append(miglib.plan_gpu(gpu, params["layout"], params["mig_enabled"]))
            except miglib.MigLayoutError as err:
                errors.extend(err.reasons)
        if errors:
            raise miglib.MigLayoutError(errors)
    except miglib.MigLayoutError as err:
        module.fail_json(msg="nvidia_mig: layout rejected, nothing was changed: %s" % err, reasons=err.reasons, **result)

    result["plan"] = plans
    busy = []
    for gpu, plan in zip(selected, plans):
        procs = miglib.busy_processes(gpu, plan)
        if procs and not params["allow_busy"]:
            busy.append("GPU %d (%s) runs %d process(es): %s" % (gpu["index"], gpu["uuid"], len(procs), ", ".join(
                "pid %s %s" % (p["pid"], p["name"]) for p in procs)))
    if busy:
        module.fail_json(msg="nvidia_mig: refusing to change busy GPUs, nothing was changed: %s. Stop the processes "
                             "(drain the node) or set allow_busy=true" % "; ".join(busy), **result)

    changed = any(plan["actions"] for plan in plans)
    before = [miglib.gpu_map(gpu) for gpu in selected]
    predicted = [miglib.predicted_map(gpu, plan) for gpu, plan in zip(selected, plans)]
    slices = dict((gpu["index"], gpu["memory_slices"]) for gpu in selected)
    if module._diff:
        result["diff"] = dict(before=miglib.render_layout_text(before, slices),
                              after=miglib.render_layout_text(predicted, slices),
                              before_header="MIG layout (live)", after_header="MIG layout (planned)")

    if module.check_mode or not changed:
        result.update(changed=changed, gpus=predicted,
                      reset_required=[p["gpu"] for p in plans if p["reset_required"]],
                      picture="\n\n".join(miglib.render_picture(m, slices[m["index"]]) for m in predicted))
        module.exit_json(**result)

    reset_required = []
    try:
        for plan in plans:
            if apply_gpu(smi, plan):
                reset_required.append(plan["gpu"])
    except SmiError as err:
        result["changed"] = bool(smi.changes)
        module.fail_json(msg="nvidia_mig: applying the plan failed after %d change(s): %s" % (len(smi.changes), err),
                         **result)

    wanted = set(gpu["uuid"] for gpu in selected)
    try:
        after = [gpu for gpu in read_state(smi, backend) if gpu["uuid"] in wanted]
    except SmiError as err:
        result["changed"] = True
        module.fail_json(msg="nvidia_mig: the plan was applied but reading the GPUs back failed: %s" % err, **result)
    # the live state must now match the layout: re-planning yields nothing more to do
    left = [p for p in (miglib.plan_gpu(g, params["layout"], params["mig_enabled"]) for g in after)
            if p["actions"] and p["gpu"] not in reset_required]
    if left:
        result["changed"] = True
        module.fail_json(msg="nvidia_mig: after applying, GPU(s) %s still differ from the layout: %s" % (
            ", ".join(str(p["gpu"]) for p in left), left), **result)
    result.update(changed=True, reset_required=reset_required, gpus=[miglib.gpu_map(gpu) for gpu in after],
                  picture="\n\n".join(miglib.render_picture(miglib.gpu_map(g), g["memory_slices"]) for g in after))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
