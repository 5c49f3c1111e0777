# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""roles/kubernetes_node: every template rendered by ansible-playbook (the role's defaults, Ansible's own
template engine and filters) into a temporary directory, then parsed (TOML, YAML, systemd) and checked one
setting per test; and the role's validation run against localhost with bad input (it only asserts: nothing
on this machine is changed).
"""
import base64
import json
import os
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
ROLE = REPO / "roles" / "kubernetes_node"
PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"
TEMPLATES = ["containerd-config.toml.j2", "containerd-cri.toml.j2", "kubelet-config.yaml.j2", "modules-load.conf.j2",
             "apt-site.sources.j2", "kubelet.service.j2", "10-kubeadm.conf.j2", "kubeadm-join.yaml.j2",
             "kubeadm-discovery.conf.j2"]
MIRRORS = [
    {"registry": "registry.k8s.io", "server": "https://registry.site.internal",
     "mirrors": [{"url": "https://registry.site.internal/v2/registry.k8s.io", "override_path": True,
                  "ca": "/usr/local/share/ca-certificates/site.crt"}]},
    {"registry": "docker.io", "mirrors": [{"url": "https://mirror-a.site.internal"},
                                          {"url": "http://mirror-b.site.internal:5000", "capabilities": ["pull"]}]},
]
CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBdummy\n-----END CERTIFICATE-----\n"
JOIN = {"endpoint": "cp.site.internal:6443", "token": "abcdef.0123456789abcdef",
        "ca_cert_hashes": ["sha256:" + "0" * 64], "ca_cert_data": base64.b64encode(CA_PEM.encode()).decode(),
        "anonymous_auth": False}
ANSSI_SUITES = {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}


def ansible_env(tmp):
    return dict(os.environ, HOME=str(tmp), ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-tmp"), ANSIBLE_NOCOLOR="1",
                ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
                ANSIBLE_COLLECTIONS_PATH=str(REPO / "build" / "collections"), ANSIBLE_ROLES_PATH=str(REPO / "roles"),
                ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="default")


def write_inventory(tmp):
    """localhost is a worker; cp1 (never contacted) makes a control_plane group exist."""
    inventory = tmp / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {
        "workers": {"hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}},
        "control_plane": {"hosts": {"cp1": {}}}}}}))
    return inventory


BASE = {"kubernetes_node_registry_mirrors": MIRRORS, "kubernetes_node_join_data": JOIN,
        "kubernetes_node_apt_mirror": "https://mirror.site.internal/debian"}
VARIANTS = {
    "cpu": BASE,
    "gpu": dict(BASE, kubernetes_node_nvidia_runtime=True, kubernetes_node_nvidia_default_runtime=True),
    "cgroupfs": dict(BASE, kubernetes_node_cgroup_driver="cgroupfs"),
    "anonymous": dict(BASE, kubernetes_node_join_data=dict(JOIN, anonymous_auth=True)),
}


def render_play(out):
    """One play: the role's defaults as vars_files, each variant's settings as task vars (which take precedence)."""
    tasks = []
    for name, settings in VARIANTS.items():
        target = f"{out}/{name}"
        tasks += [
            {"name": f"Output directory {name}", "ansible.builtin.file": {"path": target, "state": "directory", "mode": "0700"}},
            {"name": f"Render {name}", "vars": settings, "loop": TEMPLATES, "loop_control": {"loop_var": "template"},
             "ansible.builtin.template": {"src": str(ROLE / "templates") + "/{{ template }}",
                                          "dest": target + "/{{ template | regex_replace('\\.j2$', '') }}", "mode": "0600"}},
            {"name": f"Render the mirrors {name}", "vars": settings, "loop": "{{ kubernetes_node_registry_mirrors }}",
             "ansible.builtin.template": {"src": str(ROLE / "templates" / "hosts.toml.j2"),
                                          "dest": target + "/hosts-{{ item.registry }}.toml", "mode": "0600"}},
        ]
    return [{"name": "Render the kubernetes_node templates", "hosts": "localhost", "gather_facts": False,
             "vars_files": [str(ROLE / "defaults" / "main.yml")], "tasks": tasks}]


def validation_play(out):
    """One play: the role's validate.yml once per case (include_role: the role's defaults apply, the case's
    settings are task vars); each failure message is collected, then written to results.json."""
    tasks = [{"name": "No result yet", "ansible.builtin.set_fact": {"validation": {}}}]
    for name, (settings, _expected) in VALIDATION_CASES.items():
        tasks.append({"name": f"Case {name}", "block": [
            {"name": f"Validate {name}", "vars": settings,
             "ansible.builtin.include_role": {"name": "kubernetes_node", "tasks_from": "validate.yml"}},
            {"name": f"Accepted {name}", "ansible.builtin.set_fact": {"validation": "{{ validation | combine({%r: 'ok'}) }}" % name}},
        ], "rescue": [
            {"name": f"Refused {name}", "ansible.builtin.set_fact": {
                "validation": "{{ validation | combine({%r: _messages | join(' | ')}) }}" % name},
                "vars": {"_messages": "{{ ansible_failed_result.results | default([]) | selectattr('failed', 'defined')"
                                      " | selectattr('failed') | map(attribute='msg') | list"
                                      " + [ansible_failed_result.msg | default('')] }}"}},
        ]})
    for name, settings in SPEC_CASES.items():
        tasks.append({"name": f"Spec {name}", "block": [
            {"name": f"Argument spec {name}", "ansible.builtin.validate_argument_spec": {
                "argument_spec": "{{ (lookup('ansible.builtin.file', %r) | from_yaml).argument_specs.main.options }}"
                                 % str(ROLE / "meta" / "argument_specs.yml"),
                "provided_arguments": settings}},
            {"name": f"Spec accepted {name}", "ansible.builtin.set_fact": {"validation": "{{ validation | combine({%r: 'ok'}) }}" % name}},
        ], "rescue": [
            {"name": f"Spec refused {name}", "ansible.builtin.set_fact": {
                "validation": "{{ validation | combine({%r: ansible_failed_result.msg | default('')}) }}" % name}},
        ]})
    tasks.append({"name": "Write the results",
                  "ansible.builtin.copy": {"content": "{{ validation | to_json }}", "dest": f"{out}/results.json", "mode": "0600"}})
    return [{"name": "Validate", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]


def run_play(tmp, play):
    playbook = tmp / "play.yml"
    playbook.write_text(yaml.safe_dump(play))
    proc = subprocess.run([str(PLAYBOOK), "-i", str(write_inventory(tmp)), str(playbook)], cwd=tmp, env=ansible_env(tmp),
                          text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:]
    return proc


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Both playbooks run once, side by side (about 10 s)."""
    render_dir, validate_dir = tmp_path_factory.mktemp("kn-render"), tmp_path_factory.mktemp("kn-validate")
    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = [pool.submit(run_play, render_dir, render_play(render_dir / "out")),
                pool.submit(run_play, validate_dir, validation_play(validate_dir))]
        for job in jobs:
            job.result()
    return {"render": render_dir / "out", "validation": json.loads((validate_dir / "results.json").read_text())}


