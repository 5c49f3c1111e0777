# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tenant filters: a bad catalogue fails before anything changes, each error naming
``sovereign_tenants[i]``, the tenant and the field; cross-tenant checks (unique names, dedicated
pools, namespaces, separation of duties) reuse tenant_rbac.check_tenant_catalog."""
import copy
import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.sovereign.cluster.plugins.filter.tenants import FilterModule

FILTERS = FilterModule().filters()
SETTINGS = {"fallback_dns": "10.0.0.53"}
GOOD = [
    {"name": "alpha", "zone": "secnumcloud", "admins": ["alpha-admins"], "auditors": ["alpha-audit"]},
    {"name": "beta", "zone": "secnumcloud", "isolation": "dedicated", "node_pool": "pool-b"},
]


def fails_with(tenants, settings=None):
    with pytest.raises(AnsibleFilterError) as info:
        FILTERS["tenant_validate"](tenants, SETTINGS if settings is None else settings)
    return str(info.value)


def with_tenant(index, **changes):
    tenants = copy.deepcopy(GOOD)
    tenants[index].update(changes)
    return tenants


def test_valid_catalogue_passes_through_unchanged():
    assert FILTERS["tenant_validate"](GOOD, SETTINGS) is GOOD
    assert [p["namespace"] for p in FILTERS["tenant_plan"](GOOD, SETTINGS)] == ["tenant-alpha", "tenant-beta"]


def test_bad_name_names_index_field_and_fix():
    message = fails_with(GOOD + [{"name": "Team_A", "zone": "secnumcloud"}])
    assert "sovereign_tenants[2].name 'Team_A' is not a DNS-1123 label: use at most 63 lowercase letters, digits and '-'" in message
    assert message.startswith("sovereign_tenants is invalid, nothing was changed:")


@pytest.mark.parametrize("changes, expected", [
    ({"isolation": "exclusive"}, "sovereign_tenants[0] (tenant 'alpha').isolation 'exclusive' is not one of shared, dedicated, private"),
    ({"quotas": {"cpu": "lots"}}, "sovereign_tenants[0] (tenant 'alpha').quotas.cpu 'lots' is not a Kubernetes quantity"),
    ({"quotas": {"gpu": 1.5}}, "sovereign_tenants[0] (tenant 'alpha').quotas.gpu 1.5 must be a whole number"),
    ({"quotas": {"mig": {"2g.99": 1}}}, "sovereign_tenants[0] (tenant 'alpha').quotas.mig key '2g.99' is not a MIG profile"),
    ({"quotas": {"gpus": 1}}, "sovereign_tenants[0] (tenant 'alpha').quotas.gpus is not a known setting"),
    ({"network": {"egress": [{"cidr": "10.0.0.1/8"}]}},
     "sovereign_tenants[0] (tenant 'alpha').network.egress[0].cidr '10.0.0.1/8' is not a network in CIDR notation"),
    ({"network": {"egress": [{"cidr": "10.0.0.0/8", "except": ["192.168.0.0/16"]}]}},
     "sovereign_tenants[0] (tenant 'alpha').network.egress[0].except[0] 192.168.0.0/16 is not inside cidr 10.0.0.0/8"),
    ({"network": {"ingress": [{"cidr": "10.0.0.0/8", "ports": [{"port": 70000}]}]}},
     "sovereign_tenants[0] (tenant 'alpha').network.ingress[0].ports[0].port 70000 must be a number from 1 to 65535"),
    ({"network": {"egress": [{"cidr": "10.0.0.0/8", "ports": [{"port": 53, "protocol": "ICMP"}]}]}},
     "sovereign_tenants[0] (tenant 'alpha').network.egress[0].ports[0].protocol 'ICMP' is not one of TCP, UDP, SCTP"),
    ({"node_pool": "pool-a"}, "sovereign_tenants[0] (tenant 'alpha').node_pool is only for isolation dedicated"),
    ({"vault": {"auto_rotate_period": "monthly"}},
     "sovereign_tenants[0] (tenant 'alpha').vault.auto_rotate_period 'monthly' is not a duration"),
    ({"state": "gone"}, "sovereign_tenants[0] (tenant 'alpha').state 'gone' is not one of present, absent"),
    ({"zone": "Zone 1"}, "sovereign_tenants[0] (tenant 'alpha'): compliance zone: sovereign_tenants[0].zone 'Zone 1'"),
    ({"admins": [{"kind": "ServiceAccount", "name": "x"}]},
     "sovereign_tenants[0] (tenant 'alpha').admins[0] must be an OIDC group name or {kind: User|Group, name}"),
    ({"name": "a" * 60}, "is too long: the host namespace 'tenant-aaaa"),
])
def test_each_bad_field_is_named_with_its_tenant(changes, expected):
    assert expected in fails_with(with_tenant(0, **changes))


def test_dedicated_without_pool_is_refused():
    message = fails_with(with_tenant(1, node_pool=None))
    assert "sovereign_tenants[1] (tenant 'beta'): isolation dedicated needs the node pool" in message


def test_all_errors_are_reported_at_once():
    message = fails_with([{"name": "Bad_1", "zone": "z"}, {"name": "ok", "zone": "z", "quotas": {"cpu": "x"}}])
    assert "sovereign_tenants[0].name 'Bad_1'" in message and "sovereign_tenants[1] (tenant 'ok').quotas.cpu" in message


def test_unique_names():
    message = fails_with(GOOD + [{"name": "alpha", "zone": "other"}])
    assert "sovereign_tenants[2].name 'alpha' is declared twice (also tenants[0])" in message


def test_dedicated_node_pool_serves_one_tenant():
    tenants = GOOD + [{"name": "gamma", "zone": "z", "isolation": "dedicated", "node_pool": "pool-b"}]
    assert ("sovereign_tenants[2].node_pool 'pool-b' (tenant 'gamma') is already dedicated to tenant 'beta' "
            "(sovereign_tenants[1])") in fails_with(tenants)


def test_separation_of_duties_admin_and_auditor():
    message = fails_with(with_tenant(0, auditors=["alpha-admins"]))
    assert "sovereign_tenants[0] (tenant 'alpha')" in message and "Group/alpha-admins" in message
    assert "separation of duties" in message
    # A custom incompatible set replaces the default.
    assert FILTERS["tenant_validate"](with_tenant(0, auditors=["alpha-admins"]),
                                      dict(SETTINGS, incompatible_roles=[])) is not None


def test_platform_identity_is_refused():
    message = fails_with(with_tenant(0, viewers=["system:masters"]))
    assert "sovereign_tenants[0]" in message and "system:masters" in message


def test_two_tenants_cannot_share_a_host_namespace():
    # With an empty prefix, tenant "kube-system" would be the platform's namespace.
    message = fails_with([{"name": "kube-system", "zone": "z"}], dict(SETTINGS, namespace_prefix=""))
    assert "sovereign_tenants[0].namespaces[0]: namespace 'kube-system' belongs to the platform" in message


def test_fallback_dns_required_and_never_public():
    assert "vcluster_tenant_fallback_dns is not set" in fails_with(GOOD, {})
    assert "vcluster_tenant_fallback_dns 8.8.8.8 is a public resolver" in fails_with(GOOD, {"fallback_dns": "8.8.8.8"})


def test_none_suboptions_from_the_argument_spec_are_ignored():
    tenants = with_tenant(0, quotas={"cpu": None, "memory": "4Gi", "mig": None}, node_pool=None)
    assert FILTERS["tenant_validate"](tenants, SETTINGS) is tenants


def test_values_filter_validates_against_the_chart_schema(fixtures_dir, tmp_path):
    schema = str(fixtures_dir / "vcluster" / "values.schema.json")
    values = FILTERS["tenant_plan"](GOOD, SETTINGS)[0]["values"]
    assert FILTERS["vcluster_values_validate"](values, schema, "alpha") is values
    values["policies"]["podSecurityStandard"] = ["restricted"]
    with pytest.raises(AnsibleFilterError) as info:
        FILTERS["vcluster_values_validate"](values, schema, "alpha")
    assert "tenant 'alpha': the rendered vcluster.yaml does not validate" in str(info.value)
    assert "vcluster.yaml policies.podSecurityStandard:" in str(info.value)
    bad_schema = tmp_path / "schema.json"
    bad_schema.write_text("{not json")
    with pytest.raises(AnsibleFilterError, match="vcluster_tenant_values_schema .* cannot be read as JSON"):
        FILTERS["vcluster_values_validate"](values, str(bad_schema), "alpha")
    assert json.loads((fixtures_dir / "vcluster" / "values.schema.json").read_text())["$schema"].endswith("2020-12/schema")
