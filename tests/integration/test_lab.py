"""The local lab comes up reachable and goes away without leaving anything behind.

Real: podman containers with systemd, one QEMU VM (software emulation) and an OpenBao server.
"""
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAB = [sys.executable, str(REPO / "lab" / "lab.py")]


def lab(*args, check=True):
    return subprocess.run([*LAB, *args], cwd=REPO, text=True, capture_output=True, timeout=900, check=check)


@pytest.fixture(scope="module")
def running_lab():
    up = lab("up", check=False)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield up
    finally:
        down = lab("down", check=False)
        assert down.returncode == 0, down.stdout + down.stderr


def test_every_lab_host_answers_ansible(running_lab):
    proc = subprocess.run(["ansible", "all", "-m", "ansible.builtin.setup", "-a", "gather_subset=!all,virtual",
                           "-t", str(REPO / "build" / "lab-facts")], cwd=REPO, text=True, capture_output=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    facts = {p.name: json.loads(p.read_text())["ansible_facts"] for p in (REPO / "build" / "lab-facts").iterdir()}
    assert set(facts) == {"lab-vault1", "lab-collector1", "lab-gpu1", "lab-cp1"}
    # The control-plane host is a real VM with its own kernel; the others are containers.
    assert facts["lab-cp1"]["ansible_virtualization_role"] == "guest"
    assert facts["lab-cp1"]["ansible_virtualization_type"] != "podman"
    assert facts["lab-gpu1"]["ansible_virtualization_type"] in ("podman", "container")


def test_openbao_is_real_and_unsealed(running_lab):
    token = (REPO / "lab" / "state" / "openbao-root-token").read_text()
    assert oct((REPO / "lab" / "state" / "openbao-root-token").stat().st_mode & 0o777) == "0o600"
    addr = f"http://127.0.0.1:{os.environ.get('SOVEREIGN_LAB_BAO_PORT', '18820')}"
    with urllib.request.urlopen(addr + "/v1/sys/seal-status", timeout=5) as resp:
        status = json.load(resp)
    assert status["sealed"] is False and status["type"] == "shamir"
    req = urllib.request.Request(addr + "/v1/sys/mounts", headers={"X-Vault-Token": token})
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert "sys/" in json.load(resp)


def test_teardown_leaves_nothing(running_lab):
    lab("down")
    assert lab("status").stdout.strip() == "lab is down"
    ps = subprocess.run(["podman", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True, check=True)
    assert not [n for n in ps.stdout.split() if n.startswith("sc-lab-")]
    procs = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert str(REPO / "lab" / "state") not in procs
    assert not (REPO / "lab" / "state").exists()
