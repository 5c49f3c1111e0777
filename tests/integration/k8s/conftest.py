"""Fixtures for every Kubernetes-facing test: a real control plane configured by kubernetes_control_plane.

* ``control_plane`` (session, one per test worker): etcd, kube-apiserver, kube-controller-manager and
  kube-scheduler on loopback, KMS v2 through tools/kms-vault-plugin on a real OpenBao; see control_plane.py.
  It also points ``KUBECONFIG`` (and ``K8S_AUTH_KUBECONFIG``) of this worker at the cluster-admin
  kubeconfig kubeadm wrote, so modules and playbooks find it the way an operator's would.
* ``fresh_control_plane`` (module): a throw-away one, for tests that rotate keys or seal OpenBao.
* ``k8s_api``: kubernetes Python clients (core, rbac, authorization) on the admin kubeconfig.

The binaries come from lab/k8s_build.py (cached by version; built when missing). A control plane that
cannot start (kubeadm refuses the role's configuration, a component exits) fails the tests with the
component's own message; nothing is skipped.
"""
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from control_plane import ControlPlane  # noqa: E402


def _start(tmp_root):
    cp = ControlPlane(tmp_root)
    try:
        cp.start()
    except Exception as exc:  # noqa: BLE001 - turned into a failure with the component's output
        pytest.fail(f"the real control plane did not start: {exc}\n{cp.logs()}", pytrace=False)
    return cp


@pytest.fixture(scope="session")
def control_plane():
    cp = _start(None)
    saved = {k: os.environ.get(k) for k in ("KUBECONFIG", "K8S_AUTH_KUBECONFIG")}
    os.environ["KUBECONFIG"] = os.environ["K8S_AUTH_KUBECONFIG"] = cp.admin_kubeconfig
    try:
        yield cp
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        cp.stop()


@pytest.fixture(scope="module")
def fresh_control_plane():
    cp = _start(None)
    try:
        yield cp
    finally:
        cp.stop()


@pytest.fixture(scope="session")
def k8s_api(control_plane):
    import kubernetes

    client = kubernetes.config.new_client_from_config(config_file=control_plane.admin_kubeconfig)
    api = type("K8sApi", (), {})()
    api.client = client
    api.core = kubernetes.client.CoreV1Api(client)
    api.rbac = kubernetes.client.RbacAuthorizationV1Api(client)
    api.authz = kubernetes.client.AuthorizationV1Api(client)
    api.networking = kubernetes.client.NetworkingV1Api(client)
    yield api
    client.close()
