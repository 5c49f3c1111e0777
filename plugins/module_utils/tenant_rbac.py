# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tenant RBAC: the pure rules and the planner behind ``sovereign.cluster.tenant_rbac``.

Nothing here talks to a cluster. The module (and the ``vcluster_tenant`` role, through a filter
or a validation task) hands in plain data; these functions answer with:

* ``errors``   - bad input, each naming the field and the fix;
* ``refusals`` - well-formed input that the tenancy policy forbids (another tenant's namespaces,
  cluster-admin, escalation verbs, wildcards, cluster-scoped resources, incompatible rights);
  each names the rule, the binding or role, the subject where one is involved, and the fix;
* a ``plan``   - the create / update / replace / delete steps that turn the live managed objects
  into the declared ones.

A refusal is a dict ``{rule, message, binding, role, namespace, subject}`` (unused keys are
None) so that a playbook or an auditor can filter on ``rule``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

RBAC_API_GROUP = "rbac.authorization.k8s.io"
RBAC_API_VERSION = RBAC_API_GROUP + "/v1"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "sovereign.cluster.tenant_rbac"
DEFAULT_TENANT_LABEL = "sovereign.cluster/tenant"
SOD_REASON = "separation of duties (SecNumCloud 9.3.f): administering and auditing the same scope"
DEFAULT_INCOMPATIBLE_ROLES = [{"roles": ["tenant-admin", "auditor"], "reason": SOD_REASON}]

SUBJECT_KINDS = ("User", "Group", "ServiceAccount")
ROLE_SCOPES = ("namespace", "cluster")
# Namespaces that belong to the platform, never to a tenant, whatever their labels say.
SYSTEM_NAMESPACES = frozenset(["default", "kube-system", "kube-public", "kube-node-lease"])
ESCALATION_VERBS = frozenset(["escalate", "bind", "impersonate"])
READ_VERBS = frozenset(["get", "list", "watch"])
# ClusterRoles a tenant may never be bound to, whatever their rules are today.
FORBIDDEN_CLUSTER_ROLES = frozenset(["cluster-admin"])
# Cluster-scoped (or node-level) resources: granting them through a tenant role either reaches
# beyond the tenant or means the author expected it to.
CLUSTER_SCOPED_RESOURCES = frozenset([
    "nodes", "nodes/status", "nodes/metrics", "nodes/stats", "nodes/log", "nodes/spec",
    "persistentvolumes", "clusterroles", "clusterrolebindings", "customresourcedefinitions",
    "apiservices", "mutatingwebhookconfigurations", "validatingwebhookconfigurations",
    "validatingadmissionpolicies", "validatingadmissionpolicybindings",
    "mutatingadmissionpolicies", "mutatingadmissionpolicybindings",
    "certificatesigningrequests", "certificatesigningrequests/approval", "certificatesigningrequests/status",
    "signers", "storageclasses", "csidrivers", "csinodes", "volumeattachments", "priorityclasses",
    "runtimeclasses", "ingressclasses", "tokenreviews", "subjectaccessreviews", "selfsubjectreviews",
    "podsecuritypolicies", "componentstatuses", "flowschemas", "prioritylevelconfigurations",
    "namespaces/finalize", "namespaces/status", "users", "groups", "userextras", "uids",
])
# nodes/proxy reaches the kubelet API of every pod on a node (exec into other tenants' pods).
NODE_PROXY_RESOURCES = frozenset(["nodes/proxy"])
# Objects the platform sets in a tenant namespace and the tenant must not rewrite: quotas and
# limits (taking another tenant's capacity) and the namespace itself (its tenant and PSA labels).
GUARDRAIL_RESOURCES = frozenset(["resourcequotas", "resourcequotas/status", "limitranges", "namespaces"])

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_RBAC_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.:@]*[A-Za-z0-9])?$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def refusal(rule, message, binding=None, role=None, namespace=None, subject=None):
    """One refused grant, machine-readable (``rule``) and human-readable (``message``)."""
    return {"rule": rule, "message": message, "binding": binding, "role": role,
            "namespace": namespace, "subject": subject}


# --------------------------------------------------------------------------------------------
# Names and input validation
# --------------------------------------------------------------------------------------------

def dns_label_error(value, field):
    """Return an error if ``value`` is not a DNS-1123 label (tenant, namespace, role names)."""
    if not isinstance(value, str) or not value:
        return "%s must be a non-empty string" % field
    if len(value) > 63 or not _DNS_LABEL.match(value):
        return ("%s %r is not a DNS-1123 label: use at most 63 lowercase letters, digits and '-', "
                "starting and ending with a letter or digit" % (field, value))
    return None


