# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad-input case playbooks: every case in its own block/rescue, one ansible-playbook run per mode.

The bad-input suites import it as ``from tests.case_playbook import ...`` (the root conftest.py puts the
repository on ``sys.path`` and links it as the collection under ``build/collections``, which every run here
uses). ``CasePlaybook(root, cases, bodies, ...)`` writes, under ``root``::

    cases/<i>.yml   the variables of case i, with ``case_body``: the name of its body
    <body>.yml      the tasks of one kind of case (the whole role, one module call), from ``bodies``
    case.yml        block: include_vars (no_log) + the body + record "passed";
                    rescue: record the failed task's name, ``ansible_failed_result.msg`` and the
                    messages of its failed loop items
    play.yml        loops over the cases, spread over the hosts of the play's group (case i on host i % n)

``run("check")`` plays them with ``--check --diff``, ``run("real")`` with ``--diff``, and returns a
``Played``: the process, its output, its duration, and one ``Result`` per case, read from
``results/<mode>/<i>.json`` (``None`` where a case recorded nothing). ``play_role`` runs one role with
good settings, outside any block (a failure is the run's return code). ``ansible_playbook`` is the
runner itself (environment, cwd, timeout, optional log file and audit_trail records), for other plays.
``role_body`` and ``module_body`` write the usual bodies (the whole role; one module call from the case's options).
``assert_ran``, ``assert_refused``, ``assert_passed`` and ``assert_all_refused`` are the assertions
the suites share.
"""
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
COLLECTIONS = REPO / "build" / "collections"
MODES = ("check", "real")

PLAY = """---
- name: Every case in its own block, spread over the hosts of %(hosts)s
  hosts: %(hosts)s
  gather_facts: %(gather_facts)s
  tasks:
    - name: Cases
      ansible.builtin.include_tasks: case.yml
      loop: "{{ range(groups['%(hosts)s'].index(inventory_hostname), case_count | int, groups['%(hosts)s'] | length) | list }}"
      loop_control:
        loop_var: case
"""
CASE = """---
- name: Case {{ case }}
  block:
    - name: Settings of the case (they may hold planted secrets; a site keeps such values in a vault)
      ansible.builtin.include_vars:
        file: "{{ case_dir }}/{{ case }}.yml"
      no_log: true
    - name: The body of the case
      ansible.builtin.include_tasks: "{{ case_body }}.yml"
    - name: Passed (a bad case must not get here)
      ansible.builtin.copy:
        content: "{{ {'refused': false} | to_json }}"
        dest: "{{ case_results }}/{{ case }}.json"
        mode: "0600"
      delegate_to: localhost
      check_mode: false  # the record of the case, also in check mode
      changed_when: false
  rescue:
    - name: Record the refusal
      ansible.builtin.copy:
        content: "{{ {'refused': true, 'task': ansible_failed_task.name | default(''),
                      'msg': ansible_failed_result.msg | default(''), 'items': case_item_messages} | to_json }}"
        dest: "{{ case_results }}/{{ case }}.json"
        mode: "0600"
      delegate_to: localhost
      check_mode: false
      changed_when: false
      vars:
        # A looped check fails with "One or more items failed"; each failed item's message names the field.
        case_item_messages: "{{ ansible_failed_result.results | default([]) | selectattr('failed', 'defined')
                                | selectattr('failed') | map(attribute='msg', default='') | list }}"
"""
ROLE_PLAY = """---
- name: The role %(role)s with the settings of %(label)s, outside any block
  hosts: %(hosts)s
  gather_facts: %(gather_facts)s
  tasks:
    - name: Settings
      ansible.builtin.include_vars:
        file: "%(variables)s"
      no_log: true
    - name: The role
      ansible.builtin.include_role:
        name: "%(role)s"
"""


@dataclass(frozen=True)
class Result:
    """What one case recorded: refused or passed; the failed task, its message and its failed items' messages."""
    refused: bool
    task: str = ""
    msg: str = ""
    items: tuple = ()

    @property
    def text(self):
        """The message and the failed items' messages, one a line."""
        return "\n".join((self.msg,) + tuple(str(item) for item in self.items))


