"""roles/vault_transit against a real OpenBao 2.7.2 server, through ansible-playbook.

One converge on a server of this module, then: keys/policies/AppRoles as declared, a second run and a
check-mode run report changed=0, tenant A's AppRole gets real 403s on tenant B's key, bad input fails
before anything changes, and the root token never appears in the output.
"""
import json
import re
import subprocess
import sys
from pathlib import Path

import hvac
import hvac.exceptions
import pytest

from openbao_server import REPO, OpenBaoServer, module_env

RECAP = re.compile(r"^localhost\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=\d+\s+failed=(?P<failed>\d+)", re.M)
TENANTS = [{"name": "alpha", "vault": {"auto_rotate_period": "7d", "min_decryption_version": 1}},
           {"name": "beta"}]
PLAYBOOK = """---
- name: Transit keys, policies and AppRoles
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: sovereign.cluster.vault_transit
"""


@pytest.fixture(scope="module")
def transit_server(bao_binary, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("transit-role")
    audit_log = workdir / "audit.log"
    config = 'audit "file" "declared" {\n  options {\n    file_path = "%s"\n  }\n}\n' % audit_log
    server = OpenBaoServer(workdir, config_hcl=config, name="transit-role")
    server.start()
    server.audit_log = audit_log
    try:
        yield server
    finally:
        server.stop()


def role_vars(server, **overrides):
    data = {
        "ansible_python_interpreter": sys.executable,  # hvac lives in this interpreter
        "vault_transit_url": server.url,
        "vault_transit_token": server.root_token,
        "sovereign_tenants": TENANTS,
        "vault_transit_audit_devices": [{"type": "file", "path": "declared",
                                         "options": {"file_path": str(server.audit_log)}}],
    }
    data.update(overrides)
    return data


def run_playbook(workdir, extra_vars, *args):
    workdir = Path(workdir)
    (workdir / "play.yml").write_text(PLAYBOOK)
    vars_file = workdir / "vars.json"
    vars_file.write_text(json.dumps(extra_vars))
    vars_file.chmod(0o600)
    # the return code is asserted by the caller
    # pylint: disable-next=subprocess-run-check
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-e", "@%s" % vars_file,
         str(workdir / "play.yml"), *args],
        capture_output=True, text=True, env=module_env(), cwd=str(REPO), timeout=300)
    output = proc.stdout + proc.stderr
    match = RECAP.search(proc.stdout)
    recap = {k: int(v) for k, v in match.groupdict().items()} if match else None
    return proc.returncode, recap, output


