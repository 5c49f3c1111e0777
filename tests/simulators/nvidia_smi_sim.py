#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: sovereign.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A stateful ``nvidia-smi`` simulator for tests (stdlib only, one self-contained file).

It answers the subset of ``nvidia-smi`` that the ``sovereign.cluster.nvidia_mig`` module uses, in
the same text formats as the real driver 580 captures under ``shared/fixtures/nvidia-smi``, with the
same placement rules and the same exit-code quirks (``mig -cgi`` on a GPU with MIG disabled prints
``No MIG-enabled devices found.`` and exits 0). It is a simulator: no GPU is involved.

State lives in a JSON file named by ``--sim-state FILE`` or the environment variable
``NVIDIA_SMI_SIM_STATE``. Build it from one or more capture folders (one GPU each):

    nvidia_smi_sim.py --sim-state /tmp/s.json --sim-init shared/fixtures/nvidia-smi/h100-80gb-hbm3-mig-disabled

Simulator-only options (all start with --sim-):
    --sim-init DIR [DIR ...]      new state, one GPU per capture folder (mig.txt, query.csv, smi-q.xml)
    --sim-add-process GPU:PID:NAME[:GI:CI]   pretend a process uses the GPU (or a GI/CI)
    --sim-clear-processes         no process anywhere
    --sim-mig-needs-reset on|off  MIG mode changes stay pending until ``-r`` (as with busy GPUs)
    --sim-fault cgi-no-mig|none   ``mig -cgi`` answers as if MIG were off (exit 0), e.g. after a reset race
    --sim-show                    print the state JSON

Where ``python`` is not on PATH (Debian 12 has only ``python3``), install it behind a wrapper, e.g.
``printf '#!/bin/sh\nexec /usr/bin/python3 /opt/nvidia_smi_sim.py "$@"\n' > /usr/local/bin/nvidia-smi``.

