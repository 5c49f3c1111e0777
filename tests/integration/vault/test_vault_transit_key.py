"""sovereign.cluster.vault_transit_key against a real OpenBao server."""
import time
import uuid

import hvac
import pytest


def key_name():
    return "key-%s" % uuid.uuid4().hex[:8]


def live_key(client, name, mount_point="transit"):
    try:
        return client.secrets.transit.read_key(name, mount_point=mount_point)["data"]
    except hvac.exceptions.InvalidPath:
        return None


def test_create_then_unchanged_and_no_key_material(openbao, root_client, vault_module):
    name = key_name()
    first = vault_module("vault_transit_key", dict(openbao.conn(), name=name, auto_rotate_period="30d"))
    assert first["rc"] == 0 and first["changed"] is True and first["actions"] == ["create"]
    live = live_key(root_client, name)
    assert live["type"] == "aes256-gcm96" and live["auto_rotate_period"] == 30 * 86400
    assert live["deletion_allowed"] is False and live["exportable"] is False
    assert live["allow_plaintext_backup"] is False
    key = first["key"]
    assert key["latest_version"] == 1 and key["auto_rotate_period"] == 30 * 86400 and list(key["versions"]) == ["1"]
    second = vault_module("vault_transit_key", dict(openbao.conn(), name=name, auto_rotate_period="720h"))
    assert second["changed"] is False and second["actions"] == []
    assert second["key"] == key


def test_asymmetric_key_returns_no_public_key(openbao, vault_module):
    name = key_name()
    result = vault_module("vault_transit_key", dict(openbao.conn(), name=name, type="ed25519"))
    assert result["changed"] is True and result["key"]["type"] == "ed25519"
    assert "public_key" not in str(result) and "keys" not in result["key"]
    assert result["key"]["supports_signing"] is True


def test_configuration_change_check_mode_and_diff(openbao, root_client, vault_module):
    name = key_name()
    vault_module("vault_transit_key", dict(openbao.conn(), name=name))
    predicted = vault_module("vault_transit_key", dict(openbao.conn(), name=name, auto_rotate_period="90d"),
                             check_mode=True, diff=True)
    assert predicted["changed"] is True and predicted["actions"] == ["configure"]
    assert predicted["diff"]["before"]["auto_rotate_period"] == 0
    assert predicted["diff"]["after"]["auto_rotate_period"] == 90 * 86400
    assert live_key(root_client, name)["auto_rotate_period"] == 0
    applied = vault_module("vault_transit_key", dict(openbao.conn(), name=name, auto_rotate_period="90d"), diff=True)
    assert applied["changed"] is True and applied["diff"] == predicted["diff"]
    assert live_key(root_client, name)["auto_rotate_period"] == 90 * 86400
    again = vault_module("vault_transit_key", dict(openbao.conn(), name=name, auto_rotate_period="90d"),
                         check_mode=True)
    assert again["changed"] is False


def test_check_mode_create_changes_nothing(openbao, root_client, vault_module):
    name = key_name()
    predicted = vault_module("vault_transit_key", dict(openbao.conn(), name=name, deletion_allowed=True),
                             check_mode=True, diff=True)
    assert predicted["changed"] is True and predicted["actions"] == ["create", "configure"]
    assert predicted["diff"]["before"] == {} and predicted["diff"]["after"]["deletion_allowed"] is True
    assert live_key(root_client, name) is None


def test_deletion_allowed_default_false_is_enforced(openbao, root_client, vault_module):
    name = key_name()
    root_client.secrets.transit.create_key(name)
    root_client.secrets.transit.update_key_configuration(name, deletion_allowed=True)
    result = vault_module("vault_transit_key", dict(openbao.conn(), name=name))
    assert result["changed"] is True and live_key(root_client, name)["deletion_allowed"] is False


