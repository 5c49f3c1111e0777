# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cluster developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: audit_trail
type: notification
short_description: Hash-chained JSON audit record of every task result, to a local file and syslog
version_added: 0.1.0
author:
  - sovereign.cluster developers (@sovereign-cluster)
description:
  - Writes one JSON record per task result (ok, changed, failed, unreachable, skipped, and each loop item),
    plus one per playbook, play and host summary, to a local JSON-lines file and to syslog.
  - Each record holds the time (UTC), the controller user and host, the playbook, play, host, task, action,
    C(changed)/C(failed) and, when the result carries a diff, the SHA-256 of the diff's canonical JSON.
    It never holds result values, module arguments (C(invocation)), loop item values or extra vars.
  - For a C(no_log) result only those fields are written, with C(censored=true) and no digest at all.
  - Records are hash-chained (C(seq), C(prev), C(hash)) with the collection's C(audit_chain) module_utils,
    so C(python3 .../sovereign/cluster/plugins/module_utils/audit_chain.py verify FILE) (or C(sovereign-audit-chain verify FILE)
    where the audit_forwarding role installed it) reports the first altered, missing or reordered record.
  - The syslog copy is the same JSON line; the C(sovereign.cluster.audit_forwarding) role forwards it to the
    collectors, which chain it again per source and host.
requirements:
  - Enable it, for example C(callbacks_enabled = sovereign.cluster.audit_trail) in C(ansible.cfg)
    or C(ANSIBLE_CALLBACKS_ENABLED=sovereign.cluster.audit_trail).
options:
  log_file:
    description:
      - JSON-lines file the chained records are appended to. Created with mode C(0600) (its directory with C(0700));
        a wider mode on an existing file is tightened back to C(0600).
      - Several runs, even concurrent ones, append to one chain (the file is locked while a record is added).
    type: path
    default: ~/.ansible/sovereign-audit-trail.jsonl
    env:
      - name: SOVEREIGN_AUDIT_TRAIL_FILE
    ini:
      - section: callback_audit_trail
        key: log_file
  fsync:
    description: Flush the file to disk after each record (safer on power loss, slower on large runs).
    type: bool
    default: false
    env:
      - name: SOVEREIGN_AUDIT_TRAIL_FSYNC
    ini:
      - section: callback_audit_trail
        key: fsync
  syslog:
    description: Also send each record to the local syslog daemon.
    type: bool
    default: true
    env:
      - name: SOVEREIGN_AUDIT_TRAIL_SYSLOG
    ini:
      - section: callback_audit_trail
        key: syslog
  syslog_facility:
    description: Syslog facility of the records; the audit_forwarding role routes this facility and ident.
    type: str
    default: local5
    choices: [user, daemon, auth, authpriv, local0, local1, local2, local3, local4, local5, local6, local7]
    env:
      - name: SOVEREIGN_AUDIT_TRAIL_SYSLOG_FACILITY
    ini:
      - section: callback_audit_trail
        key: syslog_facility
  syslog_ident:
    description: Syslog identifier (program name) of the records.
    type: str
    default: sovereign-audit-trail
    env:
      - name: SOVEREIGN_AUDIT_TRAIL_SYSLOG_IDENT
    ini:
      - section: callback_audit_trail
        key: syslog_ident
  controller_user:
    description:
      - Name recorded as the controller user. By default the login name of the process (C(getpass.getuser()));
        set it where that is a service account, for example to the AWX user who launched the job.
    type: str
    env:
      - name: SOVEREIGN_AUDIT_TRAIL_USER
    ini:
      - section: callback_audit_trail
        key: controller_user
notes:
  - A record is never allowed to break a run; if the file cannot be written a warning is shown once and
    the records still go to syslog.
  - Records are small (well under 1 KiB) so one fits in one syslog message.
"""

EXAMPLES = r"""
# ansible.cfg
# [defaults]
# callbacks_enabled = sovereign.cluster.audit_trail
#
# [callback_audit_trail]
# log_file = /var/log/ansible/audit-trail.jsonl
# syslog_facility = local5