def tenant_labels(tenant, tenant_label=DEFAULT_TENANT_LABEL):
    """The ownership labels put on (and looked for on) every object this module manages."""
    return {MANAGED_BY_LABEL: MANAGED_BY_VALUE, tenant_label: tenant}


def is_managed(obj, tenant, tenant_label=DEFAULT_TENANT_LABEL):
    """True when ``obj`` carries this module's ownership labels for ``tenant``.

    Checked client-side on purpose: a label selector sent to the API is only an optimisation
    (a proxy or an API that ignores it, or a wrong selector, must not make us prune foreign objects).
    """
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(labels.get(key) == value for key, value in tenant_labels(tenant, tenant_label).items())


def cluster_role_name(tenant, role):
    """Name of a tenant-scoped ClusterRole: ``<tenant>:<role>`` (':' never occurs in DNS labels)."""
    return "%s:%s" % (tenant, role)


def subject_key(subject):
    """A stable, readable identity for a subject: ``Group/oidc:admins``, ``ServiceAccount/ns/name``."""
    if subject.get("kind") == "ServiceAccount":
        return "ServiceAccount/%s/%s" % (subject.get("namespace"), subject.get("name"))
    return "%s/%s" % (subject.get("kind"), subject.get("name"))


def validate_spec(spec):
    """Check the shape of a tenant RBAC declaration. Returns a list of errors (empty when valid).

    ``spec`` keys: tenant, namespaces (list or None), roles, bindings, incompatible_roles,
    tenant_label. Errors name the field (``roles[1].rules[0].verbs``) and say what to do.
    """
    errors = []
    tenant = spec.get("tenant")
    err = dns_label_error(tenant, "tenant")
    if err:
        errors.append(err)
    tenant_label = spec.get("tenant_label") or DEFAULT_TENANT_LABEL
    if not _LABEL_KEY.match(tenant_label) or len(tenant_label.split("/")[-1]) > 63:
        errors.append("tenant_label %r is not a valid label key: use e.g. %s" % (tenant_label, DEFAULT_TENANT_LABEL))
    for index, namespace in enumerate(spec.get("namespaces") or []):
        err = dns_label_error(namespace, "namespaces[%d]" % index)
        if err:
            errors.append(err)

    role_names = {}
    for index, role in enumerate(spec.get("roles") or []):
        field = "roles[%d]" % index
        err = dns_label_error(role.get("name"), field + ".name")
        if err:
            errors.append(err)
        elif role["name"] in role_names:
            errors.append("%s.name %r is declared twice (also roles[%d]): give each role a unique name"
                          % (field, role["name"], role_names[role["name"]]))
        else:
            role_names[role["name"]] = index
        if (role.get("scope") or "namespace") not in ROLE_SCOPES:
            errors.append("%s.scope %r is not one of %s" % (field, role.get("scope"), ", ".join(ROLE_SCOPES)))
        if role.get("scope") == "cluster" and role.get("namespaces"):
            errors.append("%s.namespaces is only for scope=namespace: a tenant-scoped ClusterRole is one object, "
                          "bound per namespace by the bindings" % field)
        for ns_index, namespace in enumerate(role.get("namespaces") or []):
            err = dns_label_error(namespace, "%s.namespaces[%d]" % (field, ns_index))
            if err:
                errors.append(err)
        rules = role.get("rules")
        if not rules:
            errors.append("%s.rules is empty: a role needs at least one rule" % field)
        for rule_index, rule in enumerate(rules or []):
            rfield = "%s.rules[%d]" % (field, rule_index)
            if not rule.get("verbs"):
                errors.append("%s.verbs is empty: list the verbs this rule grants (e.g. [get, list, watch])" % rfield)
            if not rule.get("resources"):
                errors.append("%s.resources is empty: list the resources this rule grants (e.g. [pods])" % rfield)

    binding_names = {}
    for index, binding in enumerate(spec.get("bindings") or []):
        field = "bindings[%d]" % index
        role, cluster_role = binding.get("role"), binding.get("cluster_role")
        if bool(role) == bool(cluster_role):
            errors.append("%s: set exactly one of role (a role declared in roles) or cluster_role "
                          "(an existing ClusterRole such as view)" % field)
        elif role and role not in role_names:
            errors.append("%s.role %r is not declared in roles: declare it or use cluster_role for an existing "
                          "ClusterRole" % (field, role))
        name = binding.get("name") or role or cluster_role
        if name:
            err = dns_label_error(name, field + ".name")
            if err and not binding.get("name"):
                err = ("%s.name is not set and %r cannot name a RoleBinding: set name to a DNS-1123 label"
                       % (field, name))
            if err:
                errors.append(err)
            elif name in binding_names:
                errors.append("%s.name %r is used twice (also bindings[%d]): set a unique name"
                              % (field, name, binding_names[name]))
            else:
                binding_names[name] = index
        for ns_index, namespace in enumerate(binding.get("namespaces") or []):
            err = dns_label_error(namespace, "%s.namespaces[%d]" % (field, ns_index))
            if err:
                errors.append(err)
        subjects = binding.get("subjects")
        if not subjects:
            errors.append("%s.subjects is empty: list at least one User, Group or ServiceAccount" % field)
        for s_index, subject in enumerate(subjects or []):
            sfield = "%s.subjects[%d]" % (field, s_index)
            if subject.get("kind") not in SUBJECT_KINDS:
                errors.append("%s.kind %r is not one of %s" % (sfield, subject.get("kind"), ", ".join(SUBJECT_KINDS)))
            if not subject.get("name"):
                errors.append("%s.name is empty: name the user, group or service account" % sfield)
            if subject.get("kind") == "ServiceAccount" and not subject.get("namespace"):
                errors.append("%s.namespace is required for a ServiceAccount: set the tenant namespace it lives in"
                              % sfield)
            if subject.get("kind") in ("User", "Group") and subject.get("namespace"):
                errors.append("%s.namespace is only for ServiceAccount subjects: remove it" % sfield)

    for index, entry in enumerate(spec.get("incompatible_roles") or []):
        roles = entry.get("roles") or []
        if len(set(roles)) < 2:
            errors.append("incompatible_roles[%d].roles must list at least two different role names" % index)
    return errors


