"""Benchmark: ANSSI-BP-028 compliance of sovereign.cluster.hardening next to ComplianceAsCode's remediation.

Each variant gets a fresh throw-away VM from the lab's cached Debian 12 base image (lab/lab.py vm-start /
vm-stop), one VM at a time:

    baseline : nothing applied
    role     : sovereign.cluster.hardening with its defaults (level intermediary), run twice
    cac      : the Ansible remediation ComplianceAsCode generates from the same datastream
               (oscap xccdf generate fix --fix-type ansible --profile ..._anssi_bp28_intermediary), run twice

For each variant: OpenSCAP results of the ANSSI-BP-028 intermediary and enhanced profiles, scanned INSIDE
the VM (openscap-scanner from the Debian mirror, linux-base and dbus present), first and second run wall
seconds and changed counts, whether SSH still answers afterwards, and net.ipv4.ip_forward. With
`--profile-node k8s` the role runs on a Kubernetes node (inventory groups k8s_cluster + control_plane) and
every failing rule is matched against the role's deviation record.

The datastream is trixie's `ssg-debian` package (Debian 12 content), fetched with a private apt configuration
(the machine's apt sources are never touched) and cached unpacked under $SOVEREIGN_CACHE/ssg/.
OpenSCAP and every remediation run only inside the VMs. VMs run under TCG emulation: a scan takes about
5 minutes, the role about 15, the CaC remediation more than 30.

    .venv/bin/python benchmarks/bench_hardening.py [--variants baseline,role,cac] [--profile-node k8s]
"""
import argparse
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import importlib.util
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def _load_lab():
    """lab/lab.py as a module (its VM functions are reused, not copied); loaded by path because the
    directory lab/ would otherwise shadow it as a namespace package."""
    spec = importlib.util.spec_from_file_location("sovereign_lab", REPO / "lab" / "lab.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lab = _load_lab()

PROFILE_PREFIX = "xccdf_org.ssgproject.content_profile_anssi_bp28_"
SCAN_LEVELS = ("intermediary", "enhanced")
VARIANTS = ("baseline", "role", "cac")
NODE_PROFILES = {"none": [], "k8s": ["k8s_cluster", "control_plane"]}
# Modules a node of the profile must have loaded after a boot (the role writes them to /etc/modules-load.d).
NODE_MODULES = {"none": [], "k8s": ["br_netfilter", "overlay"]}
DATASTREAM_NAME = "ssg-debian12-ds.xml"
SSG_PACKAGE = "ssg-debian"
SSG_SUITE = "trixie"
SSG_DIR = lab.CACHE / "ssg"
OUT_DIR = REPO / "build" / "bench"
VM_NAME = "bench-hardening"
VM_BENCH_DIR = "/root/bench"
# The role requires the site's NTP servers (no default points outside the site); the name need not resolve.
ROLE_VARS = {"hardening_chrony_servers": ["ntp1.site.internal"]}
# Every VM gets a named administrator (key from root's, passwordless sudo), as a provisioned host has one.
# The role connects as this user with become, the way ANSSI R33 wants hosts administered, so it applies
# PermitRootLogin no; the ComplianceAsCode playbook is run as root, as generated. Scans and reads after the
# role go through this user too (root's SSH login is closed by then).
ADMIN_USER = "sovadmin"
RESULT_KINDS = ("pass", "fail", "notapplicable", "notchecked", "notselected", "error", "unknown",
                "informational", "fixed")
ANSSI_ID = re.compile(r"\bR\d+\b")
# ComplianceAsCode cites ANSSI-BP-028 v2.0 by its PDF on cyber.gouv.fr (formerly ssi.gouv.fr).
ANSSI_HREF = re.compile(r"(cyber|ssi)\.gouv\.fr")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] bench_hardening: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- parsing (pure, unit tested)
def _local(tag):
    return tag.rsplit("}", 1)[-1]


def parse_rule_results(xml_source):
    """Rule id -> result ('pass', 'fail', ...) of the first TestResult in an XCCDF results file or ARF report.

    xml_source: a path or a file object. Works for XCCDF 1.1 and 1.2 and for ARF (the TestResult nested in it).
    """
    results = {}
    test_results_seen = 0
    for event, elem in ET.iterparse(xml_source, events=("start", "end")):
        name = _local(elem.tag)
        if event == "start":
            if name == "TestResult":
                test_results_seen += 1
            continue
        if name == "rule-result" and test_results_seen == 1:
            outcome = next((child.text or "").strip() for child in elem if _local(child.tag) == "result")
            results[elem.get("idref")] = outcome
            elem.clear()
    if not test_results_seen:
        raise ValueError("no XCCDF TestResult element: not an XCCDF results file or ARF report")
    return results


