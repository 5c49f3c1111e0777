"""A real ansible-playbook run on localhost with the audit_trail callback enabled."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.sovereign.cluster.plugins.module_utils import audit_chain as ac

SECRET = "PLANTED-S3CRET-7c1d"        # only ever handled by no_log tasks
ARG_SECRET = "ARG-S3CRET-22ab"        # passed as a module argument of a task without no_log
ITEM_SECRET = "ITEM-S3CRET-93ef"      # a loop item of a no_log loop

PLAYBOOK = """
- name: Audit trail probe
  hosts: all
  gather_facts: false
  vars:
    out_dir: "{out_dir}"
  tasks:
    - name: Handle a secret quietly
      ansible.builtin.shell: "echo {secret} | tee {{{{ out_dir }}}}/proof.txt"
      no_log: true

    - name: Fail with a secret quietly
      ansible.builtin.fail:
        msg: "vault token {secret} rejected"
      no_log: true
      ignore_errors: true

    - name: Loop over secrets quietly
      ansible.builtin.debug:
        msg: "{{{{ item }}}}"
      loop: ["{item_secret}", "second"]
      no_log: true

    - name: Write a config file
      ansible.builtin.copy:
        content: "token={arg_secret}\\n"
        dest: "{{{{ out_dir }}}}/app.conf"
        mode: "0600"
      diff: true

    - name: Break on purpose
      ansible.builtin.command: /bin/false
      ignore_errors: true

    - name: Only on GPU nodes
      ansible.builtin.debug:
        msg: never shown
      when: false
"""


def _ansible_playbook():
    candidate = Path(sys.executable).parent / "ansible-playbook"
    return str(candidate if candidate.exists() else Path(__file__).resolve().parents[4] / ".venv" / "bin" / "ansible-playbook")


def _run(repo_dir, tmp_path, trail):
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env.update({
        "ANSIBLE_CALLBACKS_ENABLED": "sovereign.cluster.audit_trail",
        "ANSIBLE_COLLECTIONS_PATH": str(repo_dir / "build" / "collections"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-local"),
        "ANSIBLE_REMOTE_TMP": str(tmp_path / "ansible-remote"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "SOVEREIGN_AUDIT_TRAIL_FILE": str(trail),
        "SOVEREIGN_AUDIT_TRAIL_SYSLOG": "false",
        "SOVEREIGN_AUDIT_TRAIL_USER": "auditor-test",
    })
    run = subprocess.run(
        [_ansible_playbook(), "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable, str(tmp_path / "probe.yml")],
        cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    return run


@pytest.fixture(scope="module")
def two_runs(repo_dir, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("audit-run")
    (tmp_path / "probe.yml").write_text(PLAYBOOK.format(out_dir=tmp_path, secret=SECRET, arg_secret=ARG_SECRET, item_secret=ITEM_SECRET))
    trail = tmp_path / "trail" / "audit.jsonl"
    first = _run(repo_dir, tmp_path, trail)
    second = _run(repo_dir, tmp_path, trail)
    return tmp_path, trail, first, second


def _records(trail):
    return [json.loads(line) for line in trail.read_text().splitlines()]


def _task(records, name, event=None, run=0):
    in_order = [r["run_id"] for r in records]
    run_ids = sorted(set(in_order), key=in_order.index)
    found = [r for r in records if r.get("task") == name and r["run_id"] == run_ids[run] and (event is None or r["event"] == event)]
    assert found, name
    return found


def test_the_secrets_really_went_through_the_run(two_runs):
    tmp_path = two_runs[0]
    first = two_runs[2]
    assert (tmp_path / "proof.txt").read_text().strip() == SECRET
    assert ARG_SECRET in (tmp_path / "app.conf").read_text()
    assert "ignored=2" in first.stdout  # the two failures did happen


def test_no_secret_reaches_the_trail(two_runs):
    trail = two_runs[1]
    text = trail.read_text()
    for planted in (SECRET, ARG_SECRET, ITEM_SECRET):
        assert planted not in text
    assert "module_args" not in text and "invocation" not in text and "stdout" not in text


def test_trail_file_is_a_verified_chain_across_both_runs(two_runs):
    trail = two_runs[1]
    result = ac.verify_file(str(trail))
    assert result.ok, result.problem and result.problem.message
    records = _records(trail)
    assert result.records == len(records) == records[-1]["seq"]
    assert len({r["run_id"] for r in records}) == 2
    assert [r["kind"] for r in records].count("start") == 2
    assert trail.stat().st_mode & 0o777 == 0o600
    assert trail.parent.stat().st_mode & 0o777 == 0o700
    cli = subprocess.run([sys.executable, ac.__file__, "verify", str(trail)], capture_output=True, text=True, check=False)
    assert cli.returncode == 0 and ": OK, %d records" % len(records) in cli.stdout


def test_trail_tampering_is_reported_by_the_shipped_command(two_runs, tmp_path):
    trail = two_runs[1]
    lines = trail.read_text().splitlines(keepends=True)
    victim = next(i for i, line in enumerate(lines) if '"status":"failed"' in line)
    lines[victim] = lines[victim].replace('"failed":true', '"failed":false')  # hide a failure
    forged = tmp_path / "forged.jsonl"
    forged.write_text("".join(lines))
    cli = subprocess.run([sys.executable, ac.__file__, "verify", str(forged)], capture_output=True, text=True, check=False)
    assert cli.returncode == 1
    assert cli.stdout.startswith("%s:%d: altered:" % (forged, victim + 1))


def test_censored_tasks_keep_who_what_where(two_runs):
    trail = two_runs[1]
    records = _records(trail)
    (quiet,) = _task(records, "Handle a secret quietly")
    assert (quiet["censored"], quiet["changed"], quiet["failed"], quiet["action"]) == (True, True, False, "ansible.builtin.shell")
    assert quiet["controller_user"] == "auditor-test" and quiet["host"] == "localhost" and quiet["play"] == "Audit trail probe"
    assert "diff_sha256" not in quiet
    (quiet_fail,) = _task(records, "Fail with a secret quietly")
    assert (quiet_fail["status"], quiet_fail["failed"], quiet_fail["ignored"], quiet_fail["censored"]) == ("failed", True, True, True)
    items = _task(records, "Loop over secrets quietly", "runner_item_on_ok")
    assert len(items) == 2 and all(r["censored"] and "item_sha256" not in r for r in items)


def test_changed_diff_and_failure_are_recorded(two_runs):
    trail = two_runs[1]
    records = _records(trail)
    (write,) = _task(records, "Write a config file")
    assert (write["changed"], write["action"], write["status"]) == (True, "ansible.builtin.copy", "ok")
    assert re.match(r"^[0-9a-f]{64}$", write["diff_sha256"])
    (rewrite,) = _task(records, "Write a config file", run=1)
    assert rewrite["changed"] is False  # second run: idempotent, and the trail says so
    (broken,) = _task(records, "Break on purpose")
    assert (broken["event"], broken["status"], broken["failed"], broken["ignored"]) == ("runner_on_failed", "failed", True, True)
    (skipped,) = _task(records, "Only on GPU nodes")
    assert skipped["status"] == "skipped"
    stats = [r for r in records if r["kind"] == "stats"]
    assert [s["stats"]["ignored"] for s in stats] == [2, 2]
    assert all(s["host"] == "localhost" and s["playbook"].endswith("probe.yml") for s in stats)
