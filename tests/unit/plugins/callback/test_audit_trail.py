"""The audit_trail callback: records, censoring, chaining, syslog; with fakes and with a real run."""
import json
import re

import pytest
from ansible.executor.stats import AggregateStats

from ansible_collections.sovereign.cluster.plugins.callback import audit_trail
from ansible_collections.sovereign.cluster.plugins.module_utils import audit_chain as ac

SECRET = "PLANTED-S3CRET-0f9e"
HEX64 = re.compile(r"^[0-9a-f]{64}$")


class FakeHost:
    def __init__(self, name):
        self.name = name

    def get_name(self):
        return self.name


class FakeTask:
    def __init__(self, name, action="ansible.builtin.command", no_log=False, delegate_to=None):
        self.name = name
        self.action = action
        self.resolved_action = action
        self.no_log = no_log
        self.delegate_to = delegate_to

    def get_name(self):
        return self.name

    def get_path(self):
        return "/srv/site.yml:12"


class FakeResult:
    """The ansible-core >= 2.19 callback result shape (host, task, result)."""

    def __init__(self, task, data, host="node-1"):
        self.host = FakeHost(host)
        self.task = task
        self.result = data
        self.task_name = task.name


class FakeLegacyResult:
    """The ansible-core 2.17/2.18 shape (_host, _task, _result)."""

    def __init__(self, task, data, host="node-1"):
        self._host = FakeHost(host)
        self._task = task
        self._result = data


class FakeSyslog:
    LOG_PID = 1
    LOG_INFO = 6
    LOG_WARNING = 4
    LOG_LOCAL5 = 168
    LOG_LOCAL2 = 144

    def __init__(self):
        self.opened = None
        self.messages = []

    def openlog(self, ident, option, facility):
        self.opened = (ident, option, facility)

    def syslog(self, priority, message):
        self.messages.append((priority, message))


class FakeDisplay:
    verbosity = 0

    def __init__(self):
        self.warnings = []

    def warning(self, msg, *args, **kwargs):
        self.warnings.append(msg)


def _secret_result(**extra):
    """A result that carries the secret everywhere a module could put it."""
    data = {
        "changed": True,
        "stdout": SECRET,
        "msg": "token is %s" % SECRET,
        "invocation": {"module_args": {"password": SECRET}},
        "diff": {"before": "", "after": SECRET},
        "_ansible_item_label": SECRET,
    }
    data.update(extra)
    return data


def _callback(tmp_path, syslog=False, facility="local5", display=None):
    plugin = audit_trail.CallbackModule(display=display)
    plugin._plugin_options = {
        "log_file": str(tmp_path / "trail.jsonl"),
        "fsync": False,
        "syslog": syslog,
        "syslog_facility": facility,
        "syslog_ident": "sovereign-audit-trail",
        "controller_user": "alice",
    }
    plugin.configure()
    return plugin


def _records(tmp_path):
    return [json.loads(line) for line in (tmp_path / "trail.jsonl").read_text().splitlines()]


def _start(plugin, name="site.yml"):
    playbook = type("Playbook", (), {"_file_name": "/srv/" + name})()
    play = type("Play", (), {"get_name": lambda self: "Harden hosts"})()
    plugin.v2_playbook_on_start(playbook)
    plugin.v2_playbook_on_play_start(play)


# --- what a record says ------------------------------------------------------------------------

def test_ok_record_has_the_audit_fields_and_no_values(tmp_path):
    plugin = _callback(tmp_path)
    _start(plugin)
    plugin.v2_runner_on_ok(FakeResult(FakeTask("Set sshd config", "ansible.builtin.template"), _secret_result()))
    start, play, task = _records(tmp_path)
    assert (start["kind"], start["playbook"], start["check_mode"]) == ("start", "/srv/site.yml", False)
    assert play["play"] == "Harden hosts"
    expected = {
        "v": 1, "kind": "task", "event": "runner_on_ok", "status": "ok", "changed": True, "failed": False,
        "controller_user": "alice", "playbook": "/srv/site.yml", "play": "Harden hosts", "host": "node-1",
        "task": "Set sshd config", "action": "ansible.builtin.template", "task_path": "/srv/site.yml:12",
        "diff_sha256": ac.json_digest({"before": "", "after": SECRET}), "run_id": plugin.run_id, "seq": 3,
    }
    assert {key: task[key] for key in expected} == expected
    assert task["controller_host"] and task["time"].endswith("Z")
    assert set(task) - set(ac.CHAIN_FIELDS) <= set(audit_trail.TASK_FIELDS)
    assert "invocation" not in task and "stdout" not in task and "msg" not in task
    assert SECRET not in (tmp_path / "trail.jsonl").read_text()


