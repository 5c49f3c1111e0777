"""sovereign.cluster.vault_policy against a real OpenBao server."""
import uuid

import hvac
import pytest

from openbao_server import clean_env, free_port, module_env

POLICY = 'path "transit/encrypt/demo" {\n  capabilities = ["update"]\n}\n'
# Same rights, different layout and a comment: must not count as a change.
POLICY_REFORMATTED = '# demo key\npath "transit/encrypt/demo" { capabilities = [ "update", ] }'
POLICY_V2 = 'path "transit/encrypt/demo" {\n  capabilities = ["update", "read"]\n}\n'


def policy_name():
    return "pol-%s" % uuid.uuid4().hex[:8]


def live_policy(client, name):
    try:
        return client.sys.read_acl_policy(name)["data"]["policy"]
    except hvac.exceptions.InvalidPath:
        return None


def test_create_then_unchanged(openbao, root_client, vault_module):
    name = policy_name()
    first = vault_module("vault_policy", dict(openbao.conn(), name=name, policy=POLICY))
    assert first["rc"] == 0 and first["changed"] is True and first["existed"] is False
    assert live_policy(root_client, name) == POLICY
    second = vault_module("vault_policy", dict(openbao.conn(), name=name, policy=POLICY))
    assert second["changed"] is False and second["existed"] is True
    reformatted = vault_module("vault_policy", dict(openbao.conn(), name=name, policy=POLICY_REFORMATTED))
    assert reformatted["changed"] is False
    assert live_policy(root_client, name) == POLICY


def test_check_mode_changes_nothing(openbao, root_client, vault_module):
    name = policy_name()
    predicted = vault_module("vault_policy", dict(openbao.conn(), name=name, policy=POLICY), check_mode=True)
    assert predicted["changed"] is True
    assert live_policy(root_client, name) is None
    root_client.sys.create_or_update_acl_policy(name, POLICY)
    update = vault_module("vault_policy", dict(openbao.conn(), name=name, policy=POLICY_V2), check_mode=True)
    assert update["changed"] is True
    assert live_policy(root_client, name) == POLICY
    same = vault_module("vault_policy", dict(openbao.conn(), name=name, policy=POLICY), check_mode=True)
    assert same["changed"] is False


def test_diff_shows_policy_text(openbao, vault_module):
    name = policy_name()
    created = vault_module("vault_policy", dict(openbao.conn(), name=name, policy=POLICY), diff=True)
    assert created["diff"]["before"] == "" and created["diff"]["after"] == POLICY
    updated = vault_module("vault_policy", dict(openbao.conn(), name=name, policy=POLICY_V2), diff=True)
    assert updated["changed"] is True
    assert updated["diff"]["before"] == POLICY and updated["diff"]["after"] == POLICY_V2


def test_absent_deletes_then_unchanged(openbao, root_client, vault_module):
    name = policy_name()
    root_client.sys.create_or_update_acl_policy(name, POLICY)
    checked = vault_module("vault_policy", dict(openbao.conn(), name=name, state="absent"), check_mode=True)
    assert checked["changed"] is True and live_policy(root_client, name) == POLICY
    removed = vault_module("vault_policy", dict(openbao.conn(), name=name, state="absent"), diff=True)
    assert removed["changed"] is True and removed["diff"]["before"] == POLICY and removed["diff"]["after"] == ""
    assert live_policy(root_client, name) is None
    again = vault_module("vault_policy", dict(openbao.conn(), name=name, state="absent"))
    assert again["changed"] is False


@pytest.mark.parametrize("args, field", [
    (dict(name="pol-bad-hcl", policy='path "x" { capabilities = ["reed"] }'), "`policy`"),
    (dict(name="pol-unparsable", policy='path "x" {'), "`policy`"),
    (dict(name="Tenant-A", policy=POLICY), "name 'Tenant-A'"),
    (dict(name="root", policy=POLICY), "name: the built-in root policy"),
    (dict(name="pol-empty", policy="  # nothing\n"), "policy is required"),
    (dict(name="default", state="absent"), "default policy cannot be deleted"),
])
def test_bad_input_names_the_field(openbao, root_client, vault_module, args, field):
    result = vault_module("vault_policy", dict(openbao.conn(), **args))
    assert result["failed"] is True and result["rc"] != 0
    assert field in result["msg"]
    if args["name"].startswith("pol-"):
        assert live_policy(root_client, args["name"]) is None


def test_wrong_token_is_a_clear_403(openbao, vault_module):
    result = vault_module("vault_policy", dict(url=openbao.url, token="not-a-token", name="pol-x", policy=POLICY))
    assert result["failed"] is True
    assert "permission denied (403)" in result["msg"] and "`token`" in result["msg"]
    assert "not-a-token" not in str(result)


