"""Pure parts of plugins/module_utils/vault_client.py: no server needed."""
import hvac.exceptions
import pytest
import requests
import yaml

from ansible_collections.sovereign.cluster.plugins.doc_fragments.vault import ModuleDocFragment
from ansible_collections.sovereign.cluster.plugins.module_utils.vault_client import (
    VaultPlanError,
    audit_declaration_hcl,
    audit_device_view,
    changed_fields,
    describe_vault_error,
    find_audit_device,
    format_duration,
    is_audit_api_refused,
    is_missing_mount,
    key_version_times,
    normalize_audit_options,
    normalize_hcl,
    parse_duration,
    plan_transit_key,
    transit_report,
    validate_name,
    vault_argument_spec,
)

NOW = 1_800_000_000
DAY = 86400


# --- durations ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, seconds", [
    (0, 0), (3600, 3600), ("3600", 3600), ("90d", 90 * DAY), ("1h30m", 5400), ("2w", 14 * DAY),
    ("45s", 45), ("1d12h", 36 * 3600), (" 30D ", 30 * DAY),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text, "f") == seconds


@pytest.mark.parametrize("text", ["", "90x", "d90", "1.5h", "-5", "90 d", "h", True, -1])
def test_parse_duration_rejects_and_names_field(text):
    with pytest.raises(ValueError) as err:
        parse_duration(text, "rotate_if_older_than")
    assert str(err.value).startswith("rotate_if_older_than")


@pytest.mark.parametrize("seconds, text", [(0, "0s"), (90 * DAY, "90d"), (5400, "1h30m"), (86461, "1d1m1s")])
def test_format_duration_round_trips(seconds, text):
    assert format_duration(seconds) == text
    assert parse_duration(text, "f") == seconds


# --- HCL normalisation -------------------------------------------------------------------------

def test_normalize_hcl_ignores_layout_comments_and_trailing_commas():
    plain = 'path "secret/a" {\n  capabilities = ["read", "list"]\n}\n'
    noisy = ('# tenant a\r\npath   "secret/a"{ // inline\n capabilities=[ "read" ,\n"list", ] /* block\n */ }')
    assert normalize_hcl(plain) == normalize_hcl(noisy) == 'path"secret/a"{capabilities=["read","list"]}'


def test_normalize_hcl_keeps_meaningful_differences():
    base = 'path "secret/a" { capabilities = ["read"] }'
    assert normalize_hcl(base) != normalize_hcl(base.replace("read", "update"))
    assert normalize_hcl(base) != normalize_hcl(base.replace("secret/a", "secret/ a"))
    # a '#' inside a string is data, not a comment
    assert normalize_hcl('path "a#b" {}') == 'path"a#b"{}'
    assert normalize_hcl('x = "a \\" b # c"') == 'x="a \\" b # c"'
    # bare words stay separated
    assert normalize_hcl("a  b") == "a b"


# --- comparison and audit options --------------------------------------------------------------

def test_changed_fields_only_reports_declared_differences():
    live = {"deletion_allowed": False, "auto_rotate_period": 0, "min_decryption_version": 1}
    desired = {"deletion_allowed": False, "auto_rotate_period": 86400, "min_decryption_version": None}
    assert changed_fields(desired, live) == {"auto_rotate_period": {"before": 0, "after": 86400}}
    assert changed_fields({"a": 1}, None) == {"a": {"before": None, "after": 1}}


def test_audit_options_compare_as_server_stores_them():
    assert normalize_audit_options({"hmac_accessor": False, "log_raw": "TRUE", "mode": "0600", "fallback": "no",
                                    "file_path": "/x", "skip": None, "write_timeout": 2}) == {
        "hmac_accessor": "0", "log_raw": "1", "mode": "0600", "fallback": "0", "file_path": "/x",
        "write_timeout": "2"}
    live = {"type": "file", "description": "", "local": False, "options": {"file_path": "/x", "hmac_accessor": "0"},
            "path": "file/"}
    desired = {"type": "file", "local": False, "options": {"file_path": "/x", "hmac_accessor": False}}
    assert audit_device_view(live) == audit_device_view(desired)
    assert audit_device_view(live) != audit_device_view(dict(desired, options={"file_path": "/x"}))