def test_rotate_if_older_than_and_min_versions(openbao, root_client, vault_module):
    name = key_name()
    vault_module("vault_transit_key", dict(openbao.conn(), name=name))
    young = vault_module("vault_transit_key", dict(openbao.conn(), name=name, rotate_if_older_than="90d"))
    assert young["changed"] is False and young["rotated"] is False
    time.sleep(2.1)  # version 1 is now older than 1 second
    checked = vault_module("vault_transit_key", dict(openbao.conn(), name=name, rotate_if_older_than="1s"),
                           check_mode=True)
    assert checked["changed"] is True and checked["rotated"] is True and checked["key"]["latest_version"] == 2
    assert live_key(root_client, name)["latest_version"] == 1
    rotated = vault_module("vault_transit_key", dict(openbao.conn(), name=name, rotate_if_older_than="1s",
                                                     min_decryption_version=2, min_encryption_version=2))
    assert rotated["changed"] is True and rotated["rotated"] is True
    assert rotated["actions"] == ["rotate", "configure"]
    live = live_key(root_client, name)
    assert live["latest_version"] == 2 and live["min_decryption_version"] == 2 and live["min_encryption_version"] == 2
    steady = vault_module("vault_transit_key", dict(openbao.conn(), name=name, rotate_if_older_than="90d",
                                                    min_decryption_version=2, min_encryption_version=2))
    # the server lists only the versions that can still decrypt
    assert steady["changed"] is False and sorted(steady["key"]["versions"]) == ["2"]


def test_absent_is_guarded(openbao, root_client, vault_module):
    name = key_name()
    root_client.secrets.transit.create_key(name)
    refused = vault_module("vault_transit_key", dict(openbao.conn(), name=name, state="absent"))
    assert refused["failed"] is True and "deletion_allowed=false" in refused["msg"]
    assert "force_delete: true" in refused["msg"]
    assert live_key(root_client, name) is not None
    checked = vault_module("vault_transit_key", dict(openbao.conn(), name=name, state="absent", force_delete=True),
                           check_mode=True)
    assert checked["changed"] is True and checked["actions"] == ["configure", "delete"]
    assert live_key(root_client, name) is not None
    deleted = vault_module("vault_transit_key", dict(openbao.conn(), name=name, state="absent", force_delete=True))
    assert deleted["changed"] is True and live_key(root_client, name) is None
    again = vault_module("vault_transit_key", dict(openbao.conn(), name=name, state="absent"))
    assert again["changed"] is False


def test_absent_when_live_key_allows_deletion(openbao, root_client, vault_module):
    name = key_name()
    vault_module("vault_transit_key", dict(openbao.conn(), name=name, deletion_allowed=True))
    deleted = vault_module("vault_transit_key", dict(openbao.conn(), name=name, state="absent"))
    assert deleted["changed"] is True and deleted["actions"] == ["delete"]
    assert live_key(root_client, name) is None


@pytest.mark.parametrize("args, field", [
    (dict(auto_rotate_period="10x"), "auto_rotate_period '10x' is not a duration"),
    (dict(auto_rotate_period="5m"), "auto_rotate_period must be 0 (off) or at least 1h"),
    (dict(rotate_if_older_than="soon"), "rotate_if_older_than 'soon'"),
    (dict(min_decryption_version=5), "min_decryption_version 5 is out of range"),
    (dict(min_encryption_version=3), "min_encryption_version 3 is out of range"),
    (dict(type="ed25519"), "type of transit key"),
    (dict(exportable=True), "exportable: true can never be undone"),
    (dict(allow_plaintext_backup=True), "allow_plaintext_backup: true can never be undone"),
    (dict(name="a/b"), "name 'a/b' is not a valid transit key name"),
    (dict(type="aes512"), "type"),
])
def test_bad_input_names_the_field(openbao, root_client, vault_module, args, field):
    name = key_name()
    root_client.secrets.transit.create_key(name)
    before = live_key(root_client, name)
    result = vault_module("vault_transit_key", dict(openbao.conn(), **dict(dict(name=name), **args)))
    assert result["failed"] is True and result["rc"] != 0
    assert field in result["msg"]
    assert live_key(root_client, name) == before


