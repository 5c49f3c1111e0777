# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inputs of the vault_transit and vault_server roles, checked before the first change, as pure functions.

* :func:`vault_transit_input_errors` and :func:`vault_server_input_errors`: every problem of the role's inputs
  (and of the read-only probes the role ran first), each naming the variable, the problem and the fix; an empty
  list when the role may go on. Secrets are never shown.

The shared checks (URL, path, duration, CIDR, ...) are
:class:`~ansible_collections.sovereign.cluster.plugins.module_utils.input_checks.Checks`; the filter plugin
``plugins/filter/vault.py`` exposes these functions under the same names.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.sovereign.cluster.plugins.module_utils.input_checks import Checks, as_int, truthy
from ansible_collections.sovereign.cluster.plugins.module_utils.vault_api_results import short_text

# Transit keys the role's policy can use: encrypt, decrypt and rewrap need an encryption key type.
TRANSIT_ENCRYPTION_TYPES = ("aes128-gcm96", "aes256-gcm96", "chacha20-poly1305", "rsa-2048", "rsa-3072", "rsa-4096")
_KEY_FIELDS = ("name", "purpose", "type", "auto_rotate_period", "rotate_if_older_than", "min_decryption_version",
               "policy", "approle", "token_ttl", "token_max_ttl", "secret_id_ttl", "token_bound_cidrs",
               "secret_id_bound_cidrs")
_TENANT_KEY_FIELDS = ("auto_rotate_period", "rotate_if_older_than", "min_decryption_version")
_NEVER_ON_A_KEY = ("exportable", "deletion_allowed", "allow_plaintext_backup")
_DNS_LABEL = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
_MOUNT = r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$"
_VAULT_NAME = r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,126}[A-Za-z0-9])?$"
_POLICY_NAME = r"^[a-z0-9]([a-z0-9._@-]{0,126}[a-z0-9])?$"
_UNIX_NAME = r"^[a-z_][a-z0-9_-]{0,31}$"
_AUDIT_OPTION = r"^[a-z][a-z0-9_]{0,63}$"
_MAX_TTL = 32 * 86400  # the server's default system max TTL (768h)
_MAX_SECRET_ID_TTL = 10 * 365 * 86400
# What a free-text value must not hold where it reaches a config file or a unit: quotes and newlines.
_HCL_TEXT = '"\\'
_UNIT_PATH = ' "\'\\;$`'


def _field(index, declared_count, tenant_index, what):
    if index < declared_count:
        return "vault_transit_keys[%d].%s" % (index, what)
    return "vault_transit_tenants[%d].%s" % (tenant_index, "name" if what == "name" else "vault." + what)


def _seconds(checks, field, value, low, high, fix):
    """A TTL in seconds (an int, digits, or a Vault duration such as 1h); None when refused."""
    seconds = checks.duration(field, value, fix=fix)
    if seconds is None:
        return None
    if not low <= seconds <= high:
        return checks.fail(field, "out of range (%ds; allowed %d to %d seconds)" % (seconds, low, high), fix, value)
    return seconds


