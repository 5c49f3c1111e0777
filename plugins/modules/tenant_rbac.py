#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: tenant_rbac
short_description: Declare a tenant's Kubernetes roles and bindings, refusing grants that leave the tenant
version_added: 0.1.0
description:
  - Declares the roles (Roles, or tenant-scoped ClusterRoles named C(<tenant>:<role>)) and the bindings (RoleBindings)
    of one tenant, plans against the live cluster, and applies the difference.
  - Refuses, before anything changes, any grant that reaches another tenant's or the platform's namespaces, binds
    C(cluster-admin) or a C(system:) ClusterRole, or grants escalate, bind, impersonate, wildcard verbs, resources or
    API groups, cluster-scoped resources, C(nodes/proxy), non-resource URLs, or writes to the tenant's ResourceQuota,
    LimitRange or Namespace object.
  - Enforces separation of duties (SecNumCloud 9.3.f) with O(incompatible_roles) - by default no subject may be both
    C(tenant-admin) and C(auditor).
  - Every object it creates carries the labels C(app.kubernetes.io/managed-by=sovereign.cluster.tenant_rbac) and
    C(<tenant_label>=<tenant>); managed objects of the tenant that are no longer declared are removed (O(prune)).
    Objects without these labels are never changed or deleted; one in the way of a declared object is an error.
  - Never creates ClusterRoleBindings - a tenant's rights are only granted inside the tenant's namespaces.
  - Tenant namespaces are those labelled C(<tenant_label>=<tenant>); a namespace labelled for another tenant, or a
    platform namespace (C(default), C(kube-*)), is refused.
author:
  - sovereign.cluster developers (@sovereign-cluster)
extends_documentation_fragment:
  - sovereign.cluster.k8s_auth
attributes:
  check_mode:
    support: full
    description: Plans against the live cluster and reports what would change; changes nothing.
  diff_mode:
    support: full
    description: Shows the managed objects before and after, keyed by C(Kind/namespace/name).
options:
  tenant:
    description:
      - Name of the tenant (a DNS-1123 label). Used in the ownership label and in tenant-scoped ClusterRole names.
    type: str
    required: true
  state:
    description:
      - V(present) makes the tenant's managed roles and bindings match the declaration.
      - V(absent) removes every role and binding this module manages for the tenant (offboarding); O(roles) and
        O(bindings) are ignored.
    type: str
    choices: [present, absent]
    default: present
  namespaces:
    description:
      - The tenant's namespaces. Each must exist and be labelled O(tenant_label)=O(tenant).
      - When omitted, every namespace labelled O(tenant_label)=O(tenant) is used.
    type: list
    elements: str
  tenant_label:
    description:
      - Label key that says which tenant owns a namespace; also put on every managed object.
    type: str
    default: sovereign.cluster/tenant
  roles:
    description:
      - The tenant's roles.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - Role name (a DNS-1123 label), used by O(bindings[].role) and in O(incompatible_roles).
        type: str
        required: true
      scope:
        description:
          - V(namespace) creates a Role of that name in each of the role's namespaces.
          - V(cluster) creates one tenant-scoped ClusterRole C(<tenant>:<name>), bound only by RoleBindings in tenant
            namespaces.
        type: str
        choices: [namespace, cluster]
        default: namespace
      namespaces:
        description:
          - For O(roles[].scope=namespace), the namespaces to create the Role in. Default is all tenant namespaces.
        type: list
        elements: str
      rules:
        description:
          - The PolicyRules the role grants.
        type: list
        elements: dict
        required: true
        suboptions:
          api_groups:
            description:
              - API groups; V('') is the core group.
            type: list
            elements: str
            default: ['']
          resources:
            description:
              - Resources, with subresources as C(pods/log).
            type: list
            elements: str
            required: true
          verbs:
            description:
              - Verbs, for example V(get), V(list), V(watch), V(create), V(update), V(patch), V(delete).
            type: list
            elements: str
            required: true
          resource_names:
            description:
              - Restrict the rule to these object names.
            type: list
            elements: str
  bindings:
    description:
      - Who gets which role. Each binding becomes a RoleBinding in each of its namespaces.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - RoleBinding name. Defaults to the role (or cluster role) name.
        type: str
      role:
        description:
          - A role declared in O(roles). Mutually exclusive with O(bindings[].cluster_role).
        type: str
      cluster_role:
        description:
          - An existing ClusterRole not managed by this module (for example V(view)); its live rules are checked
            like a declared role's. Mutually exclusive with O(bindings[].role).
        type: str
      namespaces:
        description:
          - Namespaces to bind in. Default is all tenant namespaces.
        type: list
        elements: str
      subjects:
        description:
          - Users, groups (typically OIDC groups) and service accounts to bind.
        type: list
        elements: dict
        required: true
        suboptions:
          kind:
            description:
              - Subject kind.
            type: str
            choices: [User, Group, ServiceAccount]
            required: true
          name:
            description:
              - User, group or service account name.
            type: str
            required: true
          namespace:
            description:
              - Namespace of a ServiceAccount (must be a tenant namespace).
            type: str
  incompatible_roles:
    description:
      - Sets of roles no single subject may hold together (separation of duties). Role names are those of O(roles)
        or of O(bindings[].cluster_role).
      - When omitted, C(tenant-admin) and C(auditor) are incompatible (SecNumCloud 9.3.f). Set V([]) to disable.
    type: list
    elements: dict
    suboptions:
      roles:
        description:
          - At least two role names.
        type: list
        elements: str
        required: true
      reason:
        description:
          - Why they are incompatible; quoted in the refusal.
        type: str
  prune:
    description:
      - Remove the tenant's managed roles and bindings that are no longer declared.
    type: bool
    default: true
