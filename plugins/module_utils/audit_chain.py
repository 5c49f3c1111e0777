# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cluster developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tamper-evident hash chain over JSON-line records (pure standard library).

Every record is one JSON object on one line, carrying three chain fields next to its payload:

* ``seq``: 1 for the first record of a file, then +1 for each record;
* ``prev``: the ``hash`` of the previous record (``GENESIS``, 64 zeros, for ``seq`` 1);
* ``hash``: hex SHA-256 of the record's canonical bytes, i.e. the record *without* ``hash``
  serialized as JSON with sorted keys, ``(",", ":")`` separators and ASCII escapes.

Changing a byte of a record breaks its ``hash`` (altered); deleting one leaves a ``seq`` gap
(missing); swapping two puts a ``seq`` before a smaller one (reordered); repeating one repeats a
``seq`` (duplicate); rewriting a record with a fresh hash breaks the next record's ``prev``
(broken_link). Rewriting the whole tail from some point on is only caught by an anchor (a
``seq``/``hash`` pair kept elsewhere, see ``head``), which is why the records also travel to
syslog and the collectors.

The same file is the collector's command line tool (installed by the audit_forwarding role as
``/usr/local/bin/sovereign-audit-chain``)::

    sovereign-audit-chain verify [--anchor SEQ:HASH] [--all] [--json] FILE...
    sovereign-audit-chain head FILE
    sovereign-audit-chain append --out '/var/log/sovereign-audit/{source}/{host}.jsonl' \\
        --source auditd --format json [--confirm]