def test_exportable_with_acknowledgement(openbao, root_client, vault_module):
    name = key_name()
    result = vault_module("vault_transit_key", dict(openbao.conn(), name=name, exportable=True,
                                                    allow_irreversible=True))
    assert result["changed"] is True and live_key(root_client, name)["exportable"] is True
    revert = vault_module("vault_transit_key", dict(openbao.conn(), name=name))
    assert revert["failed"] is True and "can never be turned off" in revert["msg"]


def test_missing_mount_says_which_mount_point(openbao, vault_module):
    result = vault_module("vault_transit_key", dict(openbao.conn(), name="k", mount_point="no-such-transit"))
    assert result["failed"] is True
    assert "`mount_point` 'no-such-transit'" in result["msg"] and "secrets enable" in result["msg"]


def test_sealed_server_says_unseal(fresh_openbao, vault_module):
    hvac.Client(url=fresh_openbao.url, token=fresh_openbao.root_token).sys.seal()
    result = vault_module("vault_transit_key", dict(fresh_openbao.conn(), name="k"))
    assert result["failed"] is True
    assert "is sealed: unseal it" in result["msg"]


# --- many keys in one call (keys) ---------------------------------------------------------------------------------

def test_many_keys_in_one_call_check_then_create_then_unchanged(openbao, root_client, vault_module):
    names = [key_name() for number in range(4)]
    args = dict(openbao.conn(), keys=[{"name": name, "auto_rotate_period": "30d"} for name in names])
    predicted = vault_module("vault_transit_key", args, check_mode=True, diff=True)
    assert predicted["rc"] == 0 and predicted["changed_keys"] == names, predicted
    assert all(live_key(root_client, name) is None for name in names)
    assert sorted(predicted["diff"]["after"]) == sorted(names)
    created = vault_module("vault_transit_key", args)
    assert created["changed_keys"] == names and [entry["actions"] for entry in created["keys"]] == [["create"]] * 4
    assert all(live_key(root_client, name)["auto_rotate_period"] == 30 * 86400 for name in names)
    assert "keys" not in created["keys"][0]["key"]  # no key material
    again = vault_module("vault_transit_key", args)
    assert again["changed"] is False and again["changed_keys"] == []
    args["keys"][2] = dict(args["keys"][2], auto_rotate_period="7d")
    one = vault_module("vault_transit_key", args, diff=True)
    assert one["changed_keys"] == [names[2]] and list(one["diff"]["after"]) == [names[2]]
    assert live_key(root_client, names[1])["auto_rotate_period"] == 30 * 86400


def test_many_keys_bad_entries_fail_before_any_write(openbao, root_client, vault_module):
    good, later = key_name(), key_name()
    root_client.secrets.transit.create_key(later)
    keys = [{"name": good}, {"name": "bad name"}, {"name": good}, {"name": later, "rotate_if_older_than": "0"},
            {"auto_rotate_period": "1d"}]
    result = vault_module("vault_transit_key", dict(openbao.conn(), keys=keys))
    assert result["rc"] == 1 and "nothing was read or written" in result["msg"], result
    fields = [error.split(":")[0] for error in result["errors"]]
    assert fields == ["keys[1] (bad name)", "keys[2].name", "keys[3] (%s)" % later, "keys[4].name"]
    assert live_key(root_client, good) is None
    # an entry the server's state refuses (min_decryption_version above the newest version) also stops the whole call
    planned = vault_module("vault_transit_key", dict(openbao.conn(), keys=[{"name": good}, {"name": later, "min_decryption_version": 5}]))
    assert planned["rc"] == 1 and planned["msg"].startswith("keys[1] (%s): " % later), planned
    assert planned["msg"].endswith("nothing was written") and live_key(root_client, good) is None
