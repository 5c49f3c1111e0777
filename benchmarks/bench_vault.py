"""Benchmark: onboard N tenants (transit key + policy + AppRole) on a real OpenBao dev server.

Variant "batch"       : sovereign.cluster.vault_transit_key keys + vault_policy policies + vault_approle roles:
                        three module calls whatever the number of tenants (what the roles do)
Variant "sovereign"   : the same modules, one call per tenant and object (a loop)
Variant "vault_write" : community.hashi_vault.vault_write for everything (key, key config, policy, AppRole)

Each variant runs twice (create, then re-run with nothing to do). Prints wall time, per-item
changed counts and ratios. Each variant works on its own transit mount and name prefix.

    .venv/bin/python benchmarks/bench_vault.py --tenants 100 [--json results.json]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests" / "integration" / "vault"))

import hvac  # noqa: E402

from openbao_server import OpenBaoServer, ensure_collection_link, module_env  # noqa: E402

# The policy of one tenant (the same text as the loop variants' template renders).
POLICY = ('path "%(mount)s/encrypt/%(key)s" { capabilities = ["update"] }\n'
          'path "%(mount)s/decrypt/%(key)s" { capabilities = ["update"] }\n')
VARIANTS = {
    "batch": ("sovereign_batch.yml", "transit-bat", "bat"),
    "sovereign": ("sovereign_modules.yml", "transit-sov", "sov"),
    "vault_write": ("hashi_vault_write.yml", "transit-hvw", "hvw"),
}


def run_playbook(playbook, server, tenants, mount, prefix, workdir):
    env = module_env(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", HOME=str(workdir),
                     ANSIBLE_HOME=str(workdir / ".ansible"), ANSIBLE_LOCAL_TEMP=str(workdir / "tmp"),
                     ANSIBLE_PIPELINING="True")
    names = ["tenant-%d" % number for number in range(tenants)]
    extra = json.dumps({"bao_url": server.url, "bao_token": server.root_token, "tenant_count": tenants,
                        "transit_mount": mount, "prefix": prefix,
                        "ansible_python_interpreter": sys.executable,
                        # the batch variant's entries, as a role's plan gives them
                        "key_entries": [{"name": name, "auto_rotate_period": "30d"} for name in names],
                        "policy_entries": [{"name": "%s-%s" % (prefix, name), "policy": POLICY % {"mount": mount, "key": name}}
                                           for name in names],
                        "approle_entries": [{"name": "%s-%s" % (prefix, name), "token_policies": ["%s-%s" % (prefix, name)],
                                             "token_ttl": "1h"} for name in names]})
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
           "-e", extra, str(HERE / "vault" / playbook)]
    start = time.monotonic()
    # the return code is asserted by the caller
    # pylint: disable-next=subprocess-run-check
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(workdir))
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit("%s failed (rc=%s):\n%s\n%s" % (playbook, proc.returncode, proc.stdout[-3000:],
                                                         proc.stderr[-3000:]))
    report = json.loads(proc.stdout[proc.stdout.index("{"):])
    items = changed = 0
    per_task = {}
    for task in report["plays"][0]["tasks"]:
        result = task["hosts"]["localhost"]
        results = result.get("results", [result])
        task_changed = sum(1 for item in results if item.get("changed"))
        task_items = len(results)
        for listed, changed_list in (("keys", "changed_keys"), ("policies", "changed_policies"), ("roles", "changed_roles")):
            if changed_list in result:  # a batch call: count its objects, not the one call
                task_items, task_changed = len(result[listed]), len(result[changed_list])
        per_task[task["task"]["name"]] = task_changed
        items += task_items
        changed += task_changed
    return {"seconds": round(elapsed, 2), "items": items, "changed": changed, "per_task": per_task}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    ensure_collection_link()
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-vault-") as tmp:
        workdir = Path(tmp)
        with OpenBaoServer(workdir, name="bench") as server:
            root = hvac.Client(url=server.url, token=server.root_token)
            root.sys.enable_auth_method("approle")
            for variant, (playbook, mount, prefix) in VARIANTS.items():
                root.sys.enable_secrets_engine("transit", path=mount)
                first = run_playbook(playbook, server, args.tenants, mount, prefix, workdir)
                second = run_playbook(playbook, server, args.tenants, mount, prefix, workdir)
                results[variant] = {"first": first, "rerun": second}
                print("%-12s first: %7.1fs changed %4d/%d   re-run: %7.1fs changed %4d/%d"
                      % (variant, first["seconds"], first["changed"], first["items"],
                         second["seconds"], second["changed"], second["items"]), flush=True)
            for mount in ("transit-sov", "transit-bat"):
                keys = root.secrets.transit.list_keys(mount_point=mount)["data"]["keys"]
                assert len(keys) == args.tenants, keys
            roles = root.list("auth/approle/role")["data"]["keys"]
            assert len([role for role in roles if role.startswith("bat-")]) == args.tenants
    sov, hvw, bat = results["sovereign"], results["vault_write"], results["batch"]
    ratios = {
        "first_run_time_vault_write_over_batch": round(hvw["first"]["seconds"] / bat["first"]["seconds"], 2),
        "rerun_time_vault_write_over_batch": round(hvw["rerun"]["seconds"] / bat["rerun"]["seconds"], 2),
        "first_run_time_loop_over_batch": round(sov["first"]["seconds"] / bat["first"]["seconds"], 2),
        "rerun_changed_batch": bat["rerun"]["changed"],
        "first_run_time_sovereign_over_vault_write": round(sov["first"]["seconds"] / hvw["first"]["seconds"], 2),
        "rerun_time_sovereign_over_vault_write": round(sov["rerun"]["seconds"] / hvw["rerun"]["seconds"], 2),
        "rerun_changed_sovereign": sov["rerun"]["changed"],
        "rerun_changed_vault_write": hvw["rerun"]["changed"],
    }
    print("tenants: %d" % args.tenants)
    print("per-task re-run changed counts: batch=%s sovereign=%s vault_write=%s"
          % (bat["rerun"]["per_task"], sov["rerun"]["per_task"], hvw["rerun"]["per_task"]))
    print("ratios: %s" % json.dumps(ratios))
    if args.json:
        Path(args.json).write_text(json.dumps({"tenants": args.tenants, "results": results, "ratios": ratios},
                                              indent=2))
    return 0


if __name__ == "__main__":
    os.umask(0o077)
    sys.exit(main())
