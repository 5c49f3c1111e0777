# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inputs of the ``vcluster_tenant`` role, checked before anything changes, as pure functions.

Nothing here talks to a cluster or to Vault. The role's filter plugin (``plugins/filter/tenants.py``)
hands in ``sovereign_tenants``, the role settings and the role's own variables; these functions answer with

* :func:`validate_tenants` - every error in ``sovereign_tenants`` at once, each naming
  ``sovereign_tenants[i].field`` (and the tenant) and the fix; cross-tenant checks reuse
  :func:`~ansible_collections.sovereign.cluster.plugins.module_utils.tenant_rbac.check_tenant_catalog`
  and :func:`~ansible_collections.sovereign.cluster.plugins.module_utils.tenant_names.name_collisions`
  (every tenant-derived name is named there, by ``tenant_names``, and nowhere else);
* :func:`role_input_errors` - every error in the role's own variables (paths, files, URLs, Vault credentials).

The role settings' defaults are in
:mod:`~ansible_collections.sovereign.cluster.plugins.module_utils.tenant_settings`; the manifests rendered from
valid inputs in :mod:`~ansible_collections.sovereign.cluster.plugins.module_utils.tenant_manifests`.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import os
import re

from ansible_collections.sovereign.cluster.plugins.module_utils.input_checks import Checks, truthy
from ansible_collections.sovereign.cluster.plugins.module_utils.k8s_drift import quantity
from ansible_collections.sovereign.cluster.plugins.module_utils.mig import catalogue_profiles
from ansible_collections.sovereign.cluster.plugins.module_utils.tenant_names import name_collisions
from ansible_collections.sovereign.cluster.plugins.module_utils.tenant_rbac import (
    DEFAULT_INCOMPATIBLE_ROLES,
    check_tenant_catalog,
    dns_label_error,
)
from ansible_collections.sovereign.cluster.plugins.module_utils.tenant_settings import (
    ROLE_KEYS,
    rbac_subject,
    settings_with_defaults,
    strip_none,
    tenant_namespace,
)

FIELD = "sovereign_tenants"
ISOLATION_MODES = ("shared", "dedicated", "private")
STATES = ("present", "absent")
PROTOCOLS = ("TCP", "UDP", "SCTP")
# The chart's own default; a sovereign site resolves through its own DNS, never a public one.
PUBLIC_FALLBACK_DNS = "8.8.8.8"
# Quantity as the API accepts it (resource.Quantity): 500m, 2, 1.5, 32Gi, 1e3.
_QUANTITY = re.compile(r"^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$")
# MIG profile as the NVIDIA device plugin (mixed strategy) names it: nvidia.com/mig-<profile>.
_MIG_PROFILE = re.compile(r"^[1-7]g\.[0-9]+gb(\.me)?$")
_TRANSIT_DURATION = re.compile(r"^([0-9]+)([smhdw]?)$")
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Counts of devices, pods and claims: far above any real quota, far below what the API's int64 quantities hold.
MAX_COUNT = 1000000
VAULT_KEYS = frozenset(["auto_rotate_period", "rotate_if_older_than", "min_decryption_version"])

TENANT_KEYS = frozenset(["name", "zone", "isolation", "node_pool", "quotas", "limits", "network", "admins",
                         "developers", "viewers", "auditors", "vault", "state"])
QUOTA_KEYS = frozenset(["cpu", "memory", "storage", "gpu", "mig", "pods", "persistentvolumeclaims"])
LIMIT_KEYS = frozenset(["default_cpu", "default_memory", "default_request_cpu", "default_request_memory",
                        "max_cpu", "max_memory"])

ACK_FIELDS = {"egress": "vcluster_tenant_allow_internet_egress", "ingress": "vcluster_tenant_allow_internet_ingress"}


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

def _quantity_error(value, field):
    if isinstance(value, bool) or value is None:
        return "%s %r is not a Kubernetes quantity: use e.g. 4, 500m, 32Gi" % (field, value)
    if isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str) or not _QUANTITY.match(value):
        return "%s %r is not a Kubernetes quantity: use e.g. 4, 500m, 32Gi" % (field, value)
    return None


