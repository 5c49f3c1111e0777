# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every name derived from a tenant has its one owner here, and no two owners may share a name.

``vcluster_tenant`` (host namespace, transit key, tenant policy, KV path) and ``vault_transit``
(transit key, key policy, AppRole) both take a tenant's names from :func:`tenant_names`.
:func:`name_collisions` maps a whole catalogue through it and reports every name that two owners
(or two fields of one owner) would share, so either role refuses the catalogue before it changes
anything: with the default shapes tenant ``gamma``'s key policy ``tenant-gamma-transit`` is tenant
``gamma-transit``'s tenant policy, and the two roles would overwrite each other's policy.
Pure Python, standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple

FIELD = "sovereign_tenants"
KEYS_FIELD = "vault_transit_keys"
TRANSIT_KEY_PREFIX = "tenant-"
# The one default of each setting that shapes a tenant's names (the roles' defaults are the same).
NAME_DEFAULTS = {
    "namespace_prefix": "tenant-",        # vcluster_tenant_namespace_prefix
    "vault_policy_prefix": "tenant-",     # vcluster_tenant_vault_policy_prefix
    "kv_path_prefix": "tenants",          # vcluster_tenant_vault_kv_path_prefix
    "transit_policy_suffix": "-transit",  # vault_transit_policy_suffix
}
# kind -> (space of names it shares with other kinds, what it is, its shape, the settings that shape it)
KINDS = {
    "namespace": ("Kubernetes namespace", "host namespace", "<vcluster_tenant_namespace_prefix><name>",
                  ("vcluster_tenant_namespace_prefix",)),
    "transit_key": ("Vault transit key", "transit key", "tenant-<name>", ()),
    "transit_policy": ("Vault policy", "transit key policy", "tenant-<name><vault_transit_policy_suffix>",
                       ("vault_transit_policy_suffix",)),
    "vcluster_policy": ("Vault policy", "tenant policy", "<vcluster_tenant_vault_policy_prefix><name>",
                        ("vcluster_tenant_vault_policy_prefix",)),
    "approle": ("Vault AppRole", "AppRole", "tenant-<name>", ()),
    "kv_prefix": ("Vault KV path", "KV entries", "<vcluster_tenant_vault_kv_path_prefix>/<name>/*",
                  ("vcluster_tenant_vault_kv_path_prefix",)),
}
# What a declared key of vault_transit_keys owns: kind -> its field.
DECLARED_FIELDS = (("transit_key", "name"), ("transit_policy", "policy"), ("approle", "approle"))
# The per-tenant settings that vault_transit copies onto the tenant's key.
TENANT_KEY_SETTINGS = ("auto_rotate_period", "rotate_if_older_than", "min_decryption_version")
# One name one owner wants: its space, the name, the owner (field), who holds it, its kind and what it is.
Claim = namedtuple("Claim", "space name owner holder kind what")


def name_settings(settings=None):
    """The settings that shape names, with :data:`NAME_DEFAULTS` where unset (None)."""
    merged = dict(NAME_DEFAULTS)
    for key in NAME_DEFAULTS:
        value = (settings or {}).get(key)
        if value is not None:
            merged[key] = value
    return merged


def tenant_names(tenant, settings=None):
    """Every name derived from ``tenant`` (a tenant mapping or its name), by kind of :data:`KINDS`.

    ``kv_prefix`` is the tenant's subtree in KV v2 (its policy reads ``<kv_prefix>/*``) and
    ``kv_path`` the entry that holds its vCluster kubeconfig.
    """
    name = tenant.get("name") if isinstance(tenant, dict) else tenant
    conf = name_settings(settings)
    transit_key = "%s%s" % (TRANSIT_KEY_PREFIX, name)
    kv_prefix = "%s/%s" % (conf["kv_path_prefix"], name)
    return {"namespace": "%s%s" % (conf["namespace_prefix"], name),
            "transit_key": transit_key,
            "transit_policy": "%s%s" % (transit_key, conf["transit_policy_suffix"]),
            "vcluster_policy": "%s%s" % (conf["vault_policy_prefix"], name),
            "approle": transit_key,
            "kv_prefix": kv_prefix,
            "kv_path": "%s/kubeconfig" % kv_prefix}


def declared_key_names(key, settings=None):
    """The names a declared key of ``vault_transit_keys`` owns: its key, its policy, its AppRole."""
    name = key.get("name")
    return {"transit_key": name,
            "transit_policy": key.get("policy") or "%s%s" % (name, name_settings(settings)["transit_policy_suffix"]),
            "approle": key.get("approle") or name}


