"""sovereign.cluster.vault_approle against a real OpenBao server: many roles in one call, canonical comparison,
check mode on an empty mount, refusal before any request, secret_ids only to a no_log task, offboarding."""
import uuid

import hvac
import pytest

MANAGED = ("token_policies", "token_ttl", "token_max_ttl", "secret_id_ttl", "token_bound_cidrs", "secret_id_bound_cidrs")


def fresh_mount():
    return "approle-%s" % uuid.uuid4().hex[:8]


def roles(count, **extra):
    return [dict({"name": "tenant-%02d" % number, "token_policies": ["tenant-%02d-transit" % number],
                  "token_ttl": "20m", "token_max_ttl": "1h", "secret_id_ttl": "24h",
                  "secret_id_bound_cidrs": ["10.1.2.3/8"]}, **extra) for number in range(count)]


def auth_mounts(client):
    return client.sys.list_auth_methods()["data"]


def live_role(client, mount, name):
    try:
        return client.auth.approle.read_role(name, mount_point=mount)["data"]
    except hvac.exceptions.InvalidPath:
        return None


def test_check_mode_on_a_missing_mount_then_create_then_unchanged(openbao, root_client, vault_module):
    mount = fresh_mount()
    args = dict(openbao.conn(), mount_point=mount, roles=roles(3))
    predicted = vault_module("vault_approle", args, check_mode=True, diff=True)
    assert predicted["rc"] == 0, predicted
    assert predicted["changed"] is True and predicted["mount_created"] is True
    assert [step["action"] for step in predicted["roles"]] == ["create"] * 3
    assert mount + "/" not in auth_mounts(root_client)  # check mode wrote nothing

    created = vault_module("vault_approle", args, diff=True)
    assert created["rc"] == 0 and created["changed"] is True, created
    assert created["changed_roles"] == ["tenant-00", "tenant-01", "tenant-02"]
    assert created["diff"]["before"] == {"tenant-00": None, "tenant-01": None, "tenant-02": None}
    live = live_role(root_client, mount, "tenant-01")
    assert live["token_policies"] == ["tenant-01-transit"] and live["token_ttl"] == 1200 and live["token_max_ttl"] == 3600
    assert live["secret_id_ttl"] == 86400
    # The server keeps its own spelling; the module compares canonically: the same declaration is no change.
    again = vault_module("vault_approle", args, diff=True)
    assert again["changed"] is False and again["changed_roles"] == [] and again["mount_created"] is False, again
    assert [step["action"] for step in again["roles"]] == ["none"] * 3
    respelled = vault_module("vault_approle", dict(args, roles=roles(3, token_ttl="1200", token_max_ttl="60m")))
    assert respelled["changed"] is False, respelled
    assert "credentials" not in again  # no secret_id unless asked


def test_one_changed_role_among_many_changes_only_it(openbao, root_client, vault_module):
    mount = fresh_mount()
    declared = roles(5)
    assert vault_module("vault_approle", dict(openbao.conn(), mount_point=mount, roles=declared))["changed"] is True
    declared[3] = dict(declared[3], token_ttl="30m")
    declared.append({"name": "tenant-new", "token_policies": ["tenant-new-transit"]})
    args = dict(openbao.conn(), mount_point=mount, roles=declared)
    predicted = vault_module("vault_approle", args, check_mode=True, diff=True)
    assert predicted["changed_roles"] == ["tenant-03", "tenant-new"], predicted
    assert live_role(root_client, mount, "tenant-03")["token_ttl"] == 1200
    assert live_role(root_client, mount, "tenant-new") is None
    updated = vault_module("vault_approle", args, diff=True)
    assert updated["changed_roles"] == ["tenant-03", "tenant-new"]
    step = next(step for step in updated["roles"] if step["name"] == "tenant-03")
    assert step["action"] == "update" and step["fields"] == ["token_ttl"]
    assert updated["diff"]["before"]["tenant-03"]["token_ttl"] == 1200
    assert updated["diff"]["after"]["tenant-03"]["token_ttl"] == 1800
    assert live_role(root_client, mount, "tenant-03")["token_ttl"] == 1800
    assert live_role(root_client, mount, "tenant-02")["token_ttl"] == 1200
    assert vault_module("vault_approle", args)["changed"] is False


BAD_ROLES = [
    {"name": "ok-role", "token_policies": ["root"]},
    {"name": "ttl-role", "token_ttl": "2h", "token_max_ttl": "1h"},
    {"name": "open-role", "token_bound_cidrs": ["0.0.0.0/0"]},
    {"name": "nft-role", "secret_id_bound_cidrs": ["10.0.0.1 accept; tcp dport 1-65535"]},
    {"name": "ok-role"},
    {"name": "bad name"},
    {"name": "long-role", "secret_id_ttl": "4000d"},
]


