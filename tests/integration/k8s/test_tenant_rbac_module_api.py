# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tenant_rbac module end to end against the real kube-apiserver of conftest.py.

The module runs in-process (as Ansible runs it) with the cluster-admin kubeconfig (user ``kubernetes-admin``),
or with a ServiceAccount token where the test is about credentials. What it sent is read back from the
apiserver's own audit log (``control_plane.audit_log``, policy of kubernetes_control_plane: reads at
Metadata, writes at Request/RequestResponse): a request the module made is an audit event of its user
between two timestamps; a write is one with verb create, update (a PUT), patch or delete.

Each test has its own tenants, named sovm<random>-a / -b, with namespaces <a>, <a>-ml and <b> labelled
for them, and deletes them (and their ClusterRoles and ClusterRoleBindings) afterwards. kube-system and the
ClusterRoles view, edit and admin are the apiserver's own.

What the real server adds over the emulator these tests ran on before: validation and defaulting of every
object the module writes, roleRef immutability (a role change must be a delete and a create, never a PUT or a
PATCH of roleRef), authentication of the token the module sends, and a label selector the server applies
(so prune only sees this tenant's objects because the selector is right; the module's client-side filter of
the same labels, on a list that ignored the selector, is tested in tests/unit/plugins/modules/test_tenant_rbac_module.py).
"""
import copy
import json
import secrets
import time
from urllib.parse import parse_qs, unquote, urlsplit

import kubernetes
import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.sovereign.cluster.plugins.modules import tenant_rbac
from control_plane import ADMIN

TENANT_LABEL = "sovereign.cluster/tenant"
MANAGED = {"app.kubernetes.io/managed-by": "sovereign.cluster.tenant_rbac"}
RBAC_GROUP = "rbac.authorization.k8s.io"


@pytest.fixture()
def audit(control_plane, k8s_api):
    """``audit()`` opens a window (see AuditWindow)."""
    return control_plane.audit_window


def path_of(uri):
    return unquote(urlsplit(uri).path)


def resource_of(uri):
    return path_of(uri).rstrip("/").rsplit("/", 1)[-1]


# --- tenants, declarations and the module -----------------------------------------------------------------------

class Tenants:
    def __init__(self):
        self.prefix = prefix = "sovm%s" % secrets.token_hex(3)
        self.a, self.b = prefix + "-a", prefix + "-b"
        self.a_ml = self.a + "-ml"
        self.namespaces = [self.a, self.a_ml, self.b]

    def roles(self):
        return [
            {"name": "tenant-admin",
             "rules": [{"resources": ["pods", "pods/exec", "services", "configmaps", "secrets"],
                        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
                       {"api_groups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "create", "patch"]}]},
            {"name": "auditor", "scope": "cluster",
             "rules": [{"api_groups": ["", "apps"], "resources": ["pods", "deployments", "events"],
                        "verbs": ["get", "list", "watch"]}]},
        ]

    def bindings(self):
        return [
            {"role": "tenant-admin", "subjects": [{"kind": "Group", "name": "oidc:team-a-admins"},
                                                  {"kind": "ServiceAccount", "name": "ci", "namespace": self.a}]},
            {"role": "auditor", "subjects": [{"kind": "Group", "name": "oidc:secops"}]},
        ]


@pytest.fixture()
def tenants(k8s_api):
    """Namespaces <a>, <a>-ml (tenant a) and <b> (tenant b); everything of both tenants deleted afterwards."""
    names = Tenants()
    owners = {names.a: names.a, names.a_ml: names.a, names.b: names.b}
    for namespace, owner in owners.items():
        k8s_api.core.create_namespace({"metadata": {"name": namespace, "labels": {TENANT_LABEL: owner}}})
    try:
        yield names
    finally:
        for role in k8s_api.rbac.list_cluster_role().items:  # <a>:auditor and the test's own
            if role.metadata.name.startswith(names.prefix):
                k8s_api.rbac.delete_cluster_role(role.metadata.name)
        for binding in k8s_api.rbac.list_cluster_role_binding().items:
            if binding.metadata.name.startswith(names.prefix):
                k8s_api.rbac.delete_cluster_role_binding(binding.metadata.name)
        for namespace in owners:
            k8s_api.core.delete_namespace(namespace)


@pytest.fixture()
def run(capsys, control_plane, tenants):
    """Run the module in-process like Ansible would (cluster-admin kubeconfig unless told); its JSON result."""

    def _run(check_mode=False, diff=False, **args):
        args.setdefault("tenant", tenants.a)
        args.setdefault("roles", tenants.roles())
        args.setdefault("bindings", tenants.bindings())
        args.setdefault("kubeconfig", control_plane.admin_kubeconfig)
        if args["kubeconfig"] is None:
            del args["kubeconfig"]
        args.update(_ansible_check_mode=check_mode, _ansible_diff=diff)
        capsys.readouterr()
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                tenant_rbac.main()
        return json.loads(capsys.readouterr().out)

    return _run


def serialized(k8s_api, obj):
    return k8s_api.client.sanitize_for_serialization(obj)


def read(k8s_api, kind, name, namespace=None):
    """The live object as the API returns it (camelCase), or None."""
    try:
        if kind == "ClusterRole":
            obj = k8s_api.rbac.read_cluster_role(name)
        elif kind == "Role":
            obj = k8s_api.rbac.read_namespaced_role(name, namespace)
        else:
            obj = k8s_api.rbac.read_namespaced_role_binding(name, namespace)
    except kubernetes.client.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return serialized(k8s_api, obj)


def refs(k8s_api, kind, namespaces):
    """Sorted ``namespace/name`` of the Roles or RoleBindings in ``namespaces``."""
    lister = {"Role": k8s_api.rbac.list_namespaced_role, "RoleBinding": k8s_api.rbac.list_namespaced_role_binding}[kind]
    return sorted("%s/%s" % (namespace, obj.metadata.name) for namespace in namespaces
                  for obj in lister(namespace).items)


def tenant_cluster_roles(k8s_api, tenant):
    return sorted(r.metadata.name for r in k8s_api.rbac.list_cluster_role(
        label_selector="%s=%s" % (TENANT_LABEL, tenant)).items)


def create_binding(k8s_api, name, namespace, labels, role_kind, role_name):
    k8s_api.rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": role_kind, "name": role_name}, "subjects": []})


@pytest.fixture(scope="session")
def aggregated_cluster_roles(k8s_api):
    """view, edit and admin with their rules: kube-controller-manager aggregates them some seconds after start."""
    deadline = time.monotonic() + 90
    while not all(k8s_api.rbac.read_cluster_role(name).rules for name in ("view", "edit", "admin")):
        assert time.monotonic() < deadline, "kube-controller-manager never aggregated view, edit and admin"
        time.sleep(0.5)


@pytest.fixture()
def sa_token(k8s_api, tenants):
    """A ServiceAccount of tenant a bound to cluster-admin: ``(audit user name, token)``."""
    name = "sc-rbac-%s" % secrets.token_hex(3)
    k8s_api.core.create_namespaced_service_account(tenants.a, {"metadata": {"name": name}})
    k8s_api.rbac.create_cluster_role_binding({
        "metadata": {"name": "%s-%s" % (tenants.prefix, name)},
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": tenants.a}]})
    token = k8s_api.core.create_namespaced_service_account_token(
        name, tenants.a, {"spec": {"expirationSeconds": 3600}}).status.token
    user = "system:serviceaccount:%s:%s" % (tenants.a, name)
    # RBAC is evaluated from the informer cache: wait until the binding is in force
    deadline = time.monotonic() + 30
    while not k8s_api.authz.create_subject_access_review({"spec": {
            "user": user, "resourceAttributes": {"verb": "create", "group": RBAC_GROUP, "resource": "clusterroles"}}
    }).status.allowed:
        assert time.monotonic() < deadline, "the ServiceAccount's cluster-admin binding never took effect"
        time.sleep(0.2)
    return user, token


# --- tests --------------------------------------------------------------------------------------------------------

def test_first_run_creates_roles_and_bindings_with_ownership_labels(run, tenants, audit, k8s_api):
    a, ml = tenants.a, tenants.a_ml
    window = audit()
    result = run()
    writes = window.writes()
    assert result["changed"] is True and "failed" not in result, result.get("msg")
    assert result["namespaces"] == [a, ml]
    assert result["bindings"]["created"] == ["RoleBinding/%s/auditor" % ml, "RoleBinding/%s/tenant-admin" % ml,
                                             "RoleBinding/%s/auditor" % a, "RoleBinding/%s/tenant-admin" % a]
    assert result["roles"]["created"] == ["ClusterRole/%s:auditor" % a, "Role/%s/tenant-admin" % ml,
                                          "Role/%s/tenant-admin" % a]
    assert result["refusals"] == []
    assert refs(k8s_api, "RoleBinding", tenants.namespaces) == ["%s/auditor" % ml, "%s/tenant-admin" % ml,
                                                                "%s/auditor" % a, "%s/tenant-admin" % a]
    binding = read(k8s_api, "RoleBinding", "auditor", a)
    assert binding["metadata"]["labels"] == dict(MANAGED, **{TENANT_LABEL: a})
    assert binding["roleRef"] == {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "%s:auditor" % a}
    assert read(k8s_api, "ClusterRole", "%s:auditor" % a)["rules"][0]["apiGroups"] == ["", "apps"]
    # every write succeeded, was a POST (create), and roles came before the bindings that reference them
    assert writes and all(verb == "create" and code == 201 for verb, _uri, code in writes), writes
    kinds = [resource_of(uri) for _verb, uri, _code in writes]
    assert sorted(kinds) == ["clusterroles"] + ["rolebindings"] * 4 + ["roles"] * 2, kinds
    assert kinds.index("rolebindings") > max(i for i, k in enumerate(kinds) if k in ("roles", "clusterroles"))
    # never a ClusterRoleBinding
    assert k8s_api.rbac.list_cluster_role_binding(label_selector="%s=%s" % (TENANT_LABEL, a)).items == []


def test_second_run_is_unchanged_and_writes_nothing(run, audit):
    run()
    window = audit()
    result = run()
    assert result["changed"] is False and result["changes"] == []
    assert window.writes() == []
    assert window.events(), "the second run read nothing: the audit log does not see the module"


def test_check_mode_predicts_the_first_run_and_writes_nothing(run, tenants, audit, k8s_api):
    window = audit()
    predicted = run(check_mode=True)
    assert predicted["changed"] is True and window.writes() == []
    assert refs(k8s_api, "Role", tenants.namespaces) == [] and refs(k8s_api, "RoleBinding", tenants.namespaces) == []
    assert tenant_cluster_roles(k8s_api, tenants.a) == []
    applied = run()
    assert [c["ref"] for c in applied["changes"]] == [c["ref"] for c in predicted["changes"]]
    window = audit()
    assert run(check_mode=True)["changed"] is False
    assert window.writes() == []


def test_diff_shows_objects_before_and_after(run, tenants, audit, k8s_api):
    a, ml = tenants.a, tenants.a_ml
    window = audit()
    run()
    roles = tenants.roles()
    roles[0]["rules"][1]["verbs"] = ["get", "list"]
    result = run(diff=True, roles=roles)
    assert result["roles"]["updated"] == ["Role/%s/tenant-admin" % ml, "Role/%s/tenant-admin" % a]
    before = result["diff"]["before"]["Role/%s/tenant-admin" % a]["rules"][1]["verbs"]
    after = result["diff"]["after"]["Role/%s/tenant-admin" % a]["rules"][1]["verbs"]
    assert (before, after) == (["get", "list", "create", "patch"], ["get", "list"])
    assert read(k8s_api, "Role", "tenant-admin", a)["rules"][1]["verbs"] == ["get", "list"]
    writes = window.writes()
    assert {verb for verb, _uri, _code in writes} == {"create", "patch"}
    assert sorted(path_of(uri) for verb, uri, _code in writes if verb == "patch") == sorted(
        "/apis/%s/v1/namespaces/%s/roles/tenant-admin" % (RBAC_GROUP, namespace) for namespace in (ml, a))


def test_subject_change_is_patched_and_role_change_replaces_the_binding(run, tenants, audit, k8s_api):
    a, ml = tenants.a, tenants.a_ml
    run()
    bindings = tenants.bindings()
    bindings[0]["subjects"] = [{"kind": "Group", "name": "oidc:team-a-admins"}]
    bindings[1]["role"] = "tenant-admin"
    bindings[1]["name"] = "auditor"
    bindings[1]["subjects"] = [{"kind": "Group", "name": "oidc:team-a-leads"}]
    window = audit()
    result = run(bindings=bindings, namespaces=[a])
    actions = {(c["action"], c["ref"]) for c in result["changes"]}
    assert ("update", "RoleBinding/%s/tenant-admin" % a) in actions
    assert ("replace", "RoleBinding/%s/auditor" % a) in actions
    assert ("delete", "RoleBinding/%s/auditor" % ml) in actions  # <a>-ml no longer declared: pruned
    assert read(k8s_api, "RoleBinding", "tenant-admin", a)["subjects"] == [
        {"kind": "Group", "name": "oidc:team-a-admins", "apiGroup": RBAC_GROUP}]
    assert read(k8s_api, "RoleBinding", "auditor", a)["roleRef"]["kind"] == "Role"  # roleRef is immutable: replaced
    assert read(k8s_api, "ClusterRole", "%s:auditor" % a) is not None  # still declared, now unused
    writes = [(verb, path_of(uri)) for verb, uri, _code in window.writes()]
    collection = "/apis/%s/v1/namespaces/%s/rolebindings" % (RBAC_GROUP, a)
    assert "update" not in {verb for verb, _uri in writes}, writes  # never a PUT
    deleted = writes.index(("delete", collection + "/auditor"))
    assert ("create", collection) in writes[deleted + 1:], writes  # delete, then create
    assert ("patch", collection + "/tenant-admin") in writes


def test_prune_removes_only_this_tenants_managed_objects(run, tenants, audit, k8s_api):
    a, ml, b = tenants.a, tenants.a_ml, tenants.b
    # tenant b's own managed binding, and a hand-made one in a's namespace with only the tenant label
    create_binding(k8s_api, "tenant-admin", b, dict(MANAGED, **{TENANT_LABEL: b}), "Role", "tenant-admin")
    create_binding(k8s_api, "hand-made", a, {TENANT_LABEL: a}, "ClusterRole", "view")
    run()
    window = audit()
    result = run(bindings=[tenants.bindings()[0]], roles=[tenants.roles()[0]])
    assert result["bindings"]["removed"] == ["RoleBinding/%s/auditor" % ml, "RoleBinding/%s/auditor" % a]
    assert result["roles"]["removed"] == ["ClusterRole/%s:auditor" % a]
    assert refs(k8s_api, "RoleBinding", tenants.namespaces) == ["%s/tenant-admin" % ml, "%s/hand-made" % a,
                                                                "%s/tenant-admin" % a, "%s/tenant-admin" % b]
    # the module listed every managed kind with its ownership selector, and deleted only what it had planned
    selector = ["app.kubernetes.io/managed-by=sovereign.cluster.tenant_rbac,%s=%s" % (TENANT_LABEL, a)]
    listed = {resource_of(uri) for verb, uri, _code in window.events()
              if verb == "list" and parse_qs(urlsplit(uri).query).get("labelSelector") == selector}
    assert {"roles", "rolebindings", "clusterroles"} <= listed, window.events()
    assert sorted(path_of(uri) for verb, uri, _code in window.writes()) == sorted([
        "/apis/%s/v1/clusterroles/%s:auditor" % (RBAC_GROUP, a),
        "/apis/%s/v1/namespaces/%s/rolebindings/auditor" % (RBAC_GROUP, a),
        "/apis/%s/v1/namespaces/%s/rolebindings/auditor" % (RBAC_GROUP, ml)])
    assert {verb for verb, _uri, _code in window.writes()} == {"delete"}


def test_prune_false_keeps_undeclared_bindings(run, tenants, audit, k8s_api):
    run()
    window = audit()
    result = run(bindings=[tenants.bindings()[0]], roles=[tenants.roles()[0]], prune=False)
    assert result["changed"] is False
    assert "%s/auditor" % tenants.a in refs(k8s_api, "RoleBinding", tenants.namespaces)
    assert window.writes() == []


def test_cross_tenant_binding_is_refused_before_any_write(run, tenants, audit):
    bindings = tenants.bindings()
    bindings[0]["namespaces"] = [tenants.a, tenants.b]
    window = audit()
    result = run(bindings=bindings)
    assert result["failed"] is True and result["changed"] is False
    assert [r["rule"] for r in result["refusals"]] == ["cross-tenant-namespace"]
    assert result["refusals"][0]["namespace"] == tenants.b
    assert "belongs to tenant '%s'" % tenants.b in result["msg"]
    assert window.writes() == []


def test_separation_of_duties_refusal_names_subject_and_rule(run, tenants, audit):
    bindings = tenants.bindings()
    bindings[1]["subjects"].append({"kind": "Group", "name": "oidc:team-a-admins"})
    window = audit()
    result = run(bindings=bindings)
    assert result["failed"] is True
    refusal = result["refusals"][0]
    assert (refusal["rule"], refusal["subject"]) == ("incompatible-rights", "Group/oidc:team-a-admins")
    assert "SecNumCloud 9.3.f" in refusal["message"]
    assert window.writes() == []
    # the list is configurable: with no incompatible sets the same declaration applies
    assert run(bindings=bindings, incompatible_roles=[])["changed"] is True


@pytest.fixture()
def cluster_roles(k8s_api, tenants):
    """Two ClusterRoles of the test's own (deleted with the tenants): a pod reader and a ServiceAccount impersonator."""
    names = {"reader": tenants.prefix + "-pod-reader", "impersonator": tenants.prefix + "-impersonator"}
    k8s_api.rbac.create_cluster_role({"metadata": {"name": names["reader"]}, "rules": [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]})
    k8s_api.rbac.create_cluster_role({"metadata": {"name": names["impersonator"]}, "rules": [
        {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]}]})
    return names


