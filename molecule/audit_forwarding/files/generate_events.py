"""Append COUNT numbered audit events to PATH at about RATE lines/s (one JSON object per line),
as an OpenBao file audit device would; and, with --syslog-every K, send every K-th number also to
syslog as the Ansible audit trail does (ident sovereign-audit-trail, facility local5)."""
import argparse
import json
import os
import syslog
import time

parser = argparse.ArgumentParser()
parser.add_argument("path")
parser.add_argument("--run", required=True)
parser.add_argument("--count", type=int, default=10000)
parser.add_argument("--rate", type=float, default=800.0)
parser.add_argument("--syslog-every", type=int, default=0)
args = parser.parse_args()

os.makedirs(os.path.dirname(args.path), exist_ok=True)
syslog.openlog("sovereign-audit-trail", 0, syslog.LOG_LOCAL5)
start = time.monotonic()
with open(args.path, "a", encoding="ascii") as handle:
    for n in range(1, args.count + 1):
        handle.write(json.dumps({"type": "request", "run": args.run, "n": n}) + "\n")
        if args.syslog_every and n % args.syslog_every == 0:
            syslog.syslog(syslog.LOG_INFO, json.dumps({"kind": "task", "run": args.run, "n": n // args.syslog_every}))
        if n % 50 == 0:
            handle.flush()
            ahead = n / args.rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
print(json.dumps({"written": args.count, "seconds": round(time.monotonic() - start, 3)}))
