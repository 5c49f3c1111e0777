#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: vault_audit_device
short_description: Manage or verify a Vault/OpenBao audit device (file, socket, syslog)
version_added: 0.1.0
description:
  - Enables, replaces or disables an audit device through the API on HashiCorp Vault, comparing
    type, description, C(local) and options with the live device so a second run reports C(changed=false).
  - OpenBao 2.x refuses to create or remove audit devices through the API (unless the server runs with
    the test-only C(unsafe_allow_api_audit_creation)). When the server refuses, the module fails and
    returns in RV(declaration) the C(audit) stanza to add to the server configuration (the
    C(sovereign.cluster.vault_server) role writes it there).
  - The module knows of that refusal before trying, from the server's sanitized configuration
    (C(sys/config/state/sanitized), where OpenBao reports C(unsafe_allow_api_audit_creation)), so check mode
    fails with the same message the real run would; nothing is changed in either.
  - O(state=query) only reads C(sys/audit) and reports whether the device exists and matches the
    declaration; it never changes anything, so it verifies config-declared devices on OpenBao.
    Check mode also only reads.
  - Audit devices cannot be changed in place; a device whose settings differ is disabled and
    enabled again (a short window without that device; keep a second device for continuity).
  - Listing audit devices needs C(sudo) on C(sys/audit); the root token or an admin policy.
extends_documentation_fragment:
  - sovereign.cluster.vault
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
options:
  path:
    description:
      - Path (name) of the audit device, for example V(file) or V(siem-socket).
    type: str
    required: true
  device_type:
    description:
      - Kind of audit device. Required when O(state=present).
    type: str
    choices: [file, socket, syslog]
  description:
    description:
      - Human-readable description.
    type: str
    default: ''
  options:
    description:
      - Device options, for example C(file_path) and C(mode) for V(file), C(address) and
        C(socket_type) for V(socket), C(facility) and C(tag) for V(syslog), and the common
        C(hmac_accessor), C(log_raw), C(format), C(prefix).
      - Values are compared as the server stores them (strings; booleans as C(1)/C(0)).
        Quote file modes as C("0600") because YAML reads an unquoted C(0600) as the number 384.
      - Never set C(log_raw=true) on a production server, or secrets reach the log unhashed.
    type: dict
    default: {}
  local:
    description:
      - Keep the device local to this cluster (not replicated).
    type: bool
    default: false
  state:
    description:
      - V(present) makes sure the device exists with these settings.
      - V(absent) disables it.
      - V(query) reports RV(exists) and RV(matches) without changing anything.
    type: str
    choices: [present, absent, query]
    default: present
author:
  - sovereign.cluster developers (@sovereign-cluster)
'''

EXAMPLES = r'''
- name: File audit device on HashiCorp Vault
  sovereign.cluster.vault_audit_device:
    path: file
    device_type: file
    options:
      file_path: /var/log/vault/audit.log
      mode: "0600"

- name: On OpenBao, verify that the device declared in the server config is live
  sovereign.cluster.vault_audit_device:
    path: file
    device_type: file
    options:
      file_path: /var/log/openbao/audit.log
    state: query
  register: audit_file

- name: Fail when it is missing or differs
  ansible.builtin.assert:
    that: audit_file.exists and audit_file.matches
'''

RETURN = r'''
exists:
  description: Whether the device existed before the run.
  returned: always
  type: bool
matches:
  description: Whether the live device had the declared type, description, local flag and options.
  returned: always
  type: bool
device:
  description: The device after the run (the prediction in check mode, the live one with O(state=query)).
  returned: always
  type: dict
  sample: {"type": "file", "description": "", "local": false, "options": {"file_path": "/var/log/vault/audit.log"}}
declaration:
  description: The server-config stanza that declares this device (for OpenBao).
  returned: when O(state=present)
  type: str
  sample: |
    audit "file" "file" {
      options {
        file_path = "/var/log/openbao/audit.log"
      }
    }
