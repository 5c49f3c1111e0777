"""The nvidia_mig module, run through its real entry point against the nvidia-smi simulator.

Each call runs ``python -m ansible_collections.sovereign.cluster.plugins.modules.nvidia_mig ARGS.json``
(the way Ansible runs a module) with ``nvidia_smi_path`` pointing at tests/simulators/nvidia_smi_sim.py,
whose state file starts from the real H100/H200 captures.
"""
import json
import os
import subprocess
import sys

import pytest

MODULE = "ansible_collections.sovereign.cluster.plugins.modules.nvidia_mig"
H100 = "h100-80gb-hbm3-mig-disabled"
H200 = "h200-141gb-mig-disabled"
BALANCED = {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}
READ_ONLY = {"-lgip", "-lgipp", "-lgi", "-lci", "-L", "-q"}


class Sim(object):
    """A simulator state file plus helpers to drive the module and the simulator."""

    def __init__(self, repo, tmp_path, captures):
        self.repo = repo
        self.state = str(tmp_path / "smi-state.json")
        script = repo / "tests" / "simulators" / "nvidia_smi_sim.py"
        # a wrapper so the test does not depend on the file's exec bit or on /usr/bin/python3
        self.smi = str(tmp_path / "nvidia-smi")
        with open(self.smi, "w") as handle:
            handle.write('#!/bin/sh\nexec "%s" -S "%s" "$@"\n' % (sys.executable, script))
        os.chmod(self.smi, 0o755)
        self.env = dict(os.environ, NVIDIA_SMI_SIM_STATE=self.state,
                        PYTHONPATH=str(repo / "build" / "collections"))
        self.tmp = tmp_path
        self.sim(["--sim-init"] + captures)

    def sim(self, args, check=True):
        proc = subprocess.run([self.smi] + list(args), env=self.env, capture_output=True, text=True, check=False)
        if check:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def data(self):
        with open(self.state) as handle:
            return json.load(handle)

    def calls(self):
        return self.data()["calls"]

    def module(self, check=False, diff=False, **params):
        params.setdefault("nvidia_smi_path", self.smi)
        args = dict(params, _ansible_check_mode=check, _ansible_diff=diff)
        path = self.tmp / "args.json"
        path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
        proc = subprocess.run([sys.executable, "-m", MODULE, str(path)], env=self.env, capture_output=True,
                              text=True, cwd=str(self.tmp), check=False)
        try:
            return json.loads(proc.stdout)
        except ValueError:
            raise AssertionError("module printed no JSON: %s %s" % (proc.stdout, proc.stderr))


def mutating(calls):
    return [c for c in calls if not (set(c) & READ_ONLY) and not any(a.startswith("--query-gpu") for a in c)]


@pytest.fixture
def h100(repo_dir, fixtures_dir, tmp_path):
    return Sim(repo_dir, tmp_path, [str(fixtures_dir / "nvidia-smi" / H100)])


@pytest.fixture
def mixed(repo_dir, fixtures_dir, tmp_path):
    """GPU 0 an H100 80GB, GPU 1 an H200 (from their own captures)."""
    return Sim(repo_dir, tmp_path, [str(fixtures_dir / "nvidia-smi" / H100), str(fixtures_dir / "nvidia-smi" / H200)])


def test_check_mode_plans_and_only_reads(h100):
    result = h100.module(check=True, diff=True, layout=BALANCED)
    assert result.get("failed") is not True, result
    assert result["changed"] is True
    actions = [a["action"] for a in result["plan"][0]["actions"]]
    assert actions == ["enable_mig"] + ["create_gi"] * 4
    assert result["commands"] == []
    assert mutating(h100.calls()) == []
    assert h100.data()["gpus"][0]["mig_current"] == "Disabled"
    assert result["gpus"][0]["layout"] == BALANCED
    assert "no instances" in result["diff"]["before"] and "MIG Disabled" in result["diff"]["before"]
    assert "3g.40gb@4:4 (new)" in result["diff"]["after"] and "MIG Enabled" in result["diff"]["after"]