def test_unreachable_server_names_url(vault_module):
    url = "http://127.0.0.1:%d" % free_port()
    result = vault_module("vault_policy", dict(url=url, token="x", name="pol-x", policy=POLICY, timeout=3))
    assert result["failed"] is True
    assert "unreachable at %s" % url in result["msg"] and "`url`" in result["msg"]


def test_missing_url_and_token_say_which_variable(vault_module):
    result = vault_module("vault_policy", dict(name="pol-x", policy=POLICY))
    assert result["failed"] is True and "VAULT_ADDR" in result["msg"]


def test_environment_fallback(openbao, root_client, vault_module):
    name = policy_name()
    env = module_env(VAULT_ADDR=openbao.url, VAULT_TOKEN=openbao.root_token)
    result = vault_module("vault_policy", dict(name=name, policy=POLICY), env=env)
    assert result["changed"] is True and live_policy(root_client, name) == POLICY
    no_token = vault_module("vault_policy", dict(name=name, policy=POLICY), env=module_env(VAULT_ADDR=openbao.url))
    assert no_token["failed"] is True and "VAULT_TOKEN" in no_token["msg"]
    assert "VAULT_ADDR" not in clean_env()


def test_tls_needs_the_ca(openbao_tls, vault_module):
    args = dict(openbao_tls.conn(), name=policy_name(), policy=POLICY)
    untrusted = vault_module("vault_policy", args)
    assert untrusted["failed"] is True and "set `ca_cert`" in untrusted["msg"]
    trusted = vault_module("vault_policy", dict(args, ca_cert=openbao_tls.ca_cert))
    assert trusted["rc"] == 0 and trusted["changed"] is True
    from_env = vault_module("vault_policy", args, env=module_env(VAULT_CACERT=openbao_tls.ca_cert))
    assert from_env["rc"] == 0 and from_env["changed"] is False
    unverified = vault_module("vault_policy", dict(args, validate_certs=False))
    assert unverified["rc"] == 0 and unverified["changed"] is False


# --- many policies in one call (policies) -------------------------------------------------------------------------

def test_many_policies_in_one_call(openbao, root_client, vault_module):
    names = [policy_name() for number in range(4)]
    args = dict(openbao.conn(), policies=[{"name": name, "policy": POLICY} for name in names])
    predicted = vault_module("vault_policy", args, check_mode=True, diff=True)
    assert predicted["rc"] == 0 and predicted["changed_policies"] == names, predicted
    assert all(live_policy(root_client, name) is None for name in names)
    assert predicted["diff"]["after"].count("# policy ") == 4
    created = vault_module("vault_policy", args)
    assert created["changed_policies"] == names and all(live_policy(root_client, name) == POLICY for name in names)
    args["policies"][0] = {"name": names[0], "policy": POLICY_REFORMATTED}
    assert vault_module("vault_policy", args)["changed"] is False
    args["policies"][1] = {"name": names[1], "policy": POLICY_V2}
    args["policies"][3] = {"name": names[3], "state": "absent"}
    changed = vault_module("vault_policy", args, diff=True)
    assert changed["changed_policies"] == [names[1], names[3]], changed
    assert changed["diff"]["before"] == "# policy %s\n%s\n# policy %s\n%s\n" % (names[1], POLICY, names[3], POLICY)
    assert live_policy(root_client, names[1]) == POLICY_V2 and live_policy(root_client, names[3]) is None
    assert [entry["existed"] for entry in changed["policies"]] == [True] * 4


def test_many_policies_bad_entries_fail_before_any_request(openbao, root_client, vault_module):
    good = policy_name()
    policies = [{"name": good, "policy": POLICY}, {"name": "root", "policy": POLICY}, {"name": "Upper", "policy": POLICY},
                {"name": "x-bad", "policy": 'path "x" {'}, {"name": "default", "state": "absent"}, {"name": good, "policy": POLICY},
                {"name": "y-empty", "policy": ""}, {"name": "z", "policy": POLICY, "polcy": "typo"}]
    result = vault_module("vault_policy", dict(openbao.conn(), policies=policies))
    assert result["rc"] == 1 and "nothing was read or written" in result["msg"], result
    assert [error.split(" ")[0].rstrip(":") for error in result["errors"]] == [
        "policies[1].name", "policies[2].name", "policies[3].`policy`", "policies[4].name", "policies[5].name",
        "policies[6].policy", "policies[7].polcy"]
    assert live_policy(root_client, good) is None
