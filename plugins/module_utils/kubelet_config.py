# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hardened KubeletConfiguration, one definition for the kubernetes_node and kubernetes_control_plane roles.

The node role writes it to /var/lib/kubelet/config.yaml (and as a kubeadm patch); the control-plane role
puts the same document in the kubeadm configuration that kubeadm uploads to the kubelet-config ConfigMap.
Site settings (``extra``) are merged underneath: they can add fields, never replace a hardened one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Fields of the hardened configuration that ``extra`` may not set.
LOCKED_FIELDS = (
    "readOnlyPort", "protectKernelDefaults", "rotateCertificates", "serverTLSBootstrap", "authentication",
    "authorization", "tlsMinVersion", "tlsCipherSuites", "cgroupDriver", "eventRecordQPS", "makeIPTablesUtilChains",
    "containerRuntimeEndpoint",
)


def locked_fields_set(extra):
    """The hardened fields that ``extra`` tries to set (sorted; empty when none)."""
    return sorted(set(extra or {}) & set(LOCKED_FIELDS))


def hardened_kubelet_config(settings, node_fields=None, extra=None):
    """The KubeletConfiguration dict: ``extra`` < ``node_fields`` < the hardened settings.

    ``settings`` keys: tls_min_version, tls_cipher_suites, event_record_qps, cgroup_driver,
    runtime_endpoint, client_ca_file. Raises ValueError naming the fields when ``extra`` sets a locked one.
    """
    clash = locked_fields_set(extra)
    if clash:
        raise ValueError("the extra kubelet configuration sets %s: these are hardened settings; remove them" % ", ".join(clash))
    config = dict(extra or {})
    config.update(node_fields or {})
    config.update({
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "readOnlyPort": 0,
        "protectKernelDefaults": True,
        "rotateCertificates": True,
        "serverTLSBootstrap": True,
        "seccompDefault": True,
        "makeIPTablesUtilChains": True,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True, "cacheTTL": "2m0s"},
            "x509": {"clientCAFile": settings["client_ca_file"]},
        },
        "authorization": {
            "mode": "Webhook",
            "webhook": {"cacheAuthorizedTTL": "5m0s", "cacheUnauthorizedTTL": "30s"},
        },
        "tlsMinVersion": settings["tls_min_version"],
        "tlsCipherSuites": list(settings["tls_cipher_suites"]),
        "eventRecordQPS": int(settings["event_record_qps"]),
        "cgroupDriver": settings["cgroup_driver"],
        "containerRuntimeEndpoint": settings["runtime_endpoint"],
    })
    return config
