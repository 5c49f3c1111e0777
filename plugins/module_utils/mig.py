# -*- coding: utf-8 -*-
# Copyright: sovereign.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""NVIDIA MIG: parse what the driver prints, plan a layout with the real placement rules, draw it.

Everything here is pure (no I/O, stdlib only) so it can be unit-tested against the real captures.

Vocabulary (as the driver uses it):
- a *profile* (``1g.10gb``) has an ID, a maximum instance count, a size in memory slices and the
  list of start slices it may be placed at (``nvidia-smi mig -lgipp``: ``{0,2,4}:2``);
- a *GPU instance* (GI) is a profile placed at a start slice; a *compute instance* (CI) lives in a
  GI. This module manages one full-size CI per GI (the driver's default CI, ``-C``/``-cci``), like
  NVIDIA's mig-parted does.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import csv
import itertools
import re
import xml.etree.ElementTree as ET

NO_MIG_DEVICES = "No MIG-enabled devices found."
NO_GPU_INSTANCES = "No GPU instances found"
NO_COMPUTE_INSTANCES = "No compute instances found"

# Lines that mean a mig/-mig command failed, whatever its exit code (the driver exits 0 on some).
_FAILURE_RE = re.compile(
    r"^\s*(No MIG-enabled devices found|No MIG-supported devices found|Unable to |Failed to |"
    r"Error|ERROR|Invalid combination|Insufficient Permissions|Unknown Error|"
    r"Option .* is not recognized|Field \".*\" is not a valid field)",
    re.MULTILINE,
)
_EMPTY_LIST_RE = re.compile(r"^\s*(No GPU instances found|No compute instances found)", re.MULTILINE)

_LGIP_ROW = re.compile(
    r"^\|\s*(?P<gpu>\d+)\s+MIG\s+(?P<name>\S+)\s+(?P<id>\d+)\s+(?P<free>\d+)/(?P<total>\d+)\s+"
    r"(?P<mem>[\d.]+|N/A)\s+(?P<p2p>\S+)\s+(?P<sm>\d+)\s+(?P<dec>\d+)\s+(?P<enc>\d+)\s*\|\s*$"
)
_LGIP_ROW2 = re.compile(r"^\|\s+(?P<ce>\d+)\s+(?P<jpeg>\d+)\s+(?P<ofa>\d+)\s*\|\s*$")
_LGIPP_ROW = re.compile(
    r"^GPU\s+(?P<gpu>\d+)\s+Profile ID\s+(?P<id>\d+)\s+Placements?\s*:\s*\{(?P<starts>[\d,\s]*)\}:(?P<size>\d+)"
)
_LGI_ROW = re.compile(
    r"^\|\s*(?P<gpu>\d+)\s+MIG\s+(?P<name>\S+)\s+(?P<pid>\d+)\s+(?P<gi>\d+)\s+(?P<start>\d+):(?P<size>\d+)\s*\|\s*$"
)
_LCI_ROW = re.compile(
    r"^\|\s*(?P<gpu>\d+)\s+(?P<gi>\d+)\s+MIG\s+(?P<name>\S+)\s+(?P<pid>\d+)\s+(?P<ci>\d+)"
    r"(?:\s+(?P<start>\d+):(?P<size>\d+))?\s*\|\s*$"
)
_SMI_L_GPU = re.compile(r"^GPU\s+(?P<index>\d+):\s+(?P<name>.*?)\s+\(UUID:\s*(?P<uuid>GPU-[^)\s]+)\)")
_SMI_L_MIG = re.compile(r"^\s+MIG\s+(?P<profile>\S+)\s+Device\s+(?P<dev>\d+):\s+\(UUID:\s*(?P<uuid>MIG-[^)\s]+)\)")
_CREATED_GI = re.compile(
    r"Successfully created GPU instance ID\s+(?P<gi>\d+) on GPU\s+(?P<gpu>\d+) using profile MIG (?P<name>\S+) \(ID\s+(?P<pid>\d+)\)"
)
_CREATED_CI = re.compile(
    r"Successfully created compute instance ID\s+(?P<ci>\d+) on GPU\s+(?P<gpu>\d+) GPU instance ID\s+(?P<gi>\d+)"
)
_PROFILE_SLICES = re.compile(r"^(\d+)g\.")


# The MIG profiles of the GPUs this collection knows, with each profile's maximum instance count, as
# ``nvidia-smi mig -lgip`` prints them (H100 80GB and H200: the real captures in ../shared/fixtures, checked
# by tests/unit/plugins/module_utils/test_mig_planner.py). A site names its GPUs by these keys; a GPU not
# listed here is given as {name, profiles: {profile: max_count}}.
MIG_PROFILE_TABLE = {
    "A30-24GB": {"1g.6gb": 4, "1g.6gb+me": 1, "2g.12gb": 2, "2g.12gb+me": 1, "4g.24gb": 1},
    "A100-40GB": {"1g.5gb": 7, "1g.5gb+me": 1, "1g.10gb": 4, "2g.10gb": 3, "3g.20gb": 2, "4g.20gb": 1, "7g.40gb": 1},
    "A100-80GB": {"1g.10gb": 7, "1g.10gb+me": 1, "1g.20gb": 4, "2g.20gb": 3, "3g.40gb": 2, "4g.40gb": 1, "7g.80gb": 1},
    "H100-80GB": {"1g.10gb": 7, "1g.10gb+me": 1, "1g.20gb": 4, "2g.20gb": 3, "3g.40gb": 2, "4g.40gb": 1, "7g.80gb": 1},
    "H100-94GB": {"1g.12gb": 7, "1g.12gb+me": 1, "1g.24gb": 4, "2g.24gb": 3, "3g.47gb": 2, "4g.47gb": 1, "7g.94gb": 1},
    "H200-141GB": {"1g.18gb": 7, "1g.18gb+me": 1, "1g.35gb": 4, "2g.35gb": 3, "3g.71gb": 2, "4g.71gb": 1,
                   "7g.141gb": 1},
}
_CATALOGUE_PROFILE = re.compile(r"^[1-8]g\.[0-9]+gb(\+me)?$")


def catalogue_profiles(catalogue, field="gpu_catalogue"):
    """``(profiles, errors)``: every MIG profile of the site's GPUs with its largest maximum count.

    ``catalogue`` lists keys of :data:`MIG_PROFILE_TABLE` or ``{name, profiles: {profile: max_count}}`` for
    other GPUs; None means every GPU of the table. Each error names ``field[i]`` and the fix.
    """
    if catalogue is None:
        catalogue = sorted(MIG_PROFILE_TABLE)
    if not isinstance(catalogue, (list, tuple)):
        return {}, ["%s must be a list of GPU models (%s) or {name, profiles} entries" % (
            field, ", ".join(sorted(MIG_PROFILE_TABLE)))]
    profiles, errors = {}, []
    for index, entry in enumerate(catalogue):
        item = "%s[%d]" % (field, index)
        if isinstance(entry, str) and entry in MIG_PROFILE_TABLE:
            table = MIG_PROFILE_TABLE[entry]
        elif isinstance(entry, dict) and isinstance(entry.get("name"), str) and isinstance(entry.get("profiles"), dict):
            table = entry["profiles"]
            bad = sorted(str(p) for p, n in table.items() if not _CATALOGUE_PROFILE.match(str(p))
                         or isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 8)
            if bad:
                errors.append("%s.profiles %s: give each MIG profile as nvidia-smi mig -lgip names it (1g.10gb, "
                              "1g.10gb+me) with its maximum instance count (1 to 8)" % (item, ", ".join(bad)))
                continue
        else:
            errors.append("%s %r is not a known GPU model: use one of %s, or {name: MODEL, profiles: {PROFILE: "
                          "MAX_COUNT}} as nvidia-smi mig -lgip prints them" % (
                              item, entry if isinstance(entry, str) else type(entry).__name__,
                              ", ".join(sorted(MIG_PROFILE_TABLE))))
            continue
        for name, count in table.items():
            profiles[name] = max(count, profiles.get(name, 0))
    return profiles, errors


def layout_catalogue_errors(layout, profiles, field="layout"):
    """Errors of a declared layout against ``profiles`` (:func:`catalogue_profiles`), without a live GPU.

    ``profiles`` None checks the shape only (mapping or list, whole counts).

    The live plan (:func:`plan_gpu`) has the last word on a real GPU; this catches, before anything
    changes and where no driver answers yet, profiles no GPU of the site has and counts above every
    GPU's maximum (``2**64`` included).
    """
    known = ", ".join(sorted(profiles or {})) or "none"
    counts, named, errors = {}, {}, []
    if layout is None:
        return []
    if isinstance(layout, dict):
        items = [("%s[%r]" % (field, name), name, count) for name, count in layout.items()]
    elif isinstance(layout, (list, tuple)):
        items = []
        for pos, item in enumerate(layout):
            name = item.get("profile") if isinstance(item, dict) else item
            if not isinstance(name, str) or (isinstance(item, dict) and set(item) - set(["profile", "placement"])):
                errors.append("%s[%d]: each item must be a profile name or {profile: NAME, placement: START}" % (
                    field, pos))
                continue
            items.append(("%s[%d]" % (field, pos), name, 1))
    else:
        return ["%s: must be a mapping {profile: count} or a list of {profile, placement}, got %s" % (
            field, type(layout).__name__)]
    for where, name, count in items:
        short = short_profile_name(str(name))
        if profiles is None:  # shape only
            if isinstance(count, bool) or not isinstance(count, (int, str)) or not str(count).strip().isdigit():
                errors.append("%s: count must be a whole number >= 0, got %r" % (where, count))
            continue
        if short not in profiles:
            errors.append("%s: no GPU of the site has the MIG profile %r: use one of %s" % (where, name, known))
            continue
        if isinstance(count, str) and count.strip().isdigit():
            count = int(count)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            errors.append("%s: count must be a whole number >= 0, got %r" % (where, count))
            continue
        counts[short] = counts.get(short, 0) + count
        named[short] = where if isinstance(layout, dict) else field
    for short in sorted(counts):
        if counts[short] > profiles[short]:
            errors.append("%s: %s x%d exceeds the profile's maximum of %d instance(s) on any GPU of the site: use at "
                          "most %d" % (named[short], short, counts[short], profiles[short], profiles[short]))
    return errors


class MigLayoutError(ValueError):
    """A layout that cannot be honoured; ``reasons`` lists every problem found."""

    def __init__(self, reasons):
        self.reasons = list(reasons)
        super(MigLayoutError, self).__init__("; ".join(self.reasons))


# ---------------------------------------------------------------------------------------------
# Output checks
# ---------------------------------------------------------------------------------------------
def command_failure(rc, stdout, stderr=""):
    """Return why an nvidia-smi call failed, or None. Reads the text, not only the exit code."""
    text = "\n".join(part for part in (stdout or "", stderr or "") if part)
    match = _FAILURE_RE.search(text)
    if match:
        lines = [line.strip() for line in text.splitlines() if _FAILURE_RE.match(line)]
        return "; ".join(lines)
    if rc != 0 and not _EMPTY_LIST_RE.search(text):
        return "exit code %s: %s" % (rc, text.strip() or "(no output)")
    return None


def mig_disabled_everywhere(text):
    """``-lgi``/``-lci``/``-cgi`` print this sentence (exit 0) when no selected GPU has MIG on."""
    return NO_MIG_DEVICES in (text or "")


# ---------------------------------------------------------------------------------------------
# Parsers (formats as driver 580 prints them; see ../shared/fixtures/nvidia-smi)
# ---------------------------------------------------------------------------------------------
def compute_slices_of(name):
    """Compute slices (GPCs) of a profile: the ``Ng`` prefix of its name."""
    match = _PROFILE_SLICES.match(name or "")
    return int(match.group(1)) if match else None


def short_profile_name(name):
    """'MIG 1g.10gb' -> '1g.10gb'."""
    name = (name or "").strip()
    return name[4:].strip() if name.upper().startswith("MIG ") else name


def parse_lgip(text):
    """``nvidia-smi mig -lgip`` -> {gpu_index: [profile, ...]} in printed order."""
    result = {}
    last = None
    for line in (text or "").splitlines():
        row = _LGIP_ROW.match(line)
        if row:
            mem = row.group("mem")
            last = {
                "id": int(row.group("id")),
                "name": row.group("name"),
                "free": int(row.group("free")),
                "max_count": int(row.group("total")),
                "memory_gib": float(mem) if mem != "N/A" else None,
                "p2p": row.group("p2p"),
                "sm": int(row.group("sm")),
                "dec": int(row.group("dec")),
                "enc": int(row.group("enc")),
                "compute_slices": compute_slices_of(row.group("name")),
            }
            result.setdefault(int(row.group("gpu")), []).append(last)
            continue
        row2 = _LGIP_ROW2.match(line)
        if row2 and last is not None:
            last.update(ce=int(row2.group("ce")), jpeg=int(row2.group("jpeg")), ofa=int(row2.group("ofa")))
            last = None
    return result


def parse_lgipp(text):
    """``nvidia-smi mig -lgipp`` -> {gpu_index: {profile_id: {"starts": [...], "size": n}}}."""
    result = {}
    for line in (text or "").splitlines():
        row = _LGIPP_ROW.match(line.strip())
        if row:
            starts = [int(s) for s in row.group("starts").replace(" ", "").split(",") if s != ""]
            result.setdefault(int(row.group("gpu")), {})[int(row.group("id"))] = {
                "starts": starts, "size": int(row.group("size"))}
    return result


def parse_lgi(text):
    """``nvidia-smi mig -lgi`` -> {gpu_index: [gpu instance, ...]}; {} when MIG is off or none exist."""
    result = {}
    for line in (text or "").splitlines():
        row = _LGI_ROW.match(line)
        if row:
            result.setdefault(int(row.group("gpu")), []).append({
                "gi_id": int(row.group("gi")),
                "profile": row.group("name"),
                "profile_id": int(row.group("pid")),
                "start": int(row.group("start")),
                "size": int(row.group("size")),
            })
    return result


def parse_lci(text):
    """``nvidia-smi mig -lci`` -> {gpu_index: [compute instance, ...]} (old format without placement too)."""
    result = {}
    for line in (text or "").splitlines():
        row = _LCI_ROW.match(line)
        if row:
            result.setdefault(int(row.group("gpu")), []).append({
                "gi_id": int(row.group("gi")),
                "ci_id": int(row.group("ci")),
                "profile": row.group("name"),
                "profile_id": int(row.group("pid")),
                "start": int(row.group("start")) if row.group("start") is not None else None,
                "size": int(row.group("size")) if row.group("size") is not None else None,
            })
    return result


def parse_query_csv(text):
    """``--query-gpu=... --format=csv`` -> list of dicts; header units (`` [MiB]``) are dropped."""
    lines = [line for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return []
    reader = csv.reader(lines, skipinitialspace=True)
    header = [re.sub(r"\s*\[.*\]$", "", h.strip()) for h in next(reader)]
    rows = []
    for values in reader:
        rows.append(dict(zip(header, [v.strip() for v in values])))
    return rows


def _text(node, path, default=None):
    found = node.find(path)
    if found is None or found.text is None:
        return default
    return found.text.strip()


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_smi_xml(text):
    """``nvidia-smi -q -x`` -> list of GPUs (in index order) with MIG mode, MIG devices and processes."""
    root = ET.fromstring(text)
    gpus = []
    for position, gpu in enumerate(root.findall("gpu")):
        device_id = _text(gpu, "pci/pci_device_id")
        mig_devices = []
        for dev in gpu.findall("mig_devices/mig_device"):
            mig_devices.append({
                "device_index": _int_or_none(_text(dev, "index")),
                "gi_id": _int_or_none(_text(dev, "gpu_instance_id")),
                "ci_id": _int_or_none(_text(dev, "compute_instance_id")),
                "uuid": _text(dev, "uuid"),
                "sm": _int_or_none(_text(dev, "device_attributes/shared/multiprocessor_count")),
                "memory_total": _text(dev, "fb_memory_usage/total"),
            })
        processes = []
        for proc in gpu.findall("processes/process_info"):
            processes.append({
                "pid": _int_or_none(_text(proc, "pid")),
                "name": _text(proc, "process_name"),
                "type": _text(proc, "type"),
                "used_memory": _text(proc, "used_memory"),
                "gi_id": _int_or_none(_text(proc, "gpu_instance_id")),
                "ci_id": _int_or_none(_text(proc, "compute_instance_id")),
            })
        gpus.append({
            "index": position,
            "pci_bus_id": gpu.get("id"),
            "name": _text(gpu, "product_name"),
            "uuid": _text(gpu, "uuid"),
            "minor_number": _int_or_none(_text(gpu, "minor_number")),
            "pci_device_id": normalize_pci_device_id(device_id) if device_id else None,
            "mig_current": _text(gpu, "mig_mode/current_mig"),
            "mig_pending": _text(gpu, "mig_mode/pending_mig"),
            "mig_devices": mig_devices,
            "processes": processes,
            "driver_version": _text(root, "driver_version"),
        })
    return gpus


def parse_smi_list(text):
    """``nvidia-smi -L`` -> {gpu_index: {"name", "uuid", "mig_devices": [{device_index, profile, uuid}]}}."""
    result = {}
    current = None
    for line in (text or "").splitlines():
        gpu = _SMI_L_GPU.match(line)
        if gpu:
            current = {"name": gpu.group("name"), "uuid": gpu.group("uuid"), "mig_devices": []}
            result[int(gpu.group("index"))] = current
            continue
        mig = _SMI_L_MIG.match(line)
        if mig and current is not None:
            current["mig_devices"].append({
                "device_index": int(mig.group("dev")), "profile": mig.group("profile"), "uuid": mig.group("uuid")})
    return result


def parse_created(text):
    """``mig -cgi ... -C`` output -> list of {gi_id, ci_id, profile}; empty when nothing was created."""
    created = []
    for line in (text or "").splitlines():
        gi = _CREATED_GI.search(line)
        if gi:
            created.append({"gi_id": int(gi.group("gi")), "ci_id": None, "profile": gi.group("name"),
                            "profile_id": int(gi.group("pid"))})
            continue
        ci = _CREATED_CI.search(line)
        if ci:
            for item in created:
                if item["gi_id"] == int(ci.group("gi")) and item["ci_id"] is None:
                    item["ci_id"] = int(ci.group("ci"))
                    break
            else:
                created.append({"gi_id": int(ci.group("gi")), "ci_id": int(ci.group("ci")), "profile": None,
                                "profile_id": None})
    return created


def normalize_pci_device_id(value):
    """'233010DE', '0x233010de' -> '0x233010DE'."""
    value = str(value).strip()
    if value.lower().startswith("0x"):
        value = value[2:]
    return "0x" + value.upper()


# ---------------------------------------------------------------------------------------------
# State assembly
# ---------------------------------------------------------------------------------------------
def build_profiles(lgip_rows, lgipp_entry):
    """Merge one GPU's ``-lgip`` rows and ``-lgipp`` placements -> {name: profile}."""
    profiles = {}
    for row in lgip_rows or []:
        placement = (lgipp_entry or {}).get(row["id"])
        if placement is None:
            continue  # a profile the driver cannot place is not usable
        profile = dict(row)
        profile["starts"] = list(placement["starts"])
        profile["size"] = placement["size"]
        if profile.get("compute_slices") is None:
            profile["compute_slices"] = profile["size"]
        profiles[profile["name"]] = profile
    return profiles


def geometry(profiles):
    """(memory slices, compute slices) of the GPU: the extent of its largest profile."""
    memory = max([max(p["starts"] or [0]) + p["size"] for p in profiles.values()] or [0])
    compute = max([p["compute_slices"] or 0 for p in profiles.values()] or [0])
    return memory, compute


def build_gpu_states(query_rows, xml_gpus, lgip, lgipp, lgi, lci, smi_list=None):
    """Join every source into one dict per GPU (keyed and ordered by nvidia-smi index)."""
    by_uuid = dict((g["uuid"], g) for g in xml_gpus if g.get("uuid"))
    by_bus = dict((g["pci_bus_id"], g) for g in xml_gpus if g.get("pci_bus_id"))
    rows = query_rows or [{"index": str(g["index"]), "uuid": g["uuid"], "name": g["name"],
                           "pci.bus_id": g["pci_bus_id"]} for g in xml_gpus]
    states = []
    for row in rows:
        index = int(row["index"])
        xml_gpu = by_uuid.get(row.get("uuid")) or by_bus.get(row.get("pci.bus_id")) or {}
        mig_current = row.get("mig.mode.current") or xml_gpu.get("mig_current")
        mig_pending = row.get("mig.mode.pending") or xml_gpu.get("mig_pending")
        profiles = build_profiles(lgip.get(index), lgipp.get(index))
        mem_slices, compute_budget = geometry(profiles) if profiles else (0, 0)
        cis = (lci or {}).get(index, [])
        listed = (smi_list or {}).get(index, {}).get("mig_devices", [])
        uuid_by_dev = dict((d["device_index"], d["uuid"]) for d in listed)
        mig_uuid = {}
        for dev in xml_gpu.get("mig_devices", []):
            mig_uuid[(dev["gi_id"], dev["ci_id"])] = dev.get("uuid") or uuid_by_dev.get(dev["device_index"])
        instances = []
        for gi in sorted((lgi or {}).get(index, []), key=lambda g: (g["start"], g["gi_id"])):
            gi = dict(gi)
            gi["compute_instances"] = [dict(ci, mig_uuid=mig_uuid.get((ci["gi_id"], ci["ci_id"])))
                                       for ci in cis if ci["gi_id"] == gi["gi_id"]]
            instances.append(gi)
        device_id = row.get("pci.device_id") or xml_gpu.get("pci_device_id")
        states.append({
            "index": index,
            "uuid": row.get("uuid") or xml_gpu.get("uuid"),
            "name": row.get("name") or xml_gpu.get("name"),
            "pci_bus_id": row.get("pci.bus_id") or xml_gpu.get("pci_bus_id"),
            "pci_device_id": normalize_pci_device_id(device_id) if device_id and device_id != "[N/A]" else None,
            "mig_current": mig_current,
            "mig_pending": mig_pending,
            "mig_capable": bool(profiles) and mig_current not in (None, "[N/A]", "N/A"),
            "profiles": profiles,
            "memory_slices": mem_slices,
            "compute_slices": compute_budget,
            "gpu_instances": instances if mig_current == "Enabled" else [],
            "processes": xml_gpu.get("processes", []),
        })
    return states


# ---------------------------------------------------------------------------------------------
# GPU selection
# ---------------------------------------------------------------------------------------------
def _describe_gpu(gpu):
    return "%s (%s, %s, %s)" % (gpu["index"], gpu.get("uuid"), gpu.get("name"), gpu.get("pci_device_id"))


def select_gpus(states, selectors):
    """Resolve ``gpus`` (all, indexes, UUIDs, PCI device ids, PCI bus ids) -> (selected, skipped).

    ``all`` picks the MIG-capable GPUs and lists the others in ``skipped``; naming a GPU that
    cannot do MIG is an error.
    """
    selectors = list(selectors or ["all"])
    errors = []
    chosen = []
    skipped = []
    for pos, raw in enumerate(selectors):
        item = str(raw).strip()
        if item.lower() == "all":
            matches = list(states)
        elif re.match(r"^\d+$", item):
            matches = [g for g in states if g["index"] == int(item)]
        elif item.upper().startswith("GPU-"):
            matches = [g for g in states if (g.get("uuid") or "").lower() == item.lower()]
        elif re.match(r"^(0x)?[0-9a-fA-F]{8}$", item):
            wanted = normalize_pci_device_id(item)
            matches = [g for g in states if g.get("pci_device_id") == wanted]
        elif re.match(r"^[0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$", item):
            matches = [g for g in states if (g.get("pci_bus_id") or "").lower().endswith(item.lower())]
        else:
            errors.append("gpus[%d]: %r is not 'all', an index, a GPU UUID (GPU-...), a PCI device id (0x233010DE) "
                          "or a PCI bus id" % (pos, item))
            continue
        if not matches:
            errors.append("gpus[%d]: no GPU matches %r; present: %s" % (
                pos, item, "; ".join(_describe_gpu(g) for g in states) or "none"))
            continue
        for gpu in matches:
            if not gpu["mig_capable"]:
                if item.lower() == "all":
                    if gpu not in skipped:
                        skipped.append(gpu)
                    continue
                errors.append("gpus[%d]: GPU %s does not support MIG (mig.mode.current is %s)" % (
                    pos, _describe_gpu(gpu), gpu.get("mig_current")))
                continue
            if gpu not in chosen:
                chosen.append(gpu)
    if errors:
        raise MigLayoutError(errors)
    chosen.sort(key=lambda g: g["index"])
    return chosen, skipped


# ---------------------------------------------------------------------------------------------
# Layout normalisation
# ---------------------------------------------------------------------------------------------
def _resolve_profile(name, profiles):
    if isinstance(name, bool):
        return None
    if isinstance(name, int) or (isinstance(name, str) and name.strip().isdigit()):
        for profile in profiles.values():
            if profile["id"] == int(name):
                return profile
        return None
    short = short_profile_name(str(name))
    if short in profiles:
        return profiles[short]
    lowered = short.lower()
    for key, profile in profiles.items():
        if key.lower() == lowered:
            return profile
    return None


def _slices(start, size):
    return "%d-%d" % (start, start + size - 1) if size > 1 else "%d" % start


def _slice_words(start, size):
    return ("slices " if size > 1 else "slice ") + _slices(start, size)


def _parse_placement(value, profile, field):
    """placement: 3, '3' or '3:1' -> start, checked against the profile's allowed starts."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        return None, "%s: placement must be a start slice (int) or 'start:size', not a boolean" % field
    text = str(value).strip()
    match = re.match(r"^(\d+)(?::(\d+))?$", text)
    if not match:
        return None, "%s: placement %r is not a start slice like 4 or '4:%d'" % (field, value, profile["size"])
    start = int(match.group(1))
    if match.group(2) is not None and int(match.group(2)) != profile["size"]:
        return None, "%s: placement %r has size %s but %s always takes %d memory slice(s): use '%d:%d'" % (
            field, value, match.group(2), profile["name"], profile["size"], start, profile["size"])
    if start not in profile["starts"]:
        return None, "%s: %s cannot start at slice %d; allowed starts are {%s}:%d" % (
            field, profile["name"], start, ",".join(str(s) for s in profile["starts"]), profile["size"])
    return start, None


def normalize_layout(layout, profiles, gpu_label="GPU"):
    """Turn the ``layout`` option into requests [(profile name, start or None)].

    Accepts {"1g.10gb": 4, "3g.40gb": 1} or [{"profile": "3g.40gb", "placement": 4}, "1g.10gb", ...].
    Names come from the GPU's own profile table (``-lgip``), so H200 names work on an H200.
    """
    known = ", ".join(sorted(profiles)) or "none"
    errors = []
    requests = []
    if isinstance(layout, dict):
        for name, count in layout.items():
            field = "layout[%r]" % (name,)
            profile = _resolve_profile(name, profiles)
            if profile is None:
                errors.append("%s: %s has no MIG profile %r; its profiles are: %s" % (field, gpu_label, name, known))
                continue
            if isinstance(count, bool) or not isinstance(count, int):
                if isinstance(count, str) and count.strip().isdigit():
                    count = int(count)
                else:
                    errors.append("%s: count must be a whole number >= 0, got %r" % (field, count))
                    continue
            if count < 0:
                errors.append("%s: count must be >= 0, got %d" % (field, count))
                continue
            if count > profile["max_count"]:
                # checked here, before the list of requests is built: 2**64 copies cannot be
                errors.append("%s: %s: %s x%d exceeds the profile's maximum of %d instance(s): use at most %d" % (
                    field, gpu_label, profile["name"], count, profile["max_count"], profile["max_count"]))
                continue
            requests.extend([(profile["name"], None)] * count)
    elif isinstance(layout, (list, tuple)):
        for pos, item in enumerate(layout):
            field = "layout[%d]" % pos
            if isinstance(item, str):
                item = {"profile": item}
            if not isinstance(item, dict) or "profile" not in item:
                errors.append("%s: each item must be a profile name or {profile: NAME, placement: START}, got %r" % (
                    field, item))
                continue
            unknown_keys = sorted(set(item) - set(["profile", "placement"]))
            if unknown_keys:
                errors.append("%s: unknown key(s) %s; use profile and placement" % (field, ", ".join(unknown_keys)))
                continue
            profile = _resolve_profile(item["profile"], profiles)
            if profile is None:
                errors.append("%s.profile: %s has no MIG profile %r; its profiles are: %s" % (
                    field, gpu_label, item["profile"], known))
                continue
            start, error = _parse_placement(item.get("placement"), profile, field + ".placement")
            if error:
                errors.append(error)
                continue
            requests.append((profile["name"], start))
    elif layout is None:
        return []
    else:
        errors.append("layout: must be a mapping {profile: count} or a list of {profile, placement}, got %s" % (
            type(layout).__name__))
    if errors:
        raise MigLayoutError(errors)
    return requests


# ---------------------------------------------------------------------------------------------
# Planner
# ---------------------------------------------------------------------------------------------
def _mask(start, size):
    return ((1 << size) - 1) << start


def _budget_reasons(requests, profiles, memory_slices, compute_slices, gpu_label):
    counts = {}
    for name, _start in requests:
        counts[name] = counts.get(name, 0) + 1
    reasons = []
    for name in sorted(counts):
        if counts[name] > profiles[name]["max_count"]:
            reasons.append("%s: %s x%d exceeds the profile's maximum of %d instance(s)" % (
                gpu_label, name, counts[name], profiles[name]["max_count"]))
    used_mem = sum(profiles[n]["size"] * c for n, c in counts.items())
    if used_mem > memory_slices:
        reasons.append("%s: needs %d memory slices but the GPU has %d (%s)" % (
            gpu_label, used_mem, memory_slices,
            ", ".join("%s x%d = %d" % (n, c, profiles[n]["size"] * c) for n, c in sorted(counts.items()))))
    used_compute = sum((profiles[n]["compute_slices"] or 0) * c for n, c in counts.items())
    if used_compute > compute_slices:
        reasons.append("%s: needs %d compute slices but the GPU has %d (%s)" % (
            gpu_label, used_compute, compute_slices,
            ", ".join("%s x%d = %d" % (n, c, (profiles[n]["compute_slices"] or 0) * c)
                      for n, c in sorted(counts.items()))))
    return reasons


def _groups(requests, profiles, current):
    """Requests grouped per profile: (name, size, pinned starts, free count, current starts)."""
    groups = {}
    for name, start in requests:
        group = groups.setdefault(name, {"pinned": [], "free": 0})
        if start is None:
            group["free"] += 1
        else:
            group["pinned"].append(start)
    result = []
    for name, group in groups.items():
        have = set(gi["start"] for gi in current if gi["profile"] == name)
        result.append((name, profiles[name]["size"], sorted(group["pinned"]), group["free"], have))
    # big instances first: they have the fewest placements, so the search prunes early
    result.sort(key=lambda g: (-g[1], len(profiles[g[0]]["starts"]), g[0]))
    return result


def _options(group, profiles):
    """Every way one profile group can be placed: (mask, starts, kept count), best kept first."""
    name, size, pinned, free, have = group
    pinned_mask = 0
    for start in pinned:
        if pinned_mask & _mask(start, size):
            return []  # two pinned instances of the same profile overlap
        pinned_mask |= _mask(start, size)
    candidates = [s for s in profiles[name]["starts"] if not (_mask(s, size) & pinned_mask)]
    options = []
    for combo in itertools.combinations(candidates, free):
        mask = pinned_mask
        ok = True
        for start in combo:
            if mask & _mask(start, size):
                ok = False
                break
            mask |= _mask(start, size)
        if ok:
            starts = sorted(list(pinned) + list(combo))
            options.append((mask, starts, sum(1 for s in starts if s in have)))
    # prefer keeping existing instances, then low starts (deterministic)
    options.sort(key=lambda o: (-o[2], o[1]))
    return options


def assign_placements(requests, profiles, current=()):
    """Choose a start for every request so nothing overlaps, keeping as many current GIs as possible.

    Returns {profile: [starts]} or None when the layout cannot fit.
    """
    groups = _groups(requests, profiles, list(current))
    options = [_options(g, profiles) for g in groups]
    if any(not opts for opts, g in zip(options, groups) if g[2] or g[3]):
        return None
    best_possible = [opts[0][2] if opts else 0 for opts in options]
    suffix = [0] * (len(options) + 1)
    for i in range(len(options) - 1, -1, -1):
        suffix[i] = suffix[i + 1] + best_possible[i]
    best = {"score": -1, "choice": None}
    chosen = [None] * len(options)

    def search(i, used, score):
        if best["score"] == suffix[0]:
            return  # cannot do better than keeping everything that can be kept
        if i == len(options):
            if score > best["score"]:
                best["score"] = score
                best["choice"] = list(chosen)
            return
        if score + suffix[i] <= best["score"]:
            return
        for mask, starts, kept in options[i]:
            if used & mask:
                continue
            chosen[i] = starts
            search(i + 1, used | mask, score + kept)

    search(0, 0, 0)
    if best["choice"] is None:
        return None
    return dict((g[0], starts) for g, starts in zip(groups, best["choice"]))


def explain_collisions(requests, profiles, gpu_label="GPU", limit=20000):
    """Why a layout does not fit: place as much as possible, then name what blocks each leftover."""
    order = sorted(requests, key=lambda r: (r[1] is None, -profiles[r[0]]["size"], r[0], r[1] if r[1] is not None else -1))
    best = {"placed": [], "left": list(order)}
    state = {"nodes": 0}

    def search(i, used, placed, left):
        state["nodes"] += 1
        if state["nodes"] > limit:
            return
        if len(placed) + (len(order) - i) <= len(best["placed"]):
            return
        if i == len(order):
            best["placed"] = list(placed)
            best["left"] = list(left)
            return
        name, pinned = order[i]
        size = profiles[name]["size"]
        starts = [pinned] if pinned is not None else profiles[name]["starts"]
        for start in starts:
            if used & _mask(start, size):
                continue
            placed.append((name, start, pinned is not None))
            search(i + 1, used | _mask(start, size), placed, left)
            placed.pop()
        left.append((name, pinned))
        search(i + 1, used, placed, left)
        left.pop()

    search(0, 0, [], [])
    lines = []
    placed_text = ", ".join("%s@%d (%s)" % (n, s, _slice_words(s, profiles[n]["size"])) for n, s, _p in best["placed"])
    for name, pinned in best["left"]:
        size = profiles[name]["size"]
        starts = [pinned] if pinned is not None else profiles[name]["starts"]
        blocks = []
        for start in starts:
            hits = []
            for other, ostart, _pin in best["placed"]:
                overlap = _mask(start, size) & _mask(ostart, profiles[other]["size"])
                if overlap:
                    bits = [b for b in range(64) if overlap >> b & 1]
                    hits.append("%s@%d on %s" % (other, ostart, _slice_words(bits[0], len(bits))))
            blocks.append("start %d (%s) collides with %s" % (start, _slice_words(start, size), ", ".join(hits)))
        lines.append("%s: %s%s does not fit: %s" % (
            gpu_label, name, ("@%d" % pinned) if pinned is not None else "", "; ".join(blocks)))
    if lines and placed_text:
        lines.append("%s: best partial fit places %s" % (gpu_label, placed_text))
    return lines


def _full_ci(gi):
    """True when the GI holds exactly one CI spanning it (the driver's default CI)."""
    cis = gi.get("compute_instances") or []
    return len(cis) == 1 and cis[0]["profile"] == gi["profile"]


def plan_gpu(gpu, layout, mig_enabled=True):
    """Plan one GPU. Returns {"gpu", "uuid", "actions", "target", "reset_required", ...}.

    ``layout`` is the module option (mapping or list), None to leave instances alone.
    Raises MigLayoutError before anything is touched when the layout is wrong or cannot fit.
    """
    label = "GPU %d (%s)" % (gpu["index"], gpu.get("name"))
    profiles = gpu["profiles"]
    actions = []
    current = list(gpu.get("gpu_instances") or [])
    enabled_now = gpu.get("mig_current") == "Enabled"
    pending = gpu.get("mig_pending")
    plan = {"gpu": gpu["index"], "uuid": gpu.get("uuid"), "name": gpu.get("name"), "actions": actions,
            "target": [], "reset_required": False}

    if not mig_enabled:
        if layout:
            raise MigLayoutError(["layout: must be empty when mig_enabled is false (%s)" % label])
        actions.extend(_teardown(gpu, current))
        if enabled_now or pending == "Enabled":
            if pending != "Disabled":
                actions.append({"action": "disable_mig", "gpu": gpu["index"]})
            plan["reset_required"] = pending == "Disabled" and enabled_now
        return plan

    requests = normalize_layout(layout, profiles, label) if layout is not None else None
    if requests is not None:
        reasons = _budget_reasons(requests, profiles, gpu["memory_slices"], gpu["compute_slices"], label)
        choice = assign_placements(requests, profiles, current) if not reasons else None
        if choice is None:
            # a broken budget is reason enough; otherwise say which instances collide where
            raise MigLayoutError(reasons or explain_collisions(requests, profiles, label))
    if not enabled_now:
        if pending != "Enabled":
            actions.append({"action": "enable_mig", "gpu": gpu["index"]})
        else:
            plan["reset_required"] = True
    if requests is None:
        plan["target"] = [_target_of(gi) for gi in current]
        return plan

    keep = []
    targets = []
    for name, starts in sorted(choice.items()):
        for start in starts:
            match = [gi for gi in current if gi["profile"] == name and gi["start"] == start]
            if match:
                keep.append(match[0])
                targets.append(_target_of(match[0]))
            else:
                targets.append({"profile": name, "profile_id": profiles[name]["id"], "start": start,
                                "size": profiles[name]["size"], "gi_id": None, "keep": False})
    destroy = [gi for gi in current if not any(gi is k for k in keep)]
    actions.extend(_teardown(gpu, destroy))
    for gi in keep:
        if not _full_ci(gi):
            for ci in gi.get("compute_instances") or []:
                actions.append({"action": "destroy_ci", "gpu": gpu["index"], "gi_id": gi["gi_id"], "ci_id": ci["ci_id"],
                                "profile": ci["profile"]})
    for target in sorted(targets, key=lambda t: (-t["size"], t["start"])):
        if not target["keep"]:
            actions.append({"action": "create_gi", "gpu": gpu["index"], "profile": target["profile"],
                            "profile_id": target["profile_id"], "start": target["start"], "size": target["size"],
                            "placement": "%d:%d" % (target["start"], target["size"])})
    for gi in keep:
        if not _full_ci(gi):
            actions.append({"action": "create_ci", "gpu": gpu["index"], "gi_id": gi["gi_id"], "profile": gi["profile"]})
    plan["target"] = sorted(targets, key=lambda t: t["start"])
    if plan["reset_required"]:
        # MIG mode is pending until a reset: instance commands would fail, keep them for information
        plan["after_reset"] = [a for a in actions if a["action"] not in ("enable_mig", "disable_mig")]
        del actions[:]
    return plan


def _target_of(gi):
    return {"profile": gi["profile"], "profile_id": gi["profile_id"], "start": gi["start"], "size": gi["size"],
            "gi_id": gi["gi_id"], "keep": True}


def _teardown(gpu, instances):
    actions = []
    for gi in instances:
        for ci in gi.get("compute_instances") or []:
            actions.append({"action": "destroy_ci", "gpu": gpu["index"], "gi_id": gi["gi_id"], "ci_id": ci["ci_id"],
                            "profile": ci["profile"]})
    for gi in instances:
        actions.append({"action": "destroy_gi", "gpu": gpu["index"], "gi_id": gi["gi_id"], "profile": gi["profile"],
                        "start": gi["start"], "size": gi["size"], "placement": "%d:%d" % (gi["start"], gi["size"])})
    return actions


def busy_processes(gpu, plan):
    """Processes that forbid applying ``plan`` on ``gpu`` (all of them, when anything changes)."""
    if not plan["actions"]:
        return []
    return list(gpu.get("processes") or [])


def validate_plan(plan, gpu):
    """Check a plan's end state against the placement rules (used by tests and as a guard)."""
    profiles = gpu["profiles"]
    errors = []
    used = 0
    counts = {}
    compute = 0
    for target in plan["target"]:
        profile = profiles.get(target["profile"])
        if profile is None:
            errors.append("unknown profile %s" % target["profile"])
            continue
        if target["start"] not in profile["starts"] or target["size"] != profile["size"]:
            errors.append("%s cannot be placed at %d:%d" % (target["profile"], target["start"], target["size"]))
        mask = _mask(target["start"], target["size"])
        if used & mask:
            errors.append("%s@%d overlaps another instance" % (target["profile"], target["start"]))
        used |= mask
        counts[target["profile"]] = counts.get(target["profile"], 0) + 1
        compute += profile["compute_slices"] or 0
    for name, count in counts.items():
        if count > profiles[name]["max_count"]:
            errors.append("%s x%d above max %d" % (name, count, profiles[name]["max_count"]))
    if compute > gpu["compute_slices"]:
        errors.append("compute slices %d > %d" % (compute, gpu["compute_slices"]))
    if used >> gpu["memory_slices"]:
        errors.append("uses slices beyond %d" % gpu["memory_slices"])
    return errors


def layout_counts(target):
    """[{profile, ...}] -> {profile: count}."""
    counts = {}
    for item in target:
        counts[item["profile"]] = counts.get(item["profile"], 0) + 1
    return counts


# ---------------------------------------------------------------------------------------------
# Result map and picture
# ---------------------------------------------------------------------------------------------
def gpu_map(gpu):
    """The result map of one GPU: its GIs with CIs, placement and MIG device UUIDs."""
    instances = []
    for gi in sorted(gpu.get("gpu_instances") or [], key=lambda g: g["start"]):
        instances.append({
            "gi_id": gi["gi_id"],
            "profile": gi["profile"],
            "profile_id": gi["profile_id"],
            "placement": "%d:%d" % (gi["start"], gi["size"]),
            "start": gi["start"],
            "size": gi["size"],
            "compute_instances": [{"ci_id": ci["ci_id"], "profile": ci["profile"], "mig_uuid": ci.get("mig_uuid")}
                                  for ci in gi.get("compute_instances") or []],
            "mig_uuids": [ci.get("mig_uuid") for ci in gi.get("compute_instances") or [] if ci.get("mig_uuid")],
        })
    return {
        "index": gpu["index"], "uuid": gpu.get("uuid"), "name": gpu.get("name"),
        "pci_device_id": gpu.get("pci_device_id"), "mig_mode": gpu.get("mig_current"),
        "mig_mode_pending": gpu.get("mig_pending"), "instances": instances,
        "layout": layout_counts(instances),
    }


def predicted_map(gpu, plan):
    """What gpu_map() will show after ``plan`` (new instances have gi_id None)."""
    by_id = dict((gi["gi_id"], gi) for gi in gpu.get("gpu_instances") or [])
    instances = []
    for target in plan["target"]:
        gi = by_id.get(target["gi_id"]) if target["keep"] else None
        cis = [{"ci_id": ci["ci_id"], "profile": ci["profile"], "mig_uuid": ci.get("mig_uuid")}
               for ci in (gi or {}).get("compute_instances") or []] if gi and _full_ci(gi) else [
            {"ci_id": None, "profile": target["profile"], "mig_uuid": None}]
        instances.append({"gi_id": target["gi_id"], "profile": target["profile"], "profile_id": target["profile_id"],
                          "placement": "%d:%d" % (target["start"], target["size"]), "start": target["start"],
                          "size": target["size"], "compute_instances": cis,
                          "mig_uuids": [c["mig_uuid"] for c in cis if c["mig_uuid"]]})
    mode = gpu.get("mig_current")
    if any(a["action"] == "enable_mig" for a in plan["actions"]):
        mode = "Enabled"
    if any(a["action"] == "disable_mig" for a in plan["actions"]):
        mode = "Disabled"
    return {"index": gpu["index"], "uuid": gpu.get("uuid"), "name": gpu.get("name"),
            "pci_device_id": gpu.get("pci_device_id"), "mig_mode": mode, "mig_mode_pending": mode,
            "instances": instances, "layout": layout_counts(instances)}


def render_picture(gpu_entry, memory_slices=8, cell=11):
    """A small text picture of the memory slices: which instance sits where."""
    head = "GPU %s %s - MIG %s" % (gpu_entry["index"], gpu_entry.get("name") or "", gpu_entry.get("mig_mode"))
    if gpu_entry.get("mig_mode_pending") and gpu_entry.get("mig_mode_pending") != gpu_entry.get("mig_mode"):
        head += " (pending %s: reset or reboot needed)" % gpu_entry["mig_mode_pending"]
    owner = [None] * memory_slices
    for inst in gpu_entry.get("instances") or []:
        for s in range(inst["start"], min(inst["start"] + inst["size"], memory_slices)):
            owner[s] = inst
    row_slice = "slice |" + "".join(str(s).ljust(cell - 1) + "|" for s in range(memory_slices))
    row_prof = "      |"
    row_id = "      |"
    s = 0
    while s < memory_slices:
        inst = owner[s]
        if inst is None:
            row_prof += "free".ljust(cell - 1)[:cell - 1] + "|"
            row_id += " " * (cell - 1) + "|"
            s += 1
            continue
        span = min(inst["size"], memory_slices - s)
        width = cell * span - 1
        row_prof += inst["profile"].ljust(width)[:width] + "|"
        gi_text = "GI %s" % inst["gi_id"] if inst.get("gi_id") is not None else "GI (new)"
        row_id += gi_text.ljust(width)[:width] + "|"
        s += span
    return "\n".join([head, row_slice, row_prof, row_id])


def render_layout_text(entries, memory_slices_by_gpu=None):
    """Diff-friendly text of several GPUs: one summary line each plus the picture."""
    blocks = []
    for entry in entries:
        slices = (memory_slices_by_gpu or {}).get(entry["index"], 8)
        summary = ", ".join("%s@%s%s" % (i["profile"], i["placement"],
                                         "" if i.get("gi_id") is not None else " (new)")
                            for i in entry.get("instances") or []) or "no instances"
        blocks.append("%s\n  %s\n%s" % ("GPU %s: %s" % (entry["index"], entry.get("uuid")), summary,
                                        render_picture(entry, slices)))
    return "\n\n".join(blocks) + "\n"


# ---------------------------------------------------------------------------------------------
# Actions -> nvidia-smi arguments
# ---------------------------------------------------------------------------------------------
def action_command(action):
    """The nvidia-smi arguments that carry out one plan action."""
    gpu = str(action["gpu"])
    kind = action["action"]
    if kind == "enable_mig":
        return ["-i", gpu, "-mig", "1"]
    if kind == "disable_mig":
        return ["-i", gpu, "-mig", "0"]
    if kind == "destroy_ci":
        return ["mig", "-i", gpu, "-gi", str(action["gi_id"]), "-ci", str(action["ci_id"]), "-dci"]
    if kind == "destroy_gi":
        return ["mig", "-i", gpu, "-gi", str(action["gi_id"]), "-dgi"]
    if kind == "create_gi":
        # profile ID with an explicit start slice, plus the default compute instance
        return ["mig", "-i", gpu, "-cgi", "%d:%d" % (action["profile_id"], action["start"]), "-C"]
    if kind == "create_ci":
        return ["mig", "-i", gpu, "-gi", str(action["gi_id"]), "-cci"]
    raise ValueError("unknown MIG action %r" % kind)


# ---------------------------------------------------------------------------------------------
# NVML (optional): the profile table through nvidia-ml-py, in the same shapes as the parsers
# ---------------------------------------------------------------------------------------------
def read_profiles_nvml(nvml, gpu_indexes):
    """Profile table via NVML -> (lgip-like, lgipp-like) dicts. ``nvml`` is the pynvml module.

    Raises ValueError when the installed nvidia-ml-py cannot tell profile names (then parse nvidia-smi).
    """
    lgip = {}
    lgipp = {}
    count = getattr(nvml, "NVML_GPU_INSTANCE_PROFILE_COUNT", 20)
    get_info = getattr(nvml, "nvmlDeviceGetGpuInstanceProfileInfoV", None) or nvml.nvmlDeviceGetGpuInstanceProfileInfo
    for index in gpu_indexes:
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        rows = []
        places = {}
        for profile_index in range(count):
            try:
                info = get_info(handle, profile_index)
            except nvml.NVMLError:
                continue  # "Not Supported" / "Invalid Argument": no such profile on this GPU
            name = getattr(info, "name", None)
            if isinstance(name, bytes):
                name = name.decode("utf-8", "replace")
            if not name:
                raise ValueError("nvidia-ml-py does not report MIG profile names")
            name = short_profile_name(name)
            rows.append({
                "id": int(info.id), "name": name, "free": None, "max_count": int(info.instanceCount),
                "memory_gib": round(info.memorySizeMB / 1024.0, 2), "p2p": "Yes" if info.isP2pSupported else "No",
                "sm": int(info.multiprocessorCount), "dec": int(info.decoderCount), "enc": int(info.encoderCount),
                "ce": int(info.copyEngineCount), "jpeg": int(info.jpegCount), "ofa": int(info.ofaCount),
                "compute_slices": compute_slices_of(name) or int(info.sliceCount),
            })
            placements = nvml.nvmlDeviceGetGpuInstancePossiblePlacements(handle, info.id)
            places[int(info.id)] = {"starts": sorted(int(p.start) for p in placements),
                                    "size": int(placements[0].size) if placements else 0}
        lgip[index] = sorted(rows, key=lambda r: (r["compute_slices"], r["memory_gib"], r["id"] == 20))
        lgipp[index] = places
    return lgip, lgipp


# The --query-gpu fields every reader asks for (parse_query_csv reads them by header name).
QUERY_FIELDS = "index,uuid,name,pci.bus_id,pci.device_id,mig.mode.current,mig.mode.pending,memory.total"


def read_gpu_states(run, read_profiles=None):
    """The live state of every GPU, read through nvidia-smi.

    ``run(args, listing=False)`` runs nvidia-smi with ``args`` and returns its output (raising on failure);
    ``read_profiles(query)`` may return ``(lgip, lgipp)`` from another source (NVML) or None to parse
    ``nvidia-smi mig -lgip/-lgipp``. Shared by the nvidia_mig module and the boot-time re-apply command.
    """
    query = parse_query_csv(run(["--query-gpu=" + QUERY_FIELDS, "--format=csv"]))
    xml_gpus = parse_smi_xml(run(["-q", "-x"]))
    profiles = read_profiles(query) if read_profiles else None
    if profiles is None:
        profiles = (parse_lgip(run(["mig", "-lgip"], listing=True)), parse_lgipp(run(["mig", "-lgipp"], listing=True)))
    lgi = parse_lgi(run(["mig", "-lgi"], listing=True))
    lci = parse_lci(run(["mig", "-lci"], listing=True)) if lgi else {}
    smi_list = parse_smi_list(run(["-L"])) if lci else {}
    return build_gpu_states(query, xml_gpus, profiles[0], profiles[1], lgi, lci, smi_list)