def _transit_key(checks, key, field, settings, latest_versions):
    """Checks of one entry of the key list (a declared key, or the key derived from a tenant)."""
    name = key.get("name")
    if checks.name(field("name"), name, _DNS_LABEL, "transit key name (DNS-1123 label)",
                   "use lowercase letters, digits and '-' (at most 63), starting and ending with a letter or digit") is None:
        return
    for flag in _NEVER_ON_A_KEY:
        if flag in key:
            checks.fail(field(flag), "cannot be set: transit keys of this role are never exportable, deletable or "
                        "backed up in plaintext", "remove %s (delete or export a key with sovereign.cluster.vault_transit_key "
                        "and its explicit safeguards, outside this role)" % flag, key[flag])
    for extra in sorted(set(key) - set(_KEY_FIELDS) - set(_NEVER_ON_A_KEY)):
        checks.fail(field(extra), "is not a setting of a transit key", "use only %s" % ", ".join(_KEY_FIELDS), show=False)
    if key.get("type") not in (None, "") and key["type"] not in TRANSIT_ENCRYPTION_TYPES:
        checks.fail(field("type"), "not an encryption key type", "use one of %s" % ", ".join(TRANSIT_ENCRYPTION_TYPES),
                    key["type"])
    if key.get("auto_rotate_period") not in (None, ""):
        checks.duration(field("auto_rotate_period"), key["auto_rotate_period"], minimum_seconds=3600,
                        fix="use 0 (no automatic rotation) or at least 1h, such as 30d")
    rotate = key.get("rotate_if_older_than")
    if rotate not in (None, ""):
        _rotate_if_older_than(checks, field("rotate_if_older_than"), rotate)
    version = key.get("min_decryption_version")
    if version is not None:
        number = checks.integer(field("min_decryption_version"), version, 1, None,
                                "use a key version of at least 1 (1 keeps every version readable)")
        latest = latest_versions.get(name) or 1
        if rotate not in (None, "") or settings.get("rotate_if_older_than") not in (None, ""):
            latest += 1  # this run may rotate the key first
        if number is not None and number > latest:
            checks.fail(field("min_decryption_version"), "above the newest version of transit key %r (%d after this run)"
                        % (name, latest), "use a version from 1 to %d (rotate the key first to retire older versions)"
                        % latest, version)
    if key.get("policy") is not None:
        checks.name(field("policy"), key["policy"], _POLICY_NAME, "policy name",
                    "use lowercase letters, digits, '.', '_', '-' and '@'")
    if key.get("approle") is not None:
        checks.name(field("approle"), key["approle"], _VAULT_NAME, "AppRole name",
                    "use letters, digits, '_', '.' and '-', starting and ending with a letter or digit")
    _approle_settings(checks, key, field, settings)


def _rotate_if_older_than(checks, field, value):
    seconds = checks.duration(field, value, fix="use an age such as 90d, or '' to rotate only on the server's schedule")
    if seconds == 0:
        checks.fail(field, "is zero: it would rotate the key on every run",
                    "use an age such as 90d, or '' (empty) to turn forced rotation off", value)
    elif seconds is not None and seconds < 3600:
        checks.fail(field, "shorter than 1h: the key would rotate on nearly every run", "use at least 1h, such as 90d", value)


def _approle_settings(checks, key, field, settings):
    """The AppRole settings of one key (``key`` None: the role-wide defaults); each value is checked where it is set."""
    def value(name):
        own = key.get(name) if key is not None else None
        if own is not None:
            return own, field(name), True
        return settings.get(name), "vault_transit_" + name, key is None

    ttl, ttl_field, ttl_here = value("token_ttl")
    max_ttl, max_field, max_here = value("token_max_ttl")
    ttl_s = _seconds(checks, ttl_field, ttl, 60, _MAX_TTL,
                     "use from 60 seconds to 768h (seconds or a duration such as 1h)") if ttl_here else as_int(ttl)
    max_s = _seconds(checks, max_field, max_ttl, 60, _MAX_TTL,
                     "use from 60 seconds to 768h (seconds or a duration such as 24h)") if max_here else as_int(max_ttl)
    if (ttl_here or max_here) and ttl_s is not None and max_s is not None and ttl_s > max_s:
        checks.fail(ttl_field, "longer than %s (%ds)" % (max_field, max_s), "make the TTL at most the maximum TTL", ttl)
    secret_ttl, secret_field, secret_here = value("secret_id_ttl")
    if secret_here:
        _seconds(checks, secret_field, secret_ttl, 0, _MAX_SECRET_ID_TTL,
                 "use 0 (secret_ids never expire) or a duration up to 3650d")
    for name in ("token_bound_cidrs", "secret_id_bound_cidrs"):
        cidrs, cidr_field, here = value(name)
        if here and cidrs is not None:
            checks.cidrs(cidr_field, cidrs, "vault_transit_allow_any_cidr", settings.get("allow_any_cidr"))