def _claims(tenants, settings, declared_keys, duplicates):
    """``(errors, claims)``: a :data:`Claim` for every name of every owner."""
    errors, claims, seen = [], [], {}
    for index, tenant in enumerate(tenants or []):
        field = "%s[%d]" % (FIELD, index)
        name = tenant.get("name") if isinstance(tenant, dict) else None
        if not isinstance(name, str) or not name:
            errors.append("%s has no name: give every tenant a name (a DNS-1123 label)" % field)
            continue
        if name in seen:
            if duplicates:
                errors.append("%s.name %r is declared twice (also %s[%d]): tenant names must be unique"
                              % (field, name, FIELD, seen[name]))
            continue
        seen[name] = index
        for kind, value in tenant_names(name, settings).items():
            if kind in KINDS:
                space, what, shape, _shaping = KINDS[kind]
                claims.append(Claim(space, value, "%s.name %r" % (field, name), "tenant", kind,
                                    "%s's %s %s" % (name, what, shape)))
    for index, key in enumerate(declared_keys or []):
        field = "%s[%d]" % (KEYS_FIELD, index)
        if not isinstance(key, dict) or not key.get("name"):
            errors.append("%s has no name: give every declared key a name" % field)
            continue
        names = declared_key_names(key, settings)
        for kind, key_field in DECLARED_FIELDS:
            claims.append(Claim(KINDS[kind][0], names[kind], "%s (key %r)" % (field, key["name"]), "declared key",
                                kind, "key %s's %s (%s.%s)" % (key["name"], KINDS[kind][1], field, key_field)))
    return errors, claims


def name_collisions(tenants, settings=None, declared_keys=None, duplicates=True):
    """Every name that two owners (or two fields of one owner) would share, one error per name.

    Owners are the tenants of ``tenants`` (``sovereign_tenants``) and the declared keys of
    ``declared_keys`` (``vault_transit_keys``). Names compare within their space (policies with
    policies, keys with keys, ...), case-insensitively as Vault does. ``duplicates=False`` leaves a
    tenant name declared twice to the caller (``tenant_rbac.check_tenant_catalog`` reports it).
    """
    errors, claims = _claims(tenants, settings, declared_keys, duplicates)
    by_name = {}
    for claim in claims:
        by_name.setdefault((claim.space, str(claim.name).lower()), []).append(claim)
    for group in by_name.values():
        if len(group) < 2:
            continue
        owners, holders = [], []
        for claim in group:
            if claim.owner not in owners:
                owners.append(claim.owner)
                holders.append(claim.holder)
        shaping = sorted(set(setting for claim in group if claim.holder == "tenant" for setting in KINDS[claim.kind][3]))
        if len(owners) == 1:
            fix = "rename the %s" % holders[0]
        elif len(set(holders)) == 1:
            fix = "rename one of the %ss" % holders[0]
        else:
            fix = "rename the tenant or the declared key"
        if shaping:
            fix += ", or change %s so that the names differ" % " or ".join(shaping)
        errors.append("%s %s the same %s %r (%s): every run would overwrite one with the other and one holder would "
                      "get the other's access; %s" % (" and ".join(owners), "map to" if len(owners) > 1 else "maps twice to",
                                                      group[0].space, group[0].name, ", ".join(c.what for c in group),
                                                      fix))
    return errors


def transit_keys(declared_keys, tenants, settings=None):
    """``vault_transit``'s key list: the declared keys, then one key per tenant, each with its policy and AppRole.

    Raises ValueError listing every name two owners would share (nothing has changed yet).
    """
    errors = name_collisions(tenants, settings, declared_keys)
    if errors:
        raise ValueError("\n".join(errors))
    keys = []
    for key in declared_keys or []:
        names = declared_key_names(key, settings)
        keys.append(dict(key, policy=names["transit_policy"], approle=names["approle"]))
    for tenant in tenants or []:
        names = tenant_names(tenant, settings)
        key = {"name": names["transit_key"], "purpose": "tenant", "policy": names["transit_policy"],
               "approle": names["approle"]}
        vault = tenant.get("vault") or {}
        key.update((setting, vault[setting]) for setting in TENANT_KEY_SETTINGS if vault.get(setting) is not None)
        keys.append(key)
    return keys
