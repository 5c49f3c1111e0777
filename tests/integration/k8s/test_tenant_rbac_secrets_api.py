# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planted secrets never leave tenant_rbac on the real kube-apiserver: success, refusal, bad input, a playbook.

The planted kubeconfig (dict and file; tests/unit/plugins/modules/test_tenant_rbac_secrets.py builds it and
holds the helpers) reaches the apiserver of conftest.py through two users whose credentials are real and
planted alike, made fresh for each test:

* ``active`` (context ``apiserver``, the current one): the token of a new ServiceAccount bound to cluster-admin;
* ``tls`` (context ``apiserver-cert``): a client certificate for a new user, signed by the cluster's CA, and its
  private key (the client writes both to temporary files);

and ``api_key`` is the token of a second ServiceAccount. Every other user (basic auth, OIDC, GCP, exec env,
tokenFile, a proxy password) keeps its random planted value, on contexts that the playbook calls unreachable.

Which credential went through is read from the apiserver's audit log: the user it authenticated for each request
(a ServiceAccount token or a certificate can only stand for its own identity). The search covers stdout, stderr,
the result JSON, ``ANSIBLE_LOG_PATH``, the audit_trail records and every file the run left.
"""
import base64
import datetime
import json
import secrets
import sys
import textwrap
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.sovereign.cluster.tests.unit.plugins.modules.test_tenant_rbac_secrets import (  # noqa: F401  pylint: disable=unused-import
    BINDINGS, COLLECTIONS, ROLES, TENANT_LABEL, UNREACHABLE_CONTEXTS, assert_nowhere, base_env, closed_port,
    files_left, planted, planted_kubeconfig, run_module, run_process, secret_values, workdir)

RBAC_GROUP = "rbac.authorization.k8s.io"


# --- real credentials, planted ------------------------------------------------------------------------------------

def client_certificate(control_plane, user):
    """A client certificate for ``user`` signed by the cluster's CA, and its key: ``(cert PEM, key PEM)``."""
    ca_cert = x509.load_pem_x509_certificate((control_plane.pki / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((control_plane.pki / "ca.key").read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, user)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1)).not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


class Identities:
    """A tenant namespace, two ServiceAccounts and a certificate user, all bound to cluster-admin."""

    def __init__(self, control_plane, k8s_api):
        self.api = k8s_api
        self.prefix = "sovs%s" % secrets.token_hex(3)
        self.tenant = self.prefix + "-t"
        k8s_api.core.create_namespace({"metadata": {"name": self.tenant, "labels": {TENANT_LABEL: self.tenant}}})
        self.tokens = {}
        for name in ("active", "api-key"):
            k8s_api.core.create_namespaced_service_account(self.tenant, {"metadata": {"name": name}})
            self.tokens[name] = k8s_api.core.create_namespaced_service_account_token(
                name, self.tenant, {"spec": {"expirationSeconds": 3600}}).status.token
        self.users = {name: "system:serviceaccount:%s:%s" % (self.tenant, name) for name in self.tokens}
        self.users["cert"] = self.prefix + "-cert"
        self.cert_pem, self.key_pem = client_certificate(control_plane, self.users["cert"])
        k8s_api.rbac.create_cluster_role_binding({
            "metadata": {"name": self.prefix + "-admins"},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": self.tenant} for name in self.tokens]
            + [{"kind": "User", "apiGroup": RBAC_GROUP, "name": self.users["cert"]}]})
        deadline = time.monotonic() + 30  # RBAC answers from its informer cache: wait for the binding
        while not all(self.allowed(user) for user in self.users.values()):
            assert time.monotonic() < deadline, "the cluster-admin binding of the test identities never took effect"
            time.sleep(0.2)

    def allowed(self, user):
        attributes = {"verb": "create", "group": RBAC_GROUP, "resource": "clusterroles"}
        review = {"spec": {"user": user, "resourceAttributes": attributes}}
        return self.api.authz.create_subject_access_review(review).status.allowed

    def delete(self):
        for role in self.api.rbac.list_cluster_role(label_selector="%s=%s" % (TENANT_LABEL, self.tenant)).items:
            self.api.rbac.delete_cluster_role(role.metadata.name)
        self.api.rbac.delete_cluster_role_binding(self.prefix + "-admins")
        self.api.core.delete_namespace(self.tenant)


@pytest.fixture()
def identities(control_plane, k8s_api):
    made = Identities(control_plane, k8s_api)
    try:
        yield made
    finally:
        made.delete()


@pytest.fixture()
def real_planted(planted, identities):
    """The planted values, with the real token, api_key and client key in place of random ones."""
    values = dict(planted, **{"token": identities.tokens["active"], "api-key": identities.tokens["api-key"],
                              "client-key-pem": identities.key_pem.decode(),
                              "client-key-data": base64.b64encode(identities.key_pem).decode()})
    body = [line for line in values["client-key-pem"].splitlines() if not line.startswith("-----")]
    values.update({"client-key-line-%d" % index: line for index, line in enumerate(body)})  # found however quoted
    del values["client-key"]
    return values