def _transit_connection(checks, settings):
    url = checks.url("vault_transit_url", settings.get("url"))
    if not truthy(settings.get("token_set")):
        checks.fail("vault_transit_token", "is empty", "give a token allowed to manage mounts, transit keys, policies "
                    "and AppRoles (or set VAULT_TOKEN / BAO_TOKEN)", show=False)
    ca_cert = settings.get("ca_cert")
    if ca_cert not in (None, ""):
        if checks.path("vault_transit_ca_cert", ca_cert) is not None and settings.get("ca_cert_exists") is False:
            checks.fail("vault_transit_ca_cert", "is not a file on %s, where the modules and API calls run"
                        % settings.get("run_on", "the controller"),
                        "point it at the PEM of the CA that signed the server certificate", ca_cert)
    if url is None:
        return
    health = settings.get("health")
    if isinstance(health, dict) and health.get("status") not in (200, 429, 472, 473):
        status = health.get("status")
        problem = ("is not reachable (%s)" % short_text(health.get("msg"))) if status in (None, -1) else (
            "answered sys/health with HTTP %s (%s)" % (status, {501: "not initialised", 503: "sealed"}.get(status, "not active")))
        checks.fail("vault_transit_url", problem, "check the URL, that the server runs, is initialised and unsealed, "
                    "the firewall, and vault_transit_ca_cert for https", url)
        return
    lookup = settings.get("token_lookup")
    if isinstance(lookup, dict) and lookup.get("status") not in (None, 200):
        checks.fail("vault_transit_token", "was refused by %s (HTTP %s on auth/token/lookup-self)" % (url, lookup.get("status")),
                    "give a valid, unexpired token (or set VAULT_TOKEN / BAO_TOKEN)", show=False)


def vault_transit_input_errors(settings):
    """Every problem of vault_transit's inputs; [] when the role may go on."""
    settings = settings or {}
    checks = Checks()
    _transit_connection(checks, settings)
    checks.one_of("vault_transit_server_flavor", settings.get("server_flavor"), ("openbao", "vault"))
    for name in ("mount", "approle_mount"):
        checks.name("vault_transit_" + name, settings.get(name), _MOUNT, "mount path",
                    "use letters, digits, '_' and '-' in '/'-separated parts, no leading or trailing '/'")
    if settings.get("key_type") not in TRANSIT_ENCRYPTION_TYPES:
        checks.fail("vault_transit_key_type", "not an encryption key type",
                    "use one of %s" % ", ".join(TRANSIT_ENCRYPTION_TYPES), settings.get("key_type"))
    checks.line("vault_transit_policy_suffix", settings.get("policy_suffix"), allow_empty=True, forbidden=_HCL_TEXT + " /*{}")
    if settings.get("rotate_if_older_than") not in (None, ""):
        _rotate_if_older_than(checks, "vault_transit_rotate_if_older_than", settings["rotate_if_older_than"])
    checks.duration("vault_transit_auto_rotate_period", settings.get("auto_rotate_period"), minimum_seconds=3600,
                    fix="use 0 (no automatic rotation) or at least 1h, such as 30d")
    _approle_settings(checks, None, None, settings)
    keys = settings.get("keys")
    if not isinstance(keys, list):
        checks.fail("vault_transit_keys", "not a list", "list keys as mappings with at least a name", keys)
        keys = []
    declared = len(keys)
    all_keys = settings.get("all_keys") or []
    latest_versions = settings.get("latest_versions") or {}
    for index, key in enumerate(all_keys):
        tenant_index = index - declared

        def field(what, index=index, tenant_index=tenant_index):
            return _field(index, declared, tenant_index, what)

        if not isinstance(key, dict):
            checks.fail(field("name")[:-5], "not a mapping", "give a mapping with at least name", key)
            continue
        _transit_key(checks, key, field, settings, latest_versions)
    for index, tenant in enumerate(settings.get("tenants") or []):
        vault = tenant.get("vault") if isinstance(tenant, dict) else None
        for extra in sorted(set(vault or {}) - set(_TENANT_KEY_FIELDS)):
            checks.fail("vault_transit_tenants[%d].vault.%s" % (index, extra), "is not a key setting of a tenant",
                        "use only %s" % ", ".join(_TENANT_KEY_FIELDS), show=False)
    _audit_devices(checks, "vault_transit_audit_devices", settings.get("audit_devices"))
    return checks.errors


