"""The local lab: podman hosts, a QEMU VM and a real OpenBao server, all on loopback.

    lab.py deps        install the Debian packages the lab needs (idempotent)
    lab.py images      build the cached base images when they are missing
    lab.py up          start every lab host and the OpenBao server, wait until reachable
    lab.py down        stop everything `up` started and check nothing is left behind
    lab.py status      print what is running

Everything expensive is cached under $SOVEREIGN_CACHE (default /var/cache/sovereign-cluster):
the podman image lives in podman's own store, the VM base image and its kernel in the cache.
Runtime state (PIDs, overlays, the SSH key copy, the OpenBao token) lives in lab/state/.
The host list is read from inventories/lab/hosts.yml so the inventory and the lab never disagree.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

LAB_DIR = Path(__file__).resolve().parent
REPO = LAB_DIR.parent
STATE = LAB_DIR / "state"
CACHE = Path(os.environ.get("SOVEREIGN_CACHE", "/var/cache/sovereign-cluster"))
INVENTORY = REPO / "inventories" / "lab" / "hosts.yml"
CONTAINERS_CONF = LAB_DIR / "containers.conf"

SUITE = "bookworm"


def machine_debian_mirror(suite="bookworm", etc=Path("/etc/apt")):
    """The Debian mirror this machine's own apt sources use for ``suite`` (never a hard-coded host).

    Reads deb822 ``*.sources`` files and one-line ``sources.list`` entries; the first ``deb`` source whose
    suites hold ``suite`` (not ``-security``) wins. SOVEREIGN_DEBIAN_MIRROR overrides it (an air-gapped site's mirror).
    """
    override = os.environ.get("SOVEREIGN_DEBIAN_MIRROR", "").strip()
    if override:
        return override
    candidates = []
    for path in sorted(etc.glob("sources.list.d/*.sources")):
        for stanza in re.split(r"\n\s*\n", path.read_text(errors="replace")):
            fields = {}
            for line in stanza.splitlines():
                if ":" in line and not line.lstrip().startswith("#"):
                    key, value = line.split(":", 1)
                    fields[key.strip().lower()] = value.split()
            if "deb" in fields.get("types", []) and fields.get("enabled", ["yes"])[0] != "no":
                candidates += [(uri, fields.get("suites", [])) for uri in fields.get("uris", [])]
    lists = [etc / "sources.list"] + sorted(etc.glob("sources.list.d/*.list"))
    for path in lists:
        if path.is_file():
            for line in path.read_text(errors="replace").splitlines():
                words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
                if len(words) >= 3 and words[0] == "deb":
                    candidates.append((words[1], [words[2]]))
    for uri, suites in candidates:
        if suite in suites and not uri.rstrip("/").endswith("-security"):
            return uri.rstrip("/")
    raise SystemExit(f"lab: no deb source for {suite} in {etc}: set SOVEREIGN_DEBIAN_MIRROR to your Debian mirror")


DEBIAN_MIRROR = None  # machine_debian_mirror(), read when first needed (debian_mirror())


def debian_mirror():
    global DEBIAN_MIRROR
    if DEBIAN_MIRROR is None:
        DEBIAN_MIRROR = machine_debian_mirror(SUITE)
    return DEBIAN_MIRROR


CONTAINER_IMAGE = "localhost/sovereign-debian12:latest"
CONTAINER_PACKAGES = "python3,python3-apt,systemd,systemd-sysv,sudo,iproute2,procps,dbus,ca-certificates"
VM_PACKAGES = ("linux-image-amd64,systemd-sysv,openssh-server,python3,python3-apt,sudo,iproute2,"
               "ifupdown,isc-dhcp-client,procps,dbus,ca-certificates,"
               # What the hardening role installs, baked in: under TCG emulation installing them takes about
               # 20 minutes (aide-common's postinst alone ~18), natively seconds. The role still configures
               # them, and installs them on hosts that lack them.
               "kmod,libpam-pwquality,pamtester,auditd,nftables,chrony,apparmor,apparmor-utils,aide,aide-common,"
               "unattended-upgrades")
VM_IMAGE_SIZE = "3G"
# Installed without recommends, so every package the lab needs is named: podman's CNI backend resolves
# container names on a network only through the dnsname plugin, which is merely recommended (a fresh
# machine without it stored 0 of 10 000 audit events in the audit_forwarding scenario).
APT_PACKAGES = ["podman", "runc", "containernetworking-plugins", "golang-github-containernetworking-plugin-dnsname",
                "debootstrap", "qemu-system-x86", "qemu-utils", "openssh-client",
                "e2fsprogs", "rsync", "git", "make", "shellcheck"]
CONTAINER_PREFIX = "sc-lab-"
# The lab's container hosts share one podman network and find each other by inventory name.
LAB_NETWORK = "sovereign-lab"


def log(msg):
    print(f"lab: {msg}", flush=True)


def run(cmd, check=True, capture=False, **kw):
    env = dict(os.environ, CONTAINERS_CONF=str(CONTAINERS_CONF))
    env.update(kw.pop("env", {}))
    return subprocess.run(cmd, check=check, text=True, env=env,
                          stdout=subprocess.PIPE if capture else None,
                          stderr=subprocess.PIPE if capture else None, **kw)


def lab_hosts():
    """Hosts of the lab inventory with their lab_kind (container | vm) and settings."""
    import yaml  # from the project's venv

    data = yaml.safe_load(INVENTORY.read_text())
    hosts = {}

    def walk(group, inherited):
        gvars = dict(inherited, **(group.get("vars") or {}))
        for name, hvars in (group.get("hosts") or {}).items():
            merged = hosts.setdefault(name, {})
            merged.update(gvars)
            merged.update(hvars or {})
        for child in (group.get("children") or {}).values():
            walk(child or {}, gvars)

    walk(data["all"], {})
    for name, hvars in hosts.items():
        if hvars.get("lab_kind") not in ("container", "vm"):
            sys.exit(f"lab: inventories/lab/hosts.yml: host {name} needs lab_kind: container or vm")
    return hosts


# ---------------------------------------------------------------------------- deps
def cmd_deps(_args):
    missing = [p for p in APT_PACKAGES
               if subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True,
                                 text=True, check=False).stdout != "install ok installed"]
    if not missing:
        log("Debian packages already installed")
        return
    log(f"installing {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
                   check=True, env=env)


# ---------------------------------------------------------------------------- images
def container_image_exists():
    return run(["podman", "image", "exists", CONTAINER_IMAGE], check=False).returncode == 0


def build_container_image():
    if container_image_exists():
        log(f"{CONTAINER_IMAGE} cached")
        return
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sc-rootfs-", dir=CACHE) as rootfs:
        log(f"debootstrap {SUITE} for {CONTAINER_IMAGE} (about a minute)")
        run(["debootstrap", "--variant=minbase", f"--include={CONTAINER_PACKAGES}", SUITE, rootfs,
             debian_mirror()], capture=True)
        # No getty on a console that does not exist; systemd as PID 1 then idles quietly.
        Path(rootfs, "etc/hostname").write_text("debian12\n")
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        run(["podman", "import", "--change", "CMD=/sbin/init", "--change", "STOPSIGNAL=SIGRTMIN+3",
             "-", CONTAINER_IMAGE], stdin=tar.stdout, capture=True)
        tar.wait()
    log(f"built {CONTAINER_IMAGE} in {time.monotonic() - started:.0f}s")


def vm_paths():
    # The cache is keyed by the package list, so changing it builds a new image instead of reusing a stale one.
    tag = hashlib.sha256(VM_PACKAGES.encode()).hexdigest()[:12]
    vm_dir = CACHE / "vm" / tag
    return {"base": vm_dir / "debian12.qcow2", "kernel": vm_dir / "vmlinuz",
            "initrd": vm_dir / "initrd.img", "key": CACHE / "vm" / "id_ed25519"}


def build_vm_image():
    paths = vm_paths()
    if all(p.exists() for p in paths.values()):
        log("VM base image cached")
        return
    started = time.monotonic()
    vm_dir = paths["base"].parent
    vm_dir.mkdir(parents=True, exist_ok=True)
    paths["key"].parent.mkdir(parents=True, exist_ok=True)
    if not paths["key"].exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sovereign-lab", "-f", str(paths["key"])])
    raw = vm_dir / "debian12.raw"
    mnt = Path(tempfile.mkdtemp(prefix="sc-vm-mnt-", dir=CACHE))
    raw.unlink(missing_ok=True)
    run(["truncate", "-s", VM_IMAGE_SIZE, str(raw)])
    run(["mkfs.ext4", "-q", "-F", "-L", "root", str(raw)])
    run(["mount", "-o", "loop", str(raw), str(mnt)])
    try:
        log("debootstrap the VM image (a few minutes)")
        run(["debootstrap", f"--include={VM_PACKAGES}", SUITE, str(mnt), debian_mirror()], capture=True)
        (mnt / "etc/fstab").write_text("/dev/vda / ext4 errors=remount-ro 0 1\n")
        (mnt / "etc/hostname").write_text("lab-vm\n")
        (mnt / "etc/network/interfaces.d/eth0").write_text("auto eth0\niface eth0 inet dhcp\n")
        ssh = mnt / "root/.ssh"
        ssh.mkdir(mode=0o700, exist_ok=True)
        auth = ssh / "authorized_keys"
        auth.write_text(Path(str(paths["key"]) + ".pub").read_text())
        auth.chmod(0o600)
        # Fresh SSH host keys per image build; no DNS lookups that would slow logins offline.
        (mnt / "etc/ssh/sshd_config.d/lab.conf").write_text("UseDNS no\n")
        # The console is a file; a getty on it would only spin.
        run(["chroot", str(mnt), "systemctl", "mask", "serial-getty@ttyS0.service"], capture=True)
        run(["chroot", str(mnt), "apt-get", "clean"], capture=True)
        shutil.copy(sorted((mnt / "boot").glob("vmlinuz-*"))[-1], paths["kernel"])
        shutil.copy(sorted((mnt / "boot").glob("initrd.img-*"))[-1], paths["initrd"])
    finally:
        run(["umount", str(mnt)], check=False)
        mnt.rmdir()
    tmp = vm_dir / "debian12.qcow2.tmp"
    run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(tmp)])
    raw.unlink()
    tmp.rename(paths["base"])
    log(f"built the VM base image in {time.monotonic() - started:.0f}s")


def cmd_images(args):
    CACHE.mkdir(parents=True, exist_ok=True)
    build_container_image()
    if not args.no_vm:
        build_vm_image()


# ---------------------------------------------------------------------------- up / down
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, what, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(2)
    sys.exit(f"lab: {what} not ready after {timeout}s")


def start_container(name, hvars):
    cname = CONTAINER_PREFIX + name
    if run(["podman", "container", "exists", cname], check=False).returncode == 0:
        run(["podman", "start", cname], capture=True)
        return
    if run(["podman", "network", "exists", LAB_NETWORK], check=False).returncode != 0:
        run(["podman", "network", "create", "--label", "sovereign.cluster/lab=1", LAB_NETWORK], capture=True)
    run(["podman", "run", "-d", "--name", cname, "--hostname", name, "--privileged",
         "--network", LAB_NETWORK, "--network-alias", name,
         "--systemd", "always", "--label", "sovereign.cluster/lab=1",
         CONTAINER_IMAGE, "/sbin/init"], capture=True)


def unresolved_names(containers):
    """Pairs (container, name) where a container on the lab network cannot resolve another host's name."""
    missing = []
    for cname, _name in containers:
        for _cname, other in containers:
            res = run(["podman", "exec", cname, "getent", "hosts", other], capture=True, check=False)
            if res.returncode != 0 or not res.stdout.strip():
                missing.append((cname, other))
    return missing


def require_name_resolution(containers):
    """Fail loudly when containers on one podman network cannot find each other by name."""
    deadline = time.monotonic() + 30
    missing = unresolved_names(containers)
    while missing and time.monotonic() < deadline:
        time.sleep(2)
        missing = unresolved_names(containers)
    if missing:
        pairs = ", ".join(f"{c} -> {n}" for c, n in missing)
        sys.exit(f"lab: containers on one podman network cannot resolve each other by name ({pairs}). "
                 "Fix: install the CNI dnsname plugin (apt-get install golang-github-containernetworking-"
                 "plugin-dnsname; `python3 lab/lab.py deps` does it) or use podman's netavark backend "
                 "with aardvark-dns.")


def cmd_netcheck(_args):
    """Preflight: two throw-away containers on a new network must resolve each other by name."""
    net = f"sc-netcheck-{os.getpid()}"
    names = [f"sc-netcheck-{os.getpid()}-{i}" for i in (1, 2)]
    try:
        run(["podman", "network", "create", net], capture=True)
        for name in names:
            run(["podman", "run", "-d", "--name", name, "--network", net, "--network-alias", name,
                 CONTAINER_IMAGE, "sleep", "300"], capture=True)
        require_name_resolution([(n, n) for n in names])
        log("name resolution between containers on a podman network works")
    finally:
        for name in names:
            run(["podman", "rm", "-f", "-t", "0", name], capture=True, check=False)
        run(["podman", "network", "rm", "-f", net], capture=True, check=False)


def ssh_ok(port, key, user="root"):
    res = subprocess.run(["ssh", "-i", str(key), "-p", str(port), "-o", "BatchMode=yes",
                          "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                          "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", f"{user}@127.0.0.1", "true"],
                         capture_output=True, timeout=30, check=False)
    return res.returncode == 0


def start_vm(name, hvars, vm_state):
    paths = vm_paths()
    port = int(hvars["ansible_port"])
    vm_state.mkdir(mode=0o700, parents=True, exist_ok=True)
    pidfile = vm_state / f"{name}.pid"
    if pidfile.exists() and pid_alive(int(pidfile.read_text())):
        return
    overlay = vm_state / f"{name}.qcow2"
    overlay.unlink(missing_ok=True)
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(paths["base"]), "-F", "qcow2", str(overlay)])
    run(["qemu-system-x86_64", "-machine", "q35", "-accel", "tcg,thread=multi", "-cpu", "max",
         "-smp", str(hvars.get("lab_vm_cpus", 2)), "-m", str(hvars.get("lab_vm_memory_mb", 1024)),
         "-kernel", str(paths["kernel"]), "-initrd", str(paths["initrd"]),
         "-append", "root=/dev/vda ro console=ttyS0 net.ifnames=0",
         "-drive", f"file={overlay},if=virtio,format=qcow2",
         "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:22",
         "-device", "virtio-net-pci,netdev=n0", "-display", "none",
         "-serial", f"file:{vm_state / (name + '.log')}", "-pidfile", str(pidfile), "-daemonize"])


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def openbao_addr():
    return f"http://127.0.0.1:{os.environ.get('SOVEREIGN_LAB_BAO_PORT', '18820')}"


