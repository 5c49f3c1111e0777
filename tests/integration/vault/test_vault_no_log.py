"""A real ansible-playbook run at -vvv never prints the token, role_id or secret_id it was given."""
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
