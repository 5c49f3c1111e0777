# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Onboarding benchmark of the vcluster_tenant role: 100 tenants, then 200, then a no-change re-run of the 100.

API objects go to a real control plane (tests/integration/k8s/control_plane.py: etcd, kube-apiserver,
kube-controller-manager and kube-scheduler on loopback, configured by kubernetes_control_plane), a fresh one per
size; Vault objects (transit key + policy per tenant) to that control plane's real OpenBao dev server; tenant_rbac
runs with the host target. API writes are counted in the apiserver's audit log (requests of kubernetes-admin
with verb create, update, patch or delete). The vCluster Helm step is off (vcluster_tenant_helm_enabled: false):
no kubelet runs here, so a vCluster could not start, and its release is tested by the integration tests.

    .venv/bin/python benchmarks/bench_tenants.py [--sizes 100 200]
"""
import argparse
import datetime
import json
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "build" / "collections"))
sys.path.insert(0, str(REPO / "tests" / "integration" / "vault"))
sys.path.insert(0, str(REPO / "tests" / "integration" / "k8s"))

from control_plane import ControlPlane  # noqa: E402
from openbao_server import ensure_collection_link, module_env  # noqa: E402

import hvac  # noqa: E402
import kubernetes  # noqa: E402

WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")


def catalogue(count):
    tenants = []
    for index in range(count):
        tenant = {"name": "t%04d" % index, "zone": ("secnumcloud", "restricted")[index % 2],
                  "quotas": {"cpu": "8", "memory": "32Gi", "storage": "200Gi", "gpu": index % 3},
                  "network": {"egress": [{"cidr": "10.%d.0.0/16" % (index % 250), "ports": [{"port": 443}]}]},
                  "admins": ["t%04d-admins" % index], "developers": ["t%04d-devs" % index],
                  "auditors": ["t%04d-audit" % index]}
        if index % 4 == 1:
            tenant.update(isolation="dedicated", node_pool="pool-%04d" % index,
                          quotas=dict(tenant["quotas"], gpu=0, mig={"1g.10gb": 2}))
        tenants.append(tenant)
    return tenants


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def audited_writes(cp, start, end, user="kubernetes-admin"):
    """The write requests of ``user`` the apiserver audited between two timestamps: ``[verb, ...]``."""
    time.sleep(1)  # the apiserver writes a request's audit event just after answering it
    return [e["verb"] for e in cp.audit_events()
            if start <= e.get("requestReceivedTimestamp", "") <= end and e["user"]["username"] == user
            and e["verb"] in WRITE_VERBS]


def run_role(workdir, cp, tenants):
    variables = {"ansible_python_interpreter": sys.executable, "sovereign_tenants": tenants,
                 "sovereign_kubernetes_api_available": True,
                 "vcluster_tenant_kubeconfig": cp.admin_kubeconfig, "vcluster_tenant_fallback_dns": "10.96.0.10",
                 "vcluster_tenant_values_schema": str(REPO.parent / "shared" / "fixtures" / "vcluster" / "values.schema.json"),
                 "vcluster_tenant_helm_enabled": False,
                 "vcluster_tenant_rbac_target": "host", "vcluster_tenant_vault_url": cp.bao.url,
                 "vcluster_tenant_vault_token": cp.bao.root_token}
    varsfile = workdir / "bench-vars.json"
    varsfile.write_text(json.dumps(variables))
    varsfile.chmod(0o600)
    start_ts, start = utc_now(), time.monotonic()
    # the return code is asserted below
    # pylint: disable-next=subprocess-run-check
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), str(REPO / "playbooks" / "tenants.yml"),
                           "-i", "localhost,", "-e", "@%s" % varsfile],
                          capture_output=True, text=True, cwd=str(REPO),
                          env=module_env(ANSIBLE_CONFIG=str(REPO / "ansible.cfg")))
    elapsed, end_ts = time.monotonic() - start, utc_now()
    if proc.returncode != 0:
        raise SystemExit("role failed:\n%s\n%s" % (proc.stdout[-5000:], proc.stderr[-2000:]))
    changed = int(re.search(r"localhost\s+:\s+ok=\d+\s+changed=(\d+)", proc.stdout).group(1))
    return elapsed, changed, audited_writes(cp, start_ts, end_ts)


def onboard(count, rerun=False):
    tenants = catalogue(count)
    with ControlPlane() as cp:
        elapsed, changed, writes = run_role(cp.workdir, cp, tenants)
        api = kubernetes.config.new_client_from_config(config_file=cp.admin_kubeconfig)
        try:
            namespaces = len(kubernetes.client.CoreV1Api(api).list_namespace(
                label_selector="sovereign.cluster/tenant").items)
        finally:
            api.close()
        keys = [k for k in hvac.Client(url=cp.bao.url, token=cp.bao.root_token).secrets.transit.list_keys()[
            "data"]["keys"] if k.startswith("tenant-")]
        assert namespaces == count and len(keys) == count, (namespaces, len(keys))
        result = {"tenants": count, "seconds": elapsed, "changed": changed, "objects": len(writes)}
        if rerun:
            again, again_changed, again_writes = run_role(cp.workdir, cp, tenants)
            creates = [verb for verb in again_writes if verb in ("create", "update", "delete", "deletecollection")]
            result.update(rerun_seconds=again, rerun_changed=again_changed, rerun_creates=len(creates),
                          rerun_writes=len(again_writes))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[100, 200])
    args = parser.parse_args()
    ensure_collection_link()
    small = onboard(args.sizes[0], rerun=True)
    large = onboard(args.sizes[1])
    for result in (small, large):
        print("onboard %4d tenants: %7.1f s total, %.3f s per tenant (changed=%d, %d API writes in the audit log)"
              % (result["tenants"], result["seconds"], result["seconds"] / result["tenants"], result["changed"],
                 result["objects"]))
    per_small = small["seconds"] / small["tenants"]
    per_large = large["seconds"] / large["tenants"]
    print("growth: x%.2f total for x%.1f tenants; per-tenant ratio %.2f (1.00 = linear)"
          % (large["seconds"] / small["seconds"], large["tenants"] / small["tenants"], per_large / per_small))
    print("no-change re-run of %d tenants: %.1f s (%.3f s per tenant), changed=%d, creates/deletes=%d, writes=%d"
          % (small["tenants"], small["rerun_seconds"], small["rerun_seconds"] / small["tenants"],
             small["rerun_changed"], small["rerun_creates"], small["rerun_writes"]))
    if small["rerun_changed"] != 0 or small["rerun_writes"] != 0:
        raise SystemExit("the re-run was not a no-op")


if __name__ == "__main__":
    main()
