# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tenant-derived names have one owner (tenant_names), and a catalogue in which two tenants would map
to one name is refused by both roles' filters before anything changes (issue 21: gamma and gamma-transit)."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.sovereign.cluster.plugins.filter.tenants import FilterModule
from ansible_collections.sovereign.cluster.plugins.module_utils import tenant_inputs as ti
from ansible_collections.sovereign.cluster.plugins.module_utils import tenant_names as tn

FILTERS = FilterModule().filters()
SETTINGS = {"fallback_dns": "10.0.0.53"}
KMS_KEY = {"name": "kube-secrets", "purpose": "kms", "approle": "kms-plugin"}
CLEAN = [{"name": "alpha", "zone": "secnumcloud", "vault": {"auto_rotate_period": "7d"}},
         {"name": "beta", "zone": "secnumcloud"},
         {"name": "gamma", "zone": "standard", "state": "absent"}]
GAMMA_PAIR = [{"name": "gamma", "zone": "secnumcloud"}, {"name": "gamma-transit", "zone": "secnumcloud"}]
GAMMA_ERROR = (
    "sovereign_tenants[0].name 'gamma' and sovereign_tenants[1].name 'gamma-transit' map to the same Vault policy "
    "'tenant-gamma-transit' (gamma's transit key policy tenant-<name><vault_transit_policy_suffix>, gamma-transit's "
    "tenant policy <vcluster_tenant_vault_policy_prefix><name>): every run would overwrite one with the other and one "
    "holder would get the other's access; rename one of the tenants, or change vault_transit_policy_suffix or "
    "vcluster_tenant_vault_policy_prefix so that the names differ")


def test_default_shapes():
    assert tn.tenant_names({"name": "gamma"}) == {
        "namespace": "tenant-gamma", "transit_key": "tenant-gamma", "transit_policy": "tenant-gamma-transit",
        "vcluster_policy": "tenant-gamma", "approle": "tenant-gamma", "kv_prefix": "tenants/gamma",
        "kv_path": "tenants/gamma/kubeconfig"}


def test_settings_shape_the_names_and_null_takes_the_default():
    names = tn.tenant_names("gamma", {"namespace_prefix": "t-", "vault_policy_prefix": "site-",
                                      "kv_path_prefix": "kv/tenants", "transit_policy_suffix": None})
    assert names == {"namespace": "t-gamma", "transit_key": "tenant-gamma", "transit_policy": "tenant-gamma-transit",
                     "vcluster_policy": "site-gamma", "approle": "tenant-gamma", "kv_prefix": "kv/tenants/gamma",
                     "kv_path": "kv/tenants/gamma/kubeconfig"}


def test_gamma_and_gamma_transit_are_refused_naming_both_the_name_the_fields_and_the_fix():
    assert tn.name_collisions(GAMMA_PAIR) == [GAMMA_ERROR]


def test_vcluster_tenant_plan_refuses_gamma_and_gamma_transit():
    with pytest.raises(AnsibleFilterError) as info:
        FILTERS["tenant_plan"](GAMMA_PAIR, SETTINGS)
    assert str(info.value) == "sovereign_tenants is invalid, nothing was changed:\n- " + GAMMA_ERROR
    assert ti.validate_tenants(GAMMA_PAIR, SETTINGS) == [GAMMA_ERROR]


def test_vault_transit_key_list_refuses_gamma_and_gamma_transit():
    with pytest.raises(AnsibleFilterError) as info:
        FILTERS["transit_key_list"]([KMS_KEY], GAMMA_PAIR, {"transit_policy_suffix": "-transit"})
    assert str(info.value) == "vault_transit_keys and the tenants are refused, nothing was changed:\n- " + GAMMA_ERROR


def test_a_and_a_x_collide_when_the_suffix_is_x():
    errors = tn.name_collisions([{"name": "a"}, {"name": "a-x"}], {"transit_policy_suffix": "-x"})
    assert errors == [
        "sovereign_tenants[0].name 'a' and sovereign_tenants[1].name 'a-x' map to the same Vault policy 'tenant-a-x' "
        "(a's transit key policy tenant-<name><vault_transit_policy_suffix>, a-x's tenant policy "
        "<vcluster_tenant_vault_policy_prefix><name>): every run would overwrite one with the other and one holder "
        "would get the other's access; rename one of the tenants, or change vault_transit_policy_suffix or "
        "vcluster_tenant_vault_policy_prefix so that the names differ"]
    # The same pair with the default suffix maps to distinct names everywhere.
    assert tn.name_collisions([{"name": "a"}, {"name": "a-x"}]) == []


