# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""AppRoles as a plan: the checks and the decisions of the vault_approle module, as pure functions.

* :func:`approle_input_errors`: every problem of the declared roles at once (names, TTL ranges, CIDRs,
  policies, duplicates), each naming the field and the fix; nothing is read or written before it passes.
* :func:`desired_settings`: the settings a role declares, in the canonical form of
  :func:`~ansible_collections.sovereign.cluster.plugins.module_utils.vault_api_results.vault_approle_settings`
  (TTLs in seconds, CIDRs as networks), so a value the server stores in another spelling is no change.
* :func:`plan_approles`: for every role, what the run does (``create``, ``update``, ``delete`` or ``none``),
  the fields that differ, and the settings before and after.
* :func:`transit_approles`: the AppRoles the vault_transit role declares (filter ``vault_transit_approles``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sovereign.cluster.plugins.module_utils.input_checks import Checks
from ansible_collections.sovereign.cluster.plugins.module_utils.vault_api_results import vault_approle_settings

# The settings the module manages; one a role leaves out (None) is left as the server has it.
MANAGED = ("token_policies", "token_ttl", "token_max_ttl", "secret_id_ttl", "token_bound_cidrs",
           "secret_id_bound_cidrs")
_ROLE_NAME = r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,126}[A-Za-z0-9])?$"
_POLICY_NAME = r"^[a-z0-9]([a-z0-9._@-]{0,126}[a-z0-9])?$"
_MOUNT = r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$"
MAX_TTL = 32 * 86400  # the server's default system max TTL (768h)
MAX_SECRET_ID_TTL = 10 * 365 * 86400


def _ttl(checks, field, value, low, high, fix):
    seconds = checks.duration(field, value, fix=fix)
    if seconds is not None and not low <= seconds <= high:
        return checks.fail(field, "out of range (%ds; allowed %d to %d seconds)" % (seconds, low, high), fix, value)
    return seconds


def _role_errors(checks, index, role, state, allow_any_cidr):
    field = "roles[%d]." % index
    if not isinstance(role, dict):
        checks.fail("roles[%d]" % index, "not a mapping", "give each role as {name: ..., token_policies: [...]}", role)
        return None
    name = role.get("name")
    checks.name(field + "name", name, _ROLE_NAME, "AppRole name",
                "use letters, digits, '_', '-' and '.', starting and ending with a letter or digit")
    if state == "absent":
        return name
    policies = role.get("token_policies")
    if policies is not None:
        if not isinstance(policies, (list, tuple)):
            checks.fail(field + "token_policies", "not a list", "list policy names, for example ['tenant-a-transit']",
                        policies)
        else:
            for number, policy in enumerate(policies):
                where = "%stoken_policies[%d]" % (field, number)
                if policy == "root":
                    checks.fail(where, "the root policy gives every right on the server",
                                "name a policy that holds only what the role's holder needs", policy)
                else:
                    checks.name(where, policy, _POLICY_NAME, "policy name",
                                "use lowercase letters, digits, '.', '_', '-' (Vault lowercases policy names)")
    ttl = max_ttl = None
    if role.get("token_ttl") is not None:
        ttl = _ttl(checks, field + "token_ttl", role["token_ttl"], 60, MAX_TTL,
                   "use from 60 seconds to 768h (seconds or a duration such as 1h)")
    if role.get("token_max_ttl") is not None:
        max_ttl = _ttl(checks, field + "token_max_ttl", role["token_max_ttl"], 60, MAX_TTL,
                       "use from 60 seconds to 768h (seconds or a duration such as 24h)")
    if ttl is not None and max_ttl is not None and ttl > max_ttl:
        checks.fail(field + "token_ttl", "longer than token_max_ttl (%ds)" % max_ttl,
                    "make the TTL at most the maximum TTL", role["token_ttl"])
    if role.get("secret_id_ttl") is not None:
        _ttl(checks, field + "secret_id_ttl", role["secret_id_ttl"], 0, MAX_SECRET_ID_TTL,
             "use 0 (secret_ids never expire) or a duration up to 3650d")
    for key in ("token_bound_cidrs", "secret_id_bound_cidrs"):
        if role.get(key) is not None:
            checks.cidrs(field + key, role[key], "allow_any_cidr", allow_any_cidr)
    unknown = sorted(set(role) - set(MANAGED) - {"name"})
    if unknown:
        checks.fail(field + unknown[0], "not an AppRole setting this module manages",
                    "use only name and %s" % ", ".join(MANAGED), role[unknown[0]], show=False)
    return name


