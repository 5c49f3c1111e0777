# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Vault role filters: each bad input gives one message naming the variable and the fix, never a secret;
AppRole settings compare in the server's canonical form; a failed no_log API call is worded without its token.
The logic is in module_utils (vault_inputs, vault_api_results); the tests go through the filters the roles use."""
import copy

import pytest

from ansible_collections.sovereign.cluster.plugins.filter.vault import FilterModule
from ansible_collections.sovereign.cluster.plugins.module_utils import vault_api_results, vault_approles, vault_inputs

FILTERS = FilterModule().filters()
SECRET = "s.planted-secret-4711"

TRANSIT = {
    "url": "http://127.0.0.1:8200", "token_set": True, "ca_cert": "", "ca_cert_exists": None, "server_flavor": "openbao",
    "mount": "transit", "approle_mount": "approle", "policy_suffix": "-transit",
    "keys": [{"name": "kube-secrets", "purpose": "kms", "approle": "kms-plugin"}],
    "tenants": [{"name": "alpha", "vault": {"auto_rotate_period": "7d"}}],
    "all_keys": [{"name": "kube-secrets", "purpose": "kms", "approle": "kms-plugin", "policy": "kube-secrets-transit"},
                 {"name": "tenant-alpha", "purpose": "tenant", "approle": "tenant-alpha", "policy": "tenant-alpha-transit",
                  "auto_rotate_period": "7d"}],
    "key_type": "aes256-gcm96", "auto_rotate_period": "30d", "rotate_if_older_than": "",
    "token_ttl": 3600, "token_max_ttl": 86400, "secret_id_ttl": 0, "token_bound_cidrs": [], "secret_id_bound_cidrs": [],
    "allow_any_cidr": False, "audit_devices": [], "health": {"status": 200, "msg": "OK"}, "token_lookup": {"status": 200},
    "latest_versions": {},
}

SERVER = {
    "flavor": "openbao", "version": "2.7.2", "binary_src": "", "binary_src_is_file": False,
    "binary_url": "https://mirror.internal.example/vault/bao", "binary_checksum": "", "service_name": "openbao",
    "user": "openbao", "group": "openbao", "log_level": "info", "raft_performance_multiplier": 0,
    "binary_path": "/usr/local/bin/bao", "config_dir": "/etc/openbao", "data_dir": "/var/lib/openbao",
    "log_dir": "/var/log/openbao", "tls_dir": "/etc/openbao/tls", "snapshot_dir": "/var/backups/openbao",
    "pki_dir": "~/.ansible/sovereign-vault-pki", "init_output_file": "", "listen_address": "0.0.0.0",
    "api_port": 8200, "cluster_port": 8201, "fqdn": "vault1.example", "api_addr": "https://vault1.example:8200",
    "cluster_addr": "https://vault1.example:8201", "node_id": "vault1", "cluster_name": "sovereign",
    "cert_extra_sans": ["DNS:vault.example", "IP:10.0.0.5"], "in_cluster_group": True, "host": "vault1",
    "cluster_group": "vault_servers", "key_shares": 5, "key_threshold": 3, "pgp_keys": [], "root_token_pgp_key": "",
    "unseal_keys": [], "snapshot_role_id": "", "snapshot_secret_id_set": False, "snapshot_retention": 14,
    "snapshot_on_calendar": "*-*-* 02:30:00", "ca_valid_days": 3650, "cert_valid_days": 825, "seal_transit": {},
    "tls_mode": "generate", "tls_min_version": "tls12", "tls_ca_cert": "", "tls_cert": "", "tls_key": "",
    "audit_devices": [{"type": "file", "path": "file", "options": {"file_path": "/var/log/openbao/audit.log", "mode": "0600"}}],
}


def transit(**changes):
    settings = copy.deepcopy(TRANSIT)
    settings.update(changes)
    return FILTERS["vault_transit_input_errors"](settings)


def transit_key(index, **changes):
    keys = copy.deepcopy(TRANSIT["all_keys"])
    keys[index].update(changes)
    return transit(all_keys=keys)


def server(**changes):
    settings = copy.deepcopy(SERVER)
    settings.update(changes)
    return FILTERS["vault_server_input_errors"](settings)


def test_good_settings_pass():
    assert (transit(), server()) == ([], [])


@pytest.mark.parametrize("changes, message", [
    ({"url": "vault:8200"}, "vault_transit_url: not a https/http URL"),
    ({"token_set": False}, "vault_transit_token: is empty"),
    ({"ca_cert": "/nowhere/ca.pem", "ca_cert_exists": False}, "vault_transit_ca_cert: is not a file on"),
    ({"health": {"status": -1, "msg": "Connection refused"}}, "vault_transit_url: is not reachable (Connection refused)"),
    ({"health": {"status": 503, "msg": ""}}, "vault_transit_url: answered sys/health with HTTP 503 (sealed)"),
    ({"token_lookup": {"status": 403}}, "vault_transit_token: was refused by http://127.0.0.1:8200 (HTTP 403"),
    ({"mount": "../sys"}, "vault_transit_mount: not a valid mount path"),
    ({"approle_mount": "/approle/"}, "vault_transit_approle_mount: not a valid mount path"),
    ({"rotate_if_older_than": "0"}, "vault_transit_rotate_if_older_than: is zero"),
    ({"auto_rotate_period": "30m"}, "vault_transit_auto_rotate_period: shorter than 3600 seconds"),
    ({"key_type": "ed25519"}, "vault_transit_key_type: not an encryption key type"),
    ({"token_ttl": "2h", "token_max_ttl": "1h"}, "vault_transit_token_ttl: longer than vault_transit_token_max_ttl (3600s)"),
    ({"token_ttl": 10}, "vault_transit_token_ttl: out of range (10s; allowed 60 to 2764800 seconds)"),
    ({"token_bound_cidrs": ["10.0.0.1/33"]}, "vault_transit_token_bound_cidrs[0]: not an IP address or CIDR"),
    ({"secret_id_bound_cidrs": ["0.0.0.0/0"]}, "set vault_transit_allow_any_cidr: true to accept the exposure"),
    ({"audit_devices": [{"type": "file", "path": "a", "options": {"file_path": "/var/log/a\nb"}}]},
     "vault_transit_audit_devices[0].options.file_path: holds a newline"),
    ({"server_flavor": "consul"}, "vault_transit_server_flavor: not one of openbao, vault"),
])
def test_transit_refuses_naming_the_variable(changes, message):
    errors = transit(**changes)
    assert [e for e in errors if message in e] == errors[:1] and len(errors) == 1, errors


@pytest.mark.parametrize("index, changes, message", [
    (0, {"min_decryption_version": 0}, "vault_transit_keys[0].min_decryption_version: not an integer of at least 1"),
    (0, {"min_decryption_version": 3}, "vault_transit_keys[0].min_decryption_version: above the newest version"),
    (1, {"rotate_if_older_than": "0"}, "vault_transit_tenants[0].vault.rotate_if_older_than: is zero"),
    (1, {"auto_rotate_period": "10m"}, "vault_transit_tenants[0].vault.auto_rotate_period: shorter than 3600 seconds"),
    (1, {"name": "tenant-Team_A"}, "vault_transit_tenants[0].name: not a valid transit key name"),
    (0, {"exportable": True}, "vault_transit_keys[0].exportable: cannot be set"),
    (0, {"deletion_allowed": True}, "vault_transit_keys[0].deletion_allowed: cannot be set"),
    (0, {"type": "ecdsa-p256"}, "vault_transit_keys[0].type: not an encryption key type"),
    (0, {"token_bound_cidrs": ["10.0.0.0/8 accept"]}, "vault_transit_keys[0].token_bound_cidrs[0]: not an IP address or CIDR"),
    (0, {"approle": "kms/plugin"}, "vault_transit_keys[0].approle: not a valid AppRole name"),
])
def test_transit_key_refuses_naming_the_entry(index, changes, message):
    errors = transit_key(index, **changes)
    assert len(errors) == 1 and message in errors[0], errors


def test_min_decryption_version_may_reach_the_newest_version():
    keys = copy.deepcopy(TRANSIT["all_keys"])
    keys[0]["min_decryption_version"] = 3
    assert transit(all_keys=keys, latest_versions={"kube-secrets": 3}) == []


def test_rotate_if_older_than_empty_is_off():
    assert transit_key(0, rotate_if_older_than="") == []


def test_every_bad_field_is_reported_at_once():
    assert len(transit(url="x", mount="/", rotate_if_older_than="0", token_ttl=5)) == 4


@pytest.mark.parametrize("changes, message", [
    ({"api_port": 70000}, "vault_server_api_port: not an integer from 1 to 65535"),
    ({"cluster_port": 8200}, "vault_server_cluster_port: is the API port too"),
    ({"listen_address": "0.0.0.0:8200"}, "vault_server_listen_address: not an IP address"),
    ({"data_dir": "/var/lib/../etc"}, "vault_server_data_dir: holds '..'"),
    ({"log_dir": "/var/log/open bao"}, "vault_server_log_dir: holds ' '"),
    ({"config_dir": "etc/openbao"}, "vault_server_config_dir: not an absolute path"),
    ({"cluster_name": 'a" { ui = true'}, "vault_server_cluster_name: holds '\"'"),
    ({"node_id": "node\n1"}, "vault_server_node_id: not a valid raft node id"),
    ({"api_addr": "http://vault1:8200"}, "vault_server_api_addr: not a https URL"),
    ({"cert_extra_sans": ["vault.example"]}, "vault_server_cert_extra_sans[0]: not a subject alternative name"),
    ({"key_threshold": 6}, "vault_server_key_threshold: above vault_server_key_shares (5)"),
    ({"binary_checksum": "md5:abc"}, "vault_server_binary_checksum: not a sha256 checksum"),
    ({"binary_src": "/no/bao"}, "vault_server_binary_src: is not a file on the controller"),
    ({"init_output_file": "/tmp/init.json"}, "vault_server_init_output_file: is set without vault_server_pgp_keys"),
    ({"in_cluster_group": False}, "vault_server_cluster_group: does not hold this host (vault1)"),
    ({"seal_transit": {"address": "transit:8200", "key_name": "k", "token": SECRET}},
     "vault_server_seal_transit.address: not a https/http URL"),
    ({"seal_transit": {"address": "https://t:8200", "key_name": "k", "token": SECRET + "\n"}},
     "vault_server_seal_transit.token: empty or not a one-line token"),
    ({"seal_transit": {"address": "https://t:8200", "key_name": "k", "token": SECRET},
      "seal_health": {"status": -1, "msg": "timed out"}}, "vault_server_seal_transit.address: is not reachable from this host"),
    ({"tls_mode": "supplied", "tls_ca_cert": "x", "tls_cert": "-----BEGIN CERTIFICATE-----", "tls_key": SECRET},
     "vault_server_tls_ca_cert: not a PEM certificate"),
    ({"unseal_keys": [SECRET + "\n!"]}, "vault_server_unseal_keys[0]: not an unseal key"),
    ({"snapshot_role_id": "role"}, "vault_server_snapshot_role_id: and vault_server_snapshot_secret_id must be set together"),
    ({"audit_devices": [{"type": "file", "path": "file", "options": {'x" = "1': "1"}}]},
     "vault_server_audit_devices[0].options key: not a valid audit option name"),
    ({"cert_valid_days": 4000}, "vault_server_cert_valid_days: longer than vault_server_ca_valid_days (3650)"),
])
def test_server_refuses_naming_the_variable(changes, message):
    errors = server(**changes)
    assert len(errors) >= 1 and message in errors[0], errors
    assert not any(SECRET in error for error in errors)


def test_server_secrets_never_shown():
    errors = server(tls_mode="supplied", tls_ca_cert=SECRET, tls_cert=SECRET, tls_key=SECRET, unseal_keys=[SECRET + "!"],
                    seal_transit={"address": "https://t:8200", "key_name": "k", "token": SECRET + '"'})
    assert len(errors) == 5 and not any(SECRET in error for error in errors), errors


def test_approle_settings_compare_as_the_server_stores_them():
    declared = {"token_ttl": "1h", "token_max_ttl": "86400", "secret_id_ttl": 0, "token_policies": ["p"],
                "token_bound_cidrs": ["10.1.2.3/8", "10.1.2.3"], "secret_id_bound_cidrs": []}
    live = {"token_ttl": 3600, "token_max_ttl": 86400, "secret_id_ttl": 0, "token_policies": ["p"],
            "token_bound_cidrs": ["10.1.2.3/8", "10.1.2.3"], "secret_id_bound_cidrs": None}
    wanted = vault_api_results.vault_approle_settings(declared)
    assert wanted == vault_api_results.vault_approle_settings(live)
    assert wanted["token_bound_cidrs"] == ["10.0.0.0/8", "10.1.2.3/32"] and wanted["token_ttl"] == 3600


def test_api_error_names_status_path_and_server_errors_not_the_token():
    result = {"status": 400, "url": "http://127.0.0.1:8200/v1/sys/mounts/bad%20mount", "failed": False,
              "json": {"errors": ["invalid mount path"]}, "msg": "Status code was 400",
              "invocation": {"module_args": {"headers": {"X-Vault-Token": SECRET}}}}
    message = FILTERS["vault_api_error"](result, "enable the transit engine")
    assert message == ("cannot enable the transit engine: HTTP 400 on /v1/sys/mounts/bad%20mount: invalid mount path; "
                       "fix the setting the server names")
    assert FILTERS["vault_api_error"](dict(result, status=204), "x") == ""
    assert FILTERS["vault_api_error"]({"skipped": True}, "x") == ""
    unreachable = FILTERS["vault_api_error"]({"status": -1, "url": "http://h:1/v1/sys/auth", "msg": "Connection refused"}, "x")
    assert unreachable.startswith("cannot x: no answer (Connection refused) on /v1/sys/auth")


def test_the_filters_the_roles_use_are_the_module_utils_functions():
    assert FILTERS == {"vault_transit_input_errors": vault_inputs.vault_transit_input_errors,
                       "vault_server_input_errors": vault_inputs.vault_server_input_errors,
                       "vault_transit_approles": vault_approles.transit_approles,
                       "vault_api_error": vault_api_results.vault_api_error}