# --------------------------------------------------------------------------------------------
# Tenant scope: namespaces and subjects
# --------------------------------------------------------------------------------------------

def namespace_owners(namespace_labels, tenant_label=DEFAULT_TENANT_LABEL):
    """Map namespace -> owning tenant (None when unlabelled) from ``{namespace: labels}``."""
    return {name: (labels or {}).get(tenant_label) for name, labels in namespace_labels.items()}


def resolve_tenant_namespaces(tenant, declared, owners, tenant_label=DEFAULT_TENANT_LABEL):
    """Decide which namespaces the tenant's bindings may live in.

    ``declared`` is the module's ``namespaces`` option (None: every namespace labelled for the
    tenant); ``owners`` is :func:`namespace_owners` of the live cluster.
    Returns ``(namespaces, errors, refusals)``.
    """
    errors, refusals = [], []
    if declared is None:
        namespaces = sorted(name for name, owner in owners.items() if owner == tenant and name not in SYSTEM_NAMESPACES)
        if not namespaces:
            errors.append("namespaces: no namespace is labelled %s=%s: create and label the tenant namespace "
                          "(the vcluster_tenant role does) or list namespaces explicitly" % (tenant_label, tenant))
        return namespaces, errors, refusals
    namespaces = []
    for index, namespace in enumerate(declared):
        field = "namespaces[%d]" % index
        reason = namespace_refusal(tenant, namespace, owners, tenant_label)
        if reason:
            refusals.append(refusal("cross-tenant-namespace", "%s: %s" % (field, reason), namespace=namespace))
        elif namespace not in owners:
            errors.append("%s %r does not exist: create it first (the vcluster_tenant role does)" % (field, namespace))
        elif owners[namespace] != tenant:
            errors.append("%s %r is not labelled %s=%s: label it as the tenant's namespace or remove it from "
                          "namespaces" % (field, namespace, tenant_label, tenant))
        elif namespace not in namespaces:
            namespaces.append(namespace)
    return namespaces, errors, refusals


def namespace_refusal(tenant, namespace, owners, tenant_label=DEFAULT_TENANT_LABEL):
    """Why ``tenant`` may not reach ``namespace`` (None when it may, as far as ownership goes)."""
    if namespace in SYSTEM_NAMESPACES or namespace.startswith("kube-"):
        return "namespace %r belongs to the platform, not to a tenant: bind only in the tenant's namespaces" % namespace
    owner = owners.get(namespace)
    if owner and owner != tenant:
        return ("namespace %r belongs to tenant %r (label %s): a tenant's bindings may not reach another "
                "tenant's namespaces" % (namespace, owner, tenant_label))
    return None


