"""Planted secrets never leave tenant_rbac: not on the success, the refusal, the bad-input or the error path.

Every secret-bearing input (a kubeconfig dict and a kubeconfig file with a token, a client key, a basic-auth
password, OIDC tokens and client secret, a GCP access token, an exec plugin's env, a tokenFile, a proxy
password; api_key) holds a fresh random value. The module runs through its real entry point
(``python -m ...tenant_rbac args.json``) and in ``ansible-playbook -vvv --diff`` with ``ANSIBLE_LOG_PATH`` and
the audit_trail callback; stdout, stderr, the result JSON, the log file, the audit records and every file
left in the run's temporary folders are searched for each value.

The API server is the kmock emulator (tests/emulator/kmock_k8s.py). To run the success path against a real
kube-apiserver, give :func:`api_target` another implementation with the same attributes (``url``, ``user``:
the active user's credentials, ``secrets``: its secret values, also searched for, ``add_namespace``,
``bearer_tokens``); nothing else in this file knows which server it talks to.
"""
import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from ansible_collections.sovereign.cluster.tests.emulator import kmock_k8s

REPO = Path(__file__).resolve().parents[4]
COLLECTIONS = REPO / "build" / "collections"
TENANT_LABEL = "sovereign.cluster/tenant"
MODULE = "ansible_collections.sovereign.cluster.plugins.modules.tenant_rbac"
ROLES = [{"name": "tenant-admin", "rules": [{"resources": ["pods", "configmaps"], "verbs": ["get", "list", "create"]}]},
         {"name": "auditor", "scope": "cluster", "rules": [{"resources": ["pods"], "verbs": ["get", "list"]}]}]
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


class EmulatorTarget:
    """The kmock emulator as the API server; the active user's credentials are planted values too."""

    def __init__(self, emulator, planted):
        self._emulator = emulator
        self.url = emulator.url
        self.user = {"token": planted["token"], "client-certificate-data": base64.b64encode(b"CERT").decode(),
                     "client-key-data": planted["client-key-data"]}
        self.secrets = set()  # nothing beyond the planted values

    def add_namespace(self, name, labels):
        self._emulator.add_namespace(name, labels)

    def bearer_tokens(self):
        """The Authorization header of every request so far (the test's own helper requests send none)."""
        return set(self._emulator.authorizations)

    def refs(self, kind):
        return self._emulator.refs(kind)


@pytest.fixture()
def api_target(planted):
    """The API server of the success path (see the module docstring to point it at a real kube-apiserver)."""
    with kmock_k8s.KubernetesApiEmulator() as emulator:
        target = EmulatorTarget(emulator, planted)
        target.add_namespace("team-a", {TENANT_LABEL: "team-a"})
        target.add_namespace("kube-system", {})
        emulator.clear_requests()
        yield target


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


@pytest.fixture()
def kubeconfig(planted, api_target, closed_port, workdir):
    """The planted kubeconfig: context ``apiserver`` reaches the API, the ``unreachable-*`` ones a closed port."""
    token_file = workdir / "inputs" / "token"
    token_file.write_text(planted["token-file"])  # the Python client sends a trailing newline as is
    plugin = workdir / "inputs" / "login-plugin"  # fails and echoes its secret env, as a broken plugin may
    plugin.write_text("#!%s\nimport os, sys\nsys.stderr.write('login refused for %%s' %% os.environ['LOGIN_SECRET'])\n"
                      "sys.exit(3)\n" % sys.executable)
    plugin.chmod(0o700)
    nowhere = "http://127.0.0.1:%d" % closed_port
    users = {
        "active": api_target.user,
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
    contexts = {"apiserver": ("api", "active"), "unreachable-token": ("nowhere", "active"),
                "unreachable-tls": ("nowhere-tls", "active"),
                "unreachable-basic": ("nowhere", "basic"), "unreachable-oidc": ("nowhere", "oidc"),
                "unreachable-exec": ("nowhere", "exec"), "unreachable-token-file": ("nowhere", "token-file"),
                "proxied": ("proxied", "gcp")}
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "apiserver",
        "clusters": [{"name": "api", "cluster": {"server": api_target.url}},
                     {"name": "nowhere", "cluster": {"server": nowhere}},
                     {"name": "nowhere-tls", "cluster": {"server": nowhere.replace("http:", "https:")}},
                     {"name": "proxied", "cluster": {"server": nowhere, "proxy-url": "http://ops:%s@127.0.0.1:%d"
                                                     % (planted["proxy-password"], closed_port)}}],
        "contexts": [{"name": name, "context": {"cluster": cluster, "user": user}}
                     for name, (cluster, user) in contexts.items()],
        "users": [{"name": name, "user": user} for name, user in users.items()],
    }
    path = workdir / "inputs" / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return {"dict": config, "file": str(path)}