@pytest.mark.parametrize("binding, rules", [
    ({"cluster_role": "cluster-admin"}, ["cluster-admin"]),
    ({"cluster_role": "{impersonator}"}, ["escalation-verb"]),
    # the apiserver's own edit (aggregated by kube-controller-manager): impersonates ServiceAccounts, and its
    # rules name namespaces/status, cluster-scoped
    ({"cluster_role": "edit"}, ["cluster-scoped-resource", "escalation-verb"]),
    ({"cluster_role": "no-such-role"}, ["unknown-role"]),
    ({"role": "tenant-admin", "name": "sneaky", "subjects": [{"kind": "Group", "name": "system:masters"}]},
     ["system-subject"]),
    ({"role": "tenant-admin", "name": "borrowed",
      "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": "{b}"}]}, ["cross-tenant-subject"]),
])
def test_dangerous_bindings_are_refused(run, tenants, audit, aggregated_cluster_roles, cluster_roles, binding, rules):
    binding = copy.deepcopy(binding)
    binding.setdefault("subjects", [{"kind": "Group", "name": "oidc:ops"}])
    if binding.get("cluster_role") == "{impersonator}":
        binding["cluster_role"] = cluster_roles["impersonator"]
    for subject in binding["subjects"]:
        if subject.get("namespace") == "{b}":
            subject["namespace"] = tenants.b
    window = audit()
    result = run(bindings=[binding])
    assert result["failed"] is True
    assert sorted(r["rule"] for r in result["refusals"]) == rules, result["refusals"]
    assert window.writes() == []


