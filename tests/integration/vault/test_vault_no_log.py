"""Real ansible-playbook runs at -vvv never show a planted secret: the modules (token, role_id, secret_id) and the Vault roles
(tokens, TLS key, unseal keys, seal token, snapshot credentials), on the success, refusal and error paths."""
import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import hvac

from openbao_server import module_env

PLAYBOOK = textwrap.dedent('''\
    - name: Vault modules with planted credentials
      hosts: localhost
      gather_facts: false
      tasks:
        - name: Policy with token auth
          sovereign.cluster.vault_policy:
            url: "{{ bao_url }}"
            token: "{{ planted_token }}"
            name: "{{ key_name }}-policy"
            policy: 'path "transit/encrypt/{{ key_name }}" { capabilities = ["update"] }'

        - name: Key with AppRole auth
          sovereign.cluster.vault_transit_key:
            url: "{{ bao_url }}"
            auth_method: approle
            role_id: "{{ planted_role_id }}"
            secret_id: "{{ planted_secret_id }}"
            name: "{{ key_name }}"

        - name: Failing call still hides the secret
          sovereign.cluster.vault_transit_key:
            url: "{{ bao_url }}"
            token: "{{ planted_token }}"
            name: "{{ key_name }}"
            mount_point: no-such-mount
          ignore_errors: true

        - name: Ad-hoc style call through module_defaults
          sovereign.cluster.vault_audit_device:
            path: declared
            state: query
          module_defaults:
            sovereign.cluster.vault_audit_device:
              url: "{{ bao_url }}"
              token: "{{ planted_token }}"
''')