@pytest.mark.parametrize("check_mode", [True, False], ids=["check", "real"])
def test_bad_input_names_every_field_and_changes_nothing(openbao, root_client, vault_module, check_mode):
    mount = fresh_mount()
    before = auth_mounts(root_client)
    result = vault_module("vault_approle", dict(openbao.conn(), mount_point=mount, roles=BAD_ROLES), check_mode=check_mode)
    assert result["rc"] == 1 and result.get("failed") is True, result
    message = result["msg"]
    for field in ("roles[0].token_policies[0]", "roles[1].token_ttl", "roles[2].token_bound_cidrs[0]",
                  "roles[3].secret_id_bound_cidrs[0]", "roles[4].name", "roles[5].name", "roles[6].secret_id_ttl"):
        assert field in message, (field, message)
    assert "allow_any_cidr" in message and "declared twice" in message and "nothing was read or written" in message
    assert len(result["errors"]) == 7
    assert auth_mounts(root_client) == before


def test_exposure_needs_the_acknowledgement(openbao, root_client, vault_module):
    mount = fresh_mount()
    args = dict(openbao.conn(), mount_point=mount, roles=[{"name": "anywhere", "token_bound_cidrs": ["0.0.0.0/0"]}])
    assert "allow_any_cidr: true" in vault_module("vault_approle", args)["msg"]
    accepted = vault_module("vault_approle", dict(args, allow_any_cidr=True))
    assert accepted["changed"] is True, accepted
    assert live_role(root_client, mount, "anywhere")["token_bound_cidrs"] == ["0.0.0.0/0"]


def test_a_mount_of_another_type_is_refused(openbao, root_client, vault_module):
    mount = fresh_mount()
    root_client.sys.enable_auth_method("userpass", path=mount)
    result = vault_module("vault_approle", dict(openbao.conn(), mount_point=mount, roles=roles(1)))
    assert result["rc"] == 1 and "type 'userpass', not approle" in result["msg"], result
    assert vault_module("vault_approle", dict(openbao.conn(), mount_point=fresh_mount(), roles=roles(1),
                                              enable_mount=False))["msg"].endswith("set enable_mount: true")


def test_secret_ids_only_to_a_no_log_task(openbao, root_client, vault_module):
    mount = fresh_mount()
    root_client.sys.create_or_update_acl_policy("approle-login-check", 'path "sys/health" { capabilities = ["read"] }')
    declared = [{"name": "kms-plugin", "token_policies": ["approle-login-check"], "token_ttl": "5m"}]
    args = dict(openbao.conn(), mount_point=mount, roles=declared, issue_secret_id=True)
    refused = vault_module("vault_approle", args)
    assert refused["rc"] == 1 and "issue_secret_id: the task is not no_log" in refused["msg"], refused
    assert mount + "/" not in auth_mounts(root_client)

    issued = vault_module("vault_approle", dict(args, _ansible_no_log=True))
    assert issued["rc"] == 0 and issued["changed"] is True, issued
    credentials = issued["credentials"]["kms-plugin"]
    login = hvac.Client(url=openbao.url)
    login.auth.approle.login(role_id=credentials["role_id"], secret_id=credentials["secret_id"], mount_point=mount)
    assert login.lookup_token()["data"]["policies"] == ["approle-login-check", "default"]

    wrapped = vault_module("vault_approle", dict(args, _ansible_no_log=True, secret_id_wrap_ttl="2m"))
    token = wrapped["credentials"]["kms-plugin"]["wrapping_token"]
    assert "secret_id" not in wrapped["credentials"]["kms-plugin"]
    unwrapped = hvac.Client(url=openbao.url, token=token).sys.unwrap()["data"]
    holder = hvac.Client(url=openbao.url)
    holder.auth.approle.login(role_id=credentials["role_id"], secret_id=unwrapped["secret_id"], mount_point=mount)
    with pytest.raises(hvac.exceptions.VaultError):  # a wrapping token works once
        hvac.Client(url=openbao.url, token=token).sys.unwrap()
    assert vault_module("vault_approle", dict(args, issue_secret_id=False, _ansible_no_log=True))["changed"] is False


def test_offboarding_deletes_in_one_call(openbao, root_client, vault_module):
    mount = fresh_mount()
    conn = dict(openbao.conn(), mount_point=mount)
    vault_module("vault_approle", dict(conn, roles=roles(4)))
    gone = [{"name": "tenant-01"}, {"name": "tenant-03"}, {"name": "never-existed"}]
    predicted = vault_module("vault_approle", dict(conn, roles=gone, state="absent"), check_mode=True)
    assert predicted["changed_roles"] == ["tenant-01", "tenant-03"]
    assert live_role(root_client, mount, "tenant-01") is not None
    deleted = vault_module("vault_approle", dict(conn, roles=gone, state="absent"), diff=True)
    assert [step["action"] for step in deleted["roles"]] == ["delete", "delete", "none"], deleted
    assert sorted(deleted["diff"]["before"]["tenant-01"]) == sorted(MANAGED)
    assert live_role(root_client, mount, "tenant-01") is None and live_role(root_client, mount, "tenant-02") is not None
    assert vault_module("vault_approle", dict(conn, roles=gone, state="absent"))["changed"] is False
