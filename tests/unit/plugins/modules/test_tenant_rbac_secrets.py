"""Planted secrets never leave tenant_rbac: the error path here, every path on a real kube-apiserver.

Every secret-bearing input (a kubeconfig dict and a kubeconfig file with a token, a client key, a basic-auth
password, OIDC tokens and client secret, a GCP access token, an exec plugin's env, a tokenFile, a proxy
password; api_key) holds a fresh random value. The module runs through its real entry point
(``python -m ...tenant_rbac args.json``); stdout, stderr, the result JSON and every file left in the run's
temporary folders are searched for each value.

This file holds what needs no API server: the error path (every context points at a closed port, one per kind
of user) and the role's no_log contract, plus the helpers. The success, refusal and bad-input paths and
``ansible-playbook -vvv --diff`` with a log file and the audit_trail callback run against the real
kube-apiserver, with real ServiceAccount tokens and a real client certificate among the planted values:
tests/integration/k8s/test_tenant_rbac_secrets_api.py (it imports the helpers below).
"""
import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[4]
COLLECTIONS = REPO / "build" / "collections"
TENANT_LABEL = "sovereign.cluster/tenant"
MODULE = "ansible_collections.sovereign.cluster.plugins.modules.tenant_rbac"
ROLES = [{"name": "tenant-admin", "rules": [{"resources": ["pods", "configmaps"], "verbs": ["get", "list", "create"]}]},
         {"name": "auditor", "scope": "cluster", "rules": [{"resources": ["pods", "events"], "verbs": ["get", "list"]}]}]
BINDINGS = [{"role": "tenant-admin", "subjects": [{"kind": "Group", "name": "oidc:team-a-admins"}]},
            {"role": "auditor", "subjects": [{"kind": "Group", "name": "oidc:secops"}]}]
# unreachable-tls: over https the client writes the client certificate and key to temporary files
UNREACHABLE_CONTEXTS = ["unreachable-token", "unreachable-tls", "unreachable-basic", "unreachable-oidc",
                        "unreachable-exec", "unreachable-token-file"]


# --- planted values and the kubeconfig that holds them -----------------------------------------------------

def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture()
def planted():
    """A fresh random value for every secret-bearing input."""
    def value(kind):
        return "planted-%s-%s" % (kind, secrets.token_hex(12))

    values = {kind: value(kind) for kind in ("token", "password", "id-token-signature", "refresh-token",
                                             "client-secret", "access-token", "exec-env", "token-file",
                                             "proxy-password", "api-key", "client-key")}
    values["client-key-pem"] = ("-----BEGIN EC PRIVATE KEY-----\n%s\n-----END EC PRIVATE KEY-----"
                                % values["client-key"])
    values["client-key-data"] = base64.b64encode(values["client-key-pem"].encode()).decode()
    # a JWT without expiry, so that the client uses it as it is (no refresh against the issuer)
    values["id-token"] = "%s.%s.%s" % (_b64url(b'{"alg":"RS256"}'), _b64url(b'{"sub":"ops"}'),
                                       values["id-token-signature"])
    values["basic-header"] = base64.b64encode(("ops:%s" % values["password"]).encode()).decode()
    return values


@pytest.fixture()
def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture()
def workdir(tmp_path):
    """``inputs/`` holds what the test wrote (secrets on purpose); everything else is searched after a run."""
    for name in ("inputs", "tmp", "home", "out"):
        (tmp_path / name).mkdir()
    return tmp_path


def planted_kubeconfig(planted, workdir, closed_port, tls_user=None, api=None):
    """The planted kubeconfig, as a dict and as a file (0600): ``{"dict": ..., "file": ...}``.

    The ``unreachable-*`` contexts reach a closed port, one per kind of user (``unreachable-tls`` over https
    with the ``tls`` user: the client writes its certificate and key to temporary files). ``tls_user`` replaces
    that user (a real certificate and key). ``api`` (``{"server": url, "ca_data": base64 CA}``) adds the
    reachable contexts ``apiserver`` (user ``active``, the current context) and ``apiserver-cert`` (user ``tls``).
    """
    token_file = workdir / "inputs" / "token"
    token_file.write_text(planted["token-file"])  # the Python client sends a trailing newline as is
    plugin = workdir / "inputs" / "login-plugin"  # fails and echoes its secret env, as a broken plugin may
    plugin.write_text("#!%s\nimport os, sys\nsys.stderr.write('login refused for %%s' %% os.environ['LOGIN_SECRET'])\n"
                      "sys.exit(3)\n" % sys.executable)
    plugin.chmod(0o700)
    nowhere = "http://127.0.0.1:%d" % closed_port
    users = {
        "active": {"token": planted["token"]},
        "tls": tls_user or {"client-certificate-data": base64.b64encode(b"CERT").decode(),
                            "client-key-data": planted["client-key-data"]},
        "basic": {"username": "ops", "password": planted["password"]},
        "oidc": {"auth-provider": {"name": "oidc", "config": {
            "client-id": "kubernetes", "idp-issuer-url": "https://sso.example.internal",
            "id-token": planted["id-token"], "refresh-token": planted["refresh-token"],
            "client-secret": planted["client-secret"]}}},
        "gcp": {"auth-provider": {"name": "gcp", "config": {"access-token": planted["access-token"]}}},
        "exec": {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(plugin),
                          "env": [{"name": "LOGIN_SECRET", "value": planted["exec-env"]}]}},
        "token-file": {"tokenFile": str(token_file)},
    }
    contexts = {"unreachable-token": ("nowhere", "active"), "unreachable-tls": ("nowhere-tls", "tls"),
                "unreachable-basic": ("nowhere", "basic"), "unreachable-oidc": ("nowhere", "oidc"),
                "unreachable-exec": ("nowhere", "exec"), "unreachable-token-file": ("nowhere", "token-file"),
                "proxied": ("proxied", "gcp")}
    clusters = [{"name": "nowhere", "cluster": {"server": nowhere}},
                {"name": "nowhere-tls", "cluster": {"server": nowhere.replace("http:", "https:")}},
                {"name": "proxied", "cluster": {"server": nowhere, "proxy-url": "http://ops:%s@127.0.0.1:%d"
                                                % (planted["proxy-password"], closed_port)}}]
    current = "unreachable-token"
    if api:
        clusters.insert(0, {"name": "api", "cluster": {"server": api["server"],
                                                       "certificate-authority-data": api["ca_data"]}})
        contexts = dict({"apiserver": ("api", "active"), "apiserver-cert": ("api", "tls")}, **contexts)
        current = "apiserver"
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": current, "clusters": clusters,
        "contexts": [{"name": name, "context": {"cluster": cluster, "user": user}}
                     for name, (cluster, user) in contexts.items()],
        "users": [{"name": name, "user": user} for name, user in users.items()],
    }
    path = workdir / "inputs" / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return {"dict": config, "file": str(path)}


