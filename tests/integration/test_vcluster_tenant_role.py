# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vcluster_tenant role run by ansible-playbook against the kmock Kubernetes API *emulator*
(not a cluster) and a real OpenBao dev server.

What runs for real: the role's validation, kubernetes.core.k8s against the emulator's HTTP API,
sovereign.cluster.tenant_rbac (host target) against the emulator, sovereign.cluster.vault_transit_key
and vault_policy against OpenBao, the offboarding guard. What cannot run here: no helm binary and no
vCluster exist in this lab, so the Helm step is exercised only through its visible "SKIPPED" report
(helm_binary points at a path that does not exist), and the kubeconfig-to-KV step with it.
"""
import json
import sys
from pathlib import Path

import hvac
import pytest

from ansible_collections.sovereign.cluster.tests.emulator import kmock_k8s

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration" / "vault"))
from openbao_server import OpenBaoServer, ensure_collection_link, run_playbook  # noqa: E402

# Kinds the role writes besides those kmock_k8s registers: added for the test only (monkeypatch).
EXTRA_KINDS = {
    "ResourceQuota": (("v1/resourcequotas", "/api/v1", "resourcequotas", True), "v1"),
    "LimitRange": (("v1/limitranges", "/api/v1", "limitranges", True), "v1"),
    "NetworkPolicy": (("networking.k8s.io/v1/networkpolicies", "/apis/networking.k8s.io/v1", "networkpolicies", True),
                      "networking.k8s.io/v1"),
    "Secret": (("v1/secrets", "/api/v1", "secrets", True), "v1"),
}

TENANTS = [
    {"name": "alpha", "zone": "secnumcloud", "isolation": "shared",
     "quotas": {"cpu": "8", "memory": "32Gi", "storage": "100Gi", "gpu": 1},
     "network": {"egress": [{"cidr": "10.20.0.0/16", "ports": [{"port": 443}]}]},
     "admins": ["alpha-admins"], "developers": ["alpha-devs"], "auditors": ["alpha-audit"]},
    {"name": "beta", "zone": "restricted", "isolation": "dedicated", "node_pool": "gpu-a",
     "quotas": {"cpu": "4", "memory": "16Gi", "mig": {"1g.10gb": 2, "3g.40gb": 1}},
     "admins": ["beta-admins"], "viewers": [{"kind": "User", "name": "carol@example.org"}],
     "vault": {"auto_rotate_period": "720h"}},
]


def tenant_emulator_kinds(monkeypatch):
    for kind, (info, api_version) in EXTRA_KINDS.items():
        monkeypatch.setitem(kmock_k8s.KINDS, kind, info)
        monkeypatch.setitem(kmock_k8s._API_VERSIONS, kind, api_version)


@pytest.fixture()
def tenant_emulator(monkeypatch):
    """The kmock Kubernetes API emulator with ResourceQuota, LimitRange, NetworkPolicy, Secret registered."""
    tenant_emulator_kinds(monkeypatch)
    with kmock_k8s.KubernetesApiEmulator() as emulator:
        yield emulator


@pytest.fixture(scope="module")
def openbao(tmp_path_factory):
    """A real OpenBao dev server (killed by PID) with a transit engine mounted."""
    with OpenBaoServer(tmp_path_factory.mktemp("openbao-tenants"), name="openbao-tenants") as server:
        hvac.Client(url=server.url, token=server.root_token).sys.enable_secrets_engine("transit", path="transit")
        yield server


class RoleRunner:
    def __init__(self, workdir, emulator, openbao, schema_path):
        self.workdir = Path(workdir)
        kubeconfig = {"apiVersion": "v1", "kind": "Config", "current-context": "emulator",
                      "clusters": [{"name": "emulator", "cluster": {"server": emulator.url}}],
                      "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "tester"}}],
                      "users": [{"name": "tester", "user": {"token": "emulator-token"}}]}
        self.kubeconfig = self.workdir / "kubeconfig"
        self.kubeconfig.write_text(json.dumps(kubeconfig))
        self.base = {
            "ansible_python_interpreter": sys.executable,
            "vcluster_tenant_kubeconfig": str(self.kubeconfig),
            "vcluster_tenant_fallback_dns": "10.0.0.53",
            "vcluster_tenant_values_schema": str(schema_path),
            # No helm binary exists in this lab: point at a path that surely does not exist, so the test
            # is deterministic and asserts the visible skip report.
            "vcluster_tenant_helm_binary": str(self.workdir / "no-helm-here" / "helm"),
            "vcluster_tenant_rbac_target": "host",
            "vcluster_tenant_vault_url": openbao.url,
            "vcluster_tenant_vault_token": openbao.root_token,
        }
        ensure_collection_link()

    def run(self, tenants, **extra):
        return run_playbook("tenants.yml", dict(self.base, sovereign_tenants=tenants, **extra), self.workdir)


@pytest.fixture()
def runner(tmp_path, tenant_emulator, openbao, fixtures_dir):
    return RoleRunner(tmp_path, tenant_emulator, openbao, fixtures_dir / "vcluster" / "values.schema.json")


def test_role_onboards_tenants_on_the_emulator_and_openbao_is_idempotent_and_offboards_behind_a_guard(runner, tenant_emulator, openbao):
    first = runner.run(TENANTS)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert first.changed and first.changed > 0

    namespaces = {ns["metadata"]["name"]: ns["metadata"]["labels"] for ns in tenant_emulator.list("Namespace")}
    assert set(namespaces) == {"tenant-alpha", "tenant-beta"}
    assert namespaces["tenant-alpha"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespaces["tenant-alpha"]["sovereign.cluster/tenant"] == "alpha"
    assert namespaces["tenant-beta"]["sovereign.cluster/zone"] == "restricted"
    quota = tenant_emulator.get("ResourceQuota", "tenant-quota", "tenant-beta")
    assert quota["spec"]["hard"]["requests.nvidia.com/mig-1g.10gb"] == "2"
    assert quota["spec"]["hard"]["requests.nvidia.com/gpu"] == "0"
    assert tenant_emulator.get("LimitRange", "tenant-limits", "tenant-alpha") is not None
    assert tenant_emulator.refs("NetworkPolicy") == sorted(
        ["tenant-alpha/default-deny", "tenant-alpha/allow-same-namespace", "tenant-alpha/allow-vcluster-dns",
         "tenant-alpha/allow-declared-egress", "tenant-beta/default-deny", "tenant-beta/allow-same-namespace",
         "tenant-beta/allow-vcluster-dns"])
    # tenant_rbac (host target): roles in each namespace, bindings only for roles with subjects.
    assert "tenant-alpha/auditor" in tenant_emulator.refs("RoleBinding")
    assert "tenant-beta/viewer" in tenant_emulator.refs("RoleBinding")
    assert "tenant-beta/auditor" not in tenant_emulator.refs("RoleBinding")
    # The emulator never saw a PUT nor server-side apply (kmock has neither).
    assert not [r for r in tenant_emulator.requests if r[0] == "PUT" or "fieldManager" in r[1]]

    client = hvac.Client(url=openbao.url, token=openbao.root_token)
    key = client.secrets.transit.read_key("tenant-beta")["data"]
    assert key["auto_rotate_period"] == 720 * 3600 and key["exportable"] is False
    assert 'path "transit/encrypt/tenant-alpha"' in client.sys.read_acl_policy("tenant-alpha")["data"]["policy"]

    # The Helm step is reported as skipped, with its reason, never faked.
    assert "SKIPPED vCluster Helm release for alpha, beta" in first.stdout
    assert "no-helm-here/helm cannot be run" in first.stdout

    tenant_emulator.clear_requests()
    second = runner.run(TENANTS)
    assert second.returncode == 0, second.stdout[-4000:]
    assert second.changed == 0, second.stdout[-6000:]
    assert not [r for r in tenant_emulator.writes() if r[0] in ("POST", "DELETE", "PUT")]

    # Offboarding (same emulator and server): refused without the confirmation, then done.
    offboarding_needs_the_confirmation_then_deletes(runner, tenant_emulator, openbao)


def test_bad_catalogue_fails_before_any_write_naming_tenant_and_field(runner, tenant_emulator):
    bad = [dict(TENANTS[0]), dict(TENANTS[1], name="Team_B")]
    proc = runner.run(bad)
    assert proc.returncode != 0
    assert "sovereign_tenants[1].name 'Team_B' is not a DNS-1123 label" in proc.stdout
    assert tenant_emulator.writes() == []


def offboarding_needs_the_confirmation_then_deletes(runner, tenant_emulator, openbao):
    leaving = [TENANTS[0], dict(TENANTS[1], state="absent")]
    tenant_emulator.clear_requests()

    refused = runner.run(leaving)
    assert refused.returncode != 0
    assert 'set vcluster_tenant_offboard_confirm to "beta"' in refused.stdout
    assert tenant_emulator.writes() == []

    done = runner.run(leaving, vcluster_tenant_offboard_confirm="beta")
    assert done.returncode == 0, done.stdout[-4000:]
    assert tenant_emulator.get("Namespace", "tenant-beta") is None
    assert [r for r in tenant_emulator.refs("NetworkPolicy") if r.startswith("tenant-beta/")] == []
    assert [r for r in tenant_emulator.refs("RoleBinding") if r.startswith("tenant-beta/")] == []
    assert tenant_emulator.get("Namespace", "tenant-alpha") is not None
    client = hvac.Client(url=openbao.url, token=openbao.root_token)
    assert "tenant-beta" not in client.sys.list_acl_policies()["data"]["keys"]
    # The transit key is kept unless crypto-shredding is asked for.
    assert client.secrets.transit.read_key("tenant-beta")["data"]["name"] == "tenant-beta"