def _count_error(value, field):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return "%s %r must be a whole number >= 0 (devices are not divisible)" % (field, value)
    if value > MAX_COUNT:
        return "%s %d is out of range: use a whole number from 0 to %d" % (field, value, MAX_COUNT)
    return None


def duration_seconds(value):
    """A transit duration (``30d``, ``720h``, ``0``, seconds) in seconds, or None when it is not one."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    match = _TRANSIT_DURATION.match(str(value).strip())
    return int(match.group(1)) * _DURATION_UNITS[match.group(2)] if match else None


def transit_key_errors(vault, field):
    """The transit key settings of a tenant (or the role default), as the server would refuse them - but before."""
    errors = []
    period = vault.get("auto_rotate_period")
    if period is not None:
        seconds = duration_seconds(period)
        if seconds is None:
            errors.append("%s.auto_rotate_period %r is not a duration: use e.g. 30d, 720h or 0 (units s, m, h, d, w)"
                          % (field, period))
        elif 0 < seconds < 3600:
            errors.append("%s.auto_rotate_period %r is shorter than one hour (the server's minimum): use 0 (no "
                          "automatic rotation) or at least 1h, e.g. 30d" % (field, period))
    older = vault.get("rotate_if_older_than")
    if older is not None:
        seconds = duration_seconds(older)
        if seconds is None:
            errors.append("%s.rotate_if_older_than %r is not a duration: use e.g. 90d or 2160h" % (field, older))
        elif seconds == 0:
            errors.append("%s.rotate_if_older_than %r would rotate the key on every run: use a positive age such as "
                          "90d (omit it to never force a rotation)" % (field, older))
    version = vault.get("min_decryption_version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_COUNT):
        errors.append("%s.min_decryption_version %r: use a key version of at least 1 (1 lets every version decrypt)"
                      % (field, version))
    return errors


def _mig_catalogue_profile(profile):
    """The device plugin's resource suffix (``1g.10gb.me``) as nvidia-smi names the profile (``1g.10gb+me``)."""
    profile = str(profile)
    return profile[:-3] + "+me" if profile.endswith(".me") else profile


def _unknown_keys(data, allowed, field):
    return ["%s.%s is not a known setting: use one of %s" % (field, key, ", ".join(sorted(allowed)))
            for key in sorted(set(data) - allowed)]


def _validate_quotas(quotas, field, site_profiles=None):
    errors = []
    if not isinstance(quotas, dict):
        return ["%s must be a mapping (cpu, memory, storage, gpu, mig)" % field]
    errors.extend(_unknown_keys(quotas, QUOTA_KEYS, field))
    for key in ("cpu", "memory", "storage"):
        if key in quotas:
            err = _quantity_error(quotas[key], "%s.%s" % (field, key))
            if err:
                errors.append(err)
    for key in ("gpu", "pods", "persistentvolumeclaims"):
        if key in quotas:
            err = _count_error(quotas[key], "%s.%s" % (field, key))
            if err:
                errors.append(err)
    mig = quotas.get("mig") or {}
    if not isinstance(mig, dict):
        errors.append("%s.mig must map a MIG profile (e.g. 1g.10gb) to a device count" % field)
        mig = {}
    for profile, count in sorted(mig.items()):
        if not _MIG_PROFILE.match(str(profile)):
            errors.append("%s.mig key %r is not a MIG profile: use the name the device plugin exposes, e.g. 1g.10gb, "
                          "3g.40gb or 1g.10gb.me (resource nvidia.com/mig-<profile>)" % (field, profile))
        elif site_profiles is not None and _mig_catalogue_profile(profile) not in site_profiles:
            errors.append("%s.mig key %r: no GPU of the site has the MIG profile %s (resource nvidia.com/mig-%s would "
                          "never be allocatable): use one of %s, or add the GPU model to vcluster_tenant_gpu_catalogue"
                          % (field, profile, _mig_catalogue_profile(profile), profile,
                             ", ".join(sorted(p.replace("+me", ".me") for p in site_profiles)) or "none"))
        err = _count_error(count, "%s.mig[%r]" % (field, profile))
        if err:
            errors.append(err)
    return errors