``append`` reads lines on stdin (as rsyslog's omprog feeds them) and appends one chained record
per line to the file named by ``--out`` after filling ``{source}`` and ``{host}``: every source and
every sending host gets its own chain. Appends hold an exclusive ``flock`` on the file while they
read the chain's last record and write, so concurrent writers never fork the chain.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import collections
import datetime
import errno
import fcntl
import hashlib
import json
import os
import re
import stat
import sys

GENESIS = "0" * 64
CHAIN_FIELDS = ("seq", "prev", "hash")
PROBLEM_KINDS = ("bad_json", "altered", "missing", "reordered", "duplicate", "broken_link", "anchor_mismatch", "truncated", "unreadable")

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_SEQ_PEEK = re.compile(r'"seq"\s*:\s*(\d+)')
_PATH_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_TAIL_CHUNK = 1 << 20
_UTC = datetime.timezone.utc


class ChainError(Exception):
    """A record cannot be sealed or a chain file cannot be used."""


def canonical_bytes(record):
    """The bytes a record's hash covers: the record without ``hash`` as canonical JSON."""
    body = dict((key, value) for key, value in record.items() if key != "hash")
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")


def record_hash(record):
    """Hex SHA-256 of ``canonical_bytes(record)``."""
    return hashlib.sha256(canonical_bytes(record)).hexdigest()


def json_digest(value):
    """Hex SHA-256 of any JSON-able value in canonical form (used for diff digests)."""
    data = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(data.encode("ascii")).hexdigest()


class ChainState:
    """Where a chain stands: the last ``seq`` and its ``hash`` (``0`` and ``GENESIS`` when empty)."""

    __slots__ = ("seq", "head")

    def __init__(self, seq=0, head=GENESIS):
        self.seq = seq
        self.head = head

    def __eq__(self, other):
        return isinstance(other, ChainState) and (self.seq, self.head) == (other.seq, other.head)

    def __ne__(self, other):
        return not self == other

    def __repr__(self):
        return "ChainState(seq=%d, head=%r)" % (self.seq, self.head)

    def as_dict(self):
        return {"seq": self.seq, "hash": self.head}


def _normalize(payload):
    """Round-trip a payload through JSON so the sealed bytes are exactly what a reader re-derives."""
    if not isinstance(payload, dict):
        raise ChainError("a record payload must be a JSON object (dict), got %s" % type(payload).__name__)
    clash = [key for key in CHAIN_FIELDS if key in payload]
    if clash:
        raise ChainError("payload field(s) %s are reserved for the chain: rename them" % ", ".join(clash))
    try:
        text = json.dumps(payload, ensure_ascii=True, allow_nan=False, default=str)
    except ValueError as exc:  # NaN/Infinity or a circular structure
        raise ChainError("payload is not representable as strict JSON: %s" % exc)
    return json.loads(text)


def seal(payload, state):
    """Return ``(record, line)`` for ``payload`` chained after ``state``; ``state`` is advanced.

    ``line`` is the record's JSON (chain fields included) as bytes with a trailing newline.
    """
    record = _normalize(payload)
    record["seq"] = state.seq + 1
    record["prev"] = state.head
    body = canonical_bytes(record)
    digest = hashlib.sha256(body).hexdigest()
    record["hash"] = digest
    state.seq = record["seq"]
    state.head = digest
    return record, _line(body, digest)


def _line(body, digest):
    # The canonical body with "hash" appended last: readable, and no second serialization.
    return body[:-1] + b',"hash":"' + digest.encode("ascii") + b'"}\n'


def record_line(record):
    """The stored line (bytes, newline included) of a sealed record, as ``seal`` wrote it."""
    return _line(canonical_bytes(record), record["hash"])


def seal_all(payloads, state=None):
    """Chain ``payloads`` after ``state`` (a fresh chain when ``None``); return the list of lines."""
    state = ChainState() if state is None else state
    return [seal(payload, state)[1] for payload in payloads]


def _decode(line):
    if isinstance(line, bytes):
        return line.decode("utf-8", "surrogateescape")
    return line


def parse_record(line):
    """Parse one stored line into a record dict, or raise ``ValueError`` saying what is wrong."""
    text = _decode(line).rstrip("\r\n")
    if not text.strip():
        raise ValueError("empty line")
    record = json.loads(text)
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    seq = record.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise ValueError("field 'seq' must be a positive integer")
    for key in ("prev", "hash"):
        value = record.get(key)
        if not isinstance(value, str) or not _HEX64.match(value):
            raise ValueError("field '%s' must be 64 lowercase hex digits" % key)
    return record


class Problem:
    """The first (or one) thing wrong with a chain: a kind from ``PROBLEM_KINDS``, a 1-based line."""

    __slots__ = ("kind", "line", "seq", "message")

    def __init__(self, kind, line, message, seq=None):
        self.kind = kind
        self.line = line
        self.seq = seq
        self.message = message

    def as_dict(self):
        return {"kind": self.kind, "line": self.line, "seq": self.seq, "message": self.message}

    def __repr__(self):
        return "Problem(%r, line=%r, seq=%r)" % (self.kind, self.line, self.seq)


class VerifyResult:
    """Outcome of a verification: ``ok``, ``records`` read, final ``state`` and ``problems``."""

    __slots__ = ("records", "state", "problems")

    def __init__(self, records, state, problems):
        self.records = records
        self.state = state
        self.problems = problems

    @property
    def ok(self):
        return not self.problems

    @property
    def problem(self):
        return self.problems[0] if self.problems else None

    def as_dict(self):
        return {
            "ok": self.ok,
            "records": self.records,
            "head": self.state.as_dict(),
            "problems": [problem.as_dict() for problem in self.problems],
        }


def _peek_seq(line):
    try:
        record = json.loads(_decode(line))
        seq = record.get("seq") if isinstance(record, dict) else None
        return seq if isinstance(seq, int) and not isinstance(seq, bool) else None
    except ValueError:
        match = _SEQ_PEEK.search(_decode(line))
        return int(match.group(1)) if match else None


def _find_later(lines_iter, first_lineno, wanted):
    """Line number of the first later line holding ``seq == wanted`` (consumes the iterator)."""
    for offset, line in enumerate(lines_iter):
        if _peek_seq(line) == wanted:
            return first_lineno + offset
    return None


def _parse_anchor(anchor):
    if anchor is None or isinstance(anchor, tuple):
        return anchor
    seq, sep, digest = str(anchor).partition(":")
    if not sep or not seq.isdigit() or not _HEX64.match(digest):
        raise ChainError("anchor %r must look like SEQ:HASH (a positive integer, ':', 64 lowercase hex digits)" % anchor)
    return int(seq), digest


def verify_lines(lines, anchor=None, all_problems=False):
    """Verify an iterable of stored lines (bytes or str) and return a ``VerifyResult``.

    Stops at the first problem unless ``all_problems``: then it re-synchronizes on each record and
    goes on (the line-number lookahead for ``reordered`` is skipped in that mode).
    ``anchor`` is ``(seq, hash)`` or ``"SEQ:HASH"``: the record with that ``seq`` must exist and
    carry that ``hash``, which catches a truncated or wholly rewritten tail.
    """
    anchor = _parse_anchor(anchor)
    state = ChainState()
    problems = []
    records = 0
    lines_iter = iter(lines)
    lineno = 0
    anchor_seen = False
    for line in lines_iter:
        lineno += 1
        problem = None
        try:
            record = parse_record(line)
        except ValueError as exc:
            problems.append(Problem("bad_json", lineno, "line %d is not a chain record: %s" % (lineno, exc)))
            if not all_problems:
                break
            continue
        records += 1
        seq = record["seq"]
        expected = state.seq + 1
        if record_hash(record) != record["hash"]:
            problem = Problem("altered", lineno, "record seq %d at line %d does not match its hash: its content was changed" % (seq, lineno), seq)
        elif seq == expected and record["prev"] != state.head:
            if seq == 1:
                detail = "the first record must have prev = %s" % GENESIS
            else:
                detail = "prev %s... is not the hash %s... of seq %d: a record before it was rewritten or replaced" % (
                    record["prev"][:12], state.head[:12], state.seq)
            problem = Problem("broken_link", lineno, "record seq %d at line %d does not link to its predecessor: %s" % (seq, lineno, detail), seq)
        elif seq < expected:
            problem = Problem("duplicate", lineno, "record seq %d at line %d repeats a sequence number already used before it (last was %d)" % (
                seq, lineno, state.seq), seq)
        elif seq > expected:
            later = None if all_problems else _find_later(lines_iter, lineno + 1, expected)
            if later is not None:
                problem = Problem("reordered", lineno, "record seq %d at line %d comes before seq %d, found later at line %d: records were reordered" % (
                    seq, lineno, expected, later), seq)
            else:
                gap = "seq %d" % expected if seq - 1 == expected else "seq %d to %d" % (expected, seq - 1)
                problem = Problem("missing", lineno, "%s missing before line %d (which holds seq %d): records were deleted" % (gap, lineno, seq), seq)
        if problem is None and anchor is not None and seq == anchor[0]:
            anchor_seen = True
            if record["hash"] != anchor[1]:
                problem = Problem("anchor_mismatch", lineno, "record seq %d at line %d has hash %s..., the anchor says %s...: the chain was rewritten" % (
                    seq, lineno, record["hash"][:12], anchor[1][:12]), seq)
        if problem is not None:
            problems.append(problem)
            if not all_problems:
                break
        state.seq = seq
        state.head = record["hash"]
    if anchor is not None and not anchor_seen and (all_problems or not problems) and anchor[0] > state.seq:
        problems.append(Problem("truncated", lineno, "the anchor names seq %d but the chain ends at seq %d (line %d): records were removed from the end" % (
            anchor[0], state.seq, lineno), anchor[0]))
    return VerifyResult(records, state, problems)


def verify_file(path, anchor=None, all_problems=False):
    """Verify the chain file at ``path`` (``-`` reads stdin); an unreadable file is a problem too."""
    if path == "-":
        stream = getattr(sys.stdin, "buffer", sys.stdin)
        return verify_lines(stream, anchor=anchor, all_problems=all_problems)
    try:
        with open(path, "rb") as handle:
            return verify_lines(handle, anchor=anchor, all_problems=all_problems)
    except (IOError, OSError) as exc:
        return VerifyResult(0, ChainState(), [Problem("unreadable", 0, "cannot read %s: %s" % (path, exc))])


def _read_tail_state(fd, size):
    """Find the last valid record of an open file by reading backwards from ``size``."""
    end = size
    carry = b""
    chunk_size = 4096  # a record is well under this; grow for long lines or trailing garbage
    while end > 0:
        start = max(0, end - chunk_size)
        chunk_size = min(chunk_size * 4, _TAIL_CHUNK)
        chunk = os.pread(fd, end - start, start) + carry
        parts = chunk.split(b"\n")
        # parts[0] may be cut at the chunk boundary unless we reached the start of the file.
        carry = parts[0] if start > 0 else b""
        candidates = parts[1:] if start > 0 else parts
        for line in reversed(candidates):
            if not line.strip():
                continue
            try:
                record = parse_record(line)
            except ValueError:
                continue  # a torn or foreign line: verify reports it, the chain resumes before it
            return ChainState(record["seq"], record["hash"])
        end = start
    return ChainState()


# Per-process cache: path -> (device, inode, size, ChainState); skips the tail read when the file
# is exactly as this process left it (still checked under the lock).
_STATE_CACHE = {}


def head_state(path):
    """The ``ChainState`` at the end of the chain file ``path`` (empty chain if it does not exist)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return ChainState()
        raise
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        return _read_tail_state(fd, os.fstat(fd).st_size)
    finally:
        os.close(fd)


def append_records(path, payloads, mode=0o600, fsync=False, dir_mode=0o700):
    """Append ``payloads`` (dicts) as chained records to ``path``; return the sealed records.

    The file is created with ``mode`` (and tightened back to it if it is wider); missing parent
    directories are created with ``dir_mode``. The chain resumes from the file's last valid record,
    read under an exclusive ``flock`` so concurrent writers stay on one chain.
    """
    payloads = list(payloads)
    if not payloads:
        return []
    parent = os.path.dirname(path)
    if parent and not os.path.isdir(parent):
        os.makedirs(parent, dir_mode)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        info = os.fstat(fd)
        if stat.S_IMODE(info.st_mode) & ~mode:
            os.fchmod(fd, mode)
        cached = _STATE_CACHE.get(path)
        if cached is not None and cached[:3] == (info.st_dev, info.st_ino, info.st_size):
            state = ChainState(cached[3].seq, cached[3].head)
        else:
            rfd = os.open(path, os.O_RDONLY)
            try:
                state = _read_tail_state(rfd, info.st_size)
                torn = info.st_size > 0 and os.pread(rfd, 1, info.st_size - 1) != b"\n"
            finally:
                os.close(rfd)
            if torn:  # a writer died mid-line: keep its bytes (verify flags them), start a new line
                os.write(fd, b"\n")
        records = []
        data = []
        for payload in payloads:
            record, line = seal(payload, state)
            records.append(record)
            data.append(line)
        blob = b"".join(data)
        written = 0
        while written < len(blob):
            written += os.write(fd, blob[written:])
        if fsync:
            os.fsync(fd)
        info = os.fstat(fd)
        _STATE_CACHE[path] = (info.st_dev, info.st_ino, info.st_size, ChainState(state.seq, state.head))
        return records
    finally:
        os.close(fd)  # also releases the flock


def safe_path_part(value, default="unknown"):
    """Make a host or source name safe as one path component (no '/', no leading dot)."""
    cleaned = _PATH_UNSAFE.sub("_", str(value or "")).lstrip(".")[:200]
    return cleaned or default


def collector_payload(line, source, host, fmt="text", host_key="hostname", now=None):
    """Turn one received line into ``(host, payload)`` for the collector's per-host chain.

    ``fmt='text'``: the line is kept verbatim as ``msg`` and ``host`` is the given one.
    ``fmt='json'``: the line is a JSON object (e.g. rsyslog's ``%jsonmesg%``), kept as ``event``;
    the host comes from its ``host_key`` field. A line that is not JSON is still kept, as ``msg``
    with ``malformed: true``: a collector never drops what it received.
    """
    text = _decode(line)
    if text.endswith("\n"):
        text = text[:-1]
    stamp = (now or datetime.datetime.now(_UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    payload = {"received": stamp, "source": source}
    if fmt == "json":
        try:
            event = json.loads(text)
        except ValueError:
            event = None
        if isinstance(event, dict):
            host = event.get(host_key) or host
            payload["event"] = event
        else:
            payload["msg"] = text
            payload["malformed"] = True
    else:
        payload["msg"] = text
    payload["host"] = str(host or "unknown")
    return payload["host"], payload


def retransmit_key(payload):
    """Identity of a received event for spotting retransmissions, or ``None`` when it has none.

    RELP and omprog deliver at least once: when a collector stops between storing a batch and
    acknowledging it, the sender sends the batch again after the restart. A retransmitted event
    is byte-identical as sent (same ``rawmsg``: the sender's timestamp to the microsecond, host,
    tag and text), while its reception fields (``timegenerated``, ``uuid``) are new. Only JSON
    events that carry the sender's own timestamp get a key; plain text lines never do, so two
    identical text lines are both kept.
    """
    event = payload.get("event")
    if not isinstance(event, dict):
        return None
    raw = event.get("rawmsg")
    if isinstance(raw, str) and raw:
        basis = ["raw", payload.get("host"), raw]
    elif event.get("timereported"):
        basis = ["fields", payload.get("host")] + [event.get(k) for k in ("timereported", "syslogtag", "structured-data", "msg")]
    else:
        return None
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode("utf-8")).digest()


class RecentEvents:
    """The keys of the last ``window`` events stored in each chain file, to drop retransmissions.

    The first time a file is seen (e.g. after a collector restart) its tail is read back, so a
    batch sent again after the restart is still recognised.
    """

    def __init__(self, window=10000):
        self.window = window
        self._files = {}

    def _load(self, path):
        keys = collections.deque()
        try:
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                start = max(0, size - self.window * 4096)
                handle.seek(start)
                if start:
                    handle.readline()  # probably cut in the middle
                for line in handle:
                    try:
                        record = json.loads(_decode(line))
                    except ValueError:
                        continue
                    key = retransmit_key(record) if isinstance(record, dict) else None
                    if key is not None:
                        keys.append(key)
                        if len(keys) > self.window:
                            keys.popleft()
        except (IOError, OSError) as exc:
            if exc.errno != errno.ENOENT:
                raise
        return [keys, set(keys)]

    def _entry(self, path):
        entry = self._files.get(path)
        if entry is None:
            entry = self._files[path] = self._load(path)
        return entry

    def seen(self, path, payload):
        """True when ``payload`` repeats one of the last events stored in ``path``."""
        key = retransmit_key(payload) if self.window > 0 else None
        return key is not None and key in self._entry(path)[1]

    def remember(self, path, payload):
        """Record ``payload`` as stored in ``path`` (call after the append succeeded)."""
        key = retransmit_key(payload) if self.window > 0 else None
        if key is None:
            return
        keys, members = self._entry(path)
        keys.append(key)
        members.add(key)
        if len(keys) > self.window:
            members.discard(keys.popleft())


def _cmd_verify(args, out):
    failed = False
    for path in args.files:
        try:
            result = verify_file(path, anchor=args.anchor, all_problems=args.all)
        except ChainError as exc:
            out.write("%s: %s\n" % (path, exc))
            return 2
        if args.json:
            data = result.as_dict()
            data["file"] = path
            out.write(json.dumps(data, sort_keys=True) + "\n")
        elif result.ok:
            out.write("%s: OK, %d records, head seq %d hash %s\n" % (path, result.records, result.state.seq, result.state.head))
        else:
            for problem in result.problems:
                out.write("%s:%d: %s: %s\n" % (path, problem.line, problem.kind, problem.message))
        failed = failed or not result.ok
    return 1 if failed else 0


def _cmd_head(args, out):
    for path in args.files:
        state = head_state(path)
        out.write("%s: %d:%s\n" % (path, state.seq, state.head))
    return 0


def _cmd_append(args, out, stdin):
    def confirm():
        if args.confirm:
            out.write("OK\n")
            out.flush()

    confirm()  # omprog (confirmMessages="on") waits for this before sending the first line
    source = safe_path_part(args.source, "default")
    recent = RecentEvents(args.dedup_window)
    for raw in stdin:
        host, payload = collector_payload(raw, args.source, args.host, fmt=args.format, host_key=args.host_key)
        path = args.out.replace("{source}", source).replace("{host}", safe_path_part(host))
        try:
            if recent.seen(path, payload):
                # stored already: a retransmission after a restart (RELP/omprog deliver at least once)
                sys.stderr.write("sovereign-audit-chain: %s: dropped a retransmitted copy of an event already stored\n" % path)
            else:
                append_records(path, [payload], mode=int(args.mode, 8), fsync=not args.no_fsync, dir_mode=int(args.dir_mode, 8))
                recent.remember(path, payload)
        except (IOError, OSError, ChainError) as exc:
            # no OK for this line: omprog keeps it queued and restarts us
            sys.stderr.write("sovereign-audit-chain: cannot append to %s: %s\n" % (path, exc))
            return 1
        confirm()
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="sovereign-audit-chain",
        description="Append to and verify sovereign.cluster tamper-evident audit chains (JSON lines).")
    sub = parser.add_subparsers(dest="command")
    verify = sub.add_parser("verify", help="check chain files; exit 0 when intact, 1 at the first altered, missing or reordered record")
    verify.add_argument("files", nargs="+", metavar="FILE", help="chain file(s), '-' for stdin")
    verify.add_argument("--anchor", help="SEQ:HASH kept elsewhere (see 'head'): that record must still be there, unchanged")
    verify.add_argument("--all", action="store_true", help="report every problem, not only the first")
    verify.add_argument("--json", action="store_true", help="one JSON object per file")
    head = sub.add_parser("head", help="print SEQ:HASH of the last record, to keep as an anchor")
    head.add_argument("files", nargs="+", metavar="FILE")
    append = sub.add_parser("append", help="append one chained record per stdin line (rsyslog omprog)")
    append.add_argument("--out", required=True, help="file to append to; {source} and {host} are filled in per line")
    append.add_argument("--source", default="default", help="log source name (auditd, openbao, kube-apiserver, vcluster, ansible)")
    append.add_argument("--host", default="unknown", help="host name for text lines and JSON lines without one")
    append.add_argument("--format", choices=("text", "json"), default="text", help="text: keep each line as msg; json: each line is a JSON object")
    append.add_argument("--host-key", default="hostname", help="field of a JSON line that names the sending host")
    append.add_argument("--mode", default="0640", help="octal mode of new chain files")
    append.add_argument("--dir-mode", default="0750", help="octal mode of new directories")
    append.add_argument("--confirm", action="store_true", help="print OK after start and after each stored line (omprog confirmMessages)")
    append.add_argument("--dedup-window", type=int, default=10000,
                        help="drop an event identical as sent (sender timestamp, host, tag, text) to one of the last N "
                             "stored in the same chain: a retransmission; 0 keeps every copy")
    append.add_argument("--no-fsync", action="store_true", help="do not fsync after each line (faster, may lose the last lines on power loss)")
    return parser


def main(argv=None, stdin=None, out=None):
    """Command line entry point; returns the exit status (0 intact, 1 problem, 2 usage error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    out = sys.stdout if out is None else out
    if args.command == "verify":
        return _cmd_verify(args, out)
    if args.command == "head":
        return _cmd_head(args, out)
    if args.command == "append":
        for name in ("mode", "dir_mode"):
            if not re.match(r"^0?[0-7]{3}$", getattr(args, name)):
                parser.error("--%s %r must be an octal mode such as 0640" % (name.replace("_", "-"), getattr(args, name)))
        if stdin is None:
            stdin = getattr(sys.stdin, "buffer", sys.stdin)
        return _cmd_append(args, out, stdin)
    parser.print_help(out)
    return 2


if __name__ == "__main__":
    sys.exit(main())  # pylint: disable=ansible-bad-function  # a command-line entry point, not a module
