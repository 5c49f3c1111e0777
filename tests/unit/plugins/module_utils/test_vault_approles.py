"""The AppRole plan of the vault_approle module, as pure functions (the module runs it against a real OpenBao in
tests/integration/vault/test_vault_approle.py)."""
from ansible_collections.sovereign.cluster.plugins.module_utils.vault_approles import (
    MANAGED,
    approle_input_errors,
    plan_approles,
    transit_approles,
)


def params(roles, **extra):
    return dict({"mount_point": "approle", "roles": roles, "state": "present", "allow_any_cidr": False,
                 "issue_secret_id": False, "secret_id_wrap_ttl": None, "task_no_log": False}, **extra)


def test_a_good_declaration_has_no_errors():
    roles = [{"name": "tenant-a", "token_policies": ["tenant-a-transit"], "token_ttl": "20m", "token_max_ttl": "1h",
              "secret_id_ttl": "0", "token_bound_cidrs": ["10.0.0.0/8"], "secret_id_bound_cidrs": ["fd00::/8"]}]
    assert approle_input_errors(params(roles)) == []
    assert approle_input_errors(params([{"name": "x"}], state="absent")) == []


def test_every_bad_field_is_named_at_once():
    errors = approle_input_errors(params([
        {"name": "a", "token_policies": ["root", "Upper"]},
        {"name": "b", "token_ttl": "30s", "token_max_ttl": "800h"},
        {"name": "c", "token_ttl": "2h", "token_max_ttl": "1h", "secret_id_ttl": "-1"},
        {"name": "a", "token_bound_cidrs": "10.0.0.0/8", "policies": ["p"]},
        {"name": ""},
        "not-a-mapping",
    ], mount_point="bad mount"))
    fields = [error.split(":")[0] for error in errors]
    assert fields == ["mount_point", "roles[0].token_policies[0]", "roles[0].token_policies[1]", "roles[1].token_ttl",
                      "roles[1].token_max_ttl", "roles[2].token_ttl", "roles[2].secret_id_ttl",
                      "roles[3].token_bound_cidrs", "roles[3].policies", "roles[3].name", "roles[4].name", "roles[5]"]
    assert "declared twice (also roles[0])" in errors[9]
    assert "the root policy gives every right" in errors[1]


def test_every_address_needs_the_acknowledgement():
    roles = [{"name": "a", "token_bound_cidrs": ["0.0.0.0/0"], "secret_id_bound_cidrs": ["::/0"]}]
    errors = approle_input_errors(params(roles))
    assert len(errors) == 2 and all("set allow_any_cidr: true" in error for error in errors)
    assert approle_input_errors(params(roles, allow_any_cidr=True)) == []


def test_secret_ids_need_a_no_log_task_and_wrap_ttl_needs_issue():
    roles = [{"name": "a"}]
    assert "the task is not no_log" in approle_input_errors(params(roles, issue_secret_id=True))[0]
    assert approle_input_errors(params(roles, issue_secret_id=True, task_no_log=True, secret_id_wrap_ttl="5m")) == []
    assert approle_input_errors(params(roles, secret_id_wrap_ttl="5m"))[0].startswith("secret_id_wrap_ttl: set without")
    assert "out of range" in approle_input_errors(params(roles, issue_secret_id=True, task_no_log=True,
                                                         secret_id_wrap_ttl="2d"))[0]
    assert approle_input_errors(params(roles, state="absent", issue_secret_id=True, task_no_log=True))[0].startswith(
        "issue_secret_id: set with state=absent")


def test_plan_compares_in_the_servers_form():
    declared = [{"name": "same", "token_ttl": "1h", "token_policies": ["b", "a"], "token_bound_cidrs": ["10.1.2.3/8"]},
                {"name": "ttl", "token_ttl": "30m"},
                {"name": "new", "token_policies": ["n"]}]
    live = {"same": {"token_ttl": 3600, "token_policies": ["a", "b"], "token_bound_cidrs": ["10.0.0.0/8"],
                     "token_max_ttl": 7200},
            "ttl": {"token_ttl": 1200, "token_max_ttl": 0},
            "new": None}
    steps = plan_approles(declared, live, "present")
    assert [(step["name"], step["action"], step["fields"]) for step in steps] == [
        ("same", "none", []), ("ttl", "update", ["token_ttl"]), ("new", "create", ["token_policies"])]
    assert steps[1]["before"] == {"token_ttl": 1200} and steps[1]["after"] == {"token_ttl": 1800}
    assert steps[2]["before"] is None and steps[2]["after"] == {"token_policies": ["n"]}


def test_plan_absent_deletes_only_what_exists():
    steps = plan_approles([{"name": "gone"}, {"name": "never"}], {"gone": {"token_ttl": 60}, "never": None}, "absent")
    assert [(step["name"], step["action"]) for step in steps] == [("gone", "delete"), ("never", "none")]
    assert sorted(steps[0]["before"]) == sorted(MANAGED) and steps[0]["after"] is None


def test_transit_approles_take_the_keys_settings_else_the_defaults():
    keys = [{"name": "kube-secrets", "policy": "kube-secrets-transit", "approle": "kms-plugin", "token_ttl": "5m"},
            {"name": "tenant-a", "policy": "tenant-a-transit", "approle": "tenant-a", "secret_id_bound_cidrs": ["10.0.0.0/8"]},
            {"name": "no-holder", "policy": "p", "approle": None}]
    defaults = {"token_ttl": 3600, "token_max_ttl": 86400, "secret_id_ttl": 0, "token_bound_cidrs": [],
                "secret_id_bound_cidrs": []}
    assert transit_approles(keys, defaults) == [
        {"name": "kms-plugin", "token_policies": ["kube-secrets-transit"], "token_ttl": "5m", "token_max_ttl": "86400",
         "secret_id_ttl": "0", "token_bound_cidrs": [], "secret_id_bound_cidrs": []},
        {"name": "tenant-a", "token_policies": ["tenant-a-transit"], "token_ttl": "3600", "token_max_ttl": "86400",
         "secret_id_ttl": "0", "token_bound_cidrs": [], "secret_id_bound_cidrs": ["10.0.0.0/8"]}]
