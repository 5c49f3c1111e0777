# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the vcluster_tenant and vault_transit roles: validate ``sovereign_tenants``, name and render.

The logic is in ``plugins/module_utils/tenant_inputs.py`` (the checks), ``plugins/module_utils/tenant_manifests.py``
(the rendering and the plan) and ``plugins/module_utils/tenant_names.py`` (pure functions, unit tested); these
filters only turn its errors into AnsibleFilterError, so a bad catalog fails before anything changes.

Filters:
  - C(tenant_validate(tenants, settings)) returns the tenants unchanged, or fails listing every error,
    each naming C(sovereign_tenants[i].field) and the tenant.
  - C(tenant_plan(tenants, settings)) returns one plan per tenant (name, state, namespace, release,
    manifests, values, rbac_bindings, vault).
  - C(vcluster_values_validate(values, schema_path, tenant)) returns C(values) when they validate against the
    chart's JSON Schema (draft 2020-12) and fallbackDns is not the public 8.8.8.8, or fails naming the tenant and
    each path.
  - C(tenant_names(tenant, settings)) returns every name derived from one tenant (namespace, transit key,
    transit key policy, tenant policy, AppRole, KV paths); the one owner of those names.
  - C(transit_key_list(keys, tenants, settings)) returns vault_transit's keys (declared, then one per tenant)
    with their policy and AppRole names, or fails naming every name two tenants or keys would share.
  - C(vcluster_tenant_input_errors(inputs)) returns every error in the role's own variables (paths, files that
    must exist, URLs, Vault credentials of the auth method, mounts), each naming the variable; never a secret.
  - C(tenant_guardrails(settings)) returns the ValidatingAdmissionPolicy and its binding that refuse tenants any
    change to the platform's NetworkPolicies in their namespaces (plugins/module_utils/tenant_guardrails.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.sovereign.cluster.plugins.module_utils.tenant_inputs import role_input_errors, validate_tenants
from ansible_collections.sovereign.cluster.plugins.module_utils.tenant_manifests import (
    load_schema,
    tenant_plan,
    vcluster_values_errors,
)
from ansible_collections.sovereign.cluster.plugins.module_utils import tenant_names as naming
from ansible_collections.sovereign.cluster.plugins.module_utils.tenant_guardrails import guardrail_manifests


def tenant_validate(tenants, settings=None):
    """``tenants`` when valid; AnsibleFilterError listing every error otherwise."""
    errors = validate_tenants(tenants, settings)
    if errors:
        raise AnsibleFilterError("sovereign_tenants is invalid, nothing was changed:\n- " + "\n- ".join(errors))
    return tenants


def tenant_plan_filter(tenants, settings=None):
    """Per-tenant plan (manifests, vcluster values, RBAC bindings, Vault names)."""
    try:
        return tenant_plan(tenants, settings)
    except ValueError as exc:
        raise AnsibleFilterError("sovereign_tenants is invalid, nothing was changed:\n- " + str(exc).replace("\n", "\n- "))


def vcluster_values_validate(values, schema_path, tenant=None):
    """``values`` when they validate against the chart schema at ``schema_path``."""
    try:
        schema = load_schema(schema_path)
    except (OSError, ValueError) as exc:
        raise AnsibleFilterError("vcluster_tenant_values_schema %r cannot be read as JSON (%s): point it at the "
                                 "chart's values.schema.json" % (schema_path, exc))
    try:
        errors = vcluster_values_errors(values, schema)
    except ImportError as exc:
        raise AnsibleFilterError(str(exc))
    if errors:
        raise AnsibleFilterError("tenant %r: the rendered vcluster.yaml does not validate against %s, nothing was "
                                 "installed:\n- %s" % (tenant, schema_path, "\n- ".join(errors)))
    return values


def tenant_names(tenant, settings=None):
    """Every name derived from ``tenant`` (a mapping with ``name``, or the name)."""
    name = tenant.get("name") if isinstance(tenant, dict) else tenant
    if not isinstance(name, str) or not name:
        raise AnsibleFilterError("tenant_names needs a tenant with a name (a DNS-1123 label), got %r" % (tenant,))
    return naming.tenant_names(name, settings)


def transit_key_list(keys, tenants=None, settings=None):
    """vault_transit's key list; AnsibleFilterError naming every shared name otherwise."""
    try:
        return naming.transit_keys(keys, tenants, settings)
    except ValueError as exc:
        raise AnsibleFilterError("vault_transit_keys and the tenants are refused, nothing was changed:\n- "
                                 + str(exc).replace("\n", "\n- "))


def vcluster_tenant_input_errors(inputs):
    """Every error in the vcluster_tenant role's variables (``inputs`` keyed by variable name), or []."""
    return role_input_errors(inputs or {})


class FilterModule(object):
    """sovereign.cluster tenant filters."""

    def filters(self):
        return {
            "tenant_validate": tenant_validate,
            "tenant_plan": tenant_plan_filter,
            "vcluster_values_validate": vcluster_values_validate,
            "tenant_names": tenant_names,
            "transit_key_list": transit_key_list,
            "tenant_guardrails": guardrail_manifests,
            "vcluster_tenant_input_errors": vcluster_tenant_input_errors,
        }
