"""Transit auto-unseal with the configuration that roles/vault_server renders.

A real OpenBao dev server is the transit (sealing) server. A second, non-dev OpenBao node gets its
configuration from the role's own template (roles/vault_server/templates/server.hcl.j2 with the
role's defaults, rendered by ansible-playbook): raft storage, TLS listener, declarative file audit
device and a `seal "transit"` block. The node is initialised, stopped (sealed), started again, and
must come back unsealed with no unseal call, because the transit server decrypts its root key.
"""
import datetime
import ipaddress
import json
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import hvac
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from openbao_server import REPO, OpenBaoServer, clean_env, find_bao, free_port, module_env, stop_process

RENDER_PLAY = """---
- name: Render the vault_server role's configuration template with the role's defaults
  hosts: vault_servers
  gather_facts: false
  tasks:
    - name: Load the role defaults
      ansible.builtin.include_vars:
        file: {defaults}
    - name: Render the server configuration
      ansible.builtin.template:
        src: {template}
        dest: "{{{{ rendered_config }}}}"
        mode: "0600"
"""


def make_tls(tls_dir):
    """A CA and a server certificate for 127.0.0.1/localhost (what the role makes with community.crypto)."""
    tls_dir.mkdir(parents=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test vault CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    (tls_dir / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tls_dir / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path = tls_dir / "server.key"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)


def render_config(workdir, variables):
    play = workdir / "render.yml"
    play.write_text(RENDER_PLAY.format(defaults=REPO / "roles" / "vault_server" / "defaults" / "main.yml",
                                       template=REPO / "roles" / "vault_server" / "templates" / "server.hcl.j2"))
    inventory = workdir / "inventory.json"
    inventory.write_text(json.dumps({"vault_servers": {"hosts": {"node1": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    extra = workdir / "render-vars.json"
    extra.write_text(json.dumps(variables))
    extra.chmod(0o600)
    # the return code is asserted by the caller
    # pylint: disable-next=subprocess-run-check
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
                           "-e", "@%s" % extra, str(play)],
                          capture_output=True, text=True, env=module_env(), cwd=str(REPO), timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return Path(variables["rendered_config"]).read_text()


class RaftNode:
    """A non-dev `bao server -config=...` process, stopped by its PID only."""

    def __init__(self, workdir, config_path, port, ca_cert):
        self.workdir, self.config_path, self.port, self.ca_cert = workdir, config_path, port, ca_cert
        self.process = None
        self.url = "https://127.0.0.1:%d" % port

    def start(self):
        log = open(self.workdir / "node.log", "ab")
        self.process = subprocess.Popen([find_bao(), "server", "-config=%s" % self.config_path], stdout=log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                        env=clean_env(HOME=str(self.workdir)), cwd=str(self.workdir))
        log.close()
        self.wait(lambda h: "initialized" in h, "answering")

    def health(self):
        context = ssl.create_default_context(cafile=str(self.ca_cert))
        try:
            with urllib.request.urlopen(self.url + "/v1/sys/health", timeout=2, context=context) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read() or b"{}")
        except (OSError, ValueError):
            return {}

    def wait(self, predicate, what, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError("node exited (%s):\n%s" % (self.process.returncode, self.log_tail()))
            health = self.health()
            if predicate(health):
                return health
            time.sleep(0.3)
        raise AssertionError("node not %s within %ss: %s\n%s" % (what, timeout, self.health(), self.log_tail()))

    def log_tail(self):
        return "\n".join((self.workdir / "node.log").read_text(errors="replace").splitlines()[-30:])

    def stop(self):
        stop_process(self.process, grace=20)


@pytest.fixture
def transit_seal_server(bao_binary, tmp_path):
    """The separate sealing server: transit key `autounseal`, and a token that may only use that key."""
    with OpenBaoServer(tmp_path / "sealer", name="sealer") as sealer:
        root = hvac.Client(url=sealer.url, token=sealer.root_token)
        root.sys.enable_secrets_engine("transit", path="transit")
        root.secrets.transit.create_key(name="autounseal")
        root.sys.create_or_update_policy("autounseal", 'path "transit/encrypt/autounseal" { capabilities = ["update"] }\n'
                                                       'path "transit/decrypt/autounseal" { capabilities = ["update"] }\n')
        sealer.seal_token = root.auth.token.create(policies=["autounseal"], no_parent=True, period="24h",
                                                   renewable=True)["auth"]["client_token"]
        yield sealer


def test_node_sealed_by_restart_comes_back_unsealed_through_transit(transit_seal_server, tmp_path, collections_path):
    node_dir = tmp_path / "node"
    for sub in ("raft", "log"):
        (node_dir / sub).mkdir(parents=True)
    make_tls(node_dir / "tls")
    port, cluster_port = free_port(), free_port()
    config_path = node_dir / "openbao.hcl"
    config = render_config(tmp_path, {
        "rendered_config": str(config_path),
        "vault_server_data_dir": str(node_dir), "vault_server_log_dir": str(node_dir / "log"),
        "vault_server_tls_dir": str(node_dir / "tls"), "vault_server_listen_address": "127.0.0.1",
        "vault_server_fqdn": "127.0.0.1", "vault_server_api_port": port, "vault_server_cluster_port": cluster_port,
        "vault_server_seal_transit": {"address": transit_seal_server.url, "key_name": "autounseal",
                                      "mount_path": "transit/", "token": transit_seal_server.seal_token},
    })
    # The role's template produced the blocks this test depends on.
    assert 'seal "transit"' in config and 'storage "raft"' in config
    assert 'tls_min_version = "tls12"' in config
    assert 'audit "file" "file"' in config

    node = RaftNode(node_dir, config_path, port, node_dir / "tls" / "ca.crt")
    try:
        node.start()
        client = hvac.Client(url=node.url, verify=str(node_dir / "tls" / "ca.crt"))
        assert client.sys.read_seal_status()["type"] == "transit"
        init = client.sys.initialize(recovery_shares=1, recovery_threshold=1)
        assert init["recovery_keys_base64"] and init["keys_base64"] == [] and init["root_token"]
        node.wait(lambda h: h.get("initialized") and h.get("sealed") is False and h.get("standby") is False, "active")

        node.stop()  # a restart seals the node: its root key is only in memory
        node.start()
        health = node.wait(lambda h: h.get("initialized") and h.get("sealed") is False, "auto-unsealed")
        assert health["sealed"] is False
        # Nobody called sys/unseal: the transit server decrypted the root key; the node serves requests.
        client.token = init["root_token"]
        assert client.sys.read_seal_status()["type"] == "transit"
        assert client.lookup_token()["data"]["policies"] == ["root"]
        # The declared audit device records the requests, with secrets HMAC'd.
        audit = (node_dir / "log" / "audit.log").read_text()
        assert '"client_token":"hmac-sha256:' in audit.replace(" ", "")
        assert init["root_token"] not in audit
    finally:
        node.stop()
