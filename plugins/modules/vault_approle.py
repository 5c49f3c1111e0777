#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: vault_approle
short_description: Manage Vault/OpenBao AppRoles in one call, and issue their secret_ids on request
version_added: 0.2.0
description:
  - Creates, updates or deletes any number of AppRoles at one AppRole auth mount in one module call (one
    client, one process), and enables the AppRole auth method at O(mount_point) when it is missing.
  - Every role is read first and written only when a declared setting differs. Settings are compared in the
    form the server stores them (TTLs in seconds, CIDRs as networks, policies as a set), so C(1h) against a
    stored C(3600) is no change and a second run reports C(changed=false). They are written in that form too
    (C(10.1.2.3/8) is stored as C(10.0.0.0/8)). A setting a role leaves out is left as the server has it.
  - Every input is checked before the first request (names, TTL ranges, CIDRs, policy names, duplicates);
    a bad entry fails naming the field and the fix, and nothing is read or written.
  - Check mode reports what a real run would do, also against a server where the mount does not exist yet;
    diff mode shows the settings of each changed role before and after.
  - secret_ids are never issued unless O(issue_secret_id=true), and then only from a task with C(no_log),
    optionally response-wrapped (O(secret_id_wrap_ttl)) so that only the holder can unwrap it, once.
extends_documentation_fragment:
  - sovereign.cluster.vault
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the mount and every role, and returns the per-role plan a real run would carry out; writes nothing.
  diff_mode:
    support: full
    details: Shows the managed settings of each role that changes, before and after, keyed by role name.
  platform:
    platforms: posix
options:
  mount_point:
    description:
      - Path of the AppRole auth method (C(auth/<mount_point>)).
    type: str
    default: approle
  enable_mount:
    description:
      - Enable the AppRole auth method at O(mount_point) when it is missing (with O(state=present)).
      - With V(false) a missing mount fails naming it.
    type: bool
    default: true
  roles:
    description:
      - The AppRoles. With O(state=absent) only C(name) is read.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name of the AppRole (letters, digits, C(_), C(-), C(.)).
        type: str
        required: true
      token_policies:
        description: Policies of the tokens the role logs in to. C(root) is refused.
        type: list
        elements: str
      token_ttl:
        description: TTL of those tokens (seconds or a duration such as V(1h); 60 seconds to 768h).
        type: str
      token_max_ttl:
        description: Maximum TTL of those tokens (60 seconds to 768h, at least O(roles[].token_ttl)).
        type: str
      secret_id_ttl:
        description: Lifetime of the role's secret_ids (V(0) means they never expire; up to 3650d).
        type: str
      token_bound_cidrs:
        description:
          - Networks the tokens may be used from. A network of every address (C(0.0.0.0/0), C(::/0)) needs
            O(allow_any_cidr=true).
        type: list
        elements: str
      secret_id_bound_cidrs:
        description: Networks the role may log in from (same rules as O(roles[].token_bound_cidrs)).
        type: list
        elements: str
  state:
    description:
      - V(present) creates or updates every role in O(roles); V(absent) deletes them (offboarding).
    type: str
    choices: [present, absent]
    default: present
  allow_any_cidr:
    description:
      - Acknowledge bound CIDRs that admit every address (the role could be used from anywhere).
    type: bool
    default: false
  issue_secret_id:
    description:
      - Issue one new secret_id per role (after the roles are written) and return it in RV(credentials).
      - A new secret_id is a change on every run. Refused unless the task sets C(no_log), so the secret never
        shows in output or logs. Not done in check mode.
    type: bool
    default: false
  secret_id_wrap_ttl:
    description:
      - With O(issue_secret_id=true), return a response-wrapping token of this TTL instead of the secret_id
        (V(5m) for example); the holder unwraps it once, and a token that was unwrapped by someone else fails.
    type: str
author:
  - sovereign.cluster developers (@sovereign-cluster)
'''

EXAMPLES = r'''
- name: One AppRole per tenant key holder, in one call
  sovereign.cluster.vault_approle:
    url: https://vault.example:8200
    token: "{{ vault_admin_token }}"
    roles:
      - name: kms-plugin
        token_policies: [kms-plugin-transit]
        token_ttl: 1h
        token_max_ttl: 4h
        secret_id_ttl: 0
        secret_id_bound_cidrs: [10.0.10.0/24]
      - name: tenant-a
        token_policies: [tenant-a-transit]
        token_ttl: 20m

- name: Hand the KMS plugin host a wrapped secret_id (never shown, unwrapped once by the host)
  sovereign.cluster.vault_approle:
    roles: [{name: kms-plugin}]
    issue_secret_id: true
    secret_id_wrap_ttl: 5m
  register: kms_credentials
  no_log: true

- name: Offboard tenants
  sovereign.cluster.vault_approle:
    roles: [{name: tenant-old}, {name: tenant-older}]
    state: absent
'''

RETURN = r'''
mount_created:
  description: Whether the AppRole auth method was enabled by this run (would be, in check mode).
  returned: always
  type: bool
roles:
  description:
    - One entry per declared role, in order. C(action) is C(create), C(update), C(delete) or C(none);
      C(fields) names the settings that differ; C(after) holds the managed settings (canonical) after the run.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: tenant-a, action: update, fields: [token_ttl], after: {token_policies: [tenant-a-transit], token_ttl: 1200}}
changed_roles:
  description: Names of the roles this run created, updated or deleted (would, in check mode).
  returned: always
  type: list
  elements: str