'''

import re

from ansible_collections.sovereign.cluster.plugins.module_utils.vault_client import (
    AUDIT_DEVICE_TYPES,
    VaultModule,
    api_path,
    audit_declaration_hcl,
    audit_device_view,
    describe_vault_error,
    find_audit_device,
    is_audit_api_refused,
)

_AUDIT_PATH = re.compile(r'^\w([\w.-]*\w)?(/\w([\w.-]*\w)?)*/?$')


def refused_message(path, declaration, verb):
    if verb == 'disable':
        todo = ('change or remove its declaration in the server configuration (the sovereign.cluster.vault_server '
                'role manages it) and reload the server')
    else:
        todo = ('declare it in the server configuration instead (the sovereign.cluster.vault_server role does this '
                'from its audit device list) and reload the server, then re-run with state=query to verify')
    return ('the server refused to %s audit device %r through the API: OpenBao 2.x manages audit devices only '
            'declaratively: %s. Stanza:\n%s' % (verb, path, todo, declaration))


def main():
    module = VaultModule(
        argument_spec=dict(
            path=dict(type='str', required=True),
            device_type=dict(type='str', choices=list(AUDIT_DEVICE_TYPES)),
            description=dict(type='str', default=''),
            options=dict(type='dict', default={}),
            local=dict(type='bool', default=False),
            state=dict(type='str', default='present', choices=['present', 'absent', 'query']),
        ),
        required_if=[('state', 'present', ('device_type',))],
        supports_check_mode=True,
    )
    params = module.params
    path = (params['path'] or '').strip('/')
    if not _AUDIT_PATH.match(path):
        module.fail_json(msg="path %r is not a valid audit device path: use letters, digits, '_', '-', '.'" % params['path'])
    if params['options'].get('log_raw') in (True, 'true', '1', 1):
        module.warn('options.log_raw is on: secrets reach audit device %r unhashed; never use it in production' % path)

    listing = module.api_get('list audit devices (sys/audit, needs sudo)', api_path('sys/audit'), missing_ok=False)
    live_entry = find_audit_device(listing, path)
    live = audit_device_view(live_entry) if live_entry else None
    desired = None
    if params['device_type']:
        desired = audit_device_view(dict(type=params['device_type'], description=params['description'],
                                         local=params['local'], options=params['options']))
    matches = live is not None and (desired is None or live == desired)
    state = params['state']
    result = dict(exists=live is not None, matches=matches)

    if state == 'query':
        module.exit_json(changed=False, device=live or {}, **result)

    declaration = None
    if state == 'present':
        declaration = audit_declaration_hcl(path, params['device_type'], params['options'], params['description'])
        result['declaration'] = declaration
        changed = not matches
        after = desired
    else:
        changed = live is not None
        after = {}
    result['changed'] = changed
    result['device'] = after if changed else (live or {})
    if module._diff:
        result['diff'] = dict(before=live or {}, after=after or {},
                              before_header='audit device %s' % path, after_header='audit device %s' % path)
    if not changed:
        module.exit_json(**result)
    # OpenBao 2.x refuses audit device changes through the API unless its configuration says
    # unsafe_allow_api_audit_creation; it reports that setting in sys/config/state/sanitized (HashiCorp Vault
    # has no such key). Known before any change, so check mode predicts the refusal the real run would meet.
    if api_audit_refused_by_config(module):
        verb = 'disable' if live is not None else 'enable'  # a replacement starts by disabling the live device
        module.fail_json(msg=refused_message(path, declaration or audit_declaration_hcl(
            path, live['type'], live['options'], live['description']), verb),
            declaration=declaration, vault_error='unsafe_allow_api_audit_creation is false in the server configuration')
    if module.check_mode:
        module.exit_json(**result)

    device_path = api_path('sys/audit', path)
    if live is not None:
        _call(module, 'disable audit device %r' % path, declaration or audit_declaration_hcl(
            path, live['type'], live['options'], live['description']), 'disable',
            module.client.adapter.delete, device_path)
    if state == 'present':
        payload = dict(type=desired['type'], description=desired['description'], local=desired['local'],
                       options=desired['options'])
        _call(module, 'enable audit device %r' % path, declaration, 'enable',
              module.client.adapter.post, device_path, json=payload)
    module.exit_json(**result)


def api_audit_refused_by_config(module):
    """True when the server's sanitized configuration says API audit changes are off (OpenBao).

    Reading sys/config/state/sanitized needs sudo on that path; a token without it, or a server without the
    endpoint, gives no answer here and the change is attempted (a refusal is then explained by _call).
    """
    try:
        response = module.client.adapter.get(api_path('sys/config/state/sanitized'))
    except Exception as exc:  # narrowed below
        if not module.is_vault_error(exc):
            raise
        return False
    data = response.get('data', response) if isinstance(response, dict) else {}
    return isinstance(data, dict) and data.get('unsafe_allow_api_audit_creation') is False


def _call(module, action, declaration, verb, func, *args, **kwargs):
    """Like VaultModule.vault_call, but explains OpenBao's refusal of API-managed audit devices."""
    try:
        return func(*args, **kwargs)
    except Exception as exc:  # narrowed below
        if not module.is_vault_error(exc):
            raise
        message = str(getattr(exc, 'errors', None) or exc)
        if is_audit_api_refused(message):
            module.fail_json(msg=refused_message(module.params['path'], declaration, verb), declaration=declaration,
                             vault_error=message)
        module.fail_json(msg=describe_vault_error(exc, action, url=module.params['url'], field='options'),
                         vault_error=message)


if __name__ == '__main__':
    main()