@pytest.fixture(scope="module")
def rendered(runs):
    return {name: runs["render"] / name for name in VARIANTS}


@pytest.fixture(scope="module")
def kubelet(rendered):
    return yaml.safe_load((rendered["cpu"] / "kubelet-config.yaml").read_text())


@pytest.fixture(scope="module")
def cri(rendered):
    return tomllib.loads((rendered["cpu"] / "containerd-cri.toml").read_text())["plugins"]["io.containerd.grpc.v1.cri"]


# --- KubeletConfiguration: one security setting per test
def test_kubelet_config_kind(kubelet):
    assert (kubelet["apiVersion"], kubelet["kind"]) == ("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration")


def test_kubelet_read_only_port_off(kubelet):
    assert kubelet["readOnlyPort"] == 0


def test_kubelet_protect_kernel_defaults(kubelet):
    assert kubelet["protectKernelDefaults"] is True


def test_kubelet_rotate_certificates(kubelet):
    assert kubelet["rotateCertificates"] is True


def test_kubelet_server_tls_bootstrap(kubelet):
    assert kubelet["serverTLSBootstrap"] is True


def test_kubelet_anonymous_auth_off(kubelet):
    assert kubelet["authentication"]["anonymous"]["enabled"] is False


def test_kubelet_webhook_authentication(kubelet):
    assert kubelet["authentication"]["webhook"]["enabled"] is True


def test_kubelet_client_ca(kubelet):
    assert kubelet["authentication"]["x509"]["clientCAFile"] == "/etc/kubernetes/pki/ca.crt"


def test_kubelet_webhook_authorization(kubelet):
    assert kubelet["authorization"]["mode"] == "Webhook"


def test_kubelet_tls_min_version(kubelet):
    assert kubelet["tlsMinVersion"] == "VersionTLS12"


def test_kubelet_anssi_cipher_suites_only(kubelet):
    assert set(kubelet["tlsCipherSuites"]) == ANSSI_SUITES


def test_kubelet_event_record_qps_positive(kubelet):
    assert kubelet["eventRecordQPS"] == 5