# one shot, from the shell:
# ANSIBLE_CALLBACKS_ENABLED=sovereign.cluster.audit_trail ansible-playbook site.yml
# python3 ~/.ansible/collections/ansible_collections/sovereign/cluster/plugins/module_utils/audit_chain.py \
#     verify ~/.ansible/sovereign-audit-trail.jsonl
"""

import datetime
import getpass
import json
import os
import socket
import uuid

try:
    import syslog as _syslog
except ImportError:  # not on every platform; records still go to the file
    _syslog = None

from ansible.plugins.callback import CallbackBase

from ansible_collections.sovereign.cluster.plugins.module_utils.audit_chain import (
    append_records,
    json_digest,
    record_line,
)

RECORD_VERSION = 1

# The only task-result fields a record may carry; everything else (stdout, msg, invocation, ...) is dropped.
TASK_FIELDS = (
    "v", "kind", "event", "time", "run_id", "controller_user", "controller_host", "playbook", "play",
    "host", "task", "task_path", "action", "delegate_to", "status", "changed", "failed", "ignored",
    "item", "item_sha256", "diff_sha256", "censored",
)


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _result_data(result):
    data = getattr(result, "result", None)  # ansible-core >= 2.19
    if not isinstance(data, dict):
        data = getattr(result, "_result", None)  # ansible-core 2.17 / 2.18
    return data if isinstance(data, dict) else {}


def _result_host(result):
    host = getattr(result, "host", None) or getattr(result, "_host", None)
    return host.get_name() if host is not None else None


def _result_task(result):
    return getattr(result, "task", None) or getattr(result, "_task", None)


def is_censored(task, data):
    """True when the result must not be looked into: ``no_log`` on the task or on the result."""
    return bool(data.get("_ansible_no_log")) or (getattr(task, "no_log", False) is True)


def _task_name(result, task):
    name = getattr(result, "task_name", None)
    if not name and task is not None:
        name = task.get_name()
    return str(name or "")


def _action(task):
    action = getattr(task, "resolved_action", None) or getattr(task, "action", None)
    return str(action) if action else None


def task_record(result, event, status, context, ignored=None, item=False):
    """Build the record of one task (or loop item) result; only ``TASK_FIELDS``, never values.

    ``context`` holds the run-level fields (run_id, controller_user, controller_host, playbook, play).
    """
    task = _result_task(result)
    data = _result_data(result)
    censored = is_censored(task, data)
    record = {
        "v": RECORD_VERSION,
        "kind": "task",
        "event": event,
        "time": utc_now(),
        "host": _result_host(result),
        "task": _task_name(result, task),
        "action": _action(task),
        "status": status,
        "changed": bool(data.get("changed", False)) if status != "skipped" else False,
        "failed": status in ("failed", "unreachable"),
    }
    record.update(context)
    if task is not None:
        path = task.get_path() if hasattr(task, "get_path") else None
        if path:
            record["task_path"] = str(path)
        delegate = getattr(task, "delegate_to", None)
        if isinstance(delegate, str) and delegate:
            record["delegate_to"] = delegate
    if ignored is not None:
        record["ignored"] = bool(ignored)
    if item:
        record["item"] = True
    if censored:
        record["censored"] = True
        return record
    if item:
        label = data.get("_ansible_item_label", data.get("item"))
        if label is not None:
            record["item_sha256"] = json_digest(label)
    diff = data.get("diff")
    if diff:
        record["diff_sha256"] = json_digest(diff)
    return record


class CallbackModule(CallbackBase):
    """Hash-chained audit records of every task result, to a file and syslog."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "sovereign.cluster.audit_trail"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None, options=None):
        super(CallbackModule, self).__init__(display=display, options=options)
        self.run_id = uuid.uuid4().hex
        self.playbook = None
        self.play = None
        self.log_file = None
        self.fsync = False
        self.use_syslog = False
        self.controller_user = None
        self.controller_host = socket.gethostname()
        self._file_failed = False

    def set_options(self, task_keys=None, var_options=None, direct=None):
        super(CallbackModule, self).set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        self.configure()

    def configure(self):
        """Read the plugin options (split out so tests can set ``_plugin_options`` directly)."""
        self.log_file = os.path.expanduser(self.get_option("log_file"))
        self.fsync = bool(self.get_option("fsync"))
        self.controller_user = self.get_option("controller_user") or _login_name()
        self.use_syslog = bool(self.get_option("syslog")) and _syslog is not None
        if self.use_syslog:
            facility = getattr(_syslog, "LOG_" + self.get_option("syslog_facility").upper())
            _syslog.openlog(self.get_option("syslog_ident"), _syslog.LOG_PID, facility)

    def _context(self):
        return {
            "run_id": self.run_id,
            "controller_user": self.controller_user,
            "controller_host": self.controller_host,
            "playbook": self.playbook,
            "play": self.play,
        }

    def emit(self, payload, alert=False):
        """Chain ``payload`` into the file and send the same line to syslog."""
        line = None
        if self.log_file and not self._file_failed:
            try:
                record = append_records(self.log_file, [payload], mode=0o600, fsync=self.fsync, dir_mode=0o700)[0]
                line = record_line(record).decode("ascii").rstrip("\n")
            except (IOError, OSError, ValueError) as exc:
                self._file_failed = True
                self._display.warning("audit_trail: cannot append to %s (%s); records go to syslog only for the rest of this run" % (
                    self.log_file, exc))
        if self.use_syslog:
            if line is None:
                line = json_line(payload)
            _syslog.syslog(_syslog.LOG_WARNING if alert else _syslog.LOG_INFO, line)

    def _task(self, result, event, status, ignored=None, item=False):
        record = task_record(result, event, status, self._context(), ignored=ignored, item=item)
        self.emit(record, alert=status in ("failed", "unreachable"))

    def _run_record(self, kind, **fields):
        record = {"v": RECORD_VERSION, "kind": kind, "event": "playbook_on_" + kind, "time": utc_now()}
        record.update(self._context())
        record.update(fields)
        return record

    # --- run level -------------------------------------------------------------------------

    def v2_playbook_on_start(self, playbook):
        name = getattr(playbook, "_file_name", None)
        self.playbook = os.path.abspath(name) if name else None
        self.play = None
        options = _cli_options()
        self.emit(self._run_record("start", **options))

    def v2_playbook_on_play_start(self, play):
        self.play = play.get_name()
        self.emit(self._run_record("play_start"))

    def v2_playbook_on_stats(self, stats):
        for host in sorted(stats.processed.keys()):
            summary = stats.summarize(host)
            counts = dict((key, int(summary.get(key, 0))) for key in ("ok", "changed", "failures", "unreachable", "skipped", "rescued", "ignored"))
            self.emit(self._run_record("stats", host=host, stats=counts), alert=bool(counts["failures"] or counts["unreachable"]))

    # --- task results ----------------------------------------------------------------------

    def v2_runner_on_ok(self, result):
        self._task(result, "runner_on_ok", "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._task(result, "runner_on_failed", "failed", ignored=ignore_errors)

    def v2_runner_on_unreachable(self, result):
        self._task(result, "runner_on_unreachable", "unreachable")

    def v2_runner_on_skipped(self, result):
        self._task(result, "runner_on_skipped", "skipped")

    def v2_runner_item_on_ok(self, result):
        self._task(result, "runner_item_on_ok", "ok", item=True)

    def v2_runner_item_on_failed(self, result):
        self._task(result, "runner_item_on_failed", "failed", item=True)

    def v2_runner_item_on_skipped(self, result):
        self._task(result, "runner_item_on_skipped", "skipped", item=True)


def json_line(payload):
    """An unchained payload as one JSON line (only for syslog when the file cannot be written)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def _login_name():
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME (some containers)
        return "uid:%d" % os.getuid()


def _cli_options():
    """Run options that are safe to record: check/diff mode, limit, tags. Never extra vars."""
    try:
        from ansible import context
        args = context.CLIARGS
    except ImportError:
        return {}
    options = {
        "check_mode": bool(args.get("check", False)),
        "diff_mode": bool(args.get("diff", False)),
    }
    if args.get("subset"):
        options["limit"] = str(args.get("subset"))
    for key in ("tags", "skip_tags"):
        value = args.get(key)
        if value and tuple(value) != ("all",):
            options[key] = sorted(str(tag) for tag in value)
    return options
