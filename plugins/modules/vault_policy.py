#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: vault_policy
short_description: Manage a Vault/OpenBao ACL policy idempotently
version_added: 0.1.0
description:
  - Creates, updates or deletes one ACL policy, written in HCL, on HashiCorp Vault or OpenBao.
  - Reads the live policy first and writes only when the normalised text differs, so a second run
    reports C(changed=false). Whitespace, indentation, comments and trailing commas do not count as
    differences; anything else does.
  - Supports check mode and diff mode (the diff shows the policy text before and after).
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
  name:
    description:
      - Name of the policy. Vault stores policy names in lowercase, so only lowercase names are accepted.
      - The built-in C(root) policy cannot be managed; C(default) can be updated but not deleted.
    type: str
    required: true
  policy:
    description:
      - The policy text in HCL (or JSON). Required when O(state=present).
      - Checked before anything is read or written (balanced braces and strings, C(path "<path>" {) blocks,
        C(capabilities = [...]), or a JSON object with C(path)); a text that is not a policy fails naming the problem.
    type: str
  state:
    description:
      - V(present) creates or updates the policy; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
author:
  - sovereign.cluster developers (@sovereign-cluster)
'''

EXAMPLES = r'''
- name: Tenant A may use only its own transit key
  sovereign.cluster.vault_policy:
    url: https://vault.example:8200
    token: "{{ vault_admin_token }}"
    name: tenant-a-transit
    policy: |
      path "transit/encrypt/tenant-a" { capabilities = ["update"] }
      path "transit/decrypt/tenant-a" { capabilities = ["update"] }

- name: Remove a policy
  sovereign.cluster.vault_policy:
    name: tenant-old-transit
    state: absent
'''

RETURN = r'''
name:
  description: Name of the policy.
  returned: always
  type: str
  sample: tenant-a-transit
policy:
  description: The policy text now on the server (the desired text in check mode); empty when absent.
  returned: always
  type: str
existed:
  description: Whether the policy existed before the run.
  returned: always
  type: bool
'''

import re

from ansible_collections.sovereign.cluster.plugins.module_utils.input_checks import hcl_policy_errors
from ansible_collections.sovereign.cluster.plugins.module_utils.vault_client import (
    VaultModule,
    api_path,
    normalize_hcl,
)

_POLICY_NAME = re.compile(r'^[a-z0-9]([a-z0-9._@-]*[a-z0-9])?$')


def validate(module):
    name = module.params['name']
    if name == 'root':
        module.fail_json(msg='name: the built-in root policy cannot be read or changed: choose another name')
    if not _POLICY_NAME.match(name or ''):
        module.fail_json(msg="name %r is not a valid policy name: use lowercase letters, digits, '.', '_', '-' "
                             "(Vault lowercases policy names)" % name)
    if module.params['state'] == 'absent' and name == 'default':
        module.fail_json(msg='name: the default policy cannot be deleted: use state=present to change it')
    if module.params['state'] == 'present' and not normalize_hcl(module.params['policy']):
        module.fail_json(msg='policy is required and must not be empty when state=present: give the HCL text')
    if module.params['state'] == 'present':
        problems = hcl_policy_errors(module.params['policy'])
        if problems:
            module.fail_json(msg='`policy` of %r is not a valid HCL or JSON policy (%s): fix the text; nothing was written'
                                 % (name, '; '.join(problems)), policy_errors=problems)


def main():
    module = VaultModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            policy=dict(type='str'),
            state=dict(type='str', default='present', choices=['present', 'absent']),
        ),
        required_if=[('state', 'present', ('policy',))],
        supports_check_mode=True,
    )
    validate(module)
    name = module.params['name']
    path = api_path('sys/policies/acl', name)

    live = module.api_get('read policy %r' % name, path)
    live_text = live.get('policy') if live else None
    if module.params['state'] == 'present':
        desired_text = module.params['policy']
        changed = live_text is None or normalize_hcl(live_text) != normalize_hcl(desired_text)
        after_text = desired_text if changed else live_text
    else:
        desired_text = None
        changed = live_text is not None
        after_text = ''

    result = dict(changed=changed, name=name, existed=live_text is not None, policy=after_text or '')
    if module._diff:
        result['diff'] = dict(before=live_text or '', after=after_text or '',
                              before_header='policy %s' % name, after_header='policy %s' % name)
    if changed and not module.check_mode:
        if desired_text is not None:
            module.api_write('write policy %r' % name, 'put', path, {'policy': desired_text}, field='policy')
        else:
            module.api_write('delete policy %r' % name, 'delete', path)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