def start_openbao():
    bao = Path(sys.executable).parent / "bao"
    pidfile = STATE / "openbao.pid"
    if pidfile.exists() and pid_alive(int(pidfile.read_text())):
        return
    port = int(openbao_addr().rsplit(":", 1)[1])
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            sys.exit(f"lab: 127.0.0.1:{port} is already taken; set SOVEREIGN_LAB_BAO_PORT to a free port")
    token_file = STATE / "openbao-root-token"
    token = os.urandom(16).hex()
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token)
    logf = open(STATE / "openbao.log", "w")  # pylint: disable=consider-using-with
    # The root token goes through the environment, never on the command line (ps would show it).
    proc = subprocess.Popen([str(bao), "server", "-dev", "-dev-no-store-token",
                             f"-dev-listen-address={openbao_addr()[len('http://'):]}"],
                            stdout=logf, stderr=subprocess.STDOUT, start_new_session=True,
                            env=dict(os.environ, BAO_DEV_ROOT_TOKEN_ID=token, HOME=str(STATE)))
    pidfile.write_text(str(proc.pid))


def openbao_healthy():
    pid = int((STATE / "openbao.pid").read_text())
    if not pid_alive(pid):
        sys.exit(f"lab: OpenBao exited; see {STATE / 'openbao.log'}")
    try:
        with urllib.request.urlopen(openbao_addr() + "/v1/sys/health", timeout=3) as resp:
            return json.load(resp).get("sealed") is False
    except OSError:
        return False


