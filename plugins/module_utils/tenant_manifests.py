# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tenants as data: the manifests and the plan of the ``vcluster_tenant`` role, as pure functions.

Nothing here talks to a cluster or to Vault. The role's filter plugin (``plugins/filter/tenants.py``)
hands in ``sovereign_tenants`` and the role settings; these functions answer with

* :func:`tenant_plan` - per tenant: the host namespace objects (Namespace with PSA ``restricted``,
  ResourceQuota, LimitRange, NetworkPolicies), the vCluster ``vcluster.yaml`` values, the
  ``tenant_rbac`` declaration and the Vault key, policy and KV path; it first checks the catalog with
  :func:`~ansible_collections.sovereign.cluster.plugins.module_utils.tenant_inputs.validate_tenants`
  (every input check is there);
* :func:`vcluster_values_errors` - the rendered values checked against the chart's JSON Schema (draft 2020-12).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json

from ansible_collections.sovereign.cluster.plugins.module_utils.tenant_inputs import PUBLIC_FALLBACK_DNS, validate_tenants
from ansible_collections.sovereign.cluster.plugins.module_utils.tenant_names import tenant_names
from ansible_collections.sovereign.cluster.plugins.module_utils.tenant_settings import (
    ROLE_KEYS,
    rbac_subject,
    settings_with_defaults,
    strip_none,
    tenant_namespace,
)

try:
    import jsonschema
    HAS_JSONSCHEMA = True
except ImportError:
    HAS_JSONSCHEMA = False

VCLUSTER_DNS_PORT = 1053


# --------------------------------------------------------------------------------------------
# Rendering (host namespace objects)
# --------------------------------------------------------------------------------------------

def _labels(tenant, settings, component):
    return {
        "app.kubernetes.io/managed-by": "sovereign.cluster.vcluster_tenant",
        "app.kubernetes.io/component": component,
        settings["tenant_label"]: tenant["name"],
        settings["zone_label"]: tenant["zone"],
    }


def _quantity(value):
    return str(value)


def render_namespace(tenant, settings):
    labels = _labels(tenant, settings, "tenant-namespace")
    labels.update({
        "kubernetes.io/metadata.name": tenant_namespace(tenant["name"], settings),
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/audit-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/warn-version": "latest",
    })
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": tenant_namespace(tenant["name"], settings), "labels": labels}}


def quota_hard(quotas):
    """ResourceQuota ``spec.hard`` from the tenant's quotas (GPU and MIG profiles as extended resources)."""
    hard = {}
    if "cpu" in quotas:
        hard["requests.cpu"] = hard["limits.cpu"] = _quantity(quotas["cpu"])
    if "memory" in quotas:
        hard["requests.memory"] = hard["limits.memory"] = _quantity(quotas["memory"])
    if "storage" in quotas:
        hard["requests.storage"] = _quantity(quotas["storage"])
    if "pods" in quotas:
        hard["pods"] = str(quotas["pods"])
    if "persistentvolumeclaims" in quotas:
        hard["persistentvolumeclaims"] = str(quotas["persistentvolumeclaims"])
    # Extended resources are quota'd by requests only (they cannot be overcommitted). A tenant without
    # a GPU quota gets 0, so that no tenant can take a device it was not given.
    hard["requests.nvidia.com/gpu"] = str(quotas.get("gpu", 0))
    for profile, count in sorted((quotas.get("mig") or {}).items()):
        hard["requests.nvidia.com/mig-%s" % profile] = str(count)
    return hard


def render_resource_quota(tenant, settings):
    return {"apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": {"name": "tenant-quota", "namespace": tenant_namespace(tenant["name"], settings),
                         "labels": _labels(tenant, settings, "tenant-quota")},
            "spec": {"hard": quota_hard(tenant.get("quotas") or {})}}


def render_limit_range(tenant, settings):
    limits = dict(settings["default_limits"])
    limits.update(tenant.get("limits") or {})
    item = {"type": "Container",
            "default": {"cpu": _quantity(limits["default_cpu"]), "memory": _quantity(limits["default_memory"])},
            "defaultRequest": {"cpu": _quantity(limits["default_request_cpu"]),
                               "memory": _quantity(limits["default_request_memory"])}}
    maximum = {}
    if limits.get("max_cpu") is not None:
        maximum["cpu"] = _quantity(limits["max_cpu"])
    if limits.get("max_memory") is not None:
        maximum["memory"] = _quantity(limits["max_memory"])
    if maximum:
        item["max"] = maximum
    return {"apiVersion": "v1", "kind": "LimitRange",
            "metadata": {"name": "tenant-limits", "namespace": tenant_namespace(tenant["name"], settings),
                         "labels": _labels(tenant, settings, "tenant-limits")},
            "spec": {"limits": [item]}}


