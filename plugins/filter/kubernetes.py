# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the Kubernetes roles; the logic is in ``plugins/module_utils/kubelet_config.py``.

Filters:
  - C(kubelet_config(settings, node_fields, extra)) returns the hardened KubeletConfiguration (a dict);
    C(extra) may add fields, never replace a hardened one (it fails naming them).
  - C(kubelet_locked_fields(extra)) returns the hardened fields that C(extra) tries to set.
  - C(k8s_drifted(desired, live)) returns the desired objects that are absent from C(live) (objects or
    C(kubernetes.core.k8s_info) results) or differ from their live version (see module_utils/k8s_drift.py).
  - C(k8s_waiting_on_namespace(desired, live)) returns the namespaced objects whose namespace is not live
    (check mode cannot dry-run their creation: the API server answers 404 for the namespace).
  - C(kubeadm_discovery_kubeconfig(join_data, cluster_name)) returns the discovery kubeconfig of a
    C(kubeadm join) with file discovery (cluster CA and bootstrap token), for control-plane and worker joins.
  - C(kubernetes_node_input_errors(settings)) returns one message per problem of the kubernetes_node role's
    variables that its other checks do not cover (sysctls, modules, cluster DNS, names, taints, limits, URLs,
    paths with '..'); documented in kubernetes_node_input_errors.yml.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.sovereign.cluster.plugins.module_utils.input_checks import Checks

from ansible_collections.sovereign.cluster.plugins.module_utils.k8s_drift import drifted, waiting_on_namespace
from ansible_collections.sovereign.cluster.plugins.module_utils.kubelet_config import (
    hardened_kubelet_config,
    locked_fields_set,
)


def kubelet_config(settings, node_fields=None, extra=None):
    try:
        return hardened_kubelet_config(settings, node_fields=node_fields, extra=extra)
    except (KeyError, ValueError) as exc:
        raise AnsibleFilterError("kubelet_config: %s" % exc)


def kubeadm_discovery_kubeconfig(join_data, cluster_name="kubernetes"):
    """File discovery for ``kubeadm join`` when anonymous auth is off (token discovery reads cluster-info
    anonymously and gets 401): a kubeconfig with the cluster CA that authenticates with the bootstrap token.
    ``join_data``: ``{endpoint, token, ca_cert_data}`` as the control-plane role's join fact carries them."""
    missing = [key for key in ("endpoint", "token", "ca_cert_data") if not (join_data or {}).get(key)]
    if missing:
        raise AnsibleFilterError("kubeadm_discovery_kubeconfig: join data lack %s" % ", ".join(missing))
    user = "tls-bootstrap-token-user"
    context = "%s@%s" % (user, cluster_name)
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": {"server": "https://" + join_data["endpoint"],
                                                        "certificate-authority-data": join_data["ca_cert_data"]}}],
        "users": [{"name": user, "user": {"token": join_data["token"]}}],
        "contexts": [{"name": context, "context": {"cluster": cluster_name, "user": user}}],
        "current-context": context,
    }


_DNS1123_SUBDOMAIN = r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_LABEL_KEY = r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
_LABEL_VALUE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$"