def _audit_devices(checks, variable, devices):
    if not isinstance(devices, list):
        checks.fail(variable, "not a list", "list devices as mappings with type, path and options", devices)
        return
    for index, device in enumerate(devices):
        field = "%s[%d]" % (variable, index)
        if not isinstance(device, dict):
            checks.fail(field, "not a mapping", "give type, path and options", device)
            continue
        checks.one_of(field + ".type", device.get("type"), ("file", "socket", "syslog"))
        checks.name(field + ".path", device.get("path"), _MOUNT, "audit device path",
                    "use letters, digits, '_' and '-' (no leading '/', no '..')")
        if device.get("description") not in (None, ""):
            checks.line(field + ".description", device["description"], forbidden=_HCL_TEXT, what="description")
        options = device.get("options") or {}
        if not isinstance(options, dict):
            checks.fail(field + ".options", "not a mapping", "give the device options as key: value", options)
            continue
        for key, value in options.items():
            if key == "file_path" and device.get("type") == "file" and value not in ("stdout", "discard"):
                if checks.path(field + ".options.file_path", value) is not None:
                    checks.line(field + ".options.file_path", value, forbidden=_HCL_TEXT, what="file path")
                continue
            if checks.name("%s.options key" % field, key, _AUDIT_OPTION, "audit option name",
                           "use the server's option names (file_path, mode, address, socket_type, ...)") is None:
                continue
            if isinstance(value, (dict, list)) or value is None:
                checks.fail("%s.options.%s" % (field, key), "not a single value", "give a string, number or boolean", value)
            elif not isinstance(value, bool):
                checks.line("%s.options.%s" % (field, key), str(value), forbidden=_HCL_TEXT, what="option value")
        if device.get("type") == "file" and "file_path" not in options:
            checks.fail(field + ".options.file_path", "is missing", "give the audit log file (an absolute path), or stdout")
        if "mode" in options:
            checks.octal(field + ".options.mode", options["mode"], digits=4 if len(str(options["mode"])) == 4 else 3)


# --- vault_server ---------------------------------------------------------------------------------------------

def _server_paths(checks, settings):
    for name in ("binary_path", "config_dir", "data_dir", "log_dir", "tls_dir", "snapshot_dir"):
        value = settings.get(name)
        if checks.path("vault_server_" + name, value) is not None:
            checks.line("vault_server_" + name, value, forbidden=_UNIT_PATH, what="path")
    pki_dir = settings.get("pki_dir")
    expanded = "/" + pki_dir[2:] if isinstance(pki_dir, str) and pki_dir.startswith("~/") else pki_dir
    if checks.path("vault_server_pki_dir", expanded) is not None:
        checks.line("vault_server_pki_dir", pki_dir, forbidden=_UNIT_PATH, what="path")
    if settings.get("init_output_file") not in (None, ""):
        checks.path("vault_server_init_output_file", settings["init_output_file"])


def _server_network(checks, settings):
    listen = settings.get("listen_address")
    try:
        ipaddress.ip_address(str(listen).strip("[]"))
    except ValueError:
        checks.fail("vault_server_listen_address", "not an IP address",
                    "use the IP address to listen on, such as 0.0.0.0, 10.0.0.5 or ::", listen)
    api_port = checks.port("vault_server_api_port", settings.get("api_port"))
    cluster_port = checks.port("vault_server_cluster_port", settings.get("cluster_port"))
    if api_port is not None and api_port == cluster_port:
        checks.fail("vault_server_cluster_port", "is the API port too", "use another port, such as 8201", cluster_port)
    checks.host("vault_server_fqdn", settings.get("fqdn"))
    for name in ("api_addr", "cluster_addr"):
        if checks.url("vault_server_" + name, settings.get(name), schemes=("https",)) is not None:
            checks.line("vault_server_" + name, settings[name], forbidden=_HCL_TEXT, what="address")
    checks.name("vault_server_node_id", settings.get("node_id"), _VAULT_NAME, "raft node id",
                "use letters, digits, '_', '.' and '-'")
    checks.line("vault_server_cluster_name", settings.get("cluster_name"), forbidden=_HCL_TEXT, what="cluster name")
    for index, san in enumerate(settings.get("cert_extra_sans") or []):
        field = "vault_server_cert_extra_sans[%d]" % index
        kind, _sep, value = str(san).partition(":")
        if kind == "DNS":
            checks.host(field, value)
        elif kind == "IP":
            try:
                ipaddress.ip_address(value)
            except ValueError:
                checks.fail(field, "not an IP address after IP:", "write IP:<address>, such as IP:10.0.0.5", san)
        else:
            checks.fail(field, "not a subject alternative name", "write DNS:<name> or IP:<address>", san)
    if not truthy(settings.get("in_cluster_group")):
        checks.fail("vault_server_cluster_group", "does not hold this host (%s)" % settings.get("host"),
                    "add the host to that inventory group, or set vault_server_cluster_group", settings.get("cluster_group"))


