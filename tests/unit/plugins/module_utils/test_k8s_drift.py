"""k8s_drift: which desired objects differ from the live ones (what vcluster_tenant writes on a converged run)."""
from ansible_collections.sovereign.cluster.plugins.module_utils.k8s_drift import contained, drifted, quantity

NS = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "t", "labels": {"a": "1"}}}
QUOTA = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q", "namespace": "t"},
         "spec": {"hard": {"requests.cpu": "0.5", "requests.memory": "1Gi", "requests.nvidia.com/gpu": "0"}}}


def live(obj, **extra):
    out = {**obj, "metadata": {**obj["metadata"], "uid": "x", "resourceVersion": "7",
                               "labels": {**obj["metadata"].get("labels", {}), "kubernetes.io/metadata.name": "t"}}}
    out.update(extra)
    return out


def test_quantities_compare_by_value():
    assert quantity("0.5") == quantity("500m")
    assert quantity("1Gi") == quantity("1024Mi")
    assert quantity("2") == quantity("2000m")
    assert quantity("abc") is None and quantity("1Qi") is None


def test_server_defaults_and_normalised_quantities_are_in_sync():
    server_quota = live(QUOTA, status={"used": {}})
    server_quota["spec"] = {"hard": {"requests.cpu": "500m", "requests.memory": "1Gi", "requests.nvidia.com/gpu": "0"}}
    assert drifted([NS, QUOTA], [live(NS, status={"phase": "Active"}), server_quota]) == []


def test_absent_changed_and_removed_list_items_drift():
    assert drifted([NS], []) == [NS]
    assert drifted([NS], [live({**NS, "metadata": {"name": "t", "labels": {"a": "2"}}})]) == [NS]
    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": "t"},
              "spec": {"policyTypes": ["Ingress", "Egress"]}}
    assert drifted([policy], [live({**policy, "spec": {"policyTypes": ["Ingress"]}})]) == [policy]


def test_k8s_info_results_are_accepted_and_matched_by_identity():
    other_ns = live({**QUOTA, "metadata": {"name": "q", "namespace": "other"}})
    results = [{"resources": [live(NS)]}, {"resources": []}, {"resources": [other_ns]}]
    assert drifted([NS, QUOTA], results) == [QUOTA]


def test_contained_is_strict_on_types_that_matter():
    assert contained({"a": [1, 2]}, {"a": [1, 2], "b": 3})
    assert not contained({"a": [1, 2]}, {"a": [1]})
    assert not contained({"a": {"b": 1}}, {"a": "x"})
    assert contained({"port": 443}, {"port": "443"})
    assert not contained({"x": True}, {"x": False})


def test_tenant_quota_must_hold_its_control_plane():
    from ansible_collections.sovereign.cluster.plugins.module_utils.tenant_inputs import validate_tenants

    tenant = {"name": "small", "zone": "secnumcloud", "quotas": {"cpu": "1", "memory": "512Mi"}, "admins": ["g"]}
    errors = validate_tenants([tenant], {"fallback_dns": "10.96.0.10"})
    assert any("sovereign_tenants[0].quotas.memory 512Mi (tenant 'small') cannot hold" in e and "1Gi" in e for e in errors), errors
    assert any("sovereign_tenants[0].quotas.cpu 1" in e for e in errors), errors
    tenant["quotas"] = {"cpu": "2", "memory": "2Gi"}
    assert validate_tenants([tenant], {"fallback_dns": "10.96.0.10"}) == []


def test_objects_waiting_on_a_namespace_this_run_creates():
    from ansible_collections.sovereign.cluster.plugins.module_utils.k8s_drift import waiting_on_namespace

    other = {**QUOTA, "metadata": {"name": "q", "namespace": "live-ns"}}
    live_ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "live-ns"}}
    assert waiting_on_namespace([NS, QUOTA, other], [{"resources": [live_ns]}, {"resources": []}]) == [QUOTA]