def _validate_ports(ports, field):
    errors = []
    for index, port in enumerate(ports or []):
        pfield = "%s[%d]" % (field, index)
        if isinstance(port, int) and not isinstance(port, bool):
            port = {"port": port}
        if not isinstance(port, dict):
            errors.append("%s must be a port number or {port, protocol}" % pfield)
            continue
        number = port.get("port")
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= 65535:
            errors.append("%s.port %r must be a number from 1 to 65535" % (pfield, number))
        if (port.get("protocol") or "TCP") not in PROTOCOLS:
            errors.append("%s.protocol %r is not one of %s" % (pfield, port.get("protocol"), ", ".join(PROTOCOLS)))
        end = port.get("end_port")
        if end is not None and (isinstance(end, bool) or not isinstance(end, int) or not isinstance(number, int)
                                or not number <= end <= 65535):
            errors.append("%s.end_port %r must be a port number >= port" % (pfield, end))
    return errors


def _validate_rules(rules, field, ack_field=None, ack=False):
    errors = []
    if not isinstance(rules, list):
        return ["%s must be a list of {cidr, ports}" % field]
    for index, rule in enumerate(rules):
        rfield = "%s[%d]" % (field, index)
        if not isinstance(rule, dict):
            errors.append("%s must be a mapping {cidr, except, ports}" % rfield)
            continue
        errors.extend(_unknown_keys(rule, frozenset(["cidr", "except", "ports"]), rfield))
        cidr = rule.get("cidr")
        try:
            network = ipaddress.ip_network(cidr, strict=True)
        except (TypeError, ValueError) as exc:
            errors.append("%s.cidr %r is not a network in CIDR notation (%s): use e.g. 10.20.0.0/16" % (rfield, cidr, exc))
            network = None
        for e_index, excluded in enumerate(rule.get("except") or []):
            try:
                inner = ipaddress.ip_network(excluded, strict=True)
            except (TypeError, ValueError):
                errors.append("%s.except[%d] %r is not a network in CIDR notation" % (rfield, e_index, excluded))
                continue
            if network is not None and (inner.version != network.version or not inner.subnet_of(network)):
                errors.append("%s.except[%d] %s is not inside cidr %s" % (rfield, e_index, excluded, cidr))
        if network is not None and network.prefixlen == 0 and not rule.get("except") and ack_field and not ack:
            errors.append("%s.cidr %s opens the tenant to every address: name the networks it needs, or set %s: true "
                          "to accept the exposure" % (rfield, cidr, ack_field))
        errors.extend(_validate_ports(rule.get("ports"), rfield + ".ports"))
    if ack_field and not ack and not errors:
        errors.extend(_whole_space_errors(rules, field, ack_field))
    return errors


def _whole_space_errors(rules, field, ack_field):
    """Rules that together cover every IPv4 or IPv6 address (0.0.0.0/1 + 128.0.0.0/1) need the acknowledgement too."""
    errors = []
    for version, everything in ((4, ipaddress.ip_network("0.0.0.0/0")), (6, ipaddress.ip_network("::/0"))):
        nets = [ipaddress.ip_network(r["cidr"]) for r in rules if not r.get("except")]
        nets = [n for n in nets if n.version == version and n.prefixlen > 0]
        if nets and list(ipaddress.collapse_addresses(nets)) == [everything]:
            errors.append("%s: the rules' cidrs %s together open the tenant to every IPv%d address: name the networks "
                          "it needs, or set %s: true to accept the exposure"
                          % (field, ", ".join(str(n) for n in nets), version, ack_field))
    return errors


def _validate_subjects(subjects, field):
    errors = []
    if not isinstance(subjects, list):
        return ["%s must be a list of OIDC group names or {kind: User|Group, name} entries" % field]
    for index, subject in enumerate(subjects):
        sfield = "%s[%d]" % (field, index)
        if isinstance(subject, str):
            if not subject.strip():
                errors.append("%s is empty: name an OIDC group" % sfield)
            continue
        if not isinstance(subject, dict) or subject.get("kind") not in ("User", "Group") or not subject.get("name"):
            errors.append("%s must be an OIDC group name or {kind: User|Group, name}" % sfield)
    return errors