def _server_artifact(checks, settings):
    checks.name("vault_server_version", settings.get("version"), r"^[0-9]+\.[0-9]+\.[0-9]+([.+-][A-Za-z0-9.+-]+)?$",
                "version", "use a release version such as 2.7.2")
    src = settings.get("binary_src")
    if src not in (None, ""):
        if checks.path("vault_server_binary_src", src) is not None and not truthy(settings.get("binary_src_is_file")):
            checks.fail("vault_server_binary_src", "is not a file on the controller",
                        "fix the path, or leave it empty to download vault_server_binary_url", src)
    else:
        checks.url("vault_server_binary_url", settings.get("binary_url"))
    checksum = settings.get("binary_checksum")
    if checksum not in (None, "") and not re.match(r"^sha256:[0-9a-fA-F]{64}$", str(checksum)):
        checks.fail("vault_server_binary_checksum", "not a sha256 checksum", "write sha256:<64 hex digits>, or leave it empty",
                    checksum)
    for name in ("service_name", "user", "group"):
        checks.name("vault_server_" + name, settings.get(name), _UNIX_NAME, "system name",
                    "use lowercase letters, digits, '_' and '-', starting with a letter (at most 32)")
    checks.one_of("vault_server_log_level", settings.get("log_level"), ("trace", "debug", "info", "warn", "error"))
    checks.integer("vault_server_raft_performance_multiplier", settings.get("raft_performance_multiplier"), 0, 10)


def _server_init(checks, settings):
    shares = checks.integer("vault_server_key_shares", settings.get("key_shares"), 1, 255)
    threshold = checks.integer("vault_server_key_threshold", settings.get("key_threshold"), 1, 255)
    if shares is not None and threshold is not None:
        if threshold > shares:
            checks.fail("vault_server_key_threshold", "above vault_server_key_shares (%d)" % shares,
                        "use a threshold from 1 to the number of shares", threshold)
        elif shares > 1 and threshold < 2:
            checks.fail("vault_server_key_threshold", "is 1 with %d shares (the server refuses it)" % shares,
                        "use a threshold of at least 2, or one share", threshold)
    pgp_keys = settings.get("pgp_keys") or []
    if pgp_keys and shares is not None and len(pgp_keys) != shares:
        checks.fail("vault_server_pgp_keys", "holds %d keys for %d shares" % (len(pgp_keys), shares),
                    "give one custodian's PGP public key per share", show=False)
    for index, key in enumerate(pgp_keys):
        if not isinstance(key, str) or not re.match(r"^[A-Za-z0-9+/=\s]{32,}$", key):
            checks.fail("vault_server_pgp_keys[%d]" % index, "not a base64 PGP public key",
                        "give the key as base64 (gpg --export <id> | base64 -w0)", show=False)
    root_key = settings.get("root_token_pgp_key")
    if root_key not in (None, "") and not re.match(r"^[A-Za-z0-9+/=\s]{32,}$", str(root_key)):
        checks.fail("vault_server_root_token_pgp_key", "not a base64 PGP public key",
                    "give the key as base64 (gpg --export <id> | base64 -w0)", show=False)
    if settings.get("init_output_file") not in (None, "") and not pgp_keys:
        checks.fail("vault_server_init_output_file", "is set without vault_server_pgp_keys",
                    "give the custodians' PGP keys (unseal keys are never written in clear), or leave it empty",
                    settings["init_output_file"])
    for index, key in enumerate(settings.get("unseal_keys") or []):
        if not isinstance(key, str) or not re.match(r"^[A-Za-z0-9+/=]{16,}$", key.strip()):
            checks.fail("vault_server_unseal_keys[%d]" % index, "not an unseal key (base64)",
                        "give the decrypted base64 unseal keys, one per entry", show=False)
    if bool(settings.get("snapshot_role_id")) != bool(settings.get("snapshot_secret_id_set")):
        checks.fail("vault_server_snapshot_role_id", "and vault_server_snapshot_secret_id must be set together",
                    "give both, or neither (the role then makes the snapshot AppRole at init)", show=False)
    checks.integer("vault_server_snapshot_retention", settings.get("snapshot_retention"), 1, 1000)
    checks.line("vault_server_snapshot_on_calendar", settings.get("snapshot_on_calendar"), forbidden='"\\;', what="OnCalendar")
    ca_days = checks.integer("vault_server_ca_valid_days", settings.get("ca_valid_days"), 1, 36500)
    cert_days = checks.integer("vault_server_cert_valid_days", settings.get("cert_valid_days"), 1, 36500)
    if ca_days is not None and cert_days is not None and cert_days > ca_days:
        checks.fail("vault_server_cert_valid_days", "longer than vault_server_ca_valid_days (%d)" % ca_days,
                    "keep node certificates within the CA's lifetime", cert_days)


