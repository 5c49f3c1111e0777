"""The configuration files of roles/kubernetes_control_plane, rendered by a real ansible-playbook run.

No kubeadm, kube-apiserver or kubelet binary can be obtained here, so what kubeadm and kube-apiserver
would read is checked as data: the role's own tasks (validate.yml, render.yml, join_config.yml) render
every file for a 3-node HA inventory into a temporary folder, each file is parsed, and each security
setting has its own assertion. Core API objects the official schemas know are not involved (kubeadm
and apiserver.config.k8s.io kinds are not in the Kubernetes OpenAPI), so fields are asserted directly.
"""
import json
import sys
from pathlib import Path

import pytest
import yaml

from tests.case_playbook import CasePlaybook, ansible_playbook, assert_passed, assert_ran, assert_refused

HOSTS = {"cp1": "10.0.0.11", "cp2": "10.0.0.12", "cp3": "10.0.0.13"}
ENDPOINT = "k8s-api.example.internal:6443"
ANSSI_SUITES = [
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
]
JOIN_TOKEN = "abcdef.0123456789abcdef"
CERT_KEY = "0f" * 32
ROLE_ID = "role-id-4b1f0c"
SECRET_ID = "secret-id-9d2e77"

PLAYBOOK = """
- name: Render the kubernetes_control_plane files
  hosts: control_plane
  gather_facts: false
  tasks:
    - name: Validate
      ansible.builtin.include_role:
        name: sovereign.cluster.kubernetes_control_plane
        tasks_from: validate.yml
        public: true
    - name: Render
      ansible.builtin.include_role:
        name: sovereign.cluster.kubernetes_control_plane
        tasks_from: render.yml
    - name: Control-plane JoinConfiguration of the other nodes
      ansible.builtin.include_role:
        name: sovereign.cluster.kubernetes_control_plane
        tasks_from: join_config.yml
      vars:
        _kubernetes_control_plane_join_data:
          endpoint: "{{ _kubernetes_control_plane_endpoint }}"
          token: %(token)s
          ca_cert_hashes: ["sha256:%(hash)s"]
          ca_cert_data: Q0EtREFUQQ==
        _kubernetes_control_plane_certificate_key: "%(cert_key)s"
      when: inventory_hostname != groups['control_plane'][0]
    - name: KMS plugin folder
      ansible.builtin.file:
        path: "{{ kubernetes_control_plane_kms_etc_dir }}"
        state: directory
        mode: "0700"
    - name: KMS plugin unit and settings
      ansible.builtin.template:
        src: "%(templates)s/{{ item }}.j2"
        dest: "{{ kubernetes_control_plane_kms_etc_dir }}/{{ item }}"
        mode: "0600"
      loop: [sovereign-kms-vault.service, sovereign-kms.env]
"""


def _inventory(root, **extra):
    hosts = {}
    for name, address in HOSTS.items():
        base = root / name
        hosts[name] = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "kubernetes_control_plane_advertise_address": address,
            "kubernetes_control_plane_kubernetes_dir": str(base / "etc/kubernetes"),
            "kubernetes_control_plane_config_dir": str(base / "etc/kubernetes/sovereign"),
            "kubernetes_control_plane_patches_dir": str(base / "etc/kubernetes/patches"),
            "kubernetes_control_plane_audit_log_dir": str(base / "var/log/kubernetes/audit"),
            "kubernetes_control_plane_kms_etc_dir": str(base / "etc/sovereign-kms"),
        }
    hosts["cp3"]["kubernetes_control_plane_audit_extra_rules"] = [{"level": "RequestResponse"}]
    group_vars = {
        "kubernetes_control_plane_endpoint": ENDPOINT,
        "kubernetes_control_plane_image_repository": "registry.example.internal/k8s",
        "kubernetes_control_plane_kms_vault_addr": "https://vault.example.internal:8200",
        "kubernetes_control_plane_kms_vault_ca_pem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        "kubernetes_control_plane_kms_role_id": ROLE_ID,
        "kubernetes_control_plane_kms_secret_id": SECRET_ID,
    }
    group_vars.update(extra)
    return {"all": {"children": {
        "k8s_cluster": {"children": {"control_plane": {"hosts": hosts, "vars": group_vars}}},
    }}}