def cmd_up(args):
    STATE.mkdir(mode=0o700, exist_ok=True)
    hosts = lab_hosts()
    started = time.monotonic()
    cmd_images(args)
    vms = {n: h for n, h in hosts.items() if h["lab_kind"] == "vm"}
    if vms and not args.no_vm:
        shutil.copy(vm_paths()["key"], STATE / "id_ed25519")
        (STATE / "id_ed25519").chmod(0o600)
        for name, hvars in vms.items():
            start_vm(name, hvars, STATE / "vms")
    containers = [(CONTAINER_PREFIX + n, n) for n, h in hosts.items() if h["lab_kind"] == "container"]
    for name, hvars in hosts.items():
        if hvars["lab_kind"] == "container":
            start_container(name, hvars)
    # The hosts find each other by inventory name (audit forwarding, Vault clients): prove it before any play.
    require_name_resolution(containers)
    start_openbao()
    wait_for(openbao_healthy, "OpenBao", 60)
    if vms and not args.no_vm:
        for name, hvars in vms.items():
            wait_for(lambda p=hvars["ansible_port"]: ssh_ok(p, STATE / "id_ed25519"), f"VM {name} SSH", 600)
    log(f"up in {time.monotonic() - started:.0f}s: {', '.join(sorted(hosts))} + OpenBao at {openbao_addr()}")


