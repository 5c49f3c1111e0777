"""Read a collector chain file and report, for the events of one run, how many arrived, whether each
number 1..EXPECTED is there exactly once, and whether they are in order."""
import argparse
import json
import re

parser = argparse.ArgumentParser()
parser.add_argument("path")
parser.add_argument("--run", required=True)
parser.add_argument("--expected", type=int, required=True)
args = parser.parse_args()

run_re = re.compile(r'"run": ?"%s"' % re.escape(args.run))
n_re = re.compile(r'"n": ?(\d+)')
numbers = []
try:
    with open(args.path, encoding="utf-8") as handle:
        for line in handle:
            msg = json.loads(line).get("event", {}).get("msg", "")
            if run_re.search(msg):
                numbers.append(int(n_re.search(msg).group(1)))
except FileNotFoundError:
    pass
seen, dups = set(), []
for n in numbers:
    if n in seen:
        dups.append(n)
    seen.add(n)
missing = [n for n in range(1, args.expected + 1) if n not in seen]
print(json.dumps({
    "count": len(numbers),
    "unique": len(seen),
    "duplicates": dups[:20],
    "missing": missing[:20],
    "missing_count": len(missing),
    "in_order": numbers == sorted(numbers),
    "exact": numbers == list(range(1, args.expected + 1)),
}))