def check_subject(subject, tenant_namespaces, owners=None, binding=None, role=None):
    """Refusals for one subject: platform identities and service accounts from outside the tenant."""
    refusals = []
    owners = owners or {}
    key = subject_key(subject)
    kind, name = subject.get("kind"), subject.get("name") or ""
    if kind in ("User", "Group") and name.startswith("system:"):
        refusals.append(refusal(
            "system-subject",
            "subject %s is a Kubernetes system identity (system:masters, system:authenticated, node or service "
            "account groups...): bind the tenant's own OIDC users or groups instead" % key,
            binding=binding, role=role, subject=key))
    if kind == "ServiceAccount" and subject.get("namespace") not in tenant_namespaces:
        namespace = subject.get("namespace")
        owner = owners.get(namespace)
        where = "tenant %r" % owner if owner else "outside the tenant"
        refusals.append(refusal(
            "cross-tenant-subject",
            "subject %s lives in namespace %r (%s): only service accounts of the tenant's own namespaces may be "
            "bound" % (key, namespace, where),
            binding=binding, role=role, namespace=namespace, subject=key))
    return refusals


# --------------------------------------------------------------------------------------------
# Rules: what a role grants
# --------------------------------------------------------------------------------------------

def normalize_rule(rule):
    """A PolicyRule in API form (camelCase, empty lists left out) from module or API input."""
    api_groups = rule.get("api_groups", rule.get("apiGroups"))
    if api_groups is None and rule.get("resources"):
        api_groups = [""]
    out = {}
    for key, value in (("apiGroups", api_groups),
                       ("resources", rule.get("resources")),
                       ("resourceNames", rule.get("resource_names", rule.get("resourceNames"))),
                       ("nonResourceURLs", rule.get("non_resource_urls", rule.get("nonResourceURLs"))),
                       ("verbs", rule.get("verbs"))):
        if value:
            out[key] = list(value)
    return out


def check_rules(rules, role=None, binding=None):
    """Refusals for what a set of PolicyRules grants, whoever it is bound to.

    Refused: wildcards (verbs, resources, apiGroups), escalate/bind/impersonate, nodes/proxy,
    cluster-scoped resources, non-resource URLs, and writes to the platform's guardrails
    (resourcequotas, limitranges, the namespace object).
    """
    refusals = []
    where = "role %r" % role if role else "the role"
    for index, raw_rule in enumerate(rules or []):
        rule = normalize_rule(raw_rule)
        verbs = set(rule.get("verbs", []))
        resources = rule.get("resources", [])
        at = "%s rule %d" % (where, index)

        def refuse(rule_id, message):
            refusals.append(refusal(rule_id, "%s: %s" % (at, message), binding=binding, role=role))

        if "*" in verbs:
            refuse("wildcard-verb", "verbs '*' grants every verb, present and future (escalate, bind, impersonate "
                   "included): list the verbs needed")
        wild = [res for res in resources if res == "*" or res.endswith("/*")]
        if wild:
            refuse("wildcard-resource", "resources %s grant every resource: list the resources needed" % wild)
        if "*" in rule.get("apiGroups", []):
            refuse("wildcard-api-group", "apiGroups '*' grants every API group, present and future: list the groups")
        escalation = sorted(verbs & ESCALATION_VERBS)
        if escalation:
            refuse("escalation-verb", "verbs %s let the holder grant itself more rights than it has "
                   "(privilege escalation): remove them" % escalation)
        node_proxy = sorted(set(resources) & NODE_PROXY_RESOURCES)
        if node_proxy:
            refuse("node-proxy", "%s reaches the kubelet API of every pod on the node, across tenants: remove it"
                   % node_proxy)
        cluster_scoped = sorted(set(resources) & CLUSTER_SCOPED_RESOURCES)
        if cluster_scoped:
            refuse("cluster-scoped-resource", "%s are cluster-scoped: granting them reaches beyond the tenant's "
                   "namespaces; the platform manages them" % cluster_scoped)
        if rule.get("nonResourceURLs"):
            refuse("non-resource-url", "nonResourceURLs %s are cluster-wide: remove them" % rule["nonResourceURLs"])
        guardrails = sorted(set(resources) & GUARDRAIL_RESOURCES)
        if guardrails and (verbs - READ_VERBS):
            refuse("guardrail-write", "writing %s (verbs %s) would let the tenant lift its own quota, limits or "
                   "namespace labels (tenant, Pod Security): grant only get/list/watch"
                   % (guardrails, sorted(verbs - READ_VERBS)))
    return refusals