def test_playbook_vvv_never_shows_secrets(openbao, collections_path, tmp_path):
    root = hvac.Client(url=openbao.url, token=openbao.root_token)
    marker = uuid.uuid4().hex
    planted_token = "planted-token-%s" % marker
    planted_secret_id = "planted-secret-%s" % marker
    root.sys.create_or_update_acl_policy("no-log-admin", 'path "*" { capabilities = ["create", "read", "update", '
                                                         '"delete", "list", "sudo"] }')
    root.auth.token.create(id=planted_token, policies=["no-log-admin"], ttl="10m")
    if "approle/" not in root.sys.list_auth_methods()["data"]:
        root.sys.enable_auth_method("approle")
    root.auth.approle.create_or_update_approle("no-log", token_policies=["no-log-admin"])
    role_id = root.auth.approle.read_role_id("no-log")["data"]["role_id"]
    root.auth.approle.create_custom_secret_id("no-log", secret_id=planted_secret_id)

    (tmp_path / "site.yml").write_text(PLAYBOOK)
    secrets = tmp_path / "vars.yml"
    secrets.write_text("planted_token: %s\nplanted_role_id: %s\nplanted_secret_id: %s\nbao_url: %s\nkey_name: nolog-%s\n"
                       % (planted_token, role_id, planted_secret_id, openbao.url, marker[:8]))
    secrets.chmod(0o600)
    env = module_env(HOME=str(tmp_path), ANSIBLE_HOME=str(tmp_path / ".ansible"),
                     ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    playbook = Path(sys.executable).parent / "ansible-playbook"
    # the return code is asserted by the caller
    # pylint: disable-next=subprocess-run-check
    proc = subprocess.run([str(playbook), "-vvv", "-i", "localhost,", "-c", "local", "-e", "@%s" % secrets,
                           "-e", "ansible_python_interpreter=%s" % sys.executable, str(tmp_path / "site.yml")],
                          capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=180)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "ok=4" in output and "changed=2" in output and "ignored=1" in output, output[-2000:]
    assert "nothing is mounted at `mount_point` 'no-such-mount'" in output
    for secret in (planted_token, planted_secret_id, role_id):
        assert secret not in output
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in output  # the arguments were echoed, masked


# --- every secret-bearing input of the Vault roles and modules, on the success, refusal and error paths -----------

ROLES_PLAYBOOK = textwrap.dedent('''\
    - name: Vault roles and modules with planted secrets
      hosts: localhost
      gather_facts: false
      tasks:
        - name: Module success, token auth (with --diff)
          sovereign.cluster.vault_policy:
            url: "{{ bao_url }}"
            token: "{{ planted_token }}"
            name: "{{ key_name }}-extra"
            policy: 'path "transit/encrypt/{{ key_name }}" { capabilities = ["update"] }'
          register: r_policy

        - name: Module success, AppRole auth
          sovereign.cluster.vault_transit_key:
            url: "{{ bao_url }}"
            auth_method: approle
            role_id: "{{ planted_role_id }}"
            secret_id: "{{ planted_secret_id }}"
            name: "{{ key_name }}-module"
          register: r_key

        - name: Module refusal (a policy that is not HCL)
          sovereign.cluster.vault_policy:
            url: "{{ bao_url }}"
            token: "{{ planted_token }}"
            name: "{{ key_name }}-bad"
            policy: 'path "x" {'
          register: r_policy_refused
          ignore_errors: true

        - name: Module error (no such mount)
          sovereign.cluster.vault_transit_key:
            url: "{{ bao_url }}"
            token: "{{ planted_token }}"
            name: "{{ key_name }}"
            mount_point: no-such-mount
          register: r_key_error
          ignore_errors: true

        - name: Module query with the token from module_defaults
          sovereign.cluster.vault_audit_device:
            path: declared
            state: query
          module_defaults:
            sovereign.cluster.vault_audit_device:
              url: "{{ bao_url }}"
              token: "{{ planted_token }}"
          register: r_audit

        - name: Module vault_approle success, AppRole auth (planted role_id and secret_id)
          sovereign.cluster.vault_approle:
            url: "{{ bao_url }}"
            auth_method: approle
            role_id: "{{ planted_role_id }}"
            secret_id: "{{ planted_secret_id }}"
            roles: [{name: "{{ key_name }}-holder", token_policies: ["{{ key_name }}-extra"], token_ttl: 10m}]
          register: r_approle

        - name: Module vault_approle issues a secret_id to a no_log task (token planted)
          sovereign.cluster.vault_approle:
            url: "{{ bao_url }}"
            token: "{{ planted_token }}"
            roles: [{name: "{{ key_name }}-holder"}]
            issue_secret_id: true
          register: r_issued
          no_log: true

        - name: Keep the issued secret_id where only its owner can read it
          ansible.builtin.copy:
            content: "{{ r_issued.credentials[key_name ~ '-holder'].secret_id }}"
            dest: "{{ out }}/issued-secret-id"
            mode: "0600"
          no_log: true

        - name: Role vault_transit, success
          ansible.builtin.include_role:
            name: sovereign.cluster.vault_transit
          vars:
            vault_transit_url: "{{ bao_url }}"
            vault_transit_token: "{{ planted_token }}"
            vault_transit_keys: [{name: "{{ key_name }}", approle: "{{ key_name }}"}]
            vault_transit_tenants: []

        - name: Role vault_transit, refusal
          block:
            - name: Refused setting
              ansible.builtin.include_role:
                name: sovereign.cluster.vault_transit
              vars:
                vault_transit_url: "{{ bao_url }}"
                vault_transit_token: "{{ planted_token }}"
                vault_transit_keys: [{name: "{{ key_name }}", rotate_if_older_than: "0"}]
                vault_transit_tenants: []
          rescue:
            - name: Refused naming the field
              ansible.builtin.set_fact:
                r_transit_refused: "{{ ansible_failed_result.msg }}"

        - name: Role vault_transit, error (a valid token without the rights)
          block:
            - name: Token with the default policy only
              ansible.builtin.include_role:
                name: sovereign.cluster.vault_transit
              vars:
                vault_transit_url: "{{ bao_url }}"
                vault_transit_token: "{{ planted_weak_token }}"
                vault_transit_keys: [{name: "{{ key_name }}"}]
                vault_transit_tenants: []
          rescue:
            - name: Failed with the server's answer
              ansible.builtin.set_fact:
                r_transit_error: "{{ ansible_failed_result.msg }}"

        - name: Role vault_server validation, success (every secret planted)
          ansible.builtin.include_role:
            name: sovereign.cluster.vault_server
            tasks_from: validate.yml
          vars: &server_vars
            vault_server_config_dir: "{{ srv }}/etc"
            vault_server_data_dir: "{{ srv }}/data"
            vault_server_log_dir: "{{ srv }}/log"
            vault_server_snapshot_dir: "{{ srv }}/snap"
            vault_server_pki_dir: "{{ srv }}/x/../pki"  # a controller folder named relative to the inventory, as in the lab
            vault_server_binary_path: "{{ srv }}/bin/bao"
            vault_server_fqdn: localhost
            vault_server_tls_mode: supplied
            vault_server_tls_ca_cert: "-----BEGIN CERTIFICATE-----"
            vault_server_tls_cert: "-----BEGIN CERTIFICATE-----"
            vault_server_tls_key: "{{ planted_tls_key }}"
            vault_server_unseal_keys: ["{{ planted_unseal_key }}"]
            vault_server_seal_transit: {address: "{{ bao_url }}", key_name: autounseal, token: "{{ planted_seal_token }}"}
            vault_server_snapshot_role_id: "{{ planted_snapshot_role_id }}"
            vault_server_snapshot_secret_id: "{{ planted_snapshot_secret_id }}"
            vault_server_admin_token: "{{ planted_admin_token }}"
            vault_server_audit_devices: [{type: file, path: file, options: {file_path: stdout}}]

        - name: Role vault_server validation, refusal
          block:
            - name: Refused port
              ansible.builtin.include_role:
                name: sovereign.cluster.vault_server
                tasks_from: validate.yml
              vars:
                <<: *server_vars
                vault_server_api_port: 70000
          rescue:
            - name: Refused naming the field
              ansible.builtin.set_fact:
                r_server_refused: "{{ ansible_failed_result.msg }}"

        - name: Keep every registered result
          ansible.builtin.copy:
            content: "{{ {'policy': r_policy, 'key': r_key, 'policy_refused': r_policy_refused, 'key_error': r_key_error,
                          'audit': r_audit, 'transit_refused': r_transit_refused, 'transit_error': r_transit_error,
                          'server_refused': r_server_refused, 'approle': r_approle} | to_nice_json }}"
            dest: "{{ out }}/registered.json"
            mode: "0600"
''')


def test_roles_and_modules_never_show_planted_secrets(openbao, collections_path, tmp_path):
    from ansible_collections.sovereign.cluster.tests.unit.plugins.modules.test_tenant_rbac_secrets import (
        COLLECTIONS, assert_nowhere, base_env, files_left, run_process)

    for name in ("inputs", "tmp", "home", "out", "srv"):
        (tmp_path / name).mkdir()
    root = hvac.Client(url=openbao.url, token=openbao.root_token)
    marker = uuid.uuid4().hex
    planted = {
        "planted_token": "planted-token-%s" % marker, "planted_weak_token": "planted-weak-%s" % marker,
        "planted_role_id": "planted-roleid-%s" % marker, "planted_secret_id": "planted-secret-%s" % marker,
        "planted_tls_key": "-----BEGIN PRIVATE KEY-----\nplantedtlskey%s\n-----END PRIVATE KEY-----" % marker,
        "planted_unseal_key": "plantedunseal%s" % marker, "planted_seal_token": "planted-seal-%s" % marker,
        "planted_snapshot_role_id": "planted-snaprole-%s" % marker,
        "planted_snapshot_secret_id": "planted-snapsecret-%s" % marker, "planted_admin_token": "planted-admin-%s" % marker,
    }
    root.sys.create_or_update_acl_policy("planted-admin", 'path "*" { capabilities = ["create", "read", "update", '
                                                          '"delete", "list", "sudo"] }')
    root.auth.token.create(id=planted["planted_token"], policies=["planted-admin"], ttl="10m")
    root.auth.token.create(id=planted["planted_weak_token"], policies=["default"], ttl="10m")
    if "approle/" not in root.sys.list_auth_methods()["data"]:
        root.sys.enable_auth_method("approle")
    role = "planted-%s" % marker[:8]
    root.auth.approle.create_or_update_approle(role, token_policies=["planted-admin"])
    root.write("auth/approle/role/%s/role-id" % role, role_id=planted["planted_role_id"])
    root.auth.approle.create_custom_secret_id(role, secret_id=planted["planted_secret_id"])

    variables = tmp_path / "inputs" / "vars.json"
    variables.write_text(json.dumps(dict(planted, bao_url=openbao.url, key_name="nolog-%s" % marker[:8],
                                         srv=str(tmp_path / "srv"), out=str(tmp_path / "out"))))
    variables.chmod(0o600)
    playbook = tmp_path / "inputs" / "site.yml"
    playbook.write_text(ROLES_PLAYBOOK)
    inventory = tmp_path / "inputs" / "inventory.json"
    inventory.write_text(json.dumps({"vault_servers": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    log_file, trail = tmp_path / "out" / "ansible.log", tmp_path / "out" / "audit-trail.jsonl"
    env = base_env(tmp_path, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_LOG_PATH=str(log_file),
                   ANSIBLE_HOME=str(tmp_path / "home" / ".ansible"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp" / "local"),
                   ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="false",
                   ANSIBLE_CALLBACKS_ENABLED="sovereign.cluster.audit_trail", SOVEREIGN_AUDIT_TRAIL_FILE=str(trail),
                   SOVEREIGN_AUDIT_TRAIL_SYSLOG="false")
    env = {key: value for key, value in env.items() if not key.startswith(("VAULT_", "BAO_"))}
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-vvv", "--diff", "-i", str(inventory),
               "-e", "@%s" % variables, str(playbook)]
    rc, stdout, stderr = run_process(command, env, tmp_path / "out", timeout=400)
    output = stdout + stderr
    assert rc == 0, output[-6000:]
    recap = [line for line in output.splitlines() if line.startswith("localhost") and "ok=" in line]
    assert recap and "failed=0" in recap[0] and "rescued=3" in recap[0] and "ignored=2" in recap[0], recap or output[-3000:]
    registered = json.loads((tmp_path / "out" / "registered.json").read_text())
    # the paths were taken: success, refusal (naming the field), errors (with the server's answer)
    assert registered["policy"]["changed"] is True and registered["key"]["changed"] is True
    assert "`policy` of " in registered["policy_refused"]["msg"]
    assert "nothing is mounted at `mount_point` 'no-such-mount'" in registered["key_error"]["msg"]
    assert "vault_transit_keys[0].rotate_if_older_than: is zero" in registered["transit_refused"]
    assert registered["transit_error"].startswith("cannot read the mounted secrets engines: HTTP 403 permission denied on "
                                                  "/v1/sys/mounts: "), registered["transit_error"]
    assert "* permission denied; use a token whose policy grants this path" in registered["transit_error"]
    assert "vault_server_api_port: not an integer from 1 to 65535" in registered["server_refused"]
    assert root.read("auth/approle/role/nolog-%s" % marker[:8])["data"]["token_ttl"] == 3600  # the role's success path ran
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in output  # -vvv echoed module arguments, masked
    assert log_file.read_text().count("HTTP 403 permission denied") >= 1
    records = [json.loads(line) for line in trail.read_text().splitlines()]
    assert any(r.get("censored") for r in records)  # the role's no_log API calls are recorded, censored
    assert [p for p in files_left(tmp_path) if tmp_path / "srv" in p.parents] == []  # validation writes nothing
    assert {log_file, trail, tmp_path / "out" / "registered.json", tmp_path / "out" / "issued-secret-id"} <= set(files_left(tmp_path))
    assert registered["approle"]["changed_roles"] == ["nolog-%s-holder" % marker[:8]] and "credentials" not in registered["approle"]
    issued = (tmp_path / "out" / "issued-secret-id").read_text()
    assert len(issued) == 36 and all(issued not in text for text in (output, log_file.read_text(), trail.read_text()))
    (tmp_path / "out" / "issued-secret-id").unlink()
    values = set(planted.values()) | {"plantedtlskey%s" % marker, issued}
    assert_nowhere(values, {"stdout": stdout, "stderr": stderr}, tmp_path)
