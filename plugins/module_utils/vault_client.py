# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared Vault/OpenBao client for the sovereign.cluster vault_* modules.

Two halves:

* pure functions (duration parsing, HCL normalisation, option comparison, error wording and the
  transit key / audit device plans) that the unit tests exercise without a server;
* ``VaultModule``, an ``AnsibleModule`` that adds the shared connection and authentication options
  (documented once in the ``sovereign.cluster.vault`` doc fragment), builds an authenticated hvac
  client and turns every hvac/requests failure into an error message that says what to do.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import re
import time
import traceback

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

try:
    from urllib.parse import quote as _url_quote
except ImportError:  # pragma: no cover - Python 2 is not supported, kept for the sanity import test
    from urllib import quote as _url_quote  # type: ignore

HVAC_IMPORT_ERROR = None
try:
    import hvac
    import hvac.exceptions  # noqa: F401  (makes hvac.exceptions available on every hvac version)
except ImportError:
    HAS_HVAC = False
    HVAC_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_HVAC = True


class VaultPlanError(ValueError):
    """The declared state cannot be reached; the message names the field and the fix."""


# ---------------------------------------------------------------------------------------------
# Connection / authentication options: the single source (see doc_fragments/vault.py)
# ---------------------------------------------------------------------------------------------

AUTH_METHODS = ('token', 'approle')


def vault_argument_spec():
    """Connection and auth options shared by every vault_* module (a fresh dict each call)."""
    return dict(
        url=dict(type='str', fallback=(env_fallback, ['VAULT_ADDR', 'BAO_ADDR'])),
        auth_method=dict(type='str', default='token', choices=list(AUTH_METHODS)),
        token=dict(type='str', no_log=True, fallback=(env_fallback, ['VAULT_TOKEN', 'BAO_TOKEN'])),
        role_id=dict(type='str', no_log=True),
        secret_id=dict(type='str', no_log=True),
        auth_mount_point=dict(type='str', default='approle'),
        namespace=dict(type='str', fallback=(env_fallback, ['VAULT_NAMESPACE', 'BAO_NAMESPACE'])),
        ca_cert=dict(type='str', fallback=(env_fallback, ['VAULT_CACERT', 'BAO_CACERT'])),
        validate_certs=dict(type='bool', default=True),
        timeout=dict(type='int', default=30),
    )


# ---------------------------------------------------------------------------------------------
# Pure helpers
# ---------------------------------------------------------------------------------------------

_DURATION_UNITS = (('w', 7 * 86400), ('d', 86400), ('h', 3600), ('m', 60), ('s', 1))
_DURATION_PART = re.compile(r'(\d+)([wdhms])')