def test_find_audit_device_and_declaration():
    listing = {"file/": {"type": "file"}, "siem/tcp/": {"type": "socket"}}
    assert find_audit_device(listing, "file") == {"type": "file"}
    assert find_audit_device(listing, "/siem/tcp/") == {"type": "socket"}
    assert find_audit_device(listing, "nope") is None
    hcl = audit_declaration_hcl("file", "file", {"file_path": '/var/log/a "b".log', "hmac_accessor": False},
                                description="main")
    assert hcl == ('audit "file" "file" {\n  description = "main"\n  options {\n    file_path = "/var/log/a \\"b\\".log"\n'
                   '    hmac_accessor = "0"\n  }\n}\n')


# --- error wording -----------------------------------------------------------------------------

def vault_error(cls, message, status):
    return cls(message, errors=[message] if message else None, method="get", url="http://v:8200/v1/x")


@pytest.mark.parametrize("exc, expected", [
    (vault_error(hvac.exceptions.VaultDown, "Vault is sealed", 503), "is sealed: unseal it"),
    (vault_error(hvac.exceptions.VaultDown, "standby", 503), "is unavailable (503"),
    (vault_error(hvac.exceptions.VaultNotInitialized, "not init", 501), "is not initialized"),
    (vault_error(hvac.exceptions.Forbidden, "permission denied", 403), "permission denied (403)"),
    (vault_error(hvac.exceptions.Unauthorized, "", 401), "permission denied (403)"),
    (vault_error(hvac.exceptions.InvalidPath, 'no handler for route "t/keys/k". route entry not found.', 404),
     "nothing is mounted at `mount_point` 't'"),
    (vault_error(hvac.exceptions.InvalidRequest, "failed to parse policy", 400), "the server rejected `policy`"),
    (requests.exceptions.SSLError("certificate verify failed"), "set `ca_cert`"),
    (requests.exceptions.SSLError("[SSL: WRONG_VERSION_NUMBER] wrong version number"), "does not speak TLS"),
    (requests.exceptions.ConnectTimeout("slow"), "within `timeout` seconds"),
    (requests.exceptions.ConnectionError("refused"), "unreachable at http://v:8200: check `url` (or VAULT_ADDR)"),
    (RuntimeError("boom"), "RuntimeError: boom"),
])
def test_describe_vault_error(exc, expected):
    message = describe_vault_error(exc, "do it", url="http://v:8200", field="policy", mount_point="t")
    assert message.startswith("cannot do it: ")
    assert expected in message


def test_route_and_refusal_detection():
    assert is_missing_mount('no handler for route "x/keys/k". route entry not found.')
    assert not is_missing_mount("")
    assert is_audit_api_refused("cannot enable audit device via API; use declarative, config-based audit device "
                                "management instead")
    assert is_audit_api_refused("cannot disable configuration-managed audit device")
    assert not is_audit_api_refused("permission denied")


# --- transit plan ------------------------------------------------------------------------------

def desired(**overrides):
    base = dict(name="k", state="present", type=None, derived=None, convergent_encryption=None,
                auto_rotate_period=None, rotate_if_older_than=None, min_decryption_version=None,
                min_encryption_version=None, deletion_allowed=False, exportable=False,
                allow_plaintext_backup=False, allow_irreversible=False, force_delete=False)
    base.update(overrides)
    return base


def live_key(**overrides):
    base = {"name": "k", "type": "aes256-gcm96", "derived": False, "exportable": False,
            "allow_plaintext_backup": False, "deletion_allowed": False, "auto_rotate_period": 0,
            "min_decryption_version": 1, "min_encryption_version": 0, "min_available_version": 0,
            "latest_version": 1, "keys": {"1": NOW - 100 * DAY}, "supports_encryption": True}
    base.update(overrides)
    return base


def verbs(plan):
    return [action[0] for action in plan["actions"]]


def test_plan_create_defaults_and_extra_config():
    plan = plan_transit_key(desired(auto_rotate_period=30 * DAY, deletion_allowed=True), None, NOW)
    assert plan["actions"] == [("create", {"type": "aes256-gcm96", "auto_rotate_period": 30 * DAY}),
                               ("configure", {"deletion_allowed": True})]
    assert plan["before"] == {} and plan["after"]["latest_version"] == 1 and plan["after"]["deletion_allowed"]


