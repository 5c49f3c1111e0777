# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the vault_transit and vault_server roles: check every input before the first change,
compare AppRole settings the way the server stores them, and word a failed API call without its secrets.

The logic is in ``plugins/module_utils/vault_inputs.py`` (the input checks) and
``plugins/module_utils/vault_api_results.py`` (API errors) and ``vault_approles.py`` (the AppRoles); each filter has its sidecar doc.

Filters:
  - C(vault_transit_input_errors(settings)) and C(vault_server_input_errors(settings)): every problem of the
    role's inputs (and of the read-only probes the role ran first), each naming the variable, the problem and
    the fix; an empty list when the role may go on. Secrets are never shown.
  - C(vault_transit_approles(keys, defaults)): the AppRoles of the vault_transit role (one per key holder, with
    its key's policy), as the roles option of sovereign.cluster.vault_approle.
  - C(vault_api_error(result, action, expected)): the message of a failed C(uri) call to the API (status, the
    server's C(errors), the path, the fix), or an empty string; never the token or a request body.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sovereign.cluster.plugins.module_utils.vault_api_results import vault_api_error
from ansible_collections.sovereign.cluster.plugins.module_utils.vault_approles import transit_approles
from ansible_collections.sovereign.cluster.plugins.module_utils.vault_inputs import (
    vault_server_input_errors,
    vault_transit_input_errors,
)


class FilterModule(object):
    """sovereign.cluster Vault/OpenBao role filters."""

    def filters(self):
        return {
            "vault_transit_input_errors": vault_transit_input_errors,
            "vault_server_input_errors": vault_server_input_errors,
            "vault_transit_approles": transit_approles,
            "vault_api_error": vault_api_error,
        }