credentials:
  description:
    - With O(issue_secret_id=true) (not in check mode), per role name its C(role_id) and either C(secret_id)
      and C(secret_id_accessor), or C(wrapping_token) and C(wrapping_accessor) with O(secret_id_wrap_ttl).
    - These are secrets, only ever returned to a task with C(no_log).
  returned: when issue_secret_id
  type: dict
'''

from ansible_collections.sovereign.cluster.plugins.module_utils.vault_approles import (
    approle_input_errors,
    desired_settings,
    plan_approles,
)
from ansible_collections.sovereign.cluster.plugins.module_utils.vault_client import VaultModule, api_path

# Settings and lifetimes, not secrets (their names only sound like it).
_ROLE_OPTIONS = dict(
    name=dict(type='str', required=True),
    token_policies=dict(type='list', elements='str', no_log=False),
    token_ttl=dict(type='str', no_log=False),
    token_max_ttl=dict(type='str', no_log=False),
    secret_id_ttl=dict(type='str', no_log=False),
    token_bound_cidrs=dict(type='list', elements='str', no_log=False),
    secret_id_bound_cidrs=dict(type='list', elements='str', no_log=False),
)


def _validate(module):
    params = dict(module.params, task_no_log=module.no_log)
    params['roles'] = [{key: value for key, value in role.items() if value is not None} for role in params['roles'] or []]
    errors = approle_input_errors(params)
    if errors:
        module.fail_json(msg='vault_approle: %d bad input(s), nothing was read or written: %s'
                             % (len(errors), ' | '.join(errors)), errors=errors)
    return params['roles']


def _mount_state(module, mount):
    """(exists, ok): whether ``auth/<mount>`` is enabled, refusing a mount of another type."""
    auth = module.api_get('read the enabled auth methods', api_path('sys/auth'), missing_ok=False) or {}
    entry = auth.get(mount + '/')
    if entry is None:
        return False
    if entry.get('type') != 'approle':
        module.fail_json(msg='mount_point %r is an auth method of type %r, not approle: choose another mount_point'
                             % (mount, entry.get('type')))
    return True


def _issue(module, mount, name, wrap_ttl):
    path = api_path('auth', mount, 'role', name)
    role_id = (module.api_get('read the role_id of AppRole %r' % name, path + '/role-id', missing_ok=False) or {})
    kwargs = {'wrap_ttl': wrap_ttl} if wrap_ttl else {}
    answer = module.vault_call('issue a secret_id for AppRole %r' % name, module.client.adapter.post,
                               path + '/secret-id', json={}, **kwargs) or {}
    credentials = {'role_id': role_id.get('role_id')}
    if wrap_ttl:
        wrap = answer.get('wrap_info') or {}
        credentials.update(wrapping_token=wrap.get('token'), wrapping_accessor=wrap.get('accessor'))
    else:
        data = answer.get('data') or {}
        credentials.update(secret_id=data.get('secret_id'), secret_id_accessor=data.get('secret_id_accessor'))
    return credentials


def main():
    module = VaultModule(
        argument_spec=dict(
            mount_point=dict(type='str', default='approle'),
            enable_mount=dict(type='bool', default=True),
            roles=dict(type='list', elements='dict', required=True, options=_ROLE_OPTIONS),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            allow_any_cidr=dict(type='bool', default=False),
            issue_secret_id=dict(type='bool', default=False),
            secret_id_wrap_ttl=dict(type='str', no_log=False),  # a lifetime, not a secret
        ),
        supports_check_mode=True,
    )
    roles = _validate(module)
    mount = module.params['mount_point'].strip('/')
    state = module.params['state']

    mounted = _mount_state(module, mount)
    if not mounted and state == 'present' and not module.params['enable_mount']:
        module.fail_json(msg='mount_point %r: no AppRole auth method is enabled there; enable it, or set '
                             'enable_mount: true' % mount)
    live = {}
    for role in roles:
        path = api_path('auth', mount, 'role', role['name'])
        live[role['name']] = module.api_get('read AppRole %r' % role['name'], path) if mounted else None
    steps = plan_approles(roles, live, state)
    mount_created = not mounted and state == 'present'
    changed_roles = [step['name'] for step in steps if step['action'] != 'none']
    result = dict(changed=bool(changed_roles) or mount_created, mount_created=mount_created,
                  changed_roles=changed_roles,
                  roles=[{key: step[key] for key in ('name', 'action', 'fields', 'after')} for step in steps])
    if module._diff:
        result['diff'] = dict(before={step['name']: step['before'] for step in steps if step['action'] != 'none'},
                              after={step['name']: step['after'] for step in steps if step['action'] != 'none'},
                              before_header='auth/%s roles' % mount, after_header='auth/%s roles' % mount)
    if module.check_mode:
        module.exit_json(**result)

    if mount_created:
        module.api_write('enable AppRole at mount_point %r' % mount, 'post', api_path('sys/auth', mount),
                         {'type': 'approle'}, field='mount_point')
    by_name = dict((role['name'], role) for role in roles)
    for step in steps:
        path = api_path('auth', mount, 'role', step['name'])
        if step['action'] == 'delete':
            module.api_write('delete AppRole %r' % step['name'], 'delete', path)
        elif step['action'] != 'none':
            module.api_write('write AppRole %r (its TTLs, policies and bound CIDRs)' % step['name'], 'post', path,
                             desired_settings(by_name[step['name']]), field='roles')
    if module.params['issue_secret_id']:
        wrap_ttl = module.params['secret_id_wrap_ttl']
        result['credentials'] = dict((role['name'], _issue(module, mount, role['name'], wrap_ttl)) for role in roles)
        result['changed'] = True
    module.exit_json(**result)


if __name__ == '__main__':
    main()
