# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input to the vcluster_tenant role and the tenant_rbac module, on the real apiserver and a real OpenBao.

One ansible-playbook run per mode (``--check``, then for real) plays every case, each in a block/rescue that
records ``ansible_failed_result.msg`` (tests/case_playbook.py). Around both runs the test snapshots what the role and the module may write:

* on the apiserver: namespaces, and per namespace ResourceQuotas, LimitRanges, NetworkPolicies, Roles,
  RoleBindings and the names of Secrets; ClusterRoles, ClusterRoleBindings, ValidatingAdmissionPolicies and their
  bindings (each with its resourceVersion, so an update shows too); and the apiserver's audit log of the runs
  holds no write request at all;
* on OpenBao: the ACL policies, the transit keys (with their settings and versions), the auth methods and the
  KV entries under the tenants' prefix.

Every case must be refused with a message naming the variable (with its index or key) and nothing may change,
in check mode and for real. A last good run proves the harness sees changes (and offboards its tenant).
"""
import copy
import secrets
import sys
from pathlib import Path

import hvac
import kubernetes
import pytest

from control_plane import REPO
from tests.case_playbook import CasePlaybook, assert_all_refused, assert_ran, assert_refused, module_body, role_body

sys.path.insert(0, str(REPO / "tests" / "integration" / "vault"))
from openbao_server import OpenBaoServer  # noqa: E402

PREFIX = "sb" + secrets.token_hex(2)


def _case_id(expected):
    """A test id without the random tenant prefix: pytest-xdist's workers must collect the same ids."""
    return expected.replace(PREFIX, "<tenant>")[:60]


TENANT = PREFIX + "-bad"
RBAC_A, RBAC_B = PREFIX + "-rbac-a", PREFIX + "-rbac-b"
TENANT_LABEL = "sovereign.cluster/tenant"
GOOD_TENANT = {"name": TENANT, "zone": "secnumcloud", "isolation": "shared",
               "quotas": {"cpu": "4", "memory": "8Gi", "mig": {"1g.10gb": 1}},
               "network": {"egress": [{"cidr": "10.20.0.0/16", "ports": [{"port": 443}]}]},
               "admins": ["bad-admins"], "auditors": ["bad-audit"]}


def tenant(**changes):
    return [dict(copy.deepcopy(GOOD_TENANT), **changes)]


def network(direction, *cidrs):
    return tenant(network={direction: [{"cidr": cidr} for cidr in cidrs]})


