# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input to the nvidia_gpu role and the nvidia_mig module: refused naming the field, nothing changed.

One ansible-playbook run per mode (``--check``, then for real) on localhost plays every case, each in a
block/rescue that records ``ansible_failed_result.msg``. The GPU is the nvidia-smi simulator built from the
real H100 80GB capture in ../shared/fixtures; its state file logs every call. After each run:

* every case was refused, with a message naming the variable (or module option) and its key;
* the simulator ran no changing command and its GPU state is the one it started with;
* the files the role would write (layout file, MIG tool folder, containerd drop-in, all under a temporary
  "host" folder, and the fixed system paths the role owns) are exactly as before.

The role runs with the driver, the container toolkit, nouveau, persistenced, the fabric manager and the boot
unit switched off unless a case is about them, so a case that got past validation would only write under the
temporary folder; the for-real run starts only once the check-mode run refused every case. A last good case
(real mode) proves the harness sees changes: it does repartition the simulated GPU.
"""
import json
import os
import subprocess
import sys

import pytest

from tests.case_playbook import CasePlaybook, assert_all_refused, assert_ran, assert_refused, module_body, role_body

H100 = "h100-80gb-hbm3-mig-disabled"
READ_ONLY = {"-lgip", "-lgipp", "-lgi", "-lci", "-L", "-q"}
# Paths the role writes outside its variables: none of them may appear.
SYSTEM_PATHS = ["/etc/modprobe.d/sovereign-blacklist-nouveau.conf", "/etc/apt/sources.list.d/sovereign-nvidia-cuda.sources",
                "/etc/apt/sources.list.d/sovereign-nvidia-container-toolkit.sources",
                "/etc/apt/preferences.d/sovereign-nvidia-driver.pref", "/etc/systemd/system/sovereign-mig.service",
                "/usr/local/sbin/sovereign-mig-apply", "/etc/apt/keyrings/sovereign-nvidia-cuda.asc"]


def good_role_vars(host, smi):
    return {
        "nvidia_gpu_install_driver": False, "nvidia_gpu_driver_branch": "580", "nvidia_gpu_install_container_toolkit": False,
        "nvidia_gpu_driver_source": "repository", "nvidia_gpu_repo_url": "https://mirror.sovereign.internal/nvidia/cuda/",
        "nvidia_gpu_container_toolkit_repo_url": "https://mirror.sovereign.internal/nvidia/libnvidia-container/deb/amd64",
        "nvidia_gpu_driver_packages": [], "nvidia_gpu_blacklist_nouveau": False, "nvidia_gpu_persistenced": False,
        "nvidia_gpu_fabricmanager": False, "nvidia_gpu_containerd_configure": True,
        "nvidia_gpu_containerd_config_path": str(host / "etc/containerd/config.toml"),
        "nvidia_gpu_containerd_dropin_dir": str(host / "etc/containerd/conf.d"),
        "nvidia_gpu_containerd_runtime_name": "nvidia", "nvidia_gpu_mig_boot_unit": False,
        "nvidia_gpu_mig_layout": {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}, "nvidia_gpu_mig_gpus": ["0x233010DE"],
        "nvidia_gpu_mig_enabled": True, "nvidia_gpu_mig_layout_file": str(host / "etc/sovereign/mig-layout.json"),
        "nvidia_gpu_mig_install_dir": str(host / "usr/local/lib/sovereign-mig"),
        "nvidia_gpu_mig_unit_before": ["kubelet.service"], "nvidia_gpu_nvidia_smi_path": smi,
        "nvidia_gpu_catalogue": None,
    }


# (variables over the good ones, text the refusal must hold)
ROLE_CASES = [
    ({"nvidia_gpu_driver_branch": "58O"}, "nvidia_gpu_driver_branch: not a valid driver branch"),
    # a GPU answers: the module's plan on it judges the layout, with the GPU's own numbers
    ({"nvidia_gpu_mig_layout": {"1g.10gb": 2 ** 64}},
     "refused before any change: nvidia_mig: layout rejected, nothing was changed: layout['1g.10gb']: GPU 0 (NVIDIA H100 80GB "
     "HBM3): 1g.10gb x18446744073709551616 exceeds"),
    ({"nvidia_gpu_mig_layout": {"9g.999gb": 1}}, "layout['9g.999gb']: GPU 0 (NVIDIA H100 80GB HBM3) has no MIG profile"),
    ({"nvidia_gpu_mig_layout": {"3g.40gb": 3}}, "layout['3g.40gb']: GPU 0 (NVIDIA H100 80GB HBM3): 3g.40gb x3 exceeds"),
    # no GPU answers yet (the driver comes with this run): the site's GPU models judge it, before the driver is installed
    ({"nvidia_gpu_install_driver": True, "nvidia_gpu_nvidia_smi_path": "/nonexistent/nvidia-smi",
      "nvidia_gpu_mig_layout": {"1g.10gb": 2 ** 64}},
     "nvidia_gpu_mig_layout['1g.10gb']: 1g.10gb x18446744073709551616 exceeds the profile's maximum of 7 instance(s) on any GPU"),
    ({"nvidia_gpu_install_driver": True, "nvidia_gpu_nvidia_smi_path": "/nonexistent/nvidia-smi",
      "nvidia_gpu_mig_layout": {"9g.999gb": 1}},
     "nvidia_gpu_mig_layout['9g.999gb']: no GPU of the site has the MIG profile '9g.999gb'"),
    ({"nvidia_gpu_mig_layout": [{"profile": "3g.40gb", "placement": 0}, {"profile": "4g.40gb", "placement": 0}]},
     "nvidia_gpu_mig_layout [{\"placement\": 0, \"profile\": \"3g.40gb\"}"),
    ({"nvidia_gpu_mig_layout": "1g.10gb"}, "nvidia_gpu_mig_layout: must be a mapping {profile: count} or a list"),
    ({"nvidia_gpu_mig_layout_file": "/tmp/../etc/sovereign/mig-layout.json"}, "nvidia_gpu_mig_layout_file: holds '..'"),
    ({"nvidia_gpu_mig_install_dir": "usr/local/lib/sovereign-mig"}, "nvidia_gpu_mig_install_dir: not an absolute path"),
    ({"nvidia_gpu_containerd_dropin_dir": "/etc/containerd/../conf.d"}, "nvidia_gpu_containerd_dropin_dir: holds '..'"),
    ({"nvidia_gpu_containerd_runtime_name": "Nvidia Runtime"}, "nvidia_gpu_containerd_runtime_name: not a valid containerd"),
    ({"nvidia_gpu_nvidia_smi_path": "/nonexistent/nvidia-smi"}, "nvidia_gpu_nvidia_smi_path '/nonexistent/nvidia-smi' cannot be run"),
    ({"nvidia_gpu_nvidia_smi_path": "/usr/../bin/nvidia-smi"}, "nvidia_gpu_nvidia_smi_path: holds '..'"),
    ({"nvidia_gpu_mig_gpus": ["0; reboot"]}, "nvidia_gpu_mig_gpus[0]: not a GPU selector"),
    ({"nvidia_gpu_mig_enabled": False}, "nvidia_gpu_mig_layout: not empty while nvidia_gpu_mig_enabled is false"),
    ({"nvidia_gpu_catalogue": ["Z9000"]}, "nvidia_gpu_catalogue[0] 'Z9000' is not a known GPU model"),
    ({"nvidia_gpu_catalogue": ["H200-141GB"], "nvidia_gpu_install_driver": True, "nvidia_gpu_nvidia_smi_path": "/nonexistent/smi"},
     "nvidia_gpu_mig_layout['1g.10gb']: no GPU of the site has the MIG profile '1g.10gb': use one of 1g.18gb"),
    ({"nvidia_gpu_mig_layout": {"1g.10gb": "two"}}, "nvidia_gpu_mig_layout['1g.10gb']: count must be a whole number >= 0"),
    ({"nvidia_gpu_driver_packages": ["nvidia-driver; rm -rf /"]}, "nvidia_gpu_driver_packages[0]: not a valid Debian package"),
    ({"nvidia_gpu_mig_unit_before": ["kubelet"]}, "nvidia_gpu_mig_unit_before[0]: not a valid systemd unit name"),
    ({"nvidia_gpu_install_driver": True, "nvidia_gpu_repo_url": "ftp://mirror.sovereign.internal/cuda/"},
     "nvidia_gpu_repo_url: not an http(s):// or file:// URL"),
    ({"nvidia_gpu_install_container_toolkit": True, "nvidia_gpu_container_toolkit_repo_url": "mirror.internal/deb"},
     "nvidia_gpu_container_toolkit_repo_url: not an http(s):// or file:// URL"),
]

# (module options, text the refusal must hold); nvidia_smi_path is the simulator unless a case sets it
MODULE_CASES = [
    ({"layout": {"1g.10gb": 2 ** 64}}, "layout['1g.10gb']: GPU 0 (NVIDIA H100 80GB HBM3): 1g.10gb x18446744073709551616 exceeds"),
    ({"layout": {"9g.999gb": 1}}, "layout['9g.999gb']: GPU 0 (NVIDIA H100 80GB HBM3) has no MIG profile '9g.999gb'"),
    ({"layout": {"3g.40gb": 3}}, "layout['3g.40gb']: GPU 0 (NVIDIA H100 80GB HBM3): 3g.40gb x3 exceeds"),
    ({"layout": {"1g.10gb": -1}}, "layout['1g.10gb']: count must be >= 0"),
    ({"layout": [{"profile": "3g.40gb", "placement": 1}]}, "layout[0].placement: 3g.40gb cannot start at slice 1"),
    ({"layout": "1g.10gb"}, "layout: must be a mapping {profile: count} or a list"),
    ({"gpus": ["7"]}, "gpus[0]: no GPU matches '7'"),
    ({"mig_enabled": False, "layout": {"1g.10gb": 1}}, "layout: must be empty when mig_enabled is false"),
    ({"nvidia_smi_path": "/nonexistent/nvidia-smi"}, "nvidia_smi_path '/nonexistent/nvidia-smi' does not exist"),
    ({"nvidia_smi_path": "no-such-nvidia-smi"}, "nvidia_smi_path 'no-such-nvidia-smi' is not found in PATH"),
    ({"nvidia_smi_path": "/usr/bin/../bin/nvidia-smi"}, "nvidia_smi_path '/usr/bin/../bin/nvidia-smi' is not a program"),
]

ROLE_BODY = role_body("sovereign.cluster.nvidia_gpu", facts={"_nvidia_gpu_inputs_checked": False, "_nvidia_gpu_mig_checked": False})
MODULE_BODY = module_body("sovereign.cluster.nvidia_mig", ("gpus", "layout", "mig_enabled", "nvidia_smi_path"),
                          values={"nvidia_smi_path": "case_options.nvidia_smi_path"})


def _snapshot(host):
    files = {}
    for path in sorted(host.rglob("*")):
        files[str(path.relative_to(host))] = path.read_bytes() if path.is_file() else None
    return files, [p for p in SYSTEM_PATHS if os.path.lexists(p)]


class Rig:
    def __init__(self, repo, root, fixtures):
        self.root = root
        self.host = root / "host"
        (self.host / "etc/containerd").mkdir(parents=True)
        (self.host / "etc/containerd/config.toml").write_text("version = 2\n")
        self.state = root / "smi-state.json"
        self.smi = root / "nvidia-smi"
        self.smi.write_text('#!/bin/sh\nexec "%s" "%s" --sim-state "%s" "$@"\n' % (
            sys.executable, repo / "tests/simulators/nvidia_smi_sim.py", self.state))
        self.smi.chmod(0o755)
        subprocess.run([str(self.smi), "--sim-init", str(fixtures / "nvidia-smi" / H100)], check=True)
        self.good = good_role_vars(self.host, str(self.smi))
        cases = [("role", dict(self.good, **changes)) for changes, _text in ROLE_CASES]
        cases += [("module", {"case_options": dict({"nvidia_smi_path": str(self.smi)}, **options)})
                  for options, _text in MODULE_CASES]
        self.cases = CasePlaybook(root / "play", cases, {"role": ROLE_BODY, "module": MODULE_BODY},
                                  env={"ANSIBLE_REMOTE_TMP": str(root / "tmp")})

    def gpu(self, path=None):
        return json.loads((path or self.state).read_text())

    def run(self, mode):
        played = self.cases.run(mode)
        assert_ran(played)
        return played

    def run_good(self):
        played = self.cases.play_role("good", "sovereign.cluster.nvidia_gpu", self.good)
        assert played.returncode == 0, played.tail()
        return played


def mutating(calls):
    return [c for c in calls if not (set(c) & READ_ONLY) and not any(a.startswith("--query-gpu") for a in c)]


@pytest.fixture(scope="module")
def rig(repo_dir, fixtures_dir, tmp_path_factory):
    return Rig(repo_dir, tmp_path_factory.mktemp("gpu-bad-input"), fixtures_dir)


@pytest.fixture(scope="module")
def runs(rig):
    start = (rig.gpu()["gpus"], _snapshot(rig.host))
    out = {}
    out["check"] = rig.run("check")
    out["check_after"] = (rig.gpu(), _snapshot(rig.host))
    if out["check"].not_refused():
        pytest.fail("a bad case was not refused in check mode; the real run is not started: %s" % out["check"].not_refused())
    out["real"] = rig.run("real")
    out["real_after"] = (rig.gpu(), _snapshot(rig.host))
    out["start"] = start
    rig.run_good()
    out["end"] = (rig.gpu(), _snapshot(rig.host))
    return out


@pytest.mark.parametrize("mode", ["check", "real"])
@pytest.mark.parametrize("index", range(len(ROLE_CASES)), ids=[c[1][:50] for c in ROLE_CASES])
def test_role_refuses_naming_the_field(runs, mode, index):
    assert_refused(runs[mode].results[index], ROLE_CASES[index][1])


@pytest.mark.parametrize("mode", ["check", "real"])
@pytest.mark.parametrize("index", range(len(MODULE_CASES)), ids=[c[1][:50] for c in MODULE_CASES])
def test_module_refuses_naming_the_option(runs, mode, index):
    assert_refused(runs[mode].results[len(ROLE_CASES) + index], MODULE_CASES[index][1])


def test_check_mode_changed_nothing(runs):
    gpu, files = runs["check_after"]
    assert (mutating(gpu["calls"]), gpu["gpus"], files) == ([], runs["start"][0], runs["start"][1])


def test_real_run_changed_nothing(runs):
    gpu, files = runs["real_after"]
    assert (mutating(gpu["calls"]), gpu["gpus"], files) == ([], runs["start"][0], runs["start"][1])


def test_the_good_case_does_change_the_gpu_and_the_files(runs):
    """The harness sees changes: the good settings repartition the GPU and write the layout file."""
    gpu, (files, system) = runs["end"]
    assert (bool(mutating(gpu["calls"])), gpu["gpus"][0]["mig_current"], system) == (True, "Enabled", runs["start"][1][1])
    assert json.loads(files["etc/sovereign/mig-layout.json"])["layout"] == {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}


def test_every_case_was_refused_in_both_modes(runs):
    """Both runs recorded one refusal per case (a case that passed or recorded nothing would show here)."""
    assert_all_refused(runs["check"], runs["real"])