@pytest.fixture(scope="module")
def converged(transit_server, collections_path, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("transit-play")
    first = run_playbook(workdir, role_vars(transit_server), "-v")
    second = run_playbook(workdir, role_vars(transit_server))
    check = run_playbook(workdir, role_vars(transit_server), "--check", "--diff")
    return {"first": first, "second": second, "check": check, "workdir": workdir}


@pytest.fixture
def root(transit_server):
    return hvac.Client(url=transit_server.url, token=transit_server.root_token)


def test_first_run_creates_everything(converged):
    rc, recap, output = converged["first"]
    assert rc == 0, output[-4000:]
    # changed tasks: the mount, the 3 keys (one loop), the 3 policies (one loop), the AppRole auth + 3 roles (one call)
    assert recap["changed"] == 4, output[-4000:]


def test_second_run_and_check_mode_report_nothing(converged):
    for name in ("second", "check"):
        rc, recap, output = converged[name]
        assert rc == 0, output[-4000:]
        assert recap["changed"] == 0, "%s run: %s\n%s" % (name, recap, output[-4000:])


def test_root_token_never_in_output(converged, transit_server):
    for name in ("first", "second", "check"):
        assert transit_server.root_token not in converged[name][2]


def test_keys_have_the_declared_settings(converged, root):
    expected = {"kube-secrets": 30 * 86400, "tenant-alpha": 7 * 86400, "tenant-beta": 30 * 86400}
    for name, period in expected.items():
        data = root.secrets.transit.read_key(name=name)["data"]
        assert data["type"] == "aes256-gcm96"
        assert data["deletion_allowed"] is False
        assert data["exportable"] is False
        assert data["allow_plaintext_backup"] is False
        assert data["auto_rotate_period"] == period
        assert data["min_decryption_version"] == 1


def test_policies_and_approles_bind_one_key_each(converged, root):
    for key, role in (("kube-secrets", "kms-plugin"), ("tenant-alpha", "tenant-alpha"), ("tenant-beta", "tenant-beta")):
        policy = root.sys.read_acl_policy("%s-transit" % key)["data"]["policy"]
        assert 'path "transit/encrypt/%s"' % key in policy
        assert re.findall(r'path "transit/\w+/([\w-]+)"', policy) == [key] * 4
        data = root.read("auth/approle/role/%s" % role)["data"]
        assert data["token_policies"] == ["%s-transit" % key]
        assert data["token_ttl"] == 3600 and data["token_max_ttl"] == 86400


def test_drifted_approle_is_written_back(converged, transit_server, root):
    root.write("auth/approle/role/tenant-beta", token_ttl=60)
    rc, recap, output = run_playbook(converged["workdir"], role_vars(transit_server))
    assert rc == 0 and recap["changed"] == 1, output[-4000:]
    assert root.read("auth/approle/role/tenant-beta")["data"]["token_ttl"] == 3600


def approle_client(server, root, role):
    role_id = root.read("auth/approle/role/%s/role-id" % role)["data"]["role_id"]
    secret_id = root.write("auth/approle/role/%s/secret-id" % role)["data"]["secret_id"]
    client = hvac.Client(url=server.url)
    client.auth.approle.login(role_id=role_id, secret_id=secret_id)
    return client


def test_tenant_alpha_gets_403_on_tenant_beta_key(converged, transit_server, root):
    alpha = approle_client(transit_server, root, "tenant-alpha")
    own = alpha.secrets.transit.encrypt_data(name="tenant-alpha", plaintext="aGVsbG8=")["data"]["ciphertext"]
    assert alpha.secrets.transit.decrypt_data(name="tenant-alpha", ciphertext=own)["data"]["plaintext"] == "aGVsbG8="
    beta_ciphertext = root.secrets.transit.encrypt_data(name="tenant-beta", plaintext="aGVsbG8=")["data"]["ciphertext"]
    attempts = {
        "encrypt": lambda: alpha.secrets.transit.encrypt_data(name="tenant-beta", plaintext="aGVsbG8="),
        "decrypt": lambda: alpha.secrets.transit.decrypt_data(name="tenant-beta", ciphertext=beta_ciphertext),
        "read": lambda: alpha.secrets.transit.read_key(name="tenant-beta"),
        "rotate": lambda: alpha.secrets.transit.rotate_key(name="tenant-beta"),
        "kms key": lambda: alpha.secrets.transit.encrypt_data(name="kube-secrets", plaintext="aGVsbG8="),
    }
    for action, attempt in attempts.items():
        with pytest.raises(hvac.exceptions.Forbidden):
            attempt()
            pytest.fail("tenant-alpha could %s with tenant-beta's key" % action)


def test_bad_tenant_name_fails_before_any_change(converged, transit_server, root):
    tenants = TENANTS + [{"name": "Team_A"}]
    rc, recap, output = run_playbook(converged["workdir"], role_vars(transit_server, sovereign_tenants=tenants))
    assert rc != 0
    assert "vault_transit_tenants[2].name: not a valid transit key name (DNS-1123 label) (got \"tenant-Team_A\")" in output
    with pytest.raises(hvac.exceptions.InvalidPath):
        root.secrets.transit.read_key(name="tenant-Team_A")


def test_missing_token_fails_naming_the_field(converged, transit_server):
    rc, _recap, output = run_playbook(converged["workdir"], role_vars(transit_server, vault_transit_token=""))
    assert rc != 0
    assert "vault_transit_token" in output


def test_check_mode_against_an_empty_server_reports_the_first_run_and_changes_nothing(
        bao_binary, collections_path, tmp_path):
    """No transit mount, no AppRole auth, no keys yet: --check must exit 0, report the changes, write nothing."""
    config = 'audit "file" "declared" {\n  options {\n    file_path = "%s"\n  }\n}\n' % (tmp_path / "audit.log")
    with OpenBaoServer(tmp_path / "bao", config_hcl=config, name="transit-empty") as server:
        server.audit_log = tmp_path / "audit.log"
        client = hvac.Client(url=server.url, token=server.root_token)
        before = (sorted(client.sys.list_mounted_secrets_engines()["data"]), sorted(client.sys.list_auth_methods()["data"]),
                  sorted(client.sys.list_policies()["data"]["policies"]))
        rc, recap, output = run_playbook(tmp_path, role_vars(server), "--check", "--diff")
        assert rc == 0, output[-6000:]
        assert recap["changed"] > 0 and recap["failed"] == 0, output[-4000:]
        after = (sorted(client.sys.list_mounted_secrets_engines()["data"]), sorted(client.sys.list_auth_methods()["data"]),
                 sorted(client.sys.list_policies()["data"]["policies"]))
        assert after == before
        assert "transit/" not in after[0]


def test_approle_settings_the_server_normalises_are_not_rewritten(bao_binary, collections_path, tmp_path):
    """TTLs as durations and CIDRs with host bits: written once, then changed=0, also after the server stored its own spelling."""
    with OpenBaoServer(tmp_path / "bao", name="transit-normalise") as server:
        client = hvac.Client(url=server.url, token=server.root_token)
        variables = {"ansible_python_interpreter": sys.executable, "vault_transit_url": server.url,
                     "vault_transit_token": server.root_token, "vault_transit_tenants": [],
                     "vault_transit_keys": [{"name": "kube-secrets", "approle": "kms-plugin", "token_ttl": "1h",
                                             "token_max_ttl": "24h", "token_bound_cidrs": ["10.1.2.3/8", "192.168.1.7"]}],
                     "vault_transit_secret_id_bound_cidrs": ["fd00::1/8"], "vault_transit_secret_id_ttl": "10m"}
        first = run_playbook(tmp_path, variables)
        assert first[0] == 0 and first[1]["changed"] == 4, first[2][-4000:]
        stored = client.read("auth/approle/role/kms-plugin")["data"]
        assert (stored["token_ttl"], stored["token_max_ttl"], stored["secret_id_ttl"]) == (3600, 86400, 600)
        assert (stored["token_bound_cidrs"], stored["secret_id_bound_cidrs"]) == (["10.0.0.0/8", "192.168.1.7"], ["fd00::/8"])  # /32 is stored bare
        second = run_playbook(tmp_path, variables)
        assert second[0] == 0 and second[1]["changed"] == 0, second[2][-4000:]
        # the same settings in the server's other spellings (host bits, a bare address, a duration): still nothing to do
        client.write("auth/approle/role/kms-plugin", token_ttl="1h", token_bound_cidrs=["10.1.2.3/8", "192.168.1.7"],
                     secret_id_bound_cidrs=["fd00::1/8"])
        third = run_playbook(tmp_path, variables)
        assert third[0] == 0 and third[1]["changed"] == 0, third[2][-4000:]
