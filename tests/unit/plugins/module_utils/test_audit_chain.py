"""The audit hash chain: links, every tamper kind named with its line, resume, concurrency, CLI."""
import hashlib
import io
import json
import multiprocessing
import os
import stat
import subprocess
import sys

import pytest

from ansible_collections.sovereign.cluster.plugins.module_utils import audit_chain as ac

CLI = ac.__file__


def _payloads(count):
    return [{"msg": "event %d" % number, "host": "node-%d" % (number % 3)} for number in range(1, count + 1)]


def _chain_file(tmp_path, count=6, name="chain.jsonl"):
    path = tmp_path / name
    ac.append_records(str(path), _payloads(count))
    return path


def _lines(path):
    return path.read_bytes().splitlines(keepends=True)


def _write(path, lines):
    path.write_bytes(b"".join(lines))


def _reseal(line, **changes):
    """Change fields of a stored record AND recompute its own hash (a careful forger)."""
    record = json.loads(line)
    record.update(changes)
    record["hash"] = ac.record_hash(record)
    return (json.dumps(record) + "\n").encode()


# --- the chain itself -------------------------------------------------------------------------

def test_records_link_from_genesis(tmp_path):
    path = _chain_file(tmp_path, count=4)
    records = [json.loads(line) for line in _lines(path)]
    assert [r["seq"] for r in records] == [1, 2, 3, 4]
    assert records[0]["prev"] == ac.GENESIS == "0" * 64
    for before, after in zip(records, records[1:]):
        assert after["prev"] == before["hash"]
    body = {k: v for k, v in records[2].items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    assert records[2]["hash"] == hashlib.sha256(canonical).hexdigest()
    assert records[2]["msg"] == "event 3"


def test_intact_chain_verifies_with_head(tmp_path):
    path = _chain_file(tmp_path, count=5)
    result = ac.verify_file(str(path))
    assert result.ok and result.problem is None
    assert result.records == 5
    assert result.state == ac.head_state(str(path))
    assert result.state.seq == 5 and result.state.head == json.loads(_lines(path)[-1])["hash"]


def test_sealed_bytes_survive_awkward_payloads(tmp_path):
    # int keys sort differently before and after JSON; non-ASCII and undecodable bytes must round-trip
    awkward = {"map": {10: "a", 9: "b"}, "text": "d\u00e9j\u00e0 vu \u2713", "raw": b"\xff\xfe".decode("utf-8", "surrogateescape"), "t": (1, 2)}
    path = tmp_path / "awkward.jsonl"
    ac.append_records(str(path), [awkward, {"n": -0.5}])
    assert ac.verify_file(str(path)).ok
    assert path.read_bytes().isascii()


def test_reserved_and_non_json_payloads_are_refused(tmp_path):
    with pytest.raises(ac.ChainError, match="reserved"):
        ac.seal({"seq": 3}, ac.ChainState())
    with pytest.raises(ac.ChainError, match="strict JSON"):
        ac.seal({"x": float("nan")}, ac.ChainState())
    with pytest.raises(ac.ChainError, match="JSON object"):
        ac.seal(["not", "a", "dict"], ac.ChainState())


# --- each tamper kind is detected and named with its line ------------------------------------

def test_altered_record_is_named_with_its_line(tmp_path):
    path = _chain_file(tmp_path)
    lines = _lines(path)
    lines[2] = lines[2].replace(b"event 3", b"event X")
    _write(path, lines)
    problem = ac.verify_file(str(path)).problem
    assert (problem.kind, problem.line, problem.seq) == ("altered", 3, 3)


def test_deleted_record_is_missing(tmp_path):
    path = _chain_file(tmp_path)
    lines = _lines(path)
    del lines[3]
    _write(path, lines)
    problem = ac.verify_file(str(path)).problem
    assert (problem.kind, problem.line) == ("missing", 4)
    assert "seq 4 missing before line 4" in problem.message


def test_deleted_range_names_the_gap(tmp_path):
    path = _chain_file(tmp_path, count=8)
    lines = _lines(path)
    del lines[2:5]
    _write(path, lines)
    problem = ac.verify_file(str(path)).problem
    assert (problem.kind, problem.line) == ("missing", 3)
    assert "seq 3 to 5 missing" in problem.message


def test_deleted_head_of_file_is_missing(tmp_path):
    path = _chain_file(tmp_path)
    _write(path, _lines(path)[1:])
    problem = ac.verify_file(str(path)).problem
    assert (problem.kind, problem.line) == ("missing", 1)


def test_swapped_records_are_reordered(tmp_path):
    path = _chain_file(tmp_path)
    lines = _lines(path)
    lines[1], lines[2] = lines[2], lines[1]
    _write(path, lines)
    problem = ac.verify_file(str(path)).problem
    assert (problem.kind, problem.line) == ("reordered", 2)
    assert "found later at line 3" in problem.message


def test_replayed_record_is_duplicate(tmp_path):
    path = _chain_file(tmp_path)
    lines = _lines(path)
    lines.insert(4, lines[1])
    _write(path, lines)
    problem = ac.verify_file(str(path)).problem
    assert (problem.kind, problem.line, problem.seq) == ("duplicate", 5, 2)


def test_rewritten_record_breaks_the_next_link(tmp_path):
    path = _chain_file(tmp_path)
    lines = _lines(path)
    lines[2] = _reseal(lines[2], msg="forged")  # its own hash is right again...
    _write(path, lines)
    problem = ac.verify_file(str(path)).problem
    assert (problem.kind, problem.line, problem.seq) == ("broken_link", 4, 4)  # ...but seq 4 still points at the original


def test_first_record_must_start_at_genesis(tmp_path):
    path = _chain_file(tmp_path)
    lines = _lines(path)
    lines[0] = _reseal(lines[0], prev="1" * 64)
    _write(path, lines)
    problem = ac.verify_file(str(path)).problem
    assert (problem.kind, problem.line) == ("broken_link", 1)


@pytest.mark.parametrize("garbage, reason", [
    (b"{not json\n", "Expecting"),
    (b"\n", "empty line"),
    (b"[1, 2]\n", "not a JSON object"),
    (b'{"seq": "2", "prev": "00", "hash": "00"}\n', "'seq' must be a positive integer"),
    (b'{"seq": 2, "prev": "xyz", "hash": "00"}\n', "'prev' must be 64 lowercase hex"),
])
def test_bad_json_is_named(tmp_path, garbage, reason):
    path = _chain_file(tmp_path)
    lines = _lines(path)
    lines.insert(1, garbage)
    _write(path, lines)
    problem = ac.verify_file(str(path)).problem
    assert (problem.kind, problem.line) == ("bad_json", 2)
    assert reason in problem.message


def test_all_mode_reports_every_problem(tmp_path):
    path = _chain_file(tmp_path, count=8)
    lines = _lines(path)
    lines[1] = lines[1].replace(b"event 2", b"event X")
    del lines[5]
    _write(path, lines)
    result = ac.verify_file(str(path), all_problems=True)
    assert [(p.kind, p.line) for p in result.problems] == [("altered", 2), ("missing", 6)]
    assert result.records == 7


def test_anchor_catches_truncation_and_rewrite(tmp_path):
    path = _chain_file(tmp_path, count=6)
    anchor = ac.head_state(str(path))
    assert ac.verify_file(str(path), anchor="%d:%s" % (anchor.seq, anchor.head)).ok
    _write(path, _lines(path)[:4])  # the tail cut off: the chain itself still links
    assert ac.verify_file(str(path)).ok
    problem = ac.verify_file(str(path), anchor=(anchor.seq, anchor.head)).problem
    assert problem.kind == "truncated"
    # a forger rebuilds the whole chain with one record changed: only the anchor notices
    forged = [json.loads(line) for line in _lines(_chain_file(tmp_path, count=6, name="orig.jsonl"))]
    forged[1]["msg"] = "forged"
    rebuilt = ac.seal_all([{k: v for k, v in r.items() if k not in ac.CHAIN_FIELDS} for r in forged])
    _write(path, rebuilt)
    assert ac.verify_file(str(path)).ok
    problem = ac.verify_file(str(path), anchor=(anchor.seq, anchor.head)).problem
    assert (problem.kind, problem.line) == ("anchor_mismatch", 6)
    with pytest.raises(ac.ChainError, match="SEQ:HASH"):
        ac.verify_file(str(path), anchor="6:short")


def test_missing_file_is_unreadable(tmp_path):
    problem = ac.verify_file(str(tmp_path / "nope.jsonl")).problem
    assert problem.kind == "unreadable"


# --- appending ---------------------------------------------------------------------------------

def test_append_resumes_from_the_last_line(tmp_path):
    path = _chain_file(tmp_path, count=3)
    ac._STATE_CACHE.clear()  # as a new process would
    more = ac.append_records(str(path), [{"msg": "later"}])
    assert (more[0]["seq"], more[0]["prev"]) == (4, json.loads(_lines(path)[2])["hash"])
    assert ac.verify_file(str(path)).records == 4


def test_append_after_another_writer_rereads_the_tail(tmp_path):
    path = _chain_file(tmp_path, count=2)
    state = ac.head_state(str(path))
    with open(path, "ab") as handle:  # another process appends behind this one's cache
        handle.write(ac.seal({"msg": "other"}, state)[1])
    ac.append_records(str(path), [{"msg": "mine"}])
    assert ac.verify_file(str(path)).ok
    assert [json.loads(line)["seq"] for line in _lines(path)] == [1, 2, 3, 4]


def test_torn_last_line_is_kept_flagged_and_the_chain_goes_on(tmp_path):
    path = _chain_file(tmp_path, count=3)
    with open(path, "ab") as handle:
        handle.write(b'{"seq":4,"prev":"ab')  # a writer died mid-record
    ac._STATE_CACHE.clear()
    record = ac.append_records(str(path), [{"msg": "after crash"}])[0]
    assert record["seq"] == 4
    result = ac.verify_file(str(path), all_problems=True)
    assert [(p.kind, p.line) for p in result.problems] == [("bad_json", 4)]
    assert result.state.seq == 4


def test_new_file_mode_and_wider_mode_is_tightened(tmp_path):
    path = tmp_path / "sub" / "trail.jsonl"
    ac.append_records(str(path), [{"a": 1}], mode=0o600)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    path.chmod(0o644)
    ac.append_records(str(path), [{"a": 2}], mode=0o600)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def _hammer(path, worker, count):
    for number in range(count):
        ac.append_records(path, [{"worker": worker, "n": number}])


def test_concurrent_appenders_keep_one_chain(tmp_path):
    path = str(tmp_path / "shared.jsonl")
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_hammer, args=(path, worker, 150)) for worker in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(30)
        assert process.exitcode == 0
    result = ac.verify_file(path)
    assert result.ok, result.problem.message
    assert result.records == result.state.seq == 600