# (variables over the good ones, text the refusal must hold)
ROLE_CASES = [
    ({"sovereign_tenants": tenant(quotas={"mig": {"9g.999gb": 1}})},
     "sovereign_tenants[0] (tenant '%s').quotas.mig key '9g.999gb' is not a MIG profile" % TENANT),
    ({"sovereign_tenants": tenant(quotas={"mig": {"1g.18gb": 1}}), "vcluster_tenant_gpu_catalogue": ["H100-80GB"]},
     "quotas.mig key '1g.18gb': no GPU of the site has the MIG profile 1g.18gb"),
    ({"vcluster_tenant_gpu_catalogue": ["H100-80GB", "Z9000"]}, "vcluster_tenant_gpu_catalogue[1] 'Z9000' is not a known GPU"),
    ({"sovereign_tenants": tenant(quotas={"pods": 2 ** 64})}, ".quotas.pods 18446744073709551616 is out of range"),
    ({"sovereign_tenants": tenant(vault={"auto_rotate_period": "30m"})},
     "(tenant '%s').vault.auto_rotate_period '30m' is shorter than one hour" % TENANT),
    ({"sovereign_tenants": tenant(vault={"min_decryption_version": 0})}, ".vault.min_decryption_version 0: use a key version"),
    ({"sovereign_tenants": tenant(vault={"rotate_if_older_than": "0"})},
     ".vault.rotate_if_older_than '0' would rotate the key on every run"),
    ({"vcluster_tenant_vault_auto_rotate_period": "10m"}, "vcluster_tenant_vault_auto_rotate_period '10m' is shorter"),
    # the key does not exist yet, so it will have version 1 only: Vault's own rule, checked before any change
    ({"sovereign_tenants": tenant(vault={"min_decryption_version": 5})}, "min_decryption_version 5 is out of range"),
    ({"sovereign_tenants": network("egress", "0.0.0.0/0")},
     ".network.egress[0].cidr 0.0.0.0/0 opens the tenant to every address: name the networks it needs, or set "
     "vcluster_tenant_allow_internet_egress: true"),
    ({"sovereign_tenants": network("egress", "0.0.0.0/1", "128.0.0.0/1")},
     "together open the tenant to every IPv4 address: name the networks it needs, or set vcluster_tenant_allow_internet_egress"),
    ({"sovereign_tenants": network("ingress", "::/0")}, ".network.ingress[0].cidr ::/0 opens the tenant to every address"),
    ({"sovereign_tenants": network("egress", "10.0.0.1 accept; tcp dport 1-65535")},
     ".network.egress[0].cidr '10.0.0.1 accept; tcp dport 1-65535' is not a network in CIDR notation"),
    ({"sovereign_tenants": network("egress", "10.20.0.0/33")}, ".network.egress[0].cidr '10.20.0.0/33' is not a network"),
    ({"sovereign_tenants": tenant(name="Team_B")}, "sovereign_tenants[0].name 'Team_B' is not a DNS-1123 label"),
    ({"sovereign_tenants": tenant(state="absent")}, 'set vcluster_tenant_offboard_confirm to "%s"' % TENANT),
    ({"vcluster_tenant_kubeconfig": "/nonexistent/kubeconfig"},
     'vcluster_tenant_kubeconfig: the kubeconfig file does not exist on the controller (got "/nonexistent/kubeconfig")'),
    ({"vcluster_tenant_kubeconfig": "{admin_dir}/../admin.conf"}, "vcluster_tenant_kubeconfig: holds '..'"),
    ({"vcluster_tenant_kubeconfig": {"apiVersion": "v1", "users": []}},
     "vcluster_tenant_kubeconfig: a kubeconfig given as a mapping has no clusters or no users"),
    ({"vcluster_tenant_vault_ca_cert": "/nonexistent/vault-ca.pem"},
     "vcluster_tenant_vault_ca_cert: the Vault CA certificate does not exist on the controller"),
    ({"vcluster_tenant_values_schema": "/srv/../nonexistent/values.schema.json"}, "vcluster_tenant_values_schema: holds '..'"),
    ({"vcluster_tenant_helm_binary": "/usr/local/../bin/helm"}, "vcluster_tenant_helm_binary: not a program name or path"),
    ({"vcluster_tenant_vault_url": "vault.internal:8200"}, 'vcluster_tenant_vault_url: not a https/http URL (got "vault.internal'),
    ({"vcluster_tenant_vault_auth_method": "approle", "vcluster_tenant_vault_role_id": "some-role"},
     "vcluster_tenant_vault_secret_id: not set (vcluster_tenant_vault_auth_method is approle)"),
    ({"vcluster_tenant_vault_kv_mount": "../sys"}, "vcluster_tenant_vault_kv_mount: not a valid Vault path"),
    ({"vcluster_tenant_vault_url": "http://127.0.0.1:9"}, "Vault at vcluster_tenant_vault_url http://127.0.0.1:9"),
    ({"vcluster_tenant_vault_token": "not-the-token"}, "refused the plan before any change"),
    ({"vcluster_tenant_vault_transit_mount": "no-such-transit"}, "vcluster_tenant_vault_transit_mount no-such-transit) refused"),
    ({"vcluster_tenant_k8s_host": "https://127.0.0.1:9"},
     "the Kubernetes API could not be read with vcluster_tenant_kubeconfig ({admin}), vcluster_tenant_context (none) and "
     "vcluster_tenant_k8s_host https://127.0.0.1:9"),
    ({"vcluster_tenant_k8s_host": "{apiserver}", "vcluster_tenant_k8s_api_key": "not-a-token",
      "vcluster_tenant_kubeconfig": None, "vcluster_tenant_k8s_validate_certs": False},
     "the Kubernetes API could not be read with vcluster_tenant_kubeconfig (the kubernetes.core default)"),
]