def check_cluster_role_reference(name, live_cluster_role, binding=None):
    """Refusals (and warnings) for a binding to an existing ClusterRole not managed here."""
    refusals, warnings = [], []
    if name in FORBIDDEN_CLUSTER_ROLES:
        refusals.append(refusal("cluster-admin", "binding %r grants ClusterRole %r, full control of the cluster: "
                                "bind a tenant role instead" % (binding, name), binding=binding, role=name))
        return refusals, warnings
    if name.startswith("system:"):
        refusals.append(refusal("system-role", "binding %r grants ClusterRole %r, reserved for Kubernetes "
                                "components: bind a tenant role instead" % (binding, name), binding=binding, role=name))
        return refusals, warnings
    if live_cluster_role is None:
        refusals.append(refusal("unknown-role", "binding %r grants ClusterRole %r, which does not exist: create it "
                                "or declare the role in roles" % (binding, name), binding=binding, role=name))
        return refusals, warnings
    if live_cluster_role.get("aggregationRule") and not live_cluster_role.get("rules"):
        # The controller fills an aggregated ClusterRole shortly after the roles it selects appear (seen on a real
        # kube-apiserver: `edit` empty for ~10 s after start). Empty, it cannot be checked: later it may grant anything.
        refusals.append(refusal("unknown-role", "binding %r grants ClusterRole %r, which aggregates other ClusterRoles "
                                "and has no rules yet (the controller has not filled it): its rights cannot be "
                                "checked; run again once it has rules, or declare the role in roles"
                                % (binding, name), binding=binding, role=name))
        return refusals, warnings
    refusals.extend(check_rules(live_cluster_role.get("rules") or [], role=name, binding=binding))
    if live_cluster_role.get("aggregationRule"):
        warnings.append("ClusterRole %r (binding %r) aggregates other ClusterRoles: its rules were checked as they "
                        "are now and grow when a matching ClusterRole is added" % (name, binding))
    return refusals, warnings


# --------------------------------------------------------------------------------------------
# Separation of duties
# --------------------------------------------------------------------------------------------

def role_assignments(bindings):
    """``{subject_key: {role_name: [binding names]}}`` from declared bindings."""
    held = {}
    for binding in bindings or []:
        role = binding.get("role") or binding.get("cluster_role")
        name = binding.get("name") or role
        for subject in binding.get("subjects") or []:
            held.setdefault(subject_key(subject), {}).setdefault(role, []).append(name)
    return held


def rights_of(rules):
    """The rights a list of rules grants, as a set of ``(apiGroup, resource, verb)`` atoms."""
    atoms = set()
    for rule in rules or []:
        rule = normalize_rule(rule)
        for group in rule.get("apiGroups") or [""]:
            for resource in rule.get("resources") or []:
                for verb in rule.get("verbs") or []:
                    atoms.add((group, resource, verb))
    return atoms


def check_incompatible(assignments, incompatible_roles, role_rules=None):
    """Refuse every subject that would hold two duties declared incompatible.

    ``assignments`` is :func:`role_assignments` output; ``incompatible_roles`` a list of
    ``{roles: [a, b, ...], reason}``; ``role_rules`` ``{role name: rules}`` of the declared roles. A subject
    holds the duty of role ``a`` when it is bound to ``a`` **or** when the roles it is bound to grant, together,
    every right that only ``a`` grants in its set (separation of duties is decided on rights, so the same rights
    under another name do not pass; rights two duties share, such as reading pods, decide nothing). A subject
    may hold at most one duty of each set.
    """
    role_rules = role_rules or {}
    rights = {name: rights_of(rules) for name, rules in role_rules.items()}
    refusals = []
    for subject in sorted(assignments):
        held = assignments[subject]
        holds = set()
        for role in held:
            holds |= rights.get(role, set())
        for index, entry in enumerate(incompatible_roles or []):
            clash, via = [], []
            duties = entry.get("roles") or []
            for duty in duties:
                # what only this duty grants (an admin may well read what an auditor reads)
                distinctive = rights.get(duty, set()) - set().union(*[rights.get(d, set()) for d in duties if d != duty])
                if duty in held:
                    clash.append(duty)
                    via.append("%r through binding %s" % (duty, ", ".join(repr(b) for b in held[duty])))
                elif distinctive and distinctive <= holds:
                    granted_by = sorted(role for role in held if rights.get(role, set()) & distinctive)
                    clash.append(duty)
                    via.append("the rights of %r through role(s) %s" % (duty, ", ".join(repr(r) for r in granted_by)))
            if len(clash) < 2:
                continue
            reason = entry.get("reason") or SOD_REASON
            second = clash[1] if clash[1] in held else sorted(held)[-1]
            refusals.append(refusal(
                "incompatible-rights",
                "subject %s would hold incompatible rights %s (incompatible_roles[%d]: %s): %s. Bind these roles "
                "to different subjects" % (subject, " x ".join(clash), index, reason, "; ".join(via)),
                binding=held[second][0], role=second, subject=subject))
    return refusals