def parse_duration(value, field):
    """Seconds for ``value`` (int, "3600", "90d", "1h30m", "2w"); ValueError naming ``field``."""
    if isinstance(value, bool):
        raise ValueError('%s must be a duration, not a boolean: use seconds or e.g. "90d", "12h"' % field)
    if isinstance(value, int):
        if value < 0:
            raise ValueError('%s %d is negative: use 0 or a positive duration such as "90d"' % (field, value))
        return value
    text = str(value).strip().lower()
    if text.isdigit():
        return int(text)
    units = dict(_DURATION_UNITS)
    pos = 0
    total = 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += int(match.group(1)) * units[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise ValueError(
            '%s %r is not a duration: use seconds or numbers with a unit s, m, h, d, w (e.g. "90d", "1h30m")'
            % (field, value))
    return total


def format_duration(seconds):
    """Shortest exact text for a number of seconds: 7776000 -> "90d", 5400 -> "1h30m", 0 -> "0s"."""
    seconds = int(seconds)
    if seconds == 0:
        return '0s'
    parts = []
    for unit, size in _DURATION_UNITS[1:]:  # days are clearer than weeks in reports
        if seconds >= size:
            parts.append('%d%s' % (seconds // size, unit))
            seconds %= size
    return ''.join(parts)


_WORD_CHAR = re.compile(r'[\w.\-*+/]')


def normalize_hcl(text):
    """Canonical form of an HCL policy: comments and layout whitespace removed, strings kept.

    Two policies with the same normalised text grant the same rights, so the module does not
    rewrite a policy for an indentation, comment or trailing-comma difference.
    """
    text = (text or '').replace('\r\n', '\n')
    out = []
    i = 0
    size = len(text)
    pending_space = False
    while i < size:
        char = text[i]
        if char == '"':
            end = i + 1
            while end < size and text[end] != '"':
                end += 2 if text[end] == '\\' else 1
            token = text[i:end + 1]
            i = end + 1
        elif char == '#' or text.startswith('//', i):
            newline = text.find('\n', i)
            i = size if newline < 0 else newline
            pending_space = True
            continue
        elif text.startswith('/*', i):
            close = text.find('*/', i + 2)
            i = size if close < 0 else close + 2
            pending_space = True
            continue
        elif char.isspace():
            pending_space = True
            i += 1
            continue
        else:
            token = char
            i += 1
        if pending_space and out and _WORD_CHAR.match(out[-1][-1]) and _WORD_CHAR.match(token[0]):
            out.append(' ')
        pending_space = False
        out.append(token)
    canon = ''.join(out)
    return re.sub(r',([\]}])', r'\1', canon)


_BOOL_AUDIT_OPTIONS = frozenset(('elide_list_responses', 'fallback', 'hmac_accessor', 'log_raw'))
_TRUE_TEXT = frozenset(('1', 't', 'true', 'yes', 'on'))
_FALSE_TEXT = frozenset(('0', 'f', 'false', 'no', 'off'))


def normalize_audit_options(options):
    """Audit options as the server stores them: strings, booleans as "1"/"0" (Go mapstructure)."""
    normalized = {}
    for key, value in (options or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = '1' if value else '0'
        else:
            text = str(value)
        if key in _BOOL_AUDIT_OPTIONS:
            lowered = text.strip().lower()
            if lowered in _TRUE_TEXT:
                text = '1'
            elif lowered in _FALSE_TEXT:
                text = '0'
        normalized[str(key)] = text
    return normalized


def changed_fields(desired, live):
    """``{field: {"before": live, "after": desired}}`` for every desired field (not None) that differs."""
    changes = {}
    for field in sorted(desired):
        want = desired[field]
        if want is None:
            continue
        have = live.get(field) if live else None
        if have != want:
            changes[field] = {'before': have, 'after': want}
    return changes


def _exception_names(exc):
    return [klass.__name__ for klass in type(exc).__mro__]


def _vault_errors_text(exc):
    errors = getattr(exc, 'errors', None)
    if isinstance(errors, (list, tuple)):
        text = '; '.join(str(e) for e in errors if e)
    else:
        text = str(errors or '')
    if not text:
        text = str(exc)
        text = re.sub(r', on \w+ https?://\S+$', '', text)
    return text if text and text != 'None' else ''


def is_missing_mount(message):
    """True when a 404 means "no secrets engine here" rather than "no such object"."""
    return 'no handler for route' in (message or '') or 'route entry not found' in (message or '')


def is_audit_api_refused(message):
    """True for OpenBao 2.x's refusal to manage audit devices through the API."""
    text = (message or '').lower()
    return ('via api' in text and 'audit device' in text) or 'configuration-managed audit device' in text


def describe_vault_error(exc, action, url=None, field=None, mount_point=None):
    """A message for ``exc`` raised while doing ``action`` that names the cause and the fix.

    Works on class names so it needs neither hvac nor requests to be importable.
    """
    names = _exception_names(exc)
    detail = _vault_errors_text(exc)
    where = url or 'the server'
    if 'VaultDown' in names:
        if 'seal' in detail.lower():
            return ('cannot %s: Vault/OpenBao at %s is sealed: unseal it (bao operator unseal, or the '
                    'sovereign.cluster.vault_server role) and run again' % (action, where))
        return ('cannot %s: Vault/OpenBao at %s is unavailable (503: %s): check that it is unsealed and '
                'active, then run again' % (action, where, detail or 'no detail'))
    if 'VaultNotInitialized' in names:
        return ('cannot %s: Vault/OpenBao at %s is not initialized: initialize and unseal it first '
                '(bao operator init, or the sovereign.cluster.vault_server role)' % (action, where))
    if 'Forbidden' in names or 'Unauthorized' in names:
        return ('cannot %s: permission denied (403) by %s: the token given in `token` (or VAULT_TOKEN) or '
                'obtained through AppRole is invalid, expired, or its policies do not allow this path; '
                'use a token whose policy grants it' % (action, where))
    if 'InvalidPath' in names and is_missing_mount(detail):
        return ('cannot %s: nothing is mounted at `mount_point` %r on %s (%s): enable the engine there '
                '(e.g. bao secrets enable -path=%s transit) or fix `mount_point`'
                % (action, mount_point, where, detail, mount_point or '<path>'))
    if 'InvalidRequest' in names:
        if field:
            return 'cannot %s: the server rejected `%s`: %s: fix `%s`' % (action, field, detail, field)
        return 'cannot %s: the server rejected the request: %s' % (action, detail)
    if 'SSLError' in names and 'WRONG_VERSION_NUMBER' in str(exc):
        return ('cannot %s: %s does not speak TLS on that port: use an http:// `url` or enable TLS on the '
                'server listener' % (action, where))
    if 'SSLError' in names:
        return ('cannot %s: TLS verification of %s failed (%s): set `ca_cert` (or VAULT_CACERT) to the CA '
                'that signed the server certificate' % (action, where, exc))
    if 'Timeout' in names or 'ConnectTimeout' in names or 'ReadTimeout' in names:
        return ('cannot %s: %s did not answer within `timeout` seconds: check the server and the network, '
                'or raise `timeout`' % (action, where))
    if 'ConnectionError' in names:
        return ('cannot %s: Vault/OpenBao is unreachable at %s: check `url` (or VAULT_ADDR), that the server '
                'is running and listening there, and the firewall between' % (action, where))
    return 'cannot %s: %s: %s' % (action, type(exc).__name__, detail or exc)


# ---------------------------------------------------------------------------------------------
# Transit key plan
# ---------------------------------------------------------------------------------------------

TRANSIT_KEY_TYPES = ('aes128-gcm96', 'aes256-gcm96', 'chacha20-poly1305', 'ed25519', 'ecdsa-p256',
                     'ecdsa-p384', 'ecdsa-p521', 'rsa-2048', 'rsa-3072', 'rsa-4096')
TRANSIT_DEFAULT_TYPE = 'aes256-gcm96'
# Fields shown in diffs and returned to the playbook (never key material).
TRANSIT_REPORT_FIELDS = ('type', 'derived', 'convergent_encryption', 'exportable', 'allow_plaintext_backup',
                         'deletion_allowed', 'auto_rotate_period', 'min_decryption_version',
                         'min_encryption_version', 'min_available_version', 'latest_version')
_NAME_RE = re.compile(r'^\w([\w.-]*\w)?$')


def validate_name(value, field, what):
    """Vault names (keys, roles, audit paths) are word characters, '.', '-' inside."""
    if not value or not _NAME_RE.match(value):
        raise VaultPlanError(
            "%s %r is not a valid %s name: use letters, digits, '_', '-' and '.' (no '/' or spaces), "
            'starting and ending with a letter or digit' % (field, value, what))


def key_version_times(live):
    """``{version(int): creation epoch seconds(int)}`` from a transit key read, whatever its type."""
    times = {}
    for version, info in (live.get('keys') or {}).items():
        if isinstance(info, dict):
            stamp = info.get('creation_time') or ''
            times[int(version)] = _parse_rfc3339(stamp)
        else:
            times[int(version)] = int(info)
    return times


def _parse_rfc3339(stamp):
    match = re.match(r'^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$', stamp)
    if not match:
        raise ValueError('unexpected key creation_time %r' % stamp)
    seconds = calendar.timegm(time.strptime(match.group(1), '%Y-%m-%dT%H:%M:%S'))
    offset = match.group(3)
    if offset != 'Z':
        sign = 1 if offset[0] == '+' else -1
        seconds -= sign * (int(offset[1:3]) * 3600 + int(offset[4:6]) * 60)
    return int(seconds)


def transit_report(live):
    """The public view of a transit key: configuration and version dates, no key material."""
    if not live:
        return {}
    report = dict((field, live.get(field)) for field in TRANSIT_REPORT_FIELDS)
    report['name'] = live.get('name')
    report['convergent_encryption'] = bool(live.get('convergent_encryption', False))
    report['auto_rotate_period'] = int(live.get('auto_rotate_period') or 0)
    report['versions'] = dict(
        (str(version), time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(stamp)))
        for version, stamp in sorted(key_version_times(live).items()))
    for flag in ('supports_encryption', 'supports_decryption', 'supports_signing', 'supports_derivation'):
        if flag in live:
            report[flag] = live[flag]
    return report


def _diff_view(report):
    return dict((k, v) for k, v in report.items() if k in TRANSIT_REPORT_FIELDS)


def plan_transit_key(desired, live, now):
    """Actions that turn ``live`` (a transit key read, or None) into ``desired``.

    ``desired`` holds the module parameters with durations already in seconds. Returns a dict:
    ``actions`` (list of (verb, payload) in order: create, rotate, configure, delete),
    ``before``/``after`` (diffable views), ``rotate`` (bool). Raises VaultPlanError when the
    declared state cannot be reached, before anything is changed.
    """
    name = desired['name']
    actions = []
    before = _diff_view(transit_report(live)) if live else {}
    if desired['state'] == 'absent':
        if not live:
            return {'actions': [], 'before': {}, 'after': {}, 'rotate': False}
        if not live.get('deletion_allowed') and not desired.get('force_delete'):
            raise VaultPlanError(
                'transit key %r has deletion_allowed=false on the server, so state=absent would destroy a key '
                'that is protected against deletion (and every ciphertext made with it becomes unreadable): '
                'set force_delete: true to delete it anyway, or first set deletion_allowed: true' % name)
        if not live.get('deletion_allowed'):
            actions.append(('configure', {'deletion_allowed': True}))
        actions.append(('delete', {}))
        return {'actions': actions, 'before': before, 'after': {}, 'rotate': False}

    for flag in ('exportable', 'allow_plaintext_backup'):
        if desired.get(flag) and not desired.get('allow_irreversible'):
            raise VaultPlanError(
                '%s: true can never be undone on a transit key (the key material becomes extractable): '
                'this collection refuses it unless allow_irreversible: true is also set' % flag)

    if live:
        for field in ('type', 'derived', 'convergent_encryption'):
            want = desired.get(field)
            have = live.get('type') if field == 'type' else bool(live.get(field, False))
            if want is not None and want != have:
                raise VaultPlanError(
                    '%s of transit key %r is %r on the server and cannot change after creation (asked for %r): '
                    'keep %s: %r, or create a key under a new name and rewrap the data'
                    % (field, name, have, want, field, have))
        for flag in ('exportable', 'allow_plaintext_backup'):
            if live.get(flag) and desired.get(flag) is False:
                raise VaultPlanError(
                    '%s is already true on transit key %r and can never be turned off: set %s: true to accept '
                    'it, or replace the key (new name + rewrap)' % (flag, name, flag))
        latest = int(live.get('latest_version') or 1)
    else:
        create = {'type': desired.get('type') or TRANSIT_DEFAULT_TYPE}
        for field in ('derived', 'convergent_encryption', 'exportable', 'allow_plaintext_backup'):
            if desired.get(field):
                create[field] = True
        if desired.get('convergent_encryption') and not desired.get('derived'):
            raise VaultPlanError('convergent_encryption: true needs derived: true: set both, or neither')
        if desired.get('auto_rotate_period') is not None:
            create['auto_rotate_period'] = desired['auto_rotate_period']
        actions.append(('create', create))
        latest = 1

    rotate = False
    threshold = desired.get('rotate_if_older_than')
    if live and threshold:
        times = key_version_times(live)
        created = times.get(latest)
        if created is not None and now - created > threshold:
            rotate = True
            actions.append(('rotate', {}))
            latest += 1

    period = desired.get('auto_rotate_period')
    if period is not None and period != 0 and period < 3600:
        raise VaultPlanError('auto_rotate_period must be 0 (off) or at least 1h, got %ss: use e.g. "30d"' % period)
    min_dec = desired.get('min_decryption_version')
    min_enc = desired.get('min_encryption_version')
    if min_dec is not None and not 1 <= min_dec <= latest:
        raise VaultPlanError(
            'min_decryption_version %d is out of range: transit key %r will have versions 1..%d, so use a value '
            'in 1..%d (rotate first to retire older versions)' % (min_dec, name, latest, latest))
    live_min_dec = min_dec if min_dec is not None else int((live or {}).get('min_decryption_version') or 1)
    if min_enc is not None and min_enc != 0 and not live_min_dec <= min_enc <= latest:
        raise VaultPlanError(
            'min_encryption_version %d is out of range for transit key %r: use 0 (latest) or a version in %d..%d '
            '(not below min_decryption_version)' % (min_enc, name, live_min_dec, latest))

    wanted_config = {
        'deletion_allowed': desired.get('deletion_allowed'),
        'auto_rotate_period': period,
        'min_decryption_version': min_dec,
        'min_encryption_version': min_enc,
    }
    for flag in ('exportable', 'allow_plaintext_backup'):
        if desired.get(flag):
            wanted_config[flag] = True
    live_config = dict(live or {})
    if not live:
        live_config = {'deletion_allowed': False, 'auto_rotate_period': create.get('auto_rotate_period', 0),
                       'min_decryption_version': 1, 'min_encryption_version': 0,
                       'exportable': create.get('exportable', False),
                       'allow_plaintext_backup': create.get('allow_plaintext_backup', False)}
    config_changes = changed_fields(wanted_config, live_config)
    if config_changes:
        actions.append(('configure', dict((k, v['after']) for k, v in config_changes.items())))

    after = dict(before) if live else {
        'type': create['type'], 'derived': bool(create.get('derived')),
        'convergent_encryption': bool(create.get('convergent_encryption')),
        'exportable': live_config['exportable'], 'allow_plaintext_backup': live_config['allow_plaintext_backup'],
        'deletion_allowed': False, 'auto_rotate_period': live_config['auto_rotate_period'],
        'min_decryption_version': 1, 'min_encryption_version': 0, 'min_available_version': 0,
        'latest_version': 1,
    }
    after['latest_version'] = latest
    for field, change in config_changes.items():
        after[field] = change['after']
    return {'actions': actions, 'before': before, 'after': after, 'rotate': rotate}


# ---------------------------------------------------------------------------------------------
# Audit device plan
# ---------------------------------------------------------------------------------------------

AUDIT_DEVICE_TYPES = ('file', 'socket', 'syslog')


def audit_device_view(entry):
    """The comparable view of one ``sys/audit`` entry (or of the desired device)."""
    return {
        'type': entry.get('type'),
        'description': entry.get('description') or '',
        'local': bool(entry.get('local', False)),
        'options': normalize_audit_options(entry.get('options')),
    }


def find_audit_device(listing, path):
    """The ``sys/audit`` entry for ``path`` (with or without the trailing '/'), or None."""
    key = path.strip('/') + '/'
    return (listing or {}).get(key)


def audit_declaration_hcl(path, device_type, options, description=''):
    """The server-config stanza that declares this audit device (OpenBao 2.x)."""
    lines = ['audit "%s" "%s" {' % (device_type, path.strip('/'))]
    if description:
        lines.append('  description = "%s"' % description.replace('"', '\\"'))
    lines.append('  options {')
    for key, value in sorted(normalize_audit_options(options).items()):
        lines.append('    %s = "%s"' % (key, value.replace('\\', '\\\\').replace('"', '\\"')))
    lines.append('  }')
    lines.append('}')
    return '\n'.join(lines) + '\n'


# ---------------------------------------------------------------------------------------------
# The module base class
# ---------------------------------------------------------------------------------------------

def api_path(*parts):
    """``/v1/a/b`` with each part URL-quoted (mount points may contain '/')."""
    return '/v1/' + '/'.join(_url_quote(str(part).strip('/'), safe='/') for part in parts)


class VaultModule(AnsibleModule):
    """AnsibleModule + the shared connection/auth options + an authenticated hvac client."""

    def __init__(self, argument_spec, **kwargs):
        spec = vault_argument_spec()
        spec.update(argument_spec)
        required_if = list(kwargs.pop('required_if', []))
        required_if.append(('auth_method', 'approle', ('role_id', 'secret_id')))
        super(VaultModule, self).__init__(argument_spec=spec, required_if=required_if, **kwargs)
        if not HAS_HVAC:
            self.fail_json(msg=missing_required_lib('hvac'), exception=HVAC_IMPORT_ERROR)
        self._client = None

    @property
    def client(self):
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _connect(self):
        params = self.params
        url = params['url']
        if not url:
            self.fail_json(msg='url is required: set `url` or the VAULT_ADDR environment variable '
                               '(e.g. https://vault.example:8200)')
        verify = params['ca_cert'] if params['ca_cert'] else params['validate_certs']
        client = hvac.Client(url=url, verify=verify, timeout=params['timeout'], namespace=params['namespace'])
        if params['auth_method'] == 'token':
            if not params['token']:
                self.fail_json(msg='auth_method=token needs a token: set `token` or the VAULT_TOKEN environment '
                                   'variable, or use auth_method=approle with role_id and secret_id')
            client.token = params['token']
        else:
            self.vault_call('log in with AppRole at auth mount %r' % params['auth_mount_point'],
                            client.auth.approle.login, role_id=params['role_id'], secret_id=params['secret_id'],
                            mount_point=params['auth_mount_point'], use_token=True, field='role_id/secret_id')
        return client

    def vault_call(self, action, func, *args, **kwargs):
        """Run ``func``; turn Vault/HTTP failures into fail_json with a message that says what to do."""
        field = kwargs.pop('field', None)
        mount_point = kwargs.pop('mount_point_for_errors', None)
        try:
            return func(*args, **kwargs)
        except Exception as exc:  # narrowed below: only Vault and HTTP errors become messages
            if not self.is_vault_error(exc):
                raise
            self.fail_json(msg=describe_vault_error(exc, action, url=self.params['url'], field=field,
                                                    mount_point=mount_point),
                           vault_error=_vault_errors_text(exc))

    @staticmethod
    def is_vault_error(exc):
        names = _exception_names(exc)
        return 'VaultError' in names or 'RequestException' in names

    def api_get(self, action, path, missing_ok=True, mount_point=None):
        """GET ``path``; ``None`` when the object does not exist (a missing mount still fails)."""
        try:
            response = self.client.adapter.get(path)
        except Exception as exc:  # narrowed below
            names = _exception_names(exc)
            if missing_ok and 'InvalidPath' in names and not is_missing_mount(_vault_errors_text(exc)):
                return None
            if not self.is_vault_error(exc):
                raise
            self.fail_json(msg=describe_vault_error(exc, action, url=self.params['url'], mount_point=mount_point),
                           vault_error=_vault_errors_text(exc))
        if isinstance(response, dict):
            return response.get('data', response)
        return None

    def api_write(self, action, method, path, payload=None, field=None, mount_point=None):
        """POST/PUT/DELETE through the client adapter, with error messages from vault_call."""
        adapter = self.client.adapter
        func = {'post': adapter.post, 'put': adapter.put, 'delete': adapter.delete}[method]
        kwargs = {'json': payload} if payload is not None else {}
        return self.vault_call(action, func, path, field=field, mount_point_for_errors=mount_point, **kwargs)
