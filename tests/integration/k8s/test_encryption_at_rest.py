"""Encryption at rest on the real control plane: KMS v2 through tools/kms-vault-plugin on a real OpenBao.

The stored bytes are read from etcd with etcdctl (not through the API). Key rotation and the sealed
OpenBao run on a throw-away control plane of their own (``fresh_control_plane``), in that order.
"""
import json
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import yaml

from control_plane import REPO, venv_bin, wait_until

PREFIX = b"k8s:enc:kms:v2:sovereign-vault:"


def _create_secret(cp, namespace, name, value, check=True):
    return cp.kubectl_run("-n", namespace, "create", "secret", "generic", name, f"--from-literal=v={value}",
                          check=check)


def test_secret_is_stored_with_the_kms_v2_prefix_and_never_in_plaintext(control_plane):
    value = "plaintext-" + secrets.token_hex(12)
    _create_secret(control_plane, "default", "sc-at-rest", value)
    raw = control_plane.etcd_value("/registry/secrets/default/sc-at-rest")
    assert raw.startswith(PREFIX), raw[:80]
    assert value.encode() not in raw
    assert b"vault-transit:transit/kube-secrets:v1" in raw  # the KMS key id travels with the object
    back = control_plane.kubectl_run("-n", "default", "get", "secret", "sc-at-rest", "-o", "jsonpath={.data.v}").stdout
    import base64

    assert base64.b64decode(back).decode() == value
    # the plugin really encrypted through OpenBao transit: its audit is not needed, the key's usage is
    key = control_plane.vault.secrets.transit.read_key(name="kube-secrets", mount_point="transit")
    assert key["data"]["latest_version"] == 1


def test_configmaps_are_not_in_the_encrypted_set_unless_asked(control_plane):
    """The role encrypts kubernetes_control_plane_encryption_resources (default: secrets): say what is not."""
    rendered = yaml.safe_load((control_plane.config_dir / "encryption-config.yaml").read_text())
    assert rendered["resources"][0]["resources"] == ["secrets"]
    control_plane.kubectl_run("-n", "default", "create", "configmap", "sc-plain", "--from-literal=k=visible-value")
    assert b"visible-value" in control_plane.etcd_value("/registry/configmaps/default/sc-plain")


def _fake_kms_install(cp):
    """The layout the role installs the plugin in (venv/bin/python + lib/), pointing at this checkout."""
    install = cp.workdir / "kms-install"
    if not install.exists():
        install.mkdir()
        (install / "venv").symlink_to(Path(sys.executable).parent.parent)  # the project's venv: grpcio, protobuf
        (install / "lib").symlink_to(REPO / "tools" / "kms-vault-plugin")
    return install


def _reencrypt(cp, expected_key_id, tmp_path):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"control_plane": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "ansible_become": False}}}}}}))
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"reencrypt_secrets_expected_key_id": expected_key_id,
                                 "reencrypt_secrets_kms_install_dir": str(_fake_kms_install(cp)),
                                 "reencrypt_secrets_kms_socket": cp.kms_socket}))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=str(REPO / "build" / "collections"), K8S_AUTH_KUBECONFIG=cp.admin_kubeconfig)
    return subprocess.run([venv_bin("ansible-playbook"), "-i", str(inventory), "-e", "@" + str(extra),
                           str(REPO / "playbooks" / "reencrypt_secrets.yml")], capture_output=True, text=True,
                          env=env, cwd=str(REPO), timeout=900, check=False)


def test_rotation_then_reencrypt_playbook_moves_every_secret_to_the_new_key(fresh_control_plane, tmp_path):
    cp = fresh_control_plane
    cp.kubectl_run("create", "namespace", "sc-rotate")
    for i in range(3):
        _create_secret(cp, "sc-rotate", f"s{i}", secrets.token_hex(8))
    assert b":v1" in cp.etcd_value("/registry/secrets/sc-rotate/s0")
    cp.vault.secrets.transit.rotate_key(name="kube-secrets", mount_point="transit")
    # the playbook refuses while a plugin still reports the old key id: it reads it at each Status call
    result = _reencrypt(cp, "vault-transit:transit/kube-secrets:v2", tmp_path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Secret(s) rewritten" in result.stdout
    keys = cp.etcdctl("get", "/registry/secrets/", "--prefix", "--keys-only").stdout.decode().split()
    assert keys, "no Secrets in etcd"
    stale = [k for k in keys if b"vault-transit:transit/kube-secrets:v2" not in cp.etcd_value(k)]
    assert stale == [], f"still under the old key: {stale}"
    assert cp.etcd_value("/registry/secrets/sc-rotate/s0").startswith(PREFIX)


def test_reencrypt_refuses_a_key_id_the_plugin_does_not_report(fresh_control_plane, tmp_path):
    result = _reencrypt(fresh_control_plane, "vault-transit:transit/kube-secrets:v9", tmp_path)
    assert result.returncode != 0
    assert "expected key_id=vault-transit:transit/kube-secrets:v9" in result.stdout


def test_sealed_openbao_fails_closed(fresh_control_plane):
    """Last on this control plane: OpenBao sealed, KMS health fails, new Secrets are refused."""
    cp = fresh_control_plane
    cp.vault.sys.seal()
    sealed_at = time.monotonic()
    kms_check = re.compile(r"\[-\]kms-providers? failed|\[-\]kms-provider-\d+ failed")
    wait_until(lambda: kms_check.search(cp.get_raw("/healthz?verbose")), "the apiserver's KMS health check failing",
               120, interval=2, on_timeout=cp.logs)
    health_failed_after = time.monotonic() - sealed_at
    # writes go on with the cached DEK for at most kmsv2PluginWriteDEKSourceMaxTTL (3 min) after the last good Status
    refused = {}

    def write_refused():
        res = _create_secret(cp, "default", "sc-sealed-" + secrets.token_hex(3), "x", check=False)
        if res.returncode != 0:
            refused["msg"] = res.stderr
            return True
        return False

    wait_until(write_refused, "new Secrets being refused with OpenBao sealed", 300, interval=5, on_timeout=cp.logs)
    refused_after = time.monotonic() - sealed_at
    print(f"KMS health failed {health_failed_after:.0f} s and writes were refused {refused_after:.0f} s after the seal")
    assert "Internal error" in refused["msg"] or "failed to encrypt" in refused["msg"] or "kms" in refused["msg"].lower(), \
        refused["msg"]
    # reads of existing Secrets need no new DEK: they still answer from the apiserver's DEK cache or fail; never
    # is a Secret stored unencrypted
    keys = cp.etcdctl("get", "/registry/secrets/", "--prefix", "--keys-only").stdout.decode().split()
    assert all(cp.etcd_value(k).startswith(PREFIX) for k in keys)