def test_apply_then_idempotent(h100):
    first = h100.module(layout=BALANCED)
    assert first.get("failed") is not True, first
    assert first["changed"] is True and first["reset_required"] == []
    assert first["commands"][0] == ["-i", "0", "-mig", "1"]
    assert ["mig", "-i", "0", "-cgi", "9:4", "-C"] in first["commands"]
    gpu = first["gpus"][0]
    assert gpu["mig_mode"] == "Enabled" and gpu["layout"] == BALANCED
    placements = sorted((i["profile"], i["placement"], i["gi_id"]) for i in gpu["instances"])
    assert placements == [("1g.10gb", "2:1", 9), ("1g.10gb", "3:1", 10), ("2g.20gb", "0:2", 3), ("3g.40gb", "4:4", 1)]
    assert all(len(i["mig_uuids"]) == 1 and i["mig_uuids"][0].startswith("MIG-") for i in gpu["instances"])
    assert "|2g.20gb              |1g.10gb   |1g.10gb   |3g.40gb" in first["picture"]

    before = len(h100.calls())
    again = h100.module(layout=BALANCED)
    assert again["changed"] is False and again["commands"] == []
    assert mutating(h100.calls()[before:]) == []
    assert again["gpus"][0]["instances"] == gpu["instances"]
    check_again = h100.module(check=True, layout=BALANCED)
    assert check_again["changed"] is False


def test_repartition_keeps_matching_instances_and_their_uuids(h100):
    first = h100.module(layout={"1g.10gb": 7})
    uuids = dict((i["placement"], i["mig_uuids"][0]) for i in first["gpus"][0]["instances"])
    second = h100.module(layout=BALANCED)
    assert second["changed"] is True
    kinds = [[a for a in c if a in ("-dci", "-dgi", "-cgi")][0] for c in second["commands"]]
    assert kinds.count("-dgi") == 5 and kinds.count("-cgi") == 2
    after = dict((i["placement"], i["mig_uuids"][0]) for i in second["gpus"][0]["instances"])
    kept = [p for p in after if p in uuids and after[p] == uuids[p]]
    assert len(kept) == 2  # two 1g.10gb instances survived untouched
    assert second["gpus"][0]["layout"] == BALANCED


def test_infeasible_layout_is_refused_before_anything_changes(h100):
    result = h100.module(layout={"3g.40gb": 2, "1g.10gb": 1})
    assert result["failed"] is True
    assert "nothing was changed" in result["msg"]
    assert "needs 9 memory slices but the GPU has 8" in result["msg"]
    assert mutating(h100.calls()) == []
    pinned = h100.module(layout=[{"profile": "3g.40gb", "placement": 0}, {"profile": "2g.20gb", "placement": 2}])
    assert "collides with 3g.40gb@0 on slices 2-3" in pinned["msg"]
    unknown = h100.module(layout={"1g.18gb": 1})
    assert "layout['1g.18gb']: GPU 0 (NVIDIA H100 80GB HBM3) has no MIG profile '1g.18gb'" in unknown["msg"]
    assert mutating(h100.calls()) == []


def test_busy_gpu_is_refused_unless_allowed(h100):
    assert h100.module(layout={"3g.40gb": 2})["changed"] is True
    gi = [g for g in h100.data()["gpus"][0]["gpu_instances"] if g["start"] == 0][0]["gi_id"]
    h100.sim(["--sim-add-process", "0:4242:python3:%d:0" % gi])
    before = len(h100.calls())
    refused = h100.module(layout={"3g.40gb": 1, "1g.10gb": 3})
    assert refused["failed"] is True
    assert "refusing to change busy GPUs" in refused["msg"] and "pid 4242 python3" in refused["msg"]
    assert mutating(h100.calls()[before:]) == []
    # allowed, but the process sits in the GI that must go: the driver's refusal comes back as the error
    forced = h100.module(layout={"1g.10gb": 4, "3g.40gb": 1}, allow_busy=True)  # 1g x4 need slices 0-3
    assert forced["failed"] is True
    assert "In use by another client" in forced["msg"]
    # a process in a GI that is kept does not block the change when allowed
    kept = h100.module(layout=[{"profile": "3g.40gb", "placement": 0}, "1g.10gb", "1g.10gb"], allow_busy=True)
    assert kept.get("failed") is not True, kept
    assert kept["gpus"][0]["layout"] == {"3g.40gb": 1, "1g.10gb": 2}


