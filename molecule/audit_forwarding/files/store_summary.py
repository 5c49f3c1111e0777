"""Summarise the events of one run in a collector chain file: how many arrived, the highest number
seen, the numbers lost (as ranges) and stored more than once, whether they are in order, and, given
the outage window (epoch seconds), when the stream ran and when each gap began relative to it
(from the sender's timestamps). For measuring a transport: nothing is asserted here."""
import argparse
import datetime
import json
import re

parser = argparse.ArgumentParser()
parser.add_argument("path")
parser.add_argument("--run", required=True)
parser.add_argument("--expected", type=int, required=True)
parser.add_argument("--outage-from", type=float, default=0.0)
parser.add_argument("--outage-to", type=float, default=0.0)
args = parser.parse_args()

run_re = re.compile(r'"run": ?"%s"' % re.escape(args.run))
n_re = re.compile(r'"n": ?(\d+)')
numbers, sent_at = [], {}
try:
    with open(args.path, encoding="utf-8") as handle:
        for line in handle:
            event = json.loads(line).get("event", {})
            msg = event.get("msg", "")
            if run_re.search(msg):
                n = int(n_re.search(msg).group(1))
                numbers.append(n)
                if event.get("timereported"):
                    sent_at.setdefault(n, datetime.datetime.fromisoformat(event["timereported"]).timestamp())
except FileNotFoundError:
    pass


def since_outage(n):
    return round(sent_at[n] - args.outage_from, 2) if n in sent_at and args.outage_from else None


seen, duplicates = set(), []
for n in numbers:
    if n in seen:
        duplicates.append(n)
    seen.add(n)
lost_ranges, start = [], None
for n in range(1, args.expected + 2):
    if n <= args.expected and n not in seen:
        start = n if start is None else start
    elif start is not None:
        lost_ranges.append({"first": start, "last": n - 1, "previous_sent_s": since_outage(start - 1)})
        start = None
print(json.dumps({
    "count": len(numbers),
    "unique": len(seen),
    "first": min(numbers) if numbers else 0,
    "last": max(numbers) if numbers else 0,
    "lost_count": sum(r["last"] - r["first"] + 1 for r in lost_ranges),
    "lost_ranges": lost_ranges[:10],
    "duplicate_count": len(duplicates),
    "duplicates": duplicates[:20],
    "in_order": numbers == sorted(numbers),
    "outage_s": round(args.outage_to - args.outage_from, 1),
    "stream_s": [since_outage(min(seen)), since_outage(max(seen))] if seen else None,
    "sent_during_outage": sum(1 for t in sent_at.values() if args.outage_from <= t <= args.outage_to),
}))
