# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vcluster_tenant renderers: every manifest validates (kubernetes-validate, strict, 1.33-1.37),
every vcluster.yaml validates against the real chart schema (../shared/fixtures/vcluster), and the
isolation properties hold (default deny, DNS to CoreDNS on 1053, fallbackDns never 8.8.8.8)."""
import copy
import json

import kubernetes_validate
import pytest

from ansible_collections.sovereign.cluster.plugins.module_utils import tenant_inputs as ti
from ansible_collections.sovereign.cluster.plugins.module_utils import tenant_manifests as tm

K8S_VERSIONS = ["1.33.0", "1.34.0", "1.35.0", "1.36.0", "1.37.0"]
SETTINGS = {"fallback_dns": "10.0.0.53"}

CATALOGUE = [
    {"name": "alpha", "zone": "secnumcloud", "isolation": "shared",
     "quotas": {"cpu": "8", "memory": "32Gi", "storage": "500Gi", "gpu": 2, "pods": 100},
     "limits": {"max_cpu": "4", "max_memory": "16Gi"},
     "network": {"egress": [{"cidr": "10.20.0.0/16", "except": ["10.20.5.0/24"],
                             "ports": [{"port": 443}, {"port": 5432, "protocol": "TCP"}, 8080]},
                            {"cidr": "2001:db8::/64"}],
                 "ingress": [{"cidr": "192.168.10.0/24", "ports": [{"port": 30000, "end_port": 30100}]}]},
     "admins": ["alpha-admins"], "developers": ["alpha-devs"], "viewers": [{"kind": "User", "name": "eve@example.org"}],
     "auditors": ["alpha-audit"]},
    {"name": "beta", "zone": "restricted", "isolation": "dedicated", "node_pool": "gpu-pool-b",
     "quotas": {"cpu": 4, "memory": "16Gi", "mig": {"1g.10gb": 3, "3g.40gb": 1, "1g.10gb.me": 1}}},
    {"name": "gamma", "zone": "standard", "isolation": "private", "quotas": {}},
]


@pytest.fixture(scope="module")
def chart_schema(fixtures_dir):
    return json.loads((fixtures_dir / "vcluster" / "values.schema.json").read_text())


@pytest.fixture(scope="module")
def plans():
    return tm.tenant_plan(CATALOGUE, SETTINGS)


def test_kubernetes_validate_ships_the_versions_we_claim():
    for version in K8S_VERSIONS:
        # Raises SchemaNotFoundError when the version is not shipped; a valid object returns quietly.
        kubernetes_validate.validate({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}},
                                     version, strict=True)
        # ...and the schema is applied strictly: an unknown field is refused for that version.
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"},
                                          "tenant": "not-a-field"}, version, strict=True)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_rendered_manifest_validates_strictly(plans, version):
    count = 0
    for plan in plans:
        for manifest in plan["manifests"]:
            kubernetes_validate.validate(manifest, version, strict=True)
            count += 1
    assert count == 3 * 6 + 1 + 1  # 3 base objects + 3 policies each, alpha's declared egress and ingress


def test_strict_validation_catches_an_unknown_field(plans):
    broken = copy.deepcopy(plans[0]["manifests"][1])
    broken["spec"]["hardd"] = broken["spec"].pop("hard")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.37.0", strict=True)


def test_every_vcluster_yaml_validates_against_the_chart_schema(plans, chart_schema):
    for plan in plans:
        assert tm.vcluster_values_errors(plan["values"], chart_schema) == [], plan["name"]


def test_an_invalid_vcluster_yaml_is_caught(plans, chart_schema):
    values = copy.deepcopy(plans[0]["values"])
    values["policies"]["networkPolicy"]["enabled"] = "yes"
    values["sync"]["toHost"]["podz"] = {"enabled": True}
    errors = tm.vcluster_values_errors(values, chart_schema)
    assert any(e.startswith("vcluster.yaml policies.networkPolicy.enabled:") for e in errors), errors
    assert any("podz" in e for e in errors), errors


def test_fallback_dns_of_8888_is_caught_even_though_the_schema_allows_it(plans, chart_schema):
    values = copy.deepcopy(plans[0]["values"])
    values["policies"]["networkPolicy"]["fallbackDns"] = "8.8.8.8"
    assert tm.vcluster_values_errors(values, chart_schema) == [
        "vcluster.yaml policies.networkPolicy.fallbackDns is '8.8.8.8': set the site's internal DNS "
        "(the chart's default is the public 8.8.8.8)"]


def test_fallback_dns_is_the_sites_and_never_public(plans):
    for plan in plans:
        assert plan["values"]["policies"]["networkPolicy"]["fallbackDns"] == "10.0.0.53"
    assert ti.validate_tenants(CATALOGUE, {"fallback_dns": "8.8.8.8"}) == [
        "vcluster_tenant_fallback_dns 8.8.8.8 is a public resolver: a sovereign tenant resolves names through the "
        "site's internal DNS (a private address)"]
    assert ti.validate_tenants(CATALOGUE, {"fallback_dns": "1.1.1.1"})[0].startswith("vcluster_tenant_fallback_dns 1.1.1.1 is")
    assert "is not set" in ti.validate_tenants(CATALOGUE, {})[0]
    # Only offboarding: no DNS needed.
    assert ti.validate_tenants([dict(CATALOGUE[2], state="absent")], {}) == []


def test_vcluster_values_are_restricted_and_policies_on(plans):
    for plan in plans:
        policies = plan["values"]["policies"]
        assert policies["podSecurityStandard"] == "restricted"
        assert policies["networkPolicy"]["enabled"] is True
        assert policies["networkPolicy"]["workload"]["publicEgress"]["enabled"] is False


def test_isolation_modes_change_scheduling_and_sync(plans):
    shared, dedicated, private = (p["values"] for p in plans)
    assert "scheduling" not in shared["controlPlane"]["statefulSet"] and "privateNodes" not in shared
    assert shared["sync"]["fromHost"]["nodes"] == {"enabled": False}
    assert dedicated["controlPlane"]["statefulSet"]["scheduling"] == {
        "nodeSelector": {"sovereign.cluster/node-pool": "gpu-pool-b"},
        "tolerations": [{"key": "sovereign.cluster/node-pool", "operator": "Equal", "value": "gpu-pool-b",
                         "effect": "NoSchedule"}]}
    assert dedicated["sync"]["toHost"]["pods"]["enforceTolerations"] == ["sovereign.cluster/node-pool=gpu-pool-b:NoSchedule"]
    assert dedicated["sync"]["fromHost"]["nodes"]["selector"] == {"all": False,
                                                                  "labels": {"sovereign.cluster/node-pool": "gpu-pool-b"}}
    assert private["privateNodes"] == {"enabled": True}


def test_namespace_is_psa_restricted_and_labelled(plans):
    namespace = plans[0]["manifests"][0]
    labels = namespace["metadata"]["labels"]
    assert namespace["metadata"]["name"] == "tenant-alpha"
    for mode in ("enforce", "audit", "warn"):
        assert labels["pod-security.kubernetes.io/%s" % mode] == "restricted"
    assert labels["sovereign.cluster/tenant"] == "alpha" and labels["sovereign.cluster/zone"] == "secnumcloud"


def test_quota_covers_gpu_and_mig_profiles(plans):
    alpha = plans[0]["manifests"][1]["spec"]["hard"]
    beta = plans[1]["manifests"][1]["spec"]["hard"]
    gamma = plans[2]["manifests"][1]["spec"]["hard"]
    assert alpha["requests.cpu"] == alpha["limits.cpu"] == "8"
    assert alpha["requests.storage"] == "500Gi" and alpha["requests.nvidia.com/gpu"] == "2"
    assert beta["requests.nvidia.com/mig-1g.10gb"] == "3" and beta["requests.nvidia.com/mig-3g.40gb"] == "1"
    assert beta["requests.nvidia.com/mig-1g.10gb.me"] == "1" and beta["requests.cpu"] == "4"
    assert gamma == {"requests.nvidia.com/gpu": "0"}  # no quota declared: still no GPU


def test_network_policies_default_deny_and_dns_to_vcluster_coredns(plans):
    policies = {p["metadata"]["name"]: p["spec"] for p in plans[0]["manifests"] if p["kind"] == "NetworkPolicy"}
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    dns = policies["allow-vcluster-dns"]["egress"]
    assert dns == [{"to": [{"podSelector": {}}], "ports": [{"protocol": "UDP", "port": 1053},
                                                           {"protocol": "TCP", "port": 1053}]}]
    # Same-namespace peers only (no namespaceSelector): nothing reaches another tenant's namespace.
    for spec in policies.values():
        for rule in spec.get("egress", []) + spec.get("ingress", []):
            for peer in rule.get("to", []) + rule.get("from", []):
                assert "namespaceSelector" not in peer
    egress = policies["allow-declared-egress"]["egress"]
    assert egress[0] == {"to": [{"ipBlock": {"cidr": "10.20.0.0/16", "except": ["10.20.5.0/24"]}}],
                         "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 5432},
                                   {"protocol": "TCP", "port": 8080}]}
    assert egress[1] == {"to": [{"ipBlock": {"cidr": "2001:db8::/64"}}]}
    assert policies["allow-declared-ingress"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 30000, "endPort": 30100}]
    assert "allow-declared-egress" not in [p["metadata"]["name"] for p in plans[2]["manifests"]]


def test_rbac_bindings_and_vault_objects(plans):
    alpha = plans[0]
    assert [b["role"] for b in alpha["rbac_bindings"]] == ["tenant-admin", "developer", "viewer", "auditor"]
    assert alpha["rbac_bindings"][2]["subjects"] == [{"kind": "User", "name": "eve@example.org"}]
    assert alpha["vault"]["transit_key"] == "tenant-alpha" and alpha["vault"]["kv_path"] == "tenants/alpha/kubeconfig"
    assert 'path "transit/encrypt/tenant-alpha"' in alpha["vault"]["policy"]
    assert "tenant-beta" not in alpha["vault"]["policy"]
    assert alpha["vault"]["auto_rotate_period"] == "30d"
    # the entries of the one-call-for-all-tenants batch (vault_transit_key keys, vault_policy policies)
    assert alpha["vault"]["key_entry"] == {"name": "tenant-alpha", "auto_rotate_period": "30d"}
    assert alpha["vault"]["policy_entry"] == {"name": alpha["vault"]["policy_name"], "policy": alpha["vault"]["policy"]}


def test_absent_tenant_renders_deletions_only():
    plan = tm.tenant_plan([dict(CATALOGUE[1], state="absent")], SETTINGS)[0]
    assert plan["manifests"] == [] and plan["values"] == {}
    assert plan["offboard_objects"][-1] == {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tenant-beta"}}
    assert {o["kind"] for o in plan["offboard_objects"]} == {"NetworkPolicy", "LimitRange", "ResourceQuota", "Namespace"}


def test_overrides_are_merged_and_still_schema_checked(chart_schema):
    settings = dict(SETTINGS, values_overrides={"controlPlane": {"statefulSet": {"image": {"registry": "registry.internal"}}}})
    values = tm.tenant_plan(CATALOGUE[:1], settings)[0]["values"]
    assert values["controlPlane"]["statefulSet"]["image"] == {"registry": "registry.internal"}
    assert values["controlPlane"]["statefulSet"]["labels"] == {"sovereign.cluster/tenant": "alpha"}
    assert tm.vcluster_values_errors(values, chart_schema) == []