def test_exit_0_failure_of_cgi_is_detected(h100):
    h100.sim(["--sim-fault", "cgi-no-mig"])
    result = h100.module(layout={"7g.80gb": 1})
    assert result["failed"] is True
    assert "No MIG-enabled devices found." in result["msg"]
    assert "after 2 change(s)" in result["msg"]  # enable_mig ran, then -cgi "succeeded" with exit 0
    assert result["changed"] is True


def test_pending_mig_mode_reports_reset(h100):
    h100.sim(["--sim-mig-needs-reset", "on"])
    result = h100.module(layout={"7g.80gb": 1})
    assert result.get("failed") is not True, result
    assert result["changed"] is True and result["reset_required"] == [0]
    assert result["commands"] == [["-i", "0", "-mig", "1"]]
    assert "pending Enabled: reset or reboot needed" in result["picture"]
    waiting = h100.module(layout={"7g.80gb": 1})
    assert waiting["changed"] is False and waiting["reset_required"] == [0] and waiting["commands"] == []
    assert [a["action"] for a in waiting["plan"][0]["after_reset"]] == ["create_gi"]
    h100.sim(["-i", "0", "-r"])
    done = h100.module(layout={"7g.80gb": 1})
    assert done["reset_required"] == [] and done["gpus"][0]["layout"] == {"7g.80gb": 1}


def test_select_by_pci_device_id_touches_only_that_model(mixed):
    result = mixed.module(gpus=["0x233510DE"], layout={"1g.18gb": 7})
    assert result.get("failed") is not True, result
    assert [g["index"] for g in result["gpus"]] == [1]
    assert result["gpus"][0]["layout"] == {"1g.18gb": 7}
    assert all(c[c.index("-i") + 1] == "1" for c in result["commands"])
    assert mixed.data()["gpus"][0]["mig_current"] == "Disabled"
    both = mixed.module(check=True, layout={"1g.10gb": 1})
    assert both["failed"] is True and "GPU 1 (NVIDIA H200) has no MIG profile '1g.10gb'" in both["msg"]


def test_all_gpus_with_their_own_names(mixed):
    result = mixed.module(gpus=["0"], layout={"7g.80gb": 1})
    assert result["gpus"][0]["layout"] == {"7g.80gb": 1}
    h200 = mixed.module(gpus=[mixed.data()["gpus"][1]["uuid"]], layout={"7g.141gb": 1})
    assert h200["gpus"][0]["layout"] == {"7g.141gb": 1}
    listing = mixed.module(check=True)
    assert listing["changed"] is False
    assert [g["layout"] for g in listing["gpus"]] == [{"7g.80gb": 1}, {"7g.141gb": 1}]


def test_mig_disabled_tears_down(h100):
    h100.module(layout=BALANCED)
    off = h100.module(mig_enabled=False)
    assert off.get("failed") is not True, off
    assert off["commands"][-1] == ["-i", "0", "-mig", "0"]
    assert off["gpus"][0]["mig_mode"] == "Disabled" and off["gpus"][0]["instances"] == []
    assert h100.module(mig_enabled=False)["changed"] is False


def test_bad_gpu_selector_and_missing_binary(h100, tmp_path):
    result = h100.module(gpus=["3"], layout={"1g.10gb": 1})
    assert result["failed"] is True and "gpus[0]: no GPU matches '3'" in result["msg"]
    missing = h100.module(nvidia_smi_path="nvidia-smi-not-installed", layout={"1g.10gb": 1})
    assert missing["failed"] is True and "nvidia-smi-not-installed" in missing["msg"]


def test_nvml_backend_needs_the_library(h100):
    try:
        import pynvml  # noqa: F401
        installed = True
    except ImportError:
        installed = False
    result = h100.module(check=True, layout={"1g.10gb": 1}, query_backend="nvml")
    if installed:
        assert result.get("query_backend") in ("nvml", None)
    else:
        assert result["failed"] is True and "nvidia-ml-py" in result["msg"]
    auto = h100.module(check=True, layout={"1g.10gb": 1})
    assert auto["query_backend"] == "nvidia-smi"  # a non-default nvidia_smi_path always parses nvidia-smi