@pytest.mark.parametrize("how", ["task_no_log", "result_no_log"])
@pytest.mark.parametrize("event", ["ok", "failed", "item_ok", "item_failed", "unreachable", "skipped"])
def test_no_log_results_are_censored_everywhere(tmp_path, how, event):
    plugin = _callback(tmp_path)
    task = FakeTask("Write the token", no_log=(how == "task_no_log"))
    data = _secret_result(_ansible_no_log=(how == "result_no_log"))
    method = {"ok": plugin.v2_runner_on_ok, "item_ok": plugin.v2_runner_item_on_ok, "item_failed": plugin.v2_runner_item_on_failed,
              "unreachable": plugin.v2_runner_on_unreachable, "skipped": plugin.v2_runner_on_skipped}
    if event == "failed":
        plugin.v2_runner_on_failed(FakeResult(task, data), ignore_errors=True)
    else:
        method[event](FakeResult(task, data))
    (record,) = _records(tmp_path)
    assert record["censored"] is True
    assert record["task"] == "Write the token" and record["host"] == "node-1"
    assert "diff_sha256" not in record and "item_sha256" not in record
    assert SECRET not in (tmp_path / "trail.jsonl").read_text()
    assert ac.json_digest(SECRET) not in (tmp_path / "trail.jsonl").read_text()  # not even a digest of it


def test_without_no_log_values_are_still_not_recorded_only_digested(tmp_path):
    plugin = _callback(tmp_path)
    plugin.v2_runner_item_on_ok(FakeResult(FakeTask("Users", "ansible.builtin.user"), _secret_result()))
    (record,) = _records(tmp_path)
    assert "censored" not in record
    assert record["item"] is True and record["item_sha256"] == ac.json_digest(SECRET)
    assert record["diff_sha256"] == ac.json_digest({"after": SECRET, "before": ""})
    assert SECRET not in (tmp_path / "trail.jsonl").read_text()


def test_diff_digest_is_canonical_and_absent_without_diff(tmp_path):
    plugin = _callback(tmp_path)
    diff = [{"before": {"b": 1, "a": 2}, "after_header": "x"}, {"prepared": "y"}]
    reordered = [{"after_header": "x", "before": {"a": 2, "b": 1}}, {"prepared": "y"}]
    plugin.v2_runner_on_ok(FakeResult(FakeTask("A"), {"changed": True, "diff": diff}))
    plugin.v2_runner_on_ok(FakeResult(FakeTask("B"), {"changed": True, "diff": reordered}))
    plugin.v2_runner_on_ok(FakeResult(FakeTask("C"), {"changed": False}))
    first, second, third = _records(tmp_path)
    assert first["diff_sha256"] == second["diff_sha256"]
    assert HEX64.match(first["diff_sha256"])
    assert "diff_sha256" not in third and third["changed"] is False


def test_failures_unreachable_and_skips_are_recorded(tmp_path):
    plugin = _callback(tmp_path)
    plugin.v2_runner_on_failed(FakeResult(FakeTask("Break"), {"msg": "boom", "rc": 2}), ignore_errors=False)
    plugin.v2_runner_on_failed(FakeResult(FakeTask("Break softly"), {"msg": "boom"}), ignore_errors=True)
    plugin.v2_runner_on_unreachable(FakeResult(FakeTask("Ping"), {"msg": "ssh: no route"}, host="node-9"))
    plugin.v2_runner_on_skipped(FakeResult(FakeTask("Only on GPU"), {"changed": False, "skip_reason": "Conditional result was False"}))
    plugin.v2_runner_item_on_skipped(FakeResult(FakeTask("Loop"), {"item": "x"}))
    failed, soft, unreachable, skipped, item_skipped = _records(tmp_path)
    assert (failed["status"], failed["failed"], failed["ignored"]) == ("failed", True, False)
    assert (soft["status"], soft["failed"], soft["ignored"]) == ("failed", True, True)
    assert (unreachable["status"], unreachable["failed"], unreachable["host"]) == ("unreachable", True, "node-9")
    assert (skipped["status"], skipped["failed"], skipped["changed"]) == ("skipped", False, False)
    assert item_skipped["event"] == "runner_item_on_skipped" and item_skipped["item"] is True
    assert "boom" not in (tmp_path / "trail.jsonl").read_text()


