"""Time the MIG planner over every H100 layout: each feasible one must plan in < 10 ms.

Every combination of profile counts up to each profile's maximum is tried (from an empty GPU with
MIG enabled); the planner either plans it or refuses it. Prints the accepted/refused counts and the
planning time of the accepted layouts (max, mean, p99), and exits 1 if any exceeds the target.

    python benchmarks/bench_mig_planner.py [--capture DIR] [--target-ms 10] [--repeat 3]

DIR defaults to ../shared/fixtures/nvidia-smi/h100-80gb-hbm3-mig-disabled (or $SOVEREIGN_SHARED).
"""
import argparse
import importlib.util
import itertools
import os
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SOVEREIGN_SHARED", REPO.parent / "shared"))


def load_mig():
    # mig.py is stdlib-only: load it by path so the benchmark needs no collection install
    spec = importlib.util.spec_from_file_location("mig", REPO / "plugins" / "module_utils" / "mig.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_gpu(mig, capture):
    text = (capture / "mig.txt").read_text()

    def section(title):
        return re.search(r"^### %s\n(.*?)^rc=" % re.escape(title), text, re.M | re.S).group(1)

    gpu = mig.build_gpu_states(
        mig.parse_query_csv((capture / "query.csv").read_text()), mig.parse_smi_xml((capture / "smi-q.xml").read_text()),
        mig.parse_lgip(section("nvidia-smi mig -lgip")), mig.parse_lgipp(section("nvidia-smi mig -lgipp")), {}, {})[0]
    return dict(gpu, mig_current="Enabled", mig_pending="Enabled")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capture", type=Path, default=SHARED / "fixtures" / "nvidia-smi" / "h100-80gb-hbm3-mig-disabled")
    parser.add_argument("--target-ms", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3, help="best of N timings per layout")
    args = parser.parse_args()

    mig = load_mig()
    gpu = load_gpu(mig, args.capture)
    names = list(gpu["profiles"])
    ranges = [range(gpu["profiles"][n]["max_count"] + 1) for n in names]
    accepted, refused, timings, refusal_timings = 0, 0, [], []
    slowest = (0.0, None)
    for counts in itertools.product(*ranges):
        layout = dict((n, c) for n, c in zip(names, counts) if c)
        if not layout:
            continue
        best = None
        ok = True
        for _attempt in range(args.repeat):
            start = time.perf_counter()
            try:
                plan = mig.plan_gpu(gpu, layout)
            except mig.MigLayoutError:
                ok = False
            elapsed = (time.perf_counter() - start) * 1000.0
            best = elapsed if best is None else min(best, elapsed)
        if not ok:
            refused += 1
            refusal_timings.append(best)
            continue
        if mig.validate_plan(plan, gpu):
            print("INVALID PLAN for %s: %s" % (layout, mig.validate_plan(plan, gpu)))
            return 1
        accepted += 1
        timings.append(best)
        if best > slowest[0]:
            slowest = (best, layout)
    timings.sort()
    p99 = timings[int(len(timings) * 0.99) - 1] if timings else 0.0
    print("GPU: %s (profiles: %s)" % (gpu["name"], ", ".join(names)))
    print("layouts tried: %d, accepted: %d, refused: %d" % (accepted + refused, accepted, refused))
    print("planning time of accepted layouts: max %.3f ms, mean %.3f ms, p99 %.3f ms (target < %.1f ms each)" % (
        timings[-1], sum(timings) / len(timings), p99, args.target_ms))
    print("slowest: %s" % (slowest[1],))
    if refusal_timings:
        print("refusal time: max %.3f ms, mean %.3f ms" % (max(refusal_timings),
                                                           sum(refusal_timings) / len(refusal_timings)))
    over = [t for t in timings if t >= args.target_ms]
    if over:
        print("FAIL: %d layout(s) at or above %.1f ms" % (len(over), args.target_ms))
        return 1
    print("OK: every feasible layout planned in < %.1f ms" % args.target_ms)
    return 0


if __name__ == "__main__":
    sys.exit(main())