def _ports(ports):
    out = []
    for port in ports or []:
        if isinstance(port, int):
            port = {"port": port}
        item = {"protocol": port.get("protocol") or "TCP", "port": port["port"]}
        if port.get("end_port") is not None:
            item["endPort"] = port["end_port"]
        out.append(item)
    return out


def _peers(rules):
    out = []
    for rule in rules:
        block = {"cidr": rule["cidr"]}
        if rule.get("except"):
            block["except"] = list(rule["except"])
        item = {"ipBlock": block}
        out.append((item, _ports(rule.get("ports"))))
    return out


def render_network_policies(tenant, settings):
    """Default-deny (ingress and egress), the tenant's own pods, DNS to the vCluster CoreDNS, declared rules."""
    namespace = tenant_namespace(tenant["name"], settings)

    def policy(name, spec):
        return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": name, "namespace": namespace, "labels": _labels(tenant, settings, "tenant-network")},
                "spec": dict({"podSelector": {}}, **spec)}

    same_namespace = [{"podSelector": {}}]
    policies = [
        policy("default-deny", {"policyTypes": ["Ingress", "Egress"]}),
        # vCluster's control plane and the tenant's synced pods share this namespace and must reach each other.
        policy("allow-same-namespace", {"policyTypes": ["Ingress", "Egress"],
                                        "ingress": [{"from": same_namespace}], "egress": [{"to": same_namespace}]}),
        # The vCluster's CoreDNS listens on 1053 inside the tenant namespace; nothing else resolves names.
        policy("allow-vcluster-dns", {"policyTypes": ["Egress"], "egress": [{
            "to": same_namespace,
            "ports": [{"protocol": "UDP", "port": VCLUSTER_DNS_PORT}, {"protocol": "TCP", "port": VCLUSTER_DNS_PORT}]}]}),
    ]
    network = tenant.get("network") or {}
    egress = [{"to": [peer], "ports": ports} if ports else {"to": [peer]} for peer, ports in _peers(network.get("egress") or [])]
    if egress:
        policies.append(policy("allow-declared-egress", {"policyTypes": ["Egress"], "egress": egress}))
    ingress = [{"from": [peer], "ports": ports} if ports else {"from": [peer]}
               for peer, ports in _peers(network.get("ingress") or [])]
    if ingress:
        policies.append(policy("allow-declared-ingress", {"policyTypes": ["Ingress"], "ingress": ingress}))
    return policies


def render_host_manifests(tenant, settings):
    """The host objects of one tenant, in apply order (namespace first)."""
    return ([render_namespace(tenant, settings), render_resource_quota(tenant, settings),
             render_limit_range(tenant, settings)] + render_network_policies(tenant, settings))


# --------------------------------------------------------------------------------------------
# vcluster.yaml
# --------------------------------------------------------------------------------------------

def node_scheduling(tenant, settings):
    """``(node_selector, tolerations)`` for a dedicated tenant, ``({}, [])`` otherwise."""
    if tenant.get("isolation") != "dedicated":
        return {}, []
    pool = tenant["node_pool"]
    return ({settings["node_pool_label"]: pool},
            [{"key": settings["node_pool_taint_key"], "operator": "Equal", "value": pool, "effect": "NoSchedule"}])


def _merge(base, override):
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


# A non-root user for the vCluster control plane (the uid vCluster's own non-root guide uses).
VCLUSTER_UID = 12345
RESTRICTED_POD_SECURITY = {"runAsNonRoot": True, "runAsUser": VCLUSTER_UID, "runAsGroup": VCLUSTER_UID,
                           "fsGroup": VCLUSTER_UID, "seccompProfile": {"type": "RuntimeDefault"}}


def restricted_container_security():
    """A container securityContext that Pod Security "restricted" admits."""
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True,
            "runAsUser": VCLUSTER_UID, "runAsGroup": VCLUSTER_UID, "seccompProfile": {"type": "RuntimeDefault"}}


