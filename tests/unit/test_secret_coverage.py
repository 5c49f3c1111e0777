# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every secret-bearing input of every role and module has a planted-secret test.

The planted-secret tests themselves run against real servers (OpenBao, the kube-apiserver, podman containers)
in the integration tier; this registry makes "every" checkable: a role variable whose name says it carries a
secret, or a module option marked ``no_log``, must be listed here with the test that plants a secret in it, and
that test must name it. A new secret input without such a test fails here.
"""
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
HOST_ROLES = "tests/integration/test_host_roles_bad_input.py"
CONTROL_PLANE = "tests/unit/roles/test_kubernetes_control_plane_render.py"
VAULT = "tests/integration/vault/test_vault_no_log.py"
TENANT = "tests/integration/k8s/test_tenant_bad_input_secrets.py"
TENANT_RBAC = "tests/integration/k8s/test_tenant_rbac_secrets_api.py"
GPU = "tests/unit/roles/test_gpu_bad_input_secrets.py"
HOST_SUCCESS = "tests/integration/test_host_roles_secrets.py"  # the success path, for real, with supplied keys

# role or module -> {secret-bearing input: the test (or tests) that plant a secret in it and grep every output}
COVERAGE = {
    "roles/audit_forwarding": {"audit_forwarding_tls_key": (HOST_ROLES, HOST_SUCCESS)},
    "roles/hardening": {},
    "roles/kubernetes_control_plane": {"kubernetes_control_plane_kms_role_id": CONTROL_PLANE,
                                       "kubernetes_control_plane_kms_secret_id": CONTROL_PLANE},
    "roles/kubernetes_node": {"kubernetes_node_join_data": HOST_ROLES},
    "roles/nvidia_gpu": {"": GPU},  # no secret-bearing input; the test asserts so
    "roles/vault_server": {"vault_server_admin_token": VAULT, "vault_server_snapshot_role_id": VAULT,
                           "vault_server_snapshot_secret_id": VAULT, "vault_server_tls_key": (VAULT, HOST_SUCCESS),
                           "vault_server_unseal_keys": VAULT},
    "roles/vault_transit": {"vault_transit_token": VAULT},
    "roles/vcluster_tenant": {"vcluster_tenant_kubeconfig": TENANT, "vcluster_tenant_k8s_api_key": TENANT,
                              "vcluster_tenant_vault_token": TENANT, "vcluster_tenant_vault_role_id": TENANT,
                              "vcluster_tenant_vault_secret_id": TENANT},
    "plugins/modules/nvidia_mig.py": {"": GPU},
    "plugins/modules/tenant_rbac.py": {"kubeconfig": TENANT_RBAC, "api_key": TENANT_RBAC},
    "plugins/modules/vault_approle.py": {"token": VAULT, "role_id": VAULT, "secret_id": VAULT},
    "plugins/modules/vault_audit_device.py": {"token": VAULT, "role_id": VAULT, "secret_id": VAULT},
    "plugins/modules/vault_policy.py": {"token": VAULT, "role_id": VAULT, "secret_id": VAULT},
    "plugins/modules/vault_transit_key.py": {"token": VAULT, "role_id": VAULT, "secret_id": VAULT},
}
# Names that look secret but are not, with the reason.
NOT_SECRET = {
    "hardening_pam_password_remember": "a count of remembered passwords",
    "hardening_password_hash_rounds": "a cost factor",
    "hardening_root_password_max_days": "a password age",
    "kubernetes_control_plane_join_token_ttl": "a lifetime",
    "kubernetes_control_plane_kms_transit_key": "the name of a transit key",
    "kubernetes_node_discovery_kubeconfig": "the path the role writes the discovery file to (0600, no_log task)",
    "vault_server_pgp_keys": "public PGP keys",
    "vault_server_root_token_pgp_key": "a public PGP key",
    "vault_transit_keys": "key names and settings",
    "vault_transit_secret_id_bound_cidrs": "networks", "vault_transit_token_bound_cidrs": "networks",
    "vault_transit_secret_id_ttl": "a lifetime", "vault_transit_token_ttl": "a lifetime",
    "vault_transit_token_max_ttl": "a lifetime",
    "vcluster_tenant_node_pool_taint_key": "a taint key",
    "vcluster_tenant_offboard_delete_transit_key": "a flag",
}
SECRET_NAME = re.compile(r"(token|secret|password|passphrase|_key$|_keys$|key_pem|role_id|unseal|kubeconfig|join_data|"
                         r"private|credential|api_key)")
MODULE_UTILS = {"vault": "plugins/module_utils/vault_client.py", "k8s": "plugins/module_utils/k8s_client.py"}


def _role_secret_names(role):
    specs = yaml.safe_load((REPO / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    names = {name for spec in specs.values() for name in (spec.get("options") or {})}
    return {name for name in names if SECRET_NAME.search(name) and name not in NOT_SECRET}


def _module_no_log_options(module):
    text = (REPO / module).read_text()
    for marker, path in MODULE_UTILS.items():
        if "module_utils.%s_client import" % marker in text:
            text += (REPO / path).read_text()
    return set(re.findall(r"(\w+)=dict\([^()]*no_log=True", text))


def test_every_role_and_module_is_listed():
    present = {"roles/" + path.name for path in (REPO / "roles").iterdir() if (path / "tasks").is_dir()}
    present |= {str(path.relative_to(REPO)) for path in (REPO / "plugins" / "modules").glob("*.py") if path.name != "__init__.py"}
    assert sorted(present ^ set(COVERAGE)) == []


@pytest.mark.parametrize("role", sorted(key for key in COVERAGE if key.startswith("roles/")))
def test_every_secret_variable_of_a_role_has_a_planted_secret_test(role):
    assert sorted(_role_secret_names(role) - set(COVERAGE[role])) == []


@pytest.mark.parametrize("module", sorted(key for key in COVERAGE if key.startswith("plugins/")))
def test_every_no_log_option_of_a_module_has_a_planted_secret_test(module):
    assert sorted(_module_no_log_options(module) - set(COVERAGE[module])) == []


@pytest.mark.parametrize("owner,name,test", [(owner, name, test) for owner, names in sorted(COVERAGE.items())
                                             for name, tests in sorted(names.items())
                                             for test in (tests if isinstance(tests, tuple) else (tests,))])
def test_the_listed_test_plants_a_secret_in_that_input(owner, name, test):
    text = (REPO / test).read_text()
    assert (re.search(r"plant", text, re.IGNORECASE) is not None, name in text) == (True, True), (owner, name, test)
