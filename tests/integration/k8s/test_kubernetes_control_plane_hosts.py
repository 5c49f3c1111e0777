"""roles/kubernetes_control_plane on real hosts: kubeadm init/join with kubelets, static pods, KMS v2.

The control plane itself (kubeadm's configuration, the apiserver's flags, KMS v2, audit, PSA) runs for
real in ./run test through conftest.py's fixture (processes on loopback, no kubelet). This file is the
next step, `kubeadm init`/join on hosts with kubelets, containerd and the control-plane images: no
kubelet may run on this machine or in a container (it writes kernel.*/vm.* sysctls; LAB.md), so it needs
the lab's VMs (issue 14) or a site's hosts. Point SOVEREIGN_K8S_HOSTS_INVENTORY at an inventory with the
groups k8s_cluster/control_plane/workers; the test runs playbooks/kubernetes.yml twice and then inspects
the first control-plane node over Ansible.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

INVENTORY = os.environ.get("SOVEREIGN_K8S_HOSTS_INVENTORY", "")
pytestmark = pytest.mark.skipif(
    not INVENTORY,
    reason="set SOVEREIGN_K8S_HOSTS_INVENTORY to an inventory whose hosts run kubelets (kubeadm init/join, static pods): no "
           "kubelet may run on this machine or in a container (LAB.md); the lab's VM cluster is issue 14")

REPO = Path(__file__).resolve().parents[3]


def _bin(name):
    return str(Path(sys.executable).parent / name)


def _env():
    env = dict(os.environ)
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(REPO / "build" / "collections"))
    env["ANSIBLE_NOCOLOR"] = "1"
    return env


def _playbook(*args):
    return subprocess.run([_bin("ansible-playbook"), "-i", INVENTORY, *args], cwd=str(REPO), env=_env(),
                          capture_output=True, text=True, timeout=3600, check=False)


def _shell(host, command):
    run = subprocess.run([_bin("ansible"), host, "-i", INVENTORY, "-b", "-m", "ansible.builtin.shell", "-a", command, "-o"],
                         cwd=str(REPO), env=_env(), capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


@pytest.fixture(scope="module")
def converged():
    first = _playbook(str(REPO / "playbooks" / "kubernetes.yml"))
    assert first.returncode == 0, first.stdout[-8000:]
    second = _playbook(str(REPO / "playbooks" / "kubernetes.yml"))
    assert second.returncode == 0, second.stdout[-8000:]
    inventory = subprocess.run([_bin("ansible-inventory"), "-i", INVENTORY, "--list"], capture_output=True, text=True, check=True,
                               env=_env())
    groups = json.loads(inventory.stdout)
    return groups["control_plane"]["hosts"][0], second


def test_second_run_changes_nothing(converged):
    recap = [line for line in converged[1].stdout.splitlines() if " changed=" in line]
    assert recap and all(" changed=0 " in line for line in recap), "\n".join(recap)


def test_apiserver_ready_with_hardened_flags(converged):
    first = converged[0]
    manifest = _shell(first, "cat /etc/kubernetes/manifests/kube-apiserver.yaml")
    ready = _shell(first, "kubectl --kubeconfig /etc/kubernetes/admin.conf get --raw /readyz")
    assert (["--anonymous-auth=false" in manifest, "--profiling=false" in manifest, "ok" in ready]) == [True, True, True]


def test_all_control_plane_nodes_joined(converged):
    first = converged[0]
    nodes = _shell(first, "kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes -l node-role.kubernetes.io/control-plane -o name")
    assert nodes.count("node/") >= 3


def test_new_secret_is_stored_through_kms_v2(converged):
    first = converged[0]
    _shell(first, "kubectl --kubeconfig /etc/kubernetes/admin.conf -n default create secret generic sovereign-kms-probe "
                  "--from-literal=k=v --dry-run=client -o yaml | kubectl --kubeconfig /etc/kubernetes/admin.conf apply -f -")
    stored = _shell(first, "ETCDCTL_API=3 crictl exec $(crictl ps -q --name etcd) etcdctl --cacert /etc/kubernetes/pki/etcd/ca.crt "
                           "--cert /etc/kubernetes/pki/etcd/server.crt --key /etc/kubernetes/pki/etcd/server.key "
                           "get /registry/secrets/default/sovereign-kms-probe --print-value-only | head -c 64 | od -c | head -3")
    assert "k   8   s   :   e   n   c   :   k   m   s   :   v   2" in stored


def test_kms_plugin_healthy(converged):
    first = converged[0]
    assert "ok version=v2 key_id=vault-transit:" in _shell(
        first, "PYTHONPATH=/opt/sovereign-kms/lib /opt/sovereign-kms/venv/bin/python -m sovereign_kms --healthcheck "
               "--socket /run/sovereign-kms/kms.sock")
