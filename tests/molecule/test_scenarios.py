"""Runs every Molecule scenario of the collection and asserts what `molecule test` alone does not.

`molecule test` fails on a non-idempotent second converge, but its `check` step only runs the
converge in check mode; it does not fail when check mode predicts changes on a converged host.
Here we run the whole sequence (destroy, syntax, create, prepare, converge, idempotence, check,
verify, destroy; shared base in .config/molecule/config.yml) and also assert that the check step
reported changed=0 on every host.
"""
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(p.parent.name for p in (REPO / "molecule").glob("*/molecule.yml") if not p.parent.name.startswith("_"))
RECAP = re.compile(r"^\W*(?P<host>[\w.-]+)\s+:\s+ok=\d+\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)")
# Molecule prints "scenario ➜ step: Executing" on a terminal and "[scenario > step] Executing" otherwise.
STEP = re.compile(r"(?:\[(?P<scenario>\S+) > (?P<step>\w+)\] Executing)|(?:(?P<scenario2>\S+) \W+ (?P<step2>\w+): Executing)")


# Scenarios whose hosts are QEMU VMs under TCG software emulation (no usable KVM on these machines): a
# hardening converge there takes about 20 minutes, four playbook runs well over an hour, which does not fit
# the suite's time budget. They run with SOVEREIGN_VM_SCENARIOS=1 (`./run molecule-vm`).
VM_SCENARIOS = {p.parent.name for p in (REPO / "molecule").glob("*/molecule.yml") if "vm_create.yml" in p.read_text()}


def recaps_by_step(output):
    """{step: [(host, changed, unreachable, failed), ...]} from Molecule's output."""
    steps, current = {}, None
    for line in output.splitlines():
        match = STEP.search(line)
        if match:
            current = match.group("step") or match.group("step2")
            steps.setdefault(current, [])
            continue
        match = RECAP.match(line)
        if match and current:
            steps[current].append((match.group("host"), int(match.group("changed")),
                                   int(match.group("unreachable")), int(match.group("failed"))))
    return steps


def test_recap_parser_reads_molecule_output():
    sample = ("INFO     hardening ➜ check: Executing\n"
              "  │ hardening-c1              : ok=40   changed=2    unreachable=0    failed=0    skipped=3\n"
              "INFO     hardening ➜ verify: Executing\n"
              "  │ hardening-c1              : ok=9    changed=0    unreachable=0    failed=0\n"
              "INFO     [hardening > idempotence] Executing\n"
              "hardening-c1               : ok=40   changed=0    unreachable=0    failed=1    skipped=3\n")
    assert recaps_by_step(sample) == {"check": [("hardening-c1", 2, 0, 0)], "verify": [("hardening-c1", 0, 0, 0)],
                                      "idempotence": [("hardening-c1", 0, 0, 1)]}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(scenario, tmp_path):
    if scenario in VM_SCENARIOS and os.environ.get("SOVEREIGN_VM_SCENARIOS") != "1":
        pytest.skip(f"{scenario} runs on a QEMU VM under software emulation (about 20 min per converge here): "
                    "run it with ./run molecule-vm")
    home = tmp_path / "home"
    home.mkdir()
    # SSH control sockets must fit in a Unix socket path (108 bytes): not under pytest's tmp_path, whose
    # numbered folders grow on a long-lived machine (…/pytest-157/test_scenario_hardening_vm_0/home/.ansible/cp).
    control_dir = tempfile.mkdtemp(prefix="sc-cp-", dir="/tmp")
    env = dict(os.environ, HOME=str(home), NO_COLOR="1", ANSIBLE_NOCOLOR="1", PY_COLORS="0",
               ANSIBLE_FORCE_COLOR="0", MOLECULE_NO_LOG="false", ANSIBLE_SSH_CONTROL_PATH_DIR=control_dir)
    try:
        proc = subprocess.run(["molecule", "test", "-s", scenario], cwd=REPO, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=5400 if scenario in VM_SCENARIOS else 1800, check=False)
    finally:
        shutil.rmtree(control_dir, ignore_errors=True)
    log_dir = REPO / "build" / "molecule-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / f"{scenario}.log").write_text(proc.stdout)
    assert proc.returncode == 0, f"molecule test -s {scenario} failed; log in {log_dir / scenario}.log:\n{proc.stdout[-6000:]}"
    steps = recaps_by_step(proc.stdout)
    for step in ("converge", "idempotence", "check", "verify"):
        assert steps.get(step), f"{scenario}: no play recap for step {step!r}"
    assert all(changed == 0 for _host, changed, _u, _f in steps["idempotence"]), steps["idempotence"]
    assert all(changed == 0 for _host, changed, _u, _f in steps["check"]), \
        f"{scenario}: check mode on the converged host predicts changes: {steps['check']}"