def _validate_tenant(index, tenant, settings):
    field = "%s[%d]" % (FIELD, index)
    if not isinstance(tenant, dict):
        return ["%s must be a mapping with at least name and zone" % field]
    name = tenant.get("name")
    label = "%s (tenant %r)" % (field, name) if isinstance(name, str) else field
    errors = ["%s: %s" % (label, e) for e in _unknown_keys(tenant, TENANT_KEYS, "setting")]
    err = dns_label_error(name, field + ".name")
    if err:
        errors.append(err + "")
    elif len(tenant_namespace(name, settings)) > 63:
        errors.append("%s.name %r is too long: the host namespace %r must be at most 63 characters"
                      % (field, name, tenant_namespace(name, settings)))
    state = tenant.get("state", "present")
    if state not in STATES:
        errors.append("%s.state %r is not one of present, absent" % (label, state))
    zone = tenant.get("zone")
    err = dns_label_error(zone, field + ".zone")
    if err:
        errors.append("%s (tenant %r): compliance zone: %s" % (field, name, err))
    isolation = tenant.get("isolation", "shared")
    if isolation not in ISOLATION_MODES:
        errors.append("%s.isolation %r is not one of %s" % (label, isolation, ", ".join(ISOLATION_MODES)))
    node_pool = tenant.get("node_pool")
    if isolation == "dedicated":
        err = dns_label_error(node_pool, field + ".node_pool")
        if err:
            errors.append("%s (tenant %r): isolation dedicated needs the node pool whose nodes are labelled and "
                          "tainted for it: %s" % (field, name, err))
    elif node_pool is not None:
        errors.append("%s.node_pool is only for isolation dedicated (isolation is %r): remove it or set isolation: "
                      "dedicated" % (label, isolation))
    errors.extend(_validate_quotas(tenant.get("quotas") or {}, label + ".quotas", settings.get("_site_profiles")))
    limits = tenant.get("limits") or {}
    if not isinstance(limits, dict):
        errors.append("%s.limits must be a mapping" % label)
    else:
        errors.extend(_unknown_keys(limits, LIMIT_KEYS, label + ".limits"))
        for key, value in sorted(limits.items()):
            if key in LIMIT_KEYS:
                err = _quantity_error(value, "%s.limits.%s" % (label, key))
                if err:
                    errors.append(err)
    network = tenant.get("network") or {}
    if not isinstance(network, dict):
        errors.append("%s.network must be a mapping {egress, ingress}" % label)
    else:
        errors.extend(_unknown_keys(network, frozenset(["egress", "ingress"]), label + ".network"))
        for direction in ("egress", "ingress"):
            errors.extend(_validate_rules(network.get(direction) or [], "%s.network.%s" % (label, direction),
                                          ACK_FIELDS[direction], truthy(settings.get("allow_internet_" + direction))))
    for key, _role in ROLE_KEYS:
        errors.extend(_validate_subjects(tenant.get(key) or [], "%s.%s" % (label, key)))
    vault = tenant.get("vault") or {}
    if not isinstance(vault, dict):
        errors.append("%s.vault must be a mapping {auto_rotate_period, rotate_if_older_than, min_decryption_version}"
                      % label)
    else:
        errors.extend(_unknown_keys(vault, VAULT_KEYS, label + ".vault"))
        errors.extend(transit_key_errors(vault, label + ".vault"))
    return errors


_VAULT_MOUNT = r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$"


def _existing_file(checks, field, value, what, exists):
    if checks.path(field, value) is not None and not exists(value):
        checks.fail(field, "%s does not exist on the controller" % what,
                    "point it at the existing file, or leave it unset (null)", value)


