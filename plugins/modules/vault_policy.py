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
      - One of O(name) (one policy, with O(policy) and O(state)) or O(policies) (any number) is required.
    type: str
  policies:
    description:
      - Any number of policies in one call (one client, one process), each a mapping with C(name), C(policy) and
        C(state) (default V(present)), checked as O(name) and O(policy) are.
      - Every entry is checked before the first request; a bad one fails naming C(policies[<i>]) and nothing is
        read or written. RV(policies) holds one result per entry; the diff shows the text of each changed policy.
    type: list
    elements: dict
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

- name: Every tenant's policy in one call
  sovereign.cluster.vault_policy:
    policies:
      - {name: tenant-a, policy: 'path "transit/encrypt/tenant-a" { capabilities = ["update"] }'}
      - {name: tenant-b, policy: 'path "transit/encrypt/tenant-b" { capabilities = ["update"] }'}
      - {name: tenant-old, state: absent}

- name: Remove a policy
  sovereign.cluster.vault_policy:
    name: tenant-old-transit
    state: absent
'''

RETURN = r'''
name:
  description: Name of the policy.
  returned: with O(name)
  type: str
  sample: tenant-a-transit
policy:
  description: The policy text now on the server (the desired text in check mode); empty when absent.
  returned: with O(name)
  type: str
existed:
  description: Whether the policy existed before the run.
  returned: with O(name)
  type: bool
policies:
  description: With O(policies), one entry per declared policy, in order, with C(name), C(changed) and C(existed).
  returned: with O(policies)
  type: list
  elements: dict
changed_policies:
  description: With O(policies), the names of the policies this run changed (would change, in check mode).
  returned: with O(policies)
  type: list
  elements: str
'''

import re

from ansible_collections.sovereign.cluster.plugins.module_utils.input_checks import hcl_policy_errors
from ansible_collections.sovereign.cluster.plugins.module_utils.vault_client import (
    VaultModule,
    api_path,
    normalize_hcl,
)

_POLICY_NAME = re.compile(r'^[a-z0-9]([a-z0-9._@-]*[a-z0-9])?$')


def policy_errors(name, policy, state, where=''):
    """Every problem of one declared policy; ``where`` prefixes the field names (``policies[3].``)."""
    if name == 'root':
        return ['%sname: the built-in root policy cannot be read or changed: choose another name' % where]
    if not isinstance(name, str) or not _POLICY_NAME.match(name):
        return ["%sname %r is not a valid policy name: use lowercase letters, digits, '.', '_', '-' "
                "(Vault lowercases policy names)" % (where, name)]
    if state == 'absent':
        return ['%sname: the default policy cannot be deleted: use state=present to change it' % where] if name == 'default' else []
    if not isinstance(policy, str) or not normalize_hcl(policy):
        return ['%spolicy is required and must not be empty when state=present: give the HCL text' % where]
    problems = hcl_policy_errors(policy)
    if problems:
        return ['%s`policy` of %r is not a valid HCL or JSON policy (%s): fix the text; nothing was written'
                % (where, name, '; '.join(problems))]
    return []


def plan_policy(module, name, policy, state):
    """Read one policy and plan it: (changed, live_text, after_text)."""
    live = module.api_get('read policy %r' % name, api_path('sys/policies/acl', name))
    live_text = live.get('policy') if live else None
    if state == 'present':
        changed = live_text is None or normalize_hcl(live_text) != normalize_hcl(policy)
        return changed, live_text, policy if changed else live_text
    return live_text is not None, live_text, ''


def write_policy(module, name, policy, state):
    path = api_path('sys/policies/acl', name)
    if state == 'present':
        module.api_write('write policy %r' % name, 'put', path, {'policy': policy}, field='policy')
    else:
        module.api_write('delete policy %r' % name, 'delete', path)


def run_batch(module):
    """Every entry of ``policies``: check all, read and plan all, then write what differs."""
    errors, seen, declared = [], {}, []
    for index, entry in enumerate(module.params['policies']):
        where = 'policies[%d].' % index
        if not isinstance(entry, dict):
            errors.append('policies[%d]: not a mapping; give {name: ..., policy: ...}' % index)
            continue
        name, state = entry.get('name'), entry.get('state') or 'present'
        unknown = sorted(set(entry) - {'name', 'policy', 'state'})
        if unknown:
            errors.append('%s%s: not a policy field; use name, policy and state' % (where, unknown[0]))
        if state not in ('present', 'absent'):
            errors.append('%sstate: %r is not present or absent' % (where, state))
            continue
        errors.extend(policy_errors(name, entry.get('policy'), state, where))
        if name in seen:
            errors.append('%sname: %r is declared twice (also policies[%d]); declare each policy once' % (where, name, seen[name]))
        seen.setdefault(name, index)
        declared.append((name, entry.get('policy'), state))
    if errors:
        module.fail_json(msg='vault_policy: %d bad policy declaration(s), nothing was read or written: %s'
                             % (len(errors), ' | '.join(errors)), errors=errors, policy_errors=errors)
    plans = [(name, policy, state) + plan_policy(module, name, policy, state) for name, policy, state in declared]
    if not module.check_mode:
        for name, policy, state, changed, _live, _after in plans:
            if changed:
                write_policy(module, name, policy, state)
    changed = [plan[0] for plan in plans if plan[3]]
    result = dict(changed=bool(changed), changed_policies=changed,
                  policies=[dict(name=name, changed=changed_one, existed=live is not None)
                            for name, _policy, _state, changed_one, live, _after in plans])
    if module._diff:
        result['diff'] = dict(
            before=''.join('# policy %s\n%s\n' % (plan[0], plan[4] or '') for plan in plans if plan[3]),
            after=''.join('# policy %s\n%s\n' % (plan[0], plan[5] or '') for plan in plans if plan[3]),
            before_header='policies', after_header='policies')
    module.exit_json(**result)


def main():
    module = VaultModule(
        argument_spec=dict(
            name=dict(type='str'),
            policy=dict(type='str'),
            policies=dict(type='list', elements='dict'),
            state=dict(type='str', default='present', choices=['present', 'absent']),
        ),
        mutually_exclusive=[('name', 'policies'), ('policy', 'policies')],
        required_one_of=[('name', 'policies')],
        supports_check_mode=True,
    )
    if module.params['policies'] is not None:
        run_batch(module)
    name, state = module.params['name'], module.params['state']
    problems = policy_errors(name, module.params['policy'], state)
    if problems:
        module.fail_json(msg=problems[0], policy_errors=problems)
    changed, live_text, after_text = plan_policy(module, name, module.params['policy'], state)
    result = dict(changed=changed, name=name, existed=live_text is not None, policy=after_text or '')
    if module._diff:
        result['diff'] = dict(before=live_text or '', after=after_text or '',
                              before_header='policy %s' % name, after_header='policy %s' % name)
    if changed and not module.check_mode:
        write_policy(module, name, module.params['policy'], state)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
