# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/tenants.yml (role vcluster_tenant) on the real control plane, with real helm and the real chart.

The control plane is the one of conftest.py (configured by kubernetes_control_plane: PSA restricted,
audit policy, KMS v2); helm v4 and the vCluster chart come from lab/k8s_build.py (the chart is chart/ of
the github.com/loft-sh/vcluster module, packaged with its version). Vault is the control plane's OpenBao.

What is shown here: the play converges and its second run reports changed=0 and sends no write request
(counted in the apiserver's audit log); the namespaces are admitted with their Pod Security labels and the
real PodSecurity admission refuses privileged, hostPath and root pods and admits a restricted one; the
ResourceQuota admission refuses pods over the CPU, memory, GPU and MIG-profile quotas; the RBAC the role
binds is checked by SubjectAccessReview as a full isolation matrix (printed); the apiserver's escalation
check refuses what tenant_rbac refuses too; the vCluster release is installed by the role's Helm task.

What cannot run without nodes: no kubelet runs on this machine (LAB.md), so the vCluster pods stay Pending,
its kubeconfig Secret is never written, and RBAC inside the vCluster and the kubeconfig in Vault KV wait for
the lab cluster (issue 14). The role says so in its output; the test checks that too.
"""
import json
import secrets
import subprocess
import sys
import time

import pytest
import yaml

from control_plane import REPO, k8s_build

sys.path.insert(0, str(REPO / "tests" / "integration" / "vault"))
from openbao_server import run_playbook  # noqa: E402

PREFIX = "sov" + secrets.token_hex(2)
A, B = PREFIX + "a", PREFIX + "b"
TENANTS = [
    {"name": A, "zone": "secnumcloud", "isolation": "shared",
     "quotas": {"cpu": "2", "memory": "4Gi", "storage": "10Gi", "gpu": 1},
     "network": {"egress": [{"cidr": "10.20.0.0/16", "ports": [{"port": 443}]}]},
     "admins": ["a-admins"], "developers": ["a-devs"], "auditors": ["a-audit"]},
    {"name": B, "zone": "restricted", "isolation": "shared",
     "quotas": {"cpu": "2", "memory": "2Gi", "mig": {"1g.10gb": 1}},
     "admins": ["b-admins"], "viewers": [{"kind": "User", "name": "carol@example.org"}]},
]
SUBJECTS = {  # tenant -> (role, SubjectAccessReview identity)
    A: [("tenant-admin", {"user": "alice", "groups": ["a-admins"]}), ("developer", {"user": "dev", "groups": ["a-devs"]}),
        ("auditor", {"user": "aud", "groups": ["a-audit"]})],
    B: [("tenant-admin", {"user": "bob", "groups": ["b-admins"]}), ("viewer", {"user": "carol@example.org", "groups": []})],
}


def ns(tenant):
    return "tenant-" + tenant


def role_vars(control_plane, tenants, **extra):
    variables = {
        "ansible_python_interpreter": sys.executable,
        "sovereign_kubernetes_api_available": True,
        "vcluster_tenant_kubeconfig": control_plane.admin_kubeconfig,
        "vcluster_tenant_fallback_dns": "10.96.0.10",
        "vcluster_tenant_values_schema": str(REPO.parent / "shared" / "fixtures" / "vcluster" / "values.schema.json"),
        "vcluster_tenant_helm_enabled": True,
        "vcluster_tenant_helm_binary": str(k8s_build.binary_path("helm3")),  # kubernetes.core.helm: helm 3
        "vcluster_tenant_chart_ref": str(k8s_build.vcluster_chart_path()),
        "vcluster_tenant_chart_version": k8s_build.VERSIONS["vcluster"],
        "vcluster_tenant_helm_wait": False,  # no kubelet here: the vCluster pods stay Pending
        "vcluster_tenant_rbac_target": "host",
        "vcluster_tenant_vault_url": control_plane.bao.url,
        "vcluster_tenant_vault_token": control_plane.bao.root_token,
        "sovereign_tenants": tenants,
    }
    variables.update(extra)
    return variables


def stored_writes(window):
    """The window's write requests, as text; a server-side dry run (dryRun=All, what check mode sends) is admitted
    and validated but never stored, so it is not one."""
    return [f"{verb} {uri} -> {code}" for verb, uri, code in window.writes() if "dryRun=All" not in uri]


@pytest.fixture(scope="module")
def onboarded(control_plane, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tenants")
    window = control_plane.audit_window()
    check = run_playbook("tenants.yml", role_vars(control_plane, TENANTS), tmp, timeout=1800,
                         extra_args=["--check", "--diff"])
    check_writes = stored_writes(window)
    first = run_playbook("tenants.yml", role_vars(control_plane, TENANTS), tmp, timeout=1800)
    window = control_plane.audit_window()
    second = run_playbook("tenants.yml", role_vars(control_plane, TENANTS), tmp, timeout=1800)
    writes = stored_writes(window)
    try:
        yield {"check": check, "check_writes": check_writes, "first": first, "second": second,
               "writes": writes, "tmp": tmp}
    finally:
        gone = [dict(t, state="absent") for t in TENANTS]
        done = run_playbook("tenants.yml", role_vars(control_plane, gone, vcluster_tenant_offboard_confirm=[A, B]),
                            tmp, timeout=1800)
        assert done.returncode == 0, done.stdout[-6000:]


def test_check_mode_on_an_empty_server_predicts_the_first_run_and_writes_nothing(onboarded):
    check = onboarded["check"]
    assert check.returncode == 0, check.stdout[-8000:] + check.stderr[-2000:]
    assert check.changed and check.changed > 0
    assert "SKIPPED vCluster Helm release" not in check.stdout  # helm is found in check mode too
    assert onboarded["check_writes"] == [], "check mode sent write requests:\n" + "\n".join(onboarded["check_writes"])


def test_converges_and_the_second_run_changes_and_writes_nothing(onboarded):
    first, second = onboarded["first"], onboarded["second"]
    assert first.returncode == 0, first.stdout[-8000:] + first.stderr[-2000:]
    assert first.changed and first.changed > 0
    assert second.returncode == 0, second.stdout[-8000:]
    assert second.changed == 0, second.stdout[-8000:]
    assert onboarded["writes"] == [], "the second run sent write requests:\n" + "\n".join(onboarded["writes"])


def test_namespaces_guardrails_and_the_helm_release(onboarded, k8s_api, control_plane):
    assert onboarded["first"].returncode == 0
    for tenant in (A, B):
        namespace = k8s_api.core.read_namespace(ns(tenant))
        assert namespace.metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"
        assert namespace.metadata.labels["sovereign.cluster/tenant"] == tenant
        policies = {p.metadata.name for p in k8s_api.networking.list_namespaced_network_policy(ns(tenant)).items}
        assert {"default-deny", "allow-same-namespace", "allow-vcluster-dns"} <= policies
        # the release the role's Helm task installed, with the chart built from the module
        helm = subprocess.run([str(k8s_build.binary_path("helm")), "--kubeconfig", control_plane.admin_kubeconfig,
                               "list", "-n", ns(tenant), "-o", "json"], capture_output=True, text=True, check=True)
        releases = json.loads(helm.stdout)
        assert [(r["name"], r["chart"], r["status"]) for r in releases] == \
            [("vcluster", "vcluster-" + k8s_build.VERSIONS["vcluster"], "deployed")], helm.stdout
        # its control-plane pod is admitted by Pod Security "restricted" and waits for a node (none here)
        events = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(e.reason == "FailedScheduling" for e in events):
            time.sleep(2)
            events = k8s_api.core.list_namespaced_event(ns(tenant)).items
        refused = [e.message for e in events if e.reason == "FailedCreate"]
        assert refused == [], refused
        pods = k8s_api.core.list_namespaced_pod(ns(tenant)).items
        assert [p.metadata.name for p in pods] == ["vcluster-0"] and pods[0].status.phase == "Pending"
        assert any(e.reason == "FailedScheduling" and "no nodes available" in e.message for e in events), \
            [(e.reason, e.message) for e in events]


def test_helm_template_renders_the_chart_for_every_tenants_values(onboarded, control_plane, tmp_path):
    """The chart itself (with its own values.schema.json) renders every vcluster.yaml the role passed to helm."""
    assert onboarded["first"].returncode == 0
    helm = str(k8s_build.binary_path("helm"))
    for tenant in (A, B):
        values = subprocess.run([helm, "--kubeconfig", control_plane.admin_kubeconfig, "get", "values", "vcluster",
                                 "-n", ns(tenant), "-o", "yaml"], capture_output=True, text=True, check=True).stdout
        path = tmp_path / f"values-{tenant}.yaml"
        path.write_text(values)
        assert yaml.safe_load(values)["policies"]["networkPolicy"]["fallbackDns"] == "10.96.0.10"
        res = subprocess.run([helm, "template", "vcluster", str(k8s_build.vcluster_chart_path()), "-n", ns(tenant),
                              "-f", str(path)], capture_output=True, text=True, check=False)
        assert res.returncode == 0, res.stderr[-3000:]
        kinds = {doc["kind"] for doc in yaml.safe_load_all(res.stdout) if doc}
        assert {"StatefulSet", "Service", "ServiceAccount"} <= kinds, kinds


def restricted_pod(name, **overrides):
    container = {"name": "c", "image": "registry.invalid/app:1",
                 "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                     "runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
                 "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
           "spec": {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [container]}}
    for key, value in overrides.items():
        if key == "container":
            container.update(value)
        else:
            pod["spec"].update({key: value})
    return pod


def create_pod(control_plane, namespace, pod):
    return control_plane.kubectl_run("-n", namespace, "create", "-f", "-", "--dry-run=server", input_text=json.dumps(pod),
                                     check=False)


def test_pod_security_admission_refuses_privileged_hostpath_and_root_pods(onboarded, control_plane):
    namespace = ns(A)
    refused = {
        "privileged": restricted_pod("privileged", container={"securityContext": {"privileged": True}}),
        "hostpath": restricted_pod("hostpath", volumes=[{"name": "h", "hostPath": {"path": "/etc"}}]),
        "root": restricted_pod("root", securityContext={"runAsUser": 0},
                               container={"securityContext": {"runAsUser": 0, "allowPrivilegeEscalation": False,
                                                              "capabilities": {"drop": ["ALL"]},
                                                              "seccompProfile": {"type": "RuntimeDefault"}}}),
    }
    for name, pod in refused.items():
        res = create_pod(control_plane, namespace, pod)
        assert res.returncode != 0, f"{name} pod was admitted"
        assert 'violates PodSecurity "restricted:latest"' in res.stderr, res.stderr
    ok = create_pod(control_plane, namespace, restricted_pod("fine"))
    assert ok.returncode == 0, ok.stderr


def test_quota_admission_refuses_pods_over_cpu_memory_gpu_and_mig_quota(onboarded, control_plane, k8s_api):
    over = {
        (A, "cpu"): {"requests": {"cpu": "3", "memory": "64Mi"}, "limits": {"cpu": "3", "memory": "64Mi"}},
        (A, "memory"): {"requests": {"cpu": "100m", "memory": "5Gi"}, "limits": {"cpu": "100m", "memory": "5Gi"}},
        (A, "nvidia.com/gpu"): {"requests": {"cpu": "100m", "memory": "64Mi", "nvidia.com/gpu": "2"},
                                "limits": {"cpu": "100m", "memory": "64Mi", "nvidia.com/gpu": "2"}},
        (B, "nvidia.com/gpu"): {"requests": {"cpu": "100m", "memory": "64Mi", "nvidia.com/gpu": "1"},
                                "limits": {"cpu": "100m", "memory": "64Mi", "nvidia.com/gpu": "1"}},
        (B, "nvidia.com/mig-1g.10gb"): {"requests": {"cpu": "100m", "memory": "64Mi", "nvidia.com/mig-1g.10gb": "2"},
                                        "limits": {"cpu": "100m", "memory": "64Mi", "nvidia.com/mig-1g.10gb": "2"}},
    }
    for (tenant, resource), resources in over.items():
        res = create_pod(control_plane, ns(tenant), restricted_pod("over", container={"resources": resources}))
        assert res.returncode != 0, f"{tenant}: a pod over its {resource} quota was admitted"
        assert "exceeded quota: tenant-quota" in res.stderr and resource in res.stderr, res.stderr
    within = {"requests": {"cpu": "100m", "memory": "64Mi", "nvidia.com/mig-1g.10gb": "1"},
              "limits": {"cpu": "100m", "memory": "64Mi", "nvidia.com/mig-1g.10gb": "1"}}
    res = create_pod(control_plane, ns(B), restricted_pod("within", container={"resources": within}))
    assert res.returncode == 0, res.stderr


def sar(k8s_api, identity, verb, resource, namespace=None, group=""):
    import kubernetes

    body = kubernetes.client.V1SubjectAccessReview(spec=kubernetes.client.V1SubjectAccessReviewSpec(
        user=identity["user"], groups=identity["groups"],
        resource_attributes=kubernetes.client.V1ResourceAttributes(verb=verb, resource=resource, group=group,
                                                                   namespace=namespace)))
    return k8s_api.authz.create_subject_access_review(body).status.allowed


NAMESPACED = [("", "pods"), ("", "secrets"), ("", "configmaps"), ("", "resourcequotas"), ("", "limitranges"),
              ("networking.k8s.io", "networkpolicies"), ("rbac.authorization.k8s.io", "rolebindings"),
              ("rbac.authorization.k8s.io", "roles")]
VERBS = ["get", "list", "create", "update", "delete"]
CLUSTER = [("", "namespaces"), ("", "nodes"), ("rbac.authorization.k8s.io", "clusterrolebindings"),
           ("rbac.authorization.k8s.io", "clusterroles"), ("", "persistentvolumes")]


def test_rbac_isolation_matrix_by_subject_access_review(onboarded, k8s_api):
    assert onboarded["first"].returncode == 0
    rows, leaks = [], []
    for tenant, subjects in SUBJECTS.items():
        for role, identity in subjects:
            for other in (A, B, "default", "kube-system"):
                if other == tenant:
                    continue
                target = ns(other) if other in (A, B) else other
                allowed = [f"{v} {g or 'core'}/{r}" for g, r in NAMESPACED for v in VERBS
                           if sar(k8s_api, identity, v, r, target, g)]
                rows.append(f"{tenant:10} {role:13} -> {target:16} {'DENIED' if not allowed else 'ALLOWED ' + ', '.join(allowed)}")
                leaks += [f"{identity['user']} in {target}: {a}" for a in allowed]
            allowed = [f"{v} {g or 'core'}/{r}" for g, r in CLUSTER for v in VERBS if sar(k8s_api, identity, v, r, None, g)]
            rows.append(f"{tenant:10} {role:13} -> {'(cluster)':16} {'DENIED' if not allowed else 'ALLOWED ' + ', '.join(allowed)}")
            leaks += [f"{identity['user']} cluster-wide: {a}" for a in allowed]
    print("\nisolation matrix (every tenant subject x every other namespace x verbs x resources):\n" + "\n".join(rows))
    assert leaks == []


def test_rbac_grants_what_each_role_says_in_its_own_namespace(onboarded, k8s_api):
    admin, developer, auditor = (identity for _role, identity in SUBJECTS[A])
    own = ns(A)
    assert sar(k8s_api, admin, "create", "pods", own) and sar(k8s_api, admin, "get", "secrets", own)
    assert sar(k8s_api, developer, "create", "deployments", own, "apps")
    assert not sar(k8s_api, developer, "get", "secrets", own)
    assert sar(k8s_api, auditor, "list", "pods", own) and not sar(k8s_api, auditor, "create", "pods", own)
    assert not sar(k8s_api, auditor, "get", "secrets", own)
    viewer = SUBJECTS[B][1][1]
    assert sar(k8s_api, viewer, "list", "pods", ns(B)) and not sar(k8s_api, viewer, "delete", "pods", ns(B))
    # guardrails: nobody of the tenant may lift its own quota, limits or namespace labels
    for identity in (admin, developer, auditor):
        for group, resource in (("", "resourcequotas"), ("", "limitranges")):
            assert not sar(k8s_api, identity, "update", resource, own, group)
            assert not sar(k8s_api, identity, "delete", resource, own, group)


def test_the_apiservers_escalation_check_refuses_what_tenant_rbac_refuses(onboarded, control_plane, tmp_path):
    """A tenant admin allowed to write RoleBindings still cannot bind cluster-admin (RBAC escalation check);
    tenant_rbac refuses the same grant before writing anything (rule cluster-admin)."""
    own = ns(A)
    grant = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
             "metadata": {"name": "sc-test-rb-writer", "namespace": own},
             "rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["create"]}]}
    bind = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "sc-test-rb-writer", "namespace": own},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "sc-test-rb-writer"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "a-admins"}]}
    both = {"apiVersion": "v1", "kind": "List", "items": [grant, bind]}
    control_plane.kubectl_run("apply", "-f", "-", input_text=json.dumps(both))
    try:
        escalate = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                    "metadata": {"name": "sc-escalate", "namespace": own},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "a-admins"}]}
        res = control_plane.kubectl_run("create", "-f", "-", "--as", "alice", "--as-group", "a-admins",
                                        input_text=json.dumps(escalate), check=False)
        assert res.returncode != 0 and "is attempting to grant RBAC permissions not currently held" in res.stderr, res.stderr
    finally:
        control_plane.kubectl_run("-n", own, "delete", "rolebinding,role", "sc-test-rb-writer", "--ignore-not-found")
    module_args = {"tenant": A, "namespaces": [own], "kubeconfig": control_plane.admin_kubeconfig,
                   "roles": [], "bindings": [{"name": "x", "cluster_role": "cluster-admin",
                                              "subjects": [{"kind": "Group", "name": "a-admins"}]}]}
    from openbao_server import run_module

    result = run_module("tenant_rbac", module_args, tmp_path)
    assert result.get("failed") and "cluster-admin" in [r["rule"] for r in result["refusals"]], result
    assert control_plane.kubectl_run("-n", own, "get", "rolebinding", "x", check=False).returncode != 0


def test_tenant_admin_cannot_touch_the_platforms_network_policies(onboarded, control_plane, k8s_api):
    """RBAC lets alice manage NetworkPolicies in her namespace; the role's admission policy keeps the platform's."""
    own = ns(A)
    alice = SUBJECTS[A][0][1]
    assert sar(k8s_api, alice, "delete", "networkpolicies", own, "networking.k8s.io")  # RBAC alone would allow it
    as_alice = ["--as", alice["user"], "--as-group", alice["groups"][0]]
    deleted = control_plane.kubectl_run("-n", own, "delete", "networkpolicy", "default-deny", *as_alice, check=False)
    assert deleted.returncode != 0 and "is a platform guardrail" in deleted.stderr, deleted.stderr
    unlabel = control_plane.kubectl_run("-n", own, "label", "networkpolicy", "default-deny",
                                        "app.kubernetes.io/managed-by-", *as_alice, check=False)
    assert unlabel.returncode != 0 and "is a platform guardrail" in unlabel.stderr, unlabel.stderr
    claim = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
             "metadata": {"name": "fake-platform", "labels": {"app.kubernetes.io/managed-by": "sovereign.cluster.vcluster_tenant"}},
             "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}
    res = control_plane.kubectl_run("-n", own, "create", "-f", "-", "--dry-run=server", *as_alice,
                                    input_text=json.dumps(claim), check=False)
    assert res.returncode != 0 and "is a platform guardrail" in res.stderr, res.stderr
    mine = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "alice-own"},
            "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"]}}
    res = control_plane.kubectl_run("-n", own, "create", "-f", "-", "--dry-run=server", *as_alice,
                                    input_text=json.dumps(mine), check=False)
    assert res.returncode == 0, res.stderr
    assert k8s_api.networking.read_namespaced_network_policy("default-deny", own).metadata.name == "default-deny"