def leftovers():
    """Everything of the lab that still exists: containers, VM processes, OpenBao, mounts."""
    left = []
    res = run(["podman", "ps", "-a", "--filter", "label=sovereign.cluster/lab=1", "--format", "{{.Names}}"],
              capture=True, check=False)
    left += [f"container {n}" for n in res.stdout.split()]
    if run(["podman", "network", "exists", LAB_NETWORK], check=False).returncode == 0:
        left.append(f"podman network {LAB_NETWORK}")
    for pidfile in list(STATE.glob("vms/*.pid")) + list(STATE.glob("single-vms/*.pid")) + [STATE / "openbao.pid"]:
        if pidfile.exists() and pid_alive(int(pidfile.read_text() or 0)):
            left.append(f"process {pidfile.read_text().strip()} ({pidfile.name})")
    mounts = Path("/proc/mounts").read_text()
    left += [f"mount {line.split()[1]}" for line in mounts.splitlines() if "sc-vm-mnt-" in line]
    return left


def stop_pid(pidfile):
    if not pidfile.exists():
        return
    pid = int(pidfile.read_text() or 0)
    if pid and pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        for _attempt in range(50):
            if not pid_alive(pid):
                break
            time.sleep(0.2)
        else:
            os.kill(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)  # QEMU removes its own pidfile when it exits