def test_escalating_role_is_refused(run, tenants, audit):
    roles = tenants.roles()
    roles[0]["rules"].append({"api_groups": [RBAC_GROUP], "resources": ["rolebindings"], "verbs": ["create", "bind"]})
    roles[1]["rules"][0]["verbs"] = ["*"]
    window = audit()
    result = run(roles=roles)
    assert sorted(r["rule"] for r in result["refusals"]) == ["escalation-verb", "wildcard-verb"]
    assert window.writes() == []


def test_binding_an_existing_read_only_cluster_role_is_allowed(run, tenants, k8s_api, cluster_roles):
    reader = cluster_roles["reader"]
    bindings = tenants.bindings() + [{"name": "readers", "cluster_role": reader, "namespaces": [tenants.a],
                                      "subjects": [{"kind": "Group", "name": "oidc:team-a-devs"}]}]
    result = run(bindings=bindings)
    assert "failed" not in result, result.get("msg")
    assert "RoleBinding/%s/readers" % tenants.a in result["bindings"]["created"]
    assert read(k8s_api, "RoleBinding", "readers", tenants.a)["roleRef"]["name"] == reader


def test_the_apiservers_own_view_is_refused_for_namespaces_status(run, tenants, audit, aggregated_cluster_roles):
    """What the emulator could not show: the real view ClusterRole (aggregated) reads namespaces/status, which
    tenant_rbac refuses as cluster-scoped, and it warns that an aggregated role's rules may grow."""
    bindings = [{"name": "readers", "cluster_role": "view", "subjects": [{"kind": "Group", "name": "oidc:team-a-devs"}]}]
    window = audit()
    result = run(bindings=bindings, roles=[])
    assert result["failed"] is True and [r["rule"] for r in result["refusals"]] == ["cluster-scoped-resource"]
    assert "['namespaces/status'] are cluster-scoped" in result["refusals"][0]["message"]
    warnings = [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]  # 2.19: objects
    assert any("ClusterRole 'view' (binding 'readers') aggregates other ClusterRoles" in w for w in warnings), warnings
    assert window.writes() == []