def secret_values(planted, api_target):
    values = set(planted.values()) | set(api_target.secrets)
    return {value for value in values if len(value) >= 8}


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


# --- the module through its entry point --------------------------------------------------------------------

@pytest.mark.parametrize("form", ["dict", "file"])
def test_success_path_with_check_diff_and_apply_shows_no_secret(form, kubeconfig, planted, api_target, workdir):
    values = secret_values(planted, api_target)
    predicted, out1, err1 = run_module(workdir, check_mode=True, diff=True, kubeconfig=kubeconfig[form])
    applied, out2, err2 = run_module(workdir, diff=True, kubeconfig=kubeconfig[form])
    assert api_target.bearer_tokens() == {"Bearer " + planted["token"]}  # the planted token did go through
    assert predicted["changed"] is True and "failed" not in predicted, predicted.get("msg")
    assert applied["roles"]["created"] == ["ClusterRole/team-a:auditor", "Role/team-a/tenant-admin"]
    assert "Role/team-a/tenant-admin" in applied["diff"]["after"]
    assert api_target.refs("RoleBinding") == ["team-a/auditor", "team-a/tenant-admin"]
    if form == "dict":  # the kubeconfig is echoed in invocation, its secrets masked
        user = applied["invocation"]["module_args"]["kubeconfig"]["users"][0]["user"]
        assert user["token"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
        assert user["client-certificate-data"] == base64.b64encode(b"CERT").decode()
    else:
        assert applied["invocation"]["module_args"]["kubeconfig"] == kubeconfig["file"]
    assert [p for p in files_left(workdir) if workdir / "tmp" in p.parents] == []  # the client's key files are gone
    assert_nowhere(values, {"check stdout": out1, "check stderr": err1, "apply stdout": out2, "apply stderr": err2},
                   workdir)


def test_refusal_path_shows_no_secret(kubeconfig, planted, api_target, workdir):
    bindings = [{"cluster_role": "cluster-admin", "subjects": [{"kind": "Group", "name": "oidc:ops"}]}]
    result, stdout, stderr = run_module(workdir, kubeconfig=kubeconfig["dict"], bindings=bindings,
                                        api_key=planted["api-key"])
    assert result["failed"] is True and [r["rule"] for r in result["refusals"]] == ["cluster-admin"]
    assert result["msg"].startswith("refused 1 grant(s) for tenant team-a, nothing changed")
    assert api_target.bearer_tokens() == {"Bearer " + planted["api-key"]}
    assert_nowhere(secret_values(planted, api_target), {"stdout": stdout, "stderr": stderr}, workdir)


@pytest.mark.parametrize("form", ["dict", "file"])
@pytest.mark.parametrize("bad, message", [
    ({"tenant": "Team_A"}, "tenant 'Team_A' is not a DNS-1123 label"),
    ({"request_timeout": "soon"}, "argument 'request_timeout' is of type"),  # fails inside AnsibleModule()
    ({"context": "missing"}, "kubeconfig/context: cannot load the Kubernetes client configuration"),
])
def test_bad_input_path_shows_no_secret(form, bad, message, kubeconfig, planted, api_target, workdir):
    result, stdout, stderr = run_module(workdir, kubeconfig=kubeconfig[form], api_key=planted["api-key"], **bad)
    assert result["failed"] is True and message in result["msg"], result["msg"]
    assert api_target.bearer_tokens() == set()  # refused before any request
    assert_nowhere(secret_values(planted, api_target), {"stdout": stdout, "stderr": stderr}, workdir)


@pytest.mark.parametrize("form", ["dict", "file"])
@pytest.mark.parametrize("context", UNREACHABLE_CONTEXTS)
def test_error_path_shows_no_secret(form, context, kubeconfig, planted, api_target, workdir):
    result, stdout, stderr = run_module(workdir, kubeconfig=kubeconfig[form], context=context, request_timeout=3)
    assert result["failed"] is True and "failed: MaxRetryError" in result["msg"], result["msg"]
    if context == "unreachable-exec":  # the plugin's stderr quoted the secret: it reached the output, masked
        warnings = [w["event"]["msg"] if isinstance(w, dict) else w for w in result["warnings"]]  # 2.19: objects
        assert warnings == ["kubernetes client: exec: process returned 3. login refused for ********"]
    assert [p for p in files_left(workdir) if workdir / "tmp" in p.parents] == []  # the client's key files are gone
    assert_nowhere(secret_values(planted, api_target), {"stdout": stdout, "stderr": stderr}, workdir)


# --- ansible-playbook -vvv --diff, a log file, the audit trail, the role's tasks ----------------------------

PLAYBOOK = textwrap.dedent("""\
    - name: tenant_rbac with planted secrets
      hosts: localhost
      gather_facts: false
      tasks:
        - name: Success with a kubeconfig dict (no no_log here, on purpose)
          sovereign.cluster.tenant_rbac:
            kubeconfig: "{{ planted_kubeconfig }}"
            tenant: team-a
            roles: "{{ planted_roles }}"
            bindings: "{{ planted_bindings }}"

        - name: Unchanged with the kubeconfig file
          sovereign.cluster.tenant_rbac:
            kubeconfig: "{{ planted_kubeconfig_file }}"
            tenant: team-a
            roles: "{{ planted_roles }}"
            bindings: "{{ planted_bindings }}"

        - name: Refusal
          sovereign.cluster.tenant_rbac:
            kubeconfig: "{{ planted_kubeconfig }}"
            api_key: "{{ planted_api_key }}"
            tenant: team-a
            bindings: [{cluster_role: cluster-admin, subjects: [{kind: Group, name: "oidc:ops"}]}]
          ignore_errors: true

        - name: Bad input caught by the argument spec
          sovereign.cluster.tenant_rbac:
            kubeconfig: "{{ planted_kubeconfig }}"
            tenant: team-a
            request_timeout: soon
          ignore_errors: true

        - name: Error on an unreachable server, for each kind of user
          sovereign.cluster.tenant_rbac:
            kubeconfig: "{{ planted_kubeconfig }}"
            context: "{{ item }}"
            tenant: team-a
            request_timeout: 3
          loop: "{{ planted_unreachable_contexts }}"
          ignore_errors: true

        - name: The role's tasks, host target, the kubeconfig dict and api_key (refused)
          block:
            - name: Role vcluster_tenant, tasks rbac
              ansible.builtin.include_role:
                name: sovereign.cluster.vcluster_tenant
                tasks_from: rbac
              vars:
                vcluster_tenant_rbac_target: host
                vcluster_tenant_kubeconfig: "{{ planted_kubeconfig }}"
                vcluster_tenant_k8s_api_key: "{{ planted_api_key }}"
                vcluster_tenant_plan:
                  - {name: team-a, state: present, namespace: team-a,
                     rbac_bindings: [{cluster_role: cluster-admin, subjects: [{kind: Group, name: "oidc:ops"}]}]}
          rescue:
            - name: The role failed with the module's message
              ansible.builtin.assert:
                that: "'refused 1 grant(s) for tenant team-a' in ansible_failed_result.msg"
""")


def test_playbook_vvv_diff_log_file_and_audit_trail_show_no_secret(kubeconfig, planted, api_target, workdir):
    values = secret_values(planted, api_target)
    variables = workdir / "inputs" / "vars.json"
    variables.write_text(json.dumps({
        "planted_kubeconfig": kubeconfig["dict"], "planted_kubeconfig_file": kubeconfig["file"],
        "planted_api_key": planted["api-key"], "planted_roles": ROLES, "planted_bindings": BINDINGS,
        "planted_unreachable_contexts": UNREACHABLE_CONTEXTS}))
    variables.chmod(0o600)
    playbook = workdir / "inputs" / "site.yml"
    playbook.write_text(PLAYBOOK)
    log_file, trail = workdir / "out" / "ansible.log", workdir / "out" / "audit-trail.jsonl"
    env = base_env(workdir, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_LOG_PATH=str(log_file),
                   ANSIBLE_HOME=str(workdir / "home" / ".ansible"), ANSIBLE_LOCAL_TEMP=str(workdir / "tmp" / "local"),
                   ANSIBLE_REMOTE_TMP=str(workdir / "tmp" / "remote"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_RETRY_FILES_ENABLED="false", ANSIBLE_CALLBACKS_ENABLED="sovereign.cluster.audit_trail",
                   SOVEREIGN_AUDIT_TRAIL_FILE=str(trail), SOVEREIGN_AUDIT_TRAIL_SYSLOG="false")
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-vvv", "--diff", "-i", "localhost,",
               "-c", "local", "-e", "@%s" % variables, "-e", "ansible_python_interpreter=%s" % sys.executable,
               str(playbook)]
    rc, stdout, stderr = run_process(command, env, workdir / "out")
    output = stdout + stderr
    assert rc == 0, output[-6000:]
    recap = [line for line in output.splitlines() if line.startswith("localhost") and "ok=" in line]
    assert recap and "changed=1" in recap[0] and "failed=0" in recap[0] and "rescued=1" in recap[0], output[-3000:]
    assert "ignored=4" in recap[0], recap  # refusal, argument spec, the unreachable loop, the role's task
    # the paths were taken: the refusal, the argument error, one error per user kind, the role's message
    assert output.count("refused 1 grant(s) for tenant team-a") >= 2
    assert "argument 'request_timeout' is of type" in output
    assert output.count("listing ClusterRole objects failed: MaxRetryError") >= len(UNREACHABLE_CONTEXTS)
    assert "login refused for ********" in output
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in output  # -vvv echoed the arguments, masked
    assert "censored" in output  # the role's tenant_rbac task is no_log
    assert api_target.bearer_tokens() == {"Bearer " + planted["token"], "Bearer " + planted["api-key"]}
    assert log_file.read_text().count("refused 1 grant(s)") >= 2
    records = [json.loads(line) for line in trail.read_text().splitlines()]
    role_task = [r for r in records if r.get("task", "").endswith("Apply tenant RBAC in the host namespaces")]
    assert role_task and all(r.get("censored") for r in role_task), role_task
    # nothing the run wrote to its temporary folders is left (the client's key files, AnsiballZ payloads)
    assert [p for p in files_left(workdir) if workdir / "tmp" in p.parents] == []
    assert_nowhere(values, {"stdout": stdout, "stderr": stderr}, workdir)


def test_every_role_task_that_passes_a_kubeconfig_is_no_log():
    tasks = yaml.safe_load((REPO / "roles" / "vcluster_tenant" / "tasks" / "rbac.yml").read_text())
    passing = [task for task in tasks if any(isinstance(args, dict) and "kubeconfig" in args
                                             for args in task.values())]
    assert [task["name"] for task in passing] == ["Apply tenant RBAC in the host namespaces",
                                                  "Label the tenant's workload namespace inside its vCluster",
                                                  "Apply tenant RBAC inside each vCluster"]
    assert all(task.get("no_log") is True for task in passing)
