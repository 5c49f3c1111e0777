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
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

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


class FilterModule(object):
    """sovereign.cluster Kubernetes filters."""

    def filters(self):
        return {
            "kubelet_config": kubelet_config,
            "kubelet_locked_fields": locked_fields_set,
            "kubeadm_discovery_kubeconfig": kubeadm_discovery_kubeconfig,
            "k8s_drifted": drifted,
            "k8s_waiting_on_namespace": waiting_on_namespace,
        }
