# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The settings of the ``vcluster_tenant`` role: their one set of defaults, and what the checks
(:mod:`~ansible_collections.sovereign.cluster.plugins.module_utils.tenant_inputs`) and the renderer
(:mod:`~ansible_collections.sovereign.cluster.plugins.module_utils.tenant_manifests`) both derive from a tenant.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.sovereign.cluster.plugins.module_utils.tenant_names import NAME_DEFAULTS, tenant_names
from ansible_collections.sovereign.cluster.plugins.module_utils.tenant_rbac import DEFAULT_TENANT_LABEL

ROLE_KEYS = (("admins", "tenant-admin"), ("developers", "developer"), ("viewers", "viewer"), ("auditors", "auditor"))

# The settings that shape names (namespace, policy and KV prefixes) have their one default in tenant_names.
DEFAULT_SETTINGS = dict(NAME_DEFAULTS, **{
    "tenant_label": DEFAULT_TENANT_LABEL,
    "zone_label": "sovereign.cluster/zone",
    "node_pool_label": "sovereign.cluster/node-pool",
    "node_pool_taint_key": "sovereign.cluster/node-pool",
    "fallback_dns": None,
    "release_name": "vcluster",
    "default_limits": {"default_cpu": "1", "default_memory": "1Gi", "default_request_cpu": "100m",
                       "default_request_memory": "128Mi"},
    "incompatible_roles": None,
    "oidc_group_prefix": "",
    "transit_mount": "transit",
    "kv_mount": "secret",
    "vault_defaults": {"auto_rotate_period": "30d"},
    "values_overrides": {},
    # The vCluster control plane pod runs in the tenant's host namespace, so its requests and limits count
    # against the tenant's ResourceQuota (the chart's default limit of 4Gi memory took whole quotas).
    "control_plane_resources": {"requests": {"cpu": "200m", "memory": "256Mi"},
                                "limits": {"cpu": "1", "memory": "1Gi"}},
    # The site's GPU models (mig.MIG_PROFILE_TABLE keys or {name, profiles}); None: every model of the table.
    "gpu_catalogue": None,
    # Acknowledgements of exposure: a rule that opens a tenant to every address is refused without them.
    "allow_internet_egress": False,
    "allow_internet_ingress": False,
})


def settings_with_defaults(settings):
    """The role settings with the defaults of :data:`DEFAULT_SETTINGS` filled in."""
    merged = copy.deepcopy(DEFAULT_SETTINGS)
    for key, value in (settings or {}).items():
        if value is not None:
            merged[key] = value
    return merged


def tenant_namespace(name, settings):
    """The tenant's host namespace, as :func:`tenant_names.tenant_names` names it."""
    return tenant_names(name, settings)["namespace"]


def rbac_subject(entry, settings):
    """One RBAC subject of a tenant: an OIDC group name gets the site's group prefix, {kind, name} is kept."""
    if isinstance(entry, str):
        return {"kind": "Group", "name": settings["oidc_group_prefix"] + entry}
    return {"kind": entry["kind"], "name": entry["name"]}


def strip_none(data):
    """``data`` without None values (Ansible's argument_spec fills unset suboptions with None)."""
    if isinstance(data, dict):
        return dict((key, strip_none(value)) for key, value in data.items() if value is not None)
    if isinstance(data, list):
        return [strip_none(item) for item in data]
    return data