def test_a_policy_prefix_that_reaches_into_another_tenant_collides():
    errors = tn.name_collisions([{"name": "gamma"}, {"name": "transit"}], {"vault_policy_prefix": "tenant-gamma-"})
    assert len(errors) == 1
    assert errors[0].startswith("sovereign_tenants[0].name 'gamma' and sovereign_tenants[1].name 'transit' map to "
                                "the same Vault policy 'tenant-gamma-transit' (")


def test_a_tenant_against_itself_when_the_suffix_is_empty():
    errors = tn.name_collisions([{"name": "alpha"}], {"transit_policy_suffix": ""})
    assert errors == [
        "sovereign_tenants[0].name 'alpha' maps twice to the same Vault policy 'tenant-alpha' (alpha's transit key "
        "policy tenant-<name><vault_transit_policy_suffix>, alpha's tenant policy "
        "<vcluster_tenant_vault_policy_prefix><name>): every run would overwrite one with the other and one holder "
        "would get the other's access; rename the tenant, or change vault_transit_policy_suffix or "
        "vcluster_tenant_vault_policy_prefix so that the names differ"]


def test_vault_names_compare_case_insensitively():
    errors = tn.name_collisions([{"name": "gamma"}, {"name": "transit"}], {"vault_policy_prefix": "TENANT-GAMMA-"})
    assert [e.split(" (")[0] for e in errors] == [
        "sovereign_tenants[0].name 'gamma' and sovereign_tenants[1].name 'transit' map to the same Vault policy "
        "'tenant-gamma-transit'"]


def test_distinct_names_never_share_a_namespace_key_approle_or_kv_path():
    # One prefix per kind: these kinds are injective in the tenant name, even for names shaped like others' names.
    tenants = [{"name": n} for n in ("a", "a-x", "x", "tenant-a", "transit", "tenants", "kubeconfig")]
    for settings in ({}, {"namespace_prefix": "", "kv_path_prefix": "", "transit_policy_suffix": "-zz"}):
        assert tn.name_collisions(tenants, settings) == []
        for kind in ("namespace", "transit_key", "approle", "kv_prefix", "kv_path"):
            assert len(set(tn.tenant_names(t, settings)[kind] for t in tenants)) == len(tenants), kind


def test_a_name_declared_twice_is_one_error_and_only_once_in_the_plan():
    tenants = [{"name": "alpha", "zone": "z"}, {"name": "alpha", "zone": "z"}]
    assert tn.name_collisions(tenants) == [
        "sovereign_tenants[1].name 'alpha' is declared twice (also sovereign_tenants[0]): tenant names must be unique"]
    assert tn.name_collisions(tenants, duplicates=False) == []
    # The plan leaves it to check_tenant_catalog, whose message it already had: one error, not two.
    assert [e for e in ti.validate_tenants(tenants, SETTINGS) if "'alpha'" in e] == [
        "sovereign_tenants[1].name 'alpha' is declared twice (also tenants[0]): tenant names must be unique"]


def test_declared_keys_against_tenants():
    errors = tn.name_collisions([{"name": "gamma"}], None, [{"name": "kms", "approle": "tenant-gamma"},
                                                            {"name": "other", "policy": "tenant-gamma"}])
    assert errors == [
        "sovereign_tenants[0].name 'gamma' and vault_transit_keys[1] (key 'other') map to the same Vault policy "
        "'tenant-gamma' (gamma's tenant policy <vcluster_tenant_vault_policy_prefix><name>, key other's transit key "
        "policy (vault_transit_keys[1].policy)): every run would overwrite one with the other and one holder would get "
        "the other's access; rename the tenant or the declared key, or change vcluster_tenant_vault_policy_prefix so "
        "that the names differ",
        "sovereign_tenants[0].name 'gamma' and vault_transit_keys[0] (key 'kms') map to the same Vault AppRole "
        "'tenant-gamma' (gamma's AppRole tenant-<name>, key kms's AppRole (vault_transit_keys[0].approle)): every run "
        "would overwrite one with the other and one holder would get the other's access; rename the tenant or the "
        "declared key"]


