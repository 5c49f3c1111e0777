"""The real kube-apiserver's audit log under the role's policy, into the audit pipeline's hash-chained store.

The store is what the audit_forwarding collector runs for every received line (rsyslog omprog:
``sovereign-audit-chain append``, the same file as plugins/module_utils/audit_chain.py); the chain is then
checked with its ``verify`` command, and a tampered copy is caught.
"""
import json
import secrets
import subprocess
import sys

from control_plane import REPO, wait_until

CHAIN = str(REPO / "plugins" / "module_utils" / "audit_chain.py")


def _events_for(cp, predicate, timeout=30):
    found = []

    def ready():
        found[:] = [e for e in cp.audit_events() if predicate(e)]
        return bool(found)

    wait_until(ready, "audit events", timeout, interval=0.5)
    return found


def test_secret_bodies_never_reach_the_audit_log(control_plane):
    value = "audit-canary-" + secrets.token_hex(12)
    name = "sc-audit-" + secrets.token_hex(3)
    control_plane.kubectl_run("-n", "default", "create", "secret", "generic", name, f"--from-literal=k={value}")
    control_plane.kubectl_run("-n", "default", "get", "secret", name, "-o", "yaml")
    events = _events_for(control_plane, lambda e: e.get("objectRef", {}).get("name") == name
                         and e["objectRef"].get("resource") == "secrets")
    assert {e["verb"] for e in events} >= {"create", "get"}
    assert all(e["level"] == "Metadata" for e in events), [e["level"] for e in events]
    assert all("requestObject" not in e and "responseObject" not in e for e in events)
    assert value not in control_plane.audit_log.read_text()
    import base64

    assert base64.b64encode(value.encode()).decode() not in control_plane.audit_log.read_text()


def test_rbac_changes_are_logged_with_request_and_response(control_plane):
    name = "sc-audit-role-" + secrets.token_hex(3)
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": name, "namespace": "default"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}
    control_plane.kubectl_run("create", "-f", "-", input_text=json.dumps(role))
    events = _events_for(control_plane, lambda e: e.get("objectRef", {}).get("name") == name and e["verb"] == "create")
    assert events[0]["level"] == "RequestResponse"
    assert events[0]["requestObject"]["rules"][0]["resources"] == ["pods"]
    assert events[0]["user"]["username"] == "kubernetes-admin"
    control_plane.kubectl_run("-n", "default", "delete", "role", name)


def test_health_probes_are_not_logged(control_plane):
    control_plane.get_raw("/readyz")
    assert not [e for e in control_plane.audit_events() if e.get("requestURI", "").startswith(("/readyz", "/livez"))]


def test_events_reach_the_hash_chained_store_and_verify(control_plane, tmp_path):
    lines = [line for line in control_plane.audit_log.read_text().splitlines() if line.strip()]
    assert len(lines) > 50
    store = tmp_path / "store"
    out = str(store / "{source}" / "{host}.jsonl")
    feed = subprocess.run([sys.executable, CHAIN, "append", "--out", out, "--source", "kube-apiserver", "--format", "json",
                           "--host", "sc-fixture-cp", "--confirm", "--no-fsync"],
                          input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=300, check=False)
    assert feed.returncode == 0, feed.stderr
    assert feed.stdout.count("OK") >= len(lines)  # omprog confirmations: one at start, one per stored line
    chains = list(store.rglob("*.jsonl"))
    assert len(chains) == 1 and chains[0].parent.name == "kube-apiserver"
    stored = chains[0].read_text().splitlines()
    assert len(stored) == len(lines)
    verify = subprocess.run([sys.executable, CHAIN, "verify", "--json", str(chains[0])], capture_output=True, text=True,
                            check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert json.loads(verify.stdout.splitlines()[0])["ok"] is True
    # the stored records are the apiserver's events (audit IDs survive)
    first = json.loads(lines[0])
    assert first["auditID"] in stored[0]
    # one altered byte in the middle is caught
    tampered = tmp_path / "tampered.jsonl"
    middle = len(stored) // 2
    stored[middle] = stored[middle].replace('"verb":"', '"verb":"x', 1)
    tampered.write_text("\n".join(stored) + "\n")
    caught = subprocess.run([sys.executable, CHAIN, "verify", "--json", str(tampered)], capture_output=True, text=True,
                            check=False)
    assert caught.returncode != 0
    assert json.loads(caught.stdout.splitlines()[0])["ok"] is False
