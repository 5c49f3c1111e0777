# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Audit forwarding benchmark: two podman containers from the molecule/audit_forwarding scenario
(a sender and a collector, RELP+TLS, disk-assisted queues, hash-chained store with fsync per record).

Prints
  * events per second through the whole TLS pipeline (file on the sender -> imfile -> RELP/TLS ->
    collector -> omprog -> sovereign-audit-chain append), for a burst of --events lines;
  * the time to drain the backlog after a --outage seconds collector outage during which
    --backlog events were written on the sender.

It brings the scenario up with `molecule create/converge -s audit_forwarding` and destroys it at the
end (--keep leaves it up; --no-create reuses running containers).

    .venv/bin/python benchmarks/bench_audit_forwarding.py [--events 20000] [--backlog 10000] [--outage 30]
"""
import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SENDER, COLLECTOR = "audit-sender1", "audit-collector1"
SOURCE_FILE = "/var/log/openbao/audit.log"
CHAIN = "/var/log/sovereign/openbao/%s.jsonl" % SENDER
GENERATOR = REPO / "molecule" / "audit_forwarding" / "files" / "generate_events.py"


def env():
    home = os.environ.get("BENCH_HOME", "/tmp/molhome-audit-bench")
    os.makedirs(home, exist_ok=True)
    path = "%s:%s" % (REPO / ".venv" / "bin", os.environ.get("PATH", ""))
    return dict(os.environ, PATH=path, HOME=home, CONTAINERS_CONF=str(REPO / "lab" / "containers.conf"),
                ANSIBLE_NOCOLOR="1", NO_COLOR="1", PY_COLORS="0")


def run(cmd, check=True, quiet=False):
    proc = subprocess.run(cmd, cwd=REPO, env=env(), text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    if check and proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:])
        raise SystemExit("command failed (%d): %s" % (proc.returncode, " ".join(cmd)))
    if not quiet and proc.returncode != 0:
        sys.stderr.write(proc.stdout[-2000:])
    return proc.stdout


def podman_exec(container, *args, check=True):
    return run(["podman", "exec", container] + list(args), check=check, quiet=not check)


def stored(run_id):
    out = podman_exec(COLLECTOR, "sh", "-c", "grep -c '%s' %s || true" % (run_id, CHAIN), check=False)
    try:
        return int(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return 0


def wait_stored(run_id, count, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stored(run_id) >= count:
            return time.monotonic()
        time.sleep(0.25)
    raise SystemExit("only %d of %d events of run %s stored after %ds" % (stored(run_id), count, run_id, timeout))


def generate(run_id, count, rate=1e9):
    podman_exec(SENDER, "python3", "/usr/local/bin/sovereign-test-events", SOURCE_FILE, "--run", run_id,
                "--count", str(count), "--rate", str(rate))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000, help="burst size for the throughput figure")
    parser.add_argument("--backlog", type=int, default=10000, help="events written while the collector is down")
    parser.add_argument("--outage", type=int, default=30, help="seconds the collector stays down")
    parser.add_argument("--keep", action="store_true", help="leave the containers up")
    parser.add_argument("--no-create", action="store_true", help="reuse running containers (no create/converge)")
    args = parser.parse_args()

    if not args.no_create:
        t0 = time.monotonic()
        run(["molecule", "create", "-s", "audit_forwarding"])
        run(["molecule", "converge", "-s", "audit_forwarding"])
        print("scenario up (create + converge): %.1f s" % (time.monotonic() - t0))
    try:
        run(["podman", "cp", str(GENERATOR), "%s:/usr/local/bin/sovereign-test-events" % SENDER])
        stamp = str(time.time_ns())

        # 1. Throughput: a burst written as fast as the generator can, timed until the last one is chained.
        burst = "burst-" + stamp
        t0 = time.monotonic()
        generate(burst, args.events)
        written = time.monotonic()
        done = wait_stored(burst, args.events, timeout=600)
        print("throughput: %d events in %.2f s through RELP+TLS into the hash chain = %.0f events/s (written in %.2f s)" % (
            args.events, done - t0, args.events / (done - t0), written - t0))

        # 2. Outage: collector down, backlog queued on the sender's disk-assisted queue, then drained.
        backlog = "outage-" + stamp
        podman_exec(COLLECTOR, "systemctl", "stop", "syslog.socket", "rsyslog.service")
        down = time.monotonic()
        generate(backlog, args.backlog)
        time.sleep(max(0.0, args.outage - (time.monotonic() - down)))
        before = stored(backlog)
        podman_exec(COLLECTOR, "systemctl", "start", "rsyslog.service", "syslog.socket")
        up = time.monotonic()
        done = wait_stored(backlog, args.backlog, timeout=600)
        print("drain: %d events queued during a %d s outage (%d stored before restart) drained in %.2f s after restart = %.0f events/s" % (
            args.backlog, args.outage, before, done - up, args.backlog / (done - up)))
        exact = podman_exec(COLLECTOR, "sh", "-c", "grep -c '%s' %s" % (backlog, CHAIN)).strip()
        verify = podman_exec(COLLECTOR, "sovereign-audit-chain", "verify", CHAIN).strip()
        print("stored exactly: %s of %d; %s" % (exact, args.backlog, verify))
    finally:
        if not args.keep:
            run(["molecule", "destroy", "-s", "audit_forwarding"], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
