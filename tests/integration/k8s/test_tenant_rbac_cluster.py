"""tenant_rbac against the real kube-apiserver of conftest.py (configured by kubernetes_control_plane).

What a real server adds over unit tests: the API server's defaulting of returned objects (the second run
must still be unchanged), roleRef immutability (replace), RBAC authorisation of the module's own requests,
and that the module's label selector and client-side filter agree. The tests create two throw-away
namespaces and tenants named sovtest-<random>-a/b and delete them afterwards.
"""
import copy
import json
import secrets

import pytest
from ansible.module_utils.testing import patch_module_args


from ansible_collections.sovereign.cluster.plugins.modules import tenant_rbac  # noqa: E402

TENANT_LABEL = "sovereign.cluster/tenant"


@pytest.fixture(scope="module")
def api(k8s_api):
    return k8s_api.core, k8s_api.rbac


@pytest.fixture()
def tenants(api):
    core, rbac_api = api
    prefix = "sovtest-%s" % secrets.token_hex(3)
    names = {"a": prefix + "-a", "b": prefix + "-b"}
    for tenant in names.values():
        core.create_namespace({"metadata": {"name": tenant, "labels": {TENANT_LABEL: tenant}}})
    try:
        yield names
    finally:
        for tenant in names.values():
            for role in rbac_api.list_cluster_role(label_selector="%s=%s" % (TENANT_LABEL, tenant)).items:
                rbac_api.delete_cluster_role(role.metadata.name)
            core.delete_namespace(tenant)


@pytest.fixture()
def run(capsys, control_plane):
    def _run(check_mode=False, **args):
        args.update(_ansible_check_mode=check_mode, _ansible_diff=True, kubeconfig=control_plane.admin_kubeconfig)
        capsys.readouterr()
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                tenant_rbac.main()
        return json.loads(capsys.readouterr().out)
    return _run


def declaration(tenant):
    return dict(
        tenant=tenant,
        roles=[{"name": "tenant-admin", "rules": [{"resources": ["pods", "configmaps"], "verbs": ["get", "list", "create"]}]},
               {"name": "auditor", "scope": "cluster", "rules": [{"resources": ["pods"], "verbs": ["get", "list"]}]}],
        bindings=[{"role": "tenant-admin", "subjects": [{"kind": "Group", "name": "oidc:%s-admins" % tenant},
                                                        {"kind": "ServiceAccount", "name": "default", "namespace": tenant}]},
                  {"role": "auditor", "subjects": [{"kind": "Group", "name": "oidc:secops"}]}],
    )


def test_converge_idempotence_check_and_prune_on_a_real_api(api, tenants, run):
    core, rbac_api = api
    tenant = tenants["a"]
    assert run(check_mode=True, **declaration(tenant))["changed"] is True
    assert rbac_api.list_namespaced_role_binding(tenant).items == []
    first = run(**declaration(tenant))
    assert first["changed"] is True and "failed" not in first
    assert sorted(b.metadata.name for b in rbac_api.list_namespaced_role_binding(tenant).items) == ["auditor", "tenant-admin"]
    assert rbac_api.read_cluster_role("%s:auditor" % tenant).metadata.labels[TENANT_LABEL] == tenant
    # the API server defaults fields (apiGroup of subjects, ...): the second run must still be a no-op
    assert run(**declaration(tenant))["changed"] is False
    assert run(check_mode=True, **declaration(tenant))["changed"] is False
    # roleRef is immutable on a real API: changing a binding's role must replace it
    changed = declaration(tenant)
    changed["bindings"][1] = {"name": "auditor", "role": "tenant-admin", "subjects": [{"kind": "Group", "name": "oidc:x"}]}
    result = run(**changed)
    assert {"action": "replace", "ref": "RoleBinding/%s/auditor" % tenant} in result["changes"]
    assert rbac_api.read_namespaced_role_binding("auditor", tenant).role_ref.kind == "Role"
    # prune the ClusterRole that is no longer declared
    changed["roles"] = changed["roles"][:1]
    result = run(**changed)
    assert result["roles"]["removed"] == ["ClusterRole/%s:auditor" % tenant]
    assert run(state="absent", tenant=tenant)["changed"] is True
    assert rbac_api.list_namespaced_role_binding(tenant).items == []


def test_cross_tenant_binding_is_refused_on_a_real_api(api, tenants, run):
    core, rbac_api = api
    bad = declaration(tenants["a"])
    bad["bindings"][0]["namespaces"] = [tenants["a"], tenants["b"]]
    result = run(**bad)
    assert result["failed"] is True and [r["rule"] for r in result["refusals"]] == ["cross-tenant-namespace"]
    assert rbac_api.list_namespaced_role_binding(tenants["a"]).items == []
    assert rbac_api.list_namespaced_role_binding(tenants["b"]).items == []
    other = copy.deepcopy(declaration(tenants["a"]))
    other["bindings"][1]["subjects"].append({"kind": "Group", "name": "oidc:%s-admins" % tenants["a"]})
    assert run(**other)["refusals"][0]["rule"] == "incompatible-rights"