def count_results(rule_results):
    """Counts per result kind (every known kind present, 0 when absent) plus 'total' of the rules in the profile."""
    counts = {kind: 0 for kind in RESULT_KINDS}
    for outcome in rule_results.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    counts["total"] = sum(n for kind, n in counts.items() if kind != "notselected")
    return counts


def parse_anssi_references(xml_source):
    """XCCDF rule id -> sorted ANSSI-BP-028 rule ids (R12, ...) from the references of the datastream's rules."""
    mapping = {}
    for _event, elem in ET.iterparse(xml_source, events=("end",)):
        if _local(elem.tag) != "Rule":
            continue
        ids = set()
        for child in elem:
            if _local(child.tag) == "reference" and ANSSI_HREF.search(child.get("href") or ""):
                ids.update(ANSSI_ID.findall(child.text or ""))
        if ids:
            mapping[elem.get("id")] = sorted(ids, key=lambda r: int(r[1:]))
        elem.clear()
    return mapping


def parse_recap(output):
    """Per-host counters of the PLAY RECAP of an ansible-playbook run (the last recap wins)."""
    recap = {}
    for line in output.splitlines():
        match = re.match(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", line.strip())
        if match:
            recap[match.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2))}
    return recap


def _names_rule(setting, short_rule):
    """Whether a deviation's setting names the XCCDF rule: the whole setting (net.ipv4.ip_forward in
    sysctl_net_ipv4_ip_forward) or its last word as a word of the rule id (sudo Defaults noexec, sudo_add_noexec)."""
    words = re.sub(r"[^a-z0-9]+", "_", setting.lower()).strip("_")
    if not words:
        return False
    return words in short_rule or words.rsplit("_", 1)[-1] in short_rule.split("_")


def match_deviations(rule_results, anssi_refs, deviations):
    """Failing XCCDF rules of a scan, each with its ANSSI ids and the recorded deviations for those ids.

    A deviation matches a failing rule when the rule cites the deviation's ANSSI id; "match" says "setting"
    when the deviation's setting also names the rule (see _names_rule); then only those deviations are listed,
    "anssi_rule" when only the ANSSI id is shared. Returns (explained, unexplained): lists of
    {"rule", "anssi", "deviations", "match"} dicts (match None when unexplained).
    """
    by_anssi = {}
    for dev in deviations:
        by_anssi.setdefault(dev.get("rule"), []).append(dev)
    explained, unexplained = [], []
    for rule, outcome in sorted(rule_results.items()):
        if outcome != "fail":
            continue
        anssi = anssi_refs.get(rule, [])
        devs = [d for r in anssi for d in by_anssi.get(r, [])]
        short = rule.rsplit("_rule_", 1)[-1]
        exact = [d for d in devs if _names_rule(str(d.get("setting", "")), short)]
        entry = {"rule": rule, "anssi": anssi,
                 "deviations": [f"{d.get('rule')} {d.get('setting')}" for d in (exact or devs)],
                 "match": ("setting" if exact else "anssi_rule") if devs else None}
        (explained if devs else unexplained).append(entry)
    return explained, unexplained


# ---------------------------------------------------------------------------- the datastream
def apt_private_options(root):
    """apt options that use only `root` for sources, lists and caches (never the machine's own apt sources)."""
    return ["-o", f"Dir::Etc::SourceList={root / 'sources.list'}",
            "-o", f"Dir::Etc::SourceParts={root / 'sources.list.d'}",
            "-o", f"Dir::State::Lists={root / 'lists'}",
            "-o", f"Dir::Cache={root / 'cache'}",
            "-o", "Debug::NoLocking=1",
            "-o", "APT::Get::List-Cleanup=0"]