def check_tenant_catalog(tenants, incompatible_roles=None, tenant_label=DEFAULT_TENANT_LABEL):
    """Validate a list of tenants as data, before any cluster exists (for the vcluster_tenant role).

    Each tenant is ``{name, namespaces: [...], subjects: {role_name: [subject or group name]}}``;
    a plain string subject is an OIDC group. Checks names, that no two tenants share a namespace,
    that no tenant claims a platform namespace, that subjects are not platform identities, and
    separation of duties inside each tenant. Returns ``(errors, refusals)``.
    """
    incompatible_roles = DEFAULT_INCOMPATIBLE_ROLES if incompatible_roles is None else incompatible_roles
    errors, refusals = [], []
    claimed = {}
    seen = {}
    for index, tenant in enumerate(tenants or []):
        field = "tenants[%d]" % index
        name = tenant.get("name")
        err = dns_label_error(name, field + ".name")
        if err:
            errors.append(err)
            continue
        if name in seen:
            errors.append("%s.name %r is declared twice (also tenants[%d]): tenant names must be unique"
                          % (field, name, seen[name]))
            continue
        seen[name] = index
        namespaces = tenant.get("namespaces") or [name]
        for ns_index, namespace in enumerate(namespaces):
            nfield = "%s.namespaces[%d]" % (field, ns_index)
            err = dns_label_error(namespace, nfield)
            if err:
                errors.append(err)
                continue
            reason = namespace_refusal(name, namespace, claimed, tenant_label)
            if reason:
                refusals.append(refusal("cross-tenant-namespace", "%s: %s" % (nfield, reason), namespace=namespace))
            else:
                claimed[namespace] = name
        assignments = {}
        for role, subjects in sorted((tenant.get("subjects") or {}).items()):
            for subject in subjects or []:
                if isinstance(subject, str):
                    subject = {"kind": "Group", "name": subject}
                for found in check_subject(subject, namespaces, claimed, role=role):
                    found["message"] = "%s: %s" % (field, found["message"])
                    refusals.append(found)
                assignments.setdefault(subject_key(subject), {}).setdefault(role, []).append("%s.subjects.%s" % (field, role))
        for found in check_incompatible(assignments, incompatible_roles):
            found["message"] = "%s (tenant %r): %s" % (field, name, found["message"])
            refusals.append(found)
    return errors, refusals


# --------------------------------------------------------------------------------------------
# Desired objects and the plan
# --------------------------------------------------------------------------------------------

def object_ref(obj):
    """``Kind/namespace/name`` or ``Kind/name`` for cluster-scoped objects."""
    meta = obj.get("metadata") or {}
    if meta.get("namespace"):
        return "%s/%s/%s" % (obj.get("kind"), meta["namespace"], meta.get("name"))
    return "%s/%s" % (obj.get("kind"), meta.get("name"))


def _normalize_subject(subject):
    out = {"kind": subject["kind"], "name": subject["name"]}
    if subject["kind"] == "ServiceAccount":
        out["namespace"] = subject.get("namespace")
    else:
        out["apiGroup"] = RBAC_API_GROUP
    return out


def desired_objects(spec, tenant_namespaces):
    """Build the Role, ClusterRole and RoleBinding manifests the declaration asks for.

    Roles of scope ``namespace`` become one Role per namespace (default: all tenant namespaces);
    scope ``cluster`` becomes one ClusterRole ``<tenant>:<name>``, only ever bound through
    RoleBindings inside tenant namespaces (never a ClusterRoleBinding).
    """
    tenant = spec["tenant"]
    labels = tenant_labels(tenant, spec.get("tenant_label") or DEFAULT_TENANT_LABEL)
    objects = []
    roles = {}
    for role in spec.get("roles") or []:
        rules = [normalize_rule(rule) for rule in role["rules"]]
        if (role.get("scope") or "namespace") == "cluster":
            roles[role["name"]] = ("ClusterRole", cluster_role_name(tenant, role["name"]))
            objects.append({"apiVersion": RBAC_API_VERSION, "kind": "ClusterRole",
                            "metadata": {"name": cluster_role_name(tenant, role["name"]), "labels": dict(labels)},
                            "rules": rules})
            continue
        namespaces = role.get("namespaces") or tenant_namespaces
        roles[role["name"]] = ("Role", role["name"])
        for namespace in namespaces:
            objects.append({"apiVersion": RBAC_API_VERSION, "kind": "Role",
                            "metadata": {"name": role["name"], "namespace": namespace, "labels": dict(labels)},
                            "rules": copy.deepcopy(rules)})
    for binding in spec.get("bindings") or []:
        if binding.get("role"):
            kind, ref_name = roles[binding["role"]]
        else:
            kind, ref_name = "ClusterRole", binding["cluster_role"]
        name = binding.get("name") or binding.get("role") or binding.get("cluster_role")
        for namespace in binding.get("namespaces") or tenant_namespaces:
            objects.append({"apiVersion": RBAC_API_VERSION, "kind": "RoleBinding",
                            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
                            "roleRef": {"apiGroup": RBAC_API_GROUP, "kind": kind, "name": ref_name},
                            "subjects": [_normalize_subject(s) for s in binding["subjects"]]})
    return objects