def test_a_foreign_object_in_the_way_is_not_adopted(run, tenants, audit, k8s_api):
    create_binding(k8s_api, "tenant-admin", tenants.a, None, "ClusterRole", "admin")
    window = audit()
    result = run()
    assert result["failed"] is True
    assert "RoleBinding/%s/tenant-admin already exists and is not managed by tenant_rbac" % tenants.a in result["msg"]
    assert window.writes() == []  # the plan failed as a whole: nothing else was created either
    foreign = read(k8s_api, "RoleBinding", "tenant-admin", tenants.a)
    assert foreign["roleRef"]["name"] == "admin" and not foreign["metadata"].get("labels")


def test_namespaces_must_exist_and_belong_to_the_tenant(run, tenants, audit):
    window = audit()
    result = run(namespaces=[tenants.a, tenants.a + "-new"])
    assert result["failed"] is True and "namespaces[1] '%s-new' does not exist" % tenants.a in result["msg"]
    result = run(namespaces=[tenants.a, "kube-system"])
    assert [r["rule"] for r in result["refusals"]] == ["cross-tenant-namespace"]
    assert window.writes() == []


def test_bad_input_fails_before_contacting_the_api(run, audit):
    window = audit()
    result = run(tenant="Team_A")
    assert result["failed"] is True and "tenant 'Team_A' is not a DNS-1123 label" in result["msg"]
    assert window.events() == []  # not even a read


