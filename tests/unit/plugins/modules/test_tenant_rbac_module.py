"""The tenant_rbac module where no API server answers, and its ownership filter on lists a server got wrong.

The module's API behaviour (what it reads and writes, idempotence, check mode, diff, prune, refusals before any
write, tokens and kubeconfig contexts) is tested against the real kube-apiserver, its requests read back from the
apiserver's audit log: tests/integration/k8s/test_tenant_rbac_module_api.py.
"""
import json
import socket

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.sovereign.cluster.plugins.modules import tenant_rbac

TENANT_LABEL = "sovereign.cluster/tenant"
MANAGED = {"app.kubernetes.io/managed-by": "sovereign.cluster.tenant_rbac"}
TOKEN = "s3cr3t-token-value-for-tests"
ROLES = [{"name": "tenant-admin", "rules": [{"resources": ["pods"], "verbs": ["get", "list"]}]}]
BINDINGS = [{"role": "tenant-admin", "subjects": [{"kind": "Group", "name": "oidc:team-a-admins"}]}]


@pytest.fixture()
def run(capsys, monkeypatch):
    """Run the module in-process like Ansible would; returns its JSON result."""
    for variable in ("KUBECONFIG", "K8S_AUTH_KUBECONFIG", "K8S_AUTH_HOST", "K8S_AUTH_API_KEY"):
        monkeypatch.delenv(variable, raising=False)

    def _run(**args):
        args.setdefault("tenant", "team-a")
        args.setdefault("roles", ROLES)
        args.setdefault("bindings", BINDINGS)
        capsys.readouterr()
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                tenant_rbac.main()
        return json.loads(capsys.readouterr().out)

    return _run


def test_unreachable_api_fails_with_the_fix_and_without_the_token(run):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run(host="http://127.0.0.1:%d" % port, api_key=TOKEN, request_timeout=2)
    assert result["failed"] is True and "listing ClusterRole objects failed" in result["msg"]
    assert TOKEN not in json.dumps(result)


class SelectorIgnoringAdapter:
    """An adapter whose lists answer every object of the kind, whatever the label selector (list items without
    kind, as an API may send them)."""

    def __init__(self, objects):
        self.objects = objects
        self.selectors = []

    def list_objects(self, kind, label_selector=None):
        self.selectors.append((kind, label_selector))
        return [{key: value for key, value in obj.items() if key != "kind"} for obj in self.objects
                if obj["kind"] == kind]


def test_ownership_is_decided_client_side_whatever_the_list_returns():
    """A real apiserver applies the selector (tests/integration/k8s/test_tenant_rbac_module_api.py); this shows
    that a list that ignored it still prunes nothing of another tenant's, nor anything hand-made."""
    def obj(kind, name, labels, namespace=None):
        meta = {"name": name, "labels": labels}
        if namespace:
            meta["namespace"] = namespace
        return {"kind": kind, "metadata": meta}

    own = dict(MANAGED, **{TENANT_LABEL: "team-a"})
    adapter = SelectorIgnoringAdapter([
        obj("RoleBinding", "tenant-admin", own, "team-a"),
        obj("RoleBinding", "tenant-admin", dict(MANAGED, **{TENANT_LABEL: "team-b"}), "team-b"),
        obj("RoleBinding", "hand-made", {TENANT_LABEL: "team-a"}, "team-a"),
        obj("Role", "tenant-admin", own, "team-a"),
        obj("Role", "other", {}, "team-a"),
        obj("ClusterRole", "team-a:auditor", own),
        obj("ClusterRole", "view", {}),
    ])
    spec = {"tenant": "team-a", "tenant_label": TENANT_LABEL}
    managed = tenant_rbac.list_managed(adapter, spec)
    assert sorted((o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")) for o in managed) == [
        ("ClusterRole", "team-a:auditor", None), ("Role", "tenant-admin", "team-a"),
        ("RoleBinding", "tenant-admin", "team-a")]
    selector = "app.kubernetes.io/managed-by=sovereign.cluster.tenant_rbac,sovereign.cluster/tenant=team-a"
    assert adapter.selectors == [(kind, selector) for kind in ("ClusterRole", "Role", "RoleBinding")]
