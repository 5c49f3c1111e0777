# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The source text of a collection library that a role installs on hosts."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: host_library
author:
  - sovereign.cluster developers (@sovereign-cluster)
version_added: "1.0.0"
short_description: Source of a collection library that a role installs on its hosts as a host program
description:
  - Some capabilities run both on the controller (a module, a filter, the audit_trail callback) and on the
    managed host as a command (C(sovereign-audit-chain) on the audit collector, C(sovereign-mig-apply) at
    boot on a GPU node). Both sides run the same library, so that what the controller plans is what the
    host does.
  - This lookup returns the exact source text of such a library as Python imports it from this
    collection, wherever the collection is installed (a checkout, C(ansible-galaxy collection install), an
    execution environment). Roles install it with C(ansible.builtin.copy) C(content), never by reaching
    into the collection through C(role_path).
  - Only the libraries listed below are host programs; any other name is refused.
options:
  _terms:
    description:
      - Names of the host libraries.
      - C(audit_chain) is the hash-chained audit store (append, verify, head), installed by the
        audit_forwarding role on the collector.
      - C(mig) is the MIG planner, installed by the nvidia_gpu role for sovereign-mig.service.
    required: true
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Install the collection's hash chain tool as shipped
  ansible.builtin.copy:
    content: "{{ lookup('sovereign.cluster.host_library', 'audit_chain') }}"
    dest: /usr/local/lib/sovereign-audit/audit_chain.py
    owner: root
    group: root
    mode: "0644"
"""

RETURN = r"""
_raw:
  description: The source text of each named library, byte for byte as shipped in the collection.
  type: list
  elements: str
"""

import importlib

from ansible.errors import AnsibleLookupError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.lookup import LookupBase

HOST_LIBRARIES = {
    "audit_chain": "audit_chain.py",
    "mig": "mig.py",
}
PACKAGE = "ansible_collections.sovereign.cluster.plugins.module_utils"


def library_source(name):
    """Source text of the host library NAME, found through the import system (not a path in the collection)."""
    if name not in HOST_LIBRARIES:
        raise AnsibleLookupError(
            "host_library: %r is not a host library of sovereign.cluster; use one of: %s"
            % (name, ", ".join(sorted(HOST_LIBRARIES))))
    module_name = "%s.%s" % (PACKAGE, HOST_LIBRARIES[name][:-len(".py")])
    try:
        module = importlib.import_module(module_name)
        source = module.__loader__.get_source(module_name)
    except (ImportError, AttributeError, OSError) as exc:
        raise AnsibleLookupError(
            "host_library: cannot read the source of %s (is the collection installed?): %s" % (module_name, exc))
    if source is None:
        raise AnsibleLookupError("host_library: the loader of %s has no source text for it" % module_name)
    return to_text(source, errors="surrogate_or_strict")


class LookupModule(LookupBase):
    """The lookup: one source text per term."""

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        return [library_source(to_text(term)) for term in terms]