def test_state_absent_offboards_only_this_tenant(run, tenants, audit, k8s_api):
    a, ml, b = tenants.a, tenants.a_ml, tenants.b
    run()
    run(tenant=b, roles=[tenants.roles()[0]], bindings=[{"role": "tenant-admin",
                                                         "subjects": [{"kind": "Group", "name": "oidc:b"}]}])
    result = run(state="absent", roles=[], bindings=[], diff=True)
    assert result["changed"] is True
    assert sorted(result["bindings"]["removed"]) == ["RoleBinding/%s/auditor" % ml, "RoleBinding/%s/tenant-admin" % ml,
                                                     "RoleBinding/%s/auditor" % a, "RoleBinding/%s/tenant-admin" % a]
    assert refs(k8s_api, "RoleBinding", tenants.namespaces) == ["%s/tenant-admin" % b]
    assert refs(k8s_api, "Role", tenants.namespaces) == ["%s/tenant-admin" % b]
    assert tenant_cluster_roles(k8s_api, a) == []
    assert read(k8s_api, "ClusterRole", "view") is not None and read(k8s_api, "ClusterRole", "edit") is not None
    assert result["diff"]["after"] == {}
    window = audit()
    assert run(state="absent", roles=[], bindings=[])["changed"] is False
    assert window.writes() == []


