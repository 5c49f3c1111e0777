#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: vault_transit_key
short_description: Manage a Vault/OpenBao transit encryption key and its rotation
version_added: 0.1.0
description:
  - Creates a named key in a transit secrets engine, keeps its configuration as declared
    (rotation period, minimum decryption/encryption versions, deletion protection), rotates it
    when its newest version is older than O(rotate_if_older_than), or deletes it.
  - Reads the key first and changes only what differs, so a second run reports C(changed=false).
    Check mode predicts the changes without making them; diff mode shows the configuration before and after.
  - Never returns key material, only the configuration and the creation date of each version.
  - Safe defaults for a sovereign platform, enforced on every run
    (SecNumCloud / ANSSI) are O(deletion_allowed=false), O(exportable=false),
    O(allow_plaintext_backup=false). O(exportable=true) and O(allow_plaintext_backup=true) can
    never be undone on a key, so they are refused unless O(allow_irreversible=true).
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
      - Name of the transit key (letters, digits, C(_), C(-), C(.)).
      - One of O(name) (one key, configured by the options below) or O(keys) (any number of keys) is required.
    type: str
  keys:
    description:
      - Any number of keys at O(mount_point) in one call (one client, one process), each a mapping of the per-key
        options of this module (C(name), C(state), C(type), C(derived), C(convergent_encryption), C(auto_rotate_period),
        C(rotate_if_older_than), C(min_decryption_version), C(min_encryption_version), C(deletion_allowed),
        C(exportable), C(allow_plaintext_backup), C(force_delete)), with the same defaults.
      - Every entry is checked and planned before the first write; an entry that cannot be planned fails the call,
        naming C(keys[<i>]) and the key, and nothing is written. RV(keys) holds one result per entry.
    type: list
    elements: dict
  mount_point:
    description:
      - Path where the transit secrets engine is mounted.
    type: str
    default: transit
  state:
    description:
      - V(present) creates the key if needed and applies the configuration.
      - V(absent) deletes the key. Deleting makes every ciphertext made with it unreadable, so it
        is only done when the live key has C(deletion_allowed=true) or O(force_delete=true).
    type: str
    choices: [present, absent]
    default: present
  type:
    description:
      - Key type. Used when the key is created (V(aes256-gcm96) when omitted).
      - The type of an existing key cannot change; a different value fails with the reason.
    type: str
    choices: [aes128-gcm96, aes256-gcm96, chacha20-poly1305, ed25519, ecdsa-p256, ecdsa-p384, ecdsa-p521, rsa-2048, rsa-3072, rsa-4096]
  derived:
    description:
      - Key derivation (a context is required on every operation). Creation time only.
    type: bool
  convergent_encryption:
    description:
      - Convergent encryption (needs O(derived=true)). Creation time only.
    type: bool
  auto_rotate_period:
    description:
      - Let the server rotate the key automatically at this interval, for example V(90d) or V(720h).
      - V(0) turns automatic rotation off. Must be V(0) or at least one hour.
      - Left unchanged when omitted.
    type: str
  rotate_if_older_than:
    description:
      - Rotate the key now when its newest version is older than this age (for example V(90d)).
      - Durations are seconds or numbers with units C(s), C(m), C(h), C(d), C(w).
    type: str
  min_decryption_version:
    description:
      - Oldest key version that may still decrypt. Left unchanged when omitted.
    type: int
  min_encryption_version:
    description:
      - Key version used to encrypt (V(0) means the newest). Left unchanged when omitted.
    type: int
  deletion_allowed:
    description:
      - Whether the server allows the key to be deleted.
    type: bool
    default: false
  exportable:
    description:
      - Whether the key material may be exported. Cannot be turned off again once on.
      - V(true) requires O(allow_irreversible=true).
    type: bool
    default: false
  allow_plaintext_backup:
    description:
      - Whether a plaintext backup of the key may be taken. Cannot be turned off again once on.
      - V(true) requires O(allow_irreversible=true).
    type: bool
    default: false
  allow_irreversible:
    description:
      - Acknowledge that O(exportable=true) or O(allow_plaintext_backup=true) can never be reverted.
    type: bool
    default: false
  force_delete:
    description:
      - With O(state=absent), delete the key even when its live C(deletion_allowed) is false
        (the module turns it on, then deletes).
    type: bool
    default: false
author:
  - sovereign.cluster developers (@sovereign-cluster)
'''

EXAMPLES = r'''
- name: Tenant key, rotated by the server every 30 days, never exportable or deletable
  sovereign.cluster.vault_transit_key:
    url: https://vault.example:8200
    auth_method: approle
    role_id: "{{ vault_role_id }}"
    secret_id: "{{ vault_secret_id }}"
    name: tenant-a
    auto_rotate_period: 30d

- name: Rotate now if the newest version is older than 90 days, and stop decrypting version 1
  sovereign.cluster.vault_transit_key:
    name: kms-cluster1
    rotate_if_older_than: 90d
    min_decryption_version: 2