def fetch_datastream(mirror):
    """Path of the cached ssg-debian12-ds.xml; downloads trixie's ssg-debian with a private apt setup when missing."""
    cached = sorted(SSG_DIR.glob(f"*/usr/share/xml/scap/ssg/content/{DATASTREAM_NAME}"))
    if cached:
        return cached[-1]
    SSG_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="apt-", dir=SSG_DIR) as tmp:
        root = Path(tmp)
        for sub in ("sources.list.d", "lists/partial", "cache/archives/partial"):
            (root / sub).mkdir(parents=True)
        (root / "sources.list").write_text(
            f"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {mirror} {SSG_SUITE} main\n")
        opts = apt_private_options(root)
        log(f"apt-get update ({SSG_SUITE}, private apt configuration in {root})")
        subprocess.run(["apt-get", "-q", *opts, "update"], check=True, capture_output=True, text=True)
        subprocess.run(["apt-get", "-q", *opts, "download", SSG_PACKAGE], check=True, cwd=root,
                       capture_output=True, text=True)
        deb = next(root.glob(f"{SSG_PACKAGE}_*.deb"))
        version = deb.name.split("_")[1]
        target = SSG_DIR / f"{SSG_PACKAGE}_{version}"
        unpack = Path(tempfile.mkdtemp(prefix="unpack-", dir=SSG_DIR))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(unpack)], check=True)
        shutil.copy(deb, unpack / deb.name)
        unpack.rename(target)
    log(f"cached {SSG_PACKAGE} {version} in {target}")
    return target / "usr/share/xml/scap/ssg/content" / DATASTREAM_NAME