def approle_input_errors(params):
    """Every problem of the module's inputs; an empty list when it may go on."""
    checks = Checks()
    checks.name("mount_point", params.get("mount_point"), _MOUNT, "auth mount path",
                "use letters, digits, '_' and '-' in '/'-separated parts, for example approle")
    roles = params.get("roles")
    if not isinstance(roles, (list, tuple)) or not roles:
        checks.fail("roles", "empty or not a list", "list at least one role: [{name: ..., token_policies: [...]}]", roles)
        return checks.errors
    seen = {}
    for index, role in enumerate(roles):
        name = _role_errors(checks, index, role, params.get("state"), params.get("allow_any_cidr"))
        if isinstance(name, str):
            if name in seen:
                checks.fail("roles[%d].name" % index, "declared twice (also roles[%d])" % seen[name],
                            "declare each AppRole once", name)
            seen.setdefault(name, index)
    if params.get("secret_id_wrap_ttl") is not None:
        _ttl(checks, "secret_id_wrap_ttl", params["secret_id_wrap_ttl"], 1, 86400,
             "use from 1 second to 24h, for example 5m (the holder unwraps it once)")
        if not params.get("issue_secret_id"):
            checks.fail("secret_id_wrap_ttl", "set without issue_secret_id", "set issue_secret_id: true, or leave it out",
                        params["secret_id_wrap_ttl"])
    if params.get("issue_secret_id") and params.get("state") == "absent":
        checks.fail("issue_secret_id", "set with state=absent", "leave it out when deleting roles", True)
    if params.get("issue_secret_id") and not params.get("task_no_log"):
        checks.fail("issue_secret_id", "the task is not no_log, so the secret_ids would show in its output and logs",
                    "set no_log: true on the task (or use secret_id_wrap_ttl and still no_log)", True)
    return checks.errors


def desired_settings(role):
    """The settings a role declares (those it leaves out are not managed), canonical."""
    return vault_approle_settings({key: role[key] for key in MANAGED if role.get(key) is not None})


def live_settings(data, keys):
    """The server's answer for one role, reduced to ``keys`` and made canonical (None: the role does not exist)."""
    if data is None:
        return None
    return vault_approle_settings({key: data.get(key) for key in keys})


def plan_approles(roles, live, state):
    """One step per role: ``{name, action, fields, before, after}``; ``live`` maps a name to its server data or None.

    ``action`` is ``create`` (missing), ``update`` (a declared setting differs: ``fields`` names them),
    ``delete`` (state=absent and it exists) or ``none``. ``before``/``after`` are the managed settings, canonical.
    """
    steps = []
    for role in roles:
        name = role["name"]
        data = live.get(name)
        if state == "absent":
            before = live_settings(data, MANAGED)
            steps.append(dict(name=name, action="delete" if data is not None else "none", fields=[],
                              before=before, after=None))
            continue
        wanted = desired_settings(role)
        before = live_settings(data, tuple(wanted))
        if before is None:
            steps.append(dict(name=name, action="create", fields=sorted(wanted), before=None, after=wanted))
            continue
        fields = sorted(key for key in wanted if wanted[key] != before.get(key))
        steps.append(dict(name=name, action="update" if fields else "none", fields=fields, before=before,
                          after=dict(before, **wanted)))
    return steps


def transit_approles(keys, defaults):
    """The AppRoles of the vault_transit role: one per key holder (``approle``), with the key's policy and the
    key's settings where it sets them, else the role-wide ``defaults``. TTLs as text (the module's option type)."""
    roles = []
    for key in keys or []:
        if not key.get("approle"):
            continue
        role = {"name": key["approle"], "token_policies": [key["policy"]]}
        for name in MANAGED[1:]:
            value = key.get(name) if key.get(name) is not None else (defaults or {}).get(name)
            if value is not None:
                role[name] = str(value) if name.endswith("_ttl") else list(value)
        roles.append(role)
    return roles
