# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/tenants.yml (role vcluster_tenant) on the real control plane: the guards and what lands where.

What test_vcluster_tenant_role_cluster.py (admission, RBAC by SubjectAccessReview, the Helm release) does not
look at, checked here on the same real kube-apiserver and on an OpenBao dev server of this module's own:

* the host objects as the apiserver stored them: namespace labels (zone too), the ResourceQuota's GPU and MIG
  lines (a dedicated MIG tenant gets ``gpu: 0``), the LimitRange, the exact NetworkPolicies of each namespace,
  RoleBindings only for the roles that have subjects;
* no PUT and no server-side apply on the first run, no write at all on the second (the apiserver's audit log);
* the Vault objects in OpenBao: the transit key (rotation period, not exportable) and the policy of each tenant;
* the Helm step reported as skipped, with its reason, when the helm binary cannot be run (never faked);
* a bad catalogue fails naming the tenant and the field, before any request to the apiserver;
* offboarding is refused without the confirmation, before any request; confirmed, it deletes only that
  tenant's objects (every delete request names its namespace), the namespace is gone, the Vault policy is
  deleted and the transit key kept.

The tenants are named sg<random>-alpha / -beta; the module offboards both at the end.
"""
import secrets
import sys
import time

import hvac
import kubernetes
import pytest

from control_plane import REPO, WRITE_VERBS

sys.path.insert(0, str(REPO / "tests" / "integration" / "vault"))
from openbao_server import OpenBaoServer, run_playbook  # noqa: E402

PREFIX = "sg" + secrets.token_hex(2)
ALPHA, BETA = PREFIX + "-alpha", PREFIX + "-beta"
TENANTS = [
    {"name": ALPHA, "zone": "secnumcloud", "isolation": "shared",
     "quotas": {"cpu": "8", "memory": "32Gi", "storage": "100Gi", "gpu": 1},
     "network": {"egress": [{"cidr": "10.20.0.0/16", "ports": [{"port": 443}]}]},
     "admins": ["alpha-admins"], "developers": ["alpha-devs"], "auditors": ["alpha-audit"]},
    {"name": BETA, "zone": "restricted", "isolation": "dedicated", "node_pool": "gpu-a",
     "quotas": {"cpu": "4", "memory": "16Gi", "mig": {"1g.10gb": 2, "3g.40gb": 1}},
     "admins": ["beta-admins"], "viewers": [{"kind": "User", "name": "carol@example.org"}],
     "vault": {"auto_rotate_period": "720h"}},
]


def ns(tenant):
    return "tenant-" + tenant


def writes(requests):
    return [r for r in requests if r[0] in WRITE_VERBS]


@pytest.fixture(scope="module")
def openbao(tmp_path_factory):
    """A real OpenBao dev server (killed by PID) with a transit engine mounted."""
    with OpenBaoServer(tmp_path_factory.mktemp("openbao-guards"), name="openbao-guards") as server:
        hvac.Client(url=server.url, token=server.root_token).sys.enable_secrets_engine("transit", path="transit")
        yield server


class Runner:
    """tenants.yml with this module's variables; each run's requests, read from the audit log once it is written."""

    def __init__(self, control_plane, k8s_api, openbao, workdir, schema):
        self.cp, self.api, self.workdir = control_plane, k8s_api, workdir
        self.base = {
            "ansible_python_interpreter": sys.executable,
            "sovereign_kubernetes_api_available": True,
            "vcluster_tenant_kubeconfig": control_plane.admin_kubeconfig,
            "vcluster_tenant_fallback_dns": "10.96.0.10",
            "vcluster_tenant_values_schema": str(schema),
            # a helm that surely cannot run: the role must say so, with the reason, and go on without it
            "vcluster_tenant_helm_enabled": True,
            "vcluster_tenant_helm_binary": str(workdir / "no-helm-here" / "helm"),
            "vcluster_tenant_rbac_target": "host",
            "vcluster_tenant_vault_url": openbao.url,
            "vcluster_tenant_vault_token": openbao.root_token,
        }

    def run(self, tenants, **extra):
        window = self.cp.audit_window()
        proc = run_playbook("tenants.yml", dict(self.base, sovereign_tenants=tenants, **extra), self.workdir,
                            timeout=1800)
        proc.requests = window.events()
        return proc


@pytest.fixture(scope="module")
def runner(control_plane, k8s_api, openbao, tmp_path_factory, fixtures_dir):
    return Runner(control_plane, k8s_api, openbao, tmp_path_factory.mktemp("guards"),
                  fixtures_dir / "vcluster" / "values.schema.json")


@pytest.fixture(scope="module")
def onboarded(runner):
    first = runner.run(TENANTS)
    second = runner.run(TENANTS)
    try:
        yield {"first": first, "second": second}
    finally:
        gone = [dict(t, state="absent") for t in TENANTS]
        done = runner.run(gone, vcluster_tenant_offboard_confirm=[ALPHA, BETA])
        assert done.returncode == 0, done.stdout[-6000:]


def network_policies(k8s_api, tenant):
    return sorted(p.metadata.name for p in k8s_api.networking.list_namespaced_network_policy(ns(tenant)).items)


def role_bindings(k8s_api, tenant):
    return sorted(b.metadata.name for b in k8s_api.rbac.list_namespaced_role_binding(ns(tenant)).items)


def test_first_run_stores_the_host_objects_and_the_vault_objects(onboarded, k8s_api, openbao):
    first = onboarded["first"]
    assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-2000:]
    assert first.changed and first.changed > 0
    alpha, beta = (k8s_api.core.read_namespace(ns(t)).metadata.labels for t in (ALPHA, BETA))
    assert alpha["pod-security.kubernetes.io/enforce"] == "restricted" and alpha["sovereign.cluster/tenant"] == ALPHA
    assert alpha["sovereign.cluster/zone"] == "secnumcloud" and beta["sovereign.cluster/zone"] == "restricted"
    quota = k8s_api.core.read_namespaced_resource_quota("tenant-quota", ns(BETA)).spec.hard
    assert quota["requests.nvidia.com/mig-1g.10gb"] == "2" and quota["requests.nvidia.com/mig-3g.40gb"] == "1"
    assert quota["requests.nvidia.com/gpu"] == "0"  # a MIG tenant gets no whole GPU
    assert k8s_api.core.read_namespaced_resource_quota("tenant-quota", ns(ALPHA)).spec.hard["requests.nvidia.com/gpu"] \
        == "1"
    assert k8s_api.core.read_namespaced_limit_range("tenant-limits", ns(ALPHA)) is not None
    assert network_policies(k8s_api, ALPHA) == ["allow-declared-egress", "allow-same-namespace", "allow-vcluster-dns",
                                                "default-deny"]
    assert network_policies(k8s_api, BETA) == ["allow-same-namespace", "allow-vcluster-dns", "default-deny"]
    # tenant_rbac (host target): bindings only for the roles that have subjects
    assert {"auditor", "developer", "tenant-admin"} <= set(role_bindings(k8s_api, ALPHA))
    assert "viewer" in role_bindings(k8s_api, BETA) and "auditor" not in role_bindings(k8s_api, BETA)
    # create and merge patch only: never a PUT (verb update), never a server-side apply (fieldManager)
    sent = writes(first.requests)
    assert sent and all(code in (200, 201) for _verb, _uri, code in sent), sent
    assert [r for r in sent if r[0] == "update" or "fieldManager=" in r[1]] == [], sent
    # Vault: a transit key and a policy per tenant, on OpenBao
    client = hvac.Client(url=openbao.url, token=openbao.root_token)
    key = client.secrets.transit.read_key(ns(BETA))["data"]
    assert key["auto_rotate_period"] == 720 * 3600 and key["exportable"] is False
    assert 'path "transit/encrypt/%s"' % ns(ALPHA) in client.sys.read_acl_policy(ns(ALPHA))["data"]["policy"]
    # the Helm step is reported as skipped, with its reason, never faked
    assert "SKIPPED vCluster Helm release for %s, %s" % (ALPHA, BETA) in first.stdout
    assert "no-helm-here/helm cannot be run" in first.stdout


def test_second_run_changes_nothing_and_sends_no_write(onboarded):
    second = onboarded["second"]
    assert second.returncode == 0, second.stdout[-6000:]
    assert second.changed == 0, second.stdout[-6000:]
    assert second.requests, "the second run read nothing: the audit log does not see the role"
    assert writes(second.requests) == [], writes(second.requests)


def test_bad_catalogue_fails_before_any_request_naming_tenant_and_field(onboarded, runner, k8s_api):
    bad = [dict(TENANTS[0]), dict(TENANTS[1], name="Team_B")]
    proc = runner.run(bad)
    assert proc.returncode != 0
    assert "sovereign_tenants[1].name 'Team_B' is not a DNS-1123 label" in proc.stdout
    assert proc.requests == []  # validation is local: not even a read
    assert network_policies(k8s_api, ALPHA)  # alpha untouched


def test_offboarding_needs_the_confirmation_then_deletes_only_that_tenant(onboarded, runner, k8s_api, openbao):
    leaving = [TENANTS[0], dict(TENANTS[1], state="absent")]
    refused = runner.run(leaving)
    assert refused.returncode != 0
    assert 'set vcluster_tenant_offboard_confirm to "%s"' % BETA in refused.stdout
    assert refused.requests == []  # refused by the validation, before any request

    done = runner.run(leaving, vcluster_tenant_offboard_confirm=BETA)
    assert done.returncode == 0, done.stdout[-6000:]
    deletes = [uri for verb, uri, _code in done.requests if verb in ("delete", "deletecollection")]
    assert deletes and all(ns(BETA) in uri for uri in deletes), deletes
    assert [r for r in writes(done.requests) if ns(ALPHA) in r[1]] == []
    deadline = time.monotonic() + 120  # the namespace controller empties the namespace, then it goes
    while True:
        try:
            k8s_api.core.read_namespace(ns(BETA))
        except kubernetes.client.ApiException as exc:
            assert exc.status == 404, exc
            break
        assert time.monotonic() < deadline, "namespace %s still there" % ns(BETA)
        time.sleep(1)
    assert network_policies(k8s_api, ALPHA) and role_bindings(k8s_api, ALPHA)
    assert k8s_api.core.read_namespace(ns(ALPHA)).status.phase == "Active"
    client = hvac.Client(url=openbao.url, token=openbao.root_token)
    assert ns(BETA) not in client.sys.list_acl_policies()["data"]["keys"]
    assert ns(ALPHA) in client.sys.list_acl_policies()["data"]["keys"]
    # the transit key is kept unless crypto-shredding is asked for
    assert client.secrets.transit.read_key(ns(BETA))["data"]["name"] == ns(BETA)
    assert client.secrets.transit.read_key(ns(ALPHA))["data"]["name"] == ns(ALPHA)