def rbac_options(**changes):
    reads = [{"api_groups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
    options = {"tenant": RBAC_A, "namespaces": [RBAC_A],
               "roles": [{"name": "tenant-admin", "rules": reads}, {"name": "auditor", "rules": reads}],
               "bindings": [{"name": "tenant-admin", "role": "tenant-admin",
                             "subjects": [{"kind": "Group", "name": "oidc:a-admins"}]}]}
    options.update(changes)
    return options


RBAC_CASES = [
    (rbac_options(bindings=[{"name": "root", "cluster_role": "cluster-admin",
                             "subjects": [{"kind": "Group", "name": "oidc:a-admins"}]}]), "cluster-admin"),
    (rbac_options(namespaces=[RBAC_A, RBAC_B]), "belongs to tenant '%s'" % RBAC_B),
    (rbac_options(bindings=[{"name": "tenant-admin", "role": "tenant-admin",
                             "subjects": [{"kind": "Group", "name": "oidc:a"}]},
                            {"name": "auditor", "role": "auditor", "subjects": [{"kind": "Group", "name": "oidc:a"}]}]),
     "SecNumCloud 9.3.f"),
    (rbac_options(bindings=[{"name": "sneaky", "role": "tenant-admin",
                             "subjects": [{"kind": "Group", "name": "system:masters"}]}]), "system:masters"),
    (rbac_options(roles=[{"name": "tenant-admin", "rules": [{"api_groups": [""], "resources": ["pods"],
                                                             "verbs": ["*"]}]}]), "verbs"),
    (rbac_options(tenant="Team_A"), "Team_A"),
    (rbac_options(kubeconfig="/nonexistent/kubeconfig"), "kubeconfig/context: cannot load the Kubernetes client configuration"),
    (rbac_options(bindings=[{"name": "x", "cluster_role": "no-such-role",
                             "subjects": [{"kind": "Group", "name": "oidc:a-admins"}]}]), "no-such-role"),
]

ROLE_BODY = role_body("sovereign.cluster.vcluster_tenant")
MODULE_BODY = module_body("sovereign.cluster.tenant_rbac", ("kubeconfig", "tenant", "namespaces", "roles", "bindings"),
                          values={"kubeconfig": "case_options.kubeconfig | default(admin_kubeconfig)"})


def _fill(value, places):
    if isinstance(value, str):
        for key, text in places.items():
            value = value.replace("{%s}" % key, text)
        return value
    if isinstance(value, dict):
        return {k: _fill(v, places) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, places) for v in value]
    return value


def api_snapshot(api, client):
    """What the role and the module may write, each object with its resourceVersion."""
    def refs(items):
        return sorted((i.metadata.namespace or "", i.metadata.name, i.metadata.resource_version) for i in items)

    core, rbac, net = api.core, api.rbac, api.networking
    admission = kubernetes.client.AdmissionregistrationV1Api(client)
    tenant_namespaces = [n.metadata.name for n in core.list_namespace().items if n.metadata.name.startswith("tenant-")
                         or n.metadata.name.startswith(PREFIX)]
    return {
        "namespaces": refs(core.list_namespace().items),
        "resourcequotas": refs(core.list_resource_quota_for_all_namespaces().items),
        "limitranges": refs(core.list_limit_range_for_all_namespaces().items),
        "networkpolicies": refs(net.list_network_policy_for_all_namespaces().items),
        "roles": refs(rbac.list_role_for_all_namespaces().items),
        "rolebindings": refs(rbac.list_role_binding_for_all_namespaces().items),
        # aggregated ClusterRoles are rewritten by kube-controller-manager on its own: names only for those
        "clusterroles": sorted((c.metadata.name, None if c.aggregation_rule else c.metadata.resource_version)
                               for c in rbac.list_cluster_role().items),
        "clusterrolebindings": refs(rbac.list_cluster_role_binding().items),
        "validatingadmissionpolicies": refs(admission.list_validating_admission_policy().items),
        "validatingadmissionpolicybindings": refs(admission.list_validating_admission_policy_binding().items),
        "secrets": sorted((ns, s.metadata.name) for ns in tenant_namespaces
                          for s in core.list_namespaced_secret(ns).items),
    }


def bao_snapshot(server):
    client = hvac.Client(url=server.url, token=server.root_token)
    keys = {}
    try:
        names = client.secrets.transit.list_keys()["data"]["keys"]
    except hvac.exceptions.InvalidPath:
        names = []
    for name in names:
        data = client.secrets.transit.read_key(name)["data"]
        keys[name] = {k: data.get(k) for k in ("latest_version", "min_decryption_version", "auto_rotate_period",
                                               "deletion_allowed", "exportable")}
    try:
        kv = client.secrets.kv.v2.list_secrets(path="tenants")["data"]["keys"]
    except hvac.exceptions.InvalidPath:
        kv = []
    return {"policies": sorted(client.sys.list_acl_policies()["data"]["keys"]), "transit_keys": keys,
            "auth": sorted(client.sys.list_auth_methods()["data"]), "kv": sorted(kv)}


class Rig:
    def __init__(self, root, control_plane, openbao, schema):
        self.root, self.cp, self.bao = root, control_plane, openbao
        places = {"admin_dir": str(Path(control_plane.admin_kubeconfig).parent), "admin": control_plane.admin_kubeconfig,
                  "apiserver": control_plane.url}
        self.good = {
            "sovereign_tenants": tenant(), "vcluster_tenant_kubeconfig": control_plane.admin_kubeconfig,
            "vcluster_tenant_k8s_host": None, "vcluster_tenant_k8s_api_key": None, "vcluster_tenant_k8s_validate_certs": None,
            "vcluster_tenant_fallback_dns": "10.96.0.10", "vcluster_tenant_values_schema": str(schema),
            "vcluster_tenant_helm_enabled": True, "vcluster_tenant_helm_binary": str(root / "no-helm-here" / "helm"),
            "vcluster_tenant_rbac_target": "host", "vcluster_tenant_gpu_catalogue": None,
            "vcluster_tenant_vault_url": openbao.url, "vcluster_tenant_vault_token": openbao.root_token,
            "vcluster_tenant_vault_auth_method": "token", "vcluster_tenant_vault_role_id": None,
            "vcluster_tenant_vault_secret_id": None, "vcluster_tenant_vault_ca_cert": None,
            "vcluster_tenant_vault_transit_mount": "transit", "vcluster_tenant_vault_kv_mount": "secret",
            "vcluster_tenant_vault_auto_rotate_period": "30d", "vcluster_tenant_offboard_confirm": [],
        }
        self.role_cases = [(_fill(dict(self.good, **changes), places), _fill(text, places)) for changes, text in ROLE_CASES]
        cases = [("role", variables) for variables, _text in self.role_cases]
        cases += [("module", {"case_options": options}) for options, _text in RBAC_CASES]
        self.cases = CasePlaybook(root, cases, {"role": ROLE_BODY, "module": MODULE_BODY}, timeout=1800,
                                  extra_vars={"admin_kubeconfig": control_plane.admin_kubeconfig})

    def _audited(self, play, *args):
        """``play(*args)``, with the apiserver's audit events of the run: (Played, requests)."""
        window = self.cp.audit_window()
        played = play(*args)
        # the role's and the module's identity (the admin kubeconfig); controllers write on their own
        return played, window.events()

    def run(self, mode):
        played, requests = self._audited(self.cases.run, mode)
        assert_ran(played)
        return played, requests

    def run_role(self, label, variables):
        played, requests = self._audited(self.cases.play_role, label, "sovereign.cluster.vcluster_tenant", variables)
        assert played.returncode == 0, played.tail()
        return played, requests


WRITES = ("create", "update", "patch", "delete", "deletecollection")


@pytest.fixture(scope="module")
def openbao(tmp_path_factory):
    with OpenBaoServer(tmp_path_factory.mktemp("openbao-bad-input"), name="openbao-bad-input") as server:
        client = hvac.Client(url=server.url, token=server.root_token)
        client.sys.enable_secrets_engine("transit", path="transit")
        yield server


@pytest.fixture(scope="module")
def rig(control_plane, k8s_api, openbao, tmp_path_factory, fixtures_dir):
    for name in (RBAC_A, RBAC_B):  # tenant_rbac's namespaces, labelled for their tenant
        k8s_api.core.create_namespace({"metadata": {"name": name, "labels": {TENANT_LABEL: name}}})
    try:
        yield Rig(tmp_path_factory.mktemp("tenant-bad-input"), control_plane, openbao,
                  fixtures_dir / "vcluster" / "values.schema.json")
    finally:
        for name in (RBAC_A, RBAC_B):
            k8s_api.core.delete_namespace(name)


@pytest.fixture(scope="module")
def runs(rig, k8s_api):
    out = {"start": (api_snapshot(k8s_api, k8s_api.client), bao_snapshot(rig.bao))}
    out["check"], out["check_requests"] = rig.run("check")
    out["check_after"] = (api_snapshot(k8s_api, k8s_api.client), bao_snapshot(rig.bao))
    if out["check"].not_refused():
        pytest.fail("a bad case was not refused in check mode; the real run is not started: %s" % out["check"].not_refused())
    out["real"], out["real_requests"] = rig.run("real")
    out["real_after"] = (api_snapshot(k8s_api, k8s_api.client), bao_snapshot(rig.bao))
    try:
        out["good"], out["good_requests"] = rig.run_role("good", rig.good)
        out["good_after"] = (api_snapshot(k8s_api, k8s_api.client), bao_snapshot(rig.bao))
    finally:
        rig.run_role("offboard", dict(rig.good, sovereign_tenants=tenant(state="absent"), vcluster_tenant_offboard_confirm=[TENANT]))
    return out


@pytest.mark.parametrize("mode", ["check", "real"])
@pytest.mark.parametrize("index", range(len(ROLE_CASES)), ids=[_case_id(c[1]) for c in ROLE_CASES])
def test_role_refuses_naming_the_field(rig, runs, mode, index):
    assert_refused(runs[mode].results[index], rig.role_cases[index][1])


@pytest.mark.parametrize("mode", ["check", "real"])
@pytest.mark.parametrize("index", range(len(RBAC_CASES)), ids=[_case_id(c[1]) for c in RBAC_CASES])
def test_tenant_rbac_refuses_naming_the_field(runs, mode, index):
    assert_refused(runs[mode].results[len(ROLE_CASES) + index], RBAC_CASES[index][1])


@pytest.mark.parametrize("mode", ["check", "real"])
def test_nothing_changed_on_the_apiserver_or_openbao(runs, mode):
    api, bao = runs[mode + "_after"]
    assert api == runs["start"][0]
    assert bao == runs["start"][1]


@pytest.mark.parametrize("mode", ["check", "real"])
def test_the_apiserver_saw_no_write_request(runs, mode):
    sent = [r for r in runs[mode + "_requests"] if r[0] in WRITES]
    assert sent == [], sent
    assert runs[mode + "_requests"], "the runs read nothing: the audit log does not see the role"


def test_the_good_run_does_change_both_servers(runs):
    """The harness sees changes: the good settings create the tenant namespace and its transit key."""
    api, bao = runs["good_after"]
    assert ("", "tenant-" + TENANT) in [(ns, name) for ns, name, _rv in api["namespaces"]]
    assert "tenant-" + TENANT in bao["transit_keys"]


def test_every_case_was_refused_in_both_modes(runs):
    """Both runs recorded one refusal per case (a case that passed or recorded nothing would show here)."""
    assert_all_refused(runs["check"], runs["real"])
