# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planted secrets never leave the vcluster_tenant role: success, refusal and error paths, on the real servers.

Every secret-bearing input of the role carries a value of its own, and each one is real where the path needs it:

* ``vcluster_tenant_kubeconfig`` as a dict: the cluster-admin kubeconfig of conftest.py's apiserver (its client key
  is the secret) plus a user holding a planted token; and as a file, a copy of it with the planted user too;
* ``vcluster_tenant_k8s_api_key``: a planted token (error path: an apiserver on a closed port);
* ``vcluster_tenant_vault_token``: the root token of an OpenBao dev server started with that planted value;
* ``vcluster_tenant_vault_role_id`` / ``vcluster_tenant_vault_secret_id``: a real AppRole of that server.

The role has no OIDC client secret (tenants name OIDC groups only). Runs: ``--check --diff -vvv`` onboarding, then
``--diff -vvv`` onboarding, a refused catalogue, Vault unreachable, the apiserver unreachable, the same tenant again
with the file kubeconfig and the AppRole, and offboarding. The search covers stdout, stderr, ``ANSIBLE_LOG_PATH``,
the audit_trail records and every file the runs left (the test's own inputs aside).
"""
import base64
import json
import secrets
import sys
import textwrap
from pathlib import Path

import hvac
import pytest
import yaml

from ansible_collections.sovereign.cluster.tests.unit.plugins.modules.test_tenant_rbac_secrets import (  # noqa: F401  pylint: disable=unused-import
    COLLECTIONS, assert_nowhere, base_env, closed_port, files_left, run_process, workdir)
from control_plane import REPO

sys.path.insert(0, str(REPO / "tests" / "integration" / "vault"))
from openbao_server import OpenBaoServer  # noqa: E402

TENANT = "sp%s-sec" % secrets.token_hex(2)

PLAYBOOK = textwrap.dedent("""\
    - name: vcluster_tenant with planted secrets
      hosts: localhost
      gather_facts: false
      vars_files: [vars.yml]
      tasks:
        - name: Success (the kubeconfig dict, the Vault token)
          ansible.builtin.include_role:
            name: sovereign.cluster.vcluster_tenant

        - name: Refusal (a catalogue open to the internet)
          when: not ansible_check_mode
          block:
            - name: Role with a refused catalogue
              ansible.builtin.include_role:
                name: sovereign.cluster.vcluster_tenant
              vars:
                sovereign_tenants: [{name: "{{ planted_tenant }}", zone: z, network: {egress: [{cidr: 0.0.0.0/0}]}}]
          rescue:
            - name: The refusal names the acknowledgement
              ansible.builtin.assert:
                that: "'vcluster_tenant_allow_internet_egress' in ansible_failed_result.msg"

        - name: Error (Vault unreachable, the token planted)
          when: not ansible_check_mode
          block:
            - name: Role with an unreachable Vault
              ansible.builtin.include_role:
                name: sovereign.cluster.vcluster_tenant
              vars:
                vcluster_tenant_vault_url: "http://127.0.0.1:{{ planted_closed_port }}"
          rescue:
            - name: The error names the URL variable
              ansible.builtin.assert:
                that: "'Vault at vcluster_tenant_vault_url' in ansible_failed_result.msg"

        - name: Error (the apiserver unreachable, the api key planted)
          when: not ansible_check_mode
          block:
            - name: Role with an unreachable apiserver
              ansible.builtin.include_role:
                name: sovereign.cluster.vcluster_tenant
              vars:
                vcluster_tenant_k8s_host: "https://127.0.0.1:{{ planted_closed_port }}"
                vcluster_tenant_k8s_api_key: "{{ planted_api_key }}"
          rescue:
            - name: The error names the connection variables
              ansible.builtin.assert:
                that: "'the Kubernetes API could not be read with vcluster_tenant_kubeconfig' in ansible_failed_result.msg"

        - name: Unchanged (the kubeconfig file, the AppRole)
          when: not ansible_check_mode
          ansible.builtin.include_role:
            name: sovereign.cluster.vcluster_tenant
          vars:
            vcluster_tenant_kubeconfig: "{{ planted_kubeconfig_file }}"
            vcluster_tenant_vault_auth_method: approle
            vcluster_tenant_vault_token: null
            vcluster_tenant_vault_role_id: "{{ planted_role_id }}"
            vcluster_tenant_vault_secret_id: "{{ planted_secret_id }}"

        - name: Offboarding (the AppRole)
          when: not ansible_check_mode
          ansible.builtin.include_role:
            name: sovereign.cluster.vcluster_tenant
          vars:
            sovereign_tenants: [{name: "{{ planted_tenant }}", zone: z, state: absent}]
            vcluster_tenant_offboard_confirm: ["{{ planted_tenant }}"]
            vcluster_tenant_vault_auth_method: approle
            vcluster_tenant_vault_token: null
            vcluster_tenant_vault_role_id: "{{ planted_role_id }}"
            vcluster_tenant_vault_secret_id: "{{ planted_secret_id }}"
""")


def key_values(kubeconfig):
    """The admin user's client key: its base64 form and every line of its PEM body (found however quoted)."""
    data = kubeconfig["users"][0]["user"]["client-key-data"]
    pem = base64.b64decode(data).decode()
    return {data} | {line for line in pem.splitlines() if not line.startswith("-----") and len(line) >= 16}


@pytest.fixture()
def bao(workdir):
    token = "planted-vault-token-%s" % secrets.token_hex(12)
    with OpenBaoServer(workdir / "inputs" / "bao", root_token=token, name="openbao-planted") as server:
        client = hvac.Client(url=server.url, token=token)
        client.sys.enable_secrets_engine("transit", path="transit")
        client.sys.enable_auth_method("approle")
        client.sys.create_or_update_acl_policy("planted-operator", 'path "*" {\n  capabilities = ["create", "read", '
                                               '"update", "delete", "list", "sudo"]\n}\n')
        client.auth.approle.create_or_update_approle("planted-operator", token_policies=["planted-operator"])
        server.role_id = client.auth.approle.read_role_id("planted-operator")["data"]["role_id"]
        server.secret_id = client.auth.approle.generate_secret_id("planted-operator")["data"]["secret_id"]
        yield server


def test_role_paths_show_no_planted_secret(control_plane, k8s_api, bao, workdir, closed_port, fixtures_dir):
    kubeconfig = yaml.safe_load(Path(control_plane.admin_kubeconfig).read_text())
    planted_token = "planted-k8s-token-%s" % secrets.token_hex(12)
    api_key = "planted-api-key-%s" % secrets.token_hex(12)
    kubeconfig["users"].append({"name": "planted", "user": {"token": planted_token}})
    cluster = kubeconfig["clusters"][0]["name"]
    kubeconfig["contexts"].append({"name": "planted", "context": {"cluster": cluster, "user": "planted"}})
    kubeconfig_file = workdir / "inputs" / "kubeconfig"
    kubeconfig_file.write_text(yaml.safe_dump(kubeconfig))
    kubeconfig_file.chmod(0o600)
    values = key_values(kubeconfig) | {planted_token, api_key, bao.root_token, bao.secret_id}
    variables = {
        "sovereign_tenants": [{"name": TENANT, "zone": "secnumcloud", "quotas": {"cpu": "4", "memory": "8Gi"},
                               "admins": ["sec-admins"]}],
        "vcluster_tenant_kubeconfig": kubeconfig, "vcluster_tenant_fallback_dns": "10.96.0.10",
        "vcluster_tenant_values_schema": str(fixtures_dir / "vcluster" / "values.schema.json"),
        "vcluster_tenant_helm_binary": str(workdir / "inputs" / "no-helm" / "helm"), "vcluster_tenant_rbac_target": "host",
        "vcluster_tenant_vault_url": bao.url, "vcluster_tenant_vault_token": bao.root_token,
        "planted_kubeconfig_file": str(kubeconfig_file), "planted_api_key": api_key, "planted_tenant": TENANT,
        "planted_role_id": bao.role_id, "planted_secret_id": bao.secret_id, "planted_closed_port": closed_port,
        "ansible_python_interpreter": sys.executable,
    }
    (workdir / "inputs" / "vars.yml").write_text(yaml.safe_dump(variables))
    (workdir / "inputs" / "vars.yml").chmod(0o600)
    (workdir / "inputs" / "site.yml").write_text(PLAYBOOK)
    log_file, trail = workdir / "out" / "ansible.log", workdir / "out" / "audit-trail.jsonl"
    env = base_env(workdir, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_LOG_PATH=str(log_file),
                   ANSIBLE_HOME=str(workdir / "home" / ".ansible"), ANSIBLE_LOCAL_TEMP=str(workdir / "tmp" / "local"),
                   ANSIBLE_REMOTE_TMP=str(workdir / "tmp" / "remote"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_RETRY_FILES_ENABLED="false", ANSIBLE_CALLBACKS_ENABLED="sovereign.cluster.audit_trail",
                   SOVEREIGN_AUDIT_TRAIL_FILE=str(trail), SOVEREIGN_AUDIT_TRAIL_SYSLOG="false")
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-vvv", "--diff", "-i", "localhost,", "-c", "local",
               str(workdir / "inputs" / "site.yml")]
    outputs = {}
    for mode, extra in (("check", ["--check"]), ("real", [])):
        rc, stdout, stderr = run_process(command + extra, env, workdir / "out", timeout=900)
        assert rc == 0, (stdout + stderr)[-6000:]
        outputs[mode + " stdout"], outputs[mode + " stderr"] = stdout, stderr
    real = outputs["real stdout"]
    recap = [line for line in real.splitlines() if line.startswith("localhost") and "ok=" in line]
    assert recap and "rescued=3" in recap[0] and "failed=0" in recap[0], real[-3000:]
    # the paths were taken: onboarding wrote, the refusal and both errors were reached, offboarding deleted
    assert "vcluster_tenant_allow_internet_egress" in real and "Vault at vcluster_tenant_vault_url" in real
    assert "the Kubernetes API could not be read with vcluster_tenant_kubeconfig" in real
    assert "tenant-" + TENANT not in [n.metadata.name for n in k8s_api.core.list_namespace().items
                                      if n.status.phase == "Active"]
    assert hvac.Client(url=bao.url, token=bao.root_token).secrets.transit.read_key("tenant-" + TENANT)["data"]["name"]
    records = [json.loads(line) for line in trail.read_text().splitlines()]
    assert records and log_file.exists()
    assert_nowhere(values, outputs, workdir)
