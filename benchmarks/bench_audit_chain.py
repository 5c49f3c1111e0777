"""Throughput of the audit hash chain: records/s for append and verify, printed.

    .venv/bin/python benchmarks/bench_audit_chain.py [--records 20000]

``append, one call per record`` is how the audit_trail callback and the collector's
``sovereign-audit-chain append`` write (open, flock, resume, write, close for every record);
``batch`` is one call for all records; ``fsync`` adds a flush to disk per record (the collector's
default). ``verify`` re-hashes every record and checks every link.
"""
import argparse
import importlib.util
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, os.pardir, "plugins", "module_utils", "audit_chain.py")


def load_chain():
    spec = importlib.util.spec_from_file_location("audit_chain", SOURCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def payload(number):
    # about the size of an audit_trail task record (~600 bytes once sealed)
    return {
        "v": 1, "kind": "task", "event": "runner_on_ok", "time": "2025-01-01T00:00:00.%06dZ" % (number % 1000000),
        "run_id": "5f0c3c1e9a7b4d2e8f6a1b2c3d4e5f60", "controller_user": "ops", "controller_host": "bastion-01",
        "playbook": "/srv/sovereign/playbooks/site.yml", "play": "Harden hosts", "host": "gpu-node-%03d" % (number % 200),
        "task": "Configure sshd (R28)", "task_path": "/srv/sovereign/roles/hardening/tasks/sshd.yml:12",
        "action": "ansible.builtin.template", "status": "ok", "changed": number % 3 == 0, "failed": False,
        "diff_sha256": "%064x" % number,
    }


def rate(count, seconds):
    return count / seconds if seconds > 0 else float("inf")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--fsync-records", type=int, default=2000, help="records for the fsync case (slow on real disks)")
    args = parser.parse_args()
    chain = load_chain()
    payloads = [payload(n) for n in range(args.records)]
    print("python %s, %d records" % (sys.version.split()[0], args.records))
    with tempfile.TemporaryDirectory() as tmp:
        per_record = os.path.join(tmp, "per-record.jsonl")
        start = time.perf_counter()
        for item in payloads:
            chain.append_records(per_record, [item])
        elapsed = time.perf_counter() - start
        print("append, one call per record : %10.0f records/s" % rate(len(payloads), elapsed))

        chain._STATE_CACHE.clear()
        cold = os.path.join(tmp, "cold.jsonl")
        chain.append_records(cold, payloads[:1])
        start = time.perf_counter()
        for item in payloads[1:2001]:
            chain._STATE_CACHE.clear()  # as if another process wrote last: resume from the file's tail
            chain.append_records(cold, [item])
        print("append, resume from tail    : %10.0f records/s" % rate(2000, time.perf_counter() - start))

        batch = os.path.join(tmp, "batch.jsonl")
        start = time.perf_counter()
        chain.append_records(batch, payloads)
        print("append, one batch           : %10.0f records/s" % rate(len(payloads), time.perf_counter() - start))

        synced = os.path.join(tmp, "fsync.jsonl")
        start = time.perf_counter()
        for item in payloads[:args.fsync_records]:
            chain.append_records(synced, [item], fsync=True)
        print("append, per record + fsync  : %10.0f records/s (%d records, %s)" % (
            rate(args.fsync_records, time.perf_counter() - start), args.fsync_records, tmp))

        size = os.path.getsize(per_record)
        start = time.perf_counter()
        result = chain.verify_file(per_record)
        elapsed = time.perf_counter() - start
        assert result.ok and result.records == len(payloads), result.problems
        print("verify                      : %10.0f records/s (%.1f MB/s, %d bytes/record)" % (
            rate(result.records, elapsed), size / elapsed / 1e6, size // result.records))


if __name__ == "__main__":
    main()