def render_vcluster_values(tenant, settings):
    """The chart values (``vcluster.yaml``) of the tenant's vCluster.

    Always: the chart's network policies on, ``fallbackDns`` = the site's DNS, Pod Security
    ``restricted``, the chart's own quota/limit objects off (the host namespace carries ours).
    ``shared``: workloads on the shared nodes, only the nodes they run on are visible.
    ``dedicated``: the control plane and every synced pod pinned to the tenant's node pool
    (node selector + toleration of its taint), and only that pool's nodes visible.
    ``private``: vCluster private nodes (the tenant joins its own nodes; nothing is scheduled on
    host nodes but the control plane).
    """
    node_selector, tolerations = node_scheduling(tenant, settings)
    values = {
        "policies": {
            "podSecurityStandard": "restricted",
            "networkPolicy": {"enabled": True, "fallbackDns": str(settings["fallback_dns"]),
                              "workload": {"publicEgress": {"enabled": False}}},
            # The host namespace has the tenant's ResourceQuota and LimitRange (rendered above).
            "resourceQuota": {"enabled": False},
            "limitRange": {"enabled": False},
        },
        "sync": {
            "toHost": {"pods": {"enabled": True}},
            "fromHost": {"nodes": {"enabled": False}},
        },
        # The tenant's host namespace enforces Pod Security "restricted": the chart's defaults (syncer as root,
        # no seccomp, capabilities kept) are refused there by the real PodSecurity admission, so the control
        # plane runs as a non-root user with every container restricted, its init container included.
        "controlPlane": {"statefulSet": {"labels": {settings["tenant_label"]: tenant["name"]},
                                         "resources": copy.deepcopy(settings["control_plane_resources"]),
                                         "security": {"podSecurityContext": dict(RESTRICTED_POD_SECURITY),
                                                      "containerSecurityContext": restricted_container_security()}},
                         "distro": {"k8s": {"securityContext": restricted_container_security()}}},
        "rbac": {"clusterRole": {"enabled": False}},
    }
    if tenant.get("isolation") == "dedicated":
        values["sync"]["toHost"]["pods"]["enforceTolerations"] = [
            "%s=%s:NoSchedule" % (t["key"], t["value"]) for t in tolerations]
        values["sync"]["fromHost"]["nodes"] = {"enabled": True, "syncBackChanges": False, "clearImageStatus": True,
                                               "selector": {"all": False, "labels": dict(node_selector)}}
        # Reading the pool's real nodes needs the chart's cluster role (read-only on nodes).
        values["rbac"]["clusterRole"]["enabled"] = True
        values["controlPlane"]["statefulSet"]["scheduling"] = {"nodeSelector": dict(node_selector),
                                                               "tolerations": copy.deepcopy(tolerations)}
    elif tenant.get("isolation") == "private":
        values["privateNodes"] = {"enabled": True}
    _merge(values, settings.get("values_overrides") or {})
    return values