def test_kubelet_systemd_cgroup_driver(kubelet):
    assert kubelet["cgroupDriver"] == "systemd"


def test_kubelet_iptables_util_chains(kubelet):
    assert kubelet["makeIPTablesUtilChains"] is True


def test_kubelet_streaming_idle_timeout(kubelet):
    assert kubelet["streamingConnectionIdleTimeout"] == "5m0s"


def test_kubelet_seccomp_default(kubelet):
    assert kubelet["seccompDefault"] is True


def test_kubelet_runtime_endpoint_is_containerd(kubelet):
    assert kubelet["containerRuntimeEndpoint"] == "unix:///run/containerd/containerd.sock"


def test_kubelet_patch_is_the_same_document():
    """The kubeadm patch that join applies is rendered from the same template as config.yaml."""
    tasks = yaml.safe_load((ROLE / "tasks" / "kubelet_config.yml").read_text())
    sources = {t["ansible.builtin.template"]["dest"]: t["ansible.builtin.template"]["src"]
               for t in tasks if "ansible.builtin.template" in t}
    assert sources == {"{{ kubernetes_node_kubelet_config_path }}": "kubelet-config.yaml.j2",
                       "{{ kubernetes_node_kubeadm_patches_dir }}/kubeletconfiguration+merge.yaml": "kubelet-config.yaml.j2"}


