"""The tenant_rbac module end to end against the kmock Kubernetes API *emulator* (not a cluster).

The emulator stores objects and answers the official client over HTTP on loopback; it does not
authorise, validate or garbage-collect (see tests/emulator/kmock_k8s.py for its gaps). These tests
cover the module's API behaviour: what it reads and writes, idempotence, check mode, diff, prune,
refusals before any write, and client-side ownership filtering (the emulator ignores selectors).
"""
import copy
import json
import socket

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.sovereign.cluster.plugins.modules import tenant_rbac
from ansible_collections.sovereign.cluster.tests.emulator import kmock_k8s

TENANT_LABEL = "sovereign.cluster/tenant"
MANAGED = {"app.kubernetes.io/managed-by": "sovereign.cluster.tenant_rbac"}
TOKEN = "s3cr3t-token-value-for-tests"
k8s_emulator = kmock_k8s.k8s_emulator  # the emulator fixture, made visible to pytest here

ROLES = [
    {"name": "tenant-admin",
     "rules": [{"resources": ["pods", "pods/exec", "services", "configmaps", "secrets"],
                "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
               {"api_groups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "create", "patch"]}]},
    {"name": "auditor", "scope": "cluster",
     "rules": [{"api_groups": ["", "apps"], "resources": ["pods", "deployments", "events"], "verbs": ["get", "list", "watch"]}]},
]
BINDINGS = [
    {"role": "tenant-admin", "subjects": [{"kind": "Group", "name": "oidc:team-a-admins"},
                                          {"kind": "ServiceAccount", "name": "ci", "namespace": "team-a"}]},
    {"role": "auditor", "subjects": [{"kind": "Group", "name": "oidc:secops"}]},
]


@pytest.fixture()
def cluster(k8s_emulator):  # noqa: F811  (the fixture above)
    """Emulator seeded with two tenants' namespaces, a platform namespace and a read-only ClusterRole."""
    k8s_emulator.add_namespace("team-a", {TENANT_LABEL: "team-a"})
    k8s_emulator.add_namespace("team-a-ml", {TENANT_LABEL: "team-a"})
    k8s_emulator.add_namespace("team-b", {TENANT_LABEL: "team-b"})
    k8s_emulator.add_namespace("kube-system")
    k8s_emulator.create({"kind": "ClusterRole", "metadata": {"name": "view"},
                         "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]})
    k8s_emulator.create({"kind": "ClusterRole", "metadata": {"name": "edit"},
                         "rules": [{"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]}]})
    k8s_emulator.clear_requests()
    return k8s_emulator


@pytest.fixture()
def run(cluster, capsys):
    """Run the module in-process like Ansible would; returns its JSON result."""

    def _run(check_mode=False, diff=False, **args):
        args.setdefault("tenant", "team-a")
        args.setdefault("roles", copy.deepcopy(ROLES))
        args.setdefault("bindings", copy.deepcopy(BINDINGS))
        args.setdefault("host", cluster.url)
        args.update(_ansible_check_mode=check_mode, _ansible_diff=diff)
        capsys.readouterr()
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                tenant_rbac.main()
        return json.loads(capsys.readouterr().out)

    return _run


def labels_of(obj):
    return obj["metadata"].get("labels") or {}


def test_first_run_creates_roles_and_bindings_with_ownership_labels(run, cluster):
    result = run()
    assert result["changed"] is True and "failed" not in result
    assert result["namespaces"] == ["team-a", "team-a-ml"]
    assert result["bindings"]["created"] == ["RoleBinding/team-a-ml/auditor", "RoleBinding/team-a-ml/tenant-admin",
                                             "RoleBinding/team-a/auditor", "RoleBinding/team-a/tenant-admin"]
    assert result["roles"]["created"] == ["ClusterRole/team-a:auditor", "Role/team-a-ml/tenant-admin",
                                          "Role/team-a/tenant-admin"]
    assert result["refusals"] == []
    assert cluster.refs("RoleBinding") == ["team-a-ml/auditor", "team-a-ml/tenant-admin", "team-a/auditor",
                                           "team-a/tenant-admin"]
    binding = cluster.get("RoleBinding", "auditor", "team-a")
    assert labels_of(binding) == dict(MANAGED, **{TENANT_LABEL: "team-a"})
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "team-a:auditor"}
    assert cluster.get("ClusterRole", "team-a:auditor")["rules"][0]["apiGroups"] == ["", "apps"]
    # roles are written before the bindings that reference them; never PUT, never a ClusterRoleBinding
    writes = cluster.writes()
    assert all(entry[0] == "POST" for entry in writes)
    kinds = [entry[1].rsplit("/", 1)[-1] for entry in writes]
    assert kinds.index("rolebindings") > max(i for i, k in enumerate(kinds) if k in ("roles", "clusterroles"))
    assert cluster.list("ClusterRoleBinding") == []


def test_second_run_is_unchanged_and_writes_nothing(run, cluster):
    run()
    before = len(cluster.writes())
    result = run()
    assert result["changed"] is False and result["changes"] == []
    assert len(cluster.writes()) == before


def test_check_mode_predicts_the_first_run_and_writes_nothing(run, cluster):
    predicted = run(check_mode=True)
    assert predicted["changed"] is True and cluster.writes() == []
    assert cluster.list("Role") == [] and cluster.list("RoleBinding") == []
    applied = run()
    assert [c["ref"] for c in applied["changes"]] == [c["ref"] for c in predicted["changes"]]
    assert run(check_mode=True)["changed"] is False


def test_diff_shows_objects_before_and_after(run, cluster):
    run()
    roles = copy.deepcopy(ROLES)
    roles[0]["rules"][1]["verbs"] = ["get", "list"]
    result = run(diff=True, roles=roles)
    assert result["roles"]["updated"] == ["Role/team-a-ml/tenant-admin", "Role/team-a/tenant-admin"]
    before = result["diff"]["before"]["Role/team-a/tenant-admin"]["rules"][1]["verbs"]
    after = result["diff"]["after"]["Role/team-a/tenant-admin"]["rules"][1]["verbs"]
    assert (before, after) == (["get", "list", "create", "patch"], ["get", "list"])
    assert cluster.get("Role", "tenant-admin", "team-a")["rules"][1]["verbs"] == ["get", "list"]
    assert {entry[0] for entry in cluster.writes()} == {"POST", "PATCH"}


def test_subject_change_is_patched_and_role_change_replaces_the_binding(run, cluster):
    run()
    bindings = copy.deepcopy(BINDINGS)
    bindings[0]["subjects"] = [{"kind": "Group", "name": "oidc:team-a-admins"}]
    bindings[1]["role"] = "tenant-admin"
    bindings[1]["name"] = "auditor"
    bindings[1]["subjects"] = [{"kind": "Group", "name": "oidc:team-a-leads"}]
    mark = len(cluster.requests)
    result = run(bindings=bindings, namespaces=["team-a"])
    actions = {(c["action"], c["ref"]) for c in result["changes"]}
    assert ("update", "RoleBinding/team-a/tenant-admin") in actions
    assert ("replace", "RoleBinding/team-a/auditor") in actions
    assert ("delete", "RoleBinding/team-a-ml/auditor") in actions  # team-a-ml no longer declared: pruned
    assert cluster.get("RoleBinding", "tenant-admin", "team-a")["subjects"] == [
        {"kind": "Group", "name": "oidc:team-a-admins", "apiGroup": "rbac.authorization.k8s.io"}]
    assert cluster.get("RoleBinding", "auditor", "team-a")["roleRef"]["kind"] == "Role"
    assert cluster.get("ClusterRole", "team-a:auditor") is not None  # still declared, now unused
    methods = [m for m, p in cluster.requests[mark:] if p.endswith("/rolebindings/auditor") or p.endswith("/rolebindings")]
    assert "DELETE" in methods and "PUT" not in methods


def test_prune_removes_only_this_tenants_managed_objects(run, cluster):
    # Objects the emulator returns for every list, because it ignores the label selector:
    cluster.create({"kind": "RoleBinding", "metadata": {"name": "tenant-admin", "namespace": "team-b",
                                                        "labels": dict(MANAGED, **{TENANT_LABEL: "team-b"})},
                    "roleRef": {"kind": "Role", "name": "tenant-admin"}, "subjects": []})
    cluster.create({"kind": "RoleBinding", "metadata": {"name": "hand-made", "namespace": "team-a",
                                                        "labels": {TENANT_LABEL: "team-a"}},
                    "roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": []})
    run()
    result = run(bindings=[BINDINGS[0]], roles=[ROLES[0]])
    assert result["bindings"]["removed"] == ["RoleBinding/team-a-ml/auditor", "RoleBinding/team-a/auditor"]
    assert result["roles"]["removed"] == ["ClusterRole/team-a:auditor"]
    assert cluster.refs("RoleBinding") == ["team-a-ml/tenant-admin", "team-a/hand-made", "team-a/tenant-admin",
                                           "team-b/tenant-admin"]
    # the selector was sent (it is a real-API optimisation), but ownership was decided client-side
    assert any("labelSelector=" in path for method, path in cluster.requests if method == "GET")


def test_prune_false_keeps_undeclared_bindings(run, cluster):
    run()
    result = run(bindings=[BINDINGS[0]], roles=[ROLES[0]], prune=False)
    assert result["changed"] is False
    assert "team-a/auditor" in cluster.refs("RoleBinding")


def test_cross_tenant_binding_is_refused_before_any_write(run, cluster):
    bindings = copy.deepcopy(BINDINGS)
    bindings[0]["namespaces"] = ["team-a", "team-b"]
    result = run(bindings=bindings)
    assert result["failed"] is True and result["changed"] is False
    assert [r["rule"] for r in result["refusals"]] == ["cross-tenant-namespace"]
    assert result["refusals"][0]["namespace"] == "team-b" and "belongs to tenant 'team-b'" in result["msg"]
    assert cluster.writes() == []


def test_separation_of_duties_refusal_names_subject_and_rule(run, cluster):
    bindings = copy.deepcopy(BINDINGS)
    bindings[1]["subjects"].append({"kind": "Group", "name": "oidc:team-a-admins"})
    result = run(bindings=bindings)
    assert result["failed"] is True
    refusal = result["refusals"][0]
    assert (refusal["rule"], refusal["subject"]) == ("incompatible-rights", "Group/oidc:team-a-admins")
    assert "SecNumCloud 9.3.f" in refusal["message"]
    assert cluster.writes() == []
    # the list is configurable: with no incompatible sets the same declaration applies
    assert run(bindings=bindings, incompatible_roles=[])["changed"] is True


@pytest.mark.parametrize("binding, rule", [
    ({"cluster_role": "cluster-admin", "subjects": [{"kind": "Group", "name": "oidc:ops"}]}, "cluster-admin"),
    ({"cluster_role": "edit", "subjects": [{"kind": "Group", "name": "oidc:ops"}]}, "escalation-verb"),
    ({"cluster_role": "no-such-role", "subjects": [{"kind": "Group", "name": "oidc:ops"}]}, "unknown-role"),
    ({"role": "tenant-admin", "name": "sneaky", "subjects": [{"kind": "Group", "name": "system:masters"}]},
     "system-subject"),
    ({"role": "tenant-admin", "name": "borrowed",
      "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": "team-b"}]}, "cross-tenant-subject"),
])
def test_dangerous_bindings_are_refused(run, cluster, binding, rule):
    result = run(bindings=[binding])
    assert result["failed"] is True
    assert [r["rule"] for r in result["refusals"]] == [rule]
    assert cluster.writes() == []


def test_escalating_role_is_refused(run, cluster):
    roles = copy.deepcopy(ROLES)
    roles[0]["rules"].append({"api_groups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"],
                              "verbs": ["create", "bind"]})
    roles[1]["rules"][0]["verbs"] = ["*"]
    result = run(roles=roles)
    assert sorted(r["rule"] for r in result["refusals"]) == ["escalation-verb", "wildcard-verb"]
    assert cluster.writes() == []


def test_binding_an_existing_read_only_cluster_role_is_allowed(run, cluster):
    bindings = BINDINGS + [{"name": "readers", "cluster_role": "view", "namespaces": ["team-a"],
                            "subjects": [{"kind": "Group", "name": "oidc:team-a-devs"}]}]
    result = run(bindings=bindings)
    assert "RoleBinding/team-a/readers" in result["bindings"]["created"]
    assert cluster.get("RoleBinding", "readers", "team-a")["roleRef"]["name"] == "view"


def test_a_foreign_object_in_the_way_is_not_adopted(run, cluster):
    cluster.create({"kind": "RoleBinding", "metadata": {"name": "tenant-admin", "namespace": "team-a"},
                    "roleRef": {"kind": "ClusterRole", "name": "admin"}, "subjects": []})
    cluster.clear_requests()
    result = run()
    assert result["failed"] is True
    assert "RoleBinding/team-a/tenant-admin already exists and is not managed by tenant_rbac" in result["msg"]
    assert cluster.writes() == []  # the plan failed as a whole: nothing else was created either


def test_namespaces_must_exist_and_belong_to_the_tenant(run, cluster):
    result = run(namespaces=["team-a", "team-a-new"])
    assert result["failed"] is True and "namespaces[1] 'team-a-new' does not exist" in result["msg"]
    result = run(namespaces=["team-a", "kube-system"])
    assert [r["rule"] for r in result["refusals"]] == ["cross-tenant-namespace"]
    assert cluster.writes() == []


def test_bad_input_fails_before_contacting_the_api(run, cluster):
    result = run(tenant="Team_A")
    assert result["failed"] is True and "tenant 'Team_A' is not a DNS-1123 label" in result["msg"]
    assert cluster.requests == []


def test_state_absent_offboards_only_this_tenant(run, cluster):
    run()
    run(tenant="team-b", roles=[ROLES[0]], bindings=[{"role": "tenant-admin",
                                                     "subjects": [{"kind": "Group", "name": "oidc:b"}]}])
    result = run(state="absent", roles=[], bindings=[], diff=True)
    assert result["changed"] is True
    assert sorted(result["bindings"]["removed"]) == ["RoleBinding/team-a-ml/auditor", "RoleBinding/team-a-ml/tenant-admin",
                                                     "RoleBinding/team-a/auditor", "RoleBinding/team-a/tenant-admin"]
    assert cluster.refs("RoleBinding") == ["team-b/tenant-admin"]
    assert cluster.refs("Role") == ["team-b/tenant-admin"]
    assert cluster.refs("ClusterRole") == ["edit", "view"]
    assert result["diff"]["after"] == {}
    assert run(state="absent", roles=[], bindings=[])["changed"] is False


def test_api_key_is_sent_as_bearer_token_and_never_returned(run, cluster):
    result = run(api_key=TOKEN)
    assert result["changed"] is True
    assert set(cluster.authorizations) == {"Bearer " + TOKEN}
    assert TOKEN not in json.dumps(result)


def test_unreachable_api_fails_with_the_fix_and_without_the_token(run):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run(host="http://127.0.0.1:%d" % port, api_key=TOKEN, request_timeout=2)
    assert result["failed"] is True and "listing ClusterRole objects failed" in result["msg"]
    assert TOKEN not in json.dumps(result)


def test_kubeconfig_file_and_context_are_honoured(run, cluster, tmp_path):
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "wrong",
        "clusters": [{"name": "emu", "cluster": {"server": cluster.url}},
                     {"name": "nowhere", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "ops", "user": {"token": TOKEN}}],
        "contexts": [{"name": "emulator", "context": {"cluster": "emu", "user": "ops"}},
                     {"name": "wrong", "context": {"cluster": "nowhere", "user": "ops"}}],
    }))
    result = run(host=None, kubeconfig=str(kubeconfig), context="emulator")
    assert result["changed"] is True
    assert set(cluster.authorizations) == {"Bearer " + TOKEN}
    result = run(host=None, kubeconfig=str(kubeconfig), context="missing")
    assert result["failed"] is True and result["msg"].startswith("kubeconfig/context: cannot load")