def kubernetes_node_input_errors(settings):
    """One message per problem of the kubernetes_node variables (a mapping of variable name to value), or []."""
    checks = Checks()
    get = settings.get
    for field in ("kubernetes_node_sysctls", "kubernetes_node_kernel_defaults_sysctls"):
        values = get(field, {}) or {}
        if not isinstance(values, dict):
            checks.fail(field, "not a mapping", "map sysctl keys to values", values)
            continue
        for key, value in sorted(values.items(), key=lambda item: str(item[0])):
            checks.sysctl(field, key, value)
    for index, module in enumerate(get("kubernetes_node_modules", []) or []):
        checks.name("kubernetes_node_modules[%d]" % index, module, r"^[A-Za-z0-9_-]{1,64}$", "kernel module name",
                    "use the module name as modprobe knows it (letters, digits, '_', '-')")
    for index, package in enumerate(get("kubernetes_node_packages", []) or []):
        checks.name("kubernetes_node_packages[%d]" % index, package, r"^[a-z0-9][a-z0-9+.-]{0,100}(=[A-Za-z0-9.+:~-]+)?$",
                    "Debian package name", "use a package name, optionally with =version")
    dns = get("kubernetes_node_cluster_dns", []) or []
    if not isinstance(dns, list) or not dns:
        checks.fail("kubernetes_node_cluster_dns", "empty or not a list", "list the cluster DNS service address(es), such as 10.96.0.10", dns)
    else:
        for index, address in enumerate(dns):
            if checks.cidr("kubernetes_node_cluster_dns[%d]" % index, address) is not None and "/" in str(address):
                checks.fail("kubernetes_node_cluster_dns[%d]" % index, "is a network", "give the DNS service's address", address)
    checks.name("kubernetes_node_cluster_domain", get("kubernetes_node_cluster_domain", "cluster.local"), _DNS1123_SUBDOMAIN,
                "cluster domain", "use a lowercase DNS name such as cluster.local")
    checks.name("kubernetes_node_name", get("kubernetes_node_name", "node"), _DNS1123_SUBDOMAIN, "node name",
                "use a lowercase DNS-1123 name (letters, digits, '-', '.'), as Kubernetes requires")
    taints = get("kubernetes_node_taints", []) or []
    for index, taint in enumerate(taints if isinstance(taints, list) else []):
        field = "kubernetes_node_taints[%d]" % index
        if not isinstance(taint, dict):
            checks.fail(field, "not a mapping", "give key, value and effect", taint)
            continue
        checks.name(field + ".key", taint.get("key"), _LABEL_KEY, "taint key", "use a label key such as nvidia.com/gpu")
        checks.name(field + ".value", str(taint.get("value", "")), _LABEL_VALUE, "taint value", "use a label value (or leave it out)")
        checks.one_of(field + ".effect", taint.get("effect"), ["NoSchedule", "PreferNoSchedule", "NoExecute"])
    checks.integer("kubernetes_node_kubelet_max_pods", get("kubernetes_node_kubelet_max_pods", 110), 1, 2500)
    checks.integer("kubernetes_node_kubelet_event_record_qps", get("kubernetes_node_kubelet_event_record_qps", 5), 0, 1000)
    checks.name("kubernetes_node_kubelet_streaming_idle_timeout", str(get("kubernetes_node_kubelet_streaming_idle_timeout", "5m0s")),
                r"^([0-9]+(\.[0-9]+)?(h|m|s|ms))+$", "Go duration", "use a duration such as 5m0s")
    checks.integer("kubernetes_node_download_timeout", get("kubernetes_node_download_timeout", 60), 1, 3600)
    for field in ("kubernetes_node_apt_mirror", "kubernetes_node_crictl_url"):
        value = get(field, "") or ""
        if value:
            checks.url(field, value, ("https", "http", "file"))
    checks.name("kubernetes_node_apt_suite", get("kubernetes_node_apt_suite", "bookworm"), r"^[a-z][a-z0-9.-]{0,40}$", "Debian suite",
                "use a suite name such as bookworm")
    for field in ("kubernetes_node_containerd_config_path", "kubernetes_node_containerd_dropin_dir",
                  "kubernetes_node_containerd_registry_config_dir", "kubernetes_node_containerd_socket",
                  "kubernetes_node_kubelet_config_path", "kubernetes_node_kubeadm_patches_dir", "kubernetes_node_bin_dir",
                  "kubernetes_node_sysctl_file", "kubernetes_node_modules_load_file", "kubernetes_node_discovery_kubeconfig"):
        if field in settings:
            checks.path(field, settings[field])
    return checks.errors


class FilterModule(object):
    """sovereign.cluster Kubernetes filters."""

    def filters(self):
        return {
            "kubelet_config": kubelet_config,
            "kubelet_locked_fields": locked_fields_set,
            "kubeadm_discovery_kubeconfig": kubeadm_discovery_kubeconfig,
            "kubernetes_node_input_errors": kubernetes_node_input_errors,
            "k8s_drifted": drifted,
            "k8s_waiting_on_namespace": waiting_on_namespace,
        }