notes:
  - Kubernetes itself forbids granting rights one does not hold; the account running this module needs to hold (or
    be allowed to C(bind)) what it grants, plus rights on namespaces, roles, rolebindings and clusterroles.
  - A RoleBinding whose role changes is deleted and created again (roleRef is immutable in the API).
seealso:
  - name: Kubernetes RBAC
    description: Using RBAC authorization.
    link: https://kubernetes.io/docs/reference/access-authn-authz/rbac/
"""

EXAMPLES = r"""
- name: Tenant team-a - admins, developers and auditors
  sovereign.cluster.tenant_rbac:
    tenant: team-a
    roles:
      - name: tenant-admin
        rules:
          - resources: [pods, pods/log, pods/exec, services, configmaps, secrets, persistentvolumeclaims]
            verbs: [get, list, watch, create, update, patch, delete]
          - api_groups: [apps]
            resources: [deployments, statefulsets]
            verbs: [get, list, watch, create, update, patch, delete]
      - name: auditor
        scope: cluster
        rules:
          - api_groups: ['', apps]
            resources: [pods, services, deployments, events]
            verbs: [get, list, watch]
    bindings:
      - role: tenant-admin
        subjects:
          - {kind: Group, name: "oidc:team-a-admins"}
      - role: auditor
        subjects:
          - {kind: Group, name: "oidc:secops-auditors"}
      - name: readers
        cluster_role: view
        subjects:
          - {kind: Group, name: "oidc:team-a-devs"}

- name: What would change (check mode shows the plan, diff the objects)
  sovereign.cluster.tenant_rbac:
    tenant: team-a
    namespaces: [team-a, team-a-ml]
    roles: "{{ team_a_roles }}"
    bindings: "{{ team_a_bindings }}"
    kubeconfig: /etc/sovereign/admin.kubeconfig
    context: platform-admin
  check_mode: true
  diff: true

- name: Offboard team-b (removes only what this module manages for it)
  sovereign.cluster.tenant_rbac:
    tenant: team-b
    state: absent
"""

RETURN = r"""
tenant:
  description: The tenant.
  returned: always
  type: str
  sample: team-a
namespaces:
  description: The tenant namespaces the bindings were planned in.
  returned: always
  type: list
  elements: str
  sample: [team-a]
bindings:
  description: RoleBindings created, updated (or re-created) and removed, as C(RoleBinding/namespace/name).
  returned: always
  type: dict
  contains:
    created:
      description: Bindings created.
      type: list
      elements: str
      returned: always
      sample: [RoleBinding/team-a/tenant-admin]
    updated:
      description: Bindings updated or re-created.
      type: list
      elements: str
      returned: always
      sample: []
    removed:
      description: Bindings removed because they are no longer declared.
      type: list
      elements: str
      returned: always
      sample: [RoleBinding/team-a/old-team]
