"""Fixtures for the KMS v2 plugin tests: a real OpenBao dev server with transit + AppRole, and the
plugin (tools/kms-vault-plugin) started as a subprocess on a unix socket, called over gRPC.

Every process started here is stopped by its PID in the fixture's finaliser.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import grpc
import hvac
import pytest

REPO = Path(__file__).resolve().parents[3]
PLUGIN_DIR = REPO / "tools" / "kms-vault-plugin"
sys.path.insert(0, str(REPO / "tests" / "integration" / "vault"))
if str(PLUGIN_DIR) not in sys.path:
    sys.path.insert(0, str(PLUGIN_DIR))

from openbao_server import OpenBaoServer, clean_env, find_bao, stop_process  # noqa: E402
from sovereign_kms import api_pb2, api_pb2_grpc  # noqa: E402

POLICY = """
path "{mount}/encrypt/{key}" {{
  capabilities = ["update"]
}}
path "{mount}/decrypt/{key}" {{
  capabilities = ["update"]
}}
"""


@pytest.fixture(scope="session")
def kms_bao_binary():
    try:
        return find_bao()
    except FileNotFoundError as exc:
        pytest.fail(str(exc))


def start_openbao(workdir, name):
    server = OpenBaoServer(workdir, name=name)
    server.start()
    client = hvac.Client(url=server.url, token=server.root_token)
    client.sys.enable_secrets_engine("transit", path="transit")
    client.sys.enable_auth_method("approle", path="approle")
    return server, client


@pytest.fixture(scope="module")
def kms_openbao(kms_bao_binary, tmp_path_factory):
    """A shared OpenBao dev server with transit and AppRole enabled: (server, root hvac client)."""
    server, client = start_openbao(tmp_path_factory.mktemp("kms-openbao"), "openbao-kms")
    try:
        yield server, client
    finally:
        server.stop()


@pytest.fixture
def fresh_kms_openbao(kms_bao_binary, tmp_path):
    """A throw-away OpenBao (for tests that seal it)."""
    server, client = start_openbao(tmp_path / "bao", "openbao-kms-fresh")
    try:
        yield server, client
    finally:
        server.stop()


class AppRoleSetup:
    """A transit key, a policy limited to it, an AppRole bound to that policy and its credential files."""

    def __init__(self, client, workdir, token_ttl="1h", token_max_ttl="4h"):
        self.key = "kms-" + uuid.uuid4().hex[:8]
        self.mount = "transit"
        self.role = self.key + "-role"
        client.secrets.transit.create_key(name=self.key, mount_point=self.mount)
        client.sys.create_or_update_policy(name=self.key, policy=POLICY.format(mount=self.mount, key=self.key))
        client.auth.approle.create_or_update_approle(role_name=self.role, token_policies=[self.key],
                                                     token_ttl=token_ttl, token_max_ttl=token_max_ttl,
                                                     mount_point="approle")
        self.role_id = client.auth.approle.read_role_id(self.role, mount_point="approle")["data"]["role_id"]
        self.secret_id = client.auth.approle.generate_secret_id(self.role, mount_point="approle")["data"]["secret_id"]
        workdir.mkdir(parents=True, exist_ok=True)
        self.role_id_file = workdir / (self.key + ".role_id")
        self.secret_id_file = workdir / (self.key + ".secret_id")
        for path, value in ((self.role_id_file, self.role_id), (self.secret_id_file, self.secret_id)):
            path.write_text(value + "\n")
            os.chmod(path, 0o400)


@pytest.fixture
def approle(tmp_path):
    """approle(client, **role_options) -> AppRoleSetup."""
    return lambda client, **kwargs: AppRoleSetup(client, tmp_path / "creds", **kwargs)


class PluginProcess:
    """``python -m sovereign_kms`` on a unix socket, and a gRPC stub talking to it."""

    def __init__(self, socket_dir, log_path, args):
        self.socket = os.path.join(socket_dir, "kms.sock")
        self.log_path = log_path
        self.args = args
        self.process = None
        self.channel = None
        self.stub = None

    def start(self, timeout=20):
        cmd = [sys.executable, "-m", "sovereign_kms", "--socket", self.socket] + self.args
        env = clean_env(PYTHONPATH=str(PLUGIN_DIR), PYTHONUNBUFFERED="1")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            cwd=str(PLUGIN_DIR), env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.socket):
            if self.process.poll() is not None:
                raise RuntimeError("plugin exited with %s:\n%s" % (self.process.returncode, self.log()))
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("plugin socket did not appear:\n%s" % self.log())
            time.sleep(0.05)
        self.channel = grpc.insecure_channel("unix:" + self.socket)
        grpc.channel_ready_future(self.channel).result(timeout=timeout)
        self.stub = api_pb2_grpc.KeyManagementServiceStub(self.channel)
        return self

    def status(self):
        return self.stub.Status(api_pb2.StatusRequest(), timeout=30)

    def encrypt(self, plaintext, uid="test"):
        return self.stub.Encrypt(api_pb2.EncryptRequest(plaintext=plaintext, uid=uid), timeout=30)

    def decrypt(self, ciphertext, key_id="", uid="test"):
        return self.stub.Decrypt(api_pb2.DecryptRequest(ciphertext=ciphertext, key_id=key_id, uid=uid), timeout=30)

    def healthcheck(self):
        """Run the ``--healthcheck`` CLI mode: (exit code, stdout)."""
        proc = subprocess.run([sys.executable, "-m", "sovereign_kms", "--healthcheck", "--socket", self.socket],
                              capture_output=True, text=True, check=False, cwd=str(PLUGIN_DIR), timeout=60,
                              env=clean_env(PYTHONPATH=str(PLUGIN_DIR)))
        return proc.returncode, proc.stdout + proc.stderr

    def log(self):
        try:
            return Path(self.log_path).read_text(errors="replace")
        except OSError:
            return ""

    def stop(self):
        if self.channel is not None:
            self.channel.close()
        stop_process(self.process, grace=15)


@pytest.fixture
def kms_plugin(tmp_path):
    """kms_plugin(server, setup, extra_args=()) -> a started PluginProcess (stopped at teardown)."""
    started = []
    # unix socket paths are limited to 107 bytes; pytest's tmp_path can be longer, so use a short folder.
    socket_dir = tempfile.mkdtemp(prefix="kms-", dir="/tmp")

    def start(server, setup, extra_args=(), addr=None):
        args = ["--vault-addr", addr or server.url, "--transit-mount", setup.mount, "--transit-key", setup.key,
                "--approle-mount", "approle", "--role-id-file", str(setup.role_id_file),
                "--secret-id-file", str(setup.secret_id_file), "--log-level", "DEBUG"] + list(extra_args)
        index = len(started)
        plugin = PluginProcess(os.path.join(socket_dir, str(index)), tmp_path / ("plugin-%d.log" % index), args)
        started.append(plugin)
        return plugin.start()

    try:
        yield start
    finally:
        for plugin in started:
            plugin.stop()
        shutil.rmtree(socket_dir, ignore_errors=True)