@dataclass
class Played:
    """One ansible-playbook run: its return code, output, seconds, log and audit_trail records, case results."""
    label: str
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    log: str = ""
    trail: str = ""
    results: list = field(default_factory=list)

    @property
    def output(self):
        return self.stdout + self.stderr

    def tail(self):
        """The end of the output, for an assertion's message."""
        return self.stdout[-6000:] + self.stderr[-3000:]

    def not_refused(self):
        """Indices of the cases that passed, recorded nothing, or were refused without any message."""
        return [index for index, result in enumerate(self.results)
                if result is None or not result.refused or not result.text.strip()]


def ansible_env(root, record_output=False, label="run", **extra):
    """os.environ without ANSIBLE_*, VAULT_* and BAO_*, set for this checkout; ``extra`` on top."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ANSIBLE_", "VAULT_", "BAO_"))}
    env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
               ANSIBLE_LOCAL_TEMP=str(Path(root) / "tmp"), ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="false",
               ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False")
    if record_output:  # what a planted-secret check reads besides the output: the log file and the audit_trail records
        env.update(ANSIBLE_LOG_PATH=str(Path(root) / ("%s.log" % label)),
                   ANSIBLE_CALLBACKS_ENABLED="sovereign.cluster.audit_trail",
                   SOVEREIGN_AUDIT_TRAIL_FILE=str(Path(root) / ("%s-audit-trail.jsonl" % label)),
                   SOVEREIGN_AUDIT_TRAIL_SYSLOG="false")
    env.update(extra)
    return env


def module_body(module, names, source="case_options", values=None):
    """The tasks of a body that calls ``module`` once, each option in ``names`` read from the case's ``source``
    mapping (``default(omit)``: a case leaves out what it does not set), or given as an expression in ``values``."""
    lines = ["- name: %s with the case's options" % module.rsplit(".", 1)[-1], "  %s:" % module]
    for name in names:
        expression = (values or {}).get(name, "%s.%s | default(omit)" % (source, name))
        lines.append('    %s: "{{ %s }}"' % (name, expression))
    return "\n".join(lines) + "\n"


def role_body(role, facts=None):
    """The tasks of a body that includes ``role`` whole, after resetting the ``facts`` a previous case set."""
    tasks = []
    if facts:
        tasks.append({"name": "Forget what the previous case checked", "ansible.builtin.set_fact": dict(facts)})
    tasks.append({"name": "The whole role", "ansible.builtin.include_role": {"name": role}})
    return yaml.safe_dump(tasks, sort_keys=False)


def _result(record):
    msg = record.get("msg", "")
    return Result(record["refused"], record.get("task", ""), msg if isinstance(msg, str) else json.dumps(msg),
                  tuple(record.get("items", ())))


def _read(path):
    return path.read_text() if path.exists() else ""


def ansible_playbook(root, *args, label="run", timeout=900, record_output=False, env=None):
    """``ansible-playbook *args`` in ``root`` with ``ansible_env``; a Played (its return code is the caller's to assert)."""
    root = Path(root)
    started = time.monotonic()
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), *args], cwd=str(root),
                          env=ansible_env(root, record_output, label, **(env or {})), capture_output=True, text=True,
                          timeout=timeout, check=False)
    seconds = time.monotonic() - started
    return Played(label, proc.returncode, proc.stdout, proc.stderr, seconds,
                  _read(root / ("%s.log" % label)), _read(root / ("%s-audit-trail.jsonl" % label)))