# --- collector side ----------------------------------------------------------------------------

def test_collector_payload_text_and_json():
    host, payload = ac.collector_payload(b"type=USER_LOGIN msg=audit(1.2:3): res=success\n", "auditd", "node-1")
    assert host == "node-1" and payload["msg"] == "type=USER_LOGIN msg=audit(1.2:3): res=success"
    assert payload["source"] == "auditd" and payload["received"].endswith("Z")
    line = json.dumps({"hostname": "gpu-07", "msg": " hello", "programname": "bao"})
    host, payload = ac.collector_payload(line + "\n", "openbao", "unknown", fmt="json")
    assert host == "gpu-07" and payload["event"]["programname"] == "bao"
    host, payload = ac.collector_payload("not json\n", "openbao", "relay", fmt="json")
    assert (host, payload["msg"], payload["malformed"]) == ("relay", "not json", True)


@pytest.mark.parametrize("raw, safe", [("node-1.example", "node-1.example"), ("../../etc", "_.._etc"), ("", "unknown"), ("a b/c", "a_b_c")])
def test_path_parts_cannot_escape(raw, safe):
    assert ac.safe_path_part(raw) == safe


def test_cli_append_routes_per_source_and_host(tmp_path):
    template = str(tmp_path / "{source}" / "{host}.jsonl")
    lines = [json.dumps({"hostname": host, "msg": "m%d" % n}) for n, host in enumerate(["a", "b", "a", "../x", "a"])]
    out = io.StringIO()
    stdin = io.BytesIO(("\n".join(lines) + "\n").encode())
    rc = ac.main(["append", "--out", template, "--source", "kube-apiserver", "--format", "json", "--confirm", "--no-fsync"], stdin=stdin, out=out)
    assert rc == 0
    assert out.getvalue() == "OK\n" * 6  # once at start, once per stored line
    folder = tmp_path / "kube-apiserver"
    assert sorted(p.name for p in folder.iterdir()) == ["_x.jsonl", "a.jsonl", "b.jsonl"]
    assert ac.verify_file(str(folder / "a.jsonl")).records == 3
    assert [json.loads(line)["event"]["msg"] for line in _lines(folder / "a.jsonl")] == ["m0", "m2", "m4"]
    assert stat.S_IMODE((folder / "a.jsonl").stat().st_mode) == 0o640