def test_plan_matching_key_is_empty():
    plan = plan_transit_key(desired(auto_rotate_period=0, min_decryption_version=1), live_key(), NOW)
    assert plan["actions"] == [] and plan["before"] == plan["after"]


def test_plan_rotation_by_age_and_min_versions():
    plan = plan_transit_key(desired(rotate_if_older_than=90 * DAY, min_decryption_version=2), live_key(), NOW)
    assert verbs(plan) == ["rotate", "configure"] and plan["rotate"] is True
    assert plan["after"]["latest_version"] == 2 and plan["after"]["min_decryption_version"] == 2
    young = plan_transit_key(desired(rotate_if_older_than=101 * DAY), live_key(), NOW)
    assert young["actions"] == [] and young["rotate"] is False


def test_plan_age_of_asymmetric_key_versions():
    key = live_key(type="ed25519", keys={"1": {"creation_time": "2026-01-01T00:00:00.123456789Z", "public_key": "x"},
                                         "2": {"creation_time": "2026-03-01T01:00:00+01:00", "public_key": "y"}},
                   latest_version=2)
    assert key_version_times(key) == {1: 1767225600, 2: 1772323200}
    report = transit_report(key)
    assert report["versions"] == {"1": "2026-01-01T00:00:00Z", "2": "2026-03-01T00:00:00Z"}
    assert "public_key" not in str(report)


@pytest.mark.parametrize("overrides, live, fragment", [
    (dict(type="ed25519"), live_key(), "type of transit key 'k' is 'aes256-gcm96'"),
    (dict(derived=True), live_key(), "derived of transit key"),
    (dict(exportable=True), live_key(), "exportable: true can never be undone"),
    (dict(exportable=True, allow_irreversible=True), live_key(), None),
    (dict(), live_key(exportable=True), "exportable is already true"),
    (dict(min_decryption_version=3), live_key(), "min_decryption_version 3 is out of range"),
    (dict(min_decryption_version=0), live_key(), "min_decryption_version 0 is out of range"),
    (dict(min_encryption_version=1, min_decryption_version=1), live_key(latest_version=2), None),
    (dict(min_encryption_version=1), live_key(latest_version=3, min_decryption_version=2),
     "min_encryption_version 1 is out of range"),
    (dict(auto_rotate_period=60), live_key(), "auto_rotate_period must be 0 (off) or at least 1h"),
    (dict(convergent_encryption=True), None, "convergent_encryption: true needs derived: true"),
])
def test_plan_rejects_unreachable_states(overrides, live, fragment):
    if fragment is None:
        assert plan_transit_key(desired(**overrides), live, NOW)["actions"]
        return
    with pytest.raises(VaultPlanError) as err:
        plan_transit_key(desired(**overrides), live, NOW)
    assert fragment in str(err.value)


def test_plan_absent_guard():
    with pytest.raises(VaultPlanError) as err:
        plan_transit_key(desired(state="absent"), live_key(), NOW)
    assert "force_delete: true" in str(err.value)
    assert verbs(plan_transit_key(desired(state="absent", force_delete=True), live_key(), NOW)) == \
        ["configure", "delete"]
    assert verbs(plan_transit_key(desired(state="absent"), live_key(deletion_allowed=True), NOW)) == ["delete"]
    assert plan_transit_key(desired(state="absent"), None, NOW)["actions"] == []


def test_validate_name():
    validate_name("tenant-a.kms_1", "name", "transit key")
    for bad in ("", "a/b", "-a", "a b", "a-"):
        with pytest.raises(VaultPlanError) as err:
            validate_name(bad, "name", "transit key")
        assert str(err.value).startswith("name ")


# --- the shared options match their single doc fragment ----------------------------------------

def test_argument_spec_matches_doc_fragment():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    spec = vault_argument_spec()
    assert set(documented) == set(spec)
    for name, option in spec.items():
        doc = documented[name]
        assert doc["type"] == option["type"], name
        assert doc.get("default") == option.get("default"), name
        assert doc.get("choices") == option.get("choices"), name
    secrets = {name for name, option in spec.items() if option.get("no_log")}
    assert secrets == {"token", "role_id", "secret_id"}
    assert spec["url"]["fallback"][1][0] == "VAULT_ADDR" and spec["token"]["fallback"][1][0] == "VAULT_TOKEN"