roles:
  description: Roles and tenant-scoped ClusterRoles created, updated and removed, as C(Kind/namespace/name) or C(Kind/name).
  returned: always
  type: dict
  contains:
    created:
      description: Roles created.
      type: list
      elements: str
      returned: always
      sample: [Role/team-a/tenant-admin, "ClusterRole/team-a:auditor"]
    updated:
      description: Roles whose rules or labels were updated.
      type: list
      elements: str
      returned: always
      sample: []
    removed:
      description: Roles removed because they are no longer declared.
      type: list
      elements: str
      returned: always
      sample: []
changes:
  description: The plan, in the order applied.
  returned: always
  type: list
  elements: dict
  sample: [{action: create, ref: Role/team-a/tenant-admin}, {action: create, ref: RoleBinding/team-a/tenant-admin}]
refusals:
  description:
    - Grants refused by the tenancy policy; the module fails when there is any, before changing anything.
    - Each has C(rule) (cross-tenant-namespace, cross-tenant-subject, system-subject, cluster-admin, system-role,
      unknown-role, escalation-verb, wildcard-verb, wildcard-resource, wildcard-api-group, node-proxy,
      cluster-scoped-resource, non-resource-url, guardrail-write, incompatible-rights), C(message), and the
      C(binding), C(role), C(namespace) and C(subject) concerned (null when not relevant).
  returned: always
  type: list
  elements: dict
  sample:
    - rule: incompatible-rights
      message: "subject Group/oidc:ops would hold incompatible rights tenant-admin x auditor (...)"
      binding: auditor
      role: auditor
      namespace: null
      subject: Group/oidc:ops
errors:
  description: Input or live-state errors (field named, fix given); the module fails when there is any.
  returned: failure
  type: list
  elements: str
  sample: ["bindings[0].role 'admin' is not declared in roles: declare it or use cluster_role for an existing ClusterRole"]
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.parameters import remove_values

from ansible_collections.sovereign.cluster.plugins.module_utils import tenant_rbac as rbac
from ansible_collections.sovereign.cluster.plugins.module_utils.k8s_client import (
    HAS_KUBERNETES, KUBERNETES_IMPORT_ERROR, K8S_AUTH_ARGSPEC, K8sClientError, KubernetesObjectsAdapter,
    build_api_client, redact_k8s_auth)

MANAGED_KINDS = ("ClusterRole", "Role", "RoleBinding")


def argument_spec():
    rule = dict(api_groups=dict(type="list", elements="str", default=[""]),
                resources=dict(type="list", elements="str", required=True),
                verbs=dict(type="list", elements="str", required=True),
                resource_names=dict(type="list", elements="str"))
    subject = dict(kind=dict(type="str", required=True, choices=["User", "Group", "ServiceAccount"]),
                   name=dict(type="str", required=True),
                   namespace=dict(type="str"))
    spec = dict(
        tenant=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        namespaces=dict(type="list", elements="str"),
        tenant_label=dict(type="str", default=rbac.DEFAULT_TENANT_LABEL),
        roles=dict(type="list", elements="dict", default=[], options=dict(
            name=dict(type="str", required=True),
            scope=dict(type="str", default="namespace", choices=["namespace", "cluster"]),
            namespaces=dict(type="list", elements="str"),
            rules=dict(type="list", elements="dict", required=True, options=rule))),
        bindings=dict(type="list", elements="dict", default=[], options=dict(
            name=dict(type="str"),
            role=dict(type="str"),
            cluster_role=dict(type="str"),
            namespaces=dict(type="list", elements="str"),
            subjects=dict(type="list", elements="dict", required=True, options=subject))),
        incompatible_roles=dict(type="list", elements="dict", options=dict(
            roles=dict(type="list", elements="str", required=True),
            reason=dict(type="str"))),
        prune=dict(type="bool", default=True),
    )
    spec.update(K8S_AUTH_ARGSPEC)
    return spec


def list_managed(adapter, spec):
    """Live objects carrying this tenant's ownership labels (selector sent, labels re-checked here)."""
    selector = ",".join("%s=%s" % item for item in sorted(rbac.tenant_labels(spec["tenant"], spec["tenant_label"]).items()))
    managed = []
    for kind in MANAGED_KINDS:
        for obj in adapter.list_objects(kind, label_selector=selector):
            obj = dict(obj, kind=kind)  # list items may come without kind
            if rbac.is_managed(obj, spec["tenant"], spec["tenant_label"]):
                managed.append(obj)
    return managed