Every real (non --sim-) call is appended to ``calls`` in the state so tests can check which
commands ran (check mode must only read).
"""
from __future__ import absolute_import, division, print_function

import csv
import json
import os
import re
import sys
import uuid

STATE_ENV = "NVIDIA_SMI_SIM_STATE"
NO_MIG = "No MIG-enabled devices found."
# Exit codes follow the NVML return codes the real tool passes through.
RC_INVALID_ARG = 2
RC_NOT_FOUND = 6
RC_IN_USE = 19
RC_INSUFFICIENT = 23
MUTATING = ("-cgi", "--create-gpu-instance", "-dgi", "--destroy-gpu-instance", "-cci",
            "--create-compute-instance", "-dci", "--destroy-compute-instance")

# Which GI id the driver hands out for a (start, size) region of an 8-slice GPU (as seen on
# A100/H100: 7g -> 0, 3g/4g -> 1-2, 2g -> 3-6, 1g -> 7-13); other shapes take the lowest free id.
GI_IDS = {(0, 8): 0, (4, 4): 1, (0, 4): 2, (0, 2): 3, (2, 2): 4, (4, 2): 5, (6, 2): 6}
GI_IDS.update(((s, 1), 7 + s) for s in range(8))


class SimError(Exception):
    def __init__(self, text, rc):
        Exception.__init__(self, text)
        self.text = text
        self.rc = rc


# --------------------------------------------------------------------------------------------
# Building the state from a capture folder
# --------------------------------------------------------------------------------------------
def _section(text, title):
    match = re.search(r"^### %s\n(.*?)(?=^rc=|^### )" % re.escape(title), text, re.M | re.S)
    return match.group(1) if match else ""


def _capture_gpu(folder):
    mig = open(os.path.join(folder, "mig.txt")).read()
    lgip = _section(mig, "nvidia-smi mig -lgip")
    lgipp = _section(mig, "nvidia-smi mig -lgipp")
    profiles = []
    last = None
    for line in lgip.splitlines():
        row = re.match(r"^\|\s*\d+\s+MIG\s+(\S+)\s+(\d+)\s+\d+/(\d+)\s+(\S+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\|$", line)
        if row:
            last = {"name": row.group(1), "id": int(row.group(2)), "max": int(row.group(3)), "memory_gib": row.group(4),
                    "p2p": row.group(5), "sm": int(row.group(6)), "dec": int(row.group(7)), "enc": int(row.group(8))}
            profiles.append(last)
            continue
        row = re.match(r"^\|\s+(\d+)\s+(\d+)\s+(\d+)\s*\|$", line)
        if row and last is not None:
            last.update(ce=int(row.group(1)), jpeg=int(row.group(2)), ofa=int(row.group(3)))
            last = None
    placements = {}
    for line in lgipp.splitlines():
        row = re.match(r"^GPU\s+\d+\s+Profile ID\s+(\d+)\s+Placements?\s*:\s*\{([\d,]*)\}:(\d+)", line)
        if row:
            placements[int(row.group(1))] = ([int(s) for s in row.group(2).split(",") if s], int(row.group(3)))
    for profile in profiles:
        profile["starts"], profile["size"] = placements[profile["id"]]
    rows = list(csv.reader(open(os.path.join(folder, "query.csv")).read().splitlines(), skipinitialspace=True))
    query = dict(zip([h.strip() for h in rows[0]], [v.strip() for v in rows[1]]))
    xml = open(os.path.join(folder, "smi-q.xml")).read()
    gpu_block = re.search(r"(\t<gpu id=.*?\n\t</gpu>\n)", xml, re.S).group(1)
    device_id = re.search(r"<pci_device_id>(\w+)</pci_device_id>", gpu_block).group(1)
    return {
        "uuid": query["uuid"],
        "name": query["name"],
        "pci_bus_id": query["pci.bus_id"],
        "pci_device_id": "0x" + device_id.upper(),
        "memory_total_mib": int(query["memory.total [MiB]"].split()[0]),
        "compute_cap": query.get("compute_cap", "9.0"),
        "mig_current": query["mig.mode.current"],
        "mig_pending": query["mig.mode.pending"],
        "profiles": profiles,
        "gpu_instances": [],
        "processes": [],
        "xml_template": gpu_block,
        "xml_header": xml[:xml.index("\t<gpu id=")],
        "driver_version": query.get("driver_version", "580.159.04"),
    }


def init_state(folders):
    gpus = []
    for position, folder in enumerate(folders):
        gpu = _capture_gpu(folder)
        if position:
            # a second GPU from the same capture gets its own identity and bus slot
            base = uuid.UUID(gpu["uuid"][4:])
            gpu["uuid"] = "GPU-" + str(uuid.uuid5(base, "sim-gpu-%d" % position))
            bus = int(gpu["pci_bus_id"].split(":")[1], 16) + position
            gpu["pci_bus_id"] = "00000000:%02X:00.0" % bus
        gpus.append(gpu)
    return {"gpus": gpus, "mig_needs_reset": False, "serial": 0, "calls": []}


# --------------------------------------------------------------------------------------------
# Helpers on the state
# --------------------------------------------------------------------------------------------
def _profile(gpu, token):
    token = str(token).strip()
    for profile in gpu["profiles"]:
        if token.isdigit() and profile["id"] == int(token):
            return profile
        if token in (profile["name"], "MIG " + profile["name"]):
            return profile
    return None


def _profile_by_id(gpu, pid):
    return [p for p in gpu["profiles"] if p["id"] == pid][0]


def _compute_slices(profile):
    match = re.match(r"^(\d+)g\.", profile["name"])
    return int(match.group(1)) if match else profile["size"]


def _mask(start, size):
    return ((1 << size) - 1) << start


def _used_mask(gpu):
    used = 0
    for gi in gpu["gpu_instances"]:
        used |= _mask(gi["start"], gi["size"])
    return used


def _free_count(gpu, profile):
    existing = len([gi for gi in gpu["gpu_instances"] if gi["profile_id"] == profile["id"]])
    used = _used_mask(gpu)
    fit = 0
    for start in profile["starts"]:
        if not used & _mask(start, profile["size"]):
            used |= _mask(start, profile["size"])
            fit += 1
    if not gpu["gpu_instances"]:
        return profile["max"]
    return max(0, min(profile["max"] - existing, fit))


def _ci_profile_id(profile):
    # default (full) compute instance profile of a GI: 1c->0, 2c->1, 3c->2, 4c->3, 7c->4;
    # a 1g GI spanning two memory slices (1g.20gb) uses the 1-slice rev1 CI profile, ID 7
    slices = _compute_slices(profile)
    if slices == 1 and profile["size"] == 2:
        return 7
    return {1: 0, 2: 1, 3: 2, 4: 3, 6: 6, 7: 4, 8: 5}.get(slices, 0)


def _select(state, ident):
    gpus = state["gpus"]
    if ident is None:
        return list(enumerate(gpus))
    chosen = []
    for item in ident.split(","):
        item = item.strip()
        for index, gpu in enumerate(gpus):
            if (item.isdigit() and int(item) == index) or item.lower() == gpu["uuid"].lower() or \
                    gpu["pci_bus_id"].lower().endswith(item.lower()):
                chosen.append((index, gpu))
                break
        else:
            raise SimError("No devices were found", RC_NOT_FOUND)
    return chosen


def _gi_id(gpu, start, size):
    taken = set(gi["gi_id"] for gi in gpu["gpu_instances"])
    wanted = GI_IDS.get((start, size))
    if wanted is not None and wanted not in taken:
        return wanted
    gid = 1
    while gid in taken:
        gid += 1
    return gid


def _mig_uuid(state, gpu, gi_id, ci_id):
    state["serial"] += 1
    base = uuid.UUID(gpu["uuid"][4:])
    return "MIG-" + str(uuid.uuid5(base, "%d/%d/%d" % (gi_id, ci_id, state["serial"])))


def _mig_enabled_gpus(selected):
    return [(i, g) for i, g in selected if g["mig_current"] == "Enabled"]


# --------------------------------------------------------------------------------------------
# Output formats (widths measured on the driver 580 captures)
# --------------------------------------------------------------------------------------------
def fmt_lgip(selected):
    width = 81
    border = "+" + "-" * (width - 2) + "+"
    out = [border,
           "| GPU instance profiles:".ljust(width - 1) + "|",
           "| GPU   Name               ID    Instances   Memory     P2P    SM    DEC   ENC  |",
           "|                                Free/Total   GiB              CE    JPEG  OFA  |",
           "|" + "=" * (width - 2) + "|"]
    for index, gpu in selected:
        for profile in gpu["profiles"]:
            prefix = "|%4d  MIG %s%2d     %d/%d        %s%s" % (
                index, profile["name"].ljust(16), profile["id"], _free_count(gpu, profile), profile["max"],
                profile["memory_gib"].ljust(11), profile["p2p"].ljust(7))
            head = prefix + str(profile["sm"]).ljust(7) + str(profile["dec"]).ljust(6) + str(profile["enc"])
            second = "|" + " " * len(prefix) + str(profile["ce"]).ljust(6) + str(profile["jpeg"]).ljust(6) + str(
                profile["ofa"])
            out.append(head.ljust(width - 1) + "|")
            out.append(second.ljust(width - 1) + "|")
            out.append(border)
    return "\n".join(out) + "\n"


def fmt_lgipp(selected):
    out = []
    for index, gpu in selected:
        for profile in gpu["profiles"]:
            word = "Placements:" if len(profile["starts"]) > 1 else "Placement :"
            out.append("GPU %2d Profile ID %2d %s {%s}:%d" % (
                index, profile["id"], word, ",".join(str(s) for s in profile["starts"]), profile["size"]))
    return "\n".join(out) + "\n"


def fmt_lgi(selected):
    border = "+" + "-" * 55 + "+"
    out = [border, "| GPU instances:".ljust(56) + "|",
           "| GPU   Name             Profile  Instance   Placement  |",
           "|                          ID       ID       Start:Size |",
           "|" + "=" * 55 + "|"]
    for index, gpu in selected:
        for gi in sorted(gpu["gpu_instances"], key=lambda g: g["gi_id"]):
            name = _profile_by_id(gpu, gi["profile_id"])["name"]
            place = "%d:%d" % (gi["start"], gi["size"])
            out.append(("|%4d  MIG %s%2d%9d          %s" % (index, name.ljust(16), gi["profile_id"], gi["gi_id"], place))
                       .ljust(56) + "|")
            out.append(border)
    return "\n".join(out) + "\n"


def fmt_lci(selected, gi_filter=None):
    border = "+" + "-" * 68 + "+"
    out = [border, "| Compute instances:".ljust(69) + "|",
           "| GPU     GPU       Name             Profile   Instance   Placement  |",
           "|       Instance                       ID        ID       Start:Size |",
           "|         ID                                                         |",
           "|" + "=" * 68 + "|"]
    for index, gpu in selected:
        for gi in sorted(gpu["gpu_instances"], key=lambda g: g["gi_id"]):
            if gi_filter is not None and gi["gi_id"] not in gi_filter:
                continue
            for ci in gi["compute_instances"]:
                place = "%d:%d" % (ci["start"], ci["size"])
                out.append(("|%4d%7d       MIG %s%2d%10d          %s" % (
                    index, gi["gi_id"], ci["name"].ljust(16), ci["profile_id"], ci["ci_id"], place)).ljust(69) + "|")
                out.append(border)
    return "\n".join(out) + "\n"


def fmt_list(state):
    out = []
    for index, gpu in enumerate(state["gpus"]):
        out.append("GPU %d: %s (UUID: %s)" % (index, gpu["name"], gpu["uuid"]))
        for dev_index, (gi, ci) in enumerate(_mig_devices(gpu)):
            out.append("  MIG %s Device %2d: (UUID: %s)" % (ci["name"].ljust(12), dev_index, ci["uuid"]))
    return "\n".join(out) + "\n"


def _mig_devices(gpu):
    if gpu["mig_current"] != "Enabled":
        return []
    pairs = []
    for gi in sorted(gpu["gpu_instances"], key=lambda g: g["gi_id"]):
        for ci in sorted(gi["compute_instances"], key=lambda c: c["ci_id"]):
            pairs.append((gi, ci))
    return pairs


def fmt_xml(state, selected):
    first = state["gpus"][0]
    header = re.sub(r"<attached_gpus>\d+</attached_gpus>", "<attached_gpus>%d</attached_gpus>" % len(state["gpus"]),
                    first["xml_header"])
    blocks = []
    for index, gpu in selected:
        block = gpu["xml_template"]
        block = re.sub(r'<gpu id="[^"]*">', '<gpu id="%s">' % gpu["pci_bus_id"], block, count=1)
        block = re.sub(r"<uuid>[^<]*</uuid>", "<uuid>%s</uuid>" % gpu["uuid"], block, count=1)
        block = re.sub(r"<minor_number>\d+</minor_number>", "<minor_number>%d</minor_number>" % index, block, count=1)
        block = re.sub(r"<pci_bus_id>[^<]*</pci_bus_id>", "<pci_bus_id>%s</pci_bus_id>" % gpu["pci_bus_id"], block,
                       count=1)
        block = re.sub(r"<current_mig>[^<]*</current_mig>", "<current_mig>%s</current_mig>" % gpu["mig_current"],
                       block, count=1)
        block = re.sub(r"<pending_mig>[^<]*</pending_mig>", "<pending_mig>%s</pending_mig>" % gpu["mig_pending"],
                       block, count=1)
        block = re.sub(r"\t\t<mig_devices>.*?</mig_devices>\n", lambda m: _xml_mig_devices(gpu), block, count=1,
                       flags=re.S)
        block = re.sub(r"\t\t<processes>.*?</processes>\n", lambda m: _xml_processes(gpu), block, count=1, flags=re.S)
        blocks.append(block)
    return header + "".join(blocks) + "\n</nvidia_smi_log>\n"


def _xml_mig_devices(gpu):
    devices = _mig_devices(gpu)
    if not devices:
        return "\t\t<mig_devices>\n\t\t\tNone\n\t\t</mig_devices>\n"
    out = ["\t\t<mig_devices>"]
    total_mib = gpu["memory_total_mib"]
    for dev_index, (gi, ci) in enumerate(devices):
        profile = _profile_by_id(gpu, gi["profile_id"])
        fb = int(total_mib * gi["size"] / 8)
        out.extend([
            "\t\t\t<mig_device>",
            "\t\t\t\t<index>%d</index>" % dev_index,
            "\t\t\t\t<gpu_instance_id>%d</gpu_instance_id>" % gi["gi_id"],
            "\t\t\t\t<compute_instance_id>%d</compute_instance_id>" % ci["ci_id"],
            "\t\t\t\t<device_attributes>",
            "\t\t\t\t\t<shared>",
            "\t\t\t\t\t\t<multiprocessor_count>%d</multiprocessor_count>" % profile["sm"],
            "\t\t\t\t\t\t<copy_engine_count>%d</copy_engine_count>" % profile.get("ce", 0),
            "\t\t\t\t\t\t<encoder_count>%d</encoder_count>" % profile["enc"],
            "\t\t\t\t\t\t<decoder_count>%d</decoder_count>" % profile["dec"],
            "\t\t\t\t\t\t<ofa_count>%d</ofa_count>" % profile.get("ofa", 0),
            "\t\t\t\t\t\t<jpg_count>%d</jpg_count>" % profile.get("jpeg", 0),
            "\t\t\t\t\t</shared>",
            "\t\t\t\t</device_attributes>",
            "\t\t\t\t<fb_memory_usage>",
            "\t\t\t\t\t<total>%d MiB</total>" % fb,
            "\t\t\t\t\t<reserved>0 MiB</reserved>",
            "\t\t\t\t\t<used>0 MiB</used>",
            "\t\t\t\t\t<free>%d MiB</free>" % fb,
            "\t\t\t\t</fb_memory_usage>",
            "\t\t\t</mig_device>",
        ])
    out.append("\t\t</mig_devices>")
    return "\n".join(out) + "\n"


def _xml_processes(gpu):
    out = ["\t\t<processes>"]
    for proc in gpu["processes"]:
        out.extend([
            "\t\t\t<process_info>",
            "\t\t\t\t<gpu_instance_id>%s</gpu_instance_id>" % ("N/A" if proc.get("gi") is None else proc["gi"]),
            "\t\t\t\t<compute_instance_id>%s</compute_instance_id>" % ("N/A" if proc.get("ci") is None else proc["ci"]),
            "\t\t\t\t<pid>%d</pid>" % proc["pid"],
            "\t\t\t\t<type>C</type>",
            "\t\t\t\t<process_name>%s</process_name>" % proc["name"],
            "\t\t\t\t<used_memory>%d MiB</used_memory>" % proc.get("used_memory_mib", 500),
            "\t\t\t</process_info>",
        ])
    out.append("\t\t</processes>")
    return "\n".join(out) + "\n"


QUERY_FIELDS = {
    "index": ("index", lambda i, g: str(i)),
    "uuid": ("uuid", lambda i, g: g["uuid"]),
    "name": ("name", lambda i, g: g["name"]),
    "pci.bus_id": ("pci.bus_id", lambda i, g: g["pci_bus_id"]),
    "pci.device_id": ("pci.device_id", lambda i, g: g["pci_device_id"]),
    "driver_version": ("driver_version", lambda i, g: g["driver_version"]),
    "mig.mode.current": ("mig.mode.current", lambda i, g: g["mig_current"]),
    "mig.mode.pending": ("mig.mode.pending", lambda i, g: g["mig_pending"]),
    "memory.total": ("memory.total [MiB]", lambda i, g: "%d MiB" % g["memory_total_mib"]),
    "compute_cap": ("compute_cap", lambda i, g: g["compute_cap"]),
}


def fmt_query(selected, fields, fmt):
    opts = fmt.split(",")
    if opts[0] != "csv":
        raise SimError('"%s" is not a valid format.' % fmt, RC_INVALID_ARG)
    for field in fields:
        if field not in QUERY_FIELDS:
            raise SimError('Field "%s" is not a valid field to query.' % field, RC_INVALID_ARG)
    out = []
    if "noheader" not in opts:
        out.append(", ".join(QUERY_FIELDS[f][0] if "nounits" not in opts else f for f in fields))
    for index, gpu in selected:
        values = [QUERY_FIELDS[f][1](index, gpu) for f in fields]
        if "nounits" in opts:
            values = [v[:-4] if v.endswith(" MiB") else v for v in values]
        out.append(", ".join(values))
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# Mutations
# --------------------------------------------------------------------------------------------
def set_mig(state, selected, value):
    value = str(value).strip().upper()
    if value not in ("0", "1", "ENABLED", "DISABLED"):
        raise SimError("Invalid MIG mode value: %s" % value, RC_INVALID_ARG)
    enable = value in ("1", "ENABLED")
    out = []
    for _index, gpu in selected:
        word = "Enabled" if enable else "Disabled"
        if not enable and gpu["gpu_instances"]:
            out.append("Unable to disable MIG Mode for GPU %s: In use by another client" % gpu["pci_bus_id"])
            raise SimError("\n".join(out), RC_IN_USE)
        gpu["mig_pending"] = word
        if gpu["processes"] or state.get("mig_needs_reset"):
            out.append("Warning: MIG mode is in pending %s state for GPU %s:In use by another client" % (
                "enable" if enable else "disable", gpu["pci_bus_id"]))
            out.append("%s is currently being used by one or more other processes (e.g. CUDA application or a "
                       "monitoring application such as another instance of nvidia-smi). Please first kill all "
                       "processes using the device and retry the command or reboot the system to make MIG mode "
                       "effective." % gpu["pci_bus_id"])
        else:
            gpu["mig_current"] = word
            out.append("%s MIG Mode for GPU %s" % (word, gpu["pci_bus_id"]))
    out.append("All done.")
    return "\n".join(out) + "\n"


def reset_gpu(selected):
    out = []
    for _index, gpu in selected:
        if gpu["processes"]:
            raise SimError("The following GPUs could not be reset:\n  GPU %s: In use by another client\n\n"
                           "1 device is currently being used by one or more other processes." % gpu["pci_bus_id"],
                           RC_IN_USE)
        gpu["mig_current"] = gpu["mig_pending"]
        out.append("GPU %s was successfully reset." % gpu["pci_bus_id"])
    out.append("All done.")
    return "\n".join(out) + "\n"


def create_gi(state, selected, spec, with_ci):
    enabled = _mig_enabled_gpus(selected)
    if not enabled or state.get("fault") == "cgi-no-mig":
        return NO_MIG + "\n", 0  # the real driver exits 0 here
    out = []
    for index, gpu in enabled:
        for token in [t for t in spec.split(",") if t.strip()]:
            name, _sep, start = token.strip().partition(":")
            profile = _profile(gpu, name)
            if profile is None or (start and not start.strip().isdigit()):
                out.append("Unable to create a GPU instance on GPU %2d using profile %s: Invalid Argument" % (index, name))
                out.append("Failed to create GPU instances: Invalid Argument")
                raise SimError("\n".join(out), RC_INVALID_ARG)
            used = _used_mask(gpu)
            count = len([gi for gi in gpu["gpu_instances"] if gi["profile_id"] == profile["id"]])
            if start:
                start = int(start)
                if start not in profile["starts"]:
                    out.append("Unable to create a GPU instance on GPU %2d using profile %s: Invalid Argument" % (
                        index, token.strip()))
                    out.append("Failed to create GPU instances: Invalid Argument")
                    raise SimError("\n".join(out), RC_INVALID_ARG)
                candidates = [start]
            else:
                candidates = list(profile["starts"])
            fits = [s for s in candidates if not used & _mask(s, profile["size"])]
            compute_used = sum(_compute_slices(_profile_by_id(gpu, gi["profile_id"])) for gi in gpu["gpu_instances"])
            if count >= profile["max"] or not fits or compute_used + _compute_slices(profile) > 7:
                out.append("Unable to create a GPU instance on GPU %2d using profile %s: Insufficient Resources" % (
                    index, token.strip()))
                out.append("Failed to create GPU instances: Insufficient Resources")
                raise SimError("\n".join(out), RC_INSUFFICIENT)
            start = fits[0]
            gi = {"gi_id": _gi_id(gpu, start, profile["size"]), "profile_id": profile["id"], "start": start,
                  "size": profile["size"], "compute_instances": []}
            gpu["gpu_instances"].append(gi)
            out.append("Successfully created GPU instance ID %2d on GPU %2d using profile MIG %s (ID %2d)" % (
                gi["gi_id"], index, profile["name"], profile["id"]))
            if with_ci:
                out.append(_create_ci(state, gpu, index, gi))
    return "\n".join(out) + "\n", 0


def _create_ci(state, gpu, index, gi):
    profile = _profile_by_id(gpu, gi["profile_id"])
    if gi["compute_instances"]:
        raise SimError("Unable to create a compute instance on GPU %2d GPU instance ID %2d using profile %d: "
                       "Insufficient Resources\nFailed to create compute instances: Insufficient Resources" % (
                           index, gi["gi_id"], _ci_profile_id(profile)), RC_INSUFFICIENT)
    ci = {"ci_id": 0, "profile_id": _ci_profile_id(profile), "name": profile["name"], "start": 0,
          "size": _compute_slices(profile), "uuid": _mig_uuid(state, gpu, gi["gi_id"], 0)}
    gi["compute_instances"].append(ci)
    return "Successfully created compute instance ID %2d on GPU %2d GPU instance ID %2d using profile MIG %s (ID %2d)" % (
        ci["ci_id"], index, gi["gi_id"], ci["name"], ci["profile_id"])


def create_ci(state, selected, gi_ids, profile_spec):
    enabled = _mig_enabled_gpus(selected)
    if not enabled:
        return NO_MIG + "\n", 0
    out = []
    for index, gpu in enabled:
        for gi in sorted(gpu["gpu_instances"], key=lambda g: g["gi_id"]):
            if gi_ids is not None and gi["gi_id"] not in gi_ids:
                continue
            if profile_spec and profile_spec not in (str(_ci_profile_id(_profile_by_id(gpu, gi["profile_id"]))),):
                raise SimError("Unable to create a compute instance on GPU %2d GPU instance ID %2d using profile %s: "
                               "Invalid Argument\nFailed to create compute instances: Invalid Argument" % (
                                   index, gi["gi_id"], profile_spec), RC_INVALID_ARG)
            out.append(_create_ci(state, gpu, index, gi))
    if not out:
        raise SimError("No GPU instances found: Not Found", RC_NOT_FOUND)
    return "\n".join(out) + "\n", 0


def destroy_ci(selected, gi_ids, ci_ids):
    enabled = _mig_enabled_gpus(selected)
    if not enabled:
        return NO_MIG + "\n", 0
    out = []
    for index, gpu in enabled:
        for gi in sorted(gpu["gpu_instances"], key=lambda g: g["gi_id"]):
            if gi_ids is not None and gi["gi_id"] not in gi_ids:
                continue
            for ci in list(gi["compute_instances"]):
                if ci_ids is not None and ci["ci_id"] not in ci_ids:
                    continue
                if [p for p in gpu["processes"] if p.get("gi") == gi["gi_id"] and p.get("ci") in (None, ci["ci_id"])]:
                    out.append("Unable to destroy compute instance ID %2d from GPU %2d GPU instance ID %2d: "
                               "In use by another client" % (ci["ci_id"], index, gi["gi_id"]))
                    out.append("Failed to destroy compute instances: In use by another client")
                    raise SimError("\n".join(out), RC_IN_USE)
                gi["compute_instances"].remove(ci)
                out.append("Successfully destroyed compute instance ID %2d from GPU %2d GPU instance ID %2d" % (
                    ci["ci_id"], index, gi["gi_id"]))
    if not out:
        raise SimError("No compute instances found: Not Found", RC_NOT_FOUND)
    return "\n".join(out) + "\n", 0


def destroy_gi(selected, gi_ids):
    enabled = _mig_enabled_gpus(selected)
    if not enabled:
        return NO_MIG + "\n", 0
    out = []
    for index, gpu in enabled:
        for gi in sorted(list(gpu["gpu_instances"]), key=lambda g: g["gi_id"]):
            if gi_ids is not None and gi["gi_id"] not in gi_ids:
                continue
            if gi["compute_instances"] or [p for p in gpu["processes"] if p.get("gi") == gi["gi_id"]]:
                out.append("Unable to destroy GPU instance ID %2d from GPU %2d: In use by another client" % (
                    gi["gi_id"], index))
                out.append("Failed to destroy GPU instances: In use by another client")
                raise SimError("\n".join(out), RC_IN_USE)
            gpu["gpu_instances"].remove(gi)
            out.append("Successfully destroyed GPU instance ID %2d from GPU %2d" % (gi["gi_id"], index))
    if not out:
        raise SimError("No GPU instances found: Not Found", RC_NOT_FOUND)
    return "\n".join(out) + "\n", 0


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------
def _take(args, names, has_value=True):
    """Pop an option (``-i 0``, ``--id=0``) from args; return its value, True, or None."""
    for pos, arg in enumerate(list(args)):
        for name in names:
            if arg == name:
                args.pop(pos)
                if not has_value:
                    return True
                if pos < len(args) and not (args[pos].startswith("-") and not args[pos].lstrip("-").isdigit()):
                    return args.pop(pos)
                return ""
            if has_value and name.startswith("--") and arg.startswith(name + "="):
                args.pop(pos)
                return arg.split("=", 1)[1]
    return None


def _ids(value):
    if value is None or value == "":
        return None
    return set(int(v) for v in value.split(",") if v.strip())


def run_mig(state, args):
    ident = _take(args, ["-i", "--id"])
    gi_ids = _ids(_take(args, ["-gi", "--gpu-instance-id"]))
    ci_ids = _ids(_take(args, ["-ci", "--compute-instance-id"]))
    with_ci = bool(_take(args, ["-C", "--default-compute-instance"], has_value=False))
    selected = _select(state, ident)
    if _take(args, ["-lgipp", "--list-gpu-instance-possible-placements"], has_value=False):
        return fmt_lgipp(selected), 0
    if _take(args, ["-lgip", "--list-gpu-instance-profiles"], has_value=False):
        return fmt_lgip(selected), 0
    if _take(args, ["-lgi", "--list-gpu-instances"], has_value=False):
        enabled = _mig_enabled_gpus(selected)
        if not enabled:
            return NO_MIG + "\n", 0
        if not any(g["gpu_instances"] for _i, g in enabled):
            return "No GPU instances found: Not Found\n", RC_NOT_FOUND
        return fmt_lgi(enabled), 0
    if _take(args, ["-lci", "--list-compute-instances"], has_value=False):
        enabled = _mig_enabled_gpus(selected)
        if not enabled:
            return NO_MIG + "\n", 0
        if not any(gi["compute_instances"] for _i, g in enabled for gi in g["gpu_instances"]):
            return "No compute instances found: Not Found\n", RC_NOT_FOUND
        return fmt_lci(enabled, gi_ids), 0
    if _take(args, ["-lcip", "--list-compute-instance-profiles"], has_value=False):
        if not _mig_enabled_gpus(selected):
            return NO_MIG + "\n", 0
        return "No compute instance profiles listed by this simulator\n", 0
    spec = _take(args, ["-cgi", "--create-gpu-instance"])
    if spec is not None:
        if not spec:
            raise SimError("Invalid combination of input arguments. Please run 'nvidia-smi mig -h' for help.",
                           RC_INVALID_ARG)
        return create_gi(state, selected, spec, with_ci)
    if _take(args, ["-dgi", "--destroy-gpu-instance"], has_value=False):
        return destroy_gi(selected, gi_ids)
    cci = _take(args, ["-cci", "--create-compute-instance"])
    if cci is not None:
        return create_ci(state, selected, gi_ids, cci)
    if _take(args, ["-dci", "--destroy-compute-instance"], has_value=False):
        return destroy_ci(selected, gi_ids, ci_ids)
    raise SimError("Invalid combination of input arguments. Please run 'nvidia-smi mig -h' for help.", RC_INVALID_ARG)


def run(state, args):
    args = list(args)
    if args and args[0] == "mig":
        return run_mig(state, args[1:])
    ident = _take(args, ["-i", "--id"])
    if _take(args, ["-L", "--list-gpus"], has_value=False):
        return fmt_list(state), 0
    mig = _take(args, ["-mig", "--multi-instance-gpu"])
    if mig is not None:
        return set_mig(state, _select(state, ident), mig), 0
    if _take(args, ["-r", "--gpu-reset"], has_value=False):
        return reset_gpu(_select(state, ident)), 0
    query = _take(args, ["--query-gpu"])
    if query is not None:
        fmt = _take(args, ["--format"]) or ""
        return fmt_query(_select(state, ident), [f.strip() for f in query.split(",") if f.strip()], fmt), 0
    want_xml = _take(args, ["-x", "--xml-format"], has_value=False)
    if _take(args, ["-q", "--query"], has_value=False):
        if not want_xml:
            raise SimError("This simulator prints -q only as XML (-q -x).", RC_INVALID_ARG)
        return fmt_xml(state, _select(state, ident)), 0
    raise SimError("Invalid combination of input arguments. Please run 'nvidia-smi -h' for help.", RC_INVALID_ARG)


def load(path):
    with open(path) as handle:
        return json.load(handle)


def save(path, state):
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(state, handle, indent=1, sort_keys=True)
    os.replace(tmp, path)


def sim_options(state_path, args):
    """Handle --sim-* options; returns (handled, exit code)."""
    init = []
    if "--sim-init" in args:
        pos = args.index("--sim-init")
        for item in args[pos + 1:]:
            if item.startswith("--"):
                break
            init.append(item)
        if not init:
            sys.stderr.write("--sim-init needs at least one capture folder\n")
            return True, 2
        save(state_path, init_state(init))
    handled = bool(init)
    state = load(state_path) if os.path.exists(state_path) else None
    if state is None:
        sys.stderr.write("simulator state %s does not exist: run --sim-init first\n" % state_path)
        return True, 2
    if "--sim-clear-processes" in args:
        for gpu in state["gpus"]:
            gpu["processes"] = []
        handled = True
    if "--sim-add-process" in args:
        spec = args[args.index("--sim-add-process") + 1].split(":")
        proc = {"pid": int(spec[1]), "name": spec[2], "gi": int(spec[3]) if len(spec) > 3 else None,
                "ci": int(spec[4]) if len(spec) > 4 else None}
        state["gpus"][int(spec[0])]["processes"].append(proc)
        handled = True
    if "--sim-fault" in args:
        fault = args[args.index("--sim-fault") + 1]
        state["fault"] = None if fault == "none" else fault
        handled = True
    if "--sim-mig-needs-reset" in args:
        state["mig_needs_reset"] = args[args.index("--sim-mig-needs-reset") + 1] == "on"
        handled = True
    if handled:
        save(state_path, state)
    if "--sim-show" in args:
        sys.stdout.write(json.dumps(state, indent=1, sort_keys=True) + "\n")
        handled = True
    return handled, 0


def main(argv=None):
    args = list(sys.argv[1:] if argv is None else argv)
    state_path = _take(args, ["--sim-state"]) or os.environ.get(STATE_ENV)
    if not state_path:
        sys.stderr.write("nvidia_smi_sim: set %s or pass --sim-state FILE\n" % STATE_ENV)
        return 2
    if any(a.startswith("--sim-") for a in args):
        _handled, rc = sim_options(state_path, args)
        return rc
    if not os.path.exists(state_path):
        sys.stderr.write("simulator state %s does not exist: run --sim-init first\n" % state_path)
        return 2
    state = load(state_path)
    state.setdefault("calls", []).append(list(args))
    try:
        text, rc = run(state, args)
    except SimError as err:
        text, rc = err.text + "\n", err.rc
    save(state_path, state)
    sys.stdout.write(text)
    return rc


if __name__ == "__main__":
    sys.exit(main())