def role_input_errors(inputs, exists=None):
    """Every error in the vcluster_tenant role's own variables (``inputs`` keyed by variable name), or [].

    Paths have no ``..`` and the files they name exist (the role runs on the controller); URLs are URLs; the
    Vault credentials of the chosen auth method are set (never shown); mounts and prefixes are Vault paths.
    A kubeconfig given as a dict is checked for its shape only: its values are never shown.
    """
    exists = exists or os.path.isfile
    checks = Checks()
    kubeconfig = inputs.get("vcluster_tenant_kubeconfig")
    if isinstance(kubeconfig, dict):
        if not all(isinstance(kubeconfig.get(key), list) and kubeconfig.get(key) for key in ("clusters", "users")):
            checks.fail("vcluster_tenant_kubeconfig", "a kubeconfig given as a mapping has no clusters or no users",
                        "give the whole kubeconfig (apiVersion, clusters, contexts, users) or its file path", show=False)
    elif isinstance(kubeconfig, str) and kubeconfig:
        path = kubeconfig if kubeconfig.startswith("/") else os.path.abspath(kubeconfig)
        if ".." in kubeconfig.split("/"):
            checks.fail("vcluster_tenant_kubeconfig", "holds '..'", "use the path without '..'", kubeconfig)
        elif not exists(path):
            checks.fail("vcluster_tenant_kubeconfig", "the kubeconfig file does not exist on the controller",
                        "point it at the cluster's kubeconfig file (or null for the kubernetes.core defaults)", kubeconfig)
    elif kubeconfig not in (None, ""):
        checks.fail("vcluster_tenant_kubeconfig", "neither a file path nor a mapping",
                    "give the kubeconfig's path or the kubeconfig as a mapping", show=False)
    if inputs.get("vcluster_tenant_k8s_host"):
        checks.url("vcluster_tenant_k8s_host", inputs["vcluster_tenant_k8s_host"])
    if inputs.get("vcluster_tenant_values_schema"):
        _existing_file(checks, "vcluster_tenant_values_schema", inputs["vcluster_tenant_values_schema"],
                       "the chart's values.schema.json", exists)
    helm = inputs.get("vcluster_tenant_helm_binary")
    if not isinstance(helm, str) or not helm or ".." in helm.split("/") or "\n" in helm:
        checks.fail("vcluster_tenant_helm_binary", "not a program name or path without '..'",
                    "use helm or an absolute path such as /usr/local/bin/helm", helm)
    for ack in ("vcluster_tenant_allow_internet_egress", "vcluster_tenant_allow_internet_ingress"):
        if not isinstance(inputs.get(ack, False), bool):
            checks.fail(ack, "not a boolean", "set it to true only to accept a rule open to every address", inputs.get(ack))
    if truthy(inputs.get("vcluster_tenant_vault_enabled", True)) and inputs.get("tenants_present"):
        checks.url("vcluster_tenant_vault_url", inputs.get("vcluster_tenant_vault_url"))
        method = inputs.get("vcluster_tenant_vault_auth_method") or "token"
        needed = {"token": ["vcluster_tenant_vault_token"],
                  "approle": ["vcluster_tenant_vault_role_id", "vcluster_tenant_vault_secret_id"]}.get(method, [])
        for name in needed:
            if not inputs.get(name):
                checks.fail(name, "not set (vcluster_tenant_vault_auth_method is %s)" % method,
                            "set it from your vault (an Ansible Vault file or AWX credential)", show=False)
        if inputs.get("vcluster_tenant_vault_ca_cert"):
            _existing_file(checks, "vcluster_tenant_vault_ca_cert", inputs["vcluster_tenant_vault_ca_cert"],
                           "the Vault CA certificate", exists)
        for name in ("vcluster_tenant_vault_transit_mount", "vcluster_tenant_vault_kv_mount",
                     "vcluster_tenant_vault_kv_path_prefix"):
            checks.name(name, inputs.get(name), _VAULT_MOUNT, "Vault path",
                        "use letters, digits, '-', '_' and '/' between segments (no '..', no leading '/')")
    return checks.errors


def catalog_entry(tenant, settings):
    """The tenant as :func:`check_tenant_catalog` wants it (host namespace + subjects by role)."""
    subjects = {}
    for key, role in ROLE_KEYS:
        subjects[role] = [rbac_subject(s, settings) for s in tenant.get(key) or []]
    return {"name": tenant.get("name"), "namespaces": [tenant_namespace(tenant.get("name"), settings)],
            "subjects": subjects}


