# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Onboarding benchmark of the vcluster_tenant role: 100 tenants, then 200, then a no-change re-run of the 100.

API objects go to the kmock Kubernetes API *emulator* (not a cluster: no admission, no controllers);
Vault objects (transit key + policy per tenant) to a real OpenBao dev server; tenant_rbac runs with
the host target. The vCluster Helm step is skipped (no helm binary in this lab) and reported by the role.

    .venv/bin/python benchmarks/bench_tenants.py [--sizes 100 200]
"""
import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "build" / "collections"))
sys.path.insert(0, str(REPO / "tests" / "integration" / "vault"))

import hvac  # noqa: E402
from openbao_server import OpenBaoServer, ensure_collection_link, module_env  # noqa: E402

ensure_collection_link()
from ansible_collections.sovereign.cluster.tests.emulator import kmock_k8s  # noqa: E402

EXTRA_KINDS = {
    "ResourceQuota": (("v1/resourcequotas", "/api/v1", "resourcequotas", True), "v1"),
    "LimitRange": (("v1/limitranges", "/api/v1", "limitranges", True), "v1"),
    "NetworkPolicy": (("networking.k8s.io/v1/networkpolicies", "/apis/networking.k8s.io/v1", "networkpolicies", True),
                      "networking.k8s.io/v1"),
}


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


def run_role(workdir, emulator, bao, tenants):
    kubeconfig = workdir / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "e",
        "clusters": [{"name": "e", "cluster": {"server": emulator.url}}],
        "contexts": [{"name": "e", "context": {"cluster": "e", "user": "u"}}], "users": [{"name": "u", "user": {}}]}))
    variables = {"ansible_python_interpreter": sys.executable, "sovereign_tenants": tenants,
                 "vcluster_tenant_kubeconfig": str(kubeconfig), "vcluster_tenant_fallback_dns": "10.0.0.53",
                 "vcluster_tenant_values_schema": str(REPO.parent / "shared" / "fixtures" / "vcluster" / "values.schema.json"),
                 "vcluster_tenant_rbac_target": "host", "vcluster_tenant_vault_url": bao.url,
                 "vcluster_tenant_vault_token": bao.root_token}
    (workdir / "vars.json").write_text(json.dumps(variables))
    start = time.monotonic()
    # the return code is asserted by the caller
    # pylint: disable-next=subprocess-run-check
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), str(REPO / "playbooks" / "tenants.yml"),
                           "-i", "localhost,", "-e", "@%s" % (workdir / "vars.json")],
                          capture_output=True, text=True, cwd=str(REPO),
                          env=module_env(ANSIBLE_CONFIG=str(REPO / "ansible.cfg")))
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit("role failed:\n%s\n%s" % (proc.stdout[-5000:], proc.stderr[-2000:]))
    changed = int(re.search(r"localhost\s+:\s+ok=\d+\s+changed=(\d+)", proc.stdout).group(1))
    return elapsed, changed


def onboard(count, rerun=False):
    for kind, (info, api_version) in EXTRA_KINDS.items():
        kmock_k8s.KINDS[kind] = info
        kmock_k8s._API_VERSIONS[kind] = api_version
    tenants = catalogue(count)
    with tempfile.TemporaryDirectory(prefix="bench-tenants-") as tmp:
        workdir = Path(tmp)
        with kmock_k8s.KubernetesApiEmulator() as emulator, OpenBaoServer(workdir, name="bench-openbao") as bao:
            hvac.Client(url=bao.url, token=bao.root_token).sys.enable_secrets_engine("transit", path="transit")
            elapsed, changed = run_role(workdir, emulator, bao, tenants)
            namespaces = len(emulator.list("Namespace"))
            keys = len(hvac.Client(url=bao.url, token=bao.root_token).secrets.transit.list_keys()["data"]["keys"])
            assert namespaces == count and keys == count, (namespaces, keys)
            result = {"tenants": count, "seconds": elapsed, "changed": changed, "objects": len(emulator.writes())}
            if rerun:
                emulator.clear_requests()
                again, again_changed = run_role(workdir, emulator, bao, tenants)
                creates = [r for r in emulator.writes() if r[0] in ("POST", "DELETE", "PUT")]
                result.update(rerun_seconds=again, rerun_changed=again_changed, rerun_creates=len(creates))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[100, 200])
    args = parser.parse_args()
    small = onboard(args.sizes[0], rerun=True)
    large = onboard(args.sizes[1])
    for result in (small, large):
        print("onboard %4d tenants: %7.1f s total, %.3f s per tenant (changed=%d, %d API writes to the emulator)"
              % (result["tenants"], result["seconds"], result["seconds"] / result["tenants"], result["changed"],
                 result["objects"]))
    per_small = small["seconds"] / small["tenants"]
    per_large = large["seconds"] / large["tenants"]
    print("growth: x%.2f total for x%.1f tenants; per-tenant ratio %.2f (1.00 = linear)"
          % (large["seconds"] / small["seconds"], large["tenants"] / small["tenants"], per_large / per_small))
    print("no-change re-run of %d tenants: %.1f s (%.3f s per tenant), changed=%d, creates/deletes=%d"
          % (small["tenants"], small["rerun_seconds"], small["rerun_seconds"] / small["tenants"],
             small["rerun_changed"], small["rerun_creates"]))
    if small["rerun_changed"] != 0 or small["rerun_creates"] != 0:
        raise SystemExit("the re-run was not a no-op")


if __name__ == "__main__":
    main()