def test_api_key_is_sent_as_bearer_token_and_never_returned(run, control_plane, sa_token, audit, monkeypatch):
    user, token = sa_token
    for variable in ("KUBECONFIG", "K8S_AUTH_KUBECONFIG"):
        monkeypatch.delenv(variable, raising=False)
    window = audit()
    result = run(kubeconfig=None, host=control_plane.url, api_key=token, ca_cert=str(control_plane.pki / "ca.crt"))
    assert result["changed"] is True and "failed" not in result, result.get("msg")
    # the apiserver authenticated every request of the module with that token, and no other identity
    assert window.users([user, ADMIN]) == {user}
    assert window.writes(user) and all(code == 201 for _verb, _uri, code in window.writes(user))
    assert token not in json.dumps(result)


def test_kubeconfig_file_and_context_are_honoured(run, control_plane, sa_token, audit, tmp_path):
    user, token = sa_token
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "wrong",
        "clusters": [{"name": "api", "cluster": {"server": control_plane.url,
                                                 "certificate-authority": str(control_plane.pki / "ca.crt")}},
                     {"name": "nowhere", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "ops", "user": {"token": token}}],
        "contexts": [{"name": "apiserver", "context": {"cluster": "api", "user": "ops"}},
                     {"name": "wrong", "context": {"cluster": "nowhere", "user": "ops"}}],
    }))
    window = audit()
    result = run(kubeconfig=str(kubeconfig), context="apiserver")
    assert result["changed"] is True and "failed" not in result, result.get("msg")
    assert window.users([user, ADMIN]) == {user}
    assert token not in json.dumps(result)
    result = run(kubeconfig=str(kubeconfig), context="missing")
    assert result["failed"] is True and result["msg"].startswith("kubeconfig/context: cannot load")
