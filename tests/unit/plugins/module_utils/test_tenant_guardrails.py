"""tenant_guardrails: the admission policy's shape (its behaviour is proven on the real apiserver in
tests/integration/k8s/test_vcluster_tenant_role_cluster.py::test_tenant_admin_cannot_touch_the_platforms_network_policies)."""
from ansible_collections.sovereign.cluster.plugins.module_utils.tenant_guardrails import guardrail_manifests


def test_policy_and_binding_cover_every_write_in_tenant_namespaces():
    policy, binding = guardrail_manifests({"tenant_label": "example.org/tenant"})
    rule = policy["spec"]["matchConstraints"]["resourceRules"][0]
    assert rule["resources"] == ["networkpolicies"] and set(rule["operations"]) == {"CREATE", "UPDATE", "DELETE"}
    assert policy["spec"]["failurePolicy"] == "Fail"
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert binding["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"] == [
        {"key": "example.org/tenant", "operator": "Exists"}]
    # both the old and the new object are checked: removing the label is refused like deleting the object
    expression = policy["spec"]["validations"][0]["expression"]
    assert "oldObject" in expression and "object ==" in expression


def test_platform_groups_pass_and_are_configurable():
    policy = guardrail_manifests({"platform_groups": ["ops"]})[0]
    assert policy["spec"]["matchConditions"][0]["expression"] == "!request.userInfo.groups.exists(g, g in ['ops'])"
    default = guardrail_manifests({})[0]
    assert "system:serviceaccounts:kube-system" in default["spec"]["matchConditions"][0]["expression"]