def vcluster_values_errors(values, schema):
    """Errors of ``values`` against the chart's JSON Schema (draft 2020-12), each with its path."""
    if not HAS_JSONSCHEMA:
        raise ImportError("the jsonschema Python library is required to validate vcluster.yaml: pip install jsonschema")
    validator = jsonschema.Draft202012Validator(schema)
    errors = []
    for error in sorted(validator.iter_errors(values), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        errors.append("vcluster.yaml %s: %s" % (path, error.message))
    dns = ((values.get("policies") or {}).get("networkPolicy") or {}).get("fallbackDns")
    if dns == PUBLIC_FALLBACK_DNS or not dns:
        errors.append("vcluster.yaml policies.networkPolicy.fallbackDns is %r: set the site's internal DNS "
                      "(the chart's default is the public %s)" % (dns, PUBLIC_FALLBACK_DNS))
    return errors


def load_schema(path):
    with open(path) as handle:
        return json.load(handle)


# --------------------------------------------------------------------------------------------
# RBAC, Vault, and the plan
# --------------------------------------------------------------------------------------------

def rbac_bindings(tenant, settings):
    """``tenant_rbac`` bindings: one per role that has subjects (roles come from the role's settings)."""
    bindings = []
    for key, role in ROLE_KEYS:
        subjects = [rbac_subject(s, settings) for s in tenant.get(key) or []]
        if subjects:
            bindings.append({"name": role, "role": role, "subjects": subjects})
    return bindings


def vault_names(tenant, settings):
    """The tenant's Vault names in the plan, as :func:`tenant_names.tenant_names` names them."""
    names = tenant_names(tenant, settings)
    return {"transit_key": names["transit_key"], "policy_name": names["vcluster_policy"],
            "kv_prefix": names["kv_prefix"], "kv_path": names["kv_path"]}


def vault_policy_hcl(tenant, settings):
    """The tenant's Vault policy: use its own transit key and read its own KV entries, nothing else."""
    names = vault_names(tenant, settings)
    transit, kv = settings["transit_mount"], settings["kv_mount"]
    prefix = names["kv_prefix"]
    return "\n".join([
        '# tenant %s (zone %s), rendered by sovereign.cluster.vcluster_tenant' % (tenant["name"], tenant["zone"]),
        'path "%s/encrypt/%s" {\n  capabilities = ["update"]\n}' % (transit, names["transit_key"]),
        'path "%s/decrypt/%s" {\n  capabilities = ["update"]\n}' % (transit, names["transit_key"]),
        'path "%s/data/%s/*" {\n  capabilities = ["read"]\n}' % (kv, prefix),
        'path "%s/metadata/%s/*" {\n  capabilities = ["read", "list"]\n}' % (kv, prefix),
        "",
    ])


NETWORK_POLICY_NAMES = ("default-deny", "allow-same-namespace", "allow-vcluster-dns", "allow-declared-egress",
                        "allow-declared-ingress")


def offboard_objects(tenant, settings):
    """Every host object the role may have created for the tenant, namespace last (for state absent)."""
    namespace = tenant_namespace(tenant["name"], settings)

    def ref(api_version, kind, name):
        return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": namespace}}

    objects = [ref("networking.k8s.io/v1", "NetworkPolicy", name) for name in NETWORK_POLICY_NAMES]
    objects += [ref("v1", "LimitRange", "tenant-limits"), ref("v1", "ResourceQuota", "tenant-quota")]
    objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    return objects


def normalize_tenant(tenant):
    out = copy.deepcopy(tenant)
    out.setdefault("isolation", "shared")
    out.setdefault("state", "present")
    for key in ("quotas", "limits", "network", "vault"):
        out[key] = out.get(key) or {}
    for key, _role in ROLE_KEYS:
        out[key] = out.get(key) or []
    return out


def tenant_plan(tenants, settings=None):
    """Everything the role applies, per tenant. Raises ValueError (all errors) on a bad catalog."""
    settings = settings_with_defaults(settings)
    errors = validate_tenants(tenants, settings)
    if errors:
        raise ValueError("\n".join(errors))
    plans = []
    for raw in strip_none(tenants or []):
        tenant = normalize_tenant(raw)
        vault = dict(vault_names(tenant, settings))
        vault.update({"policy": vault_policy_hcl(tenant, settings),
                      "auto_rotate_period": str(tenant["vault"].get("auto_rotate_period",
                                                                    settings["vault_defaults"].get("auto_rotate_period"))),
                      "rotate_if_older_than": tenant["vault"].get("rotate_if_older_than"),
                      "min_decryption_version": tenant["vault"].get("min_decryption_version")})
        # The entries of the batch calls (vault_transit_key keys, vault_policy policies): one call for all tenants.
        vault["key_entry"] = dict({"name": vault["transit_key"]}, **{
            field: vault[field] for field in ("auto_rotate_period", "rotate_if_older_than", "min_decryption_version")
            if vault[field] not in (None, "")})
        vault["policy_entry"] = {"name": vault["policy_name"], "policy": vault["policy"]}
        present = tenant["state"] == "present"
        plans.append({
            "name": tenant["name"],
            "zone": tenant["zone"],
            "state": tenant["state"],
            "isolation": tenant["isolation"],
            "namespace": tenant_namespace(tenant["name"], settings),
            "release": settings["release_name"],
            "manifests": render_host_manifests(tenant, settings) if present else [],
            "values": render_vcluster_values(tenant, settings) if present else {},
            "rbac_bindings": rbac_bindings(tenant, settings),
            "vault": vault,
            "offboard_objects": [] if present else offboard_objects(tenant, settings),
        })
    return plans