# ---------------------------------------------------------------------------- the VM
class BenchVM:
    """One throw-away VM from the lab's cached base image, started and stopped with lab.py's vm-start / vm-stop."""

    def __init__(self, state_dir, memory):
        self.state_dir = Path(state_dir)
        self.port = lab.free_port()
        self.memory = memory
        self.key = self.state_dir / "id_ed25519"
        self.user = "root"

    def _args(self, **extra):
        return argparse.Namespace(name=VM_NAME, state_dir=str(self.state_dir), **extra)

    def __enter__(self):
        started = time.monotonic()
        try:
            # vm-start prints the instance as JSON on stdout; this script's stdout is the result table.
            with contextlib.redirect_stdout(sys.stderr):
                lab.cmd_vm_start(self._args(port=self.port, memory=self.memory))
        except BaseException:
            self.stop()
            raise
        self.boot_seconds = round(time.monotonic() - started, 1)
        return self

    def __exit__(self, *_exc):
        self.stop()

    def stop(self):
        lab.cmd_vm_stop(self._args())

    def ssh_base(self, tool="ssh"):
        port_flag = "-p" if tool == "ssh" else "-P"
        return [tool, "-i", str(self.key), port_flag, str(self.port), "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                "-o", "ConnectTimeout=20", "-o", "ServerAliveInterval=30", "-o", "ControlMaster=no"]

    def ssh(self, command, timeout=600, check=True):
        remote = command if self.user == "root" else "sudo -n sh -c " + shlex.quote(command)
        proc = subprocess.run([*self.ssh_base(), f"{self.user}@127.0.0.1", remote], capture_output=True, text=True,
                              timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise RuntimeError(f"in the VM, `{command}` failed (rc={proc.returncode}): {proc.stderr[-2000:]}")
        return proc

    def put(self, local, remote):
        subprocess.run([*self.ssh_base("scp"), str(local), f"root@127.0.0.1:{remote}"], check=True,
                       capture_output=True, timeout=600)

    def get(self, remote, local):
        """Copy a text file out of the VM through ssh() (as root, or with sudo once root's login is closed)."""
        Path(local).write_text(self.ssh("cat " + shlex.quote(remote)).stdout)

    def ssh_works(self):
        """A new SSH connection as the user the variant administers the VM with."""
        return lab.ssh_ok(self.port, self.key, self.user)


def reboot_and_read(vm, modules):
    """Reboot the VM (same qemu process: a guest reset) and read what must survive a boot: the forwarding
    sysctl, the modules a node needs (loaded from /etc/modules-load.d), the values vendor files used to reset."""
    started = time.monotonic()
    vm.ssh("systemctl reboot", check=False, timeout=60)
    time.sleep(10)
    deadline = time.monotonic() + 900
    while not vm.ssh_works():
        if time.monotonic() > deadline:
            raise RuntimeError("the VM did not answer SSH within 900 s of its reboot")
        time.sleep(5)
    seconds = round(time.monotonic() - started, 1)
    values = vm.ssh("sysctl -n net.ipv4.ip_forward fs.protected_fifos kernel.pid_max").stdout.split()
    loaded = set(line.split()[0] for line in vm.ssh("cat /proc/modules").stdout.splitlines() if line.strip())
    return {"seconds": seconds, "ip_forward": values[0], "fs.protected_fifos": values[1],
            "kernel.pid_max": values[2], "modules": {m: m in loaded for m in modules}}


def prepare_admin(vm):
    """The named administrator every variant's VM gets (same state for all variants)."""
    vm.ssh(f"id {ADMIN_USER} >/dev/null 2>&1 || useradd -m -s /bin/bash -G sudo {ADMIN_USER}; "
           f"install -d -m 0700 -o {ADMIN_USER} -g {ADMIN_USER} /home/{ADMIN_USER}/.ssh; "
           f"install -m 0600 -o {ADMIN_USER} -g {ADMIN_USER} /root/.ssh/authorized_keys /home/{ADMIN_USER}/.ssh/; "
           f"printf '%s ALL=(ALL:ALL) NOPASSWD: ALL\\n' {ADMIN_USER} > /tmp/90-{ADMIN_USER}; "
           f"visudo -cf /tmp/90-{ADMIN_USER} >/dev/null && "
           f"install -m 0440 /tmp/90-{ADMIN_USER} /etc/sudoers.d/90-{ADMIN_USER}")


def prepare_scanner(vm, datastream):
    """openscap-scanner (with linux-base and dbus, or most rules read as not applicable) and the datastream."""
    started = time.monotonic()
    vm.ssh("export DEBIAN_FRONTEND=noninteractive; apt-get -q update >/dev/null && "
           "apt-get -q install -y --no-install-recommends openscap-scanner linux-base dbus >/dev/null", timeout=1800)
    vm.ssh(f"mkdir -p {VM_BENCH_DIR}")
    vm.put(datastream, f"{VM_BENCH_DIR}/{DATASTREAM_NAME}")
    version = vm.ssh("dpkg-query -W -f='${Version}' openscap-scanner").stdout.strip()
    return {"seconds": round(time.monotonic() - started, 1), "openscap_scanner": version}


def scan(vm, level, results_dir, tag):
    """One `oscap xccdf eval` inside the VM; returns the counts and the per-rule results."""
    remote = f"{VM_BENCH_DIR}/results-{level}.xml"
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    # oscap exits 2 when a rule fails; 1 is an error.
    proc = vm.ssh(f"oscap xccdf eval --profile {PROFILE_PREFIX}{level} --results {remote} "
                  f"{VM_BENCH_DIR}/{DATASTREAM_NAME} >/dev/null 2>{VM_BENCH_DIR}/oscap-{level}.err; echo rc=$?",
                  timeout=3600)
    seconds = round(time.monotonic() - started, 1)
    rc = int(proc.stdout.strip().rsplit("rc=", 1)[-1])
    if rc not in (0, 2):
        err = vm.ssh(f"tail -c 2000 {VM_BENCH_DIR}/oscap-{level}.err", check=False).stdout
        raise RuntimeError(f"oscap xccdf eval {level} failed (rc={rc}): {err}")
    local = results_dir / f"{tag}-{level}.xml"
    vm.get(remote, local)
    rule_results = parse_rule_results(str(local))
    return {"counts": count_results(rule_results), "seconds": seconds, "results_file": str(local.relative_to(REPO)),
            "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2)}, rule_results


# ---------------------------------------------------------------------------- Ansible runs
def ensure_collection_link():
    link = REPO / "build" / "collections" / "ansible_collections" / "sovereign" / "cluster"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(REPO, target_is_directory=True)


def write_inventory(workdir, vm, groups, host_vars, user="root"):
    host = {"ansible_host": "127.0.0.1", "ansible_port": vm.port, "ansible_user": user,
            "ansible_ssh_private_key_file": str(vm.key),
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"}
    if user != "root":
        host["ansible_become"] = True
    host.update(host_vars)
    inventory = {"all": {"hosts": {VM_NAME: host}, "children": {g: {"hosts": {VM_NAME: {}}} for g in groups}}}
    path = workdir / "inventory.json"
    path.write_text(json.dumps(inventory, indent=2))
    return path


def run_playbook(workdir, inventory, playbook, log_path):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), HOME=str(workdir),
               ANSIBLE_COLLECTIONS_PATH=str(REPO / "build" / "collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(workdir / "tmp"), ANSIBLE_RETRY_FILES_ENABLED="0")
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(playbook)]
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    with open(log_path, "w") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, text=True, env=env, cwd=str(workdir),
                              check=False)
    seconds = round(time.monotonic() - started, 1)
    recap = parse_recap(Path(log_path).read_text()).get(VM_NAME, {})
    return {"seconds": seconds, "rc": proc.returncode, "changed": recap.get("changed"), "ok": recap.get("ok"),
            "failed": recap.get("failed"), "unreachable": recap.get("unreachable"),
            "log": str(Path(log_path).relative_to(REPO)),
            # The machine is shared (2 cores): the 1-minute load average tells how comparable the seconds are.
            "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2)}


def role_playbook(workdir):
    path = workdir / "role.yml"
    path.write_text("- name: Harden with sovereign.cluster.hardening (defaults)\n  hosts: all\n  gather_facts: true\n"
                    "  roles:\n    - role: sovereign.cluster.hardening\n")
    return path


def cac_playbook(vm, workdir):
    remote = f"{VM_BENCH_DIR}/cac-intermediary.yml"
    vm.ssh(f"oscap xccdf generate fix --fix-type ansible --profile {PROFILE_PREFIX}intermediary "
           f"--output {remote} {VM_BENCH_DIR}/{DATASTREAM_NAME}", timeout=1800)
    local = workdir / "cac-intermediary.yml"
    vm.get(remote, local)
    return local


# ---------------------------------------------------------------------------- one variant
def run_variant(record, args, datastream, anssi_refs, results_dir, save):
    """Fill `record` step by step (save() after each step keeps what was measured if the run is cut off)."""
    variant = record["variant"]
    tag = variant if args.profile_node == "none" else f"{variant}-{args.profile_node}"
    with tempfile.TemporaryDirectory(prefix=f"bench-hardening-{variant}-") as tmp:
        workdir = Path(tmp)
        (workdir / "tmp").mkdir()
        with BenchVM(workdir / "vm", args.memory) as vm:
            record["boot_seconds"] = vm.boot_seconds
            log(f"{variant}: VM up on 127.0.0.1:{vm.port} after {vm.boot_seconds}s; installing openscap-scanner")
            record["scanner"] = prepare_scanner(vm, datastream)
            prepare_admin(vm)
            save()
            playbook = None
            if variant == "role":
                playbook = role_playbook(workdir)
            elif variant == "cac":
                playbook = cac_playbook(vm, workdir)
                shutil.copy(playbook, results_dir / f"{tag}-playbook.yml")
                record["cac_tasks"] = sum(1 for line in playbook.read_text().splitlines()
                                          if re.match(r"^    - name: ", line))
            if playbook:
                host_vars = ROLE_VARS if variant == "role" else {}
                user = ADMIN_USER if variant == "role" else "root"
                record["ansible_user"] = user
                inventory = write_inventory(workdir, vm, NODE_PROFILES[args.profile_node], host_vars, user)
                for run_name in ("first_run", "second_run"):
                    log(f"{variant}: {run_name} of {playbook.name}")
                    record[run_name] = run_playbook(workdir, inventory, playbook,
                                                    results_dir / f"{tag}-{run_name}.log")
                    log(f"{variant}: {run_name} {record[run_name]}")
                    save()
            if variant == "role":
                vm.user = ADMIN_USER
                record["root_ssh_after"] = lab.ssh_ok(vm.port, vm.key)
            record["ssh_after"] = vm.ssh_works()
            if not record["ssh_after"]:
                log(f"{variant}: SSH no longer answers: no scan possible")
                return record
            record["ip_forward"] = vm.ssh("sysctl -n net.ipv4.ip_forward").stdout.strip()
            if variant == "role":
                # The scans read the state the host boots into, not only what the run set live.
                log(f"{variant}: rebooting the VM")
                record["after_reboot"] = reboot_and_read(vm, NODE_MODULES[args.profile_node])
                log(f"{variant}: after reboot {record['after_reboot']}")
                save()
            if variant == "role":
                raw = vm.ssh("cat /etc/sovereign/hardening-deviations.json", check=False).stdout
                record["deviations"] = json.loads(raw).get("deviations", []) if raw.strip() else None
            record["scans"] = {}
            for level in args.levels:
                log(f"{variant}: oscap xccdf eval {level} inside the VM")
                record["scans"][level], rule_results = scan(vm, level, results_dir, tag)
                log(f"{variant}: {level} {record['scans'][level]['counts']}")
                if record.get("deviations") is not None:
                    explained, unexplained = match_deviations(rule_results, anssi_refs, record["deviations"])
                    record["scans"][level]["fails_with_deviation"] = explained
                    record["scans"][level]["fails_without_deviation"] = [e["rule"] for e in unexplained]
                save()
    return record


# ---------------------------------------------------------------------------- output
def after_reboot(rec):
    boot = rec.get("after_reboot")
    if not boot:
        return "-"
    mods = " ".join(f"{m}={'loaded' if ok else 'MISSING'}" for m, ok in sorted(boot["modules"].items()))
    return f"ip_forward={boot['ip_forward']} fifos={boot['fs.protected_fifos']} pid_max={boot['kernel.pid_max']} {mods}".rstrip()


def table(records):
    header = ["variant", "int pass/fail/na", "enh pass/fail/na", "1st run s", "2nd run s", "changed 1st/2nd",
              "ssh after", "ip_forward", "after reboot"]
    rows = [header]
    for rec in records:
        def counts(level, rec=rec):
            scan_ = rec.get("scans", {}).get(level)
            if not scan_:
                return "-"
            c = scan_["counts"]
            return f"{c['pass']}/{c['fail']}/{c['notapplicable']}"

        first, second = rec.get("first_run"), rec.get("second_run")
        name = rec["variant"] + ("" if rec["node_profile"] == "none" else f" ({rec['node_profile']})")
        rows.append([name, counts("intermediary"), counts("enhanced"),
                     f"{first['seconds']:.0f}" if first else "-", f"{second['seconds']:.0f}" if second else "-",
                     f"{first['changed']}/{second['changed']}" if first else "-",
                     "yes" if rec.get("ssh_after") else "NO", rec.get("ip_forward", "-"), after_reboot(rec)])
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated, from {', '.join(VARIANTS)} (default: all, in that order)")
    parser.add_argument("--profile-node", choices=sorted(NODE_PROFILES), default="none",
                        help="k8s: the VM is a Kubernetes node for the role (ip_forward stays 1, recorded deviations)")
    parser.add_argument("--levels", default=",".join(SCAN_LEVELS),
                        help="ANSSI-BP-028 profiles to scan, comma-separated (default: intermediary,enhanced)")
    parser.add_argument("--memory", type=int, default=2048, help="VM memory in MiB (default 2048)")
    parser.add_argument("--mirror", default=None, help="Debian mirror for the trixie ssg-debian package (default: this machine's apt sources)")
    parser.add_argument("--json", help="result file (default build/bench/hardening-<time>.json)")
    args = parser.parse_args()
    args.mirror = args.mirror or lab.debian_mirror()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown or not variants:
        parser.error(f"--variants {args.variants!r}: unknown {unknown}; use a comma-separated list of "
                     f"{', '.join(VARIANTS)}")
    args.levels = [lv.strip() for lv in args.levels.split(",") if lv.strip()]
    if not args.levels or set(args.levels) - {"minimal", "intermediary", "enhanced", "high"}:
        parser.error(f"--levels {','.join(args.levels)!r}: use minimal, intermediary, enhanced or high")
    # SIGTERM (e.g. a CI timeout) still stops the VM through the context managers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    json_path = Path(args.json) if args.json else OUT_DIR / f"hardening-{stamp}.json"
    results_dir = OUT_DIR / f"hardening-{stamp}"
    results_dir.mkdir(parents=True, exist_ok=True)
    ensure_collection_link()
    datastream = fetch_datastream(args.mirror)
    anssi_refs = parse_anssi_references(str(datastream))
    log(f"datastream {datastream} ({len(anssi_refs)} rules with ANSSI references)")
    report = {"started": stamp, "datastream": str(datastream), "variants": []}
    for variant in variants:
        started = time.monotonic()
        record = {"variant": variant, "node_profile": args.profile_node}
        report["variants"].append(record)

        def save():
            json_path.write_text(json.dumps(report, indent=2, sort_keys=True))

        try:
            run_variant(record, args, datastream, anssi_refs, results_dir, save)
        except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
            record["error"] = str(exc)
            log(f"{variant}: FAILED: {exc}")
        record["total_seconds"] = round(time.monotonic() - started, 1)
        save()
    print(table(report["variants"]))
    for rec in report["variants"]:
        for level, scan_ in rec.get("scans", {}).items():
            if "fails_with_deviation" in scan_:
                print(f"{rec['variant']} {level}: {len(scan_['fails_with_deviation'])} fails covered by a recorded "
                      f"deviation, {len(scan_['fails_without_deviation'])} without")
                for entry in scan_["fails_with_deviation"]:
                    print(f"  {entry['rule']} ({', '.join(entry['anssi'])}, {entry['match']}): "
                          f"{'; '.join(entry['deviations'])}")
        if "error" in rec:
            print(f"{rec['variant']}: error: {rec['error']}")
    print(f"results: {json_path}")
    return 1 if any("error" in rec for rec in report["variants"]) else 0


if __name__ == "__main__":
    sys.exit(main())