- name: Every tenant's key in one call
  sovereign.cluster.vault_transit_key:
    keys:
      - {name: tenant-a, auto_rotate_period: 30d}
      - {name: tenant-b, auto_rotate_period: 30d, min_decryption_version: 2}

- name: Offboard a tenant (explicit guard)
  sovereign.cluster.vault_transit_key:
    name: tenant-old
    state: absent
    force_delete: true
'''

RETURN = r'''
key:
  description:
    - The key after the run (the prediction in check mode); empty when absent.
    - Configuration and version dates only, never key material.
  returned: with O(name)
  type: dict
  sample:
    name: tenant-a
    type: aes256-gcm96
    latest_version: 2
    min_decryption_version: 1
    min_encryption_version: 0
    min_available_version: 0
    deletion_allowed: false
    exportable: false
    allow_plaintext_backup: false
    auto_rotate_period: 2592000
    derived: false
    convergent_encryption: false
    versions: {"1": "2026-01-01T10:00:00Z", "2": "2026-04-01T10:00:00Z"}
rotated:
  description: Whether the key was (or, in check mode, would be) rotated.
  returned: with O(name)
  type: bool
actions:
  description: The planned actions in order (create, rotate, configure, delete).
  returned: with O(name)
  type: list
  elements: str
  sample: [create, configure]
keys:
  description:
    - With O(keys), one entry per declared key, in order, each with C(name), C(actions), C(rotated) and C(key)
      (as the single-key results above).
  returned: with O(keys)
  type: list
  elements: dict
changed_keys:
  description: With O(keys), the names of the keys this run changed (would change, in check mode).
  returned: with O(keys)
  type: list
  elements: str