def test_legacy_result_shape_is_read(tmp_path):
    plugin = _callback(tmp_path)
    plugin.v2_runner_on_ok(FakeLegacyResult(FakeTask("Old core", delegate_to="bastion"), {"changed": True, "_ansible_no_log": True, "stdout": SECRET}))
    (record,) = _records(tmp_path)
    assert (record["host"], record["task"], record["delegate_to"], record["censored"], record["changed"]) == ("node-1", "Old core", "bastion", True, True)
    assert SECRET not in (tmp_path / "trail.jsonl").read_text()


def test_stats_give_one_record_per_host(tmp_path):
    plugin = _callback(tmp_path)
    stats = AggregateStats()
    stats.increment("ok", "node-1")
    stats.increment("changed", "node-1")
    stats.increment("failures", "node-2")
    plugin.v2_playbook_on_stats(stats)
    one, two = _records(tmp_path)
    assert (one["host"], one["stats"]["ok"], one["stats"]["changed"]) == ("node-1", 1, 1)
    assert (two["host"], two["stats"]["failures"]) == ("node-2", 1)


# --- the chain and its transport -----------------------------------------------------------------

def test_records_chain_and_two_runs_share_the_chain(tmp_path):
    first = _callback(tmp_path)
    _start(first)
    first.v2_runner_on_ok(FakeResult(FakeTask("A"), {"changed": False}))
    second = _callback(tmp_path)
    _start(second, "other.yml")
    second.v2_runner_on_failed(FakeResult(FakeTask("B"), {}), ignore_errors=False)
    records = _records(tmp_path)
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert all(after["prev"] == before["hash"] for before, after in zip(records, records[1:]))
    assert {r["run_id"] for r in records[:3]} == {first.run_id} != {second.run_id} == {r["run_id"] for r in records[3:]}
    assert ac.verify_file(str(tmp_path / "trail.jsonl")).ok
    assert (tmp_path / "trail.jsonl").stat().st_mode & 0o777 == 0o600


def test_syslog_gets_the_same_chained_line(tmp_path, monkeypatch):
    fake = FakeSyslog()
    monkeypatch.setattr(audit_trail, "_syslog", fake)
    plugin = _callback(tmp_path, syslog=True, facility="local2")
    assert fake.opened == ("sovereign-audit-trail", FakeSyslog.LOG_PID, FakeSyslog.LOG_LOCAL2)
    plugin.v2_runner_on_ok(FakeResult(FakeTask("A"), {"changed": True}))
    plugin.v2_runner_on_failed(FakeResult(FakeTask("B", no_log=True), {"msg": SECRET}))
    lines = (tmp_path / "trail.jsonl").read_text().splitlines()
    assert fake.messages == [(FakeSyslog.LOG_INFO, lines[0]), (FakeSyslog.LOG_WARNING, lines[1])]
    # the syslog copy alone is a verifiable chain (the collector can rebuild it from the messages)
    assert ac.verify_lines(entry[1] for entry in fake.messages).ok


def test_unwritable_file_warns_once_and_keeps_syslog(tmp_path, monkeypatch):
    fake = FakeSyslog()
    monkeypatch.setattr(audit_trail, "_syslog", fake)
    display = FakeDisplay()
    (tmp_path / "trail.jsonl").mkdir()  # a directory where the file should be
    plugin = _callback(tmp_path, syslog=True, display=display)
    plugin.v2_runner_on_ok(FakeResult(FakeTask("A"), {"changed": True}))
    plugin.v2_runner_on_ok(FakeResult(FakeTask("B"), {"changed": False}))
    assert len(display.warnings) == 1 and "cannot append to" in display.warnings[0]
    assert [json.loads(entry[1])["task"] for entry in fake.messages] == ["A", "B"]


def test_syslog_off_sends_nothing(tmp_path, monkeypatch):
    fake = FakeSyslog()
    monkeypatch.setattr(audit_trail, "_syslog", fake)
    plugin = _callback(tmp_path, syslog=False)
    plugin.v2_runner_on_ok(FakeResult(FakeTask("A"), {}))
    assert fake.opened is None and fake.messages == []
    assert len(_records(tmp_path)) == 1


def test_documented_options_match_what_configure_reads():
    import yaml
    doc = yaml.safe_load(audit_trail.DOCUMENTATION)
    assert doc["name"] == "audit_trail" and doc["type"] == "notification"
    assert set(doc["options"]) == {"log_file", "fsync", "syslog", "syslog_facility", "syslog_ident", "controller_user"}
    assert doc["options"]["log_file"]["default"] == "~/.ansible/sovereign-audit-trail.jsonl"
    assert audit_trail.CallbackModule.CALLBACK_NEEDS_ENABLED is True
    for facility in doc["options"]["syslog_facility"]["choices"]:
        import syslog
        assert hasattr(syslog, "LOG_" + facility.upper()), facility