def test_cli_is_the_same_file_run_as_a_program(tmp_path):
    """The role installs this very file as /usr/local/bin/sovereign-audit-chain: run it like that."""
    path = tmp_path / "auditd" / "node-1.jsonl"
    feed = "line one\nline two\nline three\n"
    run = subprocess.run([sys.executable, CLI, "append", "--out", str(tmp_path / "{source}" / "{host}.jsonl"),
                          "--source", "auditd", "--host", "node-1"], input=feed.encode(), capture_output=True, check=False)
    assert run.returncode == 0, run.stderr
    ok = subprocess.run([sys.executable, CLI, "verify", str(path)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0
    assert ok.stdout.startswith("%s: OK, 3 records, head seq 3 hash " % path)
    head = subprocess.run([sys.executable, CLI, "head", str(path)], capture_output=True, text=True, check=False)
    anchor = head.stdout.split(": ", 1)[1].strip()
    assert anchor.startswith("3:")

    lines = _lines(path)
    lines[1] = lines[1].replace(b"line two", b"line 2")
    _write(path, lines)
    bad = subprocess.run([sys.executable, CLI, "verify", str(path)], capture_output=True, text=True, check=False)
    assert bad.returncode == 1
    assert bad.stdout.startswith("%s:2: altered: record seq 2 at line 2" % path)

    as_json = subprocess.run([sys.executable, CLI, "verify", "--json", "--anchor", anchor, str(path)], capture_output=True, text=True, check=False)
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["problems"][0]["kind"] == "altered"

    usage = subprocess.run([sys.executable, CLI, "verify"], capture_output=True, text=True, check=False)
    assert usage.returncode == 2


def test_cli_verify_several_files_fails_if_one_fails(tmp_path):
    good = _chain_file(tmp_path, name="good.jsonl")
    bad = _chain_file(tmp_path, name="bad.jsonl")
    _write(bad, _lines(bad)[:2] + _lines(bad)[3:])
    out = io.StringIO()
    assert ac.main(["verify", str(good), str(bad)], out=out) == 1
    report = out.getvalue().splitlines()
    assert report[0].startswith("%s: OK, 6 records" % good)
    assert report[1].startswith("%s:3: missing: seq 3 missing" % bad)
    out = io.StringIO()
    assert ac.main(["verify", str(good)], out=out) == 0


def test_cli_append_rejects_a_bad_mode(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        ac.main(["append", "--out", str(tmp_path / "x"), "--mode", "rw-r"], stdin=io.BytesIO(b""), out=io.StringIO())
    assert exc.value.code == 2
    assert "--mode 'rw-r' must be an octal mode" in capsys.readouterr().err
    assert not os.path.exists(str(tmp_path / "x"))


def test_resume_finds_a_long_record_behind_trailing_garbage(tmp_path):
    path = tmp_path / "long.jsonl"
    ac.append_records(str(path), [{"msg": "x" * 200000}])
    with open(path, "ab") as handle:
        handle.write(b"garbage\n" * 3000)  # 24 KB of foreign lines after it
    ac._STATE_CACHE.clear()
    record = ac.append_records(str(path), [{"msg": "next"}])[0]
    assert (record["seq"], record["prev"]) == (2, json.loads(_lines(path)[0])["hash"])
    assert ac.head_state(str(path)).seq == 2


def test_cli_append_failure_is_not_confirmed(tmp_path, capsys):
    blocker = tmp_path / "auditd"
    blocker.write_text("a file where the source directory should be")
    out = io.StringIO()
    rc = ac.main(["append", "--out", str(tmp_path / "{source}" / "{host}.jsonl"), "--source", "auditd", "--confirm"],
                 stdin=io.BytesIO(b"first line\n"), out=out)
    assert rc == 1
    assert out.getvalue() == "OK\n"  # the start-up OK only: the line stays in rsyslog's queue
    assert "cannot append to %s" % (tmp_path / "auditd" / "unknown.jsonl") in capsys.readouterr().err


# --- retransmissions (RELP/omprog deliver at least once) ---------------------------------------

def _sent(seq, stamp="2026-11-22T10:00:00.000001+00:00", host="sender1", reception=0):
    """One event as rsyslog's %jsonmesg% gives it: sender fields fixed, reception fields per delivery."""
    raw = "<182>1 %s %s sovereign-openbao - - - event %d" % (stamp, host, seq)
    return json.dumps({"rawmsg": raw, "msg": " event %d" % seq, "hostname": host, "timereported": stamp,
                       "syslogtag": "sovereign-openbao", "programname": "sovereign-openbao",
                       "timegenerated": "2026-11-22T10:00:%02d.000000+00:00" % reception,
                       "uuid": "%032x" % (seq * 1000 + reception)})


def _append(template, lines, window=None):
    argv = ["append", "--out", template, "--source", "openbao", "--format", "json", "--confirm", "--no-fsync"]
    if window is not None:
        argv += ["--dedup-window", str(window)]
    out = io.StringIO()
    rc = ac.main(argv, stdin=io.BytesIO(("\n".join(lines) + "\n").encode()), out=out)
    return rc, out.getvalue()


def _stored(path):
    return [json.loads(line)["event"]["msg"] for line in _lines(path)]


def test_a_batch_sent_again_is_stored_once_and_still_confirmed(tmp_path, capsys):
    template = str(tmp_path / "{source}" / "{host}.jsonl")
    first = [_sent(n) for n in range(1, 6)]
    again = [_sent(n, reception=30) for n in range(3, 9)]  # 3..5 already stored, new reception time and uuid
    rc, out = _append(template, first + again)
    assert rc == 0 and out == "OK\n" * 12  # every delivery is confirmed, or omprog would send it forever
    path = tmp_path / "openbao" / "sender1.jsonl"
    assert _stored(path) == [" event %d" % n for n in range(1, 9)]
    assert ac.verify_file(str(path)).ok
    assert capsys.readouterr().err.count("dropped a retransmitted copy") == 3


def test_a_retransmission_after_a_collector_restart_is_recognised_from_the_file(tmp_path):
    """A new writer process (rsyslog restarted) rebuilds its window from the chain's tail."""
    template = str(tmp_path / "{source}" / "{host}.jsonl")
    assert _append(template, [_sent(n) for n in range(1, 101)])[0] == 0
    assert _append(template, [_sent(n, reception=40) for n in range(90, 111)])[0] == 0
    path = tmp_path / "openbao" / "sender1.jsonl"
    assert _stored(path) == [" event %d" % n for n in range(1, 111)]
    assert ac.verify_file(str(path)).records == 110


def test_same_text_at_another_sender_time_or_host_is_a_new_event(tmp_path):
    template = str(tmp_path / "{source}" / "{host}.jsonl")
    lines = [_sent(1), _sent(1, stamp="2026-11-22T10:00:00.000002+00:00"), _sent(1, host="sender2")]
    assert _append(template, lines)[0] == 0
    assert len(_lines(tmp_path / "openbao" / "sender1.jsonl")) == 2
    assert len(_lines(tmp_path / "openbao" / "sender2.jsonl")) == 1


def test_text_lines_and_a_zero_window_keep_every_copy(tmp_path):
    out = io.StringIO()
    rc = ac.main(["append", "--out", str(tmp_path / "t.jsonl"), "--no-fsync"], stdin=io.BytesIO(b"same\nsame\n"), out=out)
    assert rc == 0 and len(_lines(tmp_path / "t.jsonl")) == 2
    template = str(tmp_path / "{source}" / "{host}.jsonl")
    assert _append(template, [_sent(1), _sent(1, reception=9)], window=0)[0] == 0
    assert len(_lines(tmp_path / "openbao" / "sender1.jsonl")) == 2


def test_the_window_is_bounded(tmp_path):
    template = str(tmp_path / "{source}" / "{host}.jsonl")
    assert _append(template, [_sent(n) for n in range(1, 6)] + [_sent(1, reception=9)], window=3)[0] == 0
    assert len(_lines(tmp_path / "openbao" / "sender1.jsonl")) == 6  # event 1 had left the window of 3
    recent = ac.RecentEvents(window=3)
    for n in range(1, 6):
        payload = json.loads('{"host": "h", "event": %s}' % _sent(n))
        assert not recent.seen("p", payload)
        recent.remember("p", payload)
        assert recent.seen("p", payload)
    assert len(recent._files["p"][0]) == len(recent._files["p"][1]) == 3