def _server_seal(checks, settings):
    seal = settings.get("seal_transit") or {}
    if not isinstance(seal, dict):
        checks.fail("vault_server_seal_transit", "not a mapping", "give address, key_name and token, or {}", show=False)
        return
    if not seal:
        return
    for extra in sorted(set(seal) - {"address", "key_name", "mount_path", "token", "tls_ca_cert", "namespace"}):
        checks.fail("vault_server_seal_transit.%s" % extra, "is not a transit seal setting",
                    "use address, key_name, mount_path, token, tls_ca_cert and namespace", show=False)
    address = checks.url("vault_server_seal_transit.address", seal.get("address"))
    checks.name("vault_server_seal_transit.key_name", seal.get("key_name"), _VAULT_NAME, "transit key name",
                "use the name of the key on the separate transit server")
    token = seal.get("token")
    if not isinstance(token, str) or not token.strip() or re.search(r"[\x00-\x1f\x7f\"\\\s]", token):
        checks.fail("vault_server_seal_transit.token", "empty or not a one-line token",
                    "give the token allowed to encrypt and decrypt with the key (from ansible-vault)", show=False)
    if seal.get("mount_path") not in (None, ""):
        checks.name("vault_server_seal_transit.mount_path", str(seal["mount_path"]).rstrip("/"), _MOUNT, "mount path",
                    "use the transit mount path, such as transit/")
    if seal.get("tls_ca_cert") not in (None, ""):
        checks.path("vault_server_seal_transit.tls_ca_cert", seal["tls_ca_cert"])
    if seal.get("namespace") not in (None, ""):
        checks.line("vault_server_seal_transit.namespace", seal["namespace"], forbidden=_HCL_TEXT, what="namespace")
    probe = settings.get("seal_health")
    if address is not None and isinstance(probe, dict) and probe.get("status") not in (200, 429, 472, 473):
        status = probe.get("status")
        checks.fail("vault_server_seal_transit.address", "is not reachable from this host (%s)" % (
            short_text(probe.get("msg")) if status in (None, -1) else "HTTP %s on sys/health" % status),
            "check the URL, that the transit server runs unsealed, the firewall, and tls_ca_cert", address)


def _server_tls(checks, settings):
    if settings.get("tls_mode") != "supplied":
        return
    for name, marker in (("tls_ca_cert", "BEGIN CERTIFICATE"), ("tls_cert", "BEGIN CERTIFICATE"), ("tls_key", "PRIVATE KEY")):
        value = settings.get(name)
        if not isinstance(value, str) or marker not in value:
            checks.fail("vault_server_" + name, "not a PEM %s" % ("private key" if name == "tls_key" else "certificate"),
                        "vault_server_tls_mode is 'supplied': give the PEM contents", show=False)


def vault_server_input_errors(settings):
    """Every problem of vault_server's inputs; [] when the role may go on."""
    settings = settings or {}
    checks = Checks()
    checks.one_of("vault_server_flavor", settings.get("flavor"), ("openbao", "vault"))
    checks.one_of("vault_server_tls_mode", settings.get("tls_mode"), ("generate", "supplied"))
    checks.one_of("vault_server_tls_min_version", settings.get("tls_min_version"), ("tls12", "tls13"))
    _server_artifact(checks, settings)
    _server_paths(checks, settings)
    _server_network(checks, settings)
    _server_init(checks, settings)
    _server_seal(checks, settings)
    _server_tls(checks, settings)
    _audit_devices(checks, "vault_server_audit_devices", settings.get("audit_devices"))
    return checks.errors