def cmd_down(_args):
    res = run(["podman", "ps", "-a", "--filter", "label=sovereign.cluster/lab=1", "--format", "{{.Names}}"],
              capture=True, check=False)
    for cname in res.stdout.split():
        run(["podman", "rm", "-f", "-t", "5", cname], capture=True, check=False)
    for pidfile in list(STATE.glob("vms/*.pid")) + list(STATE.glob("single-vms/*.pid")):
        stop_pid(pidfile)
    run(["podman", "network", "rm", "-f", LAB_NETWORK], capture=True, check=False)
    stop_pid(STATE / "openbao.pid")
    if STATE.exists():
        shutil.rmtree(STATE)
    left = leftovers()
    if left:
        sys.exit("lab: still running after teardown: " + "; ".join(left))
    log("down: no lab container, VM, OpenBao process or mount left")


def vm_state_dir(args):
    """Where a single VM's overlay, PID and key live: Molecule's ephemeral directory when set, so
    `lab.py down` (the lab) and a Molecule scenario never stop each other's VMs."""
    return Path(args.state_dir or os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY") or STATE / "single-vms")


def cmd_vm_start(args):
    """Start one throw-away VM (Molecule's VM scenarios use this) and wait for SSH."""
    state = vm_state_dir(args)
    state.mkdir(mode=0o700, parents=True, exist_ok=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    build_vm_image()
    key = state / "id_ed25519"
    shutil.copy(vm_paths()["key"], key)
    key.chmod(0o600)
    start_vm(args.name, {"ansible_port": args.port, "lab_vm_memory_mb": args.memory}, state)
    started = time.monotonic()
    wait_for(lambda: ssh_ok(args.port, key), f"VM {args.name} SSH", 600)
    log(f"VM {args.name} reachable on 127.0.0.1:{args.port} after {time.monotonic() - started:.0f}s")
    print(json.dumps({"instance": args.name, "address": "127.0.0.1", "port": args.port,
                      "user": "root", "identity_file": str(key)}))


def cmd_vm_stop(args):
    state = vm_state_dir(args)
    stop_pid(state / f"{args.name}.pid")
    for suffix in (".qcow2", ".log"):
        (state / f"{args.name}{suffix}").unlink(missing_ok=True)
    log(f"VM {args.name} stopped")


def cmd_status(_args):
    left = leftovers()
    print("\n".join(left) if left else "lab is down")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("deps")
    for name in ("images", "up"):
        p = sub.add_parser(name)
        p.add_argument("--no-vm", action="store_true", help="skip the QEMU VM (container hosts only)")
    sub.add_parser("down")
    sub.add_parser("status")
    sub.add_parser("netcheck", help="check that containers on a podman network resolve each other by name")
    sub.add_parser("debian-mirror", help="print the Debian mirror of this machine's apt sources (or SOVEREIGN_DEBIAN_MIRROR)")
    p = sub.add_parser("vm-start", help="start one throw-away VM from the cached base image")
    p.add_argument("name")
    p.add_argument("--port", type=int, required=True, help="loopback port forwarded to the VM's SSH")
    p.add_argument("--memory", type=int, default=1024, help="MiB")
    p.add_argument("--state-dir", help="default: $MOLECULE_EPHEMERAL_DIRECTORY or lab/state/single-vms")
    p = sub.add_parser("vm-stop", help="stop a VM started by vm-start and drop its overlay")
    p.add_argument("name")
    p.add_argument("--state-dir")
    args = parser.parse_args()
    {"deps": cmd_deps, "images": cmd_images, "up": cmd_up, "down": cmd_down, "status": cmd_status,
     "netcheck": cmd_netcheck, "debian-mirror": lambda args: print(debian_mirror()), "vm-start": cmd_vm_start, "vm-stop": cmd_vm_stop}[args.cmd](args)


if __name__ == "__main__":
    main()
