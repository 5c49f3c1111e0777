"""Two tenants set up with the modules: each AppRole reaches its own transit key and gets real 403s on the other."""
import base64
import uuid

import hvac
import pytest

TENANT_POLICY = '''
path "transit/encrypt/{key}" {{ capabilities = ["update"] }}
path "transit/decrypt/{key}" {{ capabilities = ["update"] }}
path "transit/keys/{key}" {{ capabilities = ["read"] }}
path "transit/keys/{key}/rotate" {{ capabilities = ["update"] }}
'''


@pytest.fixture(scope="module")
def tenants(openbao, vault_module):
    root = hvac.Client(url=openbao.url, token=openbao.root_token)
    if "approle/" not in root.sys.list_auth_methods()["data"]:
        root.sys.enable_auth_method("approle")
    suffix = uuid.uuid4().hex[:6]
    made = {}
    for tenant in ("a", "b"):
        key = "tenant-%s-%s" % (tenant, suffix)
        policy = "%s-transit" % key
        key_result = vault_module("vault_transit_key", dict(openbao.conn(), name=key, auto_rotate_period="30d"))
        policy_result = vault_module("vault_policy", dict(openbao.conn(), name=policy,
                                                          policy=TENANT_POLICY.format(key=key)))
        assert key_result["changed"] and policy_result["changed"]
        root.auth.approle.create_or_update_approle(key, token_policies=[policy], token_ttl="10m")
        role_id = root.auth.approle.read_role_id(key)["data"]["role_id"]
        secret_id = root.auth.approle.generate_secret_id(key)["data"]["secret_id"]
        login = hvac.Client(url=openbao.url).auth.approle.login(role_id=role_id, secret_id=secret_id)
        made[tenant] = dict(key=key, role_id=role_id, secret_id=secret_id,
                            client=hvac.Client(url=openbao.url, token=login["auth"]["client_token"]))
    return made


def operations(client, key):
    plaintext = base64.b64encode(b"tenant data").decode()
    return {
        "encrypt": lambda: client.secrets.transit.encrypt_data(key, plaintext),
        "decrypt": lambda: client.secrets.transit.decrypt_data(
            key, client.secrets.transit.encrypt_data(key, plaintext)["data"]["ciphertext"]),
        "read": lambda: client.secrets.transit.read_key(key),
        "rotate": lambda: client.secrets.transit.rotate_key(key),
    }


@pytest.mark.parametrize("operation", ["encrypt", "decrypt", "read", "rotate"])
def test_tenant_uses_its_own_key(tenants, operation):
    own = tenants["a"]
    response = operations(own["client"], own["key"])[operation]()
    if operation == "decrypt":
        assert base64.b64decode(response["data"]["plaintext"]) == b"tenant data"
    else:
        assert response is not None and getattr(response, "status_code", 200) in (200, 204)


@pytest.mark.parametrize("operation", ["encrypt", "decrypt", "read", "rotate"])
def test_tenant_gets_403_on_other_key(openbao, tenants, operation):
    if operation == "decrypt":
        # a genuine ciphertext of tenant B, made by tenant B
        other = tenants["b"]
        ciphertext = other["client"].secrets.transit.encrypt_data(
            other["key"], base64.b64encode(b"b secret").decode())["data"]["ciphertext"]

        def attempt():
            return tenants["a"]["client"].secrets.transit.decrypt_data(other["key"], ciphertext)
    else:
        attempt = operations(tenants["a"]["client"], tenants["b"]["key"])[operation]
    with pytest.raises(hvac.exceptions.Forbidden) as denied:
        attempt()
    assert "permission denied" in str(denied.value)
    latest = hvac.Client(url=openbao.url, token=openbao.root_token).secrets.transit.read_key(tenants["b"]["key"])
    assert latest["data"]["latest_version"] == 1  # B's key was never rotated by A


def test_module_with_tenant_approle(openbao, tenants, vault_module):
    tenant = tenants["a"]
    auth = dict(url=openbao.url, auth_method="approle", role_id=tenant["role_id"], secret_id=tenant["secret_id"])
    own = vault_module("vault_transit_key", dict(auth, name=tenant["key"], auto_rotate_period="30d"))
    assert own["rc"] == 0 and own["changed"] is False and own["key"]["name"] == tenant["key"]
    other = vault_module("vault_transit_key", dict(auth, name=tenants["b"]["key"], auto_rotate_period="30d"))
    assert other["failed"] is True and "permission denied (403)" in other["msg"]
    assert tenant["secret_id"] not in str(own) + str(other)


def test_module_with_wrong_secret_id(openbao, tenants, vault_module):
    auth = dict(url=openbao.url, auth_method="approle", role_id=tenants["a"]["role_id"], secret_id="wrong-secret")
    result = vault_module("vault_transit_key", dict(auth, name=tenants["a"]["key"]))
    assert result["failed"] is True and "log in with AppRole" in result["msg"]
    assert "role_id/secret_id" in result["msg"]