@pytest.fixture()
def kubeconfig(real_planted, identities, control_plane, closed_port, workdir):
    tls_user = {"client-certificate-data": base64.b64encode(identities.cert_pem).decode(),
                "client-key-data": real_planted["client-key-data"]}
    api = {"server": control_plane.url, "ca_data": base64.b64encode((control_plane.pki / "ca.crt").read_bytes()).decode()}
    return planted_kubeconfig(real_planted, workdir, closed_port, tls_user=tls_user, api=api)


@pytest.fixture()
def audit(control_plane, k8s_api):
    return control_plane.audit_window


def authenticated(window, identities):
    """Which of the test identities the apiserver authenticated requests for, in the window."""
    return {name for name, user in identities.users.items() if user in window.users(identities.users.values())}


# --- the module through its entry point --------------------------------------------------------------------------

@pytest.mark.parametrize("credential, context", [("active", None), ("cert", "apiserver-cert")])
@pytest.mark.parametrize("form", ["dict", "file"])
def test_success_path_with_check_diff_and_apply_shows_no_secret(form, credential, context, kubeconfig, real_planted,
                                                                identities, audit, workdir, k8s_api):
    tenant = identities.tenant
    extra = {"context": context} if context else {}
    window = audit()
    predicted, out1, err1 = run_module(workdir, check_mode=True, diff=True, kubeconfig=kubeconfig[form],
                                       tenant=tenant, **extra)
    applied, out2, err2 = run_module(workdir, diff=True, kubeconfig=kubeconfig[form], tenant=tenant, **extra)
    assert predicted["changed"] is True and "failed" not in predicted, predicted.get("msg")
    assert "failed" not in applied, applied.get("msg")
    assert authenticated(window, identities) == {credential}  # the planted credential did go through, alone
    assert {verb for verb, _uri, _code in window.writes(identities.users[credential])} == {"create"}
    assert applied["roles"]["created"] == ["ClusterRole/%s:auditor" % tenant, "Role/%s/tenant-admin" % tenant]
    assert "Role/%s/tenant-admin" % tenant in applied["diff"]["after"]
    assert sorted(b.metadata.name for b in k8s_api.rbac.list_namespaced_role_binding(tenant).items) == [
        "auditor", "tenant-admin"]
    if form == "dict":  # the kubeconfig is echoed in invocation, its secrets masked
        users = {u["name"]: u["user"] for u in applied["invocation"]["module_args"]["kubeconfig"]["users"]}
        assert users["active"]["token"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
        assert users["tls"]["client-key-data"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
        assert users["tls"]["client-certificate-data"] == base64.b64encode(identities.cert_pem).decode()
    else:
        assert applied["invocation"]["module_args"]["kubeconfig"] == kubeconfig["file"]
    assert [p for p in files_left(workdir) if workdir / "tmp" in p.parents] == []  # the client's key files are gone
    assert_nowhere(secret_values(real_planted),
                   {"check stdout": out1, "check stderr": err1, "apply stdout": out2, "apply stderr": err2}, workdir)


def test_refusal_path_shows_no_secret(kubeconfig, real_planted, identities, audit, workdir):
    bindings = [{"cluster_role": "cluster-admin", "subjects": [{"kind": "Group", "name": "oidc:ops"}]}]
    window = audit()
    result, stdout, stderr = run_module(workdir, kubeconfig=kubeconfig["dict"], bindings=bindings,
                                        api_key=real_planted["api-key"], tenant=identities.tenant)
    assert result["failed"] is True and [r["rule"] for r in result["refusals"]] == ["cluster-admin"]
    assert result["msg"].startswith("refused 1 grant(s) for tenant %s, nothing changed" % identities.tenant)
    assert authenticated(window, identities) == {"api-key"}  # api_key replaced the kubeconfig's token
    assert window.writes(identities.users["api-key"]) == []
    assert_nowhere(secret_values(real_planted), {"stdout": stdout, "stderr": stderr}, workdir)


@pytest.mark.parametrize("form", ["dict", "file"])
@pytest.mark.parametrize("bad, message", [
    ({"tenant": "Team_A"}, "tenant 'Team_A' is not a DNS-1123 label"),
    ({"request_timeout": "soon"}, "argument 'request_timeout' is of type"),  # fails inside AnsibleModule()
    ({"context": "missing"}, "kubeconfig/context: cannot load the Kubernetes client configuration"),
])
def test_bad_input_path_shows_no_secret(form, bad, message, kubeconfig, real_planted, identities, audit, workdir):
    bad = dict({"tenant": identities.tenant}, **bad)
    window = audit()
    result, stdout, stderr = run_module(workdir, kubeconfig=kubeconfig[form], api_key=real_planted["api-key"], **bad)
    assert result["failed"] is True and message in result["msg"], result["msg"]
    assert authenticated(window, identities) == set()  # refused before any request
    assert_nowhere(secret_values(real_planted), {"stdout": stdout, "stderr": stderr}, workdir)


# --- ansible-playbook -vvv --diff, a log file, the audit trail, the role's tasks ----------------------------------

PLAYBOOK = textwrap.dedent("""\
    - name: tenant_rbac with planted secrets
      hosts: localhost
      gather_facts: false
      tasks:
        - name: Success with a kubeconfig dict (no no_log here, on purpose)
          sovereign.cluster.tenant_rbac:
            kubeconfig: "{{ planted_kubeconfig }}"
            tenant: "{{ planted_tenant }}"
            roles: "{{ planted_roles }}"
            bindings: "{{ planted_bindings }}"

        - name: Unchanged with the kubeconfig file
          sovereign.cluster.tenant_rbac:
            kubeconfig: "{{ planted_kubeconfig_file }}"
            tenant: "{{ planted_tenant }}"
            roles: "{{ planted_roles }}"
            bindings: "{{ planted_bindings }}"

        - name: Refusal
          sovereign.cluster.tenant_rbac:
            kubeconfig: "{{ planted_kubeconfig }}"
            api_key: "{{ planted_api_key }}"
            tenant: "{{ planted_tenant }}"
            bindings: [{cluster_role: cluster-admin, subjects: [{kind: Group, name: "oidc:ops"}]}]
          ignore_errors: true

        - name: Bad input caught by the argument spec
          sovereign.cluster.tenant_rbac:
            kubeconfig: "{{ planted_kubeconfig }}"
            tenant: "{{ planted_tenant }}"
            request_timeout: soon
          ignore_errors: true

        - name: Error on an unreachable server, for each kind of user
          sovereign.cluster.tenant_rbac:
            kubeconfig: "{{ planted_kubeconfig }}"
            context: "{{ item }}"
            tenant: "{{ planted_tenant }}"
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
                  - {name: "{{ planted_tenant }}", state: present, namespace: "{{ planted_tenant }}",
                     rbac_bindings: [{cluster_role: cluster-admin, subjects: [{kind: Group, name: "oidc:ops"}]}]}
          rescue:
            - name: The role failed with the module's message
              ansible.builtin.assert:
                that: "('refused 1 grant(s) for tenant ' ~ planted_tenant) in ansible_failed_result.msg"
""")


def test_playbook_vvv_diff_log_file_and_audit_trail_show_no_secret(kubeconfig, real_planted, identities, audit,
                                                                   workdir):
    tenant = identities.tenant
    values = secret_values(real_planted)
    variables = workdir / "inputs" / "vars.json"
    variables.write_text(json.dumps({
        "planted_kubeconfig": kubeconfig["dict"], "planted_kubeconfig_file": kubeconfig["file"],
        "planted_api_key": real_planted["api-key"], "planted_roles": ROLES, "planted_bindings": BINDINGS,
        "planted_unreachable_contexts": UNREACHABLE_CONTEXTS, "planted_tenant": tenant}))
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
    window = audit()
    rc, stdout, stderr = run_process(command, env, workdir / "out")
    output = stdout + stderr
    assert rc == 0, output[-6000:]
    recap = [line for line in output.splitlines() if line.startswith("localhost") and "ok=" in line]
    assert recap and "changed=1" in recap[0] and "failed=0" in recap[0] and "rescued=1" in recap[0], output[-3000:]
    assert "ignored=4" in recap[0], recap  # refusal, argument spec, the unreachable loop, the role's task
    # the paths were taken: the refusal, the argument error, one error per user kind, the role's message
    assert output.count("refused 1 grant(s) for tenant %s" % tenant) >= 2
    assert "argument 'request_timeout' is of type" in output
    assert output.count("listing ClusterRole objects failed: MaxRetryError") >= len(UNREACHABLE_CONTEXTS)
    assert "login refused for ********" in output
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in output  # -vvv echoed the arguments, masked
    assert "censored" in output  # the role's tenant_rbac task is no_log
    # the kubeconfig's token (success, unchanged) and api_key (refusals) were what the apiserver authenticated
    assert authenticated(window, identities) == {"active", "api-key"}
    assert {verb for verb, _uri, _code in window.writes(identities.users["active"])} == {"create"}
    assert window.writes(identities.users["api-key"]) == []
    assert log_file.read_text().count("refused 1 grant(s)") >= 2
    records = [json.loads(line) for line in trail.read_text().splitlines()]
    role_task = [r for r in records if r.get("task", "").endswith("Apply tenant RBAC in the host namespaces")]
    assert role_task and all(r.get("censored") for r in role_task), role_task
    # nothing the run wrote to its temporary folders is left (the client's key files, AnsiballZ payloads)
    assert [p for p in files_left(workdir) if workdir / "tmp" in p.parents] == []
    # stdout, stderr, and every file the run left: the log file and the audit trail among them
    assert {log_file, trail} <= set(files_left(workdir))
    assert_nowhere(values, {"stdout": stdout, "stderr": stderr}, workdir)