class CasePlaybook:
    """The cases of one suite, written once under ``root``, played once per mode.

    ``cases``: ``(body, variables)`` pairs, in order; ``bodies``: ``{body: tasks YAML}``. ``inventory``:
    an inventory as data (default: localhost, connection local, this Python); ``hosts``: the group the
    cases are spread over. ``extra_vars`` are written to a 0600 file (they may hold a token); ``args`` are
    added to every run (``-vvv``); ``timeout``, ``record_output`` and ``env`` go to ``ansible_playbook``.
    """

    def __init__(self, root, cases, bodies, inventory=None, hosts="all", gather_facts=False, extra_vars=None,
                 args=(), timeout=900, record_output=False, env=None):
        self.root, self.count, self.hosts, self.gather_facts = Path(root), len(cases), hosts, gather_facts
        self.args, self.timeout, self.record_output, self.env = list(args), timeout, record_output, env
        (self.root / "cases").mkdir(parents=True)
        os.chmod(self.root / "cases", 0o700)
        for index, (body, variables) in enumerate(cases):
            (self.root / "cases" / ("%d.yml" % index)).write_text(yaml.safe_dump(dict(variables, case_body=body)))
        for body, tasks in bodies.items():
            (self.root / ("%s.yml" % body)).write_text(tasks)
        (self.root / "case.yml").write_text(CASE)
        (self.root / "play.yml").write_text(PLAY % {"hosts": hosts, "gather_facts": str(gather_facts).lower()})
        self.inventory = self.root / "inventory.yml"
        self.inventory.write_text(yaml.safe_dump(inventory or {"all": {"hosts": {"localhost": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
        self.extra_vars = self.root / "extra-vars.json"
        self.extra_vars.write_text(json.dumps(dict(extra_vars or {}, case_dir=str(self.root / "cases"), case_count=self.count)))
        os.chmod(self.extra_vars, 0o600)

    def _play(self, label, playbook, *args):
        return ansible_playbook(self.root, "-i", str(self.inventory), "-e", "@%s" % self.extra_vars, *args, *self.args,
                                playbook, label=label, timeout=self.timeout, record_output=self.record_output, env=self.env)

    def run(self, mode):
        """Every case, in ``mode`` "check" (``--check --diff``) or "real" (``--diff``); a Played with the results."""
        assert mode in MODES, mode
        results = self.root / "results" / mode
        results.mkdir(parents=True)
        played = self._play(mode, "play.yml", "-e", json.dumps({"case_results": str(results)}),
                            *(["--check", "--diff"] if mode == "check" else ["--diff"]))
        for index in range(self.count):
            path = results / ("%d.json" % index)
            record = json.loads(path.read_text()) if path.exists() else None
            played.results.append(None if record is None else _result(record))
        return played

    def play_role(self, label, role, variables):
        """The role with ``variables``, for real and outside any block: a good run (the caller asserts its return code)."""
        path = self.root / "cases" / ("%s.yml" % label)
        path.write_text(yaml.safe_dump(variables))
        playbook = self.root / ("%s.yml" % label)
        playbook.write_text(ROLE_PLAY % {"role": role, "label": label, "variables": path, "hosts": self.hosts,
                                         "gather_facts": str(self.gather_facts).lower()})
        return self._play(label, playbook.name)


def assert_ran(played):
    """The run ended with rc 0 and every case recorded a result."""
    missing = [index for index, result in enumerate(played.results) if result is None]
    assert (played.returncode, missing) == (0, []), "%s run: rc %d, cases without a result %s\n%s" % (
        played.label, played.returncode, missing, played.tail())


def assert_refused(result, expected, include_items=False):
    """The case was refused and its message (with its failed items' messages if ``include_items``) holds ``expected``."""
    assert result is not None and result.refused, "not refused: %r" % (result,)
    assert expected in (result.text if include_items else result.msg), "%r is not in %r" % (expected, result)


def assert_passed(result):
    """The case got past every task of its body."""
    assert result is not None and not result.refused, "not passed: %r" % (result,)


def assert_all_refused(*runs):
    """Each run refused every one of its cases, with a message."""
    not_refused = [(played.label, played.not_refused()) for played in runs]
    assert not_refused == [(played.label, []) for played in runs], "cases not refused, by run: %s" % not_refused
