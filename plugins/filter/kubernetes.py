# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the Kubernetes roles; the logic is in ``plugins/module_utils/kubelet_config.py``.

Filters:
  - C(kubelet_config(settings, node_fields, extra)) returns the hardened KubeletConfiguration (a dict);
    C(extra) may add fields, never replace a hardened one (it fails naming them).
  - C(kubelet_locked_fields(extra)) returns the hardened fields that C(extra) tries to set.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.sovereign.cluster.plugins.module_utils.kubelet_config import (
    hardened_kubelet_config,
    locked_fields_set,
)


def kubelet_config(settings, node_fields=None, extra=None):
    try:
        return hardened_kubelet_config(settings, node_fields=node_fields, extra=extra)
    except (KeyError, ValueError) as exc:
        raise AnsibleFilterError("kubelet_config: %s" % exc)


class FilterModule(object):
    """sovereign.cluster Kubernetes filters."""

    def filters(self):
        return {
            "kubelet_config": kubelet_config,
            "kubelet_locked_fields": locked_fields_set,
        }