def test_two_declared_keys_with_one_name():
    errors = tn.name_collisions([], None, [KMS_KEY, dict(KMS_KEY, approle="other")])
    assert [e.split(" (key")[0] for e in errors] == ["vault_transit_keys[0]", "vault_transit_keys[0]"]
    assert [e.split("map to the same ")[1].split(" (")[0] for e in errors] == [
        "Vault transit key 'kube-secrets'", "Vault policy 'kube-secrets-transit'"]
    assert all(e.endswith("rename one of the declared keys") for e in errors)


def test_a_tenant_without_a_name_is_reported():
    assert tn.name_collisions([{"zone": "z"}]) == [
        "sovereign_tenants[0] has no name: give every tenant a name (a DNS-1123 label)"]


def test_clean_catalogue_is_accepted_and_vault_transit_keys_are_exact():
    assert tn.name_collisions(CLEAN, SETTINGS, [KMS_KEY]) == []
    assert ti.validate_tenants(CLEAN, SETTINGS) == []
    assert FILTERS["transit_key_list"]([KMS_KEY], CLEAN, {"transit_policy_suffix": "-transit"}) == [
        {"name": "kube-secrets", "purpose": "kms", "approle": "kms-plugin", "policy": "kube-secrets-transit"},
        {"name": "tenant-alpha", "purpose": "tenant", "policy": "tenant-alpha-transit", "approle": "tenant-alpha",
         "auto_rotate_period": "7d"},
        {"name": "tenant-beta", "purpose": "tenant", "policy": "tenant-beta-transit", "approle": "tenant-beta"},
        {"name": "tenant-gamma", "purpose": "tenant", "policy": "tenant-gamma-transit", "approle": "tenant-gamma"}]


@pytest.mark.parametrize("settings", [{}, {"namespace_prefix": "t-", "vault_policy_prefix": "vc-",
                                           "kv_path_prefix": "kv/t", "transit_policy_suffix": "-key"}])
def test_both_roles_render_the_owner_functions_names(settings):
    settings = dict(SETTINGS, **settings)
    plans = FILTERS["tenant_plan"](CLEAN, settings)
    keys = FILTERS["transit_key_list"]([], CLEAN, settings)
    for tenant, plan, key in zip(CLEAN, plans, keys):
        names = FILTERS["tenant_names"](tenant, settings)
        assert plan["namespace"] == names["namespace"]
        assert plan["vault"]["transit_key"] == key["name"] == names["transit_key"]
        assert plan["vault"]["policy_name"] == names["vcluster_policy"]
        assert plan["vault"]["kv_path"] == names["kv_path"]
        assert key["policy"] == names["transit_policy"] and key["approle"] == names["approle"]
        if plan["state"] == "present":
            assert plan["vault"]["policy"].splitlines()[1:] == [
                'path "transit/encrypt/%s" {' % names["transit_key"], '  capabilities = ["update"]', "}",
                'path "transit/decrypt/%s" {' % names["transit_key"], '  capabilities = ["update"]', "}",
                'path "secret/data/%s/*" {' % names["kv_prefix"], '  capabilities = ["read"]', "}",
                'path "secret/metadata/%s/*" {' % names["kv_prefix"], '  capabilities = ["read", "list"]', "}"]
            assert {m["metadata"].get("namespace", m["metadata"]["name"]) for m in plan["manifests"]} == {
                names["namespace"]}
        else:
            assert {o["metadata"].get("namespace", o["metadata"]["name"]) for o in plan["offboard_objects"]} == {
                names["namespace"]}


def test_tenant_names_filter_needs_a_name():
    with pytest.raises(AnsibleFilterError, match="tenant_names needs a tenant with a name"):
        FILTERS["tenant_names"]({"zone": "z"})


def test_the_role_tasks_take_names_from_the_owner(repo_dir):
    """No task file derives a tenant name itself: the shapes live in tenant_names only."""
    for role in ("vault_transit", "vcluster_tenant"):
        for path in sorted((repo_dir / "roles" / role / "tasks").glob("*.yml")):
            text = path.read_text()
            for shape in ("'tenant-' ~", "~ vault_transit_policy_suffix", "default(item.name)",
                          "vcluster_tenant_vault_policy_prefix ~", "vcluster_tenant_namespace_prefix ~"):
                assert shape not in text, (path.name, shape)
    validate = (repo_dir / "roles" / "vault_transit" / "tasks" / "validate.yml").read_text()
    assert "sovereign.cluster.transit_key_list(" in validate
