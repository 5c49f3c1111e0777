# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The admission policy that keeps the platform's NetworkPolicies out of a tenant's reach (pure).

RBAC cannot forbid one object by its label: a tenant admin allowed to manage its own NetworkPolicies could
also delete the ``default-deny`` the platform put in its namespace. A ValidatingAdmissionPolicy (GA since
Kubernetes 1.30) refuses, in every tenant namespace, any create, update or delete of a NetworkPolicy that
carries (or would carry) the label ``app.kubernetes.io/managed-by=sovereign.cluster.vcluster_tenant``,
unless the request comes from one of the platform groups. The tenant's own NetworkPolicies stay its own.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

MANAGED_BY = "sovereign.cluster.vcluster_tenant"
POLICY_NAME = "sovereign-tenant-guardrails"
# Who may still change guardrails: cluster admins (kubeadm's admin.conf group, system:masters) and the
# control plane's own controllers (the namespace controller deletes everything when a tenant is offboarded).
DEFAULT_PLATFORM_GROUPS = ("system:masters", "kubeadm:cluster-admins", "system:serviceaccounts:kube-system")


def _label_of(var):
    return "(%s == null || %s.metadata.?labels[?'app.kubernetes.io/managed-by'].orValue('') != '%s')" % (
        var, var, MANAGED_BY)


def guardrail_manifests(settings):
    """[ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding] for the tenant namespaces."""
    groups = list(settings.get("platform_groups") or DEFAULT_PLATFORM_GROUPS)
    labels = {"app.kubernetes.io/managed-by": MANAGED_BY, "app.kubernetes.io/component": "tenant-guardrails"}
    group_list = "[" + ", ".join("'%s'" % g.replace("'", "") for g in groups) + "]"
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": POLICY_NAME, "labels": labels},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{
                "apiGroups": ["networking.k8s.io"], "apiVersions": ["*"],
                "operations": ["CREATE", "UPDATE", "DELETE"], "resources": ["networkpolicies"]}]},
            "matchConditions": [{"name": "not-a-platform-operator",
                                 "expression": "!request.userInfo.groups.exists(g, g in %s)" % group_list}],
            "validations": [{
                "expression": _label_of("oldObject") + " && " + _label_of("object"),
                "messageExpression": "'NetworkPolicy ' + request.namespace + '/' + request.name + ' is a platform "
                                     "guardrail (managed by %s): tenants cannot create, change or delete it; ask the "
                                     "platform team'" % MANAGED_BY,
                "reason": "Forbidden"}],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": POLICY_NAME, "labels": labels},
        "spec": {"policyName": POLICY_NAME, "validationActions": ["Deny"],
                 "matchResources": {"namespaceSelector": {"matchExpressions": [
                     {"key": settings.get("tenant_label") or "sovereign.cluster/tenant", "operator": "Exists"}]}}},
    }
    return [policy, binding]