def plan(adapter, spec):
    """Read the live state and plan. Returns ``(changes, namespaces, refusals, errors, warnings)``."""
    managed = list_managed(adapter, spec)
    if spec["state"] == "absent":
        changes, errors = rbac.plan_changes([], managed, {}, prune=True)
        return changes, [], [], errors, []
    owners = rbac.namespace_owners(adapter.namespace_labels(), spec["tenant_label"])
    namespaces, errors, refusals = rbac.resolve_tenant_namespaces(spec["tenant"], spec["namespaces"], owners,
                                                                  spec["tenant_label"])
    referenced = {}
    for binding in spec["bindings"]:
        name = binding.get("cluster_role")
        if name and name not in referenced and name not in rbac.FORBIDDEN_CLUSTER_ROLES and not name.startswith("system:"):
            referenced[name] = adapter.read_object("ClusterRole", name)
    found, warnings = rbac.check_policy(spec, namespaces, owners, referenced)
    refusals.extend(found)
    if errors or refusals:
        return [], namespaces, refusals, errors, warnings
    desired = rbac.desired_objects(spec, namespaces)
    managed_refs = set(rbac.object_ref(obj) for obj in managed)
    existing = {}
    for obj in desired:
        ref = rbac.object_ref(obj)
        if ref not in managed_refs:
            meta = obj["metadata"]
            live = adapter.read_object(obj["kind"], meta["name"], meta.get("namespace"))
            existing[ref] = dict(live, kind=obj["kind"]) if live is not None else None
    changes, conflicts = rbac.plan_changes(desired, managed, existing, prune=spec["prune"])
    return changes, namespaces, refusals, errors + conflicts, warnings


def apply(adapter, changes, applied):
    """Carry out the plan in order; ``applied`` records each step done (for partial-failure reports)."""
    for change in changes:
        kind, name, namespace = change["kind"], change["name"], change["namespace"]
        if change["action"] in ("delete", "replace"):
            adapter.delete_object(kind, name, namespace)
        if change["action"] in ("create", "replace"):
            adapter.create_object(change["manifest"])
        if change["action"] == "update":
            adapter.patch_object(kind, name, namespace, change["patch"])
        applied.append({"action": change["action"], "ref": change["ref"]})


def warn(module, warnings):
    """Warn with the secrets masked: ansible-core 2.19 returns warnings as objects its masking does not enter."""
    for warning in warnings:
        module.warn(remove_values(warning, module.no_log_values))


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    redact_k8s_auth(module)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=KUBERNETES_IMPORT_ERROR)
    params = module.params
    spec = {key: params[key] for key in ("tenant", "state", "namespaces", "tenant_label", "roles", "bindings",
                                         "incompatible_roles", "prune")}
    result = dict(changed=False, tenant=spec["tenant"], namespaces=[], changes=[], refusals=[],
                  **rbac.summarize([]))
    errors = rbac.validate_spec(spec) if spec["state"] == "present" else rbac.validate_spec(
        dict(tenant=spec["tenant"], tenant_label=spec["tenant_label"]))
    if errors:
        module.fail_json(msg="; ".join(errors), errors=errors, **result)

    client_warnings = []  # what the client logged while loading the kubeconfig (masked like the rest)
    try:
        adapter = KubernetesObjectsAdapter(build_api_client(params, client_warnings),
                                           request_timeout=params["request_timeout"])
        changes, namespaces, refusals, errors, warnings = plan(adapter, spec)
    except K8sClientError as exc:
        warn(module, client_warnings)
        module.fail_json(msg=str(exc), **result)
    warn(module, client_warnings + warnings)
    result.update(namespaces=namespaces, refusals=refusals)
    if refusals:
        module.fail_json(msg="refused %d grant(s) for tenant %s, nothing changed: %s"
                         % (len(refusals), spec["tenant"], " | ".join(r["message"] for r in refusals)),
                         errors=errors, **result)
    if errors:
        module.fail_json(msg="; ".join(errors), errors=errors, **result)

    result.update(rbac.summarize(changes))
    result["changes"] = [{"action": c["action"], "ref": c["ref"]} for c in changes]
    result["changed"] = bool(changes)
    if module._diff:
        result["diff"] = rbac.diff_of(changes)
    if changes and not module.check_mode:
        applied = []
        try:
            apply(adapter, changes, applied)
        except K8sClientError as exc:
            result["changed"] = bool(applied)
            module.fail_json(msg="%s (after %d of %d planned changes: %s)" % (exc, len(applied), len(changes), applied),
                             exception=traceback.format_exc(), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