def check_policy(spec, tenant_namespaces, owners, referenced_cluster_roles):
    """Every refusal for a declaration, plus warnings. Returns ``(refusals, warnings)``.

    ``referenced_cluster_roles`` maps each ``cluster_role`` a binding names to its live object
    (None when it does not exist).
    """
    refusals, warnings = [], []
    tenant = spec["tenant"]
    tenant_label = spec.get("tenant_label") or DEFAULT_TENANT_LABEL
    declared_roles = {role["name"]: role for role in spec.get("roles") or []}
    for role in spec.get("roles") or []:
        refusals.extend(check_rules(role["rules"], role=role["name"]))
        for namespace in role.get("namespaces") or []:
            reason = namespace_refusal(tenant, namespace, owners, tenant_label)
            if reason is None and namespace not in tenant_namespaces:
                reason = "namespace %r is not one of the tenant's namespaces %s" % (namespace, tenant_namespaces)
            if reason:
                refusals.append(refusal("cross-tenant-namespace", "role %r: %s" % (role["name"], reason),
                                        role=role["name"], namespace=namespace))
    for binding in spec.get("bindings") or []:
        role_name = binding.get("role") or binding.get("cluster_role")
        name = binding.get("name") or role_name
        grants = "role %r" % role_name
        if binding.get("role") and any("secrets" in normalize_rule(r).get("resources", [])
                                       for r in declared_roles[role_name]["rules"]):
            grants += " (including secrets)"
        for namespace in binding.get("namespaces") or []:
            reason = namespace_refusal(tenant, namespace, owners, tenant_label)
            if reason is None and namespace not in tenant_namespaces:
                reason = ("namespace %r is not one of the tenant's namespaces %s: add it to namespaces (labelled "
                          "%s=%s) or remove it from the binding" % (namespace, tenant_namespaces, tenant_label, tenant))
            if reason:
                refusals.append(refusal("cross-tenant-namespace", "binding %r of %s: %s" % (name, grants, reason),
                                        binding=name, role=role_name, namespace=namespace))
            elif binding.get("role") and declared_roles[role_name].get("scope", "namespace") != "cluster":
                role_namespaces = declared_roles[role_name].get("namespaces") or tenant_namespaces
                if namespace not in role_namespaces:
                    refusals.append(refusal(
                        "unknown-role", "binding %r: role %r is not created in namespace %r: add the namespace to "
                        "the role's namespaces" % (name, role_name, namespace),
                        binding=name, role=role_name, namespace=namespace))
        if binding.get("cluster_role"):
            found, warned = check_cluster_role_reference(
                binding["cluster_role"], referenced_cluster_roles.get(binding["cluster_role"]), binding=name)
            refusals.extend(found)
            warnings.extend(warned)
        for subject in binding.get("subjects") or []:
            refusals.extend(check_subject(subject, tenant_namespaces, owners, binding=name, role=role_name))
    incompatible = spec.get("incompatible_roles")
    incompatible = DEFAULT_INCOMPATIBLE_ROLES if incompatible is None else incompatible
    refusals.extend(check_incompatible(role_assignments(spec.get("bindings")), incompatible,
                                       {name: role.get("rules") for name, role in declared_roles.items()}))
    return refusals, warnings


def comparable(obj):
    """The part of an RBAC object this module owns, normalised for comparison and diff."""
    meta = obj.get("metadata") or {}
    out = {"kind": obj.get("kind"), "metadata": {"name": meta.get("name")}}
    if meta.get("namespace"):
        out["metadata"]["namespace"] = meta["namespace"]
    labels = meta.get("labels") or {}
    out["metadata"]["labels"] = dict(sorted(labels.items()))
    if obj.get("kind") in ("Role", "ClusterRole"):
        out["rules"] = [normalize_rule(rule) for rule in obj.get("rules") or []]
    if obj.get("kind") == "RoleBinding":
        ref = obj.get("roleRef") or {}
        out["roleRef"] = {"apiGroup": ref.get("apiGroup") or RBAC_API_GROUP, "kind": ref.get("kind"), "name": ref.get("name")}
        subjects = []
        for subject in obj.get("subjects") or []:
            item = {"kind": subject.get("kind"), "name": subject.get("name")}
            if subject.get("kind") == "ServiceAccount":
                item["namespace"] = subject.get("namespace")
            else:
                item["apiGroup"] = subject.get("apiGroup") or RBAC_API_GROUP
            subjects.append(item)
        out["subjects"] = subjects
    return out