def test_kubelet_cgroupfs_follows_the_driver(rendered):
    kubelet = yaml.safe_load((rendered["cgroupfs"] / "kubelet-config.yaml").read_text())
    cri = tomllib.loads((rendered["cgroupfs"] / "containerd-cri.toml").read_text())["plugins"]["io.containerd.grpc.v1.cri"]
    assert (kubelet["cgroupDriver"], cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"]) == ("cgroupfs", False)


# --- containerd
def test_containerd_main_config_imports_the_dropins_first(rendered):
    """The exact line sovereign.cluster.nvidia_gpu's lineinfile writes: its task finds nothing to change."""
    text = (rendered["cpu"] / "containerd-config.toml").read_text()
    assert text.splitlines()[0] == 'imports = ["/etc/containerd/conf.d/*.toml"]'


def test_containerd_main_config_parses_as_version_2(rendered):
    config = tomllib.loads((rendered["cpu"] / "containerd-config.toml").read_text())
    assert (config["version"], config["grpc"]["address"], config["disabled_plugins"]) == (2, "/run/containerd/containerd.sock", [])


def test_containerd_cri_dropin_sorts_after_the_nvidia_dropin():
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    assert sorted(["99-nvidia.toml", defaults["kubernetes_node_containerd_cri_dropin"], "50-site.toml"])[-1] == \
        defaults["kubernetes_node_containerd_cri_dropin"]


def test_containerd_systemd_cgroup(cri):
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is True


def test_containerd_runc_v2_shim(cri):
    assert cri["containerd"]["runtimes"]["runc"]["runtime_type"] == "io.containerd.runc.v2"


def test_containerd_registry_config_path(cri):
    assert cri["registry"]["config_path"] == "/etc/containerd/certs.d"


def test_containerd_sandbox_image(cri):
    assert cri["sandbox_image"] == "registry.k8s.io/pause:3.10"


def test_containerd_no_nvidia_runtime_on_cpu_nodes(cri):
    assert set(cri["containerd"]["runtimes"]) == {"runc"}


def test_containerd_nvidia_runtime_on_gpu_nodes(rendered):
    cri = tomllib.loads((rendered["gpu"] / "containerd-cri.toml").read_text())["plugins"]["io.containerd.grpc.v1.cri"]
    nvidia = cri["containerd"]["runtimes"]["nvidia"]
    assert (nvidia["runtime_type"], nvidia["options"]["BinaryName"], nvidia["options"]["SystemdCgroup"],
            cri["containerd"]["default_runtime_name"]) == \
        ("io.containerd.runc.v2", "/usr/bin/nvidia-container-runtime", True, "nvidia")


def test_registry_mirror_hosts_toml(rendered):
    hosts = tomllib.loads((rendered["cpu"] / "hosts-registry.k8s.io.toml").read_text())
    assert hosts == {"server": "https://registry.site.internal",
                     "host": {"https://registry.site.internal/v2/registry.k8s.io": {
                         "capabilities": ["pull", "resolve"], "override_path": True,
                         "ca": "/usr/local/share/ca-certificates/site.crt"}}}


def test_registry_mirrors_keep_their_order_and_docker_upstream(rendered):
    text = (rendered["cpu"] / "hosts-docker.io.toml").read_text()
    hosts = tomllib.loads(text)
    assert hosts["server"] == "https://registry-1.docker.io"
    assert list(hosts["host"]) == ["https://mirror-a.site.internal", "http://mirror-b.site.internal:5000"]
    assert hosts["host"]["http://mirror-b.site.internal:5000"]["capabilities"] == ["pull"]


# --- kernel, packages, kubelet unit, join
def test_modules_load_file(rendered):
    lines = [line for line in (rendered["cpu"] / "modules-load.conf").read_text().splitlines() if line and not line.startswith("#")]
    assert lines == ["overlay", "br_netfilter"]


def test_sysctl_defaults():
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    assert defaults["kubernetes_node_sysctls"] == {"net.ipv4.ip_forward": "1", "net.bridge.bridge-nf-call-iptables": "1",
                                                   "net.bridge.bridge-nf-call-ip6tables": "1"}


def test_protect_kernel_defaults_sysctls_match_the_kubelet():
    """The values the kubelet checks when protectKernelDefaults is true (pkg/kubelet/cm, setupKernelTunables)."""
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    assert defaults["kubernetes_node_kernel_defaults_sysctls"] == {
        "vm.overcommit_memory": "1", "vm.panic_on_oom": "0", "kernel.panic": "10", "kernel.panic_on_oops": "1",
        "kernel.keys.root_maxkeys": "1000000", "kernel.keys.root_maxbytes": "25000000"}


def test_apt_source_is_the_site_mirror(rendered):
    text = (rendered["cpu"] / "apt-site.sources").read_text()
    assert "URIs: https://mirror.site.internal/debian" in text and "Suites: bookworm bookworm-updates" in text


def test_kubelet_dropin_points_at_the_config(rendered):
    text = (rendered["cpu"] / "10-kubeadm.conf").read_text()
    assert 'Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"' in text
    assert "ExecStart=\nExecStart=/usr/local/bin/kubelet $KUBELET_KUBECONFIG_ARGS" in text


def test_kubelet_unit_after_containerd(rendered):
    text = (rendered["cpu"] / "kubelet.service").read_text()
    assert "After=network-online.target containerd.service" in text and "ExecStart=/usr/local/bin/kubelet\n" in text


def test_join_configuration_file_discovery(rendered):
    """Anonymous auth off (the control-plane role's default): token discovery would read cluster-info
    anonymously and get 401, so the worker joins with file discovery."""
    join = yaml.safe_load((rendered["cpu"] / "kubeadm-join.yaml").read_text())
    assert join["apiVersion"] == "kubeadm.k8s.io/v1beta4" and join["kind"] == "JoinConfiguration"
    assert join["discovery"] == {"file": {"kubeConfigPath": "/etc/kubernetes/sovereign-discovery.conf"},
                                 "tlsBootstrapToken": JOIN["token"]}
    assert join["nodeRegistration"]["criSocket"] == "unix:///run/containerd/containerd.sock"
    assert join["patches"] == {"directory": "/etc/kubernetes/patches"}


def test_discovery_kubeconfig(rendered):
    config = yaml.safe_load((rendered["cpu"] / "kubeadm-discovery.conf").read_text())
    cluster = config["clusters"][0]["cluster"]
    assert cluster["server"] == "https://" + JOIN["endpoint"]
    assert base64.b64decode(cluster["certificate-authority-data"]).decode() == CA_PEM
    context = next(c for c in config["contexts"] if c["name"] == config["current-context"])["context"]
    user = next(u for u in config["users"] if u["name"] == context["user"])["user"]
    assert user == {"token": JOIN["token"]}


def test_join_configuration_token_discovery_with_anonymous_auth(rendered):
    join = yaml.safe_load((rendered["anonymous"] / "kubeadm-join.yaml").read_text())
    assert join["discovery"] == {"bootstrapToken": {"apiServerEndpoint": JOIN["endpoint"], "token": JOIN["token"],
                                                    "caCertHashes": JOIN["ca_cert_hashes"]}}


def test_join_is_guarded_and_token_never_logged():
    tasks = yaml.safe_load((ROLE / "tasks" / "join.yml").read_text())
    block = next(t for t in tasks if "block" in t)
    assert "not _kubernetes_node_kubelet_conf.stat.exists" in block["when"]
    join = next(t for t in block["block"] if t["name"] == "Run kubeadm join")
    assert join["ansible.builtin.command"]["creates"] == "/etc/kubernetes/kubelet.conf"
    for template in ("kubeadm-join.yaml.j2", "kubeadm-discovery.conf.j2"):
        written = next(t for t in block["block"] if template in str(t))
        assert written["no_log"] is True and written["ansible.builtin.template"]["mode"] == "0600"
    removed = block["always"][0]
    assert removed["ansible.builtin.file"]["state"] == "absent"
    assert set(removed["loop"]) == {"/etc/kubernetes/sovereign-join.yaml", "{{ kubernetes_node_discovery_kubeconfig }}"}


# --- validation: bad input fails before any change, naming the field
VALIDATION_CASES = {
    "version": ({"kubernetes_version": "v1.33.5"}, "kubernetes_version \"v1.33.5\" is not a Kubernetes release"),
    "cgroup": ({"kubernetes_node_cgroup_driver": "cgroupv2"}, "kubernetes_node_cgroup_driver \"cgroupv2\""),
    "mirror_entry": ({"kubernetes_node_registry_mirrors": [{"registry": "docker.io"}]}, "kubernetes_node_registry_mirrors[0]"),
    "mirror_url": ({"kubernetes_node_registry_mirrors": [{"registry": "docker.io", "mirrors": [{"url": "ftp://m"}]}]},
                   "kubernetes_node_registry_mirrors[0].mirrors"),
    "registry_name": ({"kubernetes_node_registry_mirrors": [{"registry": "https://docker.io", "mirrors": [{"url": "https://m"}]}]},
                      "kubernetes_node_registry_mirrors[0]"),
    "duplicate": ({"kubernetes_node_registry_mirrors": [{"registry": "a.io", "mirrors": [{"url": "https://m"}]},
                                                        {"registry": "a.io", "mirrors": [{"url": "https://n"}]}]},
                  "names a registry twice"),
    "base_url": ({"kubernetes_node_artifact_base_url": "https://mirror.site.internal/k8s"}, "kubernetes_node_artifact_base_url"),
    "cipher": ({"kubernetes_node_kubelet_tls_cipher_suites": ["TLS_RSA_WITH_AES_128_CBC_SHA"]},
               "kubernetes_node_kubelet_tls_cipher_suites only ECDHE"),
    "locked": ({"kubernetes_node_kubelet_extra_config": {"readOnlyPort": 10255}}, "kubernetes_node_kubelet_extra_config sets"),
    "join": ({"kubernetes_node_join_data": {"endpoint": "cp:6443", "token": "not-a-token", "ca_cert_hashes": []}},
             "kubernetes_node_join_data"),
    "join_no_ca": ({"kubernetes_node_join_data": {k: v for k, v in JOIN.items() if k != "ca_cert_data"}},
                   "ca_cert_data may be left out only with \"anonymous_auth\": true"),
    "join_anonymous": ({"kubernetes_node_registry_mirrors": MIRRORS,
                        "kubernetes_node_join_data": {k: v for k, v in JOIN.items() if k != "ca_cert_data"} | {"anonymous_auth": True},
                        "kubernetes_node_artifact_base_url": "https://mirror.site.internal/k8s/v1.33.5/bin/linux/amd64/"}, None),
    "valid": ({"kubernetes_node_registry_mirrors": MIRRORS, "kubernetes_node_join_data": JOIN,
               "kubernetes_node_artifact_base_url": "https://mirror.site.internal/k8s/v1.33.5/bin/linux/amd64/"}, None),
}


SPEC_CASES = {
    "spec_valid": {"kubernetes_node_registry_mirrors": MIRRORS, "kubernetes_node_join_data": JOIN, "kubernetes_version": "1.33.5"},
    "spec_unknown_mirror_key": {"kubernetes_node_registry_mirrors": [{"registry": "a.io", "mirrors": [{"url": "https://m", "tls": 1}]}]},
}


def test_argument_specs_accept_a_valid_setting(runs):
    assert runs["validation"]["spec_valid"] == "ok"


def test_argument_specs_refuse_an_unknown_mirror_key(runs):
    assert "tls" in runs["validation"]["spec_unknown_mirror_key"]


def test_argument_specs_hold_no_template():
    """Ansible templates the spec when the role starts: a '{{' in a description breaks every run."""
    assert "{{" not in (ROLE / "meta" / "argument_specs.yml").read_text()


@pytest.mark.parametrize("case", sorted(VALIDATION_CASES))
def test_validation(case, runs):
    message, expected = runs["validation"][case], VALIDATION_CASES[case][1]
    if expected is None:
        assert message == "ok"
    else:
        assert expected in message, message


def test_argument_specs_match_the_defaults():
    """Every default in meta/argument_specs.yml is the one in defaults/main.yml, and every default is documented."""
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    options = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert set(defaults) == set(options)
    mismatched = {name: (spec["default"], defaults[name]) for name, spec in options.items()
                  if "default" in spec and spec["default"] != defaults[name]}
    assert mismatched == {}
