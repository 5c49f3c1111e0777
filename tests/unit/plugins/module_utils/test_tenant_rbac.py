"""Unit tests of the tenant RBAC rules and planner (pure functions, no cluster)."""
import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.sovereign.cluster.plugins.module_utils import tenant_rbac as rbac

TENANT_LABEL = rbac.DEFAULT_TENANT_LABEL
OWNERS = {"team-a": "team-a", "team-a-ml": "team-a", "team-b": "team-b", "kube-system": None,
          "default": None, "shared-tools": None}

READ_PODS = {"api_groups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list", "watch"]}
ADMIN_RULES = [
    {"api_groups": [""], "resources": ["pods", "pods/exec", "services", "configmaps", "secrets"],
     "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
    {"api_groups": ["apps"], "resources": ["deployments", "statefulsets"], "verbs": ["get", "list", "create"]},
]


def rules_of(*rules):
    return [dict(r) for r in rules]


def spec(**overrides):
    base = {
        "tenant": "team-a",
        "namespaces": None,
        "tenant_label": TENANT_LABEL,
        "roles": [
            {"name": "tenant-admin", "scope": "namespace", "namespaces": None, "rules": copy.deepcopy(ADMIN_RULES)},
            {"name": "auditor", "scope": "cluster", "namespaces": None, "rules": [dict(READ_PODS)]},
        ],
        "bindings": [
            {"name": None, "role": "tenant-admin", "cluster_role": None, "namespaces": None,
             "subjects": [{"kind": "Group", "name": "oidc:team-a-admins", "namespace": None}]},
            {"name": None, "role": "auditor", "cluster_role": None, "namespaces": None,
             "subjects": [{"kind": "Group", "name": "oidc:secops", "namespace": None}]},
        ],
        "incompatible_roles": None,
        "prune": True,
        "state": "present",
    }
    base.update(overrides)
    return base


def rule_ids(refusals):
    return sorted(r["rule"] for r in refusals)


# ---------------------------------------------------------------- input validation

def test_valid_spec_has_no_errors():
    assert rbac.validate_spec(spec()) == []


@pytest.mark.parametrize("mutate, expected", [
    (lambda s: s.update(tenant="Team_A"), "tenant 'Team_A' is not a DNS-1123 label"),
    (lambda s: s["roles"].append(dict(s["roles"][0])), "roles[2].name 'tenant-admin' is declared twice"),
    (lambda s: s["bindings"][0].update(cluster_role="view"), "bindings[0]: set exactly one of role"),
    (lambda s: s["bindings"][0].update(role="ops"), "bindings[0].role 'ops' is not declared in roles"),
    (lambda s: s["bindings"][0].update(subjects=[]), "bindings[0].subjects is empty"),
    (lambda s: s["bindings"][0]["subjects"].append({"kind": "ServiceAccount", "name": "ci", "namespace": None}),
     "bindings[0].subjects[1].namespace is required for a ServiceAccount"),
    (lambda s: s["roles"][0]["rules"][0].update(verbs=[]), "roles[0].rules[0].verbs is empty"),
    (lambda s: s["roles"][1].update(namespaces=["team-a"]), "roles[1].namespaces is only for scope=namespace"),
    (lambda s: s.update(incompatible_roles=[{"roles": ["auditor"], "reason": None}]),
     "incompatible_roles[0].roles must list at least two"),
    (lambda s: s["bindings"].append(dict(s["bindings"][0])), "bindings[2].name 'tenant-admin' is used twice"),
    (lambda s: s.update(tenant_label="not a label"), "tenant_label 'not a label' is not a valid label key"),
])
def test_bad_input_names_the_field_and_the_fix(mutate, expected):
    declared = spec()
    mutate(declared)
    errors = rbac.validate_spec(declared)
    assert any(expected in error for error in errors), errors


# ---------------------------------------------------------------- namespaces

def test_namespaces_default_to_those_labelled_for_the_tenant():
    namespaces, errors, refusals = rbac.resolve_tenant_namespaces("team-a", None, OWNERS)
    assert (namespaces, errors, refusals) == (["team-a", "team-a-ml"], [], [])


def test_no_labelled_namespace_is_an_error_with_the_fix():
    namespaces, errors = rbac.resolve_tenant_namespaces("team-c", None, OWNERS)[:2]
    assert namespaces == []
    assert "no namespace is labelled sovereign.cluster/tenant=team-c" in errors[0]


def test_declaring_another_tenants_namespace_is_refused():
    namespaces, errors, refusals = rbac.resolve_tenant_namespaces("team-a", ["team-a", "team-b"], OWNERS)
    assert namespaces == ["team-a"] and errors == []
    assert rule_ids(refusals) == ["cross-tenant-namespace"]
    assert "belongs to tenant 'team-b'" in refusals[0]["message"] and refusals[0]["namespace"] == "team-b"


@pytest.mark.parametrize("namespace", ["kube-system", "default", "kube-flannel"])
def test_platform_namespaces_are_refused_even_if_labelled(namespace):
    owners = dict(OWNERS, **{namespace: "team-a"})
    refusals = rbac.resolve_tenant_namespaces("team-a", [namespace], owners)[2]
    assert rule_ids(refusals) == ["cross-tenant-namespace"]
    assert "belongs to the platform" in refusals[0]["message"]


def test_missing_or_unlabelled_namespaces_are_errors():
    errors, refusals = rbac.resolve_tenant_namespaces("team-a", ["nowhere", "shared-tools"], OWNERS)[1:]
    assert refusals == []
    assert "namespaces[0] 'nowhere' does not exist" in errors[0]
    assert "namespaces[1] 'shared-tools' is not labelled sovereign.cluster/tenant=team-a" in errors[1]


def test_namespace_owners_reads_the_tenant_label():
    owners = rbac.namespace_owners({"a": {TENANT_LABEL: "t1", "x": "y"}, "b": {}, "c": None})
    assert owners == {"a": "t1", "b": None, "c": None}


# ---------------------------------------------------------------- rules (escalation and scope)

@pytest.mark.parametrize("rule, expected", [
    ({"resources": ["pods"], "verbs": ["*"]}, ["wildcard-verb"]),
    ({"resources": ["*"], "verbs": ["get"]}, ["wildcard-resource"]),
    ({"resources": ["pods/*"], "verbs": ["get"]}, ["wildcard-resource"]),
    ({"api_groups": ["*"], "resources": ["deployments"], "verbs": ["get"]}, ["wildcard-api-group"]),
    ({"api_groups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["escalate"]}, ["escalation-verb"]),
    ({"api_groups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["bind"]},
     ["cluster-scoped-resource", "escalation-verb"]),
    ({"resources": ["users", "groups", "serviceaccounts"], "verbs": ["impersonate"]},
     ["cluster-scoped-resource", "escalation-verb"]),
    ({"resources": ["nodes/proxy"], "verbs": ["get", "create"]}, ["node-proxy"]),
    ({"resources": ["nodes"], "verbs": ["get"]}, ["cluster-scoped-resource"]),
    ({"api_groups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests/approval"], "verbs": ["update"]},
     ["cluster-scoped-resource"]),
    ({"nonResourceURLs": ["/metrics"], "verbs": ["get"]}, ["non-resource-url"]),
    ({"resources": ["resourcequotas"], "verbs": ["get", "update"]}, ["guardrail-write"]),
    ({"resources": ["namespaces"], "verbs": ["patch"]}, ["guardrail-write"]),
])
def test_dangerous_rules_are_refused(rule, expected):
    refusals = rbac.check_rules([rule], role="r1", binding="b1")
    assert rule_ids(refusals) == expected
    assert all(r["role"] == "r1" and r["binding"] == "b1" and "role 'r1' rule 0" in r["message"] for r in refusals)


@pytest.mark.parametrize("rule", [
    READ_PODS,
    ADMIN_RULES[0],  # secrets inside the tenant's own namespaces are the tenant's business
    {"resources": ["resourcequotas", "limitranges", "namespaces"], "verbs": ["get", "list", "watch"]},
    {"api_groups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["get", "list", "create"]},
    {"resources": ["serviceaccounts/token"], "verbs": ["create"], "resource_names": ["ci"]},
])
def test_tenant_scoped_rules_pass(rule):
    assert rbac.check_rules([rule], role="ok") == []


SAFE_VERBS = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]
SAFE_RESOURCES = ["pods", "pods/log", "pods/exec", "services", "configmaps", "secrets", "deployments",
                  "jobs", "persistentvolumeclaims", "events", "networkpolicies"]


@settings(max_examples=60, deadline=None)
@given(verbs=st.lists(st.sampled_from(SAFE_VERBS), min_size=1, unique=True),
       resources=st.lists(st.sampled_from(SAFE_RESOURCES), min_size=1, unique=True),
       danger=st.sampled_from(sorted(rbac.ESCALATION_VERBS)))
def test_escalation_verbs_are_refused_whatever_else_the_rule_grants(verbs, resources, danger):
    assert rbac.check_rules([{"resources": resources, "verbs": verbs}]) == []
    refused = rbac.check_rules([{"resources": resources, "verbs": verbs + [danger]}])
    assert rule_ids(refused) == ["escalation-verb"]


# ---------------------------------------------------------------- subjects

@pytest.mark.parametrize("subject, expected", [
    ({"kind": "Group", "name": "system:masters"}, ["system-subject"]),
    ({"kind": "Group", "name": "system:authenticated"}, ["system-subject"]),
    ({"kind": "User", "name": "system:serviceaccount:team-b:ci"}, ["system-subject"]),
    ({"kind": "ServiceAccount", "name": "ci", "namespace": "team-b"}, ["cross-tenant-subject"]),
    ({"kind": "ServiceAccount", "name": "default", "namespace": "kube-system"}, ["cross-tenant-subject"]),
])
def test_subjects_outside_the_tenant_are_refused(subject, expected):
    refusals = rbac.check_subject(subject, ["team-a"], OWNERS, binding="b")
    assert rule_ids(refusals) == expected
    assert refusals[0]["subject"] == rbac.subject_key(subject)


def test_cross_tenant_service_account_names_the_owner():
    refusals = rbac.check_subject({"kind": "ServiceAccount", "name": "ci", "namespace": "team-b"}, ["team-a"], OWNERS)
    assert "ServiceAccount/team-b/ci lives in namespace 'team-b' (tenant 'team-b')" in refusals[0]["message"]


@pytest.mark.parametrize("subject", [
    {"kind": "Group", "name": "oidc:team-a-devs"},
    {"kind": "User", "name": "alice@team-a.example"},
    {"kind": "ServiceAccount", "name": "ci", "namespace": "team-a"},
])
def test_tenant_subjects_pass(subject):
    assert rbac.check_subject(subject, ["team-a"], OWNERS) == []


# ---------------------------------------------------------------- existing ClusterRoles

VIEW = {"kind": "ClusterRole", "metadata": {"name": "view"},
        "rules": [{"apiGroups": [""], "resources": ["pods", "services"], "verbs": ["get", "list", "watch"]}]}


@pytest.mark.parametrize("name, live, expected", [
    ("cluster-admin", {"rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}, ["cluster-admin"]),
    ("system:node", {"rules": []}, ["system-role"]),
    ("missing", None, ["unknown-role"]),
    ("edit", {"rules": [{"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]}]},
     ["escalation-verb"]),
])
def test_bindings_to_dangerous_cluster_roles_are_refused(name, live, expected):
    refusals = rbac.check_cluster_role_reference(name, live, binding="b")[0]
    assert rule_ids(refusals) == expected


def test_binding_to_a_read_only_cluster_role_passes_and_aggregation_warns():
    assert rbac.check_cluster_role_reference("view", VIEW, binding="b") == ([], [])
    aggregated = dict(VIEW, aggregationRule={"clusterRoleSelectors": [{"matchLabels": {"x": "true"}}]})
    refusals, warnings = rbac.check_cluster_role_reference("view", aggregated, binding="b")
    assert refusals == [] and "aggregates other ClusterRoles" in warnings[0]


# ---------------------------------------------------------------- separation of duties

def test_admin_and_auditor_on_one_subject_is_refused_naming_subject_and_rule():
    declared = spec()
    declared["bindings"][1]["subjects"].append({"kind": "Group", "name": "oidc:team-a-admins", "namespace": None})
    refusals = rbac.check_policy(declared, ["team-a"], OWNERS, {})[0]
    assert rule_ids(refusals) == ["incompatible-rights"]
    message = refusals[0]["message"]
    assert refusals[0]["subject"] == "Group/oidc:team-a-admins"
    assert "tenant-admin x auditor" in message and "SecNumCloud 9.3.f" in message
    assert "'tenant-admin' through binding 'tenant-admin'" in message and "'auditor' through binding 'auditor'" in message


def test_admin_and_auditor_on_different_subjects_pass():
    refusals, warnings = rbac.check_policy(spec(), ["team-a", "team-a-ml"], OWNERS, {})
    assert (refusals, warnings) == ([], [])


def test_incompatible_rights_are_configurable():
    assignments = {"User/bob": {"deployer": ["deploy"], "approver": ["approve"]},
                   "User/eve": {"deployer": ["deploy"]}}
    custom = [{"roles": ["deployer", "approver", "auditor"], "reason": "four-eyes principle"}]
    refusals = rbac.check_incompatible(assignments, custom)
    assert [r["subject"] for r in refusals] == ["User/bob"]
    assert "four-eyes principle" in refusals[0]["message"]
    assert rbac.check_incompatible(assignments, []) == []


def test_incompatible_rights_also_apply_to_existing_cluster_roles():
    declared = spec(incompatible_roles=[{"roles": ["tenant-admin", "view"], "reason": None}])
    declared["bindings"].append({"name": "viewers", "role": None, "cluster_role": "view", "namespaces": None,
                                 "subjects": [{"kind": "Group", "name": "oidc:team-a-admins", "namespace": None}]})
    refusals = rbac.check_policy(declared, ["team-a"], OWNERS, {"view": VIEW})[0]
    assert rule_ids(refusals) == ["incompatible-rights"]


# ---------------------------------------------------------------- whole policy

def test_binding_into_another_tenants_namespace_is_refused_and_mentions_secrets():
    declared = spec()
    declared["bindings"][0]["namespaces"] = ["team-a", "team-b"]
    refusals = rbac.check_policy(declared, ["team-a"], OWNERS, {})[0]
    assert rule_ids(refusals) == ["cross-tenant-namespace"]
    assert refusals[0]["binding"] == "tenant-admin" and refusals[0]["namespace"] == "team-b"
    assert "(including secrets)" in refusals[0]["message"] and "belongs to tenant 'team-b'" in refusals[0]["message"]


def test_binding_into_an_unlisted_namespace_is_refused():
    declared = spec()
    declared["bindings"][1]["namespaces"] = ["shared-tools"]
    refusals = rbac.check_policy(declared, ["team-a"], OWNERS, {})[0]
    assert rule_ids(refusals) == ["cross-tenant-namespace"]
    assert "'shared-tools' is not one of the tenant's namespaces" in refusals[0]["message"]


def test_role_created_in_another_tenants_namespace_is_refused():
    declared = spec()
    declared["roles"][0]["namespaces"] = ["team-b"]
    refusals = rbac.check_policy(declared, ["team-a"], OWNERS, {})[0]
    assert "cross-tenant-namespace" in rule_ids(refusals)


def test_binding_in_a_namespace_where_its_role_is_not_created_is_refused():
    declared = spec()
    declared["roles"][0]["namespaces"] = ["team-a"]
    refusals = rbac.check_policy(declared, ["team-a", "team-a-ml"], OWNERS, {})[0]
    assert refusals == []  # default binding namespaces follow the tenant; team-a-ml lacks the Role
    desired_bindings = [o for o in rbac.desired_objects(declared, ["team-a", "team-a-ml"]) if o["kind"] == "RoleBinding"]
    assert len(desired_bindings) == 4
    declared["bindings"][0]["namespaces"] = ["team-a-ml"]
    refusals = rbac.check_policy(declared, ["team-a", "team-a-ml"], OWNERS, {})[0]
    assert rule_ids(refusals) == ["unknown-role"]


def test_escalating_declared_role_is_refused_with_its_name():
    declared = spec()
    declared["roles"][0]["rules"].append({"api_groups": ["rbac.authorization.k8s.io"], "resources": ["roles"],
                                          "verbs": ["bind", "escalate"]})
    refusals = rbac.check_policy(declared, ["team-a"], OWNERS, {})[0]
    assert rule_ids(refusals) == ["escalation-verb"]
    assert refusals[0]["role"] == "tenant-admin" and "['bind', 'escalate']" in refusals[0]["message"]


# ---------------------------------------------------------------- desired objects and plan

def test_desired_objects_carry_ownership_labels_and_tenant_scoped_names():
    objects = rbac.desired_objects(spec(), ["team-a", "team-a-ml"])
    refs = sorted(rbac.object_ref(o) for o in objects)
    assert refs == ["ClusterRole/team-a:auditor", "Role/team-a-ml/tenant-admin", "Role/team-a/tenant-admin",
                    "RoleBinding/team-a-ml/auditor", "RoleBinding/team-a-ml/tenant-admin",
                    "RoleBinding/team-a/auditor", "RoleBinding/team-a/tenant-admin"]
    for obj in objects:
        assert obj["metadata"]["labels"] == {rbac.MANAGED_BY_LABEL: "sovereign.cluster.tenant_rbac", TENANT_LABEL: "team-a"}
        assert obj["apiVersion"] == "rbac.authorization.k8s.io/v1"
    auditor_binding = next(o for o in objects if rbac.object_ref(o) == "RoleBinding/team-a/auditor")
    assert auditor_binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "team-a:auditor"}
    assert auditor_binding["subjects"] == [{"kind": "Group", "name": "oidc:secops", "apiGroup": "rbac.authorization.k8s.io"}]
    role = next(o for o in objects if rbac.object_ref(o) == "Role/team-a/tenant-admin")
    assert role["rules"][1] == {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets"], "verbs": ["get", "list", "create"]}


def live_copy(obj, **extra_labels):
    """What an API server would return: kind kept, extra labels/fields added by others."""
    live = copy.deepcopy(obj)
    live["metadata"]["labels"].update(extra_labels)
    live["metadata"]["uid"] = "1234"
    live["metadata"]["resourceVersion"] = "42"
    return live


def test_first_plan_creates_everything_then_a_second_plan_is_empty():
    desired = rbac.desired_objects(spec(), ["team-a"])
    changes, errors = rbac.plan_changes(desired, [], {rbac.object_ref(o): None for o in desired})
    assert errors == []
    assert [c["action"] for c in changes] == ["create"] * 4
    assert [c["kind"] for c in changes] == ["ClusterRole", "Role", "RoleBinding", "RoleBinding"]
    managed = [live_copy(o, team="platform") for o in desired]
    assert rbac.plan_changes(desired, managed, {}) == ([], [])


def test_changed_rules_and_subjects_are_merge_patched():
    desired = rbac.desired_objects(spec(), ["team-a"])
    managed = [live_copy(o) for o in desired]
    role = next(o for o in managed if o["kind"] == "Role")
    role["rules"][0]["verbs"] = ["get"]
    binding = next(o for o in managed if o["metadata"]["name"] == "tenant-admin" and o["kind"] == "RoleBinding")
    binding["subjects"].append({"kind": "User", "name": "mallory", "apiGroup": "rbac.authorization.k8s.io"})
    changes = rbac.plan_changes(desired, managed, {})[0]
    assert [(c["action"], c["ref"]) for c in changes] == [("update", "Role/team-a/tenant-admin"),
                                                          ("update", "RoleBinding/team-a/tenant-admin")]
    desired_role = next(o for o in desired if o["kind"] == "Role")
    assert changes[0]["patch"]["rules"] == desired_role["rules"]
    assert changes[0]["patch"]["metadata"]["labels"] == desired_role["metadata"]["labels"]
    assert "subjects" not in changes[0]["patch"] and "rules" not in changes[1]["patch"]
    assert changes[1]["patch"]["subjects"] == [{"kind": "Group", "name": "oidc:team-a-admins",
                                                "apiGroup": "rbac.authorization.k8s.io"}]
    assert changes[1]["before"]["subjects"][-1]["name"] == "mallory"


def test_changed_role_ref_replaces_the_binding():
    declared = spec()
    desired = rbac.desired_objects(declared, ["team-a"])
    managed = [live_copy(o) for o in desired]
    declared["roles"][1]["scope"] = "namespace"  # auditor becomes a Role: the RoleBinding's roleRef changes
    new_desired = rbac.desired_objects(declared, ["team-a"])
    changes = rbac.plan_changes(new_desired, managed, {"Role/team-a/auditor": None})[0]
    actions = [(c["action"], c["ref"]) for c in changes]
    assert actions == [("create", "Role/team-a/auditor"), ("replace", "RoleBinding/team-a/auditor"),
                       ("delete", "ClusterRole/team-a:auditor")]


def test_prune_removes_only_undeclared_managed_objects_bindings_first():
    desired = rbac.desired_objects(spec(), ["team-a"])
    managed = [live_copy(o) for o in desired]
    declared = spec(bindings=[], roles=[spec()["roles"][0]])
    changes = rbac.plan_changes(rbac.desired_objects(declared, ["team-a"]), managed, {})[0]
    assert [(c["action"], c["ref"]) for c in changes] == [
        ("delete", "RoleBinding/team-a/auditor"), ("delete", "RoleBinding/team-a/tenant-admin"),
        ("delete", "ClusterRole/team-a:auditor")]
    changes = rbac.plan_changes(rbac.desired_objects(declared, ["team-a"]), managed, {}, prune=False)[0]
    assert changes == []


def test_a_foreign_object_in_the_way_is_an_error_not_adopted():
    desired = rbac.desired_objects(spec(), ["team-a"])
    foreign = {"kind": "RoleBinding", "metadata": {"name": "tenant-admin", "namespace": "team-a", "labels": {"owner": "ops"}},
               "roleRef": {"kind": "ClusterRole", "name": "admin"}, "subjects": []}
    changes, errors = rbac.plan_changes(desired, [], {"RoleBinding/team-a/tenant-admin": foreign})
    assert "RoleBinding/team-a/tenant-admin already exists and is not managed by tenant_rbac" in errors[0]
    assert "RoleBinding/team-a/tenant-admin" not in [c["ref"] for c in changes]


def test_is_managed_requires_both_labels_and_the_right_tenant():
    labels = rbac.tenant_labels("team-a")
    assert rbac.is_managed({"metadata": {"labels": dict(labels, extra="1")}}, "team-a")
    assert not rbac.is_managed({"metadata": {"labels": labels}}, "team-b")
    assert not rbac.is_managed({"metadata": {"labels": {TENANT_LABEL: "team-a"}}}, "team-a")
    assert not rbac.is_managed({"metadata": {}}, "team-a")


def test_summary_and_diff():
    desired = rbac.desired_objects(spec(), ["team-a"])
    stale = copy.deepcopy(desired[-1])
    stale["metadata"]["name"] = "old-team"
    changes = rbac.plan_changes(desired[:-1], [stale], {rbac.object_ref(o): None for o in desired})[0]
    summary = rbac.summarize(changes)
    assert summary["bindings"] == {"created": ["RoleBinding/team-a/tenant-admin"], "updated": [],
                                   "removed": ["RoleBinding/team-a/old-team"]}
    assert summary["roles"]["created"] == ["ClusterRole/team-a:auditor", "Role/team-a/tenant-admin"]
    diff = rbac.diff_of(changes)
    assert list(diff["before"]) == ["RoleBinding/team-a/old-team"]
    assert "RoleBinding/team-a/old-team" not in diff["after"] and "Role/team-a/tenant-admin" in diff["after"]


# ---------------------------------------------------------------- tenant catalog (for vcluster_tenant)

def test_catalog_of_well_formed_tenants_passes():
    tenants = [{"name": "team-a", "namespaces": ["team-a", "team-a-ml"],
                "subjects": {"tenant-admin": ["oidc:a-admins"], "auditor": ["oidc:secops"]}},
               {"name": "team-b", "subjects": {"tenant-admin": ["oidc:b-admins"], "auditor": ["oidc:secops"]}}]
    assert rbac.check_tenant_catalog(tenants) == ([], [])


def test_catalog_refuses_shared_namespaces_platform_namespaces_sod_and_system_groups():
    tenants = [{"name": "team-a", "namespaces": ["team-a", "shared"], "subjects": {}},
               {"name": "team-b", "namespaces": ["team-b", "shared", "kube-system"],
                "subjects": {"tenant-admin": ["oidc:b-ops", "system:masters"], "auditor": ["oidc:b-ops"],
                             "developer": [{"kind": "ServiceAccount", "name": "ci", "namespace": "team-a"}]}}]
    errors, refusals = rbac.check_tenant_catalog(tenants)
    assert errors == []
    assert rule_ids(refusals) == ["cross-tenant-namespace", "cross-tenant-namespace", "cross-tenant-subject",
                                  "incompatible-rights", "system-subject"]
    messages = " | ".join(r["message"] for r in refusals)
    assert "tenants[1].namespaces[1]: namespace 'shared' belongs to tenant 'team-a'" in messages
    assert "tenants[1] (tenant 'team-b'): subject Group/oidc:b-ops would hold incompatible rights" in messages


def test_catalog_reports_bad_and_duplicate_names():
    errors = rbac.check_tenant_catalog([{"name": "Team A"}, {"name": "t"}, {"name": "t"}])[0]
    assert "tenants[0].name 'Team A' is not a DNS-1123 label" in errors[0]
    assert "tenants[2].name 't' is declared twice" in errors[1]


def test_separation_of_duties_is_decided_on_rights_not_on_names():
    """The auditor's rights under another name, bound beside tenant-admin to one subject, are refused."""
    from ansible_collections.sovereign.cluster.plugins.module_utils.tenant_rbac import check_incompatible, role_assignments

    admin_rules = [{"resources": ["pods", "secrets"], "verbs": ["get", "list", "create", "delete"]}]
    audit_rules = [{"resources": ["pods", "events"], "verbs": ["get", "list"]},
                   {"api_groups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["get", "list"]}]
    rules = {"tenant-admin": admin_rules, "auditor": audit_rules, "reader2": audit_rules,
             "events-reader": [{"resources": ["events"], "verbs": ["get", "list"]}],
             "rb-reader": [{"api_groups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["get", "list"]}]}
    sod = [{"roles": ["tenant-admin", "auditor"], "reason": "SecNumCloud 9.3.f"}]
    group = {"kind": "Group", "name": "ops"}

    def refused(*roles):
        bindings = [{"name": "b-" + role, "role": role, "subjects": [group]} for role in roles]
        return check_incompatible(role_assignments(bindings), sod, rules)

    found = refused("tenant-admin", "reader2")
    assert [r["rule"] for r in found] == ["incompatible-rights"]
    assert "the rights of 'auditor' through role(s) 'reader2'" in found[0]["message"]
    # split over two roles, the auditor's rights still add up
    assert refused("tenant-admin", "events-reader", "rb-reader")
    # by name, as before
    assert refused("tenant-admin", "auditor")
    # part of the auditor's rights is not the auditor's duty; the auditor's rights alone are one duty
    assert refused("tenant-admin", "events-reader") == []
    assert refused("reader2") == [] and refused("auditor", "reader2") == []


def test_an_aggregated_cluster_role_without_rules_yet_is_refused():
    """Seen on the real kube-apiserver: `edit` has no rules for ~10 s after start; it cannot be checked then."""
    empty = {"metadata": {"name": "edit"}, "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"x": "y"}}]}}
    refusals, _warnings = rbac.check_cluster_role_reference("edit", empty, binding="b")
    assert [r["rule"] for r in refusals] == ["unknown-role"] and "has no rules yet" in refusals[0]["message"]
    filled = dict(empty, rules=[{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}])
    refusals, warnings = rbac.check_cluster_role_reference("edit", filled, binding="b")
    assert refusals == [] and "aggregates other ClusterRoles" in warnings[0]