def _owned_view(desired, live):
    """``live`` reduced to the labels and fields ``desired`` sets (other labels are not ours)."""
    view = comparable(live)
    wanted = desired["metadata"].get("labels") or {}
    view["metadata"]["labels"] = {key: value for key, value in view["metadata"]["labels"].items() if key in wanted}
    return view


def plan_changes(desired, managed, existing, prune=True):
    """Steps from the live state to the declared one.

    ``desired``: manifests from :func:`desired_objects`; ``managed``: live objects carrying this
    tenant's ownership labels (already filtered client-side); ``existing``: ``{ref: live object
    or None}`` for every desired ref (to detect foreign objects in the way).
    Returns ``(changes, errors)``; each change is ``{action, ref, kind, namespace, name, before,
    after, patch}`` with action create | update | replace | delete.
    """
    changes, errors = [], []
    managed_by_ref = {object_ref(obj): obj for obj in managed}
    desired_refs = set()
    for obj in desired:
        ref = object_ref(obj)
        desired_refs.add(ref)
        meta = obj["metadata"]
        base = {"ref": ref, "kind": obj["kind"], "namespace": meta.get("namespace"), "name": meta["name"]}
        live = managed_by_ref.get(ref) or existing.get(ref)
        if live is None:
            changes.append(dict(base, action="create", before=None, after=comparable(obj), patch=None, manifest=obj))
            continue
        if ref not in managed_by_ref:
            labels = (live.get("metadata") or {}).get("labels") or {}
            errors.append("%s already exists and is not managed by tenant_rbac for this tenant (labels %s): rename "
                          "the role or binding, or delete or relabel the existing object" % (ref, labels))
            continue
        after = comparable(obj)
        before = _owned_view(obj, live)
        if before == after:
            continue
        if obj["kind"] == "RoleBinding" and before["roleRef"] != after["roleRef"]:
            # roleRef is immutable in the API: the binding must be deleted and created again.
            changes.append(dict(base, action="replace", before=before, after=after, patch=None, manifest=obj))
            continue
        patch = {"metadata": {"labels": dict(meta.get("labels") or {})}}
        for field in ("rules", "subjects"):
            if field in after and before.get(field) != after[field]:
                patch[field] = copy.deepcopy(obj[field])
        changes.append(dict(base, action="update", before=before, after=after, patch=patch, manifest=obj))
    if prune:
        for ref in sorted(managed_by_ref):
            if ref in desired_refs:
                continue
            obj = managed_by_ref[ref]
            meta = obj.get("metadata") or {}
            changes.append({"action": "delete", "ref": ref, "kind": obj.get("kind"), "namespace": meta.get("namespace"),
                            "name": meta.get("name"), "before": comparable(obj), "after": None, "patch": None,
                            "manifest": None})
    return order_changes(changes), errors


_KIND_ORDER = {"ClusterRole": 0, "Role": 1, "RoleBinding": 2}


def order_changes(changes):
    """Roles before the bindings that use them; on deletion, bindings before their roles."""
    writes = [c for c in changes if c["action"] != "delete"]
    deletes = [c for c in changes if c["action"] == "delete"]
    writes.sort(key=lambda c: (_KIND_ORDER.get(c["kind"], 9), c["ref"]))
    deletes.sort(key=lambda c: (-_KIND_ORDER.get(c["kind"], 9), c["ref"]))
    return writes + deletes


def summarize(changes):
    """The module's ``bindings`` / ``roles`` result: refs created, updated (or replaced), removed."""
    summary = {"bindings": {"created": [], "updated": [], "removed": []},
               "roles": {"created": [], "updated": [], "removed": []}}
    verb = {"create": "created", "update": "updated", "replace": "updated", "delete": "removed"}
    for change in changes:
        group = "bindings" if change["kind"] == "RoleBinding" else "roles"
        summary[group][verb[change["action"]]].append(change["ref"])
    return summary


def diff_of(changes):
    """Ansible ``diff`` (before/after keyed by object ref) for the planned changes."""
    before, after = {}, {}
    for change in changes:
        if change["before"] is not None:
            before[change["ref"]] = change["before"]
        if change["after"] is not None:
            after[change["ref"]] = change["after"]
    return {"before": before, "after": after}