'''

import time

from ansible_collections.sovereign.cluster.plugins.module_utils.vault_client import (
    TRANSIT_KEY_TYPES,
    VaultModule,
    VaultPlanError,
    api_path,
    parse_duration,
    plan_transit_key,
    transit_report,
    validate_name,
)


def desired_state(params):
    """Module parameters with durations in seconds; VaultPlanError names a bad field."""
    desired = dict(params)
    try:
        validate_name(params['name'], 'name', 'transit key')
        for field in ('auto_rotate_period', 'rotate_if_older_than'):
            if params[field] is not None:
                desired[field] = parse_duration(params[field], field)
    except ValueError as exc:
        raise VaultPlanError(str(exc))
    if desired['rotate_if_older_than'] == 0:
        raise VaultPlanError('rotate_if_older_than must be a positive age such as "90d" (omit it to never force a rotation)')
    return desired


def apply(module, plan, name, mount_point):
    keys_path = api_path(mount_point, 'keys', name)
    where = 'transit key %r at mount %r' % (name, mount_point)
    for verb, payload in plan['actions']:
        if verb == 'create':
            body = dict(payload)
            module.api_write('create ' + where, 'post', keys_path, body, mount_point=mount_point, field='type')
        elif verb == 'rotate':
            module.api_write('rotate ' + where, 'post', api_path(mount_point, 'keys', name, 'rotate'), {},
                             mount_point=mount_point)
        elif verb == 'configure':
            field = ', '.join(sorted(payload))
            module.api_write('configure ' + where, 'post', api_path(mount_point, 'keys', name, 'config'), payload,
                             mount_point=mount_point, field=field)
        elif verb == 'delete':
            module.api_write('delete ' + where, 'delete', keys_path, mount_point=mount_point)


_KEY_OPTIONS = dict(
    name=dict(type='str'),
    state=dict(type='str', default='present', choices=['present', 'absent']),
    type=dict(type='str', choices=list(TRANSIT_KEY_TYPES)),
    derived=dict(type='bool'),
    convergent_encryption=dict(type='bool'),
    auto_rotate_period=dict(type='str'),
    rotate_if_older_than=dict(type='str'),
    min_decryption_version=dict(type='int'),
    min_encryption_version=dict(type='int'),
    deletion_allowed=dict(type='bool', default=False),
    exportable=dict(type='bool', default=False),
    allow_plaintext_backup=dict(type='bool', default=False),
    force_delete=dict(type='bool', default=False),
)


def plan_key(module, desired, mount_point, where=''):
    """Read one key and plan it: (plan, live); a plan error fails naming ``where`` (the entry in ``keys``)."""
    name = desired['name']
    live = module.api_get('read transit key %r at mount %r' % (name, mount_point), api_path(mount_point, 'keys', name),
                          mount_point=mount_point)
    try:
        return plan_transit_key(desired, live, int(time.time())), live
    except VaultPlanError as exc:
        module.fail_json(msg=where + str(exc) + ('; nothing was written' if where else ''), key=transit_report(live))


def key_result(module, plan, live, name, mount_point, state):
    """Apply one planned key (not in check mode) and return its result entry."""
    changed = bool(plan['actions'])
    entry = dict(name=name, changed=changed, rotated=plan['rotate'], actions=[verb for verb, _payload in plan['actions']])
    if not changed:
        entry['key'] = transit_report(live)
    elif module.check_mode:
        entry['key'] = dict(plan['after'], name=name) if plan['after'] else {}
    else:
        apply(module, plan, name, mount_point)
        entry['key'] = transit_report(module.api_get('read transit key %r back' % name, api_path(mount_point, 'keys', name),
                                                     mount_point=mount_point)) if state == 'present' else {}
    return entry


def run_batch(module, mount_point):
    """Every entry of ``keys``: check all, read and plan all, then write; one result per entry."""
    entries, errors, seen = [], [], {}
    for index, given in enumerate(module.params['keys']):
        where = 'keys[%d]' % index
        if not isinstance(given, dict):
            errors.append('%s: not a mapping; give {name: ..., auto_rotate_period: ...}' % where)
            continue
        unknown = sorted(set(given) - set(_KEY_OPTIONS))
        if unknown:
            errors.append('%s.%s: not a per-key option; use %s' % (where, unknown[0], ', '.join(sorted(_KEY_OPTIONS))))
            continue
        spec = dict((key, option.get('default')) for key, option in _KEY_OPTIONS.items())
        spec.update((key, value) for key, value in given.items() if value is not None)
        for key in ('min_decryption_version', 'min_encryption_version'):  # the option types, as Ansible converts them
            if isinstance(spec[key], str) and spec[key].strip().isdigit():
                spec[key] = int(spec[key])
        for key in ('derived', 'convergent_encryption', 'deletion_allowed', 'exportable', 'allow_plaintext_backup',
                    'force_delete'):
            if isinstance(spec[key], str) and spec[key].lower() in ('true', 'false', 'yes', 'no'):
                spec[key] = spec[key].lower() in ('true', 'yes')
        bad = [key for key in ('state', 'type') if spec[key] is not None and spec[key] not in _KEY_OPTIONS[key].get(
            'choices', ())]
        if bad:
            errors.append('%s.%s: %r is not one of %s' % (where, bad[0], spec[bad[0]], ', '.join(_KEY_OPTIONS[bad[0]]['choices'])))
            continue
        if not spec.get('name'):
            errors.append('%s.name: is required; give the key its name' % where)
            continue
        if spec['name'] in seen:
            errors.append('%s.name: %r is declared twice (also keys[%d]); declare each key once'
                          % (where, spec['name'], seen[spec['name']]))
            continue
        seen[spec['name']] = index
        try:
            entries.append((where, desired_state(dict(spec, allow_irreversible=module.params['allow_irreversible']))))
        except VaultPlanError as exc:
            errors.append('%s (%s): %s' % (where, spec['name'], exc))
    if errors:
        module.fail_json(msg='vault_transit_key: %d bad key(s), nothing was read or written: %s'
                             % (len(errors), ' | '.join(errors)), errors=errors)
    plans = [(desired, plan_key(module, desired, mount_point, '%s (%s): ' % (where, desired['name'])))
             for where, desired in entries]
    results = [key_result(module, plan, live, desired['name'], mount_point, desired['state'])
               for desired, (plan, live) in plans]
    changed = [entry['name'] for entry in results if entry['changed']]
    result = dict(changed=bool(changed), changed_keys=changed, keys=results)
    if module._diff:
        result['diff'] = dict(before=dict((d['name'], p['before']) for d, (p, _live) in plans if p['actions']),
                              after=dict((d['name'], p['after']) for d, (p, _live) in plans if p['actions']),
                              before_header='transit keys at %s' % mount_point, after_header='transit keys at %s' % mount_point)
    module.exit_json(**result)


def main():
    single = dict((key, dict(value)) for key, value in _KEY_OPTIONS.items())
    module = VaultModule(
        argument_spec=dict(
            single,
            keys=dict(type='list', elements='dict', no_log=False),  # checked entry by entry, against _KEY_OPTIONS
            mount_point=dict(type='str', default='transit'),
            allow_irreversible=dict(type='bool', default=False),
        ),
        mutually_exclusive=[('name', 'keys')],
        required_one_of=[('name', 'keys')],
        supports_check_mode=True,
    )
    mount_point = module.params['mount_point'].strip('/')
    if module.params['keys'] is not None:
        run_batch(module, mount_point)
    name = module.params['name']
    try:
        desired = desired_state(module.params)
    except VaultPlanError as exc:
        module.fail_json(msg=str(exc))

    plan, live = plan_key(module, desired, mount_point)
    entry = key_result(module, plan, live, name, mount_point, module.params['state'])
    result = dict(changed=entry['changed'], rotated=entry['rotated'], actions=entry['actions'], key=entry['key'])
    if module._diff:
        result['diff'] = dict(before=plan['before'], after=plan['after'],
                              before_header='transit key %s/%s' % (mount_point, name),
                              after_header='transit key %s/%s' % (mount_point, name))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