def run_playbook(root, playbook_text):
    root.mkdir(parents=True, exist_ok=True)
    (root / "inventory.yml").write_text(yaml.safe_dump(_inventory(root)))
    (root / "play.yml").write_text(playbook_text)
    # The planted-secret check reads the -vvv --diff output, the log file and the audit_trail records.
    run = ansible_playbook(root, "-vvv", "--diff", "-i", str(root / "inventory.yml"), str(root / "play.yml"), timeout=180,
                           record_output=True, env={"ANSIBLE_REMOTE_TMP": str(root / "ansible-remote")})
    assert run.returncode == 0, run.tail()
    return run


@pytest.fixture(scope="module")
def rendered(repo_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("k8s-cp-render")
    templates = repo_dir / "roles" / "kubernetes_control_plane" / "templates"
    run = run_playbook(root, PLAYBOOK % {
        "token": JOIN_TOKEN, "hash": "a" * 64, "cert_key": CERT_KEY, "templates": templates})
    return root, run


def _docs(path):
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _kind(docs, kind):
    found = [doc for doc in docs if doc.get("kind") == kind]
    assert len(found) == 1, [doc.get("kind") for doc in docs]
    return found[0]


def _args(component):
    pairs = component["extraArgs"]
    names = [pair["name"] for pair in pairs]
    assert len(names) == len(set(names)), names  # kubeadm v1beta4: a list of {name, value}, no duplicate
    return {pair["name"]: pair["value"] for pair in pairs}


@pytest.fixture(scope="module")
def kubeadm_docs(rendered):
    return _docs(rendered[0] / "cp1" / "etc/kubernetes/kubeadm-config.yaml")


@pytest.fixture(scope="module")
def cluster(kubeadm_docs):
    return _kind(kubeadm_docs, "ClusterConfiguration")


@pytest.fixture(scope="module")
def init(kubeadm_docs):
    return _kind(kubeadm_docs, "InitConfiguration")


@pytest.fixture(scope="module")
def kubelet(kubeadm_docs):
    return _kind(kubeadm_docs, "KubeletConfiguration")


@pytest.fixture(scope="module")
def apiserver_args(cluster):
    return _args(cluster["apiServer"])


@pytest.fixture(scope="module")
def join_cp2(rendered):
    return _docs(rendered[0] / "cp2" / "etc/kubernetes/kubeadm-join.yaml")


@pytest.fixture(scope="module")
def audit_policy(rendered):
    return yaml.safe_load((rendered[0] / "cp1" / "etc/kubernetes/sovereign/audit-policy.yaml").read_text())


@pytest.fixture(scope="module")
def encryption(rendered):
    return yaml.safe_load((rendered[0] / "cp1" / "etc/kubernetes/sovereign/encryption-config.yaml").read_text())


@pytest.fixture(scope="module")
def admission(rendered):
    return yaml.safe_load((rendered[0] / "cp1" / "etc/kubernetes/sovereign/admission-config.yaml").read_text())


# --- kubeadm ------------------------------------------------------------------------------------

def test_kubeadm_documents_are_v1beta4(kubeadm_docs, join_cp2):
    kubeadm = [doc for doc in kubeadm_docs + join_cp2 if doc["apiVersion"].startswith("kubeadm.k8s.io/")]
    assert sorted((doc["apiVersion"], doc["kind"]) for doc in kubeadm) == [
        ("kubeadm.k8s.io/v1beta4", "ClusterConfiguration"),
        ("kubeadm.k8s.io/v1beta4", "InitConfiguration"),
        ("kubeadm.k8s.io/v1beta4", "JoinConfiguration"),
    ]


def test_control_plane_endpoint_is_the_ha_endpoint(cluster):
    assert cluster["controlPlaneEndpoint"] == ENDPOINT


def test_etcd_is_stacked(cluster):
    assert set(cluster["etcd"]) == {"local"}


def test_etcd_tls_uses_the_anssi_suites(cluster):
    assert _args(cluster["etcd"]["local"])["cipher-suites"].split(",") == ANSSI_SUITES


def test_kubernetes_version(cluster):
    assert cluster["kubernetesVersion"] == "v1.36.3"


def test_images_come_from_the_mirror(cluster):
    assert cluster["imageRepository"] == "registry.example.internal/k8s"


def test_certificates_use_an_anssi_key_algorithm(cluster):
    assert cluster["encryptionAlgorithm"] == "RSA-3072"


def test_init_advertises_the_first_node(init):
    assert init["localAPIEndpoint"] == {"advertiseAddress": "10.0.0.11", "bindPort": 6443}


def test_init_bootstrap_token_is_generated_and_short_lived(init):
    assert [("token" in bt, bt["ttl"]) for bt in init["bootstrapTokens"]] == [(False, "1h0m0s")]


def test_apiserver_anonymous_auth_off(apiserver_args):
    assert apiserver_args["anonymous-auth"] == "false"


def test_apiserver_profiling_off(apiserver_args):
    assert apiserver_args["profiling"] == "false"


def test_apiserver_tls_min_version(apiserver_args):
    assert apiserver_args["tls-min-version"] == "VersionTLS12"


def test_apiserver_tls_cipher_suites_anssi(apiserver_args):
    assert apiserver_args["tls-cipher-suites"].split(",") == ANSSI_SUITES


def test_apiserver_audit_log_path_is_the_forwarded_one(apiserver_args, rendered):
    assert apiserver_args["audit-log-path"] == str(rendered[0] / "cp1/var/log/kubernetes/audit/audit.log")


def test_apiserver_audit_policy_file(apiserver_args, rendered):
    assert apiserver_args["audit-policy-file"] == str(rendered[0] / "cp1/etc/kubernetes/sovereign/audit-policy.yaml")


def test_apiserver_encryption_provider_config(apiserver_args, rendered):
    assert apiserver_args["encryption-provider-config"] == str(rendered[0] / "cp1/etc/kubernetes/sovereign/encryption-config.yaml")


def test_apiserver_admission_control_config_file(apiserver_args, rendered):
    assert apiserver_args["admission-control-config-file"] == str(rendered[0] / "cp1/etc/kubernetes/sovereign/admission-config.yaml")


def test_apiserver_authorization_mode(apiserver_args):
    assert apiserver_args["authorization-mode"] == "Node,RBAC"


def test_apiserver_verifies_kubelet_serving_certificates(apiserver_args, rendered):
    assert apiserver_args["kubelet-certificate-authority"] == str(rendered[0] / "cp1/etc/kubernetes/pki/ca.crt")


def test_apiserver_mounts_config_readonly_and_the_kms_socket_folder(cluster, rendered):
    volumes = {volume["hostPath"]: volume["readOnly"] for volume in cluster["apiServer"]["extraVolumes"]}
    assert volumes == {
        str(rendered[0] / "cp1/etc/kubernetes/sovereign"): True,
        str(rendered[0] / "cp1/var/log/kubernetes/audit"): False,
        "/run/sovereign-kms": False,
    }


def test_controller_manager_and_scheduler_profiling_off(cluster):
    assert [_args(cluster[name])["profiling"] for name in ("controllerManager", "scheduler")] == ["false", "false"]


def test_controller_manager_and_scheduler_listen_on_loopback(cluster):
    assert [_args(cluster[name])["bind-address"] for name in ("controllerManager", "scheduler")] == ["127.0.0.1", "127.0.0.1"]


def test_apiserver_probes_are_patched_to_tcp(init, rendered):
    patch = yaml.safe_load((Path(init["patches"]["directory"]) / "kube-apiserver0+strategic.yaml").read_text())
    probes = patch["spec"]["containers"][0]
    assert {name: (probes[name]["httpGet"], probes[name]["tcpSocket"]) for name in ("livenessProbe", "readinessProbe", "startupProbe")} == {
        name: (None, {"host": "10.0.0.11", "port": 6443}) for name in ("livenessProbe", "readinessProbe", "startupProbe")}


# --- KubeletConfiguration uploaded by kubeadm -----------------------------------------------------

@pytest.mark.parametrize("field, expected", [
    ("readOnlyPort", 0),
    ("protectKernelDefaults", True),
    ("rotateCertificates", True),
    ("serverTLSBootstrap", True),
    ("cgroupDriver", "systemd"),
    ("tlsMinVersion", "VersionTLS12"),
    ("tlsCipherSuites", ANSSI_SUITES),
    ("seccompDefault", True),
])
def test_kubelet_setting(kubelet, field, expected):
    assert kubelet[field] == expected


def test_kubelet_anonymous_auth_off(kubelet):
    assert kubelet["authentication"]["anonymous"]["enabled"] is False


def test_kubelet_webhook_authn_and_authz(kubelet):
    assert (kubelet["authentication"]["webhook"]["enabled"], kubelet["authorization"]["mode"]) == (True, "Webhook")


def test_kubelet_apiversion(kubelet):
    assert kubelet["apiVersion"] == "kubelet.config.k8s.io/v1beta1"


# --- JoinConfiguration -----------------------------------------------------------------------------

def test_join_is_a_control_plane_join_with_the_certificate_key(join_cp2):
    join = _kind(join_cp2, "JoinConfiguration")
    assert join["controlPlane"] == {"localAPIEndpoint": {"advertiseAddress": "10.0.0.12", "bindPort": 6443}, "certificateKey": CERT_KEY}


def test_join_uses_file_discovery_with_the_token(join_cp2, rendered):
    """anonymous-auth=false: token discovery's anonymous cluster-info read would get 401."""
    join = _kind(join_cp2, "JoinConfiguration")
    assert join["discovery"] == {"file": {"kubeConfigPath": str(rendered[0] / "cp2/etc/kubernetes/sovereign-discovery.conf")},
                                 "tlsBootstrapToken": JOIN_TOKEN}


def test_discovery_kubeconfig_points_at_the_endpoint(rendered):
    config = yaml.safe_load((rendered[0] / "cp2/etc/kubernetes/sovereign-discovery.conf").read_text())
    assert (config["clusters"][0]["cluster"]["server"], config["users"][0]["user"]["token"]) == ("https://" + ENDPOINT, JOIN_TOKEN)


def test_join_files_are_0600(rendered):
    modes = {name: oct((rendered[0] / "cp2/etc/kubernetes" / name).stat().st_mode & 0o777)
             for name in ("kubeadm-join.yaml", "sovereign-discovery.conf")}
    assert modes == {"kubeadm-join.yaml": "0o600", "sovereign-discovery.conf": "0o600"}


def test_first_node_gets_no_join_file(rendered):
    assert not (rendered[0] / "cp1/etc/kubernetes/kubeadm-join.yaml").exists()


# --- audit policy ----------------------------------------------------------------------------------

def _matches(rule, verb, group, resource, user="alice"):
    if rule.get("verbs") and verb not in rule["verbs"]:
        return False
    if rule.get("users") and user not in rule["users"]:
        return False
    if rule.get("userGroups") or rule.get("nonResourceURLs") or rule.get("namespaces"):
        return False  # none of the requests asked about below is from a node, in kube-system, or non-resource
    if "resources" in rule:
        return any(entry.get("group", "") == group and resource in entry.get("resources", [resource]) for entry in rule["resources"])
    return True


def _level(policy, verb, group, resource):
    """The audit level kube-apiserver applies: the first matching rule wins."""
    return next(rule["level"] for rule in policy["rules"] if _matches(rule, verb, group, resource))


def test_audit_policy_kind(audit_policy):
    assert (audit_policy["apiVersion"], audit_policy["kind"]) == ("audit.k8s.io/v1", "Policy")


def test_audit_omits_request_received(audit_policy):
    assert audit_policy["omitStages"] == ["RequestReceived"]


@pytest.mark.parametrize("verb", ["get", "list", "create", "update", "patch", "delete"])
def test_audit_secrets_at_metadata(audit_policy, verb):
    assert _level(audit_policy, verb, "", "secrets") == "Metadata"


@pytest.mark.parametrize("verb", ["get", "create", "update"])
def test_audit_configmaps_at_metadata(audit_policy, verb):
    assert _level(audit_policy, verb, "", "configmaps") == "Metadata"


def test_audit_tokenreviews_at_metadata(audit_policy):
    assert _level(audit_policy, "create", "authentication.k8s.io", "tokenreviews") == "Metadata"


def test_audit_serviceaccount_tokens_at_metadata(audit_policy):
    assert _level(audit_policy, "create", "", "serviceaccounts/token") == "Metadata"


@pytest.mark.parametrize("resource", ["roles", "rolebindings", "clusterroles", "clusterrolebindings"])
@pytest.mark.parametrize("verb", ["create", "update", "patch", "delete"])
def test_audit_rbac_changes_at_request_response(audit_policy, resource, verb):
    assert _level(audit_policy, verb, "rbac.authorization.k8s.io", resource) == "RequestResponse"


def test_audit_rbac_reads_at_metadata(audit_policy):
    assert _level(audit_policy, "list", "rbac.authorization.k8s.io", "clusterrolebindings") == "Metadata"


def test_audit_other_writes_at_request(audit_policy):
    assert _level(audit_policy, "create", "apps", "deployments") == "Request"


def test_audit_ends_with_a_catch_all(audit_policy):
    assert audit_policy["rules"][-1] == {"level": "Metadata"}


# --- EncryptionConfiguration -----------------------------------------------------------------------

def test_encryption_kind(encryption):
    assert (encryption["apiVersion"], encryption["kind"]) == ("apiserver.config.k8s.io/v1", "EncryptionConfiguration")


def test_encryption_resources_are_secrets(encryption):
    assert [entry["resources"] for entry in encryption["resources"]] == [["secrets"]]


def test_encryption_kms_v2_first_on_the_plugin_socket(encryption):
    assert encryption["resources"][0]["providers"][0] == {"kms": {
        "apiVersion": "v2", "name": "sovereign-vault", "endpoint": "unix:///run/sovereign-kms/kms.sock", "timeout": "5s"}}


def test_encryption_identity_last(encryption):
    providers = encryption["resources"][0]["providers"]
    assert (len(providers), providers[-1]) == (2, {"identity": {}})


def test_encryption_socket_is_the_one_the_plugin_unit_serves(encryption, rendered):
    unit = (rendered[0] / "cp1/etc/sovereign-kms/sovereign-kms-vault.service").read_text()
    endpoint = encryption["resources"][0]["providers"][0]["kms"]["endpoint"]
    assert "--socket " + endpoint[len("unix://"):] + " " in unit


# --- AdmissionConfiguration ------------------------------------------------------------------------

def _psa(admission):
    (plugin,) = admission["plugins"]
    assert plugin["name"] == "PodSecurity"
    return plugin["configuration"]


def test_admission_kind(admission):
    assert (admission["apiVersion"], admission["kind"]) == ("apiserver.config.k8s.io/v1", "AdmissionConfiguration")


def test_psa_configuration_kind(admission):
    config = _psa(admission)
    assert (config["apiVersion"], config["kind"]) == ("pod-security.admission.config.k8s.io/v1", "PodSecurityConfiguration")


def test_psa_defaults_restricted(admission):
    assert {mode: _psa(admission)["defaults"][mode] for mode in ("enforce", "audit", "warn")} == {
        "enforce": "restricted", "audit": "restricted", "warn": "restricted"}


def test_psa_exempts_only_kube_system(admission):
    assert _psa(admission)["exemptions"] == {"usernames": [], "runtimeClasses": [], "namespaces": ["kube-system"]}


BAD_CASES = [
    ({"kubernetes_control_plane_psa_exempt_namespaces": ["kube-system", "tenant-a"]}, "kubernetes_control_plane_psa_exempt_namespaces"),
    ({"kubernetes_control_plane_psa_exempt_namespaces": ["default"]}, "kubernetes_control_plane_psa_exempt_namespaces"),
    ({"kubernetes_control_plane_tls_cipher_suites": ["TLS_RSA_WITH_AES_128_CBC_SHA"]}, "kubernetes_control_plane_tls_cipher_suites"),
    ({"kubernetes_control_plane_tls_min_version": "VersionTLS11"}, "kubernetes_control_plane_tls_min_version"),
    ({"kubernetes_control_plane_endpoint": ""}, "kubernetes_control_plane_endpoint"),
    ({"kubernetes_control_plane_kms_secret_id": ""}, "kubernetes_control_plane_kms_secret_id"),
    ({"kubernetes_control_plane_kms_vault_addr": "vault:8200"}, "kubernetes_control_plane_kms_vault_addr"),
    ({"kubernetes_control_plane_apiserver_extra_args": [{"name": "anonymous-auth", "value": "true"}]},
     "kubernetes_control_plane_apiserver_extra_args"),
    ({"kubernetes_control_plane_certificate_algorithm": "RSA-2048"}, "kubernetes_control_plane_certificate_algorithm"),
    ({"kubernetes_version": "1.29.3"}, "kubernetes_version"),
    ({"kubernetes_control_plane_audit_extra_rules": [{"level": "Everything"}]}, "kubernetes_control_plane_audit_extra_rules"),
]
GOOD = {
    "kubernetes_control_plane_psa_exempt_namespaces": ["kube-system", "kube-flannel", "calico-system"],
    "kubernetes_control_plane_tls_cipher_suites": ANSSI_SUITES,
    "kubernetes_control_plane_tls_min_version": "VersionTLS13",
    "kubernetes_control_plane_endpoint": ENDPOINT,
    "kubernetes_control_plane_kms_secret_id": SECRET_ID,
    "kubernetes_control_plane_kms_vault_addr": "https://vault.example.internal:8200",
    "kubernetes_control_plane_apiserver_extra_args": [{"name": "request-timeout", "value": "60s"}],
    "kubernetes_control_plane_certificate_algorithm": "ECDSA-P256",
    "kubernetes_version": "1.33.5",
    "kubernetes_control_plane_audit_extra_rules": [],
}
VALIDATE_BODY = """
- name: Validate
  ansible.builtin.include_role:
    name: sovereign.cluster.kubernetes_control_plane
    tasks_from: validate.yml
- name: Render (must not be reached by a bad case)
  ansible.builtin.include_role:
    name: sovereign.cluster.kubernetes_control_plane
    tasks_from: render.yml
"""


@pytest.fixture(scope="module")
def validation_results(tmp_path_factory):
    """Each bad input, validated alone (the good case last), spread over the three hosts; for real only."""
    root = tmp_path_factory.mktemp("k8s-cp-validate")
    cases = [("validate", dict(GOOD, **case[0])) for case in BAD_CASES] + [("validate", GOOD)]
    played = CasePlaybook(root, cases, {"validate": VALIDATE_BODY}, inventory=_inventory(root), hosts="control_plane",
                          timeout=180, env={"ANSIBLE_REMOTE_TMP": str(root / "ansible-remote")}).run("real")
    assert_ran(played)
    return root, played.results


@pytest.mark.parametrize("index", range(len(BAD_CASES)), ids=[case[1] for case in BAD_CASES])
def test_bad_input_is_refused_naming_the_field(validation_results, index):
    assert_refused(validation_results[1][index], BAD_CASES[index][1])


def test_good_input_passes_validation(validation_results):
    assert_passed(validation_results[1][-1])


def test_refusals_write_nothing(validation_results):
    """Validation comes first: only the good case (last) rendered files, and only once it had passed."""
    results = validation_results[1]
    rendered_hosts = sorted(path.parts[-4] for path in validation_results[0].glob("cp*/etc/kubernetes/kubeadm-config.yaml"))
    good_host = "cp%d" % ((len(results) - 1) % 3 + 1)
    assert (rendered_hosts, [result.refused for result in results].count(False)) == ([good_host], 1)


def test_audit_extra_rules_cannot_override_the_secrets_rule(rendered):
    """cp3's site rule logs everything at RequestResponse; it goes after the fixed rules, so Secrets stay at Metadata."""
    policy = yaml.safe_load((rendered[0] / "cp3/etc/kubernetes/sovereign/audit-policy.yaml").read_text())
    assert (_level(policy, "get", "", "secrets"), _level(policy, "create", "apps", "deployments")) == ("Metadata", "RequestResponse")


# --- KMS plugin unit -------------------------------------------------------------------------------

def _directives(text):
    lines = [line.strip() for line in text.replace("\\\n", " ").splitlines()]
    return {line for line in lines if line and not line.startswith("#") and not line.startswith("[")}


def test_kms_unit_keeps_the_shipped_hardening(rendered, repo_dir):
    shipped = _directives((repo_dir / "tools/kms-vault-plugin/sovereign-kms-vault.service").read_text())
    unit = _directives((rendered[0] / "cp1/etc/sovereign-kms/sovereign-kms-vault.service").read_text())
    hardening = {d for d in shipped if d.split("=")[0] in {
        "DynamicUser", "UMask", "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "NoNewPrivileges",
        "CapabilityBoundingSet", "AmbientCapabilities", "RestrictAddressFamilies", "SystemCallFilter", "MemoryDenyWriteExecute",
        "RestrictNamespaces", "ProtectKernelTunables", "ProtectKernelModules", "ProtectControlGroups", "LimitCORE", "Before"}}
    assert hardening - unit == set()


def test_kms_unit_loads_credentials_from_0600_files(rendered):
    unit = (rendered[0] / "cp1/etc/sovereign-kms/sovereign-kms-vault.service").read_text()
    etc = rendered[0] / "cp1/etc/sovereign-kms"
    assert [line for line in unit.splitlines() if line.startswith("LoadCredential=")] == [
        "LoadCredential=role_id:%s/role_id" % etc, "LoadCredential=secret_id:%s/secret_id" % etc,
        "LoadCredential=vault-ca.pem:%s/vault-ca.pem" % etc]


def test_kms_unit_keeps_its_socket_folder_across_restarts(rendered):
    """kube-apiserver's hostPath bind mount would lose a folder that a restart re-creates."""
    assert "RuntimeDirectoryPreserve=restart" in (rendered[0] / "cp1/etc/sovereign-kms/sovereign-kms-vault.service").read_text()


def test_kms_env_has_no_secret(rendered):
    env = (rendered[0] / "cp1/etc/sovereign-kms/sovereign-kms.env").read_text()
    assert (ROLE_ID in env, SECRET_ID in env, "SOVEREIGN_KMS_TRANSIT_KEY=kube-secrets" in env) == (False, False, True)


def test_no_secret_in_the_run_output(rendered):
    """Planted join token, certificate key and KMS AppRole credentials: not in -vvv --diff output, log, audit trail."""
    root, run = rendered
    assert run.log != "" and run.trail != "", "the log file or the audit_trail records are missing"
    texts = {"stdout": run.stdout, "stderr": run.stderr, "log": run.log, "audit trail": run.trail}
    assert [(secret, where) for secret in (JOIN_TOKEN, CERT_KEY, ROLE_ID, SECRET_ID) for where, text in texts.items()
            if secret in text] == []


def test_secrets_are_only_in_their_own_0600_files(rendered):
    """Every file the run wrote that holds a planted secret is the 0600 file meant for it."""
    root = rendered[0]
    holders = {}
    for path in root.rglob("*"):
        if path.is_file() and path.name not in ("play.yml", "inventory.yml"):
            text = path.read_text(errors="replace")
            for name, secret in (("join token", JOIN_TOKEN), ("certificate key", CERT_KEY), ("role id", ROLE_ID),
                                 ("secret id", SECRET_ID)):
                if secret in text:
                    holders.setdefault(name, []).append((str(path.relative_to(root)), oct(path.stat().st_mode & 0o777)))
    assert [(name, where) for name, files in holders.items() for where in files if where[1] != "0o600"] == [], holders


def test_rendered_files_are_0600(rendered):
    folder = rendered[0] / "cp1/etc/kubernetes"
    files = [folder / "kubeadm-config.yaml"] + sorted((folder / "sovereign").glob("*.yaml"))
    assert {f.name: oct(f.stat().st_mode & 0o777) for f in files} == {f.name: "0o600" for f in files}


def test_every_rendered_yaml_is_json_serialisable(rendered):
    """No YAML-only value (dates, sets, anchors) that kubeadm's or kube-apiserver's JSON decoder would read differently."""
    paths = sorted((rendered[0] / "cp1").rglob("*.yaml"))
    assert len(paths) >= 4, paths
    for path in paths:
        for doc in _docs(path):
            assert json.loads(json.dumps(doc)) == doc, path