@pytest.fixture()
def kubeconfig(planted, closed_port, workdir):
    """The planted kubeconfig with no API server: every context is unreachable."""
    return planted_kubeconfig(planted, workdir, closed_port)


def secret_values(planted):
    return {value for value in planted.values() if len(value) >= 8}


# --- running and searching ---------------------------------------------------------------------------------

def run_process(command, env, cwd, timeout=240):
    """Run ``command`` in its own session; on timeout stop it and its children by its PID (process group)."""
    process = subprocess.Popen(command, env=env, cwd=str(cwd), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        raise AssertionError("%s ran over %d s; last output:\n%s\n%s"
                             % (command[0], timeout, stdout[-3000:], stderr[-3000:]))
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode, stdout, stderr


def base_env(workdir, **extra):
    """A clean environment: no KUBECONFIG/K8S_AUTH_*/ANSIBLE_*; temporary files under the searched ``tmp/``."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("ANSIBLE_", "K8S_AUTH_", "KUBECONFIG"))}
    env.update(PYTHONPATH=str(COLLECTIONS), HOME=str(workdir / "home"), TMPDIR=str(workdir / "tmp"))
    env.update(extra)
    return env


def run_module(workdir, check_mode=False, diff=False, **args):
    """tenant_rbac through its real entry point; returns ``(result, stdout, stderr)``."""
    args.setdefault("tenant", "team-a")
    args.setdefault("roles", ROLES)
    args.setdefault("bindings", BINDINGS)
    args.update(_ansible_check_mode=check_mode, _ansible_diff=diff)
    args_file = workdir / "inputs" / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    args_file.chmod(0o600)
    try:
        _rc, stdout, stderr = run_process([sys.executable, "-m", MODULE, str(args_file)], base_env(workdir),
                                          workdir / "out", timeout=120)
    finally:
        args_file.unlink()
    try:
        result = json.loads(stdout)
    except ValueError:
        raise AssertionError("tenant_rbac printed no JSON:\nstdout: %s\nstderr: %s" % (stdout, stderr))
    return result, stdout, stderr


def files_left(workdir):
    """Every file under the run's folders except the test's own inputs."""
    return sorted(path for path in workdir.rglob("*") if path.is_file() and workdir / "inputs" not in path.parents)


def assert_nowhere(values, texts, workdir):
    """None of ``values`` in any of ``texts`` ({where: text}) nor in any file the run left."""
    haystacks = dict(texts)
    for path in files_left(workdir):
        haystacks[str(path)] = path.read_bytes().decode("utf-8", "replace")
    leaks = sorted("%s in %s" % (value, where) for where, text in haystacks.items() for value in values
                   if value in text)
    assert not leaks, "planted secrets leaked: %s" % leaks


# --- the module through its entry point: the error path ---------------------------------------------------

@pytest.mark.parametrize("form", ["dict", "file"])
@pytest.mark.parametrize("context", UNREACHABLE_CONTEXTS)
def test_error_path_shows_no_secret(form, context, kubeconfig, planted, workdir):
    result, stdout, stderr = run_module(workdir, kubeconfig=kubeconfig[form], context=context, request_timeout=3)
    assert result["failed"] is True and "failed: MaxRetryError" in result["msg"], result["msg"]
    if context == "unreachable-exec":  # the plugin's stderr quoted the secret: it reached the output, masked
        warnings = [w["event"]["msg"] if isinstance(w, dict) else w for w in result["warnings"]]  # 2.19: objects
        assert warnings == ["kubernetes client: exec: process returned 3. login refused for ********"]
    assert [p for p in files_left(workdir) if workdir / "tmp" in p.parents] == []  # the client's key files are gone
    assert_nowhere(secret_values(planted), {"stdout": stdout, "stderr": stderr}, workdir)


def test_every_role_task_that_passes_a_kubeconfig_is_no_log():
    tasks = yaml.safe_load((REPO / "roles" / "vcluster_tenant" / "tasks" / "rbac.yml").read_text())
    passing = [task for task in tasks if any(isinstance(args, dict) and "kubeconfig" in args
                                             for args in task.values())]
    assert [task["name"] for task in passing] == ["Apply tenant RBAC in the host namespaces",
                                                  "Label the tenant's workload namespace inside its vCluster",
                                                  "Apply tenant RBAC inside each vCluster"]
    assert all(task.get("no_log") is True for task in passing)