def validate_tenants(tenants, settings=None):
    """Every error in ``sovereign_tenants`` (an empty list when the catalog is valid).

    Per tenant: names, zone, isolation, quotas, limits, network rules, subjects, Vault settings.
    Across tenants: unique names, a dedicated node pool belongs to one tenant, no namespace or
    service account reaches another tenant, separation of duties
    (:func:`tenant_rbac.check_tenant_catalog`), no derived name (namespace, Vault key, policy,
    AppRole, KV path) shared by two tenants (:func:`tenant_names.name_collisions`), and the site's
    DNS set when a tenant is present.
    """
    settings = settings_with_defaults(settings)
    if tenants is None:
        tenants = []
    if not isinstance(tenants, list):
        return ["%s must be a list of tenants" % FIELD]
    tenants = strip_none(tenants)
    site_profiles, errors = catalogue_profiles(settings.get("gpu_catalogue"), "vcluster_tenant_gpu_catalogue")
    settings["_site_profiles"] = None if errors else site_profiles
    default_period = (settings.get("vault_defaults") or {}).get("auto_rotate_period")
    errors.extend(e.replace("vcluster_tenant_vault.auto_rotate_period", "vcluster_tenant_vault_auto_rotate_period")
                  for e in transit_key_errors({"auto_rotate_period": default_period}, "vcluster_tenant_vault"))
    for index, tenant in enumerate(tenants):
        errors.extend(_validate_tenant(index, tenant, settings))
    if errors:
        return errors
    pools = {}
    for index, tenant in enumerate(tenants):
        if tenant.get("isolation") == "dedicated":
            pool = tenant["node_pool"]
            if pool in pools:
                other = pools[pool]
                errors.append("%s[%d].node_pool %r (tenant %r) is already dedicated to tenant %r (%s[%d]): a dedicated "
                              "node pool serves exactly one tenant" % (FIELD, index, pool, tenant["name"],
                                                                       tenants[other]["name"], FIELD, other))
            else:
                pools[pool] = index
    incompatible = settings["incompatible_roles"]
    catalog_errors, refusals = check_tenant_catalog(
        [catalog_entry(t, settings) for t in tenants],
        DEFAULT_INCOMPATIBLE_ROLES if incompatible is None else incompatible,
        settings["tenant_label"])
    for message in catalog_errors + [r["message"] for r in refusals]:
        errors.append(re.sub(r"^tenants\[", FIELD + "[", message))
    # Names two tenants would share (a name declared twice is check_tenant_catalog's error above).
    errors.extend(name_collisions(tenants, settings, duplicates=False))
    errors.extend(control_plane_quota_errors(tenants, settings))
    if any(t.get("state", "present") == "present" for t in tenants):
        errors.extend(fallback_dns_errors(settings.get("fallback_dns")))
    return errors


def fallback_dns_errors(value, field="vcluster_tenant_fallback_dns"):
    """The site's DNS server for vCluster's ``fallbackDns``: an IP address, never the public 8.8.8.8."""
    if not value:
        return ["%s is not set: give the IP address of the site's internal DNS resolver (the chart would fall back "
                "to the public %s)" % (field, PUBLIC_FALLBACK_DNS)]
    try:
        address = ipaddress.ip_address(str(value))
    except ValueError:
        return ["%s %r is not an IP address: give the IP address of the site's internal DNS resolver" % (field, value)]
    if not (address.is_private or address.is_loopback) or str(address) == PUBLIC_FALLBACK_DNS:
        return ["%s %s is a public resolver: a sovereign tenant resolves names through the site's internal DNS "
                "(a private address)" % (field, value)]
    return []


def control_plane_quota_errors(tenants, settings):
    """Tenants whose cpu/memory quota cannot hold their own vCluster control plane (it runs in their namespace)."""
    errors = []
    resources = settings["control_plane_resources"] or {}
    for index, tenant in enumerate(tenants):
        quotas = tenant.get("quotas") or {}
        if tenant.get("state", "present") != "present":
            continue
        for key in ("cpu", "memory"):
            if key not in quotas:
                continue
            needed = max(quantity(str((resources.get(kind) or {}).get(key, "0"))) or 0 for kind in ("requests", "limits"))
            have = quantity(str(quotas[key]))
            if have is not None and needed and have <= needed:
                errors.append(
                    "%s[%d].quotas.%s %s (tenant %r) cannot hold the tenant's own vCluster control plane, which runs in "
                    "its namespace and uses %s %s (vcluster_tenant_control_plane_resources): raise the quota above it "
                    "(room for the tenant's pods too) or lower vcluster_tenant_control_plane_resources"
                    % (FIELD, index, key, quotas[key], tenant.get("name"), key,
                       max(((resources.get(kind) or {}).get(key, "0") for kind in ("requests", "limits")),
                           key=lambda v: quantity(str(v)) or 0)))
    return errors
